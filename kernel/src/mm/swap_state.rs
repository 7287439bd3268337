//! The swap cache and swap readahead (Linux mm/swap_state.c).
//!
//! The swap cache maps a swap slot to the page holding its data while the
//! page is being read, written, or kept after swap-in. A fault that finds
//! its page here is a *minor* fault, even if the read is still in flight.
//!
//! Readahead reads neighbours of the faulting entry into the cache, marked
//! `READAHEAD`, in one of Linux's two ways: by swap offset
//! ([`swap_cluster_readahead`]) or by virtual address
//! ([`swap_vma_readahead`]); the window size adapts to recent hits
//! ([`__swapin_nr_pages`]). All reads are submitted at once; the fault only
//! waits for its own page.

use super::memcontrol::{mem_cgroup_charge, ChargeFailed};
use super::page::{flags, pa_to_pfn, Pfn};
use super::page_alloc::{alloc_page, free_page};
use super::page_io::{plug, swap_read_folio};
use super::state::MmState;
use super::swap::{pte_to_swp_entry, SwapEntry};
use super::vmstat::{count_vm_event, VmEvent};
use super::workingset::workingset_refault;
use super::{page_align_down, PAGE_SHIFT, PAGE_SIZE};
use crate::arch::paging::PMD_SIZE;

/// A neighbour VMA readahead just read, at `addr`, for map-around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaPage {
    pub addr: u64,
    pub entry: SwapEntry,
    pub pfn: Pfn,
    /// Loaded without I/O (zswap or the zero map): ready at once.
    pub is_sync: bool,
}

/// `swap.readahead`: Linux chooses VMA mode unless it is disabled or a
/// rotational device is active; `Off` reads only the faulting page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadaheadMode {
    Off,
    Cluster,
    Vma,
}

/// Linux `SWAP_RA_ORDER_CEILING`: VMA windows are at most 32 pages.
pub const SWAP_RA_ORDER_CEILING: u32 = 5;

/// Global state of cluster readahead (Linux: the statics
/// `swapin_readahead_hits`, `prev_offset`, `last_readahead_pages`).
#[derive(Debug, Clone, Copy)]
pub struct SwapRaState {
    pub hits: u32,
    pub prev_offset: u32,
    pub last_readahead_pages: u32,
}

impl SwapRaState {
    pub const fn new() -> SwapRaState {
        // Linux starts with 4 hits, so the first window is the maximum.
        SwapRaState {
            hits: 4,
            prev_offset: 0,
            last_readahead_pages: 0,
        }
    }
}

impl Default for SwapRaState {
    fn default() -> Self {
        Self::new()
    }
}

/// Linux `__swapin_nr_pages`: the adaptive window size.
pub fn __swapin_nr_pages(
    prev_offset: u64,
    offset: u64,
    hits: u32,
    max_pages: u32,
    prev_win: u32,
) -> u32 {
    // LAB 4 BEGIN __swapin_nr_pages
    // LAB 4 STANDIN: // Before lab 4: readahead of one page (the faulting one).
    // LAB 4 STANDIN: let _ = (prev_offset, offset, hits, max_pages, prev_win);
    // LAB 4 STANDIN: 1
    let mut pages = hits + 2;
    if pages == 2 {
        // No hits since last time: read a second page only if this fault
        // is next to the previous one.
        let is_adjacent = offset == prev_offset + 1 || offset + 1 == prev_offset;
        pages = if is_adjacent { 2 } else { 1 };
    } else {
        let mut roundup = 4;
        while roundup < pages {
            roundup <<= 1;
        }
        pages = roundup;
    }
    pages = pages.min(max_pages);
    // Don't shrink readahead too fast.
    pages.max(prev_win / 2)
    // LAB 4 END __swapin_nr_pages
}

/// Linux `swapin_nr_pages` (cluster mode): consumes the hits.
pub fn swapin_nr_pages(ra: &mut SwapRaState, offset: u32, page_cluster: u32) -> u32 {
    // LAB 4 BEGIN swapin_nr_pages
    // LAB 4 STANDIN: let _ = (ra, offset, page_cluster);
    // LAB 4 STANDIN: 1
    let max_pages = 1u32.checked_shl(page_cluster).unwrap_or(u32::MAX);
    if max_pages <= 1 {
        return 1;
    }
    let hits = core::mem::take(&mut ra.hits);
    let pages = __swapin_nr_pages(
        ra.prev_offset as u64,
        offset as u64,
        hits,
        max_pages,
        ra.last_readahead_pages,
    );
    if hits == 0 {
        ra.prev_offset = offset;
    }
    ra.last_readahead_pages = pages;
    pages
    // LAB 4 END swapin_nr_pages
}

/// The aligned cluster window `[start, end]` (inclusive) around `offset`,
/// skipping slot 0 (the header) and clamped to the area (`max` slots).
pub fn cluster_ra_window(offset: u32, pages: u32, max: u32) -> (u32, u32) {
    // LAB 4 BEGIN cluster_ra_window
    // LAB 4 STANDIN: let _ = (pages, max);
    // LAB 4 STANDIN: (offset, offset)
    let mask = pages - 1;
    let start = (offset & !mask).max(1);
    let end = (offset | mask).min(max - 1);
    (start, end)
    // LAB 4 END cluster_ra_window
}

/// Linux `vma->swap_readahead_info`: last fault address, last window and
/// hits, packed in one word (`SWAP_RA_VAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapRaInfo(pub u64);

const SWAP_RA_WIN_SHIFT: u32 = PAGE_SHIFT / 2;
const SWAP_RA_HITS_MASK: u64 = (1 << SWAP_RA_WIN_SHIFT) - 1;
const SWAP_RA_HITS_MAX: u64 = SWAP_RA_HITS_MASK;

impl SwapRaInfo {
    /// Linux `SWAP_RA_VAL`.
    pub fn pack(addr: u64, win: u32, hits: u64) -> SwapRaInfo {
        SwapRaInfo(page_align_down(addr) | ((win as u64) << SWAP_RA_WIN_SHIFT) | hits)
    }

    /// Linux `GET_SWAP_RA_VAL`: a fresh VMA reads as 4 hits.
    pub fn get(self) -> SwapRaInfo {
        if self.0 == 0 {
            SwapRaInfo(4)
        } else {
            self
        }
    }

    pub fn addr(self) -> u64 {
        page_align_down(self.0)
    }

    pub fn win(self) -> u32 {
        ((self.0 & (PAGE_SIZE - 1)) >> SWAP_RA_WIN_SHIFT) as u32
    }

    pub fn hits(self) -> u64 {
        self.0 & SWAP_RA_HITS_MASK
    }
}

/// Linux `swap_vma_ra_win`: the window `[start, end)` of addresses for a
/// fault at `faddr`, never crossing the VMA or the page-table page. Updates
/// `info` (hits reset to 0).
pub fn swap_vma_ra_win(
    info: &mut SwapRaInfo,
    faddr: u64,
    vm_start: u64,
    vm_end: u64,
    page_cluster: u32,
) -> (u64, u64) {
    // LAB 4 BEGIN swap_vma_ra_win
    // LAB 4 STANDIN: let _ = (info, vm_start, vm_end, page_cluster);
    // LAB 4 STANDIN: let faddr = page_align_down(faddr);
    // LAB 4 STANDIN: (faddr, faddr + PAGE_SIZE)
    let faddr = page_align_down(faddr);
    let max_win = 1u32 << page_cluster.min(SWAP_RA_ORDER_CEILING);
    if max_win == 1 {
        return (faddr, faddr + PAGE_SIZE);
    }
    let prev = info.get();
    let (prev_faddr, prev_win, hits) = (prev.addr(), prev.win(), prev.hits() as u32);
    let win = __swapin_nr_pages(
        prev_faddr >> PAGE_SHIFT,
        faddr >> PAGE_SHIFT,
        hits,
        max_win,
        prev_win,
    );
    *info = SwapRaInfo::pack(faddr, win, 0);
    if win == 1 {
        return (faddr, faddr + PAGE_SIZE);
    }
    let w = win as u64;
    let left = if faddr == prev_faddr + PAGE_SIZE {
        faddr
    } else if prev_faddr == faddr + PAGE_SIZE {
        faddr.saturating_sub((w - 1) * PAGE_SIZE)
    } else {
        faddr.saturating_sub((w - 1) / 2 * PAGE_SIZE)
    };
    let right = left + w * PAGE_SIZE;
    let pmd_start = faddr & !(PMD_SIZE - 1);
    let start = left.max(vm_start).max(pmd_start);
    let end = right.min(vm_end).min(pmd_start + PMD_SIZE);
    (start, end)
    // LAB 4 END swap_vma_ra_win
}

/// Linux `swap_cache_get_folio`: the page of `entry` if it is cached.
pub fn swap_cache_get_folio(st: &MmState, entry: SwapEntry) -> Option<Pfn> {
    st.swap.as_ref()?.cache_lookup(entry)
}

/// Linux `swap_update_readahead`, called on every swap-cache hit: a
/// prefetched page scores one hit (test-and-clear), which feeds the
/// adaptive window; in VMA mode every hit also records the fault address.
pub fn swap_update_readahead(st: &mut MmState, pfn: Pfn, mm: usize, addr: u64) {
    // LAB 4 BEGIN swap_update_readahead
    // LAB 4 STANDIN: // Before lab 4 nothing is read ahead, so there is no hit to score.
    // LAB 4 STANDIN: let _ = (st, pfn, mm, addr);
    let was_readahead = st.mem_map.get_mut(pfn).test_and_clear(flags::READAHEAD);
    if st.policy.readahead == ReadaheadMode::Vma {
        if let Some(info) = st.mm_mut(mm).vma_ra_info_mut(addr) {
            let cur = info.get();
            let hits = (cur.hits() + was_readahead as u64).min(SWAP_RA_HITS_MAX);
            *info = SwapRaInfo::pack(addr, cur.win(), hits);
        }
    }
    if was_readahead {
        count_vm_event(VmEvent::SwapRaHit);
        if st.policy.readahead != ReadaheadMode::Vma {
            st.ra.hits += 1;
        }
    }
    // LAB 4 END swap_update_readahead
}

/// Linux `swap_cache_read_folio`: make sure `entry` is in the swap cache,
/// starting a read if it was not. Returns the page, or `None` if the slot
/// is not swapped out (free). Newly read readahead pages count `swap_ra`.
pub fn swap_cache_read_folio(
    st: &mut MmState,
    entry: SwapEntry,
    is_readahead: bool,
) -> Result<Option<Pfn>, ChargeFailed> {
    Ok(read_swap_cache(st, entry, is_readahead)?.map(|(pfn, _)| pfn))
}

/// [`swap_cache_read_folio`], also telling whether the page was newly
/// read (`true`) or already cached.
fn read_swap_cache(
    st: &mut MmState,
    entry: SwapEntry,
    is_readahead: bool,
) -> Result<Option<(Pfn, bool)>, ChargeFailed> {
    if let Some(pfn) = swap_cache_get_folio(st, entry) {
        return Ok(Some((pfn, false)));
    }
    let swap = st.swap.as_ref().expect("swap-in without swap");
    if !swap.is_slot_in_use(entry) {
        return Ok(None);
    }
    let pfn = pa_to_pfn(alloc_page().map_err(|_| ChargeFailed)?);
    st.mem_map.reset(pfn);
    if let Err(e) = mem_cgroup_charge(st, pfn) {
        free_page(super::page::pfn_to_pa(pfn));
        return Err(e);
    }
    let page = st.mem_map.get_mut(pfn);
    page.set(flags::LOCKED | flags::SWAPCACHE);
    page.swap_offset = entry.offset;
    if is_readahead {
        page.set(flags::READAHEAD);
    }
    let swap = st.swap.as_mut().expect("checked");
    swap.cache_insert(entry, pfn);
    // The folio takes the place of the slot's shadow, if reclaim left one.
    let shadow = swap.take_shadow(entry);
    let activate = shadow.is_some_and(|shadow| workingset_refault(st, pfn, shadow));
    let super::state::MmState { lru, mem_map, .. } = st;
    if activate {
        lru.add_active(mem_map, pfn);
    } else {
        lru.add_inactive(mem_map, pfn);
    }
    swap_read_folio(st, pfn, entry);
    if is_readahead {
        count_vm_event(VmEvent::SwapRa);
    }
    Ok(Some((pfn, true)))
}

/// Linux `swapin_readahead`: read the faulting entry and, by policy, its
/// neighbours. Returns the target's page (possibly still locked).
pub fn swapin_readahead(
    st: &mut MmState,
    entry: SwapEntry,
    mm: usize,
    faddr: u64,
) -> Result<Pfn, ChargeFailed> {
    st.ra_batch.clear();
    match st.policy.readahead {
        ReadaheadMode::Off => {}
        ReadaheadMode::Cluster => swap_cluster_readahead(st, entry)?,
        ReadaheadMode::Vma => swap_vma_readahead(st, mm, faddr)?,
    }
    let pfn = swap_cache_read_folio(st, entry, false)?;
    Ok(pfn.expect("the faulting entry is swapped out"))
}

/// Readahead only fills spare memory: a neighbour whose charge fails is
/// skipped, not an error (Linux gives up on that page silently too). With
/// `swap.ra_skip_zswap` (the thread's alternative), a neighbour that lives
/// in zswap is skipped: decompressing it now would be synchronous work
/// inside this fault, for a page that may never be used.
///
/// Returns the page if it was newly read.
fn read_neighbour(st: &mut MmState, entry: SwapEntry, is_readahead: bool) -> Option<Pfn> {
    let skip =
        is_readahead && st.policy.ra_skip_zswap && super::memory::zswap_present_test(st, entry);
    if skip {
        return None;
    }
    match read_swap_cache(st, entry, is_readahead) {
        Ok(Some((pfn, true))) => Some(pfn),
        _ => None,
    }
}

/// Linux `swap_cluster_readahead`: the aligned window of swap offsets.
fn swap_cluster_readahead(st: &mut MmState, target: SwapEntry) -> Result<(), ChargeFailed> {
    // LAB 4 BEGIN swap_cluster_readahead
    // LAB 4 STANDIN: let _ = (st, target);
    // LAB 4 STANDIN: Ok(())
    let pages = swapin_nr_pages(&mut st.ra, target.offset, st.policy.page_cluster);
    if pages <= 1 {
        return Ok(());
    }
    let max = st.swap.as_ref().expect("swap").max();
    let (start, end) = cluster_ra_window(target.offset, pages, max);
    plug(st, true);
    for offset in start..=end {
        let _ = read_neighbour(st, SwapEntry::new(offset), offset != target.offset);
    }
    plug(st, false);
    Ok(())
    // LAB 4 END swap_cluster_readahead
}

/// Linux `swap_vma_readahead`: the window of virtual addresses, reading
/// only PTEs that hold swap entries.
fn swap_vma_readahead(st: &mut MmState, mm: usize, faddr: u64) -> Result<(), ChargeFailed> {
    // LAB 4 BEGIN swap_vma_readahead
    // LAB 4 STANDIN: let _ = (st, mm, faddr);
    // LAB 4 STANDIN: Ok(())
    let page_cluster = st.policy.page_cluster;
    let Some(vma) = st.find_vma(mm, faddr) else {
        return Ok(());
    };
    let (start, end) = {
        let info = st.mm_mut(mm).vma_ra_info_mut(faddr).expect("vma exists");
        swap_vma_ra_win(info, faddr, vma.vm_start, vma.vm_end, page_cluster)
    };
    if end - start <= PAGE_SIZE {
        return Ok(());
    }
    let faddr = page_align_down(faddr);
    plug(st, true);
    for addr in (start..end).step_by(PAGE_SIZE as usize) {
        let pte = st.mm(mm).pgtable().get_pte(addr);
        let Some((entry, _)) = pte.and_then(pte_to_swp_entry) else {
            continue;
        };
        let is_neighbour = addr != faddr;
        if let Some(pfn) = read_neighbour(st, entry, is_neighbour) {
            if is_neighbour && st.policy.map_around.maps_ra_batch() {
                // Map-around (zswap-sync, io-complete) maps from this list.
                let is_sync = !st.mem_map.get(pfn).test(flags::LOCKED);
                st.ra_batch.push(RaPage {
                    addr,
                    entry,
                    pfn,
                    is_sync,
                });
            }
        }
    }
    plug(st, false);
    Ok(())
    // LAB 4 END swap_vma_readahead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn swapin_nr_pages_matches_linux_table() {
        // The worked values of the reference (max_pages = 8).
        assert_eq!(__swapin_nr_pages(10, 50, 0, 8, 0), 1, "random, no hits");
        assert_eq!(__swapin_nr_pages(10, 11, 0, 8, 0), 2, "adjacent, no hits");
        assert_eq!(__swapin_nr_pages(10, 9, 0, 8, 0), 2, "adjacent backwards");
        assert_eq!(__swapin_nr_pages(0, 50, 1, 8, 0), 4);
        assert_eq!(__swapin_nr_pages(0, 50, 2, 8, 0), 4);
        assert_eq!(__swapin_nr_pages(0, 50, 3, 8, 0), 8);
        assert_eq!(__swapin_nr_pages(0, 50, 6, 8, 0), 8);
        assert_eq!(__swapin_nr_pages(0, 50, 40, 8, 0), 8, "capped at max");
        // Shrinks at most by half per step.
        assert_eq!(__swapin_nr_pages(10, 50, 0, 8, 8), 4);
        assert_eq!(__swapin_nr_pages(10, 50, 0, 8, 4), 2);
    }

    #[test_case]
    fn cluster_window_grows_and_shrinks() {
        let mut ra = SwapRaState::new();
        // First fault: 4 initial hits -> 8 pages; prev_offset untouched.
        assert_eq!(swapin_nr_pages(&mut ra, 100, 3), 8);
        assert_eq!(ra.hits, 0);
        // No hits, far away: shrink to max(1, 8/2) = 4, then 2, then 1.
        assert_eq!(swapin_nr_pages(&mut ra, 500, 3), 4);
        assert_eq!(ra.prev_offset, 500);
        assert_eq!(swapin_nr_pages(&mut ra, 900, 3), 2);
        assert_eq!(swapin_nr_pages(&mut ra, 1300, 3), 1);
        // Three hits bring it back to 8.
        ra.hits = 3;
        assert_eq!(swapin_nr_pages(&mut ra, 1400, 3), 8);
        // page_cluster 0 disables readahead.
        assert_eq!(swapin_nr_pages(&mut SwapRaState::new(), 100, 0), 1);
    }

    #[test_case]
    fn cluster_window_is_aligned_and_skips_the_header() {
        assert_eq!(cluster_ra_window(13, 8, 1000), (8, 15));
        assert_eq!(
            cluster_ra_window(3, 8, 1000),
            (1, 7),
            "slot 0 is the header"
        );
        assert_eq!(
            cluster_ra_window(998, 8, 1000),
            (992, 999),
            "clamped to the area"
        );
        assert_eq!(cluster_ra_window(16, 4, 1000), (16, 19));
    }

    const MB: u64 = 1 << 20;
    const P: u64 = PAGE_SIZE;

    #[test_case]
    fn vma_window_centred_forward_backward() {
        let (vs, ve) = (0x1000_0000, 0x1000_0000 + 64 * MB);
        // Fresh VMA: 4 hits -> win 8, centred: faddr - 3 pages.
        let mut info = SwapRaInfo(0);
        let f = vs + 2 * MB + 100 * P;
        assert_eq!(
            swap_vma_ra_win(&mut info, f, vs, ve, 3),
            (f - 3 * P, f + 5 * P)
        );
        assert_eq!((info.addr(), info.win(), info.hits()), (f, 8, 0));
        // Next fault one page further, 3 hits: forward window from faddr.
        info = SwapRaInfo::pack(f, 8, 3);
        let g = f + P;
        assert_eq!(swap_vma_ra_win(&mut info, g, vs, ve, 3), (g, g + 8 * P));
        // One page back, 3 hits: the window ends at faddr.
        info = SwapRaInfo::pack(f, 8, 3);
        let h = f - P;
        assert_eq!(swap_vma_ra_win(&mut info, h, vs, ve, 3), (h - 7 * P, h + P));
    }

    #[test_case]
    fn vma_window_clamps_at_vma_and_page_table_edges() {
        let (vs, ve) = (0x1000_0000 + 2 * MB + 2 * P, 0x1000_0000 + 4 * MB);
        // At the VMA start: the left part is cut.
        let mut info = SwapRaInfo(0);
        assert_eq!(swap_vma_ra_win(&mut info, vs, vs, ve, 3), (vs, vs + 5 * P));
        // At the end of a page-table page (2 MiB): the right part is cut.
        let mut info = SwapRaInfo(0);
        let edge = 0x1000_0000 + 4 * MB - P;
        assert_eq!(
            swap_vma_ra_win(&mut info, edge, 0x1000_0000, 0x1000_0000 + 8 * MB, 3),
            (edge - 3 * P, edge + P)
        );
        // Never crosses the start of the page-table page either.
        let mut info = SwapRaInfo(0);
        let start_edge = 0x1000_0000 + 2 * MB;
        assert_eq!(
            swap_vma_ra_win(&mut info, start_edge, 0x1000_0000, 0x1000_0000 + 8 * MB, 3),
            (start_edge, start_edge + 5 * P)
        );
        // page_cluster 0: only the faulting page.
        let mut info = SwapRaInfo(0);
        assert_eq!(swap_vma_ra_win(&mut info, vs, vs, ve, 0), (vs, vs + P));
        // page_cluster above 5 is capped at 32 pages.
        let mut info = SwapRaInfo::pack(vs, 32, 40);
        let (s, e) = swap_vma_ra_win(&mut info, vs + 100 * P, vs, ve, 9);
        assert_eq!((e - s) / P, 32);
    }
}
