//! `madvise` on private anonymous memory (Linux mm/madvise.c).
//!
//! - `MADV_DONTNEED`: the range's pages and swap entries are dropped
//!   (`zap_page_range_single`); the next access reads zeros.
//! - `MADV_PAGEOUT`: the range's resident pages are reclaimed now, whether
//!   referenced or not (`madvise_pageout` → `reclaim_pages`), as Linux's
//!   mm selftests use it to force swap-out. As in Linux, a page mapped
//!   more than once is left alone (`folio_mapcount != 1` for a small
//!   folio): a process may not push out memory another also maps.

use alloc::vec::Vec;

use super::mm_types::zap_page_range;
use super::page::{flags, pa_to_pfn};
use super::pgtable::walk_leaves;
use super::state::MmState;
use super::vmscan::reclaim_pages;

/// Linux `madvise_dontneed_single_vma`.
pub fn madvise_dontneed(st: &mut MmState, mm: usize, start: u64, end: u64) {
    zap_page_range(st, mm, start, end);
}

/// Linux `madvise_pageout` → `madvise_cold_or_pageout_pte_range` with
/// `pageout = true`: isolate every resident, exclusively mapped page of
/// the range and reclaim them. Returns the pages freed.
pub fn madvise_pageout(st: &mut MmState, mm: usize, start: u64, end: u64) -> usize {
    let pgd = st.mm(mm).pgtable().pgd_pa();
    // At most the range's resident pages, which the memory limit bounds.
    let mut isolated = Vec::new();
    let walk = walk_leaves(pgd, start, end, &mut |_, pte| {
        let pfn = pa_to_pfn(pte.pa());
        let skip = !pte.is_present()
            || pfn == st.zero_pfn
            || st.mem_map.get(pfn).mapcount != 1
            || !st.mem_map.get(pfn).test(flags::LRU);
        if !skip {
            let super::state::MmState { lru, mem_map, .. } = &mut *st;
            lru.del(mem_map, pfn);
            isolated.push(pfn);
        }
        Ok::<_, core::convert::Infallible>(None)
    });
    let Ok(()) = walk;
    reclaim_pages(st, &isolated)
}
