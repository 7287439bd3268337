//! What a workload measured, captured at the end of its measured phase.
//!
//! A workload's final integrity pass (reading every page back once more)
//! faults pages in like any other access; if it were counted, a sequential
//! sweep at the end would dominate the readahead figures of every pattern.
//! So counters, latencies and zswap figures are captured before it, and
//! the report prints this capture.

use crate::mm::fault_latency::FaultLatency;
use crate::mm::memcontrol::memcg_usage;
use crate::mm::state::with_mm_state;
use crate::mm::vmstat::{self, NR_VM_EVENTS};
use crate::mm::zcomp;
use crate::mm::zswap::ZswapStats;

/// The figures of the measured phase.
#[derive(Clone)]
pub struct Measured {
    pub vmstat: [(&'static str, u64); NR_VM_EVENTS],
    pub latency: FaultLatency,
    /// (cycles, calls) compressing and decompressing.
    pub zcomp: [(u64, u64); 2],
    pub zswap: ZswapStats,
    /// Pages the zswap pool held at the end of the phase.
    pub zswap_pool_pages: u64,
    pub memcg_max_pages: u64,
    pub memcg_peak_pages: u64,
    pub memcg_usage_pages: u64,
    /// Page-cache pages charged to the group at the end of the phase.
    pub memcg_file_pages: u64,
    /// Of those, dirty and under writeback (memory.stat `file_dirty`,
    /// `file_writeback`).
    pub memcg_file_dirty: u64,
    pub memcg_file_writeback: u64,
    /// LRU list sizes (inactive anon, active anon, inactive file, active
    /// file), as memory.stat's `inactive_anon` ... `active_file`, in pages.
    pub lru_pages: [u64; 4],
    pub swap_device: &'static str,
    pub swap_slots: u64,
    pub swap_used_slots: u64,
    /// Most slots in use at once, and cycles spent with more than half in
    /// use (Linux `vm_swap_full`: every swap-in then frees its slot).
    pub swap_peak_used_slots: u64,
    pub swap_full_cycles: u64,
    /// Entries zswap holds as-is (Linux `stored_incompressible_pages`).
    pub zswap_stored_incompressible_pages: u64,
    pub zswap_compressor: &'static str,
}

/// Captures the figures now.
pub fn capture() -> Measured {
    crate::mm::timeline::stop();
    crate::sched::budget::stop();
    with_mm_state(|st| Measured {
        vmstat: vmstat::snapshot(),
        latency: st.latency.clone(),
        zcomp: zcomp::totals(),
        zswap: st.swap.as_ref().map(|s| s.zswap.stats).unwrap_or_default(),
        zswap_pool_pages: st.swap.as_ref().map_or(0, |s| s.zswap.pool_pages()),
        memcg_max_pages: st.memcg.max_pages,
        memcg_peak_pages: st.memcg.peak_pages,
        memcg_usage_pages: memcg_usage(st),
        memcg_file_pages: st.page_cache.nrpages(),
        memcg_file_dirty: st.page_cache.wb.nr_dirty,
        memcg_file_writeback: st.page_cache.wb.nr_writeback,
        lru_pages: [
            st.lru.inactive_anon.len() as u64,
            st.lru.active_anon.len() as u64,
            st.lru.inactive_file.len() as u64,
            st.lru.active_file.len() as u64,
        ],
        swap_device: st.swap.as_ref().map_or("none", |s| s.device_name()),
        swap_slots: st.swap.as_ref().map_or(0, |s| s.total_slots() as u64),
        swap_used_slots: st.swap.as_ref().map_or(0, |s| s.nr_used() as u64),
        swap_peak_used_slots: st.swap.as_ref().map_or(0, |s| s.peak_used as u64),
        swap_full_cycles: st.swap.as_ref().map_or(0, |s| s.full_cycles()),
        zswap_stored_incompressible_pages: st
            .swap
            .as_ref()
            .map_or(0, |s| s.zswap.stored_incompressible_pages()),
        zswap_compressor: st
            .swap
            .as_ref()
            .map_or("none", |s| s.zswap.compressor.name()),
    })
}
