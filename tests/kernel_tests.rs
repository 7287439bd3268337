//! Runs every kernel test inside QEMU as part of a plain `cargo test`.
//!
//! Builds the kernel's test binaries (its unit tests and each
//! `kernel/tests/*.rs`), boots each one, and demands QEMU exit status 33
//! plus a `test result: ok.` summary. `must_fail*` kernels must fail.
//! Without QEMU this fails at once with the install command: it never
//! passes by skipping.

use std::io::Write;

use faultline::cargo::build_test_kernels;
use faultline::ktest::{run_test_kernel, KernelTestRun};

/// The issue asks for at least this many kernel tests.
const MIN_KERNEL_TESTS: usize = 15;

/// Prints past cargo's output capture, so that a passing `cargo test`
/// still shows which kernel tests ran inside QEMU.
fn show(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn require_qemu() {
    if let Err(e) = boot::find_qemu() {
        panic!("kernel tests need QEMU: {e}");
    }
}

fn run_all() -> Vec<KernelTestRun> {
    let kernels = build_test_kernels().unwrap_or_else(|e| panic!("{e}"));
    assert!(!kernels.is_empty(), "cargo built no kernel test binaries");
    kernels
        .iter()
        .map(|k| run_test_kernel(k).unwrap_or_else(|e| panic!("{}: {e}", k.name)))
        .collect()
}

#[test]
fn kernel_tests_pass_in_qemu() {
    require_qemu();
    let runs = run_all();
    let mut total = 0;
    let mut failures = Vec::new();
    for run in runs.iter().filter(|r| !r.expects_failure()) {
        show(&format!(
            "kernel test binary {:<16} {:>3} passed  {:>5.1} s  {}",
            run.name,
            run.passed,
            run.wall_time.as_secs_f64(),
            run.outcome.describe()
        ));
        total += run.passed;
        if !run.is_pass() {
            failures.push(format!(
                "--- {} ({}):\n{}",
                run.name,
                run.outcome.describe(),
                run.serial
            ));
        }
    }
    show(&format!(
        "kernel tests: {total} passed inside QEMU in {} test kernels",
        runs.len() - 1
    ));
    assert!(
        failures.is_empty(),
        "kernel test failures:\n{}",
        failures.join("\n")
    );
    assert!(total >= MIN_KERNEL_TESTS, "only {total} kernel tests ran");
}

/// The harness self-test: a kernel test that fails must make the run fail.
#[test]
fn failing_kernel_test_is_reported_as_failure() {
    require_qemu();
    let kernels = build_test_kernels().unwrap_or_else(|e| panic!("{e}"));
    let must_fail = kernels
        .iter()
        .find(|k| k.name == "must_fail")
        .expect("kernel/tests/must_fail.rs is missing");
    let run = run_test_kernel(must_fail).unwrap();
    assert_eq!(
        run.outcome,
        boot::Outcome::Failure,
        "serial:\n{}",
        run.serial
    );
    assert!(!run.is_pass());
    assert!(run.reported_failure, "no FAILED summary:\n{}", run.serial);
    assert!(run.serial.contains("deliberate failure"), "{}", run.serial);
    show(&format!(
        "harness self-test: must_fail was reported as failed ({})",
        run.outcome.describe()
    ));
}
