//! Map-around as a user runs it: every variant on the thrash workload with
//! readahead on and the bypass off, with zswap on and off, at
//! `vm.page_cluster` 1 and 3 (the acceptance matrix).

mod common;

use common::{counter as c, run_json as run};

fn matrix_cell(zswap: u8, page_cluster: u8) {
    let knobs = |mode: &str| -> Vec<String> {
        [
            "workload=thrash",
            "workload.size=80M",
            "memcg.max=32M",
            "workload.pattern=runs",
            // Two passes (not three) keep the suite short; each pass sees
            // the same readahead behaviour.
            "workload.passes=2",
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

/// Our two departures from the PoC, as knobs: old mappings (unused ones
/// are then seen by reclaim) and skipping pages under writeback.
#[test]
fn old_mappings_and_writeback_skip_knobs() {
    let v = run(&[
        "workload=thrash",
        "workload.size=80M",
        "memcg.max=32M",
        "workload.pattern=runs",
        "workload.passes=2",
        "swap.map_around=cached",
        "swap.map_around_old=1",
        "swap.map_around_skip_writeback=1",
    ]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(c(&v, "swap_map_around") > 0, "{}", v["vmstat"]);
    assert!(c(&v, "swap_map_around_wasted") > 0, "{}", v["vmstat"]);
}
