//! The kernel's clock (Linux `sched_clock`, with steal time as in
//! kernel/sched/cputime.c): the TSC minus the time the host stole.
//!
//! Under QEMU the swap disk is a host file. Its latency is modelled (see
//! `DeviceLatency`): a request completes at its deadline. The host's own
//! I/O threads usually finish long before that, but not always, and how
//! many completions are waiting in the used ring when the driver looks
//! depends on host timing. So two pieces of time are *stolen*, not
//! counted by this clock:
//!
//! - waiting past a deadline for a completion the host has not delivered
//!   yet (the model says the I/O is done; the host is late);
//! - draining the used ring (its length depends on host timing).
//!
//! And one piece is *skipped*: when the CPU has nothing to do but wait for
//! the next modelled completion, the clock jumps to it ([`skip_to`]), as a
//! tickless idle CPU sleeps until its next event. The figures are the same
//! as if we had spun; the run just takes less host time.
//!
//! And one piece is *charged*: work whose cost is modelled rather than
//! measured ([`charge`]), such as zstd, whose pure-Rust implementation is
//! slower than the reference library the model stands for (see
//! `mm/zcomp.rs`): its own cycles are stolen and a calibrated cost is
//! charged instead.
//!
//! Everything that measures or decides by time uses [`sched_clock`]:
//! elapsed times, fault latencies, device deadlines, and in deterministic
//! mode the time slices. With QEMU `-icount` (where the TSC counts guest
//! instructions) a run is then reproducible bit for bit.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;

static STOLEN: AtomicU64 = AtomicU64::new(0);
static SKIPPED: AtomicU64 = AtomicU64::new(0);
static CHARGED: AtomicU64 = AtomicU64::new(0);
/// Nesting depth of [`stolen`] sections; the clock stands still inside.
static STOLEN_DEPTH: AtomicU64 = AtomicU64::new(0);
/// The clock's value while it stands still.
static FROZEN_AT: AtomicU64 = AtomicU64::new(0);

/// TSC cycles, minus the cycles stolen, plus the cycles skipped and
/// charged so far.
/// Inside a [`stolen`] section it stands still: a decision made there
/// must not depend on how long the host made it take.
#[inline]
pub fn sched_clock() -> u64 {
    if STOLEN_DEPTH.load(Ordering::Relaxed) > 0 {
        return FROZEN_AT.load(Ordering::Relaxed);
    }
    rdtsc().wrapping_add(offset())
}

/// What [`sched_clock`] adds to the TSC (wrapping: stolen may exceed the
/// rest while the sum with the TSC never goes below zero).
#[inline]
fn offset() -> u64 {
    SKIPPED
        .load(Ordering::Relaxed)
        .wrapping_add(CHARGED.load(Ordering::Relaxed))
        .wrapping_sub(STOLEN.load(Ordering::Relaxed))
}

/// Moves the clock forward by `cycles` of modelled work (the CPU is taken
/// to have been busy for them).
pub fn charge(cycles: u64) {
    CHARGED.fetch_add(cycles, Ordering::Relaxed);
}

/// Moves the clock forward to `t` if it is earlier (an idle wait for an
/// event at `t`, with nothing else to run).
pub fn skip_to(t: u64) {
    let now = sched_clock();
    if t > now {
        SKIPPED.fetch_add(t - now, Ordering::Relaxed);
    }
}

/// Runs `f` and leaves the time it took out of [`sched_clock`].
pub fn stolen<R>(f: impl FnOnce() -> R) -> R {
    let outermost = STOLEN_DEPTH.load(Ordering::Relaxed) == 0;
    let start = rdtsc();
    if outermost {
        // From the same TSC read as `start`: when the section ends, the
        // clock resumes exactly where it stood still, never before it.
        let frozen = start.wrapping_add(offset());
        FROZEN_AT.store(frozen, Ordering::Relaxed);
    }
    STOLEN_DEPTH.fetch_add(1, Ordering::Relaxed);
    let r = f();
    STOLEN_DEPTH.fetch_sub(1, Ordering::Relaxed);
    if outermost {
        STOLEN.fetch_add(rdtsc() - start, Ordering::Relaxed);
    }
    r
}
