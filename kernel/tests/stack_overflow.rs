//! The kernel stack has an unmapped guard page: overflowing it faults, and
//! the double-fault handler (on its own IST stack) reports it.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::idt::{set_fatal_hook, ExceptionReport};
use kernel::println;

kernel::test_kernel!(test_main);

fn check_report(report: &ExceptionReport) -> ! {
    println!("{report}");
    assert_eq!(report.vector, 8, "expected a double fault");
    kernel::testing::expected_fault_reached()
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = [depth; 32];
    // black_box keeps the frame (and the recursion) from being optimised out.
    core::hint::black_box(&pad);
    recurse(depth + 1) + core::hint::black_box(pad[3])
}

/// Must be the last (and only) test: it ends the kernel through the hook.
#[test_case]
fn overflow_hits_the_guard_page() {
    set_fatal_hook(check_report);
    recurse(0);
    panic!("infinite recursion returned");
}
