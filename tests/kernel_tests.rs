//! Runs every kernel test inside QEMU as part of a plain `cargo test`.
//!
//! Builds the kernel's test binaries (its unit tests and each
//! `kernel/tests/*.rs`), boots each one, and demands QEMU exit status 33
//! plus a `test result: ok.` summary. `must_fail*` kernels must fail.
//! Without QEMU this fails at once with the install command: it never
//! passes by skipping.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use faultline::cargo::build_test_kernels;
use faultline::ktest::{run_test_kernel, KernelTestRun};

/// Test kernels booted at once.
const PARALLEL_BOOTS: usize = 2;

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

/// Boots every test kernel except `must_fail` (the self-test below boots
/// that one), two at a time: each QEMU is one TCG thread, and every kernel
/// has its own image and swap disk, so two fit the 2 cores we test on.
fn run_all() -> Vec<KernelTestRun> {
    let kernels = build_test_kernels().unwrap_or_else(|e| panic!("{e}"));
    let kernels: Vec<_> = kernels
        .into_iter()
        .filter(|k| !k.expects_failure())
        .collect();
    assert!(!kernels.is_empty(), "cargo built no kernel test binaries");
    let next = AtomicUsize::new(0);
    let runs = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..PARALLEL_BOOTS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(k) = kernels.get(i) else { break };
                let run = run_test_kernel(k).unwrap_or_else(|e| panic!("{}: {e}", k.name));
                runs.lock().unwrap().push((i, run));
            });
        }
    });
    let mut runs = runs.into_inner().unwrap();
    runs.sort_by_key(|(i, _)| *i);
    runs.into_iter().map(|(_, run)| run).collect()
}

#[test]
fn kernel_tests_pass_in_qemu() {
    require_qemu();
    let runs = run_all();
    let mut total = 0;
    let mut failures = Vec::new();
    for run in &runs {
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
        runs.len()
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
