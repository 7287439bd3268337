//! The memory cgroup that every workload page is charged to (Linux
//! mm/memcontrol.c: `mem_cgroup_charge`, `try_charge_memcg`,
//! `mem_cgroup_swapin_charge_folio`, `memory.max`).
//!
//! Charging a page over the limit first reclaims from the group (direct
//! reclaim), retrying up to `MAX_RECLAIM_RETRIES` rounds without progress,
//! and then fails: the memcg OOM. Readahead pages are charged like any
//! other page, so useless prefetches cost memory pressure, as in Linux.
//!
//! Simplifications: one group; page tables and kernel memory are not
//! charged (Linux charges page tables as kernel memory); no `memory.high`.

use super::page::{flags, Pfn};
use super::state::MmState;
use super::vmscan::try_to_free_mem_cgroup_pages;

/// Linux `MAX_RECLAIM_RETRIES`.
pub const MAX_RECLAIM_RETRIES: u32 = 16;
/// Linux `SWAP_CLUSTER_MAX`: pages reclaimed per attempt.
pub const SWAP_CLUSTER_MAX: usize = 32;

/// Linux `struct mem_cgroup` (the page counter part).
#[derive(Debug, Clone, Copy)]
pub struct MemCgroup {
    /// `memory.max` in pages (`u64::MAX`: no limit).
    pub max_pages: u64,
    /// Pages charged now.
    pub usage_pages: u64,
    /// Highest `usage_pages` seen.
    pub peak_pages: u64,
}

impl MemCgroup {
    pub const fn unlimited() -> MemCgroup {
        MemCgroup {
            max_pages: u64::MAX,
            usage_pages: 0,
            peak_pages: 0,
        }
    }
}

/// The charge could not be satisfied even after reclaim (memcg OOM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeFailed;

/// Linux `mem_cgroup_charge` for one page: reclaim first if the group is
/// at its limit. `pfn` is marked as charged.
pub fn mem_cgroup_charge(st: &mut MmState, pfn: Pfn) -> Result<(), ChargeFailed> {
    try_charge(st)?;
    st.mem_map.get_mut(pfn).set(flags::CHARGED);
    Ok(())
}

/// Pages charged to the group: anonymous pages plus the frames of the
/// zswap pool (Linux charges zswap's compressed memory to the cgroup too,
/// so a prefetch that is decompressed and later recompressed costs twice).
pub fn memcg_usage(st: &MmState) -> u64 {
    let zswap = st.swap.as_ref().map_or(0, |s| s.zswap.pool_pages());
    st.memcg.usage_pages + zswap
}

/// Linux `try_charge_memcg`: make room for one more page. Progress is
/// judged by the usage going down (a page moved into zswap frees less
/// than a page), not by pages freed.
pub fn try_charge(st: &mut MmState) -> Result<(), ChargeFailed> {
    let mut retries = MAX_RECLAIM_RETRIES;
    while memcg_usage(st) >= st.memcg.max_pages {
        let before = memcg_usage(st);
        try_to_free_mem_cgroup_pages(st, SWAP_CLUSTER_MAX);
        if memcg_usage(st) < before {
            continue;
        }
        retries -= 1;
        if retries == 0 {
            return Err(ChargeFailed);
        }
    }
    st.memcg.usage_pages += 1;
    st.memcg.peak_pages = st.memcg.peak_pages.max(memcg_usage(st));
    Ok(())
}

/// Linux `mem_cgroup_uncharge` for one page, if it was charged.
pub fn mem_cgroup_uncharge(st: &mut MmState, pfn: Pfn) {
    if st.mem_map.get_mut(pfn).test_and_clear(flags::CHARGED) {
        st.memcg.usage_pages -= 1;
    }
}
