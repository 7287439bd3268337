//! Address spaces and their areas (Linux: `struct mm_struct` and
//! `struct vm_area_struct` in include/linux/mm_types.h; `do_mmap`,
//! `find_vma`, `exit_mmap` in mm/mmap.c).
//!
//! An address space owns a pgd whose upper half (entries 256..512) is
//! copied from the kernel's, so the kernel is mapped identically in every
//! address space. That copy is enough because the kernel never adds a pgd
//! entry after boot: all kernel ranges are set up before the first address
//! space exists.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::page::pa_to_pfn;
use super::page_io::drain_io;
use super::pgtable::{walk_leaves, PageTable, Pte};
use super::rmap::{page_remove_rmap, put_unmapped_anon};
use super::state::{current_mm_id, set_current_mm_id, with_mm_state, MmState};
use super::swap::{pte_to_swp_entry, SwapEntry};
use super::swap_state::SwapRaInfo;
use super::{OutOfMemory, PAGE_SIZE};
use crate::arch::paging::{write_cr3, PTRS_PER_TABLE};

/// Linux `vm_flags_t`: what accesses a VMA allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmFlags(u32);

impl VmFlags {
    pub const VM_READ: VmFlags = VmFlags(1 << 0);
    pub const VM_WRITE: VmFlags = VmFlags(1 << 1);
    pub const VM_EXEC: VmFlags = VmFlags(1 << 2);
    /// Readable and writable private anonymous memory.
    pub const ANON_RW: VmFlags = VmFlags(Self::VM_READ.0 | Self::VM_WRITE.0);

    pub const fn contains(self, other: VmFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: VmFlags) -> VmFlags {
        VmFlags(self.0 | other.0)
    }
}

/// Linux `struct vm_area_struct`: one contiguous range `[start, end)` of
/// private anonymous memory. (No file mappings; the `anon_vma` is the
/// address space's, see [`super::rmap`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub vm_start: u64,
    pub vm_end: u64,
    pub vm_flags: VmFlags,
    /// Linux `vma->swap_readahead_info` (VMA-mode readahead state).
    pub swap_readahead_info: SwapRaInfo,
}

impl Vma {
    pub fn contains(&self, addr: u64) -> bool {
        self.vm_start <= addr && addr < self.vm_end
    }

    pub fn is_writable(&self) -> bool {
        self.vm_flags.contains(VmFlags::VM_WRITE)
    }

    pub fn is_exec(&self) -> bool {
        self.vm_flags.contains(VmFlags::VM_EXEC)
    }

    /// Leaf PTE flags for a page of this VMA, writable or not.
    pub fn pte_flags(&self, is_writable: bool) -> u64 {
        super::pgtable::vma_pte_flags(is_writable, self.is_exec())
    }
}

/// Why `mmap_anon` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmapError {
    /// Not page aligned, empty, or reaching into the kernel half.
    Invalid,
    /// Overlaps an existing VMA (we model `MAP_FIXED_NOREPLACE`).
    Overlap,
}

/// Linux `struct mm_struct`.
pub struct MmStruct {
    /// The workload task that owns this address space (for reports).
    name: String,
    pgtable: PageTable,
    /// VMAs keyed by start address (Linux keeps a maple tree).
    vmas: BTreeMap<u64, Vma>,
    /// Resident anonymous pages (Linux `MM_ANONPAGES`).
    pub rss_anon: u64,
    /// The fork family's reverse-map root (see [`super::rmap`]), set when
    /// the address space is registered.
    anon_vma: u16,
}

/// End of the lower (user) half.
pub const TASK_SIZE: u64 = 0x0000_8000_0000_0000;

impl MmStruct {
    /// Linux `mm_alloc` + `pgd_alloc`: an empty address space that shares
    /// the kernel half of the page tables.
    pub fn new(name: &str) -> Result<MmStruct, OutOfMemory> {
        let mut pgtable = PageTable::new()?;
        let kernel = PageTable::borrow_root(super::init::init_mm_pgd_pa());
        pgtable.share_pgd_entries(&kernel, PTRS_PER_TABLE / 2..PTRS_PER_TABLE);
        Ok(MmStruct {
            name: String::from(name),
            pgtable,
            vmas: BTreeMap::new(),
            rss_anon: 0,
            anon_vma: u16::MAX,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its fork family (see [`super::rmap`]).
    pub fn anon_vma(&self) -> u16 {
        self.anon_vma
    }

    pub(super) fn set_anon_vma(&mut self, av: u16) {
        self.anon_vma = av;
    }

    /// Takes a copy of `other`'s VMAs, readahead state included (Linux
    /// `dup_mmap` → `vm_area_dup`).
    pub(super) fn copy_vmas_from(&mut self, other: &MmStruct) {
        self.vmas = other.vmas.clone();
    }

    /// How many VMAs it has (Linux `mm->map_count`).
    pub fn map_count(&self) -> usize {
        self.vmas.len()
    }

    /// Its VMAs, in address order.
    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Removes `[start, end)` from the VMAs, splitting those that straddle
    /// an edge (Linux `do_vmi_munmap` → `vma_shrink`/`__split_vma`). The
    /// pages must have been zapped by the caller.
    pub fn remove_vma_range(&mut self, start: u64, end: u64) {
        let hit: Vec<Vma> = self
            .vmas
            .values()
            .filter(|v| v.vm_start < end && start < v.vm_end)
            .copied()
            .collect();
        for v in hit {
            self.vmas.remove(&v.vm_start);
            if v.vm_start < start {
                self.vmas.insert(v.vm_start, Vma { vm_end: start, ..v });
            }
            if end < v.vm_end {
                self.vmas.insert(end, Vma { vm_start: end, ..v });
            }
        }
    }

    /// Moves the end of the VMA that starts at `start` (Linux `brk`'s
    /// `do_brk_flags` / `vma_shrink`). The caller checked for overlaps and
    /// zapped what a shrink drops.
    pub fn set_vma_end(&mut self, start: u64, end: u64) {
        let vma = self.vmas.get_mut(&start).expect("no VMA starts there");
        vma.vm_end = end;
    }

    /// Linux `get_unmapped_area` (bottom-up): the lowest `len`-byte gap at
    /// or above `from` that ends below `limit`.
    pub fn get_unmapped_area(&self, from: u64, len: u64, limit: u64) -> Option<u64> {
        let mut addr = from;
        for v in self.vmas.values() {
            if v.vm_end <= addr {
                continue;
            }
            if v.vm_start >= addr.checked_add(len)? {
                break;
            }
            addr = v.vm_end;
        }
        (addr.checked_add(len)? <= limit).then_some(addr)
    }

    pub fn pgtable(&self) -> &PageTable {
        &self.pgtable
    }

    pub fn pgtable_mut(&mut self) -> &mut PageTable {
        &mut self.pgtable
    }

    /// Linux `do_mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)`:
    /// adds a VMA. Pages are only allocated when first touched.
    pub fn mmap_anon(&mut self, start: u64, len: u64, flags: VmFlags) -> Result<Vma, MmapError> {
        let end = start.checked_add(len).ok_or(MmapError::Invalid)?;
        if len == 0
            || !start.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || end > TASK_SIZE
        {
            return Err(MmapError::Invalid);
        }
        let overlaps_prev = self.find_vma(start).is_some();
        let overlaps_next = self.vmas.range(start..end).next().is_some();
        if overlaps_prev || overlaps_next {
            return Err(MmapError::Overlap);
        }
        let vma = Vma {
            vm_start: start,
            vm_end: end,
            vm_flags: flags,
            swap_readahead_info: SwapRaInfo(0),
        };
        self.vmas.insert(start, vma);
        Ok(vma)
    }

    /// Linux `find_vma` (strict form, `vma_lookup`): the VMA containing
    /// `addr`, if any. O(log n).
    pub fn find_vma(&self, addr: u64) -> Option<Vma> {
        let (_, vma) = self.vmas.range(..=addr).next_back()?;
        vma.contains(addr).then_some(*vma)
    }

    /// The readahead state of the VMA containing `addr`.
    pub fn vma_ra_info_mut(&mut self, addr: u64) -> Option<&mut SwapRaInfo> {
        let (_, vma) = self.vmas.range_mut(..=addr).next_back()?;
        vma.contains(addr).then_some(&mut vma.swap_readahead_info)
    }
}

impl fmt::Debug for MmStruct {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("MmStruct")
            .field("name", &self.name)
            .field("vmas", &self.vmas.len())
            .field("rss_anon", &self.rss_anon)
            .finish()
    }
}

impl Drop for MmStruct {
    /// Frees the page tables. Pages must have been released first through
    /// [`exit_mmap`] (a registered address space always is).
    fn drop(&mut self) {
        self.pgtable.free_user_tables(|va, pte| {
            panic!(
                "address space {} dropped with {pte:?} still at {va:#x}",
                self.name
            )
        });
        let pgtable = core::mem::replace(&mut self.pgtable, PageTable::borrow_root(0));
        pgtable.free_pgd();
    }
}

/// Linux `exit_mmap` (`unmap_vmas` + `free_pgtables`): releases every page
/// and swap entry of address space `id`, then removes it. In-flight I/O is
/// drained first, so no completion can arrive for a freed page.
fn exit_mmap(st: &mut MmState, id: usize) {
    drain_io(st);
    let mut mm = st.unregister_mm(id);
    super::rmap::unlink_anon_vma(st, mm.anon_vma, id);
    let MmStruct {
        pgtable, rss_anon, ..
    } = &mut mm;
    pgtable.free_user_tables(|_, pte| zap_pte(st, rss_anon, pte));
    debug_assert_eq!(mm.rss_anon, 0);
}

/// Linux `zap_pte_range` for one PTE the caller has cleared: a page loses
/// a mapping (and is freed, or left in the swap cache, when it was the
/// last: [`put_unmapped_anon`]); a swap entry loses a reference.
/// `rss_anon`: the counter of the address space it belonged to.
pub(super) fn zap_pte(st: &mut MmState, rss_anon: &mut u64, pte: Pte) {
    if pte.is_present() {
        let pfn = pa_to_pfn(pte.pa());
        if pfn == st.zero_pfn {
            return; // shared, never freed
        }
        *rss_anon -= 1;
        if pte.is_dirty() {
            st.mem_map.get_mut(pfn).set(super::page::flags::DIRTY);
        }
        page_remove_rmap(st, pfn);
        put_unmapped_anon(st, pfn);
        return;
    }
    let (entry, _) = pte_to_swp_entry(pte).expect("non-present leaf is a swap entry");
    free_swap_and_cache(st, entry);
}

/// Linux `zap_page_range_single` (munmap, `MADV_DONTNEED`): clears every
/// PTE of address space `id` in `[start, end)`. Page tables stay (Linux
/// frees them in `free_pgtables` when the VMA goes; we free them at exit).
pub fn zap_page_range(st: &mut MmState, id: usize, start: u64, end: u64) {
    drain_io(st);
    let pgd = st.mm(id).pgtable().pgd_pa();
    let mut rss = st.mm(id).rss_anon;
    let walk = walk_leaves(pgd, start, end, &mut |_, pte| {
        zap_pte(st, &mut rss, pte);
        // The walk clears the entry (and flushes the TLB) in the same step.
        Ok::<_, core::convert::Infallible>(Some(Pte::NONE))
    });
    let Ok(()) = walk;
    st.mm_mut(id).rss_anon = rss;
}

/// Linux `free_swap_and_cache`: drop one reference to `entry`; if nothing
/// refers to it any more, also drop its swap-cache page unless a PTE
/// still maps it (Linux `__try_to_reclaim_swap` with `TTRS_UNMAPPED`).
fn free_swap_and_cache(st: &mut MmState, entry: SwapEntry) {
    let swap = st.swap.as_mut().expect("swap entry without swap");
    swap.swap_free(entry);
    if swap.swap_count(entry) != 0 {
        return;
    }
    if let Some(pfn) = swap.cache_lookup(entry) {
        put_unmapped_anon(st, pfn);
    }
}

/// An address space registered in the mm state, destroyed on drop.
#[derive(Debug)]
pub struct MmHandle {
    id: usize,
}

impl MmHandle {
    pub fn id(&self) -> usize {
        self.id
    }

    /// Takes ownership of registered address space `id` (fork's child).
    pub(super) fn from_registered(id: usize) -> MmHandle {
        MmHandle { id }
    }

    /// Resident anonymous pages.
    pub fn rss_anon(&self) -> u64 {
        with_mm_state(|st| st.mm(self.id).rss_anon)
    }
}

impl Drop for MmHandle {
    fn drop(&mut self) {
        if current_mm_id() == Some(self.id) {
            switch_mm(None);
        }
        with_mm_state(|st| exit_mmap(st, self.id));
    }
}

/// Name of the task owning the current address space, for reports.
pub fn current_task_name() -> String {
    match current_mm_id() {
        Some(id) => with_mm_state(|st| st.mm(id).name().into()),
        None => "<kernel>".into(),
    }
}

/// Linux `switch_mm`: makes `mm` current and loads its pgd, or goes back
/// to the kernel's own tables with `None`.
pub fn switch_mm(mm: Option<&MmHandle>) {
    let id = mm.map(|m| m.id);
    load_mm(id);
    crate::sched::set_current_mm(id);
}

/// Loads address space `id` (or the kernel's tables) into CR3 and makes
/// it current, without telling the scheduler: the context switch uses it
/// to load the next task's own mm.
pub fn load_mm(id: Option<usize>) {
    let pgd = match id {
        Some(id) => with_mm_state(|st| st.mm(id).pgtable().pgd_pa()),
        None => super::init::init_mm_pgd_pa(),
    };
    set_current_mm_id(id);
    // SAFETY: every pgd we load shares the kernel half (see `MmStruct::new`),
    // so the running code, stack and data stay mapped.
    unsafe { write_cr3(pgd) };
}

/// Creates an address space with one anonymous VMA and registers it.
pub fn new_anon_mm(name: &str, start: u64, len: u64) -> Result<MmHandle, &'static str> {
    new_anon_mm_vmas(name, &[(start, len)])
}

/// Creates an address space with one anonymous VMA per `(start, len)`
/// (each with its own readahead state, as separate mmaps have) and
/// registers it.
pub fn new_anon_mm_vmas(name: &str, vmas: &[(u64, u64)]) -> Result<MmHandle, &'static str> {
    let mut mm = MmStruct::new(name).map_err(|_| "out of memory for a pgd")?;
    for &(start, len) in vmas {
        mm.mmap_anon(start, len, VmFlags::ANON_RW)
            .map_err(|_| "bad VMA range")?;
    }
    Ok(register_new_mm(mm))
}

/// Registers a new address space as the first of a new fork family.
pub fn register_new_mm(mm: MmStruct) -> MmHandle {
    let id = with_mm_state(|st| {
        let id = st.register_mm(mm);
        let av = super::rmap::anon_vma_alloc(st, id);
        st.mm_mut(id).set_anon_vma(av);
        id
    });
    MmHandle { id }
}
