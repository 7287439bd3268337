//! Exact leak accounting: everything a run allocates must be back at its
//! baseline when the run is over.
//!
//! A snapshot counts what the mm holds: free frames, swap slots in use
//! (the header excluded), swap-cache entries, zswap entries and pool
//! bytes, zero-map bits, heap bytes and requests in flight. One is taken
//! after set-up (swap-on, mounts: what lives for the whole boot) and one
//! after the run, once its address spaces are gone and the page cache is
//! dropped. Every difference is a leak and fails the run. Linux has no
//! such check; its closest relatives are kmemleak and the `nr_*` counters
//! of /proc/meminfo and /proc/vmstat returning to their idle values.

use crate::mm::heap;
use crate::mm::page_alloc::nr_free_pages;
use crate::mm::state::with_mm_state;

/// The names of a [`Snapshot`]'s fields, in [`Snapshot::values`] order.
pub const LEAK_NAMES: [&str; 8] = [
    "frames",
    "swap_slots",
    "swap_cache",
    "zswap_entries",
    "zswap_pool_bytes",
    "zeromap_bits",
    "heap_bytes",
    "in_flight",
];

/// What the mm holds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Frames *in use* (total minus free), so that more is a leak.
    pub frames_used: u64,
    pub swap_slots: u64,
    pub swap_cache: u64,
    pub zswap_entries: u64,
    pub zswap_pool_bytes: u64,
    pub zeromap_bits: u64,
    pub heap_bytes: u64,
    pub in_flight: u64,
}

impl Snapshot {
    fn values(&self) -> [u64; 8] {
        [
            self.frames_used,
            self.swap_slots,
            self.swap_cache,
            self.zswap_entries,
            self.zswap_pool_bytes,
            self.zeromap_bits,
            self.heap_bytes,
            self.in_flight,
        ]
    }
}

/// Counts what the mm holds now.
pub fn snapshot() -> Snapshot {
    let total = crate::mm::page_alloc::totalram_pages() as u64;
    let mut s = Snapshot {
        frames_used: total - nr_free_pages() as u64,
        heap_bytes: heap::used_bytes() as u64,
        ..Snapshot::default()
    };
    with_mm_state(|st| {
        if let Some(swap) = st.swap.as_ref() {
            let c = swap.usage_counts();
            s.swap_slots = c.slots_in_use;
            s.swap_cache = c.swap_cache;
            s.zeromap_bits = c.zeromap_bits;
            s.zswap_entries = swap.zswap.stored_pages();
            s.zswap_pool_bytes = swap.zswap.pool_bytes();
            s.in_flight = swap.nr_in_flight() as u64;
        }
    });
    s
}

/// The leaks of a run: `after - baseline` per field, by name. A field that
/// went *down* is reported too (negative): it means the baseline held
/// something the run freed, which is as wrong as a leak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leaks(pub [i64; 8]);

impl Leaks {
    pub fn between(baseline: &Snapshot, after: &Snapshot) -> Leaks {
        let (b, a) = (baseline.values(), after.values());
        Leaks(core::array::from_fn(|i| a[i] as i64 - b[i] as i64))
    }

    pub fn is_clean(&self) -> bool {
        self.0.iter().all(|&d| d == 0)
    }

    /// Frames not returned (the old `leaked_pages`).
    pub fn frames(&self) -> u64 {
        self.0[0].max(0) as u64
    }

    /// (name, difference) pairs, for the report.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, i64)> + '_ {
        LEAK_NAMES.iter().copied().zip(self.0.iter().copied())
    }
}
