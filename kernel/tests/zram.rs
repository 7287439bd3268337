//! zram as the swap device: synchronous reads, no readahead, and the slot
//! freed as soon as the page is mapped (Linux `SWP_SYNCHRONOUS_IO`).

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::drivers::zram::Zram;
use kernel::mm::mm_types::{new_anon_mm, switch_mm};
use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::pgtable::Pte;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::pte_to_swp_entry;
use kernel::mm::swap_state::ReadaheadMode;
use kernel::mm::swapfile::{swapon, DeviceChoice};
use kernel::mm::vmscan::shrink_all_memory;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::mm::PAGE_SIZE;
use kernel::workload::{fill_page, set_random_pct, verify_page};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_7000_0000_0000;

#[test_case]
fn zram_device_round_trip_and_discard() {
    let mut z = Zram::new(1 << 20);
    assert_eq!(z.capacity_bytes(), 1 << 20);
    let mut page = [0u8; 4096];
    for (i, b) in page.iter_mut().enumerate() {
        *b = (i / 64) as u8;
    }
    z.write(5, &page).unwrap();
    assert!(z.pool_pages() >= 1);
    let mut out = [1u8; 4096];
    z.read(5, &mut out);
    assert!(out == page);
    z.read(6, &mut out);
    assert!(
        out.iter().all(|&b| b == 0),
        "a never-written slot reads as zeros"
    );
    z.discard(5);
    assert_eq!(z.pool_pages(), 0, "discard returns the memory");
}

#[test_case]
fn swap_in_from_zram_is_synchronous_and_frees_the_slot() {
    swapon(DeviceChoice::Zram { disksize: 64 << 20 }).unwrap();
    set_random_pct(25);
    with_mm_state(|st| {
        assert!(st.swap.as_ref().unwrap().is_synchronous());
        st.policy = SwapPolicy {
            readahead: ReadaheadMode::Vma,
            page_cluster: 3,
            ..SwapPolicy::default()
        };
    });
    let pages = 64;
    let mm = new_anon_mm("zram", BASE, pages * PAGE_SIZE).unwrap();
    switch_mm(Some(&mm));
    for p in 0..pages {
        // SAFETY: inside the VMA of the current address space.
        unsafe { fill_page(BASE + p * PAGE_SIZE, p) };
    }
    vmstat::reset();
    with_mm_state(shrink_all_memory);
    assert_eq!(
        vmstat::read(VmEvent::PswpOut),
        pages,
        "every page went to zram"
    );
    let used = with_mm_state(|st| st.swap.as_ref().unwrap().nr_used());
    assert_eq!(used as u64, pages);
    vmstat::reset();
    for p in 0..pages {
        // SAFETY: as above.
        assert!(unsafe { verify_page(BASE + p * PAGE_SIZE, p) }, "page {p}");
    }
    assert_eq!(
        vmstat::read(VmEvent::SwapRa),
        0,
        "no readahead on a synchronous device"
    );
    assert_eq!(vmstat::read(VmEvent::PgMajFault), pages);
    assert_eq!(
        with_mm_state(|st| st.swap.as_ref().unwrap().nr_used()),
        0,
        "slots freed at swap-in"
    );
    let pte: Pte = with_mm_state(|st| st.mm(mm.id()).pgtable().get_pte(BASE).unwrap());
    assert!(pte_to_swp_entry(pte).is_none());
    let page = with_mm_state(|st| *st.mem_map.get(pa_to_pfn(pte.pa())));
    assert!(
        !page.test(flags::SWAPCACHE) && page.test(flags::DIRTY),
        "out of the cache and dirty"
    );
    drop(mm);
}
