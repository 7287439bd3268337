//! Trace replay of real programs, and clear errors for bad traces.

mod common;

use common::faultline;
use serde_json::Value;

fn shipped(name: &str) -> String {
    format!("{}/traces/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_traces_decode() {
    for name in ["cc1-O2.fltrace", "sort.fltrace"] {
        let t = faultline::trace::decode(&std::fs::read(shipped(name)).unwrap()).unwrap();
        assert!(t.n_pages > 500 && t.accesses.len() == 1_000_000, "{name}");
    }
}

#[test]
fn replaying_two_real_programs_swaps_and_stays_intact() {
    let (cc1, sort) = (shipped("cc1-O2.fltrace"), shipped("sort.fltrace"));
    let out = faultline(&[
        "run",
        "--json",
        "--trace",
        &cc1,
        "--trace",
        &sort,
        "--set",
        "workload=trace",
        "--set",
        "memcg.max=3M",
        "--set",
        "zswap.enabled=1",
        "--set",
        "zswap.max_pool_percent=1",
        "--set",
        "workload.passes=1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert!(
        v["vmstat"]["zswpout"].as_u64().unwrap() > 0,
        "{}",
        v["vmstat"]
    );
    assert!(v["vmstat"]["pgmajfault"].as_u64().unwrap() > 0);
}

/// `faultline run` replaying `trace`, which must fail: its stderr.
fn replay_failing(trace: &std::path::Path) -> String {
    let out = faultline(&[
        "run",
        "--trace",
        trace.to_str().unwrap(),
        "--set",
        "workload=trace",
    ]);
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_malformed_trace_names_the_offset() {
    let dir = std::env::temp_dir().join(format!("faultline-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = std::fs::read(shipped("sort.fltrace")).unwrap();
    bytes[8] = 7; // version
    let bad = dir.join("bad.fltrace");
    std::fs::write(&bad, &bytes).unwrap();
    let err = replay_failing(&bad);
    assert!(
        err.contains("trace 0: at byte offset 8: expected version 1, found 7"),
        "{err}"
    );
    // A header that claims 2^32 - 1 pages for one access: a clear error
    // naming the offset, not an allocation of 16 GiB and a panic.
    let mut huge = Vec::new();
    huge.extend_from_slice(b"FLTRACE1");
    for word in [1u32, 0, 12, u32::MAX, 1, 0] {
        huge.extend_from_slice(&word.to_le_bytes());
    }
    std::fs::write(&bad, &huge).unwrap();
    let err = replay_failing(&bad);
    assert!(
        err.contains(
            "trace 0: at byte offset 20: expected a page count no larger than the access count 1"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = faultline(&["run", "--set", "workload=trace"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs at least one trace"));
    let _ = std::fs::remove_dir_all(&dir);
}
