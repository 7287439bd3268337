//! zswap and the seed's policies as a user runs them.
//!
//! The comparison uses `workload.pattern=runs` (sequential runs from
//! random starts: the mix of neighbouring and scattered accesses of a
//! build) rather than `hot`: a hot set has no spatial locality, so VMA
//! readahead collapses to a single page, exactly as on Linux, and there is
//! nothing for the bypass to remove. 80 MiB in 32 MiB with a 5 % pool keeps
//! the compressed pool (charged to the cgroup) inside the limit while a
//! minority of pages spills to disk, as in the seed's setup.

mod common;

use common::{counter as c, faultline, run_json as run};
use serde_json::Value;

const SEED_LIKE: [&str; 6] = [
    "zswap.enabled=1",
    "memcg.max=32M",
    "workload=thrash",
    "workload.size=80M",
    "workload.pattern=runs",
    "zswap.max_pool_percent=5",
];

fn hit_ratio(v: &Value) -> f64 {
    c(v, "swap_ra_hit") as f64 / c(v, "swap_ra").max(1) as f64
}

#[test]
fn bypass_cuts_readahead_and_zswap_in_like_the_seed() {
    let base = run(&SEED_LIKE);
    let mut knobs = SEED_LIKE.to_vec();
    knobs.push("swap.zswap_bypass=1");
    let bypass = run(&knobs);
    for (what, v) in [("baseline", &base), ("bypass", &bypass)] {
        assert_eq!(v["integrity"]["corrupt_pages"], 0, "{what}");
        assert!(
            c(v, "zswpout") > 0 && c(v, "zswpin") > 0,
            "{what}: {}",
            v["vmstat"]
        );
    }
    assert!(c(&base, "swap_ra") > 0);
    assert!(
        c(&bypass, "swap_ra") * 5 <= c(&base, "swap_ra"),
        "swap_ra must drop by 80 %: {} -> {}",
        c(&base, "swap_ra"),
        c(&bypass, "swap_ra")
    );
    assert!(
        hit_ratio(&bypass) > hit_ratio(&base),
        "hit ratio {} -> {}",
        hit_ratio(&base),
        hit_ratio(&bypass)
    );
    assert!(c(&bypass, "zswpin") < c(&base, "zswpin"));
    assert!(c(&bypass, "zswpout") < c(&base, "zswpout"));
}

#[test]
fn a_small_pool_writes_back_and_pages_return_from_disk() {
    let v = run(&[
        "zswap.enabled=1",
        "zswap.max_pool_percent=1",
        "memcg.max=16M",
        "workload=thrash",
        "workload.size=48M",
        "workload.pattern=runs",
    ]);
    assert!(c(&v, "zswpwb") > 0, "{}", v["vmstat"]);
    assert!(c(&v, "pswpin") > 0, "{}", v["vmstat"]);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(v["zswap"]["pool_limit_hit"].as_u64().unwrap() > 0);
}

#[test]
fn zram_has_no_readahead() {
    let v = run(&[
        "swap.device=zram",
        "memcg.max=16M",
        "workload=thrash",
        "workload.size=48M",
        "workload.pattern=runs",
    ]);
    assert_eq!(v["swap"]["device"], "zram");
    assert_eq!(c(&v, "swap_ra"), 0);
    assert!(c(&v, "pgmajfault") > 0 && c(&v, "pswpin") > 0);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
}

#[test]
fn bad_zswap_and_device_values_are_rejected() {
    let out = faultline(&["run", "--set", "zswap.max_pool_percent=150"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("zswap.max_pool_percent=150 is out of range: valid range is 1..=100"),
        "{err}"
    );
    let out = faultline(&["run", "--set", "swap.device=floppy"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad value 'floppy' for swap.device: expected one of: virtio, zram"),
        "{err}"
    );
}
