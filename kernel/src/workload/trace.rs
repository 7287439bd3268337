//! `workload=trace`: replays page-level traces of real programs, recorded
//! with valgrind lackey and converted by `faultline trace import` (format:
//! the host's `src/trace.rs`), one task and one address space per trace.
//!
//! The traces arrive on the trace disk ([`super::trace_disk`]) and are
//! streamed a chunk at a time ([`super::trace_file`]). Each region of a
//! trace becomes a VMA at `WORKLOAD_BASE` + its layout page, so holes,
//! VMA boundaries and each page's place in its page-table page are the
//! recording's: VMA readahead sees what it would see in Linux. Task `i`
//! replays trace `i` `workload.passes` times, interleaved with the others.
//!
//! Verification (`workload.verify`):
//! - `light` (default): a write bumps a version in a 16-byte header at the
//!   start of the page (its identity, which is task and page, and the
//!   version); a page's first write also fills the rest with a pattern of
//!   its identity (so the page compresses like `workload.random_pct`
//!   says). Every read checks the header: a lost write shows as an old
//!   version, a misplaced page as another identity.
//! - `full`: every write fills the whole page with a pattern of (task,
//!   page, version) and every read checks all 4 KiB (100x the work).
//!
//! In both, once every task has finished, a second round of tasks checks
//! every page's full content; it runs after the counters are captured, so
//! the two modes report the same counters for the same replay.
//!
//! A page read before it is ever written reads as zeros: the read fault
//! maps the zero page, as Linux does for anonymous memory.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::trace_file::{self, TraceFile, TraceStream, WRITE_BIT};
use super::{
    fill_page, mix64, run_timed, trace_disk, verify_counted, verify_page, verify_page_words,
    verify_zero_page, Tally, WorkloadError, WorkloadResult, WORKLOAD_BASE,
};
use crate::knobs::Config;
use crate::mm::mm_types::{new_anon_mm_vmas, switch_mm, MmHandle};
use crate::mm::PAGE_SIZE;
use crate::sched::signal::{killable, publish, Killed};
use crate::sched::{cond_resched, TaskBody};

/// Records between two `cond_resched` calls. A light record costs about
/// 75 instructions, and under `--deterministic` the slice check reads the
/// TSC, which QEMU's icount mode makes a slow, I/O-like instruction: every
/// 64 records it took three quarters of the wall time. 1024 records are
/// about 80 us of guest time against a 4 ms slice.
const RESCHED_EVERY: u32 = 1024;

/// What the replay of the traces was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceSummary {
    pub traces: u64,
    /// Records replayed (all passes, all traces).
    pub records: u64,
    /// Distinct pages of all traces.
    pub pages: u64,
    pub regions: u64,
    /// Pages the VMAs span, holes included.
    pub span_pages: u64,
    /// 1 for `workload.verify=light`, 0 for full.
    pub light: u64,
}

/// How a task verifies (see the module doc).
#[derive(Clone, Copy)]
pub struct Verify {
    pub light: bool,
    pub seed: u64,
    pub task: u64,
}

impl Verify {
    /// The identity a page's header carries (never 0: a zero page differs).
    fn identity(&self, id: u32) -> u64 {
        mix64(self.seed ^ (self.task << 40) ^ ((id as u64) << 1) ^ 0x11d) | 1
    }

    /// The full-mode pattern of version `v`.
    fn tag(&self, id: u32, v: u32) -> u64 {
        mix64(self.seed) ^ (self.task << 56) ^ ((id as u64) << 20) ^ v as u64 ^ 0x7ace
    }

    /// Write number `v` (from 1) of page `id` at `va`.
    ///
    /// # Safety
    /// `va` is the page of `id` in the current address space's VMAs.
    #[inline]
    pub unsafe fn write(&self, va: u64, id: u32, v: u32) {
        if !self.light {
            // SAFETY: guaranteed by the caller.
            return unsafe { fill_page(va, self.tag(id, v)) };
        }
        let p = va as *mut u64;
        // SAFETY: guaranteed by the caller; volatile so that every store
        // really reaches the page (and faults if it has to).
        unsafe {
            if v == 1 {
                fill_page(va, self.identity(id));
                p.write_volatile(self.identity(id));
            }
            p.add(1).write_volatile((self.task << 32) | v as u64);
        }
    }

    /// A read of page `id`, written `v` times: its header (light) or all
    /// of it (full).
    ///
    /// # Safety
    /// As for [`Self::write`].
    #[inline]
    pub unsafe fn check_read(&self, va: u64, id: u32, v: u32) -> bool {
        if !self.light {
            // SAFETY: guaranteed by the caller.
            return unsafe { verify_counted(va, v, |c| self.tag(id, c)) };
        }
        // SAFETY: guaranteed by the caller.
        unsafe { light_header_ok(va, self.identity(id), self.task, v) }
    }

    /// The full content of page `id`, written `v` times.
    ///
    /// # Safety
    /// As for [`Self::write`].
    pub unsafe fn check_all(&self, va: u64, id: u32, v: u32) -> bool {
        // SAFETY (all three): guaranteed by the caller.
        if v == 0 {
            unsafe { verify_zero_page(va) }
        } else if !self.light {
            unsafe { verify_page(va, self.tag(id, v)) }
        } else {
            let ident = self.identity(id);
            unsafe { light_header_ok(va, ident, self.task, v) && verify_page_words(va, ident, 2) }
        }
    }
}

/// Does the light header at `va` say (identity, task, version `v`)? A page
/// never written (`v == 0`) must read as zeros.
///
/// # Safety
/// `va` is a readable page of the current address space.
#[inline]
pub unsafe fn light_header_ok(va: u64, identity: u64, task: u64, v: u32) -> bool {
    let p = va as *const u64;
    // SAFETY: guaranteed by the caller.
    let (w0, w1) = unsafe { (p.read_volatile(), p.add(1).read_volatile()) };
    if v == 0 {
        w0 == 0 && w1 == 0
    } else {
        w0 == identity && w1 == (task << 32) | v as u64
    }
}

/// What one task did.
struct TaskOutcome {
    tally: Tally,
    records: u64,
    error: Option<String>,
    /// A swap read error killed the task (see `sched::signal`).
    killed: bool,
}

/// Replays the first `limit` records of `file` (all of them if 0)
/// `passes` times in the current address space.
fn replay(
    file: &TraceFile,
    passes: u64,
    limit: u64,
    verify: Verify,
    versions: &mut [u32],
) -> TaskOutcome {
    let mut out = TaskOutcome {
        tally: Tally::default(),
        records: 0,
        error: None,
        killed: false,
    };
    let per_pass = if limit == 0 {
        file.n_records
    } else {
        limit.min(file.n_records)
    };
    let mut since = 0u32;
    for _ in 0..passes {
        let mut stream = TraceStream::new(file);
        let mut left = per_pass;
        while left > 0 {
            let chunk = match stream.next_chunk() {
                Ok(Some(c)) => &c[..(4 * left).min(c.len() as u64) as usize],
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(format!(
                        "at byte offset {}: expected {}",
                        e.offset, e.expected
                    ));
                    return out;
                }
            };
            left -= chunk.len() as u64 / 4;
            // The task's "user mode": the chunk's buffers belong to the
            // stream out here, so a kill inside abandons nothing owned.
            let run =
                killable(|| replay_chunk(file, chunk, verify, versions, &mut out, &mut since));
            match run {
                Ok(Ok(())) => {}
                Ok(Err(bad_id)) => {
                    out.error = Some(format!(
                        "record {}: expected a page id below {}, found {bad_id}",
                        out.records,
                        file.n_pages()
                    ));
                    return out;
                }
                Err(Killed) => {
                    out.killed = true;
                    return out;
                }
            }
        }
    }
    out
}

/// Replays one chunk of records; a page id out of range is returned.
fn replay_chunk(
    file: &TraceFile,
    chunk: &[u8],
    verify: Verify,
    versions: &mut [u32],
    out: &mut TaskOutcome,
    since: &mut u32,
) -> Result<(), u32> {
    let n_pages = file.n_pages();
    for rec in chunk.as_chunks::<4>().0 {
        let r = u32::from_le_bytes(*rec);
        let id = r & !WRITE_BIT;
        if id >= n_pages {
            return Err(id);
        }
        let va = WORKLOAD_BASE + ((file.pages[id as usize] as u64) << 12);
        let v = versions[id as usize];
        if r & WRITE_BIT != 0 {
            // SAFETY: `va` is page `id` of a region, mapped as a VMA of
            // this task's address space, which is current.
            unsafe { verify.write(va, id, v + 1) };
            versions[id as usize] = v + 1;
        } else {
            // SAFETY: as above.
            let ok = unsafe { verify.check_read(va, id, v) };
            out.tally.checked += 1;
            out.tally.corrupt += u64::from(!ok);
            publish(&mut out.tally); // a kill must not lose the count (sched::signal)
        }
        out.records += 1;
        *since += 1;
        if *since == RESCHED_EVERY {
            *since = 0;
            cond_resched();
        }
    }
    Ok(())
}

/// Checks every page of `file` once, in full, counting into `tally`.
fn check_every_page(file: &TraceFile, verify: Verify, versions: &[u32], tally: &mut Tally) {
    for (id, &lp) in file.pages.iter().enumerate() {
        let va = WORKLOAD_BASE + ((lp as u64) << 12);
        // SAFETY: as in `replay`.
        let ok = unsafe { verify.check_all(va, id as u32, versions[id]) };
        tally.checked += 1;
        tally.corrupt += u64::from(!ok);
        publish(tally); // a kill must not lose the count (sched::signal)
        cond_resched();
    }
}

/// Opens trace `i` of the trace disk.
fn open_trace(i: usize) -> Result<TraceFile, WorkloadError> {
    let (off, len) = trace_disk::trace_extent(i).expect("i below the disk's count");
    trace_file::open(off, len, &mut trace_disk::read_at).map_err(|e| {
        WorkloadError::input(format!(
            "trace {i}: at byte offset {}: expected {}",
            e.offset, e.expected
        ))
    })
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let n = trace_disk::open().map_err(WorkloadError::input)?;
    if n == 0 {
        return Err(WorkloadError::input(
            "workload=trace needs at least one trace: faultline run --trace FILE (see faultline trace import)",
        ));
    }
    let result = run_traces(config, n);
    trace_disk::close();
    result
}

type Replayed = (Option<MmHandle>, TraceFile, Vec<u32>, Verify, TaskOutcome);

fn run_traces(config: &Config, n: usize) -> Result<WorkloadResult, WorkloadError> {
    let files = (0..n).map(open_trace).collect::<Result<Vec<_>, _>>()?;
    // Each trace was checked alone against the heap; the tasks' stream
    // buffers and versions are allocated once all of them run.
    let heap_free = crate::mm::heap::size_bytes() - crate::mm::heap::used_bytes();
    let buffers: u64 = files
        .iter()
        .map(|f| f.stream_bytes() + 4 * f.n_pages() as u64)
        .sum();
    if buffers > heap_free as u64 / 2 {
        return Err(WorkloadError::input(format!(
            "{n} traces need {buffers} bytes of stream buffers and page versions, more than the kernel heap can spare ({heap_free} bytes free): give the machine more memory with --mem, or replay fewer traces at once"
        )));
    }
    let passes = config.number("workload.passes");
    let limit = config.number("workload.trace_records");
    let light = config.word("workload.verify") == "light";
    let mut summary = TraceSummary {
        traces: n as u64,
        light: u64::from(light),
        ..TraceSummary::default()
    };
    let mut bodies = Vec::new();
    for (i, file) in files.into_iter().enumerate() {
        summary.pages += file.n_pages() as u64;
        summary.regions += file.regions.len() as u64;
        summary.span_pages += file.regions.iter().map(|r| r.span as u64).sum::<u64>();
        let vmas: Vec<(u64, u64)> = file
            .regions
            .iter()
            .map(|r| {
                (
                    WORKLOAD_BASE + r.start as u64 * PAGE_SIZE,
                    r.span as u64 * PAGE_SIZE,
                )
            })
            .collect();
        let mm = new_anon_mm_vmas(&format!("trace-{i}"), &vmas)?;
        let verify = Verify {
            light,
            seed: config.number("workload.seed"),
            task: i as u64,
        };
        let body = move || {
            let mut versions = alloc::vec![0u32; file.n_pages() as usize];
            switch_mm(Some(&mm));
            let outcome = replay(&file, passes, limit, verify, &mut versions);
            switch_mm(None);
            // A killed task exits: its memory and slots are freed now.
            let mm = (!outcome.killed).then_some(mm);
            (mm, file, versions, verify, outcome)
        };
        bodies.push((format!("trace-{i}"), Box::new(body) as TaskBody<Replayed>));
    }
    let (done, elapsed_cycles) = run_timed(bodies);
    let measured = super::measured::capture();
    let mut tally = Tally::default();
    let mut errors = Vec::new();
    let mut checks = Vec::new();
    for (i, (mm, file, versions, verify, outcome)) in done.into_iter().enumerate() {
        tally += outcome.tally;
        summary.records += outcome.records;
        if let Some(e) = outcome.error {
            errors.push(format!("trace {i}: {e}"));
        }
        let Some(mm) = mm else {
            continue;
        };
        let body = move || {
            switch_mm(Some(&mm));
            let mut t = Tally::default();
            // A read error here kills the checking task as in the replay.
            let _ = killable(|| check_every_page(&file, verify, &versions, &mut t));
            switch_mm(None);
            drop(mm);
            t
        };
        checks.push((format!("check-{i}"), Box::new(body) as TaskBody<Tally>));
    }
    let (final_checks, _) = run_timed(checks);
    for t in final_checks {
        tally += t;
    }
    if !errors.is_empty() {
        return Err(WorkloadError::input(errors.join("; ")));
    }
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: tally.checked,
        corrupt_pages: tally.corrupt,
        measured: Some(measured),
        trace: Some(summary),
        ..WorkloadResult::default()
    })
}
