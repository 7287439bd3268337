//! Reclaim of anonymous pages to swap and of clean page-cache pages
//! (Linux mm/vmscan.c: `try_to_free_mem_cgroup_pages` → `shrink_lruvec` →
//! `shrink_active_list` / `shrink_inactive_list` → `shrink_folio_list`).
//!
//! File pages: a clean one is dropped without I/O; a dirty one is never
//! written by reclaim (Linux leaves that to the flushers since 4.x): it
//! is marked `PG_reclaim` and activated, and its write's completion moves
//! it to the inactive tail (see page_writeback.rs).
//!
//! Anon against file: `get_scan_count` splits each pass between the two
//! by `vm.swappiness` (0-200) and their recent reclaim costs, as Linux
//! does; a file page costs nothing to drop but a refault to read back.
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

use super::filemap::filemap_remove_folio;
use super::lru::lru_note_cost;
use super::memcontrol::{mem_cgroup_uncharge, SWAP_CLUSTER_MAX};
use super::page::{flags, pfn_to_pa, Pfn};
use super::page_alloc::free_page;
use super::page_io::{plug, poll_completions, swap_writeout, wait_on_page_writeback, Writeout};
use super::page_writeback::wakeup_flusher_threads;
use super::rmap::{folio_referenced, try_to_unmap};
use super::state::MmState;
use super::swap::SwapEntry;
use super::vmstat::{count_vm_event, count_vm_events, read, VmEvent};
use super::workingset::{workingset_age_nonresident, workingset_eviction};
use super::zswap::zswap_shrinker_scan;

/// Linux `DEF_PRIORITY`: the first pass scans `lru_size >> 12`.
const DEF_PRIORITY: u32 = 12;
/// Linux `MAX_SWAPPINESS`.
pub const MAX_SWAPPINESS: u64 = 200;

/// LRU list indices, as Linux `enum lru_list` orders them.
const LRU_INACTIVE_ANON: usize = 0;
const LRU_ACTIVE_ANON: usize = 1;
const LRU_INACTIVE_FILE: usize = 2;
const LRU_ACTIVE_FILE: usize = 3;

/// What one reclaim pass decided before scanning (Linux `struct
/// scan_control`, the fields `prepare_scan_control` sets).
#[derive(Debug, Clone, Copy, Default)]
struct ScanControl {
    priority: u32,
    anon_cost: u64,
    file_cost: u64,
    /// May the active (anon, file) lists be scanned (deactivated)?
    may_deactivate: [bool; 2],
    /// Enough inactive file pages that are not thrashing: reclaim only
    /// those first.
    cache_trim_mode: bool,
    /// An active list was left alone because `may_deactivate` said so.
    skipped_deactivate: bool,
}

/// Linux `try_to_free_mem_cgroup_pages`: reclaims up to `nr_to_reclaim`
/// pages from the group, raising the scan pressure each round.
/// Each pass aims at the whole `nr_to_reclaim` (Linux `shrink_lruvec`
/// counts its own `nr_reclaimed` against `sc->nr_to_reclaim`). If no pass
/// reclaimed anything and an active list was skipped, all passes run once
/// more with every active list aged (`force_deactivate`), as
/// `do_try_to_free_pages` retries before it lets the charge fail.
pub fn try_to_free_mem_cgroup_pages(st: &mut MmState, nr_to_reclaim: usize) -> usize {
    poll_completions(st);
    let mut reclaimed = 0;
    let mut force_deactivate = false;
    loop {
        let mut skipped_deactivate = false;
        for priority in (0..=DEF_PRIORITY).rev() {
            let mut sc = prepare_scan_control(st, priority, force_deactivate);
            reclaimed += shrink_lruvec(st, &mut sc, nr_to_reclaim);
            skipped_deactivate |= sc.skipped_deactivate;
            shrink_slab(st, priority);
            if reclaimed >= nr_to_reclaim {
                break;
            }
        }
        if reclaimed > 0 || !skipped_deactivate || force_deactivate {
            break;
        }
        force_deactivate = true;
    }
    // Linux `snapshot_refaults`: activations seen from here on are new.
    st.lru.refaults = [
        read(VmEvent::WorkingsetActivateAnon),
        read(VmEvent::WorkingsetActivateFile),
    ];
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

/// Linux `inactive_is_low`: keep each inactive list at least `1/ratio`
/// of its active list, ratio = sqrt(10 * GiB) (1 below 1 GiB).
fn inactive_is_low(st: &MmState, file: bool) -> bool {
    let lru = &st.lru;
    let (inactive, active) = if file {
        (lru.inactive_file.len(), lru.active_file.len())
    } else {
        (lru.inactive_anon.len(), lru.active_anon.len())
    };
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

/// Linux `prepare_scan_control` for memcg reclaim: snapshot the costs;
/// deactivate a type's active list when its refaults show a new
/// workingset forming or its inactive list is low; trim the page cache
/// alone while it has inactive pages that do not refault.
fn prepare_scan_control(st: &MmState, priority: u32, force_deactivate: bool) -> ScanControl {
    let activations = [
        read(VmEvent::WorkingsetActivateAnon),
        read(VmEvent::WorkingsetActivateFile),
    ];
    let may_deactivate = [false, true].map(|file| {
        force_deactivate
            || activations[file as usize] != st.lru.refaults[file as usize]
            || inactive_is_low(st, file)
    });
    let inactive_file = st.lru.inactive_file.len() as u64;
    ScanControl {
        priority,
        anon_cost: st.lru.anon_cost,
        file_cost: st.lru.file_cost,
        may_deactivate,
        cache_trim_mode: inactive_file >> priority > 0 && !may_deactivate[1],
        skipped_deactivate: false,
    }
}

/// How to split the scan between anon and file (Linux `enum scan_balance`;
/// its `SCAN_ANON` is for global reclaim with almost no file pages and
/// for proactive anon-only reclaim, neither of which we have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanBalance {
    Equal,
    Fract { anon: u64, file: u64 },
    File,
}

/// Linux `calculate_pressure_balance`: each type is scanned in inverse
/// proportion to its recent cost, weighted by swappiness (at 100 anon
/// and file I/O cost the same); no type gets less than a third of the
/// pressure before swappiness.
fn calculate_pressure_balance(sc: &ScanControl, swappiness: u64) -> ScanBalance {
    let total_cost = sc.anon_cost + sc.file_cost;
    let anon_cost = total_cost + sc.anon_cost;
    let file_cost = total_cost + sc.file_cost;
    let total_cost = anon_cost + file_cost;
    let ap = swappiness * (total_cost + 1) / (anon_cost + 1);
    let fp = (MAX_SWAPPINESS - swappiness) * (total_cost + 1) / (file_cost + 1);
    ScanBalance::Fract { anon: ap, file: fp }
}

/// Linux `get_scan_count`: how many pages of each LRU list to scan.
fn get_scan_count(st: &MmState, sc: &ScanControl) -> [usize; 4] {
    let swappiness = st.swappiness;
    // Linux `can_reclaim_anon_pages`: only with free swap slots.
    let can_swap = st
        .swap
        .as_ref()
        .is_some_and(|s| s.nr_used() < s.total_slots());
    let balance = if !can_swap || swappiness == 0 {
        // No swap, or memcg swappiness 0: file pages only.
        ScanBalance::File
    } else if sc.priority == 0 {
        // Close to OOM: scan both types by size.
        ScanBalance::Equal
    } else if sc.cache_trim_mode {
        ScanBalance::File
    } else {
        calculate_pressure_balance(sc, swappiness)
    };
    let lru = &st.lru;
    let sizes = [
        lru.inactive_anon.len(),
        lru.active_anon.len(),
        lru.inactive_file.len(),
        lru.active_file.len(),
    ];
    core::array::from_fn(|i| {
        let file = i >= LRU_INACTIVE_FILE;
        let scan = (sizes[i] >> sc.priority) as u64;
        (match balance {
            ScanBalance::Equal => scan,
            ScanBalance::Fract { anon, file: f } => {
                scan * if file { f } else { anon } / (anon + f).max(1)
            }
            ScanBalance::File => scan * u64::from(file),
        }) as usize
    })
}

/// Linux `shrink_lruvec`: scans the four lists in batches of
/// `SWAP_CLUSTER_MAX` as `get_scan_count` says; once enough is reclaimed,
/// stops the smaller type and scales the other's remaining scan to what
/// it has done (so the split stays proportional). Returns pages reclaimed.
fn shrink_lruvec(st: &mut MmState, sc: &mut ScanControl, nr_to_reclaim: usize) -> usize {
    let mut nr = get_scan_count(st, sc);
    let targets = nr;
    let mut reclaimed = 0;
    while nr[LRU_INACTIVE_ANON] > 0 || nr[LRU_ACTIVE_FILE] > 0 || nr[LRU_INACTIVE_FILE] > 0 {
        for (lru, left) in nr.iter_mut().enumerate() {
            if *left > 0 {
                let batch = (*left).min(SWAP_CLUSTER_MAX);
                *left -= batch;
                reclaimed += shrink_list(st, sc, lru, batch);
            }
        }
        if reclaimed < nr_to_reclaim {
            continue;
        }
        let nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE];
        let nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON];
        if nr_file == 0 || nr_anon == 0 {
            break;
        }
        // Stop the type with less left; the other finishes the share of
        // its target that the stopped one did not do.
        let (stop, other, percentage) = if nr_file > nr_anon {
            let target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1;
            (LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, nr_anon * 100 / target)
        } else {
            let target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1;
            (LRU_INACTIVE_FILE, LRU_INACTIVE_ANON, nr_file * 100 / target)
        };
        nr[stop] = 0;
        nr[stop + 1] = 0;
        for lru in [other, other + 1] {
            let scanned = targets[lru] - nr[lru];
            nr[lru] = (targets[lru] * (100 - percentage) / 100).saturating_sub(scanned);
        }
    }
    // Rebalance the anon lists even if no anon page was to be evicted.
    if st.swap.is_some() && inactive_is_low(st, false) {
        shrink_active_list(st, SWAP_CLUSTER_MAX, false);
    }
    reclaimed
}

/// Linux `shrink_list`: an active list is only aged (deactivated) when
/// `prepare_scan_control` allows it; an inactive one is reclaimed from.
fn shrink_list(st: &mut MmState, sc: &mut ScanControl, lru: usize, nr: usize) -> usize {
    let file = lru >= LRU_INACTIVE_FILE;
    if lru == LRU_ACTIVE_ANON || lru == LRU_ACTIVE_FILE {
        if sc.may_deactivate[file as usize] {
            shrink_active_list(st, nr, file);
        } else {
            sc.skipped_deactivate = true;
        }
        return 0;
    }
    shrink_inactive_list(st, nr, file)
}

/// Linux `shrink_active_list`: moves `nr` pages from the active tail to
/// the inactive list, clearing their PTE accessed bits. Pages are
/// deactivated whether referenced or not (only referenced executable file
/// pages would stay, and no file is mapped here).
fn shrink_active_list(st: &mut MmState, nr: usize, file: bool) {
    // LAB 3 BEGIN shrink_active_list
    // LAB 3 STANDIN: for _ in 0..nr {
    // LAB 3 STANDIN:     let Some(pfn) = st.lru.lists_mut(file).1.pop_tail(&mut st.mem_map) else {
    // LAB 3 STANDIN:         break;
    // LAB 3 STANDIN:     };
    // LAB 3 STANDIN:     st.mem_map.get_mut(pfn).clear(flags::LRU | flags::ACTIVE);
    // LAB 3 STANDIN:     let super::state::MmState { lru, mem_map, .. } = st;
    // LAB 3 STANDIN:     lru.add_inactive(mem_map, pfn);
    // LAB 3 STANDIN: }
    for _ in 0..nr {
        let Some(pfn) = st.lru.lists_mut(file).1.pop_tail(&mut st.mem_map) else {
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
    // LAB 3 END shrink_active_list
}

/// Isolates up to `nr` pages from an inactive tail and tries to free
/// them; notes the cost (`lru_note_cost`: pages written, pages put back).
fn shrink_inactive_list(st: &mut MmState, nr: usize, file: bool) -> usize {
    // LAB 3 BEGIN shrink_inactive_list
    // LAB 3 STANDIN: let mut batch = Vec::with_capacity(nr);
    // LAB 3 STANDIN: for _ in 0..nr {
    // LAB 3 STANDIN:     let Some(pfn) = st.lru.lists_mut(file).0.pop_tail(&mut st.mem_map) else {
    // LAB 3 STANDIN:         break;
    // LAB 3 STANDIN:     };
    // LAB 3 STANDIN:     st.mem_map.get_mut(pfn).clear(flags::LRU);
    // LAB 3 STANDIN:     batch.push(pfn);
    // LAB 3 STANDIN: }
    // LAB 3 STANDIN: shrink_folio_list(st, &batch, false).reclaimed
    let mut batch = Vec::with_capacity(nr);
    for _ in 0..nr {
        let Some(pfn) = st.lru.lists_mut(file).0.pop_tail(&mut st.mem_map) else {
            break;
        };
        st.mem_map.get_mut(pfn).clear(flags::LRU);
        batch.push(pfn);
    }
    let scanned = batch.len() as u64;
    count_vm_events(VmEvent::PgScan, scanned);
    let by_type = if file {
        VmEvent::PgScanFile
    } else {
        VmEvent::PgScanAnon
    };
    count_vm_events(by_type, scanned);
    let stat = shrink_folio_list(st, &batch, false);
    lru_note_cost(st, file, stat.nr_pageout, scanned - stat.reclaimed as u64);
    // Every page taken was dirty and not queued for writing: the flushers
    // are behind; wake them (Linux does not wait for them here under
    // cgroup v2, whose `writeback_throttling_sane` holds).
    if scanned > 0 && stat.nr_unqueued_dirty == scanned {
        wakeup_flusher_threads(st);
    }
    stat.reclaimed
    // LAB 3 END shrink_inactive_list
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
    // LAB 3 BEGIN folio_check_references
    // LAB 3 STANDIN: // Before lab 3 reclaim ignores references: first in, first out.
    // LAB 3 STANDIN: let _ = (st, pfn);
    // LAB 3 STANDIN: FolioReferences::Reclaim
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
    // LAB 3 END folio_check_references
}

/// What [`shrink_folio_list`] did (Linux `struct reclaim_stat`, the
/// fields we use).
#[derive(Debug, Clone, Copy, Default)]
struct ReclaimStat {
    /// Pages freed.
    reclaimed: usize,
    /// Pages written out (`nr_pageout`).
    nr_pageout: u64,
    /// File pages found dirty and not under writeback.
    nr_unqueued_dirty: u64,
}

/// Linux `shrink_folio_list`. A clean file page is dropped on the spot
/// (its data is on its disk); a dirty one, or one being written, is
/// marked `PG_reclaim` and activated, to be freed once written (reclaim
/// never writes file pages: see page_writeback.rs); an anonymous page
/// goes to swap.
/// `ignore_references`: reclaim even referenced pages (`MADV_PAGEOUT`).
fn shrink_folio_list(st: &mut MmState, batch: &[Pfn], ignore_references: bool) -> ReclaimStat {
    let mut stat = ReclaimStat::default();
    let mut to_write = Vec::new();
    for &pfn in batch {
        let page = *st.mem_map.get(pfn);
        let is_file = page.test(flags::FILE);
        if is_file && page.test(flags::DIRTY) && !page.test(flags::WRITEBACK) {
            stat.nr_unqueued_dirty += 1;
        }
        if page.test(flags::LOCKED) {
            putback(st, pfn, false);
            continue;
        }
        if page.test(flags::WRITEBACK) {
            if is_file {
                // Linux's "case 2" (memcg reclaim under cgroup v2): mark
                // it and move on; its completion rotates it.
                st.mem_map.get_mut(pfn).set(flags::RECLAIM);
                putback(st, pfn, true);
                count_vm_event(VmEvent::PgActivate);
            } else {
                putback(st, pfn, false);
            }
            continue;
        }
        // `vm.reclaim_fifo` (lab 3's reference policy, not in Linux): no
        // page earns another trip or an activation by being referenced.
        let references = if ignore_references || st.policy.reclaim_fifo {
            FolioReferences::Reclaim
        } else {
            folio_check_references(st, pfn)
        };
        match references {
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
        if is_file {
            debug_assert!(page.mapcount == 0, "file pages are never mapped");
            if page.test(flags::DIRTY) {
                activate_for_immediate_reclaim(st, pfn);
                continue;
            }
            free_reclaimed_page(st, pfn);
            stat.reclaimed += 1;
            continue;
        }
        if !page.test(flags::SWAPCACHE) && !add_to_swap(st, pfn) {
            // Swap is full (or off): keep the page, as Linux activates it.
            putback(st, pfn, true);
            continue;
        }
        if st.mem_map.get(pfn).mapcount > 0 {
            try_to_unmap(st, pfn);
        }
        if st.mem_map.get(pfn).test(flags::DIRTY) {
            to_write.push(pfn);
            continue;
        }
        free_reclaimed_page(st, pfn);
        stat.reclaimed += 1;
    }
    let (freed, written) = pageout_batch(st, &to_write);
    stat.reclaimed += freed;
    stat.nr_pageout = written;
    stat
}

/// Linux `reclaim_pages` (for `MADV_PAGEOUT`): reclaim exactly these
/// pages, which the caller took off the LRU, whether referenced or not;
/// those that cannot go (swap full, a failed write) go back to the LRU.
/// Returns the pages freed.
pub fn reclaim_pages(st: &mut MmState, pages: &[Pfn]) -> usize {
    poll_completions(st);
    shrink_folio_list(st, pages, true).reclaimed
}

/// A file page reclaim cannot free before its write is done: "Immediately
/// reclaim when written back" (Linux `folio_set_reclaim`, counted in
/// `nr_vmscan_immediate_reclaim`, then `activate_locked`).
fn activate_for_immediate_reclaim(st: &mut MmState, pfn: Pfn) {
    st.mem_map.get_mut(pfn).set(flags::RECLAIM);
    count_vm_event(VmEvent::NrVmscanImmediate);
    putback(st, pfn, true);
    count_vm_event(VmEvent::PgActivate);
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
    // LAB 2 BEGIN add_to_swap
    // LAB 2 STANDIN: // No swap before lab 2: anonymous pages stay in memory.
    // LAB 2 STANDIN: let _ = (st, pfn);
    // LAB 2 STANDIN: false
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
    // LAB 2 END add_to_swap
}

/// Linux `pageout` for a batch: zero pages, zswap and zram are done on the
/// spot; disk writes all go out together, then we wait for them. Pages
/// whose write failed are kept (redirtied, activated). Returns (pages
/// freed, pages written out: Linux `stat->nr_pageout`, which counts a
/// zswap store as a successful `pageout` too).
fn pageout_batch(st: &mut MmState, pages: &[Pfn]) -> (usize, u64) {
    if pages.is_empty() {
        return (0, 0);
    }
    plug(st, true);
    let mut freed = 0;
    let mut written = 0;
    let mut submitted = Vec::new();
    for &pfn in pages {
        match swap_writeout(st, pfn) {
            Writeout::Done => {
                free_reclaimed_page(st, pfn);
                freed += 1;
                written += 1;
            }
            Writeout::Submitted => {
                submitted.push(pfn);
                written += 1;
            }
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
    (freed, written)
}

/// Linux `__remove_mapping` + free: the page leaves the swap cache (its
/// slot lives on if PTEs still refer to it) or its file's page cache,
/// with a workingset shadow in its place, and returns to the allocator.
fn free_reclaimed_page(st: &mut MmState, pfn: Pfn) {
    let page = *st.mem_map.get(pfn);
    let file = page.test(flags::FILE);
    if page.test(flags::READAHEAD) && !file {
        count_vm_event(VmEvent::SwapRaWasted);
    }
    let shadow = workingset_eviction(st, pfn);
    if file {
        filemap_remove_folio(st, pfn, shadow);
    } else {
        swap_cache_del_folio(st, pfn, shadow);
    }
    release_page(st, pfn);
    count_vm_event(VmEvent::PgSteal);
    count_vm_event(if file {
        VmEvent::PgStealFile
    } else {
        VmEvent::PgStealAnon
    });
}

/// Takes the page-cache page `pfn`, whose read failed, out of the cache
/// without a shadow (Linux `filemap_remove_folio` of a `!uptodate` folio
/// that a later read allocates again).
pub fn drop_file_page(st: &mut MmState, pfn: Pfn) {
    filemap_remove_folio(st, pfn, 0);
    release_page(st, pfn);
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

/// Frees a page (anonymous or file) that is unmapped and out of the swap
/// cache and the page cache, taking it off its LRU list if it is on one:
/// uncharge, reset the descriptor, return the frame.
pub fn release_page(st: &mut MmState, pfn: Pfn) {
    let super::state::MmState { lru, mem_map, .. } = st;
    lru.del(mem_map, pfn);
    debug_assert!(!st.mem_map.get(pfn).test(flags::SWAPCACHE));
    mem_cgroup_uncharge(st, pfn);
    st.mem_map.reset(pfn);
    free_page(pfn_to_pa(pfn));
}
