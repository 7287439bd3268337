//! Lab 2's hidden test (teacher-only: `faultline course student` leaves
//! `kernel/tests/*_hidden.rs` out; `faultline grade --teacher DIR` adds it).
//! Its name and points are public in labs/lab2.json; its input is the
//! grader's secret seed (`--seed`), so a solution tuned to the public
//! tests' sizes and orders does not pass by accident.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::state::with_mm_state;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{virtio_swap_no_readahead, xorshift, TestMm};
use kernel::testing::lab::seed_or;

kernel::test_kernel!(test_main);

#[test_case]
fn random_rounds_of_swap_out_and_in() {
    virtio_swap_no_readahead();
    let mut rng = seed_or(2) | 1;
    let pages = 16 + xorshift(&mut rng) % 112;
    let used_before = with_mm_state(|st| st.swap.as_ref().unwrap().nr_used());
    let mm = TestMm::paged_out("lab2-hidden", 0x0000_5100_0000_0000, pages);
    let mut tags: alloc::vec::Vec<u64> = (0..pages).collect();
    for round in 0..3 {
        vmstat::reset();
        // Touch a random half; rewrite some of them.
        for _ in 0..pages / 2 {
            let p = xorshift(&mut rng) % pages;
            assert!(
                mm.holds(p, tags[p as usize]),
                "round {round}: page {p} corrupt"
            );
            if xorshift(&mut rng) % 3 == 0 {
                tags[p as usize] = 1000 * (round + 1) + p;
                mm.write(p, tags[p as usize]);
            }
        }
        assert!(
            vmstat::read(VmEvent::PgMajFault) > 0,
            "round {round}: nothing swapped in"
        );
        mm.pageout();
    }
    for p in 0..pages {
        assert!(mm.holds(p, tags[p as usize]), "page {p} corrupt at the end");
    }
    drop(mm);
    let used_after = with_mm_state(|st| st.swap.as_ref().unwrap().nr_used());
    assert_eq!(used_after, used_before, "swap slots leaked");
}
