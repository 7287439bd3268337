//! The page-table walker (mm/pgtable.rs): map, translate, unmap, software
//! values in non-present entries, and the accounting of table pages.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::paging::{_PAGE_NX, _PAGE_PRESENT, _PAGE_RW};
use kernel::mm::page_alloc::{alloc_page, free_page, nr_free_pages};
use kernel::mm::pgtable::{MapError, PageTable, Pte};
use kernel::mm::{init, phys_to_virt, PAGE_OFFSET, PAGE_SIZE};

kernel::test_kernel!(test_main);

const RW: u64 = _PAGE_RW | _PAGE_NX;
/// A lower-half address far from anything else.
const VA: u64 = 0x0000_2000_0000_0000;

#[test_case]
fn map_translate_unmap() {
    let mut pt = PageTable::new().unwrap();
    let pa = alloc_page().unwrap();
    pt.map_page(VA + 0x3000, pa, RW).unwrap();
    assert_eq!(pt.translate(VA + 0x3000), Some(pa));
    assert_eq!(pt.translate(VA + 0x3123), Some(pa + 0x123));
    assert_eq!(pt.translate(VA + 0x4000), None);
    let old = pt.clear_pte(VA + 0x3000).unwrap();
    assert!(old.is_present() && old.pa() == pa);
    assert_eq!(pt.translate(VA + 0x3000), None);
    free_page(pa);
    assert_eq!(pt.free_user_tables(|_, _| panic!("no leaf left")), 3);
    pt.free_pgd();
}

#[test_case]
fn intermediate_tables_are_counted_and_freed() {
    let before = nr_free_pages();
    let mut pt = PageTable::new().unwrap();
    let pa = alloc_page().unwrap();
    // One pud, one pmd and one pte table for the first page ...
    pt.map_page(VA, pa, RW).unwrap();
    assert_eq!(pt.nr_table_pages(), 3);
    // ... a neighbour in the same 2 MiB needs nothing new ...
    pt.set_pte(VA + PAGE_SIZE, Pte::new(pa, RW)).unwrap();
    assert_eq!(pt.nr_table_pages(), 3);
    // ... the next 2 MiB needs a new pte table, the next 1 GiB also a pmd.
    pt.set_pte(VA + (2 << 20), Pte::new(pa, RW)).unwrap();
    assert_eq!(pt.nr_table_pages(), 4);
    pt.set_pte(VA + (1 << 30), Pte::new(pa, RW)).unwrap();
    assert_eq!(pt.nr_table_pages(), 6);
    let mut leaves = 0;
    let freed = pt.free_user_tables(|_, pte| {
        assert_eq!(pte.pa(), pa);
        leaves += 1;
    });
    assert_eq!((freed, leaves, pt.nr_table_pages()), (6, 4, 0));
    free_page(pa);
    pt.free_pgd();
    assert_eq!(nr_free_pages(), before, "page-table pages leaked");
}

#[test_case]
fn software_values_are_preserved() {
    let mut pt = PageTable::new().unwrap();
    // A value with the present bit clear, as a swap entry will look.
    let swap_like = Pte::from_raw(0x0000_1234_5678_9ab0);
    assert!(swap_like.is_software());
    pt.set_pte(VA + 5 * PAGE_SIZE, swap_like).unwrap();
    // Mapping and unmapping neighbours must not disturb it.
    let pa = alloc_page().unwrap();
    pt.map_page(VA + 4 * PAGE_SIZE, pa, RW).unwrap();
    pt.map_page(VA + 6 * PAGE_SIZE, pa, RW).unwrap();
    pt.clear_pte(VA + 4 * PAGE_SIZE);
    assert_eq!(pt.get_pte(VA + 5 * PAGE_SIZE), Some(swap_like));
    assert_eq!(
        pt.translate(VA + 5 * PAGE_SIZE),
        None,
        "hardware must not see it"
    );
    // Mapping over it is refused, not silently overwritten.
    assert_eq!(
        pt.map_page(VA + 5 * PAGE_SIZE, pa, RW),
        Err(MapError::AlreadyMapped(swap_like))
    );
    // Tear-down reports it to the owner.
    let mut seen = None;
    pt.free_user_tables(|va, pte| {
        if pte.is_software() {
            seen = Some((va, pte));
        }
    });
    assert_eq!(seen, Some((VA + 5 * PAGE_SIZE, swap_like)));
    free_page(pa);
    pt.free_pgd();
}

#[test_case]
fn get_pte_without_tables_is_none() {
    let pt = PageTable::new().unwrap();
    assert_eq!(pt.get_pte(VA), None);
    assert_eq!(pt.nr_table_pages(), 0, "a read-only walk must not allocate");
    pt.free_pgd();
}

#[test_case]
fn kernel_tables_use_huge_direct_map() {
    let kernel = PageTable::borrow_root(init::init_mm_pgd_pa());
    // The direct map is built from 2 MiB pages.
    let pa = 0x0123_4567;
    assert_eq!(kernel.translate(phys_to_virt(pa)), Some(pa));
    let flags = kernel.leaf_flags(PAGE_OFFSET).unwrap();
    assert!(flags & kernel::arch::paging::_PAGE_PSE != 0);
    assert!(flags & _PAGE_NX != 0, "the direct map is not executable");
    // The kernel's code is executable and read-only.
    let code = test_main as *const () as u64;
    let code_flags = kernel.leaf_flags(code).unwrap();
    assert!(code_flags & _PAGE_PRESENT != 0);
    assert!(code_flags & _PAGE_NX == 0, "kernel text must be executable");
    assert!(code_flags & _PAGE_RW == 0, "kernel text must be read-only");
}

#[test_case]
fn stack_guard_page_is_unmapped() {
    let kernel = PageTable::borrow_root(init::init_mm_pgd_pa());
    assert_eq!(kernel.translate(kernel::mm::KERNEL_STACK_GUARD), None);
    assert!(kernel
        .translate(kernel::mm::KERNEL_STACK_GUARD + PAGE_SIZE)
        .is_some());
}
