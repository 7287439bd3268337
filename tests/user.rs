//! User processes in ring 3 (`workload=user`, `workload=usertests`): the
//! usertests suite passes under a 16M limit with shared swap entries
//! (swap counts above one, non-exclusive swap-ins) and nothing corrupt or
//! leaked; a segfault kills only its process and is reported; a failing
//! program fails the run; an unknown program is refused before boot.

mod common;

use common::{assert_no_leaks, counter, stderr};
use serde_json::Value;

fn run_user(sets: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["run", "--json"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = common::faultline(&args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON result ({e}): {}", stderr(&out)));
    (out, v)
}

fn assert_clean(v: &Value) {
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(v["integrity"]["checked_pages"].as_u64().unwrap() > 0);
    assert_no_leaks(v);
}

#[test]
fn usertests_pass_under_a_16m_limit_with_shared_swap_entries() {
    let (out, v) = run_user(&["workload=usertests", "memcg.max=16M"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["status"], "ok");
    assert_clean(&v);
    let user = &v["user"];
    let programs = user["programs"].as_array().expect("programs");
    assert!(programs.len() >= 8, "{programs:?}");
    for p in programs {
        assert!(p["name"].as_str().unwrap().starts_with("ut_"), "{p}");
        assert_eq!(p["result"], "pass", "{p}");
    }
    assert_eq!(user["nr_failed"], 0);
    assert!(user["peak_swap_count"].as_u64().unwrap() >= 2, "{user}");
    assert!(counter(&v, "swapin_nonexclusive") > 0);
    assert!(counter(&v, "pgfault_wp_copy") > 0);
    assert!(counter(&v, "pgfault_wp_reuse") > 0);
    assert!(counter(&v, "pswpin") > 0, "nothing swapped");
    // The fork bomb met the process limit.
    assert_eq!(user["max_processes"], v["config"]["user.max_procs"]);
    // ut_segv's three children and ut_madvise's one, each by SIGSEGV.
    let killed = user["killed"].as_array().unwrap();
    assert_eq!(killed.len(), 4, "{killed:?}");
    assert_eq!(user["nr_killed"], 4);
    assert!(killed.iter().all(|k| k["signal"] == "SIGSEGV"));
}

/// Sharing must not break a policy: readahead in both modes, zswap with
/// the seed's bypass, map-around (which skips non-exclusive entries) and
/// zram (whose swap-ins always free the slot).
#[test]
fn usertests_pass_under_every_swap_policy() {
    let policies: [&[&str]; 5] = [
        &["swap.readahead=cluster"],
        &[
            "zswap.enabled=1",
            "zswap.compressor=zstd",
            "swap.zswap_bypass=1",
        ],
        &["swap.map_around=cached"],
        &["zswap.enabled=1", "swap.map_around=io-complete"],
        &["swap.device=zram"],
    ];
    for policy in policies {
        let mut sets = vec!["workload=usertests", "memcg.max=16M"];
        sets.extend_from_slice(policy);
        let (out, v) = run_user(&sets);
        assert_eq!(out.status.code(), Some(0), "{policy:?}: {}", stderr(&out));
        assert_eq!(v["status"], "ok", "{policy:?}");
        assert_clean(&v);
        assert_eq!(v["user"]["nr_failed"], 0, "{policy:?}");
        assert!(
            v["user"]["peak_swap_count"].as_u64().unwrap() >= 2,
            "{policy:?}"
        );
        assert!(counter(&v, "swapin_nonexclusive") > 0, "{policy:?}");
    }
}

#[test]
fn a_segfault_kills_only_its_process_and_is_reported() {
    let (out, v) = run_user(&["workload=user", "user.program=segv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_clean(&v);
    let user = &v["user"];
    assert_eq!(user["programs"][0]["name"], "segv");
    assert_eq!(user["programs"][0]["result"], "pass", "the parent saw it");
    assert_eq!(user["nr_killed"], 1);
    assert_eq!(user["killed"][0]["signal"], "SIGSEGV");
    assert_eq!(user["killed"][0]["address"], 0x1000);
    assert_eq!(user["forks"], 2, "the worker and the crasher");
    let serial = String::from_utf8_lossy(&out.stderr);
    assert!(
        serial.contains("killed by SIGSEGV at 0x1000"),
        "no report line: {serial}"
    );
}

#[test]
fn the_readme_example_runs_and_shares_swap_entries() {
    let (out, v) = run_user(&["workload=user", "user.program=example"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_clean(&v);
    assert_eq!(v["user"]["programs"][0]["result"], "pass");
    assert_eq!(v["user"]["peak_swap_count"], 2);
    assert_eq!(v["integrity"]["checked_pages"], 256);
    assert!(String::from_utf8_lossy(&out.stderr).contains("peak swap count 2"));
}

#[test]
fn a_failing_program_fails_the_run() {
    let (out, v) = run_user(&["workload=user", "user.program=must_fail"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(v["status"], "failed");
    assert_eq!(v["user"]["programs"][0]["result"], "fail");
    assert_eq!(v["user"]["programs"][0]["exit_code"], 1);
    assert_eq!(v["user"]["nr_failed"], 1);
}

#[test]
fn an_unknown_program_is_refused_before_boot() {
    let out = common::faultline(&[
        "run",
        "--set",
        "workload=user",
        "--set",
        "user.program=nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("user.program"), "{err}");
    assert!(err.contains("hello"), "the error lists the programs: {err}");
}

/// A swap read error in a program is a SIGBUS for the process that
/// faults on the page (for every process that does, when fork shared
/// it), never a kernel failure: the others go on, nothing leaks.
/// Readahead off, so every failed read is a demand fault.
#[test]
fn swap_read_errors_kill_only_the_processes_that_fault_on_the_page() {
    let mut args = vec!["run", "--json", "--fault", "read:every=300"];
    for s in ["workload=usertests", "memcg.max=16M", "swap.readahead=off"] {
        args.extend(["--set", s]);
    }
    let out = common::faultline(&args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON result ({e}): {}", stderr(&out)));
    assert_clean(&v);
    let errors = v["integrity"]["swap_read_errors"].as_u64().unwrap();
    assert!(errors >= 1, "no read error was injected");
    let killed = v["user"]["killed"].as_array().unwrap();
    let sigbus = killed.iter().filter(|k| k["signal"] == "SIGBUS").count();
    assert!(
        sigbus >= 1,
        "{errors} read errors but no SIGBUS: {killed:?}"
    );
    assert!(killed
        .iter()
        .all(|k| k["signal"] == "SIGBUS" || k["signal"] == "SIGSEGV"));
    // Every program ran to its end and has a result.
    let programs = v["user"]["programs"].as_array().unwrap();
    assert!(programs.len() >= 8);
    let failed = programs.iter().filter(|p| p["result"] == "fail").count();
    let status = v["status"].as_str().unwrap();
    assert_eq!(status == "failed", failed > 0, "{status}");
    assert_eq!(out.status.code(), Some(if failed > 0 { 1 } else { 0 }));
    let serial = String::from_utf8_lossy(&out.stderr);
    assert!(serial.contains("killed by SIGBUS"), "no report line");
}
