//! Lab 5's hidden test (teacher-only; see lab2_hidden.rs): a mix of
//! compressible, incompressible and zero pages through zswap with a small
//! pool, sized and mixed by the grader's secret seed.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{swap_out_all, virtio_swap, xorshift, TestMm};
use kernel::testing::lab::seed_or;
use kernel::workload::fill_page_pct;

kernel::test_kernel!(test_main);

#[test_case]
fn mixed_pages_through_a_small_pool_come_back_intact() {
    virtio_swap(SwapPolicy::default());
    let mut rng = seed_or(5) | 1;
    let pool = 16 + xorshift(&mut rng) % 48;
    with_mm_state(|st| {
        let z = &mut st.swap.as_mut().unwrap().zswap;
        z.enabled = true;
        z.max_pool_pages = pool;
        z.accept_thr_pages = pool * 9 / 10;
    });
    let pages = 64 + xorshift(&mut rng) % 192;
    let mm = TestMm::new("lab5-hidden", 0x0000_5300_0000_0000, pages);
    // Each page: its own pattern, with 5 % (compressible) to 100 %
    // (incompressible) random bytes.
    let mut pct = alloc::vec::Vec::new();
    for p in 0..pages {
        let r = [5, 25, 100][(xorshift(&mut rng) % 3) as usize];
        pct.push(r);
        // SAFETY: the page is inside `mm`, which is current.
        unsafe { fill_page_pct(mm.va(p), p, r) };
    }
    vmstat::reset();
    swap_out_all();
    assert!(vmstat::read(VmEvent::Zswpout) > 0, "nothing went to zswap");
    assert!(
        vmstat::read(VmEvent::PswpOut) > 0,
        "a pool of {pool} pages must overflow to the disk"
    );
    for _ in 0..pages {
        let p = xorshift(&mut rng) % pages;
        // SAFETY: as above.
        let ok = unsafe { kernel::workload::verify_page_pct(mm.va(p), p, pct[p as usize]) };
        assert!(ok, "page {p} ({}% random) corrupt", pct[p as usize]);
    }
    let stored = with_mm_state(|st| st.swap.as_ref().unwrap().zswap.pool_pages());
    assert!(
        stored <= pool + 1,
        "the pool holds {stored} pages, its limit is {pool}"
    );
}
