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

use common::{counter as c, faultline, run_json as run, run_json_deterministic};
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

/// Both runs are deterministic: the bypass leaves under a thousand
/// readahead pages, so its hit ratio moves by a few points with host
/// timing (free-running it measured 0.760 to 0.796 against the baseline's
/// 0.762 to 0.765, and once failed CI); with `--deterministic` it is
/// 0.762 -> 0.805 every time.
#[test]
fn bypass_cuts_readahead_and_zswap_in_like_the_seed() {
    let base = run_json_deterministic(&SEED_LIKE);
    let mut knobs = SEED_LIKE.to_vec();
    knobs.push("swap.zswap_bypass=1");
    let bypass = run_json_deterministic(&knobs);
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

/// 48 MiB in 32 MiB, zswap on with its default pool: everything reclaimed
/// fits in zswap compressed.
const ROOMY: [&str; 4] = [
    "zswap.enabled=1",
    "memcg.max=32M",
    "workload=thrash",
    "workload.size=48M",
];

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn incompressible_pages_are_stored_as_is() {
    // Linux 6.18: with memory.zswap.writeback=1 a page that does not
    // compress is kept in the pool as-is. A small pool (5 %, charged to
    // the cgroup) then fills, and the pages over it go to the disk.
    let v = run(&with(
        &ROOMY,
        &["workload.random_pct=100", "zswap.max_pool_percent=5"],
    ));
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    let z = &v["zswap"];
    assert!(z["incompressible_stores"].as_u64().unwrap() > 0, "{z}");
    assert!(
        z["zswap_stored_incompressible_pages"].as_u64().unwrap() > 0,
        "{z}"
    );
    assert_eq!(z["reject_compress_poor"], 0, "{z}");
}

#[test]
fn without_writeback_nothing_reaches_the_disk() {
    let v = run(&with(&ROOMY, &["memcg.zswap_writeback=0"]));
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(c(&v, "zswpout") > 0);
    assert_eq!(c(&v, "pswpout"), 0, "{}", v["vmstat"]);
    assert_eq!(c(&v, "zswpwb"), 0);
}

#[test]
fn a_cgroup_zswap_limit_writes_the_coldest_back() {
    let v = run(&with(&ROOMY, &["memcg.zswap_max=2M"]));
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(v["zswap"]["cgroup_limit_hit"].as_u64().unwrap() > 0);
    assert!(c(&v, "zswpwb") > 0, "{}", v["vmstat"]);
    assert!(c(&v, "pswpin") > 0, "{}", v["vmstat"]);
}

#[test]
fn zstd_round_trips_and_compresses_better_than_lz4_would() {
    let v = run(&with(&ROOMY, &["zswap.compressor=zstd"]));
    assert_eq!(v["zswap_compressor"], "zstd");
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(c(&v, "zswpout") > 0 && c(&v, "zswpin") > 0);
    // These pages keep 32 % of their size with lz4 (3.1x) and 28 % with
    // zstd (3.6x): see `faultline bench compressors`.
    let ratio = v["zswap_compression_ratio"].as_f64().unwrap();
    assert!(ratio > 3.35, "zstd ratio {ratio}: no better than lz4's");
    let cal = &v["calibration"];
    assert!(
        cal["zstd_compress_scale_1024ths"].as_u64().unwrap() > 0,
        "{cal}"
    );
}

/// `faultline run --set knob` fails and says `message`.
fn rejected(knob: &str, message: &str) {
    let out = faultline(&["run", "--set", knob]);
    assert!(!out.status.success(), "{knob} was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(message), "{err}");
}

#[test]
fn bad_zswap_and_device_values_are_rejected() {
    rejected(
        "zswap.max_pool_percent=150",
        "zswap.max_pool_percent=150 is out of range: valid range is 1..=100",
    );
    rejected(
        "zswap.compressor=gzip",
        "bad value 'gzip' for zswap.compressor: expected one of: lz4, zstd",
    );
    rejected(
        "swap.device=floppy",
        "bad value 'floppy' for swap.device: expected one of: virtio, zram",
    );
}
