//! Copy-on-write: fork's copy of an address space and the write fault on a
//! page fork shared (Linux kernel/fork.c `dup_mm`, mm/mmap.c `dup_mmap`,
//! mm/memory.c `copy_page_range` → `copy_present_pte` /
//! `copy_nonpresent_pte`, and `do_wp_page` → `wp_page_reuse` /
//! `wp_page_copy`).
//!
//! Fork copies no page. Every present anonymous PTE is made read-only in
//! parent and child, and the page gains a mapping and loses
//! `ANON_EXCLUSIVE`; every swap PTE gains a swap count (`swap_duplicate`)
//! and loses its exclusive bit in both. The first write on either side
//! faults: `do_wp_page` writes the page in place if it turns out to be
//! the writer's alone (the other side copied it already or exited), and
//! copies it otherwise.

use super::memory::{
    add_new_anon_page, alloc_charged_page, alloc_zeroed_charged_page, folio_free_swap, FaultError,
};
use super::mm_types::{MmHandle, MmStruct, Vma, TASK_SIZE};
use super::page::{flags, pa_to_pfn, pfn_to_pa, Pfn};
use super::pgtable::{walk_leaves, Pte};
use super::rmap::{anon_vma_fork, page_remove_rmap, put_unmapped_anon};
use super::state::{with_mm_state, MmState};
use super::swap::{pte_to_swp_entry, swp_entry_to_pte};
use super::vmscan::release_page;
use super::vmstat::{count_vm_event, VmEvent};
use super::{phys_to_virt, OutOfMemory, PAGE_SIZE};
use crate::arch::paging::{_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW};

/// Linux `dup_mm`: a copy of address space `parent`, named `name`, in the
/// parent's fork family. Fails only when a page-table page cannot be had
/// (Linux: fork returns `-ENOMEM`); what was copied so far is undone.
pub fn dup_mm(parent: usize, name: &str) -> Result<MmHandle, OutOfMemory> {
    let mut child = MmStruct::new(name)?;
    let av = with_mm_state(|st| {
        child.copy_vmas_from(st.mm(parent));
        st.mm(parent).anon_vma()
    });
    let id = with_mm_state(|st| {
        let id = st.register_mm(child);
        anon_vma_fork(st, av, id);
        st.mm_mut(id).set_anon_vma(av);
        id
    });
    let handle = MmHandle::from_registered(id);
    match with_mm_state(|st| copy_page_range(st, parent, id)) {
        Ok(()) => Ok(handle),
        Err(e) => {
            drop(handle); // exit_mmap undoes every count taken so far
            Err(e)
        }
    }
}

/// Linux `copy_page_range` over the whole lower half.
fn copy_page_range(st: &mut MmState, src: usize, dst: usize) -> Result<(), OutOfMemory> {
    let pgd = st.mm(src).pgtable().pgd_pa();
    walk_leaves(pgd, 0, TASK_SIZE, &mut |va, pte| {
        if pte.is_present() {
            copy_present_pte(st, dst, va, pte)
        } else {
            copy_nonpresent_pte(st, dst, va, pte)
        }
    })
}

/// Writes the child's copy of a PTE. It comes first in each copy: if its
/// page table cannot be had, nothing has changed yet.
fn set_child_pte(st: &mut MmState, dst: usize, va: u64, pte: Pte) -> Result<(), OutOfMemory> {
    st.mm_mut(dst)
        .pgtable_mut()
        .set_pte(va, pte)
        .map_err(|_| OutOfMemory)
}

/// Linux `copy_present_pte`: the child maps the same page, old
/// (`pte_mkold`), and both sides lose write permission so that the first
/// write copies (`__copy_present_ptes`: `wrprotect_ptes` on the parent).
/// Returns the parent's new PTE, if it changes.
fn copy_present_pte(
    st: &mut MmState,
    dst: usize,
    va: u64,
    pte: Pte,
) -> Result<Option<Pte>, OutOfMemory> {
    let pfn = pa_to_pfn(pte.pa());
    let shared = Pte::from_raw(pte.raw() & !_PAGE_RW);
    let child = Pte::from_raw(shared.raw() & !_PAGE_ACCESSED);
    set_child_pte(st, dst, va, child)?;
    if pfn == st.zero_pfn {
        return Ok(None); // shared by everyone, never counted
    }
    // Linux `folio_try_dup_anon_rmap_pte`: one more mapping, no longer
    // exclusive to anyone.
    let page = st.mem_map.get_mut(pfn);
    page.mapcount = page.mapcount.checked_add(1).expect("mapcount overflow");
    page.clear(flags::ANON_EXCLUSIVE);
    st.mm_mut(dst).rss_anon += 1;
    // The walk writes the parent's PTE back write-protected.
    Ok(pte.is_writable().then_some(shared))
}

/// Linux `copy_nonpresent_pte` for a swap PTE: one more reference to the
/// slot (`swap_duplicate`), and neither side exclusive any more.
/// Returns the parent's new PTE, if it changes.
fn copy_nonpresent_pte(
    st: &mut MmState,
    dst: usize,
    va: u64,
    pte: Pte,
) -> Result<Option<Pte>, OutOfMemory> {
    let (entry, was_exclusive) = pte_to_swp_entry(pte).expect("a swap entry");
    let shared = swp_entry_to_pte(entry, false);
    set_child_pte(st, dst, va, shared)?;
    st.swap.as_mut().expect("swap").swap_duplicate(entry);
    // The walk writes the parent's PTE back without its exclusive bit.
    Ok(was_exclusive.then_some(shared))
}

/// Linux `do_wp_page`: a write to a present, read-only PTE of a writable
/// VMA. The zero page is always copied (to a zeroed page); an anonymous
/// page is written in place if it is the writer's alone, else copied.
pub(super) fn do_wp_page(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    orig: Pte,
) -> Result<(), FaultError> {
    let pfn = pa_to_pfn(orig.pa());
    if pfn == st.zero_pfn {
        return wp_page_copy(st, mm, vma, address, orig, None);
    }
    // LAB 6 BEGIN do_wp_page
    // LAB 6 STANDIN: // Before lab 6 every write to a shared page copies it (never reuses).
    // LAB 6 STANDIN: wp_page_copy(st, mm, vma, address, orig, Some(pfn))
    if wp_can_reuse_anon_folio(st, pfn) {
        wp_page_reuse(st, mm, address, pfn, orig);
        return Ok(());
    }
    wp_page_copy(st, mm, vma, address, orig, Some(pfn))
    // LAB 6 END do_wp_page
}

/// Linux `wp_can_reuse_anon_folio`: the page is the writer's alone if it
/// is marked exclusive, or if this is its only mapping and it can leave
/// the swap cache (no other PTE holds its slot, no write in flight), so
/// that its reference count would be one.
fn wp_can_reuse_anon_folio(st: &mut MmState, pfn: Pfn) -> bool {
    // LAB 6 BEGIN wp_can_reuse_anon_folio
    // LAB 6 STANDIN: let _ = (st, pfn);
    // LAB 6 STANDIN: false
    let page = *st.mem_map.get(pfn);
    if page.test(flags::ANON_EXCLUSIVE) {
        return true;
    }
    if page.mapcount != 1 {
        return false;
    }
    if page.test(flags::SWAPCACHE) {
        folio_free_swap(st, pfn);
    }
    !st.mem_map.get(pfn).test(flags::SWAPCACHE)
    // LAB 6 END wp_can_reuse_anon_folio
}

/// Linux `wp_page_reuse`: make the PTE writable (and dirty, young) and the
/// page exclusive again (`folio_move_anon_rmap`: same family here).
fn wp_page_reuse(st: &mut MmState, mm: usize, address: u64, pfn: Pfn, orig: Pte) {
    let pte = Pte::from_raw(orig.raw() | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
    st.mm_mut(mm)
        .pgtable_mut()
        .set_pte(address, pte)
        .expect("the PTE's table exists");
    st.mem_map.get_mut(pfn).set(flags::ANON_EXCLUSIVE);
    count_vm_event(VmEvent::PgFaultWpReuse);
}

/// Linux `wp_page_copy`: a new private page with the old one's content
/// (zeros for the zero page) replaces it in this PTE; the old page loses
/// a mapping and is freed if that was its last (and it is in no cache).
/// The allocation may reclaim, so the PTE is checked again afterwards
/// (Linux: `pte_same` under the PTL); if it changed, the fault ends and
/// the access faults again if it must.
fn wp_page_copy(
    st: &mut MmState,
    mm: usize,
    vma: &Vma,
    address: u64,
    orig: Pte,
    old: Option<Pfn>,
) -> Result<(), FaultError> {
    let new = match old {
        None => alloc_zeroed_charged_page(st)?,
        Some(_) => alloc_charged_page(st)?,
    };
    if st.mm(mm).pgtable().get_pte(address) != Some(orig) {
        release_page(st, new);
        return Ok(());
    }
    if let Some(old) = old {
        // SAFETY: both frames are in the direct map; `new` was just
        // allocated for us and `old` is mapped (so allocated) and not
        // being read into (it is present in a PTE).
        unsafe {
            core::ptr::copy_nonoverlapping(
                phys_to_virt(pfn_to_pa(old)) as *const u8,
                phys_to_virt(pfn_to_pa(new)) as *mut u8,
                PAGE_SIZE as usize,
            )
        };
    }
    let flags = vma.pte_flags(true) | _PAGE_ACCESSED | _PAGE_DIRTY;
    st.mm_mut(mm)
        .pgtable_mut()
        .set_pte(address, Pte::new(pfn_to_pa(new), flags))
        .expect("the PTE's table exists");
    if let Some(old) = old {
        st.mm_mut(mm).rss_anon -= 1;
        page_remove_rmap(st, old);
        put_unmapped_anon(st, old);
    }
    add_new_anon_page(st, mm, new, address);
    count_vm_event(VmEvent::PgFaultWpCopy);
    Ok(())
}
