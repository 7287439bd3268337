//! A short run of the seed experiment: at the thrash limit, the zswap
//! readahead bypass must cut swap readahead by at least 80 % and zswap-in
//! against the baseline, with no corrupt page. Lab runs are deterministic,
//! so this checks the same numbers on every machine.

use faultline::lab::{matrix, run_matrix, Experiment};

#[test]
fn seed_mini_bypass_cuts_readahead_and_zswapin_at_the_thrash_limit() {
    if let Err(e) = boot::find_qemu() {
        panic!("this test boots QEMU: {e}");
    }
    let exp = Experiment::load("seed").unwrap();
    let mut specs = matrix(&exp, "mini", 1).unwrap();
    specs.retain(|s| s.limit == "thrash" && (s.policy == "baseline" || s.policy == "bypass"));
    assert_eq!(
        specs.len(),
        2,
        "seed.json has a thrash limit, baseline and bypass"
    );
    let opts = faultline::lab::LabOptions {
        jobs: 2,
        ..Default::default()
    };
    let runs = run_matrix(&exp, "mini", &specs, &opts).unwrap();
    let vm = |policy: &str, c: &str| {
        let r = runs.iter().find(|r| r.spec.policy == policy).unwrap();
        assert_eq!(r.result["integrity"]["corrupt_pages"], 0, "{policy}");
        r.result["vmstat"][c].as_u64().unwrap()
    };
    let (ra_base, ra_bypass) = (vm("baseline", "swap_ra"), vm("bypass", "swap_ra"));
    assert!(ra_base > 1000, "the baseline reads ahead: {ra_base}");
    assert!(
        ra_bypass * 5 <= ra_base,
        "swap_ra {ra_base} -> {ra_bypass}: not 80 % lower"
    );
    let (zin_base, zin_bypass) = (vm("baseline", "zswpin"), vm("bypass", "zswpin"));
    assert!(
        zin_bypass < zin_base,
        "zswpin {zin_base} -> {zin_bypass}: not lower"
    );
}

/// A cell that fails (here a memcg OOM: swappiness 0 never swaps) is kept
/// as a failed result with its error, and the other cells still run.
#[test]
fn a_failed_cell_is_kept_and_the_others_run() {
    if let Err(e) = boot::find_qemu() {
        panic!("this test boots QEMU: {e}");
    }
    let exp = Experiment::parse(
        r#"{"name": "oom-cell", "workload": {"mini": ["workload=smoke", "workload.size=8M"]},
            "common": [], "mem": {"mini": "512M"},
            "limits": {"mini": [["tight", ["memcg.max=2M", "vm.swappiness=0"]], ["loose", []]]},
            "policies": [["base", []]]}"#,
    )
    .unwrap();
    let specs = matrix(&exp, "mini", 1).unwrap();
    assert_eq!(specs.len(), 2);
    let opts = faultline::lab::LabOptions {
        jobs: 2,
        ..Default::default()
    };
    let runs = run_matrix(&exp, "mini", &specs, &opts).unwrap();
    let tight = runs.iter().find(|r| r.spec.limit == "tight").unwrap();
    let err = tight.error.as_deref().expect("the tight cell failed");
    assert!(err.contains("run tight / base / rep 1"), "{err}");
    assert!(err.contains("out of memory"), "{err}");
    // The counters it reached are kept, its status is the kernel's kind.
    assert_eq!(tight.status, "oom");
    assert_eq!(tight.result["status"], "oom");
    assert!(tight.result["vmstat"]["pgfault"].as_u64().unwrap() > 0);
    let loose = runs.iter().find(|r| r.spec.limit == "loose").unwrap();
    assert!(loose.error.is_none(), "{:?}", loose.error);
    assert_eq!(loose.result["integrity"]["corrupt_pages"], 0);
    let t = faultline::lab::report::tables(&exp, &runs);
    assert!(t.contains("1 of 2 runs FAILED"), "{t}");
}
