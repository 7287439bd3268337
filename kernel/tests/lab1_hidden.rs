//! Lab 1's hidden test (teacher-only; see lab2_hidden.rs): reads and
//! writes at random addresses over a large, sparse region, placed by the
//! grader's secret seed; contents, zero pages and the frames given back.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::mm_types::{new_anon_mm, switch_mm};
use kernel::mm::page_alloc::nr_free_pages;
use kernel::mm::PAGE_SIZE;
use kernel::testing::fixtures::xorshift;
use kernel::testing::lab::seed_or;
use kernel::workload::{fill_page, verify_page};

kernel::test_kernel!(test_main);

#[test_case]
fn sparse_random_touches_over_a_large_region() {
    let mut rng = seed_or(1) | 1;
    let free_before = nr_free_pages();
    // 64 GiB of address space; a few hundred pages touched in it.
    let base = 0x0000_4000_0000_0000;
    let pages = (64u64 << 30) / PAGE_SIZE;
    let mm = new_anon_mm("lab1-hidden", base, pages * PAGE_SIZE).unwrap();
    switch_mm(Some(&mm));
    let n = 100 + xorshift(&mut rng) % 300;
    let mut written = alloc::vec::Vec::new();
    for i in 0..n {
        let p = xorshift(&mut rng) % pages;
        let va = base + p * PAGE_SIZE;
        if i % 3 == 0 {
            // SAFETY: inside the VMA of the current address space.
            let v = unsafe { (va as *const u64).read_volatile() };
            let was_written = written.contains(&p);
            assert!(
                was_written || v == 0,
                "page {p} of a fresh region is not zero"
            );
        } else {
            // SAFETY: as above.
            unsafe { fill_page(va, p) };
            written.push(p);
        }
    }
    for &p in &written {
        // SAFETY: as above.
        assert!(
            unsafe { verify_page(base + p * PAGE_SIZE, p) },
            "page {p} corrupt"
        );
    }
    switch_mm(None);
    drop(mm);
    assert_eq!(
        nr_free_pages(),
        free_before,
        "frames or page-table pages leaked"
    );
}
