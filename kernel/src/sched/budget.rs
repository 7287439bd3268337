//! The run's budget in its own clock (`run.budget_mcycles`): a run whose
//! measured phase passes it ends with a report instead of running on.
//!
//! Under `--deterministic` the clock counts guest instructions, so the
//! budget is the same on every machine and under any load: it is the
//! real limit of a lab run, and the host's wall-time timeout only a
//! generous safety net (a slow machine takes longer, not more
//! instructions). Checked in `schedule()`, which every task reaches
//! through `cond_resched` or a sleep; not in Linux.

use core::sync::atomic::{AtomicU64, Ordering};

/// Clock value past which the run ends (`u64::MAX`: no budget).
static END: AtomicU64 = AtomicU64::new(u64::MAX);
/// Clock value when the measured phase began (`u64::MAX`: not yet).
static START: AtomicU64 = AtomicU64::new(u64::MAX);
static BUDGET_MCYCLES: AtomicU64 = AtomicU64::new(0);

/// Starts the budget at `now` (0 Mcycles: none).
pub fn start(now: u64, mcycles: u64) {
    START.store(now, Ordering::Relaxed);
    if mcycles == 0 {
        return;
    }
    BUDGET_MCYCLES.store(mcycles, Ordering::Relaxed);
    END.store(now.saturating_add(mcycles * 1_000_000), Ordering::Relaxed);
}

/// The run's clock since the measured phase began (0 before it), for the
/// counters a failed run reached (`report::emit_error`).
pub fn elapsed() -> u64 {
    match START.load(Ordering::Relaxed) {
        u64::MAX => 0,
        start => crate::sched::clock::sched_clock().saturating_sub(start),
    }
}

/// Ends the budget (the measured phase is over).
pub fn stop() {
    END.store(u64::MAX, Ordering::Relaxed);
}

/// Ends the run with a report if the budget is spent.
#[inline]
pub fn check(now: u64) {
    if now > END.load(Ordering::Relaxed) {
        over();
    }
}

#[cold]
fn over() -> ! {
    crate::report::emit_error(crate::report::ErrorKind::Budget, format_args!(
        "budget: the measured phase passed run.budget_mcycles={} (million cycles of the run's clock, guest instructions under --deterministic); raise the knob or the experiment's budget_mcycles",
        BUDGET_MCYCLES.load(Ordering::Relaxed)
    ));
    crate::testing::fail_run()
}
