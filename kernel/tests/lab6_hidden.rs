//! Lab 6's hidden test (teacher-only; see lab2_hidden.rs): fork after a
//! partial swap-out, then random writes in parent and child, sized and
//! ordered by the grader's secret seed; both keep their own data.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::cow::dup_mm;
use kernel::mm::mm_types::switch_mm;
use kernel::mm::state::SwapPolicy;
use kernel::testing::fixtures::{swap_out_all, virtio_swap, xorshift, TestMm};
use kernel::testing::lab::seed_or;

kernel::test_kernel!(test_main);

#[test_case]
fn parent_and_child_keep_their_own_writes() {
    virtio_swap(SwapPolicy::default());
    let mut rng = seed_or(6) | 1;
    let pages = 16 + xorshift(&mut rng) % 64;
    let base = 0x0000_5400_0000_0000;
    let parent = TestMm::new("lab6-parent", base, pages);
    for p in 0..pages {
        parent.write(p, p);
    }
    swap_out_all();
    // Bring a random part back before the fork: some pages are shared
    // in memory, the rest as swap entries.
    for _ in 0..pages / 2 {
        let p = xorshift(&mut rng) % pages;
        assert!(parent.holds(p, p));
    }
    let child = TestMm {
        mm: dup_mm(parent.id(), "lab6-child").expect("fork"),
        base,
        pages,
    };
    let mut tags = [alloc::vec::Vec::new(), alloc::vec::Vec::new()];
    tags[0] = (0..pages).collect();
    tags[1] = (0..pages).collect();
    for round in 0..4u64 {
        for (who, t) in [&parent, &child].into_iter().enumerate() {
            switch_mm(Some(&t.mm));
            for _ in 0..pages / 3 {
                let p = xorshift(&mut rng) % pages;
                let tag = 10_000 * (who as u64 + 1) + 100 * round + p;
                t.write(p, tag);
                tags[who][p as usize] = tag;
            }
        }
        if round % 2 == 1 {
            swap_out_all();
        }
    }
    for (who, t) in [&parent, &child].into_iter().enumerate() {
        switch_mm(Some(&t.mm));
        for p in 0..pages {
            assert!(
                t.holds(p, tags[who][p as usize]),
                "{}: page {p} corrupt",
                ["parent", "child"][who]
            );
        }
    }
    switch_mm(Some(&parent.mm));
    drop(child);
}
