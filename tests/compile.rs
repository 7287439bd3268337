//! The compile-like workload: jobs start, grow, reuse, stream, exit and
//! are replaced, under a memory limit, and every page they read back is
//! verified; exited jobs give back all their memory.

use std::process::Command;

use serde_json::Value;

#[test]
fn compile_jobs_swap_exit_and_stay_intact() {
    if let Err(e) = boot::find_qemu() {
        panic!("this test boots QEMU: {e}");
    }
    let knobs = [
        "workload=compile",
        "workload.tasks=4",
        "workload.size=32M",
        "workload.passes=2",
        "memcg.max=12M",
        "zswap.enabled=1",
        "zswap.max_pool_percent=2",
    ];
    let mut args = vec!["run", "--json"];
    for k in &knobs {
        args.extend(["--set", k]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
    assert!(v["integrity"]["checked_pages"].as_u64().unwrap() > 10_000);
    for c in ["zswpout", "zswpin", "pgmajfault", "swap_ra"] {
        assert!(v["vmstat"][c].as_u64().unwrap() > 0, "{c}: {}", v["vmstat"]);
    }
}
