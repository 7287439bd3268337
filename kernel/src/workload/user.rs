//! `workload=user` and `workload=usertests`: programs in ring 3 (see
//! [`crate::proc`]).
//!
//! `user` runs `user.program`; `usertests` runs every program whose name
//! starts with `ut_` (xv6's usertests and Linux's mm selftests, for our
//! mm), one after another, each in a fresh process that may fork. A
//! program passes when it exits with status 0; the run fails if any does
//! not. Each program checks its own pages and reports them at exit, so
//! the run's integrity figures count them.

use super::{measured, WorkloadError, WorkloadResult};
use crate::knobs::Config;
use crate::proc::{self, programs, ExitStatus, Finished, ProcStats};
use crate::sched::clock::sched_clock;

/// Programs listed in the result (more are counted only).
pub const MAX_PROGRAMS: usize = 32;

/// What the programs of a run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserSummary {
    pub programs: [Option<Finished>; MAX_PROGRAMS],
    pub nr_programs: usize,
    /// Programs that did not exit with status 0.
    pub nr_failed: usize,
    pub procs: ProcStats,
    /// The highest swap count any slot reached (2 or more: fork shared it).
    pub peak_swap_count: u8,
}

/// Did program `f` pass?
pub fn passed(f: &Finished) -> bool {
    f.status == ExitStatus::Exited(0)
}

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    proc::set_max_procs(config.number("user.max_procs") as u32);
    let mut summary = UserSummary::default();
    crate::mm::state::with_mm_state(|st| {
        if let Some(s) = st.swap.as_mut() {
            s.peak_count = 0;
        }
    });
    crate::sched::reset_stats();
    let start = sched_clock();
    let one = config.word("workload") == "user";
    let wanted = |n: &&str| {
        if one {
            *n == config.word("user.program")
        } else {
            n.starts_with("ut_")
        }
    };
    let names: alloc::vec::Vec<&'static str> = programs::names().filter(wanted).collect();
    if names.is_empty() {
        return Err(WorkloadError::input("no user program to run"));
    }
    for name in names {
        let start = proc::spawn_program(name).map_err(WorkloadError::input)?;
        crate::println!("faultline: running user program {name} (pid {})", start.pid);
        crate::sched::run_user_tasks(alloc::vec![start]);
        for f in proc::take_finished() {
            let ok = passed(&f);
            crate::println!(
                "faultline: user program {} (pid {}) {}: {:?}",
                f.name,
                f.pid,
                if ok { "passed" } else { "FAILED" },
                f.status
            );
            summary.nr_failed += usize::from(!ok);
            if let Some(slot) = summary.programs.get_mut(summary.nr_programs) {
                *slot = Some(f);
            }
            summary.nr_programs += 1;
        }
    }
    let elapsed_cycles = sched_clock() - start;
    let measured = measured::capture();
    summary.procs = proc::take_stats();
    summary.peak_swap_count =
        crate::mm::state::with_mm_state(|st| st.swap.as_ref().map_or(0, |s| s.peak_count));
    let (checked, corrupt) = proc::syscall::take_user_tally();
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: checked,
        corrupt_pages: corrupt,
        measured: Some(measured),
        user: Some(summary),
        ..WorkloadResult::default()
    })
}
