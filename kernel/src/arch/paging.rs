//! The x86_64 paging hardware: the bits of a page-table entry, CR3 and the
//! TLB. The page-table *walker* (software) is in `mm::pgtable`.
//!
//! A 4-level table maps a 48-bit virtual address:
//!
//! ```text
//!  47      39 38      30 29      21 20      12 11         0
//! | pgd idx  | pud idx  | pmd idx  | pte idx  | page offset |
//! ```
//!
//! Linux names the levels pgd (PML4), p4d (folded away with 4 levels), pud
//! (PDPT), pmd (page directory) and pte (page table); we use the same names.

use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Bytes mapped by one pmd entry with the PS bit (a 2 MiB page), which is
/// also the span of one last-level page-table page (Linux `PMD_SIZE`).
pub const PMD_SIZE: u64 = 1 << 21;
/// Bytes spanned by one pud entry.
pub const PUD_SIZE: u64 = 1 << 30;
/// Bytes spanned by one pgd entry.
pub const PGDIR_SIZE: u64 = 1 << 39;
/// Entries in every table page.
pub const PTRS_PER_TABLE: usize = 512;

/// Entry is present: the CPU uses it. When this bit is clear the other 63
/// bits are ignored by the hardware and belong to software (Linux keeps swap
/// entries there).
pub const _PAGE_PRESENT: u64 = 1 << 0;
pub const _PAGE_RW: u64 = 1 << 1;
pub const _PAGE_USER: u64 = 1 << 2;
pub const _PAGE_PWT: u64 = 1 << 3;
pub const _PAGE_PCD: u64 = 1 << 4;
/// Set by the CPU on any access; reclaim uses it to age pages.
pub const _PAGE_ACCESSED: u64 = 1 << 5;
/// Set by the CPU on a write.
pub const _PAGE_DIRTY: u64 = 1 << 6;
/// In a pud or pmd entry: maps a 1 GiB or 2 MiB page instead of a table.
pub const _PAGE_PSE: u64 = 1 << 7;
pub const _PAGE_GLOBAL: u64 = 1 << 8;
/// No-execute (EFER.NXE is enabled by the bootloader).
pub const _PAGE_NX: u64 = 1 << 63;
/// Physical-address bits of an entry (bits 12..51).
pub const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The physical address of the current top-level table.
pub fn read_cr3() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Switches to another top-level table (flushes all non-global TLB entries).
///
/// # Safety
/// `pgd_pa` must be a page table that maps the currently running code, its
/// stack and all data it will touch, with the same virtual addresses.
pub unsafe fn write_cr3(pgd_pa: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(pgd_pa));
    // SAFETY: guaranteed by the caller.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) };
}

/// Drops one virtual page from the TLB (`invlpg`).
pub fn flush_tlb_page(va: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new(va));
}
