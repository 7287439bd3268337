//! `workload=compile`: a model of a parallel build (`make -jN`).
//!
//! `workload.jobs` slots (make's `-j`, 16 like the seed's build) run
//! `workload.jobs` x `workload.passes` compile jobs: like make, a slot
//! whose job exited takes the next job of the build. A job is a process:
//! it gets a fresh address space and goes through the phases of a
//! compiler, then exits (its memory and swap slots are freed):
//!
//! 0. preprocess: read its source file and its headers through the page
//!    cache, if the run has a files disk (`faultline run --files IMAGE`;
//!    the lab makes one): files ending in `.h` are headers, the others
//!    sources. Job `i` compiles source `i` (modulo their number) and reads
//!    `workload.headers` headers: the first `workload.hot_headers` in path
//!    order, which every job includes (a kernel build's `linux/kernel.h`,
//!    `types.h`, ...), and the rest drawn per job from the others. Each
//!    file is read whole with one `read()` (as cpp reads a file), so the
//!    page cache's readahead sees the whole request. Every page is
//!    verified against its first read. The bytes themselves feed the
//!    modelled buffers below, which keep their own verified patterns;
//!1. load: read its input (the source file) into a buffer (first touch);
//! 2. parse: grow the heap page after page (the AST), re-reading input;
//! 3. optimize: pointer chasing over the IR, a hot working set with skewed
//!    reuse (80 % of accesses in the newest quarter of the heap, 30 %
//!    writes): scattered faults, where readahead guesses wrong;
//! 4. codegen: the IR function by function (runs of heap pages from
//!    random starts: call-graph order is not allocation order), writing
//!    the output;
//! 5. debug info: half as many heap reads again, function by function;
//! 6. write the object: read the output back in order and, if the run has
//!    an objects disk (the host attaches one with every files disk), write
//!    each page to the job's object file through the page cache (the
//!    assembler writing its `.o`): the pages are dirty until writeback
//!    writes them (see `mm/page_writeback.rs`). Then the job exits.
//!
//! When the last job has exited, the slot that ran it links: it reads
//! every object file back, whole and in job order, through the page cache
//! (the final `ld` of a kernel build reads every `.o`), so objects that
//! reclaim dropped during the build are read again from the disk. The
//! object file is the job's output region written out: 1/8 of its
//! footprint (the model's existing share for object code, not fitted).
//!
//! Sizes: a job's footprint is `workload.scale` x 4 MiB on average, drawn
//! uniformly within `workload.size_spread` percent of that (translation
//! units differ), which also keeps the slots from moving in lock step. The
//! input and the heap hold compressible data (`workload.random_pct`), except
//! `workload.zero_pct` percent of the heap pages, which hold zero-filled
//! structures (cleared hash tables, bitmaps): reclaim records those in the
//! swap zero map (Linux `swap_zeromap_folio_set`), never in zswap, so a
//! fault on one is not a zswap fault and the seed's bypass does not apply
//! to it (its readahead goes on). The output (object
//! code, debug info) is modelled as incompressible. Since Linux 6.18 zswap
//! keeps such pages as-is in its pool while the cgroup allows writeback
//! (`memcg.zswap_writeback=1`, the default), so they are charged a whole
//! page each and reach the disk only when the pool is full or with
//! `memcg.zswap_writeback=0` (then they stay resident).
//!
//! Why it resembles a build: memory grows, is reused with locality, is
//! streamed, and is thrown away, many times over, by jobs that overlap in
//! time, so reclaim sees short-lived and long-lived pages, sequential runs
//! (which readahead likes) and scattered reuse (which it does not). Every
//! read is verified like in `thrash`. Each slot is a [`crate::sched`]
//! task, like one `make` job slot: time slices, and a job waiting for swap
//! I/O lets the others run.

use alloc::boxed::Box;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::WORKLOAD_BASE;
use super::{
    fill_page_pct, fill_zero_page, mix64, run_timed, verify_counted_pct, verify_zero_page, Tally,
    WorkloadError, WorkloadResult,
};
use crate::fs::objects::{create_object, have_objects_disk};
use crate::knobs::Config;
use crate::mm::filemap::{filemap_read, File};
use crate::mm::filemap_write::generic_perform_write;
use crate::mm::mm_types::{new_anon_mm, switch_mm, MmHandle};
use crate::mm::state::with_mm_state;
use crate::mm::PAGE_SIZE;
use crate::sched::signal::{killable, publish, Killed};
use crate::sched::{cond_resched, TaskBody};

/// What a job slot gives back.
type SlotResult = Result<Tally, WorkloadError>;

/// Mean footprint of one job at `workload.scale=1`: 4 MiB.
const JOB_PAGES_PER_SCALE: u64 = 1024;
/// The output does not compress (see the module comment).
const OUTPUT_RANDOM_PCT: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Preprocess,
    Load,
    Parse,
    Optimize,
    Codegen,
    DebugInfo,
    /// Reads the output back in order (and writes the object file).
    WriteObject,
    Done,
}

/// The build's shape, from the `workload.*` knobs.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Mean footprint of a job, in pages.
    mean_pages: u64,
    /// `workload.size_spread`: footprints within this percent of the mean.
    spread_pct: u64,
    /// `workload.random_pct`, for the input and the heap.
    random_pct: u64,
    /// `workload.optimize_rounds`: optimize's accesses per heap page.
    optimize_rounds: u64,
    /// `workload.function_pages`: codegen's run length.
    function_pages: u64,
    /// `workload.zero_pct`: the share of zero-filled heap pages.
    zero_pct: u64,
    /// `workload.seed`.
    seed: u64,
    /// `workload.headers` and `workload.hot_headers`.
    headers: u64,
    hot_headers: u64,
    /// Is there an objects disk to write object files to?
    objects: bool,
}

/// The build's files in the page cache (ids), from the files disk.
#[derive(Debug, Clone, Default)]
struct FileSet {
    sources: Vec<u16>,
    /// In path order: the first `hot_headers` are the hot ones.
    headers: Vec<u16>,
}

impl FileSet {
    /// Sorts the page cache's files into headers (`.h`) and sources.
    fn from_page_cache() -> FileSet {
        with_mm_state(|st| {
            let mut set = FileSet::default();
            for (id, f) in st.page_cache.files.iter().enumerate() {
                let id = id as u16;
                if f.name.ends_with(".h") {
                    set.headers.push(id);
                } else {
                    set.sources.push(id);
                }
            }
            set
        })
    }

    /// The files job `id` reads: its source, the hot headers, then
    /// `shape.headers - shape.hot_headers` others drawn with `rng` (a
    /// header drawn twice is read once: include guards).
    fn reads_of(&self, id: u64, shape: &Shape, mut rng: u64) -> Vec<u16> {
        let mut reads = Vec::new();
        if !self.sources.is_empty() {
            reads.push(self.sources[(id % self.sources.len() as u64) as usize]);
        }
        let nh = self.headers.len() as u64;
        let hot = shape.hot_headers.min(shape.headers).min(nh);
        reads.extend(&self.headers[..hot as usize]);
        let cold = &self.headers[hot as usize..];
        if cold.is_empty() {
            return reads;
        }
        let mut drawn: Vec<u16> = (hot..shape.headers)
            .map(|_| {
                rng = mix64(rng);
                cold[(rng % cold.len() as u64) as usize]
            })
            .collect();
        drawn.sort_unstable();
        drawn.dedup();
        reads.extend(drawn);
        reads
    }
}

/// One step of a job: an access to its memory, a file to read, or an
/// output page to read and write to the object file.
#[derive(Debug, Clone, Copy)]
enum Step {
    Access(u64, bool),
    Read(u16),
    WriteOut(u64),
}

/// One compile job (a process).
struct Job {
    id: u64,
    mm: MmHandle,
    /// Files to read in preprocess, in order.
    reads: Vec<u16>,
    writes: Vec<u32>,
    phase: Phase,
    step: u64,
    rng: u64,
    input: u64,
    heap: u64,
    output: u64,
    shape: Shape,
    /// Codegen: first heap page of the function being compiled.
    func: u64,
    /// The object file, once created; and a page to copy output through.
    object: Option<u16>,
    bounce: Vec<u8>,
}

impl Job {
    /// Job `id` of a build of `shape`.
    fn new(id: u64, shape: Shape, files: &FileSet) -> Result<Job, WorkloadError> {
        let mut rng = mix64(shape.seed ^ id.wrapping_mul(0x9e37));
        let spread = shape.spread_pct;
        let pct = 100 - spread + rng % (2 * spread + 1);
        let pages = (shape.mean_pages * pct / 100).max(16);
        rng = mix64(rng);
        let mm = new_anon_mm(&format!("cc-{id}"), WORKLOAD_BASE, pages * PAGE_SIZE)?;
        let input = (pages / 4).max(1);
        let output = (pages / 8).max(1);
        let heap = pages.saturating_sub(input + output).max(1);
        Ok(Job {
            id,
            mm,
            reads: files.reads_of(id, &shape, mix64(rng ^ 0x4ead)),
            writes: alloc::vec![0; (input + heap + output) as usize],
            phase: Phase::Preprocess,
            step: 0,
            rng,
            input,
            heap,
            output,
            shape,
            func: 0,
            object: None,
            bounce: if shape.objects {
                alloc::vec![0; PAGE_SIZE as usize]
            } else {
                Vec::new()
            },
        })
    }

    /// How compressible `page` is: the output is not.
    fn random_pct_of(&self, page: u64) -> u64 {
        if page >= self.input + self.heap {
            OUTPUT_RANDOM_PCT
        } else {
            self.shape.random_pct
        }
    }

    /// Does heap `page` hold a zero-filled structure? A fixed choice per
    /// job and page, so every write of the page writes zeros again.
    fn is_zero_page(&self, page: u64) -> bool {
        let is_heap = page >= self.input && page < self.input + self.heap;
        is_heap
            && mix64(self.shape.seed ^ (self.id << 32) ^ page ^ 0x2e50) % 100 < self.shape.zero_pct
    }

    /// The heap page at step `s` of a walk over the IR one function at a
    /// time: runs of `workload.function_pages` pages from random starts.
    fn function_walk(&mut self, s: u64) -> u64 {
        let run = self.shape.function_pages;
        if s.is_multiple_of(run) {
            self.rng = mix64(self.rng);
            self.func = self.rng % self.heap;
        }
        self.input + (self.func + s % run) % self.heap
    }

    /// The next step, or `None` when the job exited.
    fn next(&mut self) -> Option<Step> {
        if self.phase == Phase::Preprocess {
            if let Some(&file) = self.reads.get(self.step as usize) {
                self.step += 1;
                return Some(Step::Read(file));
            }
            self.phase = Phase::Load;
            self.step = 0;
        }
        let (page, w) = self.next_access()?;
        if self.phase == Phase::WriteObject && self.shape.objects {
            return Some(Step::WriteOut(page));
        }
        Some(Step::Access(page, w))
    }

    /// The next access (page, is_write), or `None` when the job exited.
    fn next_access(&mut self) -> Option<(u64, bool)> {
        let (heap0, out0) = (self.input, self.input + self.heap);
        loop {
            let s = self.step;
            let access = match self.phase {
                Phase::Load if s < self.input => Some((s, true)),
                // Every third parse step re-reads input; the others grow the heap.
                Phase::Parse if s < 4 * self.heap / 3 => Some(if s % 4 == 3 {
                    ((s / 4) % self.input, false)
                } else {
                    (heap0 + (s - s / 4), true)
                }),
                Phase::Optimize if s < self.shape.optimize_rounds * self.heap => {
                    self.rng = mix64(self.rng);
                    let r = self.rng;
                    let hot = (self.heap / 4).max(1);
                    let page = if r % 100 < 80 {
                        heap0 + self.heap - hot + (r >> 8) % hot
                    } else {
                        heap0 + (r >> 8) % self.heap
                    };
                    Some((page, (r >> 40) % 100 < 30))
                }
                // One function at a time: a run of function_pages heap
                // pages from a random start (call-graph order is not
                // allocation order); every 8th step writes output.
                Phase::Codegen if s < self.heap => Some(if s % 8 == 7 {
                    (out0 + (s / 8) % self.output, true)
                } else {
                    (self.function_walk(s), false)
                }),
                // Debug info: the IR once more, function by function.
                Phase::DebugInfo if s < self.heap / 2 => Some((self.function_walk(s), false)),
                Phase::WriteObject if s < self.output => Some((out0 + s, false)),
                Phase::Done => return None,
                _ => None,
            };
            if let Some(a) = access {
                self.step += 1;
                return Some(a);
            }
            self.phase = match self.phase {
                Phase::Preprocess | Phase::Load => Phase::Parse,
                Phase::Parse => Phase::Optimize,
                Phase::Optimize => Phase::Codegen,
                Phase::Codegen => Phase::DebugInfo,
                Phase::DebugInfo => Phase::WriteObject,
                _ => Phase::Done,
            };
            self.step = 0;
        }
    }
}

fn tag(seed: u64, job: u64, page: u64, count: u32) -> u64 {
    mix64(seed ^ 0xc0de) ^ (job << 44) ^ (page << 12) ^ count as u64
}

/// Performs one access of `job`; returns (checked, corrupt). A zero-filled
/// page is written with zeros and must read as zeros; any other page holds
/// the pattern of its write count.
fn access(job: &mut Job, page: u64, is_write: bool) -> (u64, u64) {
    let va = WORKLOAD_BASE + page * PAGE_SIZE;
    let is_zero = job.is_zero_page(page);
    let count = job.writes[page as usize];
    let pct = job.random_pct_of(page);
    let (seed, id) = (job.shape.seed, job.id);
    if is_write {
        if is_zero {
            // SAFETY: `va` is inside the job's VMA; its address space is current.
            unsafe { fill_zero_page(va) };
        } else {
            // SAFETY: as above.
            unsafe { fill_page_pct(va, tag(seed, id, page, count + 1), pct) };
            job.writes[page as usize] = count + 1;
        }
        return (0, 0);
    }
    // SAFETY: as above.
    let is_ok = unsafe {
        if is_zero {
            verify_zero_page(va)
        } else {
            verify_counted_pct(va, count, |c| tag(seed, id, page, c), pct)
        }
    };
    (1, u64::from(!is_ok))
}

/// Runs one step of `job`; returns (checked, corrupt) for its reads.
fn run_step(job: &mut Job, step: Step) -> Result<(u64, u64), WorkloadError> {
    match step {
        Step::Access(page, is_write) => Ok(access(job, page, is_write)),
        // Checked and counted by the page cache.
        Step::Read(file) => {
            filemap_read(&mut File::open(file), 0, u64::MAX, |_, _| {})
                .map_err(|e| WorkloadError::file(format_args!("job {}", job.id), e))?;
            Ok((0, 0))
        }
        Step::WriteOut(page) => write_out(job, page),
    }
}

/// Reads output `page` of `job` (verified like any read) and writes it to
/// the job's object file, which is created on the first page. Returns
/// (checked, corrupt) for the read.
fn write_out(job: &mut Job, page: u64) -> Result<(u64, u64), WorkloadError> {
    let read = access(job, page, false);
    let first = job.input + job.heap;
    let object = match job.object {
        Some(file) => file,
        None => {
            let name = format!("/obj/cc-{}.o", job.id);
            let file = create_object(name, job.output * PAGE_SIZE).map_err(WorkloadError::io)?;
            job.object = Some(file);
            file
        }
    };
    // Through a kernel buffer: the copy into the page cache runs with the
    // mm lock held, where a fault on the job's memory could not be served.
    let va = WORKLOAD_BASE + page * PAGE_SIZE;
    // SAFETY: `va` is inside the job's VMA and was just read (mapped); its
    // address space is current.
    let src = unsafe { core::slice::from_raw_parts(va as *const u8, PAGE_SIZE as usize) };
    job.bounce.copy_from_slice(src);
    generic_perform_write(
        &mut File::open(object),
        (page - first) * PAGE_SIZE,
        &job.bounce,
    )
    .map_err(|e| WorkloadError::file(format_args!("job {}: writing its object", job.id), e))?;
    Ok(read)
}

/// No object file (yet) for a job.
const NO_OBJECT: u32 = u32::MAX;

/// The final link: reads every object file whole, in job order
/// (`objects[job]`).
fn link(objects: &[AtomicU32]) -> Result<(), WorkloadError> {
    for object in objects {
        let Ok(file) = u16::try_from(object.load(Ordering::Relaxed)) else {
            continue;
        };
        filemap_read(&mut File::open(file), 0, u64::MAX, |_, _| {})
            .map_err(|e| WorkloadError::file(format_args!("link"), e))?;
        cond_resched();
    }
    Ok(())
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let slots = config.number("workload.jobs");
    let jobs_per_slot = config.number("workload.passes");
    let shape = Shape {
        mean_pages: config.number("workload.scale") * JOB_PAGES_PER_SCALE,
        spread_pct: config.number("workload.size_spread"),
        random_pct: config.number("workload.random_pct"),
        optimize_rounds: config.number("workload.optimize_rounds"),
        function_pages: config.number("workload.function_pages"),
        zero_pct: config.number("workload.zero_pct"),
        seed: config.number("workload.seed"),
        headers: config.number("workload.headers"),
        hot_headers: config.number("workload.hot_headers"),
        objects: have_objects_disk(),
    };
    let files = Arc::new(FileSet::from_page_cache());
    let nr_jobs = slots * jobs_per_slot;
    // The build's job queue (make's jobserver): the next job to start.
    let next_job = Arc::new(AtomicU64::new(0));
    // Jobs that exited, and the object files they wrote (job, file).
    let finished = Arc::new(AtomicU64::new(0));
    // (Atomics, not a lock: a task may be preempted anywhere.)
    let objects: Arc<Vec<AtomicU32>> =
        Arc::new((0..nr_jobs).map(|_| AtomicU32::new(NO_OBJECT)).collect());
    let bodies: Vec<(_, TaskBody<SlotResult>)> = (0..slots)
        .map(|slot| {
            let next_job = next_job.clone();
            let files = files.clone();
            let finished = finished.clone();
            let objects = objects.clone();
            let body = move || {
                let (mut checked, mut corrupt) = (0, 0);
                loop {
                    let id = next_job.fetch_add(1, Ordering::Relaxed);
                    if id >= nr_jobs {
                        break;
                    }
                    let mut job = Job::new(id, shape, &files)?;
                    switch_mm(Some(&job.mm));
                    // The job's "user mode": a swap read error kills it
                    // here (what it allocates is dropped within a step).
                    let run = killable(|| -> Result<(), WorkloadError> {
                        while let Some(step) = job.next() {
                            let (c, bad) = run_step(&mut job, step)?;
                            checked += c;
                            corrupt += bad;
                            // A kill must not lose the counts (sched::signal).
                            publish(&mut checked);
                            publish(&mut corrupt);
                            cond_resched();
                        }
                        Ok(())
                    });
                    switch_mm(None);
                    match run {
                        Ok(done) => done?,
                        // Like make -k: the killed job exits (its memory
                        // and slots freed), the others go on, and without
                        // its object the link never runs.
                        Err(Killed) => continue,
                    }
                    if let Some(file) = job.object {
                        objects[id as usize].store(file.into(), Ordering::Relaxed);
                    }
                    drop(job); // the job exits: its memory and slots are freed
                    if finished.fetch_add(1, Ordering::Relaxed) + 1 == nr_jobs && shape.objects {
                        link(&objects)?;
                    }
                }
                Ok(Tally { checked, corrupt })
            };
            (format!("slot-{slot}"), Box::new(body) as _)
        })
        .collect();
    let (done, elapsed_cycles) = run_timed(bodies);
    let mut tally = Tally::default();
    for slot in done {
        tally += slot?;
    }
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: tally.checked,
        corrupt_pages: tally.corrupt,
        ..WorkloadResult::default()
    })
}
