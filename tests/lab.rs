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
