//! Map-around in `do_swap_page`: the seed thread's proof of concept
//! (Barry Song's `do_swap_map_around()`) and the two variants Alexandre
//! Ghiti suggested in reply.
//!
//! Readahead puts neighbours of a faulting page in the swap cache, but each
//! of them still costs a (minor) fault when first touched. Map-around maps
//! them right away:
//!
//! - `cached` (the PoC): after the faulting PTE is mapped, walk the PTEs
//!   from `2^page_cluster - 1` pages before it to `2^page_cluster` pages
//!   after it (the PoC's `nr_around` window), clamped to the VMA and to the
//!   page-table page (one PTE table, as the PoC holds one PTL), and map
//!   every neighbour that is an exclusive swap entry whose swap-cache page
//!   is uptodate and unlocked, as the PoC does line for line: young
//!   (`mk_pte(page, vma->vm_page_prot)` is young on x86), pages under
//!   writeback included, and the slot freed by `should_try_to_free_swap`
//!   with the *faulting* fault's flags (so a write fault frees the
//!   neighbours' slots too). `swap.map_around_old` and
//!   `swap.map_around_skip_writeback` are our departures, as knobs.
//! - `zswap-sync`: map, in the same fault, exactly the readahead neighbours
//!   that this fault loaded synchronously (from zswap or the zero map):
//!   they are ready, so there is no second fault and no moment where the
//!   page is cached but unmapped. Disk neighbours are left to their faults.
//! - `io-complete`: as `zswap-sync`, and readahead neighbours that need
//!   disk I/O are mapped when their completion has been processed. We
//!   process completions in task context, never in the interrupt handler,
//!   and run the deferred mapping at the end of every fault (a bottom half);
//!   the address space is pinned by its registry id (pending work is
//!   dropped when it exits) and every PTE is revalidated before writing.
//!
//! Accounting (our decision, made visible): like the PoC, mapping a
//! prefetched page calls `swap_update_readahead`, which scores a
//! `swap_ra_hit` and feeds the adaptive window; without that the window
//! would shrink to nothing because mapped prefetches never fault. Those
//! hits are also counted apart (`swap_map_around_ra_hit`), so they can be
//! subtracted. Neighbours are mapped young by default, as in the PoC;
//! with `swap.map_around_old=1` they are mapped *old* (accessed bit
//! clear), so an unused one still ages out, and reclaim can tell when it
//! unmaps a page that was never touched (`swap_map_around_wasted`). With
//! young mappings reclaim cannot tell, so that counter undercounts.
//!
//! Simplifications: VMA readahead only records neighbours by address;
//! with `swap.readahead=cluster` the neighbours belong to no known address,
//! so `zswap-sync` and `io-complete` map nothing extra there.

use super::memory::{map_swap_page, FaultFlags, MapHow};
use super::mm_types::Vma;
use super::page::flags;
use super::pgtable::Pte;
use super::state::MmState;
use super::swap::{pte_to_swp_entry, SwapEntry};
use super::swap_state::swap_update_readahead;
use super::vmstat::{count_vm_event, VmEvent};
use super::{page_align_down, PAGE_SIZE};
use crate::arch::paging::{PMD_SIZE, PTRS_PER_TABLE};

/// `swap.map_around`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapAroundMode {
    Off,
    Cached,
    ZswapSync,
    IoComplete,
}

impl MapAroundMode {
    /// Does this mode map from the readahead batch (so readahead must
    /// record the neighbours it reads)?
    pub fn maps_ra_batch(self) -> bool {
        matches!(self, MapAroundMode::ZswapSync | MapAroundMode::IoComplete)
    }
}

/// Called by `do_swap_page` after it mapped the faulting page at `faddr`.
/// `fault`: the faulting fault's flags (the PoC frees a neighbour's slot
/// by them).
pub fn after_swap_fault(st: &mut MmState, mm: usize, vma: &Vma, faddr: u64, fault: FaultFlags) {
    match st.policy.map_around {
        MapAroundMode::Off => {}
        MapAroundMode::Cached => do_swap_map_around(st, mm, vma, faddr, fault),
        MapAroundMode::ZswapSync | MapAroundMode::IoComplete => map_ra_batch(st, mm, vma, fault),
    }
}

/// The window of the PoC: `[start, end)` around `faddr`.
pub fn map_around_window(faddr: u64, vm_start: u64, vm_end: u64, page_cluster: u32) -> (u64, u64) {
    let nr = 1u64 << page_cluster.min(PTRS_PER_TABLE.trailing_zeros());
    let faddr = page_align_down(faddr);
    let pmd_start = faddr & !(PMD_SIZE - 1);
    let start = vm_start
        .max(faddr.saturating_sub((nr - 1) * PAGE_SIZE))
        .max(pmd_start);
    let end = vm_end.min(faddr + nr * PAGE_SIZE).min(pmd_start + PMD_SIZE);
    (start, end)
}

/// Linux (PoC) `do_swap_map_around`.
fn do_swap_map_around(st: &mut MmState, mm: usize, vma: &Vma, faddr: u64, fault: FaultFlags) {
    let (start, end) = map_around_window(faddr, vma.vm_start, vma.vm_end, st.policy.page_cluster);
    let faddr = page_align_down(faddr);
    for addr in (start..end).step_by(PAGE_SIZE as usize) {
        if addr != faddr {
            map_neighbour(st, mm, vma, addr, None, fault);
        }
    }
}

/// `zswap-sync` / `io-complete`: map what this fault's readahead loaded
/// synchronously; defer the rest (io-complete).
fn map_ra_batch(st: &mut MmState, mm: usize, vma: &Vma, fault: FaultFlags) {
    let batch = core::mem::take(&mut st.ra_batch);
    let is_io_complete = st.policy.map_around == MapAroundMode::IoComplete;
    for p in &batch {
        if p.is_sync {
            map_neighbour(st, mm, vma, p.addr, Some(p.entry), fault);
        } else if is_io_complete {
            // Mapped by `run_deferred_maps` once its read has completed
            // (which, for a batch the fault waited on, may be right away).
            st.deferred_maps.push((mm, *p));
        }
    }
    st.ra_batch = batch;
    st.ra_batch.clear();
}

/// `io-complete`'s bottom half: map deferred neighbours whose read has
/// completed. Work whose PTE or page changed meanwhile is dropped.
pub fn run_deferred_maps(st: &mut MmState) {
    if st.deferred_maps.is_empty() {
        return;
    }
    let mut pending = core::mem::take(&mut st.deferred_maps);
    pending.retain(|&(mm, p)| {
        if st.mem_map.get(p.pfn).test(flags::LOCKED) {
            return true; // still in flight
        }
        if let Some(vma) = st.find_vma(mm, p.addr) {
            // Not inside a fault: no fault flags.
            map_neighbour(st, mm, &vma, p.addr, Some(p.entry), FaultFlags::default());
        }
        false
    });
    pending.append(&mut st.deferred_maps);
    st.deferred_maps = pending;
}

/// Maps the neighbour at `addr` if it is ready; returns whether it did.
/// `expect`: the swap entry the caller saw (revalidated here).
fn map_neighbour(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    addr: u64,
    expect: Option<SwapEntry>,
    fault: FaultFlags,
) -> bool {
    let orig = st.mm(mm).pgtable().get_pte(addr).unwrap_or(Pte::NONE);
    let Some((entry, is_exclusive)) = pte_to_swp_entry(orig) else {
        return false;
    };
    if !is_exclusive || expect.is_some_and(|e| e != entry) {
        return false;
    }
    let Some(pfn) = st.swap.as_ref().and_then(|s| s.cache_lookup(entry)) else {
        return false;
    };
    let page = *st.mem_map.get(pfn);
    // The PoC: uptodate and not locked; a page under writeback is mapped
    // too (only not exclusive on a SWP_STABLE_WRITES device, which a
    // virtio disk is not), unless `swap.map_around_skip_writeback`.
    let skip_writeback = st.policy.map_around_skip_writeback && page.test(flags::WRITEBACK);
    let is_ready = page.test(flags::UPTODATE) && !page.test(flags::LOCKED) && !skip_writeback;
    let matches = page.test(flags::SWAPCACHE) && page.swap_offset == entry.offset;
    if !is_ready || !matches || page.mapcount > 0 {
        return false;
    }
    // Revalidate right before writing (Linux: pte_same under the PTL).
    if st.mm(mm).pgtable().get_pte(addr) != Some(orig) {
        return false;
    }
    let was_readahead = page.test(flags::READAHEAD);
    let how = MapHow {
        is_young: !st.policy.map_around_old,
        is_dirty: false,
        is_write_fault: fault.is_write,
    };
    map_swap_page(st, mm, vma, addr, pfn, entry, is_exclusive, how);
    swap_update_readahead(st, pfn, mm, addr);
    st.mem_map.get_mut(pfn).set(flags::MAPAROUND);
    count_vm_event(VmEvent::SwapMapAround);
    if was_readahead {
        count_vm_event(VmEvent::SwapMapAroundRaHit);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;
    const BASE: u64 = 0x1000_0000;

    #[test_case]
    fn window_is_clamped_like_the_poc() {
        let (vs, ve) = (BASE, BASE + (8 << 20));
        let f = BASE + (2 << 20) + 100 * P;
        // page_cluster 3: 7 pages before, 8 from the fault.
        assert_eq!(map_around_window(f, vs, ve, 3), (f - 7 * P, f + 8 * P));
        // page_cluster 1: [f - 1, f + 2).
        assert_eq!(map_around_window(f, vs, ve, 1), (f - P, f + 2 * P));
        // At the VMA start and end.
        assert_eq!(
            map_around_window(vs + P, vs + P, ve, 3),
            (vs + P, vs + 9 * P)
        );
        assert_eq!(map_around_window(ve - P, vs, ve, 3), (ve - 8 * P, ve));
        // Never beyond the page-table page (2 MiB).
        let edge = BASE + (4 << 20) - P;
        assert_eq!(map_around_window(edge, vs, ve, 3).1, BASE + (4 << 20));
        let first = BASE + (2 << 20);
        assert_eq!(map_around_window(first, vs, ve, 3).0, first);
        // A huge page_cluster is capped at one table.
        let (s, e) = map_around_window(first, vs, ve, 31);
        assert_eq!((s, e), (first, first + PMD_SIZE));
    }
}
