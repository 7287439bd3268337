//! `workload=thrash`: `workload.tasks` tasks, each with its own address
//! space and an anonymous region of `workload.size / tasks` bytes, access
//! their pages in `workload.pattern` order. With a `memcg.max` below the
//! footprint, every pass pushes pages out to swap and faults them back.
//!
//! Every page carries a pattern derived from (seed, task, page, write
//! count): a read verifies it, a write bumps the count. So a page that
//! comes back from swap stale, from the wrong slot or zeroed is counted as
//! corrupt. The tasks run on the scheduler ([`crate::sched`]): time
//! slices, and a task that waits for swap I/O lets the others run.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use super::{
    fill_page, mix64, run_timed, verify_page, Tally, WorkloadError, WorkloadResult, WORKLOAD_BASE,
};
use crate::knobs::Config;
use crate::mm::mm_types::{new_anon_mm, switch_mm, MmHandle};
use crate::mm::{page_align_up, PAGE_SIZE};
use crate::sched::signal::{killable, publish, Killed};
use crate::sched::{cond_resched, TaskBody};
/// In the hot pattern, the share of accesses that go to the hot set.
const HOT_ACCESS_PCT: u64 = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Seq,
    Random,
    Stride(u64),
    Hot {
        hot_pages: u64,
    },
    /// Sequential runs of about `run_pages` pages from random starts.
    Runs {
        run_pages: u64,
    },
}

/// One task: its address space, its position in the pattern, and the
/// write count of every page (0 = never written).
struct Task {
    id: u64,
    mm: MmHandle,
    rng: u64,
    cursor: u64,
    /// Pages left in the current run, and where it started (pattern `runs`).
    run_left: u64,
    run_start: u64,
    writes: Vec<u32>,
    done: u64,
}

/// What a task hands back: itself (`None` if it was killed) and its tally.
type TaskDone = (Option<Task>, Tally);

/// The pattern every page of `task` holds after `count` writes.
fn tag(seed: u64, task: u64, page: u64, count: u32) -> u64 {
    mix64(seed) ^ (task << 56) ^ (page << 20) ^ count as u64
}

impl Task {
    fn next_random(&mut self) -> u64 {
        self.rng = mix64(self.rng);
        self.rng
    }

    fn next_page(&mut self, pattern: Pattern) -> u64 {
        let n = self.writes.len() as u64;
        let i = self.cursor;
        self.cursor += 1;
        match pattern {
            Pattern::Seq => i % n,
            Pattern::Random => self.next_random() % n,
            Pattern::Stride(s) => {
                // Columns of a row-major walk: 0, s, 2s, ..., then 1, 1+s, ...
                let rows = n.div_ceil(s);
                let j = i % (rows * s);
                let page = (j % rows) * s + j / rows;
                if page < n {
                    page
                } else {
                    j % n
                }
            }
            Pattern::Runs { run_pages } => {
                if self.run_left == 0 {
                    let r = self.next_random();
                    self.run_left = 1 + (r >> 32) % (2 * run_pages);
                    self.run_start = r % n;
                    self.cursor = 1;
                }
                self.run_left -= 1;
                (self.run_start + self.cursor - 1) % n
            }
            Pattern::Hot { hot_pages } => {
                let r = self.next_random();
                if r % 100 < HOT_ACCESS_PCT {
                    (r >> 8) % hot_pages
                } else {
                    (r >> 8) % n
                }
            }
        }
    }
}

/// One access: first touch writes, later touches verify and sometimes
/// write again.
fn access(t: &mut Task, page: u64, seed: u64, write_pct: u64, tally: &mut Tally) {
    let va = WORKLOAD_BASE + page * PAGE_SIZE;
    let count = t.writes[page as usize];
    if count == 0 {
        // SAFETY: `va` is inside this task's VMA, and its address space
        // is current; the first touch is a demand-zero fault.
        unsafe { fill_page(va, tag(seed, t.id, page, 1)) };
        t.writes[page as usize] = 1;
        return;
    }
    // SAFETY: as above; the page may be swapped out and is faulted back.
    let is_ok = unsafe { verify_page(va, tag(seed, t.id, page, count)) };
    tally.checked += 1;
    tally.corrupt += u64::from(!is_ok);
    publish(tally); // a kill must not lose the count (sched::signal)
    if t.next_random() % 100 < write_pct {
        // SAFETY: as above.
        unsafe { fill_page(va, tag(seed, t.id, page, count + 1)) };
        t.writes[page as usize] = count + 1;
    }
}

fn pattern_of(config: &Config, pages: u64) -> Pattern {
    match config.word("workload.pattern") {
        "seq" => Pattern::Seq,
        "random" => Pattern::Random,
        "stride" => Pattern::Stride(config.number("workload.stride").min(pages).max(1)),
        "runs" => Pattern::Runs {
            run_pages: config.number("workload.run_pages"),
        },
        "hot" => Pattern::Hot {
            hot_pages: (pages * config.number("workload.hot_pct") / 100).max(1),
        },
        other => unreachable!("knob registry admitted pattern {other}"),
    }
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let size = page_align_up(config.number("workload.size"));
    let nr_tasks = config.number("workload.tasks");
    let pages = size / PAGE_SIZE / nr_tasks;
    if pages == 0 {
        return Err(WorkloadError::input(format!(
            "workload.size={size} is less than one page per task (workload.tasks={nr_tasks})"
        )));
    }
    let seed = config.number("workload.seed");
    let write_pct = config.number("workload.write_pct");
    let per_task = config.number("workload.passes") * pages;
    let pattern = pattern_of(config, pages);
    let mut tasks = Vec::new();
    for id in 0..nr_tasks {
        let mm = new_anon_mm(&format!("thrash-{id}"), WORKLOAD_BASE, pages * PAGE_SIZE)?;
        tasks.push(Task {
            id,
            mm,
            rng: mix64(seed ^ (id + 1)),
            cursor: 0,
            run_left: 0,
            run_start: 0,
            writes: alloc::vec![0; pages as usize],
            done: 0,
        });
    }
    let bodies: Vec<(_, TaskBody<TaskDone>)> = tasks
        .into_iter()
        .map(|mut t| {
            let name = format!("thrash-{}", t.id);
            let body = move || {
                switch_mm(Some(&t.mm));
                let mut tally = Tally::default();
                // The task's "user mode": a swap read error kills it here.
                let run = killable(|| {
                    while t.done < per_task {
                        let page = t.next_page(pattern);
                        access(&mut t, page, seed, write_pct, &mut tally);
                        t.done += 1;
                        cond_resched();
                    }
                });
                switch_mm(None);
                match run {
                    Ok(()) => (Some(t), tally),
                    // Linux `do_exit`: the killed task's memory and slots
                    // are freed now, by the task itself.
                    Err(Killed) => (None, tally),
                }
            };
            (name, Box::new(body) as _)
        })
        .collect();
    let (done, elapsed_cycles) = run_timed(bodies);
    let mut tally = Tally::default();
    let mut tasks = Vec::new();
    for (t, task_tally) in done {
        tally += task_tally;
        tasks.extend(t);
    }
    let measured = super::measured::capture();
    // Final check: every page ever written must still hold its last
    // pattern (killed tasks have no pages left). Not part of the measured
    // phase (see `measured`).
    for t in tasks {
        switch_mm(Some(&t.mm));
        // A read error here kills the task as in the measured phase.
        let _ = killable(|| {
            for page in 0..pages {
                let count = t.writes[page as usize];
                if count == 0 {
                    continue;
                }
                let va = WORKLOAD_BASE + page * PAGE_SIZE;
                // SAFETY: inside the current task's VMA.
                let is_ok = unsafe { verify_page(va, tag(seed, t.id, page, count)) };
                tally.checked += 1;
                tally.corrupt += u64::from(!is_ok);
                publish(&mut tally); // a kill must not lose the count (sched::signal)
            }
        });
        switch_mm(None);
    }
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: tally.checked,
        corrupt_pages: tally.corrupt,
        measured: Some(measured),
        ..WorkloadResult::default()
    })
}
