//! Trace replay of real programs, and clear errors for bad traces.

mod common;

use common::faultline;
use serde_json::Value;

fn shipped(name: &str) -> String {
    format!("{}/traces/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The traces `traces/README.md` lists: version 2, 12M records each, and
/// the directory within its stated 16 MB.
const SHIPPED: [&str; 4] = [
    "cc1.fltrace",
    "sort.fltrace",
    "xz.fltrace",
    "python3.fltrace",
];

#[test]
fn shipped_traces_decode() {
    let mut bytes = 0;
    for name in SHIPPED {
        let h = faultline::trace::read_header(std::path::Path::new(&shipped(name))).unwrap();
        assert_eq!((h.version, h.n_records), (2, 12_000_000), "{name}");
        assert!(h.n_pages > 1000, "{name}: {} pages", h.n_pages);
        bytes += std::fs::metadata(shipped(name)).unwrap().len();
    }
    assert!(bytes < 16_000_000, "traces/ holds {bytes} bytes of traces");
    // One decoded in full: every chunk and page id checked.
    let t = faultline::trace::decode(&std::fs::read(shipped("cc1.fltrace")).unwrap()).unwrap();
    assert_eq!(t.records.len(), 12_000_000);
}

#[test]
fn replaying_two_real_programs_swaps_and_stays_intact() {
    let (cc1, sort) = (shipped("cc1.fltrace"), shipped("sort.fltrace"));
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
        "memcg.max=6M",
        "--set",
        "zswap.enabled=1",
        "--set",
        "zswap.max_pool_percent=1",
        "--set",
        "workload.passes=1",
        "--set",
        "workload.trace_records=1000000",
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
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.fltrace");
    // The host reads the header before it builds or boots anything.
    let mut bytes = std::fs::read(shipped("sort.fltrace")).unwrap();
    bytes[8] = 7; // version
    std::fs::write(&bad, &bytes).unwrap();
    let err = replay_failing(&bad);
    assert!(
        err.contains("offset 8: expected version 1 or 2, found 7"),
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
        err.contains("payload offset 0: expected a page count no larger than the access count 1"),
        "{err}"
    );
    // What only the kernel sees, the records: a damaged lz4 chunk is an
    // error naming the chunk's offset in the trace, from the kernel.
    let t = faultline::trace::decode(&std::fs::read(shipped("sort.fltrace")).unwrap()).unwrap();
    let mut lz4 = faultline::trace::encode(&t);
    lz4[64..96].fill(0xff);
    std::fs::write(&bad, &lz4).unwrap();
    let err = replay_failing(&bad);
    assert!(
        err.contains("trace 0: at byte offset 64: expected chunk 0 as an lz4 block"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = faultline(&["run", "--set", "workload=trace"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs at least one trace"));
}

/// Light and full verification replay the same accesses: with swap to disk
/// (so page contents cannot change a decision, as compressed sizes would
/// in zswap) and one task, every counter must agree. Both check every
/// page in full at the end.
#[test]
fn light_and_full_verification_count_the_same() {
    let sort = shipped("sort.fltrace");
    let run = |verify: &str| -> Value {
        let out = faultline(&[
            "run",
            "--json",
            "--deterministic",
            "--trace",
            &sort,
            "--set",
            "workload=trace",
            "--set",
            "workload.passes=1",
            "--set",
            "workload.trace_records=1000000",
            "--set",
            "memcg.max=1M",
            "--set",
            &format!("workload.verify={verify}"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (light, full) = (run("light"), run("full"));
    assert_eq!(light["integrity"]["corrupt_pages"], 0);
    assert_eq!(full["integrity"]["corrupt_pages"], 0);
    assert!(
        light["vmstat"]["pswpin"].as_u64().unwrap() > 20,
        "{}",
        light["vmstat"]
    );
    assert_eq!(light["vmstat"], full["vmstat"]);
    assert_eq!(light["trace"]["light_verify"], 1);
    assert_eq!(full["trace"]["light_verify"], 0);
}
