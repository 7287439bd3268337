//! The harness self-test: this test kernel MUST fail. The host test
//! `tests/kernel_tests.rs` checks that running it is reported as a failure,
//! which proves that a failing kernel test cannot pass unnoticed.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

kernel::test_kernel!(test_main);

#[test_case]
fn passes_first() {
    assert_eq!(core::hint::black_box(1) + 1, 2);
}

#[test_case]
fn fails_on_purpose() {
    let corrupt_pages = core::hint::black_box(1);
    assert_eq!(
        corrupt_pages, 0,
        "deliberate failure: the harness must report it"
    );
}
