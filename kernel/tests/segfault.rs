//! A touch outside every VMA gives a segmentation-fault report with the
//! address, error code and RIP, and ends the run (never a hang).

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

use kernel::arch::fault::{set_segv_hook, SegvReport};
use kernel::mm::memory::FaultError;
use kernel::mm::mm_types::{new_anon_mm, switch_mm};
use kernel::mm::PAGE_SIZE;
use kernel::println;

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_4000_0000_0000;
const OUTSIDE: u64 = BASE + 16 * PAGE_SIZE + 0x40;

fn check_report(report: &SegvReport) -> ! {
    println!("{report}");
    assert_eq!(report.address, OUTSIDE);
    assert_eq!(report.reason, FaultError::NoVma);
    assert_eq!(report.error_code & 0b10, 0b10, "it was a write");
    assert_eq!(report.task, "victim");
    assert!(
        report.rip > 0xffff_8000_0000_0000,
        "RIP is in the kernel image"
    );
    let text = alloc::format!("{report}");
    assert!(text.contains("segmentation fault") && text.contains("address=0x400000010040"));
    kernel::testing::expected_fault_reached()
}

extern crate alloc;

/// Must be the last (and only) test: it ends the kernel through the hook.
#[test_case]
fn write_outside_any_vma_is_a_segfault() {
    set_segv_hook(check_report);
    let mm = new_anon_mm("victim", BASE, 16 * PAGE_SIZE).unwrap();
    switch_mm(Some(&mm));
    // SAFETY: deliberately invalid: no VMA covers OUTSIDE; the fault handler
    // must report it and the hook ends the run.
    unsafe { (OUTSIDE as *mut u64).write_volatile(1) };
    panic!("the write outside any VMA did not fault");
}
