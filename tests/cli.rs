//! `faultline run` as a user runs it: the JSON result, and clear errors
//! for bad knobs.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::stderr;
use serde_json::Value;

/// Runs `faultline` and times it.
fn faultline(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = common::faultline(args);
    (out, start.elapsed())
}

#[test]
fn smoke_run_prints_one_json_object() {
    let (out, _) = faultline(&[
        "run",
        "--set",
        "workload.size=16M",
        "--set",
        "workload.seed=7",
        "--json",
    ]);
    assert!(out.status.success(), "stderr:\n{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one line: {stdout}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("stdout is JSON");
    assert_eq!(v["config"]["workload"], "smoke");
    assert_eq!(v["config"]["workload.size"], 16 << 20);
    assert_eq!(v["config"]["workload.seed"], 7);
    assert_eq!(v["vmstat"]["pgfault"], 4096, "one demand fault per page");
    assert!(v["elapsed_cycles"].as_u64().unwrap() > 0);
    assert_eq!(v["integrity"]["checked_pages"], 4096);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
}

#[test]
fn unknown_knob_is_rejected_with_the_valid_list() {
    let (out, took) = faultline(&["run", "--set", "no.such.knob=1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown knob 'no.such.knob'"), "{err}");
    assert!(
        err.contains("valid knobs: workload, workload.size, workload.seed"),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn bad_size_names_the_expected_format() {
    let (out, _) = faultline(&["run", "--set", "workload.size=banana"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad value 'banana' for workload.size"),
        "{err}"
    );
    assert!(err.contains("optional K, M or G suffix"), "{err}");
}

#[test]
fn workload_larger_than_ram_is_a_clear_error() {
    let (out, _) = faultline(&["run", "--mem", "128M", "--set", "workload.size=1G"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("workload.size needs 264192 pages"), "{err}");
    assert!(err.contains("but only"), "{err}");
    assert!(
        err.contains("--mem"),
        "the message says how to fix it: {err}"
    );
}

#[test]
fn malformed_set_is_rejected_on_the_host() {
    let (out, _) = faultline(&["run", "--set", "workload.size"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--set expects key=value"));
}
