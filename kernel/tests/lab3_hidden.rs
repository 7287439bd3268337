//! Lab 3's hidden test (teacher-only; see lab2_hidden.rs): a hot set of
//! secret size and place among cold pages, read between reclaims of
//! secret size; LRU keeps it, and every page survives.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::state::with_mm_state;
use kernel::mm::vmscan::try_to_free_mem_cgroup_pages;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{virtio_swap_no_readahead, xorshift, TestMm};
use kernel::testing::lab::seed_or;

kernel::test_kernel!(test_main);

#[test_case]
fn a_secret_hot_set_survives_reclaim() {
    virtio_swap_no_readahead();
    let mut rng = seed_or(3) | 1;
    let pages = 256 + xorshift(&mut rng) % 256;
    let hot = 8 + xorshift(&mut rng) % 24;
    let first = xorshift(&mut rng) % (pages - hot);
    let mm = TestMm::new("lab3-hidden", 0x0000_5500_0000_0000, pages);
    for p in 0..pages {
        mm.write(p, p);
    }
    // Age every page once (as reclaim would), so only the hot set counts.
    let pfns: alloc::vec::Vec<_> = (0..pages)
        .map(|p| kernel::mm::page::pa_to_pfn(mm.pte(p).pa()))
        .collect();
    with_mm_state(|st| {
        for &pfn in &pfns {
            kernel::mm::rmap::folio_referenced(st, pfn);
        }
    });
    vmstat::reset();
    for _ in 0..5 {
        for p in first..first + hot {
            assert!(mm.holds(p, p), "hot page {p} corrupt");
        }
        let nr = 16 + (xorshift(&mut rng) % 32) as usize;
        with_mm_state(|st| try_to_free_mem_cgroup_pages(st, nr));
    }
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        0,
        "the hot set ({hot} pages from {first}) was reclaimed"
    );
    for p in 0..pages {
        assert!(mm.holds(p, p), "page {p} corrupt");
    }
}
