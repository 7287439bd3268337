//! `workload=compile`: a model of a parallel build (`make -jN`).
//!
//! `workload.tasks` slots each run compile jobs one after the other,
//! `workload.passes` jobs per slot. A job is a process: it gets a fresh
//! address space of `workload.size / workload.tasks` bytes and goes
//! through the phases of a compiler, then exits (its memory and swap
//! slots are freed) and the next job takes the slot:
//!
//! 1. load: read its input (the source file) into a buffer (first touch);
//! 2. parse: grow the heap page after page (the AST), re-reading input;
//! 3. optimize: a hot working set with skewed reuse (80 % of accesses in
//!    the newest quarter of the heap, 30 % writes);
//! 4. codegen: a streaming pass over the heap, writing the output;
//! 5. link: read the output back, then exit.
//!
//! Why it resembles a build: memory grows, is reused with locality, is
//! streamed, and is thrown away, many times over, by jobs that overlap in
//! time, so reclaim sees short-lived and long-lived pages, sequential runs
//! (which readahead likes) and scattered reuse (which it does not). Every
//! read is verified like in `thrash`; jobs take turns every
//! `SLICE_ACCESSES` accesses (no preemption yet).

use alloc::format;
use alloc::vec::Vec;

use super::thrash::SLICE_ACCESSES;
use super::{fill_page, mix64, verify_counted, WorkloadError, WorkloadResult, WORKLOAD_BASE};
use crate::arch::cpu::rdtsc;
use crate::knobs::Config;
use crate::mm::mm_types::{new_anon_mm, switch_mm, MmHandle};
use crate::mm::{page_align_up, PAGE_SIZE};

/// Optimize makes this many accesses per heap page.
const OPTIMIZE_ROUNDS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Load,
    Parse,
    Optimize,
    Codegen,
    Link,
    Done,
}

/// One compile job (a process).
struct Job {
    id: u64,
    mm: MmHandle,
    writes: Vec<u32>,
    phase: Phase,
    step: u64,
    rng: u64,
    input: u64,
    heap: u64,
    output: u64,
}

impl Job {
    fn new(id: u64, pages: u64, seed: u64) -> Result<Job, WorkloadError> {
        let mm = new_anon_mm(&format!("cc-{id}"), WORKLOAD_BASE, pages * PAGE_SIZE)
            .map_err(|e| WorkloadError(e.into()))?;
        let input = (pages / 4).max(1);
        let output = (pages / 10).max(1);
        let heap = pages.saturating_sub(input + output).max(1);
        Ok(Job {
            id,
            mm,
            writes: alloc::vec![0; (input + heap + output) as usize],
            phase: Phase::Load,
            step: 0,
            rng: mix64(seed ^ id.wrapping_mul(0x9e37)),
            input,
            heap,
            output,
        })
    }

    /// The next access (page, is_write), or `None` when the job exited.
    fn next(&mut self) -> Option<(u64, bool)> {
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
                Phase::Optimize if s < OPTIMIZE_ROUNDS * self.heap => {
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
                Phase::Codegen if s < self.heap => Some(if s % 8 == 7 {
                    (out0 + (s / 8) % self.output, true)
                } else {
                    (heap0 + s, false)
                }),
                Phase::Link if s < self.output => Some((out0 + s, false)),
                Phase::Done => return None,
                _ => None,
            };
            if let Some(a) = access {
                self.step += 1;
                return Some(a);
            }
            self.phase = match self.phase {
                Phase::Load => Phase::Parse,
                Phase::Parse => Phase::Optimize,
                Phase::Optimize => Phase::Codegen,
                Phase::Codegen => Phase::Link,
                _ => Phase::Done,
            };
            self.step = 0;
        }
    }
}

fn tag(seed: u64, job: u64, page: u64, count: u32) -> u64 {
    mix64(seed ^ 0xc0de) ^ (job << 44) ^ (page << 12) ^ count as u64
}

/// Performs one access of `job`; returns (checked, corrupt).
fn access(job: &mut Job, page: u64, is_write: bool, seed: u64) -> (u64, u64) {
    let va = WORKLOAD_BASE + page * PAGE_SIZE;
    let count = job.writes[page as usize];
    if is_write {
        // SAFETY: `va` is inside the job's VMA; its address space is current.
        unsafe { fill_page(va, tag(seed, job.id, page, count + 1)) };
        job.writes[page as usize] = count + 1;
        return (0, 0);
    }
    // SAFETY: as above.
    let is_ok = unsafe { verify_counted(va, count, |c| tag(seed, job.id, page, c)) };
    (1, u64::from(!is_ok))
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let size = page_align_up(config.number("workload.size"));
    let slots = config.number("workload.tasks");
    let pages = size / PAGE_SIZE / slots;
    if pages < 8 {
        return Err(WorkloadError(format!(
            "workload.size={size} gives fewer than 8 pages per compile job"
        )));
    }
    let seed = config.number("workload.seed");
    let jobs_per_slot = config.number("workload.passes");
    let mut next_id = 0u64;
    let mut running: Vec<Option<(Job, u64)>> = Vec::new();
    for _ in 0..slots {
        running.push(Some((Job::new(next_id, pages, seed)?, 1)));
        next_id += 1;
    }
    let (mut checked, mut corrupt) = (0, 0);
    let start = rdtsc();
    while running.iter().any(Option::is_some) {
        for slot in running.iter_mut() {
            let Some((job, started)) = slot.as_mut() else {
                continue;
            };
            switch_mm(Some(&job.mm));
            let mut exited = false;
            for _ in 0..SLICE_ACCESSES {
                let Some((page, is_write)) = job.next() else {
                    exited = true;
                    break;
                };
                let (c, bad) = access(job, page, is_write, seed);
                checked += c;
                corrupt += bad;
            }
            if !exited {
                continue;
            }
            switch_mm(None);
            let done = *started;
            *slot = None; // the job exits: its memory and slots are freed
            if done < jobs_per_slot {
                *slot = Some((Job::new(next_id, pages, seed)?, done + 1));
                next_id += 1;
            }
        }
    }
    let elapsed_cycles = rdtsc() - start;
    switch_mm(None);
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: checked,
        corrupt_pages: corrupt,
        ..WorkloadResult::default()
    })
}
