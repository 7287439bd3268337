//! Reverse mapping of anonymous pages (Linux mm/rmap.c: `anon_vma`,
//! `rmap_walk_anon`, `folio_referenced`, `try_to_unmap`,
//! `folio_add_anon_rmap_ptes`, `folio_remove_rmap_ptes`).
//!
//! Reclaim starts from a page and must find every PTE that maps it: after
//! fork a page can be mapped by the parent and by each child. Linux links
//! each VMA to an `anon_vma` and each anonymous folio to the `anon_vma` of
//! the VMA it was first mapped in; a walk visits the VMAs linked to it and
//! looks at the one address the page can have in each (`folio->index`).
//!
//! Simplification: one `anon_vma` per *fork family* (an address space made
//! from scratch starts a family; fork adds the child to its parent's), not
//! one per VMA with the `anon_vma_chain` tree. A walk therefore visits
//! every address space of the family and checks the PTE at the page's
//! address, which is what Linux's walk does per VMA. It visits address
//! spaces that no longer share the page too (after a copy-on-write), which
//! costs a PTE lookup each, as Linux's walk costs for VMAs whose copy
//! moved on. Addresses never change (no mremap), so the page's one
//! address is right in every member.

use alloc::vec::Vec;

use super::memory::folio_free_swap;
use super::page::{flags, pfn_to_pa, Pfn, Rmap};
use super::pgtable::Pte;
use super::state::MmState;
use super::swap::{swp_entry_to_pte, SwapEntry};
use super::vmstat::{count_vm_event, VmEvent};
use crate::arch::paging::_PAGE_ACCESSED;

/// Linux `struct anon_vma`, one per fork family: its address spaces.
#[derive(Debug, Default)]
pub struct AnonVma {
    pub mms: Vec<usize>,
}

/// Linux `anon_vma_alloc` for a new address space `mm`: a new family.
pub fn anon_vma_alloc(st: &mut MmState, mm: usize) -> u16 {
    let av = AnonVma {
        mms: alloc::vec![mm],
    };
    let i = match st.anon_vmas.iter().position(Option::is_none) {
        Some(i) => {
            st.anon_vmas[i] = Some(av);
            i
        }
        None => {
            st.anon_vmas.push(Some(av));
            st.anon_vmas.len() - 1
        }
    };
    u16::try_from(i).expect("more than 65535 fork families")
}

/// Linux `anon_vma_fork`: the child `mm` joins family `av`.
pub fn anon_vma_fork(st: &mut MmState, av: u16, mm: usize) {
    family_mut(st, av).mms.push(mm);
}

/// Linux `unlink_anon_vmas`: `mm` leaves family `av` (at exit); the last
/// one out frees it.
pub fn unlink_anon_vma(st: &mut MmState, av: u16, mm: usize) {
    let family = family_mut(st, av);
    family.mms.retain(|&m| m != mm);
    if family.mms.is_empty() {
        st.anon_vmas[av as usize] = None;
    }
}

fn family_mut(st: &mut MmState, av: u16) -> &mut AnonVma {
    st.anon_vmas[av as usize]
        .as_mut()
        .expect("no such anon_vma")
}

/// Linux `rmap_walk_anon`: calls `f(st, mm, va, pte)` for every PTE that
/// maps `pfn`. `f` may change page tables, not the family.
fn rmap_walk(st: &mut MmState, pfn: Pfn, mut f: impl FnMut(&mut MmState, usize, u64, Pte)) {
    let Some(rmap) = st.mem_map.get(pfn).mapping else {
        return;
    };
    let pa = pfn_to_pa(pfn);
    let nr = st.anon_vmas[rmap.anon_vma as usize]
        .as_ref()
        .map_or(0, |a| a.mms.len());
    for i in 0..nr {
        let mm = st.anon_vmas[rmap.anon_vma as usize]
            .as_ref()
            .expect("family of a mapped page")
            .mms[i];
        let pte = st.mm(mm).pgtable().get_pte(rmap.va);
        if let Some(pte) = pte.filter(|p| p.is_present() && p.pa() == pa) {
            f(st, mm, rmap.va, pte);
        }
    }
}

/// Linux `folio_add_new_anon_rmap` / `folio_add_anon_rmap_ptes`: one more
/// PTE of address space `mm` maps `pfn` at `va`. `exclusive`: the mapping
/// is the page's only one and may be written (`RMAP_EXCLUSIVE`).
pub fn page_add_anon_rmap(st: &mut MmState, pfn: Pfn, mm: usize, va: u64, exclusive: bool) {
    let anon_vma = st.mm(mm).anon_vma();
    let page = st.mem_map.get_mut(pfn);
    if page.mapcount == 0 {
        page.mapping = Some(Rmap { anon_vma, va });
    }
    debug_assert_eq!(page.mapping.map(|r| r.va), Some(va));
    page.mapcount = page.mapcount.checked_add(1).expect("mapcount overflow");
    if exclusive {
        debug_assert_eq!(page.mapcount, 1, "an exclusive page has one mapping");
        page.set(flags::ANON_EXCLUSIVE);
    }
    st.mm_mut(mm).rss_anon += 1;
}

/// Linux `folio_remove_rmap_ptes` for one PTE (already cleared by the
/// caller, who also counts its address space's `rss_anon` down). Returns
/// the mappings left. The last one out forgets the reverse map; the caller
/// decides the page's fate ([`put_unmapped_anon`]).
pub fn page_remove_rmap(st: &mut MmState, pfn: Pfn) -> u16 {
    let page = st.mem_map.get_mut(pfn);
    page.mapcount = page.mapcount.checked_sub(1).expect("mapcount underflow");
    if page.mapcount == 0 {
        page.mapping = None;
        page.clear(flags::ANON_EXCLUSIVE);
    }
    page.mapcount
}

/// The page may have lost its last mapping (munmap, exit, a
/// copy-on-write, the last swap reference dropped): Linux
/// `free_swap_cache` + `folio_put` in the TLB batch free. A page in the
/// swap cache leaves it if no swap PTE still refers to its slot and no
/// write is in flight (`folio_free_swap`); else it stays cached,
/// unmapped, for those PTEs' faults, until reclaim takes it. A page in no
/// cache is freed.
pub fn put_unmapped_anon(st: &mut MmState, pfn: Pfn) {
    let page = *st.mem_map.get(pfn);
    if page.mapcount != 0 {
        return;
    }
    if page.test(flags::SWAPCACHE) && !folio_free_swap(st, pfn) {
        return;
    }
    super::vmscan::release_page(st, pfn);
}

/// Linux `folio_referenced`: test and clear the accessed bit of every PTE
/// that maps `pfn`; returns how many were young.
pub fn folio_referenced(st: &mut MmState, pfn: Pfn) -> usize {
    // LAB 3 BEGIN folio_referenced
    // LAB 3 STANDIN: // Before lab 3 no page is ever seen referenced.
    // LAB 3 STANDIN: let _ = (st, pfn);
    // LAB 3 STANDIN: 0
    let mut young = 0;
    rmap_walk(st, pfn, |st, mm, va, pte| {
        if !pte.is_young() {
            return;
        }
        st.mm_mut(mm)
            .pgtable_mut()
            .set_pte(va, Pte::from_raw(pte.raw() & !_PAGE_ACCESSED))
            .expect("table exists");
        young += 1;
    });
    if young > 0 {
        // Used since it was mapped: not a wasted map-around.
        st.mem_map.get_mut(pfn).clear(flags::MAPAROUND);
    }
    young
    // LAB 3 END folio_referenced
}

/// Linux `try_to_unmap` → `try_to_unmap_one` for every PTE of a page in
/// the swap cache: the PTE becomes a swap entry (exclusive if the page was
/// `PageAnonExclusive`), its dirty bit moves to the page, and the slot's
/// swap count goes up by one per PTE (`folio_dup_swap`).
pub fn try_to_unmap(st: &mut MmState, pfn: Pfn) {
    // LAB 2 BEGIN try_to_unmap
    // LAB 2 STANDIN: let _ = (st, pfn);
    // LAB 2 STANDIN: unreachable!("lab 2 stand-in: add_to_swap never succeeds before lab 2")
    let page = *st.mem_map.get(pfn);
    let entry = SwapEntry::new(page.swap_offset);
    let exclusive = page.test(flags::ANON_EXCLUSIVE);
    let mut dirty = false;
    let mut young = false;
    rmap_walk(st, pfn, |st, id, va, old| {
        let mm = st.mm_mut(id);
        // One write replaces the PTE (and flushes it from the TLB).
        mm.pgtable_mut()
            .set_pte(va, swp_entry_to_pte(entry, exclusive))
            .expect("table exists");
        mm.rss_anon -= 1;
        dirty |= old.is_dirty();
        young |= old.is_young();
        page_remove_rmap(st, pfn);
        st.swap.as_mut().expect("swap").swap_duplicate(entry);
    });
    assert_eq!(
        st.mem_map.get(pfn).mapcount,
        0,
        "try_to_unmap left a mapping the reverse map does not reach"
    );
    if dirty {
        st.mem_map.get_mut(pfn).set(flags::DIRTY);
    }
    let never_used = !young && st.mem_map.get_mut(pfn).test_and_clear(flags::MAPAROUND);
    if never_used {
        count_vm_event(VmEvent::SwapMapAroundWasted);
    }
    // LAB 2 END try_to_unmap
}
