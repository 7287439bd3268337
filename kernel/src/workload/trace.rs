//! `workload=trace`: replays page-level traces of real programs, one
//! address space per trace, recorded with valgrind lackey and converted by
//! `faultline trace import` (format: see src/trace.rs on the host).
//!
//! The host passes the traces as fw_cfg files `opt/faultline/trace0`,
//! `trace1`, ... (`faultline run --trace FILE`, repeatable). Task `i`
//! replays trace `i` `workload.passes` times, as a [`crate::sched`] task
//! interleaved with the others. A write gives the page a new pattern
//! (seed, task, page, write count); a read verifies the page, including
//! pages never written, which must read as zeros.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    fill_page, mix64, run_timed, verify_counted, Tally, WorkloadError, WorkloadResult,
    WORKLOAD_BASE,
};
use crate::drivers::fw_cfg;
use crate::knobs::Config;
use crate::mm::mm_types::{new_anon_mm, switch_mm, MmHandle};
use crate::mm::PAGE_SIZE;
use crate::sched::{cond_resched, TaskBody};

const MAGIC: &[u8; 8] = b"FLTRACE1";
const VERSION: u32 = 1;
const FLAG_LZ4: u32 = 1;
const WRITE_BIT: u32 = 1 << 31;
/// Traces larger than this are refused (they live on the kernel heap).
const MAX_ACCESSES: usize = 4 << 20;
/// At most this many traces (tasks).
const MAX_TRACES: usize = 64;

/// A parsed trace. The accesses stay in the decompressed payload (one
/// copy on the kernel heap).
pub struct Trace {
    pub n_pages: u32,
    payload: Vec<u8>,
}

impl Trace {
    pub fn len(&self) -> usize {
        (self.payload.len() - 8) / 4
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Access `k`: page index, with bit 31 set for a write.
    pub fn access(&self, k: usize) -> u32 {
        let b = &self.payload[8 + 4 * k..12 + 4 * k];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// What is wrong with a trace, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub offset: usize,
    pub expected: String,
}

fn err(offset: usize, expected: impl Into<String>) -> TraceError {
    TraceError {
        offset,
        expected: expected.into(),
    }
}

fn u32_at(b: &[u8], off: usize, what: &str) -> Result<u32, TraceError> {
    b.get(off..off + 4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| err(off, format!("{what} (the file ends here)")))
}

/// Parses and checks a trace file.
pub fn parse(bytes: &[u8]) -> Result<Trace, TraceError> {
    if bytes.get(..8) != Some(&MAGIC[..]) {
        return Err(err(0, "the magic \"FLTRACE1\""));
    }
    let version = u32_at(bytes, 8, "the version")?;
    if version != VERSION {
        return Err(err(8, format!("version {VERSION}, found {version}")));
    }
    let flags = u32_at(bytes, 12, "the flags")?;
    let len = u32_at(bytes, 16, "the payload length")? as usize;
    if len > 8 + 4 * MAX_ACCESSES {
        return Err(err(
            16,
            format!(
                "a payload of at most {} bytes, found {len}",
                8 + 4 * MAX_ACCESSES
            ),
        ));
    }
    let heap_free = crate::mm::heap::size_bytes() - crate::mm::heap::used_bytes();
    if len > heap_free / 2 {
        return Err(err(16, format!("a payload that fits the kernel heap ({heap_free} bytes free; give the machine more memory with --mem), found {len}")));
    }
    let payload = if flags & FLAG_LZ4 != 0 {
        let mut out = alloc::vec![0u8; len];
        match lz4_flex::block::decompress_into(&bytes[20..], &mut out) {
            Ok(n) if n == len => out,
            _ => return Err(err(20, format!("an lz4 block of {len} bytes"))),
        }
    } else {
        bytes[20..].to_vec()
    };
    let n_pages = u32_at(&payload, 0, "the page count")?;
    let n = u32_at(&payload, 4, "the access count")? as usize;
    if payload.len() != 8 + 4 * n {
        return Err(err(
            20,
            format!(
                "{} payload bytes for {n} accesses, found {}",
                8 + 4 * n,
                payload.len()
            ),
        ));
    }
    // Import numbers the distinct pages 0..n_pages, each touched at least
    // once: more pages than accesses is a corrupt header, and checking it
    // here bounds what the replay allocates per page by the input's size.
    if n == 0 {
        return Err(err(24, "at least one access (offset in the payload: 4)"));
    }
    if n_pages as usize > n {
        return Err(err(
            20,
            format!("a page count no larger than the access count {n} (offset in the payload: 0), found {n_pages}"),
        ));
    }
    let trace = Trace { n_pages, payload };
    if let Some(i) = (0..n).find(|&i| trace.access(i) & !WRITE_BIT >= n_pages) {
        return Err(err(
            8 + 4 * i,
            format!("a page index below {n_pages} (offset in the payload)"),
        ));
    }
    Ok(trace)
}

/// Reads every `opt/faultline/traceN` the host passed.
fn load_traces() -> Result<Vec<Trace>, WorkloadError> {
    let mut traces = Vec::new();
    for i in 0..MAX_TRACES {
        let Some(bytes) = fw_cfg::read_file(&format!("opt/faultline/trace{i}"))
            .map_err(|e| WorkloadError(format!("trace {i}: {e}")))?
        else {
            break;
        };
        let t = parse(&bytes).map_err(|e| {
            WorkloadError(format!(
                "trace {i}: at byte offset {}: expected {}",
                e.offset, e.expected
            ))
        })?;
        traces.push(t);
    }
    if traces.is_empty() {
        return Err(WorkloadError(
            "workload=trace needs at least one trace: faultline run --trace FILE (see faultline trace import)".into(),
        ));
    }
    Ok(traces)
}

fn tag(seed: u64, task: u64, page: u64, count: u32) -> u64 {
    mix64(seed) ^ (task << 56) ^ (page << 20) ^ count as u64 ^ 0x7ace
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let traces = load_traces()?;
    let seed = config.number("workload.seed");
    let passes = config.number("workload.passes");
    let mut bodies = Vec::new();
    for (i, t) in traces.into_iter().enumerate() {
        let mm = new_anon_mm(
            &format!("trace-{i}"),
            WORKLOAD_BASE,
            t.n_pages as u64 * PAGE_SIZE,
        )?;
        let body = move || {
            let mut writes = alloc::vec![0u32; t.n_pages as usize];
            let (mut checked, mut corrupt) = (0u64, 0u64);
            switch_mm(Some(&mm));
            for k in 0..t.len() * passes as usize {
                let a = t.access(k % t.len());
                let page = (a & !WRITE_BIT) as u64;
                let va = WORKLOAD_BASE + page * PAGE_SIZE;
                let count = writes[page as usize];
                if a & WRITE_BIT != 0 {
                    // SAFETY: the page is inside this task's VMA, whose
                    // address space is current.
                    unsafe { fill_page(va, tag(seed, i as u64, page, count + 1)) };
                    writes[page as usize] = count + 1;
                } else {
                    // SAFETY: as above.
                    let ok = unsafe { verify_counted(va, count, |c| tag(seed, i as u64, page, c)) };
                    checked += 1;
                    corrupt += u64::from(!ok);
                }
                cond_resched();
            }
            switch_mm(None);
            (mm, Tally { checked, corrupt })
        };
        bodies.push((format!("trace-{i}"), Box::new(body) as TaskBody<_>));
    }
    let (done, elapsed_cycles): (Vec<(MmHandle, Tally)>, _) = run_timed(bodies);
    let measured = super::measured::capture();
    let mut tally = Tally::default();
    for (_, task_tally) in &done {
        tally += *task_tally;
    }
    drop(done);
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: tally.checked,
        corrupt_pages: tally.corrupt,
        measured: Some(measured),
        ..WorkloadResult::default()
    })
}
