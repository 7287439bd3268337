//! Address spaces and demand paging: a read fault inside an anonymous VMA
//! maps the shared zero page, a write fault a zeroed private frame, each
//! counted as `pgfault`; tearing the address space down returns every
//! frame.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::memcontrol::memcg_usage;
use kernel::mm::mm_types::{new_anon_mm, switch_mm, MmHandle, MmStruct, MmapError, VmFlags};
use kernel::mm::page::pa_to_pfn;
use kernel::mm::page_alloc::nr_free_pages;
use kernel::mm::pgtable::Pte;
use kernel::mm::state::with_mm_state;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::mm::PAGE_SIZE;
use kernel::workload::{fill_page, verify_page};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_3000_0000_0000;

#[test_case]
fn demand_zero_over_a_large_range() {
    let free_before = nr_free_pages();
    let len = 32 << 20;
    let pages = len / PAGE_SIZE;
    let mm = new_anon_mm("dz", BASE, len).unwrap();
    switch_mm(Some(&mm));
    vmstat::reset();
    // Reads first: a read fault maps the shared zero page.
    for p in 0..pages {
        // SAFETY: inside the VMA of the current address space.
        let v = unsafe { ((BASE + p * PAGE_SIZE + 8) as *const u64).read_volatile() };
        assert_eq!(v, 0, "page {p} not zeroed");
    }
    assert_eq!(vmstat::read(VmEvent::PgFault), pages, "one fault per page");
    assert_eq!(vmstat::read(VmEvent::PgFaultZeroPage), pages);
    assert_eq!(mm.rss_anon(), 0, "the zero page is nobody's");
    // The first write to each page faults once more (do_wp_page).
    for p in 0..pages {
        // SAFETY: as above.
        unsafe { fill_page(BASE + p * PAGE_SIZE, p) };
    }
    assert_eq!(vmstat::read(VmEvent::PgFault), 2 * pages);
    assert_eq!(vmstat::read(VmEvent::PgFaultWpCopy), pages);
    for p in 0..pages {
        // SAFETY: as above.
        assert!(
            unsafe { verify_page(BASE + p * PAGE_SIZE, p) },
            "page {p} corrupt"
        );
    }
    assert_eq!(mm.rss_anon(), pages);
    switch_mm(None);
    drop(mm);
    assert_eq!(nr_free_pages(), free_before, "frames leaked by exit_mmap");
}

fn pte_of(mm: &MmHandle, va: u64) -> Pte {
    let pte = with_mm_state(|st| st.mm(mm.id()).pgtable().get_pte(va));
    pte.filter(|p| p.is_present()).expect("mapped")
}

#[test_case]
fn read_maps_the_zero_page_and_a_write_gets_a_charged_private_copy() {
    let mm = new_anon_mm("zp", BASE, 4 * PAGE_SIZE).unwrap();
    switch_mm(Some(&mm));
    let (usage0, zero_pfn) = with_mm_state(|st| (memcg_usage(st), st.zero_pfn));
    vmstat::reset();
    // SAFETY: inside the VMA of the current address space.
    let v = unsafe { ((BASE + 64) as *const u64).read_volatile() };
    assert_eq!(v, 0);
    let pte = pte_of(&mm, BASE);
    assert_eq!(pa_to_pfn(pte.pa()), zero_pfn, "the shared zero page");
    assert!(!pte.is_writable(), "mapped read-only");
    assert_eq!(with_mm_state(|st| memcg_usage(st)), usage0, "not charged");
    assert_eq!(mm.rss_anon(), 0);
    let lru0 = with_mm_state(|st| st.lru.len());
    // SAFETY: as above: the write faults on the read-only zero page.
    unsafe { ((BASE + 8) as *mut u64).write_volatile(0xfeed) };
    let pte = pte_of(&mm, BASE);
    assert!(pa_to_pfn(pte.pa()) != zero_pfn, "a private copy");
    assert!(pte.is_writable() && pte.is_dirty());
    assert_eq!(with_mm_state(|st| memcg_usage(st)), usage0 + 1, "charged");
    assert_eq!(with_mm_state(|st| st.lru.len()), lru0 + 1, "on the LRU");
    assert_eq!(mm.rss_anon(), 1);
    assert_eq!(vmstat::read(VmEvent::PgFaultWpCopy), 1);
    // SAFETY: as above.
    unsafe {
        assert_eq!(((BASE + 8) as *const u64).read_volatile(), 0xfeed);
        assert_eq!(
            (BASE as *const u64).read_volatile(),
            0,
            "the rest is zeroed"
        );
        // Another page's read still sees zeros: the zero page was not written.
        assert_eq!(((BASE + PAGE_SIZE + 8) as *const u64).read_volatile(), 0);
    }
    switch_mm(None);
}

#[test_case]
fn two_address_spaces_are_isolated() {
    let a = new_anon_mm("a", BASE, 16 * PAGE_SIZE).unwrap();
    let b = new_anon_mm("b", BASE, 16 * PAGE_SIZE).unwrap();
    switch_mm(Some(&a));
    // SAFETY: inside the VMA of the current address space.
    unsafe { fill_page(BASE, 0xa) };
    switch_mm(Some(&b));
    // SAFETY: as above; b's page is a fresh zero page, not a's.
    unsafe {
        assert_eq!((BASE as *const u64).read_volatile(), 0);
        fill_page(BASE, 0xb);
    }
    switch_mm(Some(&a));
    // SAFETY: as above.
    assert!(unsafe { verify_page(BASE, 0xa) });
    switch_mm(None);
}

#[test_case]
fn mmap_rejects_overlap_and_bad_ranges() {
    let mut mm = MmStruct::new("m").unwrap();
    let rw = VmFlags::ANON_RW;
    mm.mmap_anon(BASE, 4 * PAGE_SIZE, rw).unwrap();
    assert_eq!(
        mm.mmap_anon(BASE + PAGE_SIZE, PAGE_SIZE, rw),
        Err(MmapError::Overlap)
    );
    assert_eq!(
        mm.mmap_anon(BASE - PAGE_SIZE, 2 * PAGE_SIZE, rw),
        Err(MmapError::Overlap)
    );
    assert_eq!(
        mm.mmap_anon(BASE + 1, PAGE_SIZE, rw),
        Err(MmapError::Invalid)
    );
    assert_eq!(mm.mmap_anon(BASE, 0, rw), Err(MmapError::Invalid));
    assert_eq!(
        mm.mmap_anon(0x0000_7fff_ffff_f000, 2 * PAGE_SIZE, rw),
        Err(MmapError::Invalid)
    );
    mm.mmap_anon(BASE + 4 * PAGE_SIZE, PAGE_SIZE, rw).unwrap();
    assert!(mm.find_vma(BASE + 4 * PAGE_SIZE).is_some());
    assert!(mm.find_vma(BASE + 5 * PAGE_SIZE).is_none());
    assert!(mm.find_vma(BASE - 1).is_none());
}

#[test_case]
fn kernel_heap_is_mapped_in_every_address_space() {
    let v = alloc::vec![7u8; 1 << 20];
    let mm = new_anon_mm("k", BASE, PAGE_SIZE).unwrap();
    switch_mm(Some(&mm));
    assert!(v.iter().all(|&b| b == 7));
    switch_mm(None);
}
