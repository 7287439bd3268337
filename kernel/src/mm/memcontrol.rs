//! The memory cgroup that every workload page is charged to (Linux
//! mm/memcontrol.c: `mem_cgroup_charge`, `try_charge_memcg`,
//! `mem_cgroup_swapin_charge_folio`, `memory.max`).
//!
//! Charging a page over the limit first reclaims from the group (direct
//! reclaim), retrying while reclaim reclaims pages and up to
//! `MAX_RECLAIM_RETRIES` rounds that reclaim none, and then fails: the
//! memcg OOM. Readahead pages are charged like any
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
    /// `memory.zswap.max` in pages (`u64::MAX`: no limit): compared with
    /// the cgroup's compressed bytes in `obj_cgroup_may_zswap`.
    pub zswap_max_pages: u64,
    /// `memory.zswap.writeback`: may pages of this cgroup go to the swap
    /// device (zswap writeback, and pages zswap did not take)?
    pub zswap_writeback: bool,
}

impl MemCgroup {
    pub const fn unlimited() -> MemCgroup {
        MemCgroup {
            max_pages: u64::MAX,
            usage_pages: 0,
            peak_pages: 0,
            zswap_max_pages: u64::MAX,
            zswap_writeback: true,
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

/// [`mem_cgroup_charge`] with `__GFP_NORETRY` (see [`try_charge_noretry`]).
pub fn mem_cgroup_charge_noretry(st: &mut MmState, pfn: Pfn) -> Result<(), ChargeFailed> {
    try_charge_noretry(st)?;
    st.mem_map.get_mut(pfn).set(flags::CHARGED);
    Ok(())
}

/// Pages charged to the group: anonymous pages plus zswap's compressed
/// bytes, rounded up to pages. Linux charges each entry's compressed
/// length (`obj_cgroup_charge_zswap(objcg, entry->length)`), so a
/// prefetch that is decompressed and later recompressed costs twice, and
/// a page stored as-is costs a whole page. The pool's own fragmentation
/// (our single-page size classes) is not charged, as in Linux.
pub fn memcg_usage(st: &MmState) -> u64 {
    let zswap = st
        .swap
        .as_ref()
        .map_or(0, |s| s.zswap.pool_bytes().div_ceil(super::PAGE_SIZE));
    st.memcg.usage_pages + zswap
}

/// Linux `try_charge_memcg`: make room for one more page. As in Linux, a
/// round of reclaim that reclaimed anything is progress and retries at
/// once, even if the usage did not go down (a page stored as-is in zswap
/// frees nothing net); only rounds that reclaim nothing count down
/// `MAX_RECLAIM_RETRIES`. This ends: every reclaimed page leaves the LRU,
/// which is finite.
pub fn try_charge(st: &mut MmState) -> Result<(), ChargeFailed> {
    try_charge_gfp(st, false)
}

/// [`try_charge`] for an allocation that may fail rather than work hard
/// (Linux `__GFP_NORETRY`, which readahead's `readahead_gfp_mask` sets):
/// one round of reclaim, one more after the stock drain, then give up.
pub fn try_charge_noretry(st: &mut MmState) -> Result<(), ChargeFailed> {
    try_charge_gfp(st, true)
}

fn try_charge_gfp(st: &mut MmState, noretry: bool) -> Result<(), ChargeFailed> {
    let mut retries = MAX_RECLAIM_RETRIES;
    let mut drained = false;
    while memcg_usage(st) >= st.memcg.max_pages {
        let reclaimed = try_to_free_mem_cgroup_pages(st, SWAP_CLUSTER_MAX);
        if noretry {
            // Linux: `if (!drained) { drain_all_stock(); goto retry; }`
            // then `if (gfp_mask & __GFP_NORETRY) goto nomem;` (we have no
            // per-CPU stock: the drain is just the second round).
            if drained {
                if memcg_usage(st) >= st.memcg.max_pages {
                    return Err(ChargeFailed);
                }
                break;
            }
            drained = true;
            continue;
        }
        // Linux: `if (mem_cgroup_margin(mem_over_limit) >= nr_pages) goto retry;`
        // and `if (nr_reclaimed && nr_pages <= (1 << PAGE_ALLOC_COSTLY_ORDER)) goto retry;`
        if reclaimed > 0 {
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
