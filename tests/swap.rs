//! The swap path as a user runs it: the thrash workload over a memory
//! limit, with each readahead mode, and the failures a user can cause.

mod common;

use common::{counter, faultline, run_json};
use serde_json::Value;

/// The acceptance command, plus `extra` knobs.
fn thrash(extra: &[&str]) -> Value {
    let mut knobs = vec!["memcg.max=32M", "workload=thrash", "workload.size=96M"];
    knobs.extend_from_slice(extra);
    run_json(&knobs)
}

fn assert_swapped_and_intact(v: &Value, what: &str) {
    for name in ["pswpout", "pswpin", "pgmajfault"] {
        assert!(counter(v, name) > 0, "{what}: {name} = 0");
    }
    assert!(
        v["integrity"]["checked_pages"].as_u64().unwrap() > 0,
        "{what}"
    );
    assert_eq!(v["integrity"]["corrupt_pages"], 0, "{what}: corrupt pages");
    assert_eq!(v["meminfo"]["leaked_pages"], 0, "{what}: leaked pages");
    let limit = v["memcg"]["max_pages"].as_u64().unwrap();
    assert!(
        v["memcg"]["peak_pages"].as_u64().unwrap() <= limit,
        "{what}: over the limit"
    );
}

#[test]
fn thrash_with_vma_readahead() {
    let v = thrash(&["swap.readahead=vma"]);
    assert_swapped_and_intact(&v, "vma");
    assert!(
        counter(&v, "swap_ra") > 0 && counter(&v, "swap_ra_hit") > 0,
        "{}",
        v["vmstat"]
    );
    assert!(counter(&v, "swap_ra_hit") <= counter(&v, "swap_ra"));
}

#[test]
fn thrash_with_cluster_readahead() {
    let v = thrash(&["swap.readahead=cluster"]);
    assert_swapped_and_intact(&v, "cluster");
    assert!(
        counter(&v, "swap_ra") > 0 && counter(&v, "swap_ra_hit") > 0,
        "{}",
        v["vmstat"]
    );
}

#[test]
fn readahead_off_reads_only_faulting_pages() {
    let v = thrash(&["swap.readahead=off"]);
    assert_swapped_and_intact(&v, "off");
    assert_eq!(counter(&v, "swap_ra"), 0);
    assert_eq!(counter(&v, "swap_ra_hit"), 0);
    assert_eq!(
        counter(&v, "pgmajfault"),
        counter(&v, "pswpin"),
        "every read is a major fault"
    );
}

#[test]
fn page_cluster_zero_disables_cluster_readahead() {
    let v = thrash(&["swap.readahead=cluster", "vm.page_cluster=0"]);
    assert_swapped_and_intact(&v, "page_cluster=0");
    assert_eq!(counter(&v, "swap_ra"), 0);
}

#[test]
fn too_small_swap_is_a_clear_oom_not_a_hang() {
    let out = faultline(&[
        "run",
        "--swap",
        "8M",
        "--timeout",
        "120",
        "--set",
        "memcg.max=4M",
        "--set",
        "workload=thrash",
        "--set",
        "workload.size=32M",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Memory cgroup out of memory: task thrash-"),
        "{err}"
    );
    assert!(
        err.contains("slots used"),
        "the report says swap is full: {err}"
    );
}

#[test]
fn transitional_virtio_device_works_too() {
    let out = faultline(&[
        "run",
        "--json",
        "--virtio-transitional",
        "--set",
        "memcg.max=4M",
        "--set",
        "workload=thrash",
        "--set",
        "workload.size=12M",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_swapped_and_intact(&v, "transitional");
}
