//! `madvise` on private anonymous memory (Linux mm/madvise.c).
//!
//! - `MADV_DONTNEED`: the range's pages and swap entries are dropped
//!   (`zap_page_range_single`); the next access reads zeros.
//! - `MADV_PAGEOUT`: the range's resident pages are reclaimed now, whether
//!   referenced or not (`madvise_pageout` → `reclaim_pages`), as Linux's
//!   mm selftests use it to force swap-out. As in Linux, a page mapped by
//!   more than one process is left alone (`folio_maybe_mapped_shared`):
//!   one process may not push out another's memory.

use alloc::vec::Vec;

use super::mm_types::zap_page_range;
use super::page::{flags, pa_to_pfn};
use super::state::MmState;
use super::vmscan::reclaim_pages;

/// Linux `MADV_DONTNEED`.
pub const MADV_DONTNEED: u64 = 4;
/// Linux `MADV_PAGEOUT`.
pub const MADV_PAGEOUT: u64 = 21;

/// Linux `madvise_dontneed_single_vma`.
pub fn madvise_dontneed(st: &mut MmState, mm: usize, start: u64, end: u64) {
    zap_page_range(st, mm, start, end);
}

/// Linux `madvise_pageout` → `madvise_cold_or_pageout_pte_range` with
/// `pageout = true`: isolate every resident, exclusively mapped page of
/// the range and reclaim them. Returns the pages freed.
pub fn madvise_pageout(st: &mut MmState, mm: usize, start: u64, end: u64) -> usize {
    let leaves = st.mm(mm).pgtable().leaves_in(start, end);
    let mut isolated = Vec::new();
    for (_, pte) in leaves.into_iter().filter(|(_, p)| p.is_present()) {
        let pfn = pa_to_pfn(pte.pa());
        let page = st.mem_map.get(pfn);
        if pfn == st.zero_pfn || page.mapcount != 1 || !page.test(flags::LRU) {
            continue;
        }
        let super::state::MmState { lru, mem_map, .. } = st;
        lru.del(mem_map, pfn);
        isolated.push(pfn);
    }
    reclaim_pages(st, &isolated)
}
