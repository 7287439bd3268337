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
use alloc::sync::Arc;
use core::fmt;

use spin::Mutex;

use super::page_alloc::free_page;
use super::pgtable::PageTable;
use super::{OutOfMemory, PAGE_SIZE};
use crate::arch::paging::{write_cr3, PTRS_PER_TABLE};

/// Linux `vm_flags_t`: what accesses a VMA allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmFlags(u32);

impl VmFlags {
    pub const VM_READ: VmFlags = VmFlags(1 << 0);
    pub const VM_WRITE: VmFlags = VmFlags(1 << 1);
    /// Readable and writable private anonymous memory.
    pub const ANON_RW: VmFlags = VmFlags(Self::VM_READ.0 | Self::VM_WRITE.0);

    pub const fn contains(self, other: VmFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Linux `struct vm_area_struct`: one contiguous range `[start, end)` of
/// private anonymous memory. (No file mappings, no `anon_vma` chains: we
/// have no fork, so every anonymous page has exactly one mapping.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub vm_start: u64,
    pub vm_end: u64,
    pub vm_flags: VmFlags,
}

impl Vma {
    pub fn contains(&self, addr: u64) -> bool {
        self.vm_start <= addr && addr < self.vm_end
    }

    pub fn is_writable(&self) -> bool {
        self.vm_flags.contains(VmFlags::VM_WRITE)
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
        })
    }

    pub fn name(&self) -> &str {
        &self.name
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
        if len == 0 || start % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 || end > TASK_SIZE {
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

    /// Linux `exit_mmap`: frees every anonymous page and every table page
    /// of the lower half. Returns (anonymous pages freed, table pages freed).
    fn exit_mmap(&mut self) -> (u64, usize) {
        let mut pages = 0;
        let tables = self.pgtable.free_user_tables(|va, pte| {
            assert!(
                pte.is_present(),
                "unexpected non-present pte {pte:?} at {va:#x}"
            );
            free_page(pte.pa());
            pages += 1;
        });
        self.vmas.clear();
        self.rss_anon -= pages;
        (pages, tables)
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
    fn drop(&mut self) {
        let (_, _) = self.exit_mmap();
        let pgtable = core::mem::replace(&mut self.pgtable, PageTable::borrow_root(0));
        pgtable.free_pgd();
    }
}

/// A shared handle on an address space (the fault handler and the task
/// both reach it). The mutex plays the role of Linux's `mmap_lock`.
pub type MmRef = Arc<Mutex<MmStruct>>;

/// The address space whose lower half is live in CR3 (Linux
/// `current->mm`). `None` means only the kernel half is in use.
static CURRENT_MM: Mutex<Option<MmRef>> = Mutex::new(None);

/// Linux `current->mm`.
pub fn current_mm() -> Option<MmRef> {
    CURRENT_MM.lock().clone()
}

/// Name of the task owning the current address space, for reports.
pub fn current_task_name() -> String {
    match current_mm() {
        Some(mm) => match mm.try_lock() {
            Some(mm) => mm.name().into(),
            None => "<mm locked>".into(),
        },
        None => "<kernel>".into(),
    }
}

/// Linux `switch_mm`: makes `mm` current and loads its pgd, or goes back
/// to the kernel's own tables with `None`.
pub fn switch_mm(mm: Option<MmRef>) {
    let pgd = match &mm {
        Some(m) => m.lock().pgtable().pgd_pa(),
        None => super::init::init_mm_pgd_pa(),
    };
    *CURRENT_MM.lock() = mm;
    // SAFETY: every pgd we load shares the kernel half (see `MmStruct::new`),
    // so the running code, stack and data stay mapped.
    unsafe { write_cr3(pgd) };
}

/// Creates a new address space with one anonymous VMA, ready to switch to.
pub fn new_anon_mm(name: &str, start: u64, len: u64) -> Result<MmRef, &'static str> {
    let mut mm = MmStruct::new(name).map_err(|_| "out of memory for a pgd")?;
    mm.mmap_anon(start, len, VmFlags::ANON_RW)
        .map_err(|_| "bad VMA range")?;
    Ok(Arc::new(Mutex::new(mm)))
}
