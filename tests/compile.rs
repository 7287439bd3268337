//! The compile-like workload: jobs start, grow, reuse, stream, exit and
//! are replaced, under a memory limit, and every page they read back is
//! verified; exited jobs give back all their memory.

mod common;

use common::run_json;

#[test]
fn compile_jobs_swap_exit_and_stay_intact() {
    let v = run_json(&[
        "workload=compile",
        "workload.tasks=4",
        "workload.size=32M",
        "workload.passes=2",
        "memcg.max=12M",
        "zswap.enabled=1",
        "zswap.max_pool_percent=2",
    ]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
    assert!(v["integrity"]["checked_pages"].as_u64().unwrap() > 10_000);
    for c in ["zswpout", "zswpin", "pgmajfault", "swap_ra"] {
        assert!(v["vmstat"][c].as_u64().unwrap() > 0, "{c}: {}", v["vmstat"]);
    }
}
