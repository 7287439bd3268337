//! Our own 4-level page-table walker (Linux: `pgd_offset`/`pud_offset`/
//! `pmd_offset`/`pte_offset_map` and the `__pte_alloc` family; xv6: `walk`).
//!
//! Every table page is reached through the direct map. A *non-present* entry
//! whose value is not zero is a software value (a swap entry, later) and the
//! walker never touches it: only [`PageTable::set_pte`] writes it and only
//! [`PageTable::get_pte`] / [`PageTable::clear_pte`] read it back. An entry
//! that is exactly zero is "none" (Linux `pte_none`).

use crate::arch::paging::{
    flush_tlb_page, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_NX, _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW,
    _PAGE_USER, PAGE_SIZE, PMD_SIZE, PTE_PFN_MASK, PTRS_PER_TABLE,
};

use super::page_alloc::{alloc_zeroed_page, free_page};
use super::{phys_to_virt, OutOfMemory};

/// One page-table entry at any level (Linux `pte_t`, `pmd_t`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Pte(u64);

impl Pte {
    /// The empty entry (Linux `pte_none`).
    pub const NONE: Pte = Pte(0);

    pub const fn from_raw(raw: u64) -> Pte {
        Pte(raw)
    }

    /// Linux `mk_pte` / `pfn_pte`: a present entry for frame `pa`.
    pub const fn new(pa: u64, flags: u64) -> Pte {
        Pte((pa & PTE_PFN_MASK) | flags | _PAGE_PRESENT)
    }

    pub const fn raw(self) -> u64 {
        self.0
    }

    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    pub const fn is_present(self) -> bool {
        self.0 & _PAGE_PRESENT != 0
    }

    /// Not present, but not zero: software owns the value (e.g. a swap entry).
    pub const fn is_software(self) -> bool {
        !self.is_present() && !self.is_none()
    }

    pub const fn is_huge(self) -> bool {
        self.0 & _PAGE_PSE != 0
    }

    /// The physical address this entry points at.
    pub const fn pa(self) -> u64 {
        self.0 & PTE_PFN_MASK
    }

    pub const fn is_writable(self) -> bool {
        self.0 & _PAGE_RW != 0
    }

    pub const fn is_young(self) -> bool {
        self.0 & _PAGE_ACCESSED != 0
    }

    pub const fn is_dirty(self) -> bool {
        self.0 & _PAGE_DIRTY != 0
    }
}

/// Flags for intermediate tables: the leaf decides the real permissions.
const TABLE_FLAGS: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER;

/// Index of `va` in the table at `level` (4 = pgd, 3 = pud, 2 = pmd, 1 = pte).
#[inline]
pub const fn table_index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Pointer to entry `index` of the table page at physical `table_pa`.
#[inline]
fn entry_ptr(table_pa: u64, index: usize) -> *mut u64 {
    debug_assert!(index < PTRS_PER_TABLE);
    (phys_to_virt(table_pa) as *mut u64).wrapping_add(index)
}

#[inline]
fn read_entry(table_pa: u64, index: usize) -> Pte {
    // SAFETY: table pages are owned by a `PageTable` and mapped in the
    // direct map; entries are plain u64s and `index < 512`.
    Pte(unsafe { entry_ptr(table_pa, index).read_volatile() })
}

#[inline]
fn write_entry(table_pa: u64, index: usize, pte: Pte) {
    // SAFETY: as for `read_entry`; the caller owns the table.
    unsafe { entry_ptr(table_pa, index).write_volatile(pte.0) }
}

/// Why a mapping request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    OutOfMemory,
    /// The leaf entry is not none (present, or holding a software value).
    AlreadyMapped(Pte),
    /// A huge page sits on the path; we do not split huge pages.
    HugePageInTheWay,
}

impl From<OutOfMemory> for MapError {
    fn from(_: OutOfMemory) -> Self {
        MapError::OutOfMemory
    }
}

/// A tree of page tables rooted at one pgd page.
///
/// It owns its intermediate table pages (and frees them on
/// [`PageTable::free_user_tables`]) but never the frames that leaf entries
/// point at: those belong to whoever mapped them.
#[derive(Debug)]
pub struct PageTable {
    pgd_pa: u64,
    /// Table pages below the pgd that this tree allocated (Linux
    /// `mm->pgtables_bytes / PAGE_SIZE`).
    nr_table_pages: usize,
}

impl PageTable {
    /// A fresh, empty tree.
    pub fn new() -> Result<PageTable, OutOfMemory> {
        Ok(PageTable {
            pgd_pa: alloc_zeroed_page()?,
            nr_table_pages: 0,
        })
    }

    /// A view of a tree we do not own (the bootloader's), for reading only.
    /// `PageTable` has no destructor, so dropping the view frees nothing.
    pub fn borrow_root(pgd_pa: u64) -> PageTable {
        PageTable {
            pgd_pa,
            nr_table_pages: 0,
        }
    }

    /// Physical address of the pgd page (what goes into CR3).
    pub fn pgd_pa(&self) -> u64 {
        self.pgd_pa
    }

    /// Table pages allocated below the pgd.
    pub fn nr_table_pages(&self) -> usize {
        self.nr_table_pages
    }

    /// Copies pgd entries `range` from another tree: how every address space
    /// shares the kernel half (Linux `pgd_alloc` → `clone_pgd_range`).
    pub fn share_pgd_entries(&mut self, from: &PageTable, range: core::ops::Range<usize>) {
        for i in range {
            write_entry(self.pgd_pa, i, read_entry(from.pgd_pa, i));
        }
    }

    /// Walks down to the table page of `level` that covers `va`, allocating
    /// missing tables when `alloc` is set. Returns its physical address.
    fn walk_to(&mut self, va: u64, level: u32, alloc: bool) -> Result<Option<u64>, MapError> {
        let mut table = self.pgd_pa;
        for lvl in (level + 1..=4).rev() {
            let idx = table_index(va, lvl);
            let entry = read_entry(table, idx);
            if entry.is_present() {
                if entry.is_huge() {
                    return Err(MapError::HugePageInTheWay);
                }
                table = entry.pa();
                continue;
            }
            if !alloc {
                return Ok(None);
            }
            assert!(
                entry.is_none(),
                "software value {entry:?} in a level-{lvl} entry"
            );
            let new = alloc_zeroed_page()?;
            self.nr_table_pages += 1;
            super::vmstat::count_vm_event(super::vmstat::VmEvent::PgtableAlloc);
            write_entry(table, idx, Pte::new(new, TABLE_FLAGS));
            table = new;
        }
        Ok(Some(table))
    }

    /// Read-only walk (no allocation) down to the table of `level`.
    fn lookup_table(&self, va: u64, level: u32) -> Option<u64> {
        let mut table = self.pgd_pa;
        for lvl in (level + 1..=4).rev() {
            let entry = read_entry(table, table_index(va, lvl));
            if !entry.is_present() || entry.is_huge() {
                return None;
            }
            table = entry.pa();
        }
        Some(table)
    }

    /// Linux `pte_offset_map` + read: the leaf entry for `va`, or `None` if
    /// no last-level table covers it (which also means "none").
    pub fn get_pte(&self, va: u64) -> Option<Pte> {
        let table = self.lookup_table(va, 1)?;
        Some(read_entry(table, table_index(va, 1)))
    }

    /// Linux `set_pte_at`: writes any value (present or software) into the
    /// leaf entry for `va`, allocating tables on the way. Flushes the TLB
    /// entry if a present mapping was replaced.
    pub fn set_pte(&mut self, va: u64, pte: Pte) -> Result<(), MapError> {
        let table = self.walk_to(va, 1, true)?.expect("alloc walk");
        let idx = table_index(va, 1);
        let old = read_entry(table, idx);
        write_entry(table, idx, pte);
        if old.is_present() {
            flush_tlb_page(va);
        }
        Ok(())
    }

    /// Maps one 4 KiB page. Fails if the entry is not none.
    pub fn map_page(&mut self, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
        let table = self.walk_to(va, 1, true)?.expect("alloc walk");
        let idx = table_index(va, 1);
        let old = read_entry(table, idx);
        if !old.is_none() {
            return Err(MapError::AlreadyMapped(old));
        }
        write_entry(table, idx, Pte::new(pa, flags));
        Ok(())
    }

    /// Maps one 2 MiB page with a pmd-level PS entry (used for the direct map).
    pub fn map_huge_pmd(&mut self, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
        assert!(
            va.is_multiple_of(PMD_SIZE) && pa.is_multiple_of(PMD_SIZE),
            "unaligned 2 MiB page"
        );
        let table = self.walk_to(va, 2, true)?.expect("alloc walk");
        let idx = table_index(va, 2);
        let old = read_entry(table, idx);
        if !old.is_none() {
            return Err(MapError::AlreadyMapped(old));
        }
        write_entry(table, idx, Pte::new(pa, flags | _PAGE_PSE));
        Ok(())
    }

    /// Linux `ptep_get_and_clear`: empties the leaf entry for `va` and
    /// returns what it held (present or software), flushing the TLB.
    pub fn clear_pte(&mut self, va: u64) -> Option<Pte> {
        // LAB 1 BEGIN clear_pte
        let table = self.lookup_table(va, 1)?;
        let idx = table_index(va, 1);
        let old = read_entry(table, idx);
        write_entry(table, idx, Pte::NONE);
        if old.is_present() {
            flush_tlb_page(va);
        }
        Some(old)
        // LAB 1 END clear_pte
    }

    /// The physical address `va` maps to, following 1 GiB and 2 MiB pages.
    pub fn translate(&self, va: u64) -> Option<u64> {
        let mut table = self.pgd_pa;
        for lvl in (1..=4).rev() {
            let entry = read_entry(table, table_index(va, lvl));
            if !entry.is_present() {
                return None;
            }
            let is_leaf = lvl == 1 || (entry.is_huge() && lvl <= 3);
            if is_leaf {
                let span = PAGE_SIZE << (9 * (lvl - 1));
                return Some(entry.pa() + (va & (span - 1)));
            }
            table = entry.pa();
        }
        None
    }

    /// The leaf flags (permissions) `va` is mapped with, if present.
    pub fn leaf_flags(&self, va: u64) -> Option<u64> {
        let mut table = self.pgd_pa;
        for lvl in (1..=4).rev() {
            let entry = read_entry(table, table_index(va, lvl));
            if !entry.is_present() {
                return None;
            }
            if lvl == 1 || entry.is_huge() {
                return Some(entry.raw() & !PTE_PFN_MASK);
            }
            table = entry.pa();
        }
        None
    }

    /// Linux `free_pgtables` for the lower half (pgd entries `0..256`):
    /// calls `leaf(va, pte)` for every leaf entry that is not none, then
    /// frees every table page below the pgd. Returns the number of table
    /// pages freed. The caller frees the frames `leaf` is told about.
    pub fn free_user_tables(&mut self, mut leaf: impl FnMut(u64, Pte)) -> usize {
        let walk = walk_table(self.pgd_pa, 4, 0, 0, USER_END, true, &mut |va, pte| {
            leaf(va, pte);
            Ok::<_, core::convert::Infallible>(None)
        });
        let Ok(freed) = walk;
        self.nr_table_pages -= freed;
        freed
    }

    /// Frees the pgd page itself. The tree must hold no user tables any more.
    pub fn free_pgd(self) {
        debug_assert_eq!(self.nr_table_pages, 0, "user tables still allocated");
        free_page(self.pgd_pa);
    }
}

/// End of the lower half, the user addresses every walk stays below.
const USER_END: u64 = 1 << 47;

/// Calls `f(va, pte)` for every leaf entry that is not none in
/// `[start, end)` of the lower half of the tree rooted at `pgd_pa`, in
/// address order, stopping at the first error (Linux walks
/// `pte_offset_map` per table in `zap_pte_range` and `copy_pte_range`).
/// When `f` returns `Some(new)`, the entry becomes `new` (with a TLB
/// flush if it was present), in the same walk. Missing tables are skipped
/// whole, so a sparse range costs what it holds, and nothing is
/// collected: the walk needs no memory however large the range. It
/// borrows no `PageTable`, so `f` may change other trees, but must not
/// free table pages.
pub fn walk_leaves<E>(
    pgd_pa: u64,
    start: u64,
    end: u64,
    f: &mut impl FnMut(u64, Pte) -> Result<Option<Pte>, E>,
) -> Result<(), E> {
    walk_table(pgd_pa, 4, 0, start, end.min(USER_END), false, f).map(|_| ())
}

/// The walk behind [`walk_leaves`] and [`PageTable::free_user_tables`]:
/// the table at `table_pa` (of `level`) covers addresses from `base`.
/// With `free`, every table below it is freed once visited (and its
/// entry cleared); only for the whole lower half. Returns the table pages
/// freed.
fn walk_table<E>(
    table_pa: u64,
    level: u32,
    base: u64,
    start: u64,
    end: u64,
    free: bool,
    f: &mut impl FnMut(u64, Pte) -> Result<Option<Pte>, E>,
) -> Result<usize, E> {
    // LAB 1 BEGIN walk_table
    let span = PAGE_SIZE << (9 * (level - 1));
    let mut freed = 0;
    for i in 0..PTRS_PER_TABLE {
        let va = base + i as u64 * span;
        if va >= end {
            break;
        }
        if va + span <= start {
            continue;
        }
        let e = read_entry(table_pa, i);
        if e.is_none() {
            continue;
        }
        if level == 1 || e.is_huge() || !e.is_present() {
            if let Some(new) = f(va, e)? {
                write_entry(table_pa, i, new);
                if e.is_present() {
                    flush_tlb_page(va);
                }
            }
        } else {
            freed += walk_table(e.pa(), level - 1, va, start, end, free, f)?;
            if free {
                free_page(e.pa());
                write_entry(table_pa, i, Pte::NONE);
                freed += 1;
            }
        }
    }
    Ok(freed)
    // LAB 1 END walk_table
}

/// Leaf flags for a private anonymous page of a VMA with these
/// permissions (Linux `vm_get_page_prot`): user-accessible (ring 3
/// programs use it; ring-0 workloads can too, SMAP is off), executable
/// only in a program's text.
pub const fn vma_pte_flags(is_writable: bool, is_exec: bool) -> u64 {
    let rw = if is_writable { _PAGE_RW } else { 0 };
    let nx = if is_exec { 0 } else { _PAGE_NX };
    _PAGE_PRESENT | _PAGE_USER | rw | nx
}
