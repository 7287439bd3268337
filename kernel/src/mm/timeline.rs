//! The counter timeline (`timeline.interval_mcycles`, `faultline run
//! --timeline`): every N million cycles of the run's clock, a sample of
//! the counters that show when thrashing starts and what it is made of:
//! cumulative vmstat events, memcg usage, the zswap pool, swap slots in
//! use and the run-queue length.
//!
//! Not in Linux as such: it is what `vmstat 1` or a periodic read of
//! `memory.stat` and `/proc/vmstat` shows, sampled in the kernel.
//! Samples are taken in `schedule()`, the first time it runs after a
//! sample is due, so their times are not exactly N apart: each records
//! its own. The buffer is fixed (no allocation in the scheduler): when it
//! fills up, every other sample is dropped and the interval doubles, so a
//! run of any length keeps at most [`MAX_SAMPLES`] evenly spread ones.
//! Sampling runs only between [`start`] (the measured phase begins) and
//! [`stop`] (it ends); off, it costs `schedule()` one load and compare.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::memcontrol::memcg_usage;
use super::state::with_mm_state;
use super::vmstat::{self, VmEvent};
use crate::sched::clock::sched_clock;

/// At most this many samples are kept.
pub const MAX_SAMPLES: usize = 512;

/// The vmstat events a sample holds (cumulative since the measured phase
/// began; the host turns them into per-interval deltas).
const EVENTS: [VmEvent; 10] = [
    VmEvent::PgFault,
    VmEvent::PgMajFault,
    VmEvent::PgFaultSwapcache,
    VmEvent::PswpIn,
    VmEvent::PswpOut,
    VmEvent::SwapRa,
    VmEvent::SwapRaHit,
    VmEvent::Zswpin,
    VmEvent::Zswpout,
    VmEvent::PgSteal,
];

/// The columns of a sample line, as the host's `timeline.csv` names them.
pub const COLUMNS: &str = "t_mcycles,pgfault,pgmajfault,pgfault_swapcache,pswpin,pswpout,swap_ra,swap_ra_hit,zswpin,zswpout,pgsteal,memcg_pages,zswap_pool_pages,swap_used_slots,nr_running";

#[derive(Clone, Copy)]
struct Sample {
    cycles: u64,
    events: [u64; EVENTS.len()],
    memcg_pages: u64,
    zswap_pool_pages: u64,
    swap_used_slots: u64,
    nr_running: u64,
}

const EMPTY: Sample = Sample {
    cycles: 0,
    events: [0; EVENTS.len()],
    memcg_pages: 0,
    zswap_pool_pages: 0,
    swap_used_slots: 0,
    nr_running: 0,
};

struct Timeline {
    start: u64,
    interval: u64,
    len: usize,
    samples: [Sample; MAX_SAMPLES],
}

static TIMELINE: Mutex<Timeline> = Mutex::new(Timeline {
    start: 0,
    interval: 0,
    len: 0,
    samples: [EMPTY; MAX_SAMPLES],
});

/// When the next sample is due (`u64::MAX`: sampling is off).
static NEXT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Starts sampling every `interval_mcycles` million cycles (0: off).
pub fn start(interval_mcycles: u64) {
    if interval_mcycles == 0 {
        return;
    }
    let now = sched_clock();
    let mut t = TIMELINE.lock();
    t.start = now;
    t.interval = interval_mcycles * 1_000_000;
    t.len = 0;
    NEXT.store(now, Ordering::Relaxed);
}

/// Stops sampling (the measured phase is over).
pub fn stop() {
    NEXT.store(u64::MAX, Ordering::Relaxed);
}

/// Called by `schedule()`, without the mm lock or the run-queue lock
/// held: takes a sample if one is due (`nr_running` reads the run queue
/// only then).
#[inline]
pub fn tick(now: u64, nr_running: impl FnOnce() -> usize) {
    if now < NEXT.load(Ordering::Relaxed) {
        return;
    }
    let nr_running = nr_running();
    let (memcg_pages, zswap_pool_pages, swap_used_slots) = with_mm_state(|st| {
        let swap = st.swap.as_ref();
        (
            memcg_usage(st),
            swap.map_or(0, |s| s.zswap.pool_pages()),
            swap.map_or(0, |s| s.nr_used() as u64),
        )
    });
    let mut t = TIMELINE.lock();
    if t.len == MAX_SAMPLES {
        // Keep every other sample and sample half as often.
        for i in 0..MAX_SAMPLES / 2 {
            t.samples[i] = t.samples[2 * i + 1];
        }
        t.len = MAX_SAMPLES / 2;
        t.interval *= 2;
    }
    let len = t.len;
    t.samples[len] = Sample {
        cycles: now - t.start,
        events: EVENTS.map(vmstat::read),
        memcg_pages,
        zswap_pool_pages,
        swap_used_slots,
        nr_running: nr_running as u64,
    };
    t.len += 1;
    NEXT.store(now + t.interval, Ordering::Relaxed);
}

/// Prints the samples, one `FAULTLINE-TIMELINE` line each after a header
/// line, for the host's `timeline.csv` (nothing when sampling was off).
pub fn emit() {
    let t = TIMELINE.lock();
    if t.interval == 0 {
        return;
    }
    crate::println!("FAULTLINE-TIMELINE-COLUMNS {COLUMNS}");
    for s in &t.samples[..t.len] {
        let kcycles = s.cycles / 1000;
        crate::print!(
            "FAULTLINE-TIMELINE {}.{:03}",
            kcycles / 1000,
            kcycles % 1000
        );
        for e in s.events {
            crate::print!(",{e}");
        }
        crate::println!(
            ",{},{},{},{}",
            s.memcg_pages,
            s.zswap_pool_pages,
            s.swap_used_slots,
            s.nr_running
        );
    }
}
