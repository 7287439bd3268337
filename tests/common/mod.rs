//! Helpers shared by the host tests that boot QEMU through the `faultline`
//! binary (each test file uses some of them).
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

/// Runs the `faultline` binary. Without QEMU the test fails at once, with
/// the install command: it never passes by skipping.
pub fn faultline(args: &[&str]) -> Output {
    if let Err(e) = boot::find_qemu() {
        panic!("these tests boot QEMU: {e}");
    }
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("faultline runs")
}

/// `faultline run --json --set K...`: the result, or a panic that shows
/// the run's stderr.
pub fn run_json<S: AsRef<str>>(knobs: &[S]) -> Value {
    run_json_with(&[], knobs)
}

/// `faultline run --json --deterministic --set K...`: for tests that
/// compare two runs, so the comparison does not move with host timing.
pub fn run_json_deterministic<S: AsRef<str>>(knobs: &[S]) -> Value {
    run_json_with(&["--deterministic"], knobs)
}

fn run_json_with<S: AsRef<str>>(flags: &[&str], knobs: &[S]) -> Value {
    let mut args = vec!["run", "--json"];
    args.extend(flags);
    for k in knobs {
        args.extend(["--set", k.as_ref()]);
    }
    let out = faultline(&args);
    let knobs: Vec<&str> = knobs.iter().map(AsRef::as_ref).collect();
    assert!(out.status.success(), "{knobs:?}:\n{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `vmstat` counter of a result.
pub fn counter(v: &Value, name: &str) -> u64 {
    v["vmstat"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

/// Every leak figure of a result is zero (and all eight are there).
pub fn assert_no_leaks(v: &Value) {
    let leaks = v["integrity"]["leaks"].as_object().expect("leaks");
    assert!(leaks.len() >= 8, "{leaks:?}");
    for (name, n) in leaks {
        assert_eq!(n, 0, "leak of {name}: {leaks:?}");
    }
}
