//! Linux `ioremap` (arch/x86/mm/ioremap.c): map device registers into the
//! kernel half, uncached, so that drivers can reach memory-mapped I/O.
//!
//! The range sits under the same pgd entry as the kernel heap, whose pud
//! table every address space shares, so a mapping made here after an
//! address space was created is still visible in it.

use spin::Mutex;

use super::init::with_init_mm_pgtable;
use super::{page_align_down, page_align_up, PAGE_SIZE};
use crate::arch::paging::{_PAGE_GLOBAL, _PAGE_NX, _PAGE_PCD, _PAGE_PRESENT, _PAGE_PWT, _PAGE_RW};

/// Start of the ioremap range (inside the heap's pgd entry).
pub const IOREMAP_START: u64 = 0xffff_c900_c000_0000;
/// Size of the ioremap range.
pub const IOREMAP_SIZE: u64 = 1 << 30;

static NEXT_VA: Mutex<u64> = Mutex::new(IOREMAP_START);

const MMIO_FLAGS: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_PCD | _PAGE_PWT | _PAGE_GLOBAL | _PAGE_NX;

/// Maps `[pa, pa + len)` uncached and returns the virtual address of `pa`.
/// Mappings are never torn down (devices live as long as the kernel).
pub fn ioremap(pa: u64, len: u64) -> u64 {
    let start = page_align_down(pa);
    let end = page_align_up(pa + len);
    let mut next = NEXT_VA.lock();
    let va = *next;
    assert!(
        va + (end - start) <= IOREMAP_START + IOREMAP_SIZE,
        "ioremap range exhausted"
    );
    with_init_mm_pgtable(|pt| {
        for off in (0..end - start).step_by(PAGE_SIZE as usize) {
            pt.map_page(va + off, start + off, MMIO_FLAGS)
                .expect("ioremap: page already mapped");
        }
    });
    *next = va + (end - start);
    va + (pa - start)
}
