//! Map-around as a user runs it: every variant on the thrash workload with
//! readahead on and the bypass off, with zswap on and off, at
//! `vm.page_cluster` 1 and 3 (the acceptance matrix).

use std::process::Command;

use serde_json::Value;

fn run(knobs: &[String]) -> Value {
    if let Err(e) = boot::find_qemu() {
        panic!("these tests boot QEMU: {e}");
    }
    let mut args = vec!["run".to_string(), "--json".to_string()];
    for k in knobs {
        args.push("--set".into());
        args.push(k.clone());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .output()
        .expect("faultline runs");
    assert!(
        out.status.success(),
        "{knobs:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn c(v: &Value, name: &str) -> u64 {
    v["vmstat"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

fn matrix_cell(zswap: u8, page_cluster: u8) {
    let knobs = |mode: &str| -> Vec<String> {
        [
            "workload=thrash",
            "workload.size=80M",
            "memcg.max=32M",
            "workload.pattern=runs",
            "zswap.max_pool_percent=5",
            "swap.readahead=vma",
            "swap.zswap_bypass=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("zswap.enabled={zswap}"),
            format!("vm.page_cluster={page_cluster}"),
            format!("swap.map_around={mode}"),
        ])
        .collect()
    };
    let off = run(&knobs("off"));
    let cached = run(&knobs("cached"));
    let what = format!("zswap={zswap} page_cluster={page_cluster}");
    assert!(
        c(&cached, "swap_map_around") > 0,
        "{what}: cached mapped nothing"
    );
    assert!(
        c(&cached, "pgfault_swapcache") * 2 <= c(&off, "pgfault_swapcache"),
        "{what}: pgfault_swapcache {} -> {} is not a 50 % cut",
        c(&off, "pgfault_swapcache"),
        c(&cached, "pgfault_swapcache")
    );
    for (mode, v) in [("off", &off), ("cached", &cached)] {
        assert_eq!(v["integrity"]["corrupt_pages"], 0, "{what} {mode}");
    }
    for mode in ["zswap-sync", "io-complete"] {
        let v = run(&knobs(mode));
        assert_eq!(v["integrity"]["corrupt_pages"], 0, "{what} {mode}");
        assert_eq!(v["meminfo"]["leaked_pages"], 0, "{what} {mode}");
    }
}

#[test]
fn disk_only_page_cluster_1() {
    matrix_cell(0, 1);
}

#[test]
fn disk_only_page_cluster_3() {
    matrix_cell(0, 3);
}

#[test]
fn zswap_page_cluster_1() {
    matrix_cell(1, 1);
}

#[test]
fn zswap_page_cluster_3() {
    matrix_cell(1, 3);
}
