//! Building the kernel's own page tables and switching to them (Linux:
//! `paging_init` / `kernel_physical_mapping_init` in arch/x86/mm/init_64.c,
//! which builds `swapper_pg_dir`, the tables of `init_mm`).
//!
//! The bootloader hands us its page tables. We build a fresh pgd that maps:
//! 1. the direct map of all RAM at [`PAGE_OFFSET`](super::PAGE_OFFSET), with 2 MiB pages;
//! 2. the kernel image, segment by segment, with the permissions the ELF
//!    program headers ask for (the frames are found by translating each
//!    page through the bootloader's tables, once);
//! 3. the kernel heap;
//! 4. a fresh kernel stack with an unmapped guard page below it.
//!
//! Then one assembly sequence loads CR3, moves RSP to the new stack and
//! calls the continuation. From then on the bootloader's tables are unused.

use core::arch::asm;

use spin::{Mutex, Once};

use super::page_alloc::alloc_page;
use super::pgtable::{PageTable, Pte};
use super::{
    kernel_heap_size, phys_to_virt, KERNEL_HEAP_START, KERNEL_STACK_GUARD, KERNEL_STACK_SIZE,
    PAGE_OFFSET, PAGE_SIZE,
};
use crate::arch::paging::{read_cr3, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PRESENT, _PAGE_RW, PMD_SIZE};

/// Where the kernel ELF sits and where it was loaded.
#[derive(Debug, Clone, Copy)]
pub struct KernelImage {
    /// Physical address of the ELF file as the bootloader loaded it.
    pub elf_pa: u64,
    pub elf_len: u64,
    /// Added to every `p_vaddr` (the image is position independent).
    pub virt_offset: u64,
}

/// The kernel's page tables (Linux `init_mm.pgd`, `swapper_pg_dir`).
static INIT_MM_PGTABLE: Once<Mutex<PageTable>> = Once::new();

/// Physical address of the kernel's pgd.
pub fn init_mm_pgd_pa() -> u64 {
    INIT_MM_PGTABLE
        .get()
        .expect("kernel page tables not built")
        .lock()
        .pgd_pa()
}

/// Runs `f` on the kernel's page tables (for `ioremap`).
pub fn with_init_mm_pgtable<R>(f: impl FnOnce(&mut PageTable) -> R) -> R {
    let mut pt = INIT_MM_PGTABLE
        .get()
        .expect("kernel page tables not built")
        .lock();
    f(&mut pt)
}

/// Flags for kernel data: present, writable, global, not executable.
const KERNEL_DATA: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_GLOBAL | _PAGE_NX;

/// Builds the kernel page tables. `ram_end` is the end of the highest RAM
/// range (the direct map covers `[0, ram_end)`).
pub fn build_kernel_page_table(image: &KernelImage, ram_end: u64) -> PageTable {
    let mut pt = PageTable::new().expect("no frame for the kernel pgd");
    map_direct(&mut pt, ram_end);
    map_kernel_image(&mut pt, image);
    map_fresh_pages(&mut pt, KERNEL_HEAP_START, kernel_heap_size(ram_end));
    // The guard page at KERNEL_STACK_GUARD stays unmapped on purpose: a
    // stack overflow faults there and ends in a double-fault report.
    map_fresh_pages(&mut pt, KERNEL_STACK_GUARD + PAGE_SIZE, KERNEL_STACK_SIZE);
    pt
}

fn map_direct(pt: &mut PageTable, ram_end: u64) {
    let end = ram_end.div_ceil(PMD_SIZE) * PMD_SIZE;
    let mut pa = 0;
    while pa < end {
        pt.map_huge_pmd(PAGE_OFFSET + pa, pa, KERNEL_DATA)
            .expect("direct map");
        pa += PMD_SIZE;
    }
}

fn map_fresh_pages(pt: &mut PageTable, start: u64, len: u64) {
    for va in (start..start + len).step_by(PAGE_SIZE as usize) {
        let pa = alloc_page().expect("no frame for a kernel mapping");
        pt.map_page(va, pa, KERNEL_DATA).expect("kernel mapping");
    }
}

/// ELF64 program header fields we need.
struct LoadSegment {
    vaddr: u64,
    memsz: u64,
    is_writable: bool,
    is_executable: bool,
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// Reads the PT_LOAD program headers of the ELF at `elf_pa`.
fn load_segments(image: &KernelImage, mut f: impl FnMut(LoadSegment)) {
    let base = phys_to_virt(image.elf_pa) as *const u8;
    let rd = |off: u64, len: usize| -> u64 {
        assert!(
            off + len as u64 <= image.elf_len,
            "ELF header out of bounds"
        );
        let mut v = 0u64;
        for i in (0..len).rev() {
            // SAFETY: the ELF file is in RAM at elf_pa (the bootloader put
            // it there), inside the direct map, and `off+i < elf_len`.
            v = (v << 8) | unsafe { *base.add((off as usize) + i) } as u64;
        }
        v
    };
    assert_eq!(rd(0, 4), 0x464c_457f, "kernel image is not an ELF file");
    let phoff = rd(0x20, 8);
    let phentsize = rd(0x36, 2);
    let phnum = rd(0x38, 2);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if rd(ph, 4) as u32 != PT_LOAD {
            continue;
        }
        let flags = rd(ph + 4, 4) as u32;
        f(LoadSegment {
            vaddr: rd(ph + 16, 8),
            memsz: rd(ph + 40, 8),
            is_writable: flags & PF_W != 0,
            is_executable: flags & PF_X != 0,
        });
    }
}

/// Translates `va` through the page tables rooted at `pgd_pa` (used once,
/// on the bootloader's tables).
fn translate_in(pgd_pa: u64, va: u64) -> Option<u64> {
    PageTable::borrow_root(pgd_pa).translate(va)
}

fn map_kernel_image(pt: &mut PageTable, image: &KernelImage) {
    let boot_pgd = read_cr3();
    load_segments(image, |seg| {
        let start = (image.virt_offset + seg.vaddr) & !(PAGE_SIZE - 1);
        let end = image.virt_offset + seg.vaddr + seg.memsz;
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            let pa = translate_in(boot_pgd, va).expect("kernel page not mapped by the bootloader");
            let mut flags = _PAGE_PRESENT | _PAGE_GLOBAL;
            if seg.is_writable {
                flags |= _PAGE_RW;
            }
            if !seg.is_executable {
                flags |= _PAGE_NX;
            }
            // Two segments may share a boundary page: merge permissions.
            if let Some(old) = pt.get_pte(va).filter(|p| p.is_present()) {
                assert_eq!(old.pa(), pa, "kernel page {va:#x} mapped twice");
                let rw = (old.raw() | flags) & _PAGE_RW;
                let nx = old.raw() & flags & _PAGE_NX;
                let merged = Pte::new(pa, _PAGE_PRESENT | _PAGE_GLOBAL | rw | nx);
                pt.set_pte(va, merged).expect("kernel image");
                continue;
            }
            pt.map_page(va, pa, flags).expect("kernel image");
        }
    });
}

/// Continuation run on the new stack.
static CONTINUATION: Once<fn() -> !> = Once::new();

extern "C" fn on_new_stack() -> ! {
    let next = CONTINUATION
        .get()
        .expect("continuation set before the switch");
    next()
}

/// Loads the new page tables, moves to the new stack and calls `next`.
pub fn switch_to_kernel_page_table(pt: PageTable, next: fn() -> !) -> ! {
    let pgd_pa = pt.pgd_pa();
    INIT_MM_PGTABLE.call_once(|| Mutex::new(pt));
    CONTINUATION.call_once(|| next);
    let stack_top = KERNEL_STACK_GUARD + PAGE_SIZE + KERNEL_STACK_SIZE;
    // SAFETY: the new tables map the kernel image (code, statics, the IST
    // stack), the direct map and the new stack at the same virtual
    // addresses as before. Between `mov cr3` and `mov rsp` nothing touches
    // the old stack, and `on_new_stack` never returns. The stack top is
    // 16-byte aligned, as the call ABI expects.
    unsafe {
        asm!(
            "mov cr3, {pgd}",
            "mov rsp, {stack}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            pgd = in(reg) pgd_pa,
            stack = in(reg) stack_top,
            entry = sym on_new_stack,
            options(noreturn)
        )
    }
}
