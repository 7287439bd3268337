//! Reclaim of anonymous pages to swap (Linux mm/vmscan.c:
//! `try_to_free_mem_cgroup_pages` → `shrink_lruvec` →
//! `shrink_active_list` / `shrink_inactive_list` → `shrink_folio_list`).
//!
//! Aging follows Linux's two-list LRU with a second chance from the PTE
//! accessed bit (`folio_check_references`). A page on its way out gets a
//! swap slot and a swap-cache entry (`folio_alloc_swap`), is unmapped
//! (`try_to_unmap`: the PTE becomes a swap entry and its dirty bit moves to
//! the page), is written if dirty (`pageout`), and is freed.
//!
//! When does a page skip the write? Only when it is *clean* with a valid
//! swap copy: a page swapped in that kept its slot (see
//! `should_try_to_free_swap` in memory.rs) and was not written since (the
//! PTE dirty bit, moved to the page at unmap, says so), or a readahead
//! page never used. A page whose slot was freed at swap-in is dirty and is
//! always written again.
//!
//! Simplification: Linux lets writeback finish in the background and frees
//! the page in a later pass (`folio_rotate_reclaimable`); we submit the
//! whole batch's writes at once (many in flight) and wait for them before
//! returning, like memcg reclaim throttling on writeback.

use alloc::vec::Vec;

use super::memcontrol::{mem_cgroup_uncharge, SWAP_CLUSTER_MAX};
use super::page::{flags, pfn_to_pa, Pfn};
use super::page_alloc::free_page;
use super::page_io::{plug, poll_completions, swap_writeout, wait_on_page_writeback, Writeout};
use super::pgtable::Pte;
use super::state::MmState;
use super::swap::{swp_entry_to_pte, SwapEntry};
use super::vmstat::{count_vm_event, count_vm_events, VmEvent};
use super::workingset::{workingset_age_nonresident, workingset_eviction};
use super::zswap::zswap_shrinker_scan;
use crate::arch::paging::{_PAGE_ACCESSED, _PAGE_DIRTY};

/// Linux `DEF_PRIORITY`: the first pass scans `lru_size >> 12`.
const DEF_PRIORITY: u32 = 12;

/// Linux `try_to_free_mem_cgroup_pages`: reclaims up to `nr_to_reclaim`
/// pages from the group, raising the scan pressure each round.
pub fn try_to_free_mem_cgroup_pages(st: &mut MmState, nr_to_reclaim: usize) -> usize {
    poll_completions(st);
    let mut reclaimed = 0;
    for priority in (0..=DEF_PRIORITY).rev() {
        reclaimed += shrink_lruvec(st, priority, nr_to_reclaim - reclaimed);
        shrink_slab(st, priority);
        if reclaimed >= nr_to_reclaim {
            break;
        }
    }
    reclaimed
}

/// Linux `shrink_all_memory` (used by hibernation; here by tests and
/// experiments): reclaims until a whole round frees nothing. Referenced
/// pages need two rounds (their first one only clears the accessed bit).
pub fn shrink_all_memory(st: &mut MmState) -> usize {
    let mut total = 0;
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let got = try_to_free_mem_cgroup_pages(st, st.lru.len().max(1));
        total += got;
        idle_rounds = if got == 0 { idle_rounds + 1 } else { 0 };
    }
    total
}

/// Linux `shrink_slab`, of which we have one shrinker: zswap's (when
/// `zswap.shrinker=1`). Like `do_shrink_slab`, it scans
/// `freeable * 4 / DEFAULT_SEEKS >> priority` objects, where freeable is
/// zswap's count (`zswap_shrinker_count`: stored pages scaled by the
/// compression ratio, so well-compressed pools are written back less).
/// Simplification: no protection for recently swapped-in pages
/// (`nr_disk_swapins`).
fn shrink_slab(st: &mut MmState, priority: u32) {
    let Some(swap) = st.swap.as_ref().filter(|s| s.zswap.shrinker_enabled) else {
        return;
    };
    // Linux scales the stored pages by the compression ratio: that is the
    // pool's size in pages.
    let freeable = swap.zswap.pool_bytes() / super::PAGE_SIZE;
    let nr = ((freeable * 2) >> priority) as usize;
    if nr > 0 {
        zswap_shrinker_scan(st, nr);
    }
}

/// Linux `inactive_is_low` for anon: keep the inactive list at least
/// `1/ratio` of the active one, ratio = sqrt(10 * GiB) (1 below 1 GiB).
fn inactive_is_low(st: &MmState) -> bool {
    let inactive = st.lru.inactive.len();
    let active = st.lru.active.len();
    let gb = (inactive + active) >> (30 - 12);
    let ratio = if gb > 0 { int_sqrt(10 * gb) } else { 1 };
    inactive * ratio < active
}

fn int_sqrt(x: usize) -> usize {
    let mut r = 0;
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

/// Linux `shrink_lruvec` (anon lists only): returns pages reclaimed.
fn shrink_lruvec(st: &mut MmState, priority: u32, nr_to_reclaim: usize) -> usize {
    let mut nr_scan = st.lru.len() >> priority;
    let mut reclaimed = 0;
    while nr_scan > 0 && reclaimed < nr_to_reclaim {
        let batch = nr_scan.min(SWAP_CLUSTER_MAX);
        nr_scan -= batch;
        if inactive_is_low(st) {
            shrink_active_list(st, batch);
        }
        reclaimed += shrink_inactive_list(st, batch);
    }
    reclaimed
}

/// Linux `shrink_active_list`: moves `nr` pages from the active tail to
/// the inactive list, clearing their PTE accessed bits. Anonymous pages
/// are deactivated whether referenced or not (only executable file pages
/// get to stay).
fn shrink_active_list(st: &mut MmState, nr: usize) {
    for _ in 0..nr {
        let Some(pfn) = st.lru.active.pop_tail(&mut st.mem_map) else {
            break;
        };
        // Linux: "we are de-activating"; it was in the workingset.
        let page = st.mem_map.get_mut(pfn);
        page.clear(flags::LRU | flags::ACTIVE);
        page.set(flags::WORKINGSET);
        folio_referenced(st, pfn);
        let super::state::MmState { lru, mem_map, .. } = st;
        lru.add_inactive(mem_map, pfn);
        count_vm_event(VmEvent::PgDeactivate);
    }
}

/// Isolates up to `nr` pages from the inactive tail and tries to free them.
fn shrink_inactive_list(st: &mut MmState, nr: usize) -> usize {
    let mut batch = Vec::with_capacity(nr);
    for _ in 0..nr {
        let Some(pfn) = st.lru.inactive.pop_tail(&mut st.mem_map) else {
            break;
        };
        st.mem_map.get_mut(pfn).clear(flags::LRU);
        batch.push(pfn);
    }
    count_vm_events(VmEvent::PgScan, batch.len() as u64);
    shrink_folio_list(st, &batch)
}

/// Linux `folio_referenced` (one mapping): test-and-clear the accessed bit
/// of the PTE that maps `pfn`. Returns how many PTEs were young (0 or 1).
fn folio_referenced(st: &mut MmState, pfn: Pfn) -> usize {
    let Some(rmap) = st.mem_map.get(pfn).mapping else {
        return 0;
    };
    let pt = st.mm_mut(rmap.mm as usize).pgtable_mut();
    let Some(pte) = pt.get_pte(rmap.va).filter(|p| p.is_present()) else {
        return 0;
    };
    if !pte.is_young() {
        return 0;
    }
    pt.set_pte(rmap.va, Pte::from_raw(pte.raw() & !_PAGE_ACCESSED))
        .expect("table exists");
    // Used since it was mapped: not a wasted map-around.
    st.mem_map.get_mut(pfn).clear(flags::MAPAROUND);
    1
}

/// What reclaim decides for a page (Linux `enum folio_references`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FolioReferences {
    Activate,
    Keep,
    Reclaim,
}

/// Linux `folio_check_references`: mapped pages start out referenced by the
/// fault that created them, so a page must be seen referenced twice (or
/// by two PTEs) to be activated; once earns it another trip.
fn folio_check_references(st: &mut MmState, pfn: Pfn) -> FolioReferences {
    let referenced_ptes = folio_referenced(st, pfn);
    let page = st.mem_map.get_mut(pfn);
    let referenced_folio = page.test_and_clear(flags::REFERENCED);
    if referenced_ptes > 0 {
        page.set(flags::REFERENCED);
        if referenced_folio || referenced_ptes > 1 {
            return FolioReferences::Activate;
        }
        return FolioReferences::Keep;
    }
    FolioReferences::Reclaim
}

/// Linux `shrink_folio_list` (anonymous branch): returns pages freed.
fn shrink_folio_list(st: &mut MmState, batch: &[Pfn]) -> usize {
    let mut reclaimed = 0;
    let mut to_write = Vec::new();
    for &pfn in batch {
        let page = *st.mem_map.get(pfn);
        if page.test(flags::LOCKED) || page.test(flags::WRITEBACK) {
            putback(st, pfn, false);
            continue;
        }
        match folio_check_references(st, pfn) {
            FolioReferences::Activate => {
                putback(st, pfn, true);
                count_vm_event(VmEvent::PgActivate);
                continue;
            }
            FolioReferences::Keep => {
                putback(st, pfn, false);
                continue;
            }
            FolioReferences::Reclaim => {}
        }
        if !page.test(flags::SWAPCACHE) && !add_to_swap(st, pfn) {
            // Swap is full (or off): keep the page, as Linux activates it.
            putback(st, pfn, true);
            continue;
        }
        if st.mem_map.get(pfn).mapping.is_some() {
            try_to_unmap(st, pfn);
        }
        if st.mem_map.get(pfn).test(flags::DIRTY) {
            to_write.push(pfn);
            continue;
        }
        free_reclaimed_page(st, pfn);
        reclaimed += 1;
    }
    reclaimed + pageout_batch(st, &to_write)
}

/// Returns an isolated page to the LRU (inactive head, or active). An
/// activation ages the workingset clock (Linux `move_folios_to_lru`).
fn putback(st: &mut MmState, pfn: Pfn, activate: bool) {
    let super::state::MmState { lru, mem_map, .. } = st;
    if activate {
        lru.add_active(mem_map, pfn);
        workingset_age_nonresident(st, 1);
    } else {
        lru.add_inactive(mem_map, pfn);
    }
}

/// Linux `folio_alloc_swap` + `folio_mark_dirty`: give the page a slot and
/// a swap-cache entry. Returns false when no slot is free.
fn add_to_swap(st: &mut MmState, pfn: Pfn) -> bool {
    let Some(swap) = st.swap.as_mut() else {
        return false;
    };
    let Some(entry) = swap.folio_alloc_swap(pfn) else {
        return false;
    };
    let page = st.mem_map.get_mut(pfn);
    page.set(flags::SWAPCACHE | flags::DIRTY);
    page.swap_offset = entry.offset;
    true
}

/// Linux `try_to_unmap_one`: the PTE becomes an (exclusive) swap entry,
/// its dirty bit moves to the page, the swap count goes up by one.
fn try_to_unmap(st: &mut MmState, pfn: Pfn) {
    let page = st.mem_map.get_mut(pfn);
    let rmap = page.mapping.take().expect("mapped");
    let entry = SwapEntry::new(page.swap_offset);
    let mm = st.mm_mut(rmap.mm as usize);
    let old = mm
        .pgtable_mut()
        .clear_pte(rmap.va)
        .expect("mapped page has a PTE");
    debug_assert!(old.is_present() && old.pa() == pfn_to_pa(pfn));
    // No fork: an anonymous page is always exclusive to its one mapping.
    mm.pgtable_mut()
        .set_pte(rmap.va, swp_entry_to_pte(entry, true))
        .expect("table exists");
    mm.rss_anon -= 1;
    if old.raw() & _PAGE_DIRTY != 0 {
        st.mem_map.get_mut(pfn).set(flags::DIRTY);
    }
    let never_used = !old.is_young() && st.mem_map.get_mut(pfn).test_and_clear(flags::MAPAROUND);
    if never_used {
        count_vm_event(VmEvent::SwapMapAroundWasted);
    }
    st.swap.as_mut().expect("swap").swap_duplicate(entry);
}

/// Linux `pageout` for a batch: zero pages, zswap and zram are done on the
/// spot; disk writes all go out together, then we wait for them. Pages
/// whose write failed are kept (redirtied, activated).
fn pageout_batch(st: &mut MmState, pages: &[Pfn]) -> usize {
    if pages.is_empty() {
        return 0;
    }
    plug(st, true);
    let mut freed = 0;
    let mut submitted = Vec::new();
    for &pfn in pages {
        match swap_writeout(st, pfn) {
            Writeout::Done => {
                free_reclaimed_page(st, pfn);
                freed += 1;
            }
            Writeout::Submitted => submitted.push(pfn),
            Writeout::Failed => putback(st, pfn, true),
        }
    }
    plug(st, false);
    for &pfn in &submitted {
        wait_on_page_writeback(st, pfn);
        if st.mem_map.get_mut(pfn).test_and_clear(flags::ERROR) {
            putback(st, pfn, true);
            continue;
        }
        free_reclaimed_page(st, pfn);
        freed += 1;
    }
    freed
}

/// Linux `__remove_mapping` + free: the page leaves the swap cache (its
/// slot lives on if PTEs still refer to it, with a workingset shadow in
/// place of the page) and returns to the allocator.
fn free_reclaimed_page(st: &mut MmState, pfn: Pfn) {
    if st.mem_map.get(pfn).test(flags::READAHEAD) {
        count_vm_event(VmEvent::SwapRaWasted);
    }
    let shadow = workingset_eviction(st, pfn);
    swap_cache_del_folio(st, pfn, shadow);
    release_page(st, pfn);
    count_vm_event(VmEvent::PgSteal);
}

/// Linux `delete_from_swap_cache` (no shadow: not an eviction).
pub fn delete_from_swap_cache(st: &mut MmState, pfn: Pfn) {
    swap_cache_del_folio(st, pfn, 0);
}

/// Linux `__swap_cache_del_folio`: the slot keeps `shadow` (0: none).
fn swap_cache_del_folio(st: &mut MmState, pfn: Pfn, shadow: u32) {
    let page = st.mem_map.get_mut(pfn);
    if !page.test_and_clear(flags::SWAPCACHE) {
        return;
    }
    let entry = SwapEntry::new(page.swap_offset);
    st.swap.as_mut().expect("swap").cache_remove(entry, shadow);
}

/// Frees an anonymous page that is off the LRU, unmapped and out of the
/// swap cache: uncharge, reset the descriptor, return the frame.
pub fn release_page(st: &mut MmState, pfn: Pfn) {
    let super::state::MmState { lru, mem_map, .. } = st;
    lru.del(mem_map, pfn);
    debug_assert!(!st.mem_map.get(pfn).test(flags::SWAPCACHE));
    mem_cgroup_uncharge(st, pfn);
    st.mem_map.reset(pfn);
    free_page(pfn_to_pa(pfn));
}
