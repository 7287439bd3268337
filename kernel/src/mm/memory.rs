//! The architecture-independent fault handler (Linux mm/memory.c):
//! `handle_mm_fault` → `handle_pte_fault` → `do_anonymous_page` for a
//! missing page, `do_swap_page` for a PTE that holds a swap entry.

use alloc::vec::Vec;
use core::fmt;

use super::cow::do_wp_page;
use super::fault_latency::FaultKind;
use super::map_around::{after_swap_fault, run_deferred_maps};
use super::memcontrol::{mem_cgroup_charge, mem_cgroup_uncharge};
use super::mm_types::Vma;
use super::page::{flags, pa_to_pfn, pfn_to_pa, Pfn};
use super::page_alloc::{alloc_page, free_page};
use super::page_io::wait_on_page_locked;
use super::pgtable::{MapError, Pte};
use super::rmap::page_add_anon_rmap;
use super::state::{current_mm_id, with_mm_state, MmState};
use super::swap::{pte_to_swp_entry, SwapEntry};
use super::swap_state::{swap_cache_get_folio, swap_update_readahead, swapin_readahead, RaPage};
use super::vmscan::delete_from_swap_cache;
use super::vmstat::{count_vm_event, VmEvent};
use super::{page_align_down, phys_to_virt, PAGE_SIZE};
use crate::arch::paging::{_PAGE_ACCESSED, _PAGE_DIRTY};
use crate::sched::clock::sched_clock;

/// What the hardware told us about the access (Linux `FAULT_FLAG_*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultFlags {
    pub is_write: bool,
    /// The page was present: a protection fault, not a missing page.
    pub is_present: bool,
    pub is_instruction_fetch: bool,
}

/// Why a fault could not be resolved (Linux: `VM_FAULT_SIGSEGV`,
/// `VM_FAULT_OOM`, `VM_FAULT_SIGBUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// No address space is current.
    NoMm,
    /// No VMA covers the address (Linux `bad_area`).
    NoVma,
    /// The VMA does not allow this access (Linux `access_error`).
    AccessError,
    /// No frame, or the memory cgroup could not reclaim enough
    /// (Linux `VM_FAULT_OOM`).
    OutOfMemory,
    /// The swap device failed to read the page in this swap slot (Linux
    /// `VM_FAULT_SIGBUS`).
    SwapReadError(u64),
    /// A non-present PTE holds a value we do not know how to handle.
    UnknownPte(u64),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FaultError::NoMm => write!(f, "no address space is current"),
            FaultError::NoVma => write!(f, "address is not inside any VMA"),
            FaultError::AccessError => write!(f, "access not allowed by the VMA"),
            FaultError::OutOfMemory => write!(f, "out of memory"),
            FaultError::SwapReadError(slot) => {
                write!(f, "I/O error reading the page from swap slot {slot}")
            }
            FaultError::UnknownPte(v) => write!(f, "unknown non-present PTE value {v:#x}"),
        }
    }
}

/// A swap fault that must sleep until the read into `pfn` finishes (Linux
/// `VM_FAULT_RETRY`): it returns with the mm lock released, the task
/// sleeps, and the fault runs again from the start (Linux
/// `FAULT_FLAG_TRIED`), keeping what the first attempt did.
///
/// Counting: `pgfault` counts the fault once; `pgmajfault` and
/// `pgfault_swapcache` count what the first attempt found. If the page was
/// reclaimed while the task waited for its turn, the retry misses again
/// and is a new major fault with its own read, counted again, as Linux's
/// `do_swap_page` counts `PGMAJFAULT` on every miss.
pub struct Retry {
    pfn: Pfn,
    /// What the first attempt was (a major fault stays major).
    kind: FaultKind,
    /// The neighbours the first attempt's readahead read (for map-around).
    ra_batch: Vec<RaPage>,
}

/// How one attempt at a fault ended.
enum Handled {
    /// Resolved; the kind of fault, if it did any work.
    Done(Option<FaultKind>),
    Retry(Retry),
}

/// Linux `handle_mm_fault`: resolve a fault at `address` in the current
/// address space. A task sleeps (lock released) while its page is read;
/// outside the scheduler (boot, unit tests) the fault waits in place.
///
/// The latency recorded is the fault's own: from the first attempt to the
/// end, minus the time the task spent woken but waiting for its turn on
/// the CPU (that is the scheduler's doing, not the fault path's).
pub fn handle_mm_fault(address: u64, flags: FaultFlags) -> Result<(), FaultError> {
    let mm = current_mm_id().ok_or(FaultError::NoMm)?;
    let mut start = sched_clock();
    let mut tried: Option<Retry> = None;
    loop {
        let first_kind = tried.as_ref().map(|r| r.kind);
        let handled = with_mm_state(|st| {
            let vma = st.find_vma(mm, address).ok_or(FaultError::NoVma)?;
            access_error(&vma, flags)?;
            let addr = page_align_down(address);
            let handled = handle_pte_fault(st, mm, &vma, addr, flags, tried.take())?;
            if let Handled::Done(kind) = handled {
                if let Some(kind) = first_kind.or(kind) {
                    st.latency.record(kind, sched_clock() - start);
                }
            }
            // io-complete map-around's bottom half, outside the timed part.
            run_deferred_maps(st);
            Ok(handled)
        })?;
        match handled {
            Handled::Done(_) => break,
            Handled::Retry(retry) => {
                start += crate::sched::sleep_on_page(retry.pfn);
                tried = Some(retry);
            }
        }
    }
    count_vm_event(VmEvent::PgFault);
    Ok(())
}

/// Linux `access_error` (arch/x86/mm/fault.c): is this access allowed?
/// Only a program's text VMA is executable.
fn access_error(vma: &Vma, flags: FaultFlags) -> Result<(), FaultError> {
    // LAB 1 BEGIN access_error
    let bad_fetch = flags.is_instruction_fetch && !vma.is_exec();
    if bad_fetch || (flags.is_write && !vma.is_writable()) {
        return Err(FaultError::AccessError);
    }
    Ok(())
    // LAB 1 END access_error
}

/// Linux `handle_pte_fault`: dispatch on what the PTE holds. Returns the
/// kind of fault handled, for the latency figures.
fn handle_pte_fault(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    flags: FaultFlags,
    tried: Option<Retry>,
) -> Result<Handled, FaultError> {
    let pte = st.mm(mm).pgtable().get_pte(address).unwrap_or(Pte::NONE);
    if pte.is_none() {
        // LAB 1 BEGIN handle_pte_fault_none
        if !flags.is_write {
            do_anonymous_zero_page(st, mm, vma, address)?;
        } else {
            do_anonymous_page(st, mm, vma, address)?;
        }
        return Ok(Handled::Done(Some(FaultKind::Anon)));
        // LAB 1 END handle_pte_fault_none
    }
    if pte.is_software() {
        return do_swap_page(st, mm, vma, address, pte, flags, tried);
    }
    // Present: a write to a read-only page of a writable VMA (the zero
    // page, or a page fork shared) is `do_wp_page`; otherwise the page
    // was mapped meanwhile (Linux would only update the accessed/dirty
    // bits).
    if flags.is_write && !pte.is_writable() {
        do_wp_page(st, mm, vma, address, pte)?;
        return Ok(Handled::Done(Some(FaultKind::Anon)));
    }
    Ok(Handled::Done(None))
}

/// The read branch of Linux `do_anonymous_page`: map the shared zero page
/// read-only (`pte_mkspecial(pfn_pte(my_zero_pfn(..)))`). Nothing is
/// allocated or charged, the page is on no LRU and never swapped, and
/// `MM_ANONPAGES` does not count it.
fn do_anonymous_zero_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
) -> Result<(), FaultError> {
    // LAB 1 BEGIN do_anonymous_zero_page
    let zero_pa = pfn_to_pa(st.zero_pfn);
    match st
        .mm_mut(mm)
        .pgtable_mut()
        .map_page(address, zero_pa, vma.pte_flags(false))
    {
        Ok(()) => {}
        Err(MapError::OutOfMemory) => return Err(FaultError::OutOfMemory),
        Err(other) => panic!("do_anonymous_page({address:#x}, zero page): {other:?}"),
    }
    count_vm_event(VmEvent::PgFaultZeroPage);
    Ok(())
    // LAB 1 END do_anonymous_zero_page
}

/// A new anonymous page is mapped at `address`: rmap, LRU and rss (Linux
/// `folio_add_new_anon_rmap` + `folio_add_lru_vma` + `MM_ANONPAGES`).
pub(super) fn add_new_anon_page(st: &mut MmState, mm: usize, pfn: Pfn, address: u64) {
    st.mem_map.get_mut(pfn).set(flags::UPTODATE | flags::DIRTY);
    page_add_anon_rmap(st, pfn, mm, address, true);
    let MmState { lru, mem_map, .. } = st;
    lru.add_inactive(mem_map, pfn);
}

/// Allocates a frame and charges it to the memory cgroup (which may
/// reclaim). Linux: `vma_alloc_zeroed_movable_folio` + `mem_cgroup_charge`.
pub(super) fn alloc_charged_page(st: &mut MmState) -> Result<Pfn, FaultError> {
    let pfn = pa_to_pfn(alloc_page().map_err(|_| FaultError::OutOfMemory)?);
    st.mem_map.reset(pfn);
    if mem_cgroup_charge(st, pfn).is_err() {
        free_page(pfn_to_pa(pfn));
        return Err(FaultError::OutOfMemory);
    }
    Ok(pfn)
}

/// A charged page filled with zeros (Linux `vma_alloc_zeroed_movable_folio`).
pub(super) fn alloc_zeroed_charged_page(st: &mut MmState) -> Result<Pfn, FaultError> {
    let pfn = alloc_charged_page(st)?;
    // SAFETY: the frame was just allocated for us and is in the direct map.
    unsafe {
        core::ptr::write_bytes(
            phys_to_virt(pfn_to_pa(pfn)) as *mut u8,
            0,
            PAGE_SIZE as usize,
        )
    };
    Ok(pfn)
}

/// Linux `do_anonymous_page`, write fault: map a freshly zeroed, charged
/// page and put it on the inactive LRU.
fn do_anonymous_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
) -> Result<(), FaultError> {
    install_anon_page(st, mm, vma, address, &[])
}

/// [`do_anonymous_page`] with content: the new page holds `bytes` (zeros
/// after them). This is how exec loads a program's segments: Linux maps
/// an ELF file's pages from the page cache on demand; we have no file
/// mappings, so a program is copied into private anonymous pages up
/// front (they swap like any other).
pub fn install_anon_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    bytes: &[u8],
) -> Result<(), FaultError> {
    // LAB 1 BEGIN install_anon_page
    debug_assert!(bytes.len() <= PAGE_SIZE as usize);
    let pfn = alloc_zeroed_charged_page(st)?;
    // SAFETY: the frame was just allocated for us and is in the direct
    // map; `bytes` fits in it.
    unsafe {
        core::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            phys_to_virt(pfn_to_pa(pfn)) as *mut u8,
            bytes.len(),
        )
    };
    let flags = vma.pte_flags(vma.is_writable());
    if let Err(e) = st
        .mm_mut(mm)
        .pgtable_mut()
        .map_page(address, pfn_to_pa(pfn), flags)
    {
        mem_cgroup_uncharge(st, pfn);
        free_page(pfn_to_pa(pfn));
        return match e {
            MapError::OutOfMemory => Err(FaultError::OutOfMemory),
            other => panic!("do_anonymous_page({address:#x}): {other:?}"),
        };
    }
    add_new_anon_page(st, mm, pfn, address);
    Ok(())
    // LAB 1 END install_anon_page
}

/// Linux `do_swap_page`: the PTE holds a swap entry.
///
/// 1. Look the entry up in the swap cache. A hit is a minor fault
///    (`swap_update_readahead` scores a readahead hit); a miss reads the
///    page with readahead and is a major fault.
/// 2. Wait until the page's read finished (only this page's). A task
///    sleeps instead: it returns [`Handled::Retry`] and runs again later.
/// 3. Revalidate: the PTE must be unchanged and the page must still be the
///    cache page of this entry, because the world may have changed while
///    we waited (reclaim run by a readahead charge, for one).
/// 4. Map it (writable if the swap PTE was exclusive), drop the PTE's swap
///    reference, and maybe free the slot (`should_try_to_free_swap`).
fn do_swap_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    orig_pte: Pte,
    fault: FaultFlags,
    tried: Option<Retry>,
) -> Result<Handled, FaultError> {
    let Some((entry, is_exclusive)) = pte_to_swp_entry(orig_pte) else {
        return Err(FaultError::UnknownPte(orig_pte.raw()));
    };
    // Neighbours recorded by an earlier fault that ended early belong to
    // that fault, not to this one; a retried fault gets its own back.
    let tried_kind = tried.as_ref().map(|r| r.kind);
    match tried {
        Some(r) => st.ra_batch = r.ra_batch,
        None => st.ra_batch.clear(),
    }
    let (pfn, kind) = match swap_cache_get_folio(st, entry) {
        Some(pfn) => {
            swap_update_readahead(st, pfn, mm, address);
            match tried_kind {
                // The retry of a fault that was counted already.
                Some(kind) => (pfn, kind),
                None => {
                    count_vm_event(VmEvent::PgFaultSwapcache);
                    (pfn, FaultKind::SwapcacheHit)
                }
            }
        }
        None => {
            // LAB 2 BEGIN do_swap_page_miss
            // LAB 2 STANDIN: unreachable!("lab 2 stand-in: no swap entries exist before lab 2")
            let is_zswap = zswap_present_test(st, entry);
            let pfn = if use_swapin_sync(st, is_zswap) {
                swapin_sync(st, entry)
            } else {
                swapin_readahead(st, entry, mm, address)
            };
            let pfn = pfn.map_err(|_| FaultError::OutOfMemory)?;
            count_vm_event(VmEvent::PgMajFault);
            let kind = if is_zswap {
                FaultKind::MajorZswap
            } else {
                FaultKind::Major
            };
            (pfn, kind)
            // LAB 2 END do_swap_page_miss
        }
    };
    if st.mem_map.get(pfn).test(flags::LOCKED) && crate::sched::in_task() {
        let ra_batch = core::mem::take(&mut st.ra_batch);
        return Ok(Handled::Retry(Retry {
            pfn,
            kind,
            ra_batch,
        }));
    }
    wait_on_page_locked(st, pfn);
    run_deferred_maps(st);
    let pte_now = st.mm(mm).pgtable().get_pte(address).unwrap_or(Pte::NONE);
    let page = *st.mem_map.get(pfn);
    let still_cached = page.test(flags::SWAPCACHE) && page.swap_offset == entry.offset;
    if pte_now != orig_pte || !still_cached {
        // Someone else resolved it, or the page left the cache while we
        // slept: return and let the access fault again if it must.
        return Ok(Handled::Done(Some(kind)));
    }
    if !page.test(flags::UPTODATE) {
        // Linux `do_swap_page`: `if (!folio_test_uptodate(folio))` →
        // `VM_FAULT_SIGBUS`. The PTE keeps its entry, the slot its count
        // and the page stays in the swap cache (nobody retries the read).
        return Err(FaultError::SwapReadError(entry.offset as u64));
    }
    let how = MapHow {
        is_young: true,
        is_dirty: fault.is_write,
        is_write_fault: fault.is_write,
    };
    let writable = map_swap_page(st, mm, vma, address, pfn, entry, is_exclusive, how);
    after_swap_fault(st, mm, vma, address, fault);
    if fault.is_write && !writable {
        // Linux: `if (vmf->flags & FAULT_FLAG_WRITE) ret |= do_wp_page(vmf)`
        // for a page mapped read-only because its entry was shared.
        let pte = st.mm(mm).pgtable().get_pte(address).unwrap_or(Pte::NONE);
        do_wp_page(st, mm, vma, address, pte)?;
    }
    Ok(Handled::Done(Some(kind)))
}

/// The miss-path choice of `do_swap_page`: synchronous swap-in with no
/// readahead for a `SWP_SYNCHRONOUS_IO` device (zram, commit 0bcac06f27d7)
/// and, with the seed's patch (`swap.zswap_bypass`), for an entry in zswap.
fn use_swapin_sync(st: &MmState, is_zswap: bool) -> bool {
    let is_sync_device = st.swap.as_ref().is_some_and(|s| s.is_synchronous());
    is_sync_device || (is_zswap && zswap_bypasses_readahead(st))
}

/// The seed's patch: an entry found in zswap is swapped in alone,
/// without readahead (`swap.zswap_bypass`).
fn zswap_bypasses_readahead(st: &MmState) -> bool {
    // LAB 5 BEGIN zswap_bypasses_readahead
    // LAB 5 STANDIN: let _ = st;
    // LAB 5 STANDIN: false
    st.policy.zswap_bypass
    // LAB 5 END zswap_bypasses_readahead
}

/// Linux `zswap_present_test`: is the entry's data in zswap?
pub fn zswap_present_test(st: &MmState, entry: SwapEntry) -> bool {
    st.swap
        .as_ref()
        .is_some_and(|s| s.zswap.is_present(entry.offset))
}

/// Linux `swapin_sync`: read just this entry into the swap cache.
fn swapin_sync(st: &mut MmState, entry: SwapEntry) -> Result<Pfn, super::memcontrol::ChargeFailed> {
    let pfn = super::swap_state::swap_cache_read_folio(st, entry, false)?;
    Ok(pfn.expect("the faulting entry is swapped out"))
}

/// How [`map_swap_page`] maps a page: the faulting page of
/// `do_swap_page` is young, and dirty on a write fault; a map-around
/// neighbour is not dirty, young or old by policy, and its slot is freed
/// by the *faulting* fault's flags (the PoC passes `vmf->flags` to
/// `should_try_to_free_swap`).
#[derive(Debug, Clone, Copy)]
pub(super) struct MapHow {
    pub is_young: bool,
    pub is_dirty: bool,
    pub is_write_fault: bool,
}

/// Steps 11-16 of `do_swap_page`: install the PTE, rmap, swap count, and
/// the free-the-slot decision. Map-around uses it too. Returns whether
/// the page was mapped writable.
///
/// Exclusivity (Linux step 13): only an exclusive swap PTE is mapped
/// writable at once. Linux also allows it when `folio_ref_count == 1`,
/// i.e. the page is in no cache and unmapped; ours always comes from the
/// swap cache, so that never holds here. (This is mainline since Dec 2025,
/// 7.0, which frees the slot *after* mapping; 6.18 ran
/// `should_try_to_free_swap` first, so there a write fault on a shared
/// entry whose other holders had all gone could map writable at once
/// instead of going through `do_wp_page`'s reuse. Same outcome, one
/// counter apart: `pgfault_wp_reuse`.) A shared entry (fork duplicated
/// it) is mapped read-only and counted in `swapin_nonexclusive`; a write
/// to it goes through `do_wp_page`, which reuses the page if the others
/// have let go of it by then and copies it otherwise.
#[allow(clippy::too_many_arguments)]
pub(super) fn map_swap_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    pfn: Pfn,
    entry: SwapEntry,
    is_exclusive: bool,
    how: MapHow,
) -> bool {
    let is_writable = is_exclusive && vma.is_writable();
    let young = if how.is_young { _PAGE_ACCESSED } else { 0 };
    let mut pte_flags = vma.pte_flags(is_writable) | young;
    if how.is_dirty && is_writable {
        pte_flags |= _PAGE_DIRTY;
    }
    st.mm_mut(mm)
        .pgtable_mut()
        .set_pte(address, Pte::new(pfn_to_pa(pfn), pte_flags))
        .expect("the table holding the swap PTE exists");
    page_add_anon_rmap(st, pfn, mm, address, is_exclusive);
    if !is_exclusive {
        count_vm_event(VmEvent::SwapinNonExclusive);
    }
    st.swap.as_mut().expect("swap").swap_free(entry);
    if should_try_to_free_swap(st, pfn, how.is_write_fault) {
        folio_free_swap(st, pfn);
    }
    is_writable
}

/// Linux `should_try_to_free_swap`, our decision on keeping the slot after
/// swap-in. Free it on a `SWP_SYNCHRONOUS_IO` device (zram: always), when
/// swap is more than half full (`vm_swap_full`), or on a write fault when
/// this mapping is the page's only user (Linux: `folio_ref_count ==
/// extra_refs + nr_pages`; ours: one mapping, the one just made), since
/// the copy on disk is about to be stale anyway. Otherwise keep it: if
/// the page stays clean, reclaim can drop it later without writing
/// (policy "keep-slot" of the reference). A page loaded from zswap is
/// dirty either way (exclusive load), so it gains nothing from keeping the
/// slot but keeps it by the same rule, as in Linux (the test uses the
/// backing device's flags, not zswap's). No mlock here. Freeing still
/// fails while another PTE holds the entry (`folio_free_swap`).
fn should_try_to_free_swap(st: &MmState, pfn: Pfn, is_write: bool) -> bool {
    // LAB 2 BEGIN should_try_to_free_swap
    // LAB 2 STANDIN: let _ = (st, pfn, is_write);
    // LAB 2 STANDIN: false
    let page = st.mem_map.get(pfn);
    if !page.test(flags::SWAPCACHE) {
        return false;
    }
    let swap = st.swap.as_ref().expect("swap");
    if swap.is_synchronous() || swap.vm_swap_full() {
        return true;
    }
    is_write && page.mapcount == 1
    // LAB 2 END should_try_to_free_swap
}

/// Linux `folio_free_swap`: if no PTE refers to the slot any more and no
/// write is in flight, take the page out of the swap cache (freeing the
/// slot) and mark it dirty: RAM now holds the only copy.
pub fn folio_free_swap(st: &mut MmState, pfn: Pfn) -> bool {
    let page = *st.mem_map.get(pfn);
    if !page.test(flags::SWAPCACHE) || page.test(flags::WRITEBACK) {
        return false;
    }
    let entry = SwapEntry::new(page.swap_offset);
    if st.swap.as_ref().expect("swap").swap_count(entry) != 0 {
        return false;
    }
    delete_from_swap_cache(st, pfn);
    st.mem_map.get_mut(pfn).set(flags::DIRTY);
    true
}
