//! Swap-device faults injected with QEMU blkdebug (`faultline run --fault`),
//! handled as Linux handles them: a read error kills only the task that
//! faults on the page, write errors keep the page in memory, every write
//! failing ends in a memcg OOM report, and a hung device in a report
//! within `swapdev.timeout_ms`. Every run is checked for leaks.

mod common;

use common::{assert_no_leaks, stderr};
use serde_json::Value;

/// A thrash run that swaps (4 tasks, 48M through 16M), with `fault`.
fn thrash_with(fault: &str, extra: &[&str]) -> (std::process::Output, Option<Value>) {
    let mut args = vec![
        "run",
        "--json",
        "--fault",
        fault,
        "--set",
        "workload=thrash",
        "--set",
        "workload.size=48M",
        "--set",
        "memcg.max=16M",
    ];
    for e in extra {
        args.extend(["--set", e]);
    }
    let out = common::faultline(&args);
    let v = serde_json::from_slice(&out.stdout).ok();
    (out, v)
}

#[test]
fn a_read_error_kills_only_the_task_that_faults_on_the_page() {
    // Slot 600 is in the first cluster the allocator hands out (512..1023).
    // Readahead off: with it, the failed read can be a readahead page that
    // reclaim drops before anyone touches it (Linux removes a `!uptodate`
    // swap-cache folio too), the next read succeeds ("once") and nobody is
    // killed, depending on timing. Without it every read is a demand fault.
    let (out, v) = thrash_with("read:slot=600:once", &["swap.readahead=off"]);
    let v = v.unwrap_or_else(|| panic!("no result: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(1), "a killed task is a failed run");
    assert_eq!(v["status"], "killed");
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["integrity"]["nr_killed"], 1);
    let killed = &v["integrity"]["killed_tasks"][0];
    assert_eq!(killed["signal"], "SIGBUS");
    assert_eq!(killed["slot"], 600);
    assert!(killed["task"].as_str().unwrap().starts_with("thrash-"));
    assert_eq!(v["vmstat"]["swap_read_errors"], 1, "once");
    let err = stderr(&out);
    assert!(
        err.contains("Read-error on swap-device (faultline-swap:4800)"),
        "{err}"
    );
    assert!(err.contains("killed by SIGBUS (BUS_ADRERR)"), "{err}");
    // The other three tasks finished: they verified pages after the kill.
    assert!(v["integrity"]["checked_pages"].as_u64().unwrap() > 20_000);
    assert_no_leaks(&v);
}

#[test]
fn write_errors_keep_pages_in_memory_and_are_counted() {
    let (out, v) = thrash_with("write:every=10", &[]);
    let v = v.unwrap_or_else(|| panic!("no result: {}", stderr(&out)));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["status"], "ok");
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    let errors = v["vmstat"]["swap_write_errors"].as_u64().unwrap();
    let writes = v["vmstat"]["pswpout"].as_u64().unwrap();
    assert!(errors > 0 && errors * 8 < writes, "{errors} of {writes}");
    assert!(stderr(&out).contains("Write-error on swap-device"));
    assert_no_leaks(&v);
}

#[test]
fn every_write_failing_ends_in_a_memcg_oom_report() {
    let (out, v) = thrash_with("write", &[]);
    assert_eq!(out.status.code(), Some(1), "a run that failed");
    let err = stderr(&out);
    assert!(err.contains("Memory cgroup out of memory"), "{err}");
    // No result, but the kind of failure and the counters reached.
    let v = v.expect("--json prints the partial result");
    assert_eq!(v["status"], "oom", "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("out of memory"),
        "{v}"
    );
    assert!(v["elapsed_cycles"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["vmstat"]["swap_write_errors"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(v["integrity"].is_null(), "a partial result checks nothing");
}

#[test]
fn a_hung_device_is_reported_within_the_timeout() {
    let (out, v) = thrash_with("hang", &["swapdev.timeout_ms=500"]);
    assert_eq!(v.expect("the partial result")["status"], "hung");
    assert_eq!(out.status.code(), Some(1), "a run that failed");
    let err = stderr(&out);
    assert!(
        err.contains("virtio-blk faultline-swap:") && err.contains("not completed within 500 ms"),
        "{err}"
    );
}

#[test]
fn bad_fault_specs_are_refused_before_anything_boots() {
    for (spec, says) in [
        ("reed", "'reed'"),
        ("read:every=0", "every=0"),
        ("read:slot=0", "slot 0 is the swap header"),
    ] {
        let out = common::faultline(&["run", "--fault", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let err = stderr(&out);
        assert!(err.contains(says), "{spec}: {err}");
        assert!(!err.contains("own page tables"), "nothing booted: {err}");
    }
    let out = common::faultline(&["run", "--fault", "read", "--swap", "0"]);
    assert!(stderr(&out).contains("need a swap disk"));
}
