//! The kernel's own test framework (`#![feature(custom_test_frameworks)]`).
//!
//! Every `#[test_case]` function runs inside QEMU, one after the other, in
//! one test kernel (the lib's unit tests, or one `kernel/tests/*.rs`). The
//! verdict is an exit code, never just a printed line: all tests passed →
//! QEMU exits 33; a panic or a fatal exception → 35. The host counts tests
//! from the line `test result: ok. N passed; 0 failed`.
//!
//! A panic stops the whole test kernel (there is no unwinding in a kernel),
//! so the tests after a failing one do not run; the summary says so.

pub mod fixtures;
pub mod lab;

use core::any::type_name;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::arch::qemu::{exit_qemu, ExitCode};
use crate::println;

static TESTING: AtomicBool = AtomicBool::new(false);
static TOTAL: AtomicUsize = AtomicUsize::new(0);
static PASSED: AtomicUsize = AtomicUsize::new(0);

/// Something the runner can run: every `fn()` test.
pub trait Testable {
    fn run(&self);
}

impl<T: Fn()> Testable for T {
    fn run(&self) {
        let name = lab::short_name(type_name::<T>());
        if lab::should_skip(name) {
            // Reported in an earlier boot of the grader's (`lab.rs`).
            println!("{}... skipped (reported earlier)", type_name::<T>());
            PASSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        crate::print!("{}... ", type_name::<T>());
        if lab::is_active() {
            lab::begin(name);
        }
        self();
        if lab::is_active() {
            lab::end(name);
        }
        println!("[ok]");
        PASSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The custom test runner: runs every test and prints a summary.
pub fn test_runner(tests: &[&dyn Testable]) {
    TESTING.store(true, Ordering::Relaxed);
    TOTAL.store(tests.len(), Ordering::Relaxed);
    lab::init();
    println!("running {} tests", tests.len());
    for test in tests {
        test.run();
    }
    if lab::is_active() {
        lab::all_done();
    }
    println!("test result: ok. {} passed; 0 failed", tests.len());
}

/// Ends a test kernel after `test_main` returned: every test passed.
pub fn exit_after_tests() -> ! {
    exit_qemu(ExitCode::Success)
}

fn print_failed_summary() {
    let passed = PASSED.load(Ordering::Relaxed);
    let total = TOTAL.load(Ordering::Relaxed);
    println!("[failed]");
    println!(
        "test result: FAILED. {passed} passed; 1 failed; {} not run",
        total.saturating_sub(passed + 1)
    );
}

/// Ends the run as a failure (after a fatal report was printed).
pub fn fail_run() -> ! {
    if TESTING.load(Ordering::Relaxed) {
        print_failed_summary();
    }
    exit_qemu(ExitCode::Failure)
}

/// The panic handler's body: print the message and location, then fail.
pub fn on_panic(info: &core::panic::PanicInfo) -> ! {
    println!("kernel panic: {info}");
    lab::on_panic(info);
    fail_run()
}

/// For a test that ends by design in a fatal report (a segmentation fault,
/// a double fault): its hook calls this once it has checked the report.
/// Counts the running test as passed and ends the kernel with success, so
/// such a test must be the last one in its test kernel.
pub fn expected_fault_reached() -> ! {
    let passed = PASSED.fetch_add(1, Ordering::Relaxed) + 1;
    let total = TOTAL.load(Ordering::Relaxed);
    println!("[ok]");
    if passed == total {
        println!("test result: ok. {passed} passed; 0 failed");
        exit_qemu(ExitCode::Success)
    }
    println!("test result: FAILED. {passed} passed; 0 failed; {} not run (an expected-fault test must be last)", total - passed);
    exit_qemu(ExitCode::Failure)
}

/// Defines the entry point of a test kernel: boots, runs `$test_main`
/// (the function `reexport_test_harness_main` names), and exits 33.
#[macro_export]
macro_rules! test_kernel {
    ($test_main:ident) => {
        fn __faultline_test_kernel_main() -> ! {
            $test_main();
            $crate::testing::exit_after_tests()
        }
        $crate::kernel_entry!(__faultline_test_kernel_main);
    };
}
