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
    // The output does not compress: it goes to the disk and comes back.
    for c in ["zswpout", "zswpin", "pgmajfault", "swap_ra", "pswpout"] {
        assert!(v["vmstat"][c].as_u64().unwrap() > 0, "{c}: {}", v["vmstat"]);
    }
    // Four slots ran as tasks on the scheduler and took turns.
    assert_eq!(v["sched"]["tasks"], 4);
    assert!(
        v["sched"]["context_switches"].as_u64().unwrap() > 4,
        "{}",
        v["sched"]
    );
}
