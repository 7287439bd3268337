//! The compile-like workload: jobs start, grow, reuse, stream, exit and
//! are replaced, under a memory limit, and every page they read back is
//! verified; exited jobs give back all their memory.

mod common;

use common::run_json;

#[test]
fn compile_jobs_swap_exit_and_stay_intact() {
    let v = run_json(&[
        "workload=compile",
        "workload.jobs=4",
        "workload.passes=2",
        "memcg.max=8M",
        "zswap.enabled=1",
    ]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
    assert!(v["integrity"]["checked_pages"].as_u64().unwrap() > 10_000);
    for c in ["zswpout", "zswpin", "pgmajfault", "swap_ra"] {
        assert!(v["vmstat"][c].as_u64().unwrap() > 0, "{c}: {}", v["vmstat"]);
    }
    // Zero-filled heap pages (workload.zero_pct) go to the swap zero map,
    // not to zswap, and come back as zeros (verified like every page).
    for c in ["swpout_zero", "swpin_zero"] {
        assert!(v["vmstat"][c].as_u64().unwrap() > 0, "{c}: {}", v["vmstat"]);
    }
    // The output does not compress: zswap keeps it as-is (Linux 6.18).
    let z = &v["zswap"];
    assert!(z["incompressible_stores"].as_u64().unwrap() > 0, "{z}");
    // Four slots ran as tasks on the scheduler and took turns.
    assert_eq!(v["sched"]["tasks"], 4);
    assert!(
        v["sched"]["context_switches"].as_u64().unwrap() > 4,
        "{}",
        v["sched"]
    );
}

/// `workload.zero_pct=0`: no heap page is zero-filled, so nothing of the
/// build reaches the zero map (its pages are all written with data; reads
/// of never-written memory map the zero page and are never swapped).
#[test]
fn compile_without_zero_filled_pages_uses_no_zero_map() {
    let v = run_json(&[
        "workload=compile",
        "workload.jobs=4",
        "workload.passes=1",
        "workload.zero_pct=0",
        "memcg.max=8M",
        "zswap.enabled=1",
    ]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(common::counter(&v, "zswpout") > 0, "{}", v["vmstat"]);
    assert_eq!(common::counter(&v, "swpout_zero"), 0, "{}", v["vmstat"]);
}

/// `--deterministic` (QEMU -icount, `sched.deterministic=1`): the same run
/// twice, at the same time on a busy host, gives the same counters and the
/// same elapsed cycles, although the disk's host timing differs.
#[test]
fn deterministic_runs_repeat_exactly() {
    let args = [
        "run",
        "--json",
        "--deterministic",
        "--set",
        "workload=compile",
        "--set",
        "workload.jobs=4",
        "--set",
        "workload.passes=1",
        "--set",
        "memcg.max=8M",
        "--set",
        "zswap.enabled=1",
        // A small cgroup zswap limit sends the coldest entries to the disk,
        // whose host timing the determinism must not depend on.
        "--set",
        "memcg.zswap_max=1M",
    ];
    let runs: Vec<serde_json::Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| common::faultline(&args)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let out = h.join().unwrap();
                assert!(out.status.success(), "{}", common::stderr(&out));
                serde_json::from_slice(&out.stdout).unwrap()
            })
            .collect()
    });
    let (a, b) = (&runs[0], &runs[1]);
    assert!(common::counter(a, "pswpin") > 0, "the disk was used");
    assert_eq!(a["vmstat"], b["vmstat"]);
    assert_eq!(a["elapsed_cycles"], b["elapsed_cycles"]);
    assert_eq!(a["fault_latency"], b["fault_latency"]);
    assert_eq!(a["config"]["sched.deterministic"], "1");
}

/// A user's own tree, as the README says: `faultline image DIR IMG`, then
/// `faultline run --files IMG --set workload=compile`. Jobs read its
/// sources and headers through the page cache (pgpgin), the memory limit
/// makes reclaim drop and re-read file pages (workingset_refault_file),
/// and every page read is verified.
#[test]
fn compile_reads_a_users_tree_through_the_page_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("include")).unwrap();
    for i in 0..60 {
        let text = format!("#define H{i} {i}\n").repeat(600 + 37 * i);
        std::fs::write(tree.join(format!("include/h{i:02}.h")), text).unwrap();
    }
    for i in 0..8 {
        let text = format!("int f{i}(void) {{ return {i}; }}\n").repeat(900);
        std::fs::write(tree.join(format!("f{i}.c")), text).unwrap();
    }
    let img = tmp.path().join("tree.img");
    let out = common::faultline(&["image", tree.to_str().unwrap(), img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = common::faultline(&[
        "run",
        "--json",
        "--files",
        img.to_str().unwrap(),
        "--set",
        "workload=compile",
        "--set",
        "workload.jobs=4",
        "--set",
        "workload.passes=2",
        "--set",
        "workload.headers=30",
        "--set",
        "workload.hot_headers=10",
        "--set",
        "memcg.max=8M",
        "--set",
        "zswap.enabled=1",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"]["files"], 68, "{}", v["files"]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
    // 8 jobs each read a source (about 22 KiB) and 30 headers.
    assert!(common::counter(&v, "pgpgin") > 8 * 22, "{}", v["vmstat"]);
    assert!(common::counter(&v, "pgsteal_file") > 0, "{}", v["vmstat"]);
    assert!(
        common::counter(&v, "workingset_refault_file") > 0,
        "{}",
        v["vmstat"]
    );
}
