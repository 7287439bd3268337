//! `faultline run` as a user runs it: the JSON result, and clear errors
//! for bad knobs.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::stderr;
use serde_json::Value;

/// Runs `faultline` and times it.
fn faultline(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = common::faultline(args);
    (out, start.elapsed())
}

#[test]
fn smoke_run_prints_one_json_object() {
    let (out, _) = faultline(&[
        "run",
        "--set",
        "workload.size=16M",
        "--set",
        "workload.seed=7",
        "--json",
    ]);
    assert!(out.status.success(), "stderr:\n{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "exactly one line: {stdout}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("stdout is JSON");
    assert_eq!(v["config"]["workload"], "smoke");
    assert_eq!(v["config"]["workload.size"], 16 << 20);
    assert_eq!(v["config"]["workload.seed"], 7);
    assert_eq!(v["vmstat"]["pgfault"], 4096, "one demand fault per page");
    assert!(v["elapsed_cycles"].as_u64().unwrap() > 0);
    assert_eq!(v["integrity"]["checked_pages"], 4096);
    assert_eq!(v["integrity"]["corrupt_pages"], 0);
    assert_eq!(v["meminfo"]["leaked_pages"], 0);
    assert_eq!(out.status.code(), Some(0));
    // The commit when the tests run in a git checkout, else null.
    let commit = &v["provenance"]["commit"];
    assert!(
        commit.as_str().is_some_and(|c| c.len() == 40) || commit.is_null(),
        "{commit}"
    );
    assert!(v["provenance"]["qemu"].as_str().unwrap().contains("QEMU"));
    assert!(v["wall_s"].as_f64().unwrap() > 0.0);
    // --accel auto: KVM where it is usable, else a clean fall back to TCG.
    let want = if boot::kvm_usable().is_ok() {
        "kvm"
    } else {
        "tcg"
    };
    assert_eq!(v["accel"], want);
}

#[test]
fn unknown_knob_is_rejected_with_the_valid_list() {
    let (out, took) = faultline(&["run", "--set", "no.such.knob=1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("unknown knob 'no.such.knob'"), "{err}");
    assert!(
        err.contains("valid knobs: workload, workload.size, workload.seed"),
        "{err}"
    );
    // Refused on the host, before any build or boot.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!err.contains("own page tables"), "no kernel booted: {err}");
}

#[test]
fn knobs_lists_every_knob_with_its_default() {
    let (out, _) = faultline(&["knobs"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("memcg.max=max\n"), "{text}");
    assert!(
        text.contains("vm.swappiness=60\n    number 0..=200\n"),
        "{text}"
    );
    let (out, _) = faultline(&["knobs", "extra"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_size_names_the_expected_format() {
    let (out, _) = faultline(&["run", "--set", "workload.size=banana"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad value 'banana' for workload.size"),
        "{err}"
    );
    assert!(err.contains("optional K, M or G suffix"), "{err}");
}

#[test]
fn workload_larger_than_ram_is_a_clear_error() {
    let (out, _) = faultline(&["run", "--mem", "128M", "--set", "workload.size=1G"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("workload.size needs 264192 pages"), "{err}");
    assert!(err.contains("but only"), "{err}");
    assert!(
        err.contains("--mem"),
        "the message says how to fix it: {err}"
    );
}

#[test]
fn malformed_set_is_rejected_on_the_host() {
    let (out, _) = faultline(&["run", "--set", "workload.size"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expected key=value, got 'workload.size'"));
}

/// `faultline image` then `faultline run --files`: the kernel walks the
/// image over virtio-blk and reports what is in it; a corrupted copy is
/// refused with the field and byte offset named.
#[test]
fn a_files_image_is_surveyed_and_a_corrupt_one_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("include")).unwrap();
    std::fs::write(src.join("main.c"), "int main(void) { return 0; }\n").unwrap();
    std::fs::write(src.join("include/big.h"), vec![b'#'; 50_000]).unwrap();
    let img = tmp.path().join("files.img");
    let (out, _) = faultline(&["image", src.to_str().unwrap(), img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (out, _) = faultline(&["run", "--json", "--files", img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"];
    // Directories: the root, include and mke2fs's lost+found.
    assert_eq!(
        (f["files"].as_u64(), f["dirs"].as_u64()),
        (Some(2), Some(3)),
        "{f}"
    );
    assert_eq!(f["bytes"], 50_000 + 29, "{f}");
    assert_eq!(f["block_size"], 4096);
    assert!(f["page_reads"].as_u64().unwrap() > 0);

    let mut bytes = std::fs::read(&img).unwrap();
    bytes[1080] ^= 0xff;
    let bad = tmp.path().join("bad.img");
    std::fs::write(&bad, bytes).unwrap();
    let (out, _) = faultline(&["run", "--files", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("s_magic at byte 1080"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_refuses_the_run_options_it_does_not_take() {
    let (out, took) = faultline(&["bench", "faults", "--fault", "read", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unexpected argument '--fault'"), "{err}");
    assert!(took < Duration::from_secs(10), "nothing booted: {took:?}");
}

/// The exit statuses of `src/exit.rs`, each produced for real: 0 (the
/// smoke run above), 1 (a memcg OOM and a killed task: tests/fault.rs),
/// 2, 3 and 4 here.
#[test]
fn exit_status_2_is_a_usage_error_refused_before_any_build() {
    let (out, took) = faultline(&["run", "--set", "memcg.max=12Q"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("memcg.max"), "{err}");
    assert!(err.contains("a size"), "names the valid form: {err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let (out, _) = faultline(&["run", "--swap=banana"]);
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = faultline(&["run", "--accel=kvm", "--deterministic"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("-icount needs TCG"),
        "{}",
        stderr(&out)
    );
    let (out, _) = faultline(&["lab", "--scale", "mini", "no-such-experiment"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("known: ") && err.contains("seed"), "{err}");
}

#[test]
fn exit_status_3_is_a_missing_qemu() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--set", "workload.size=16M"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("qemu-system-x86_64 not found"));
}

#[test]
fn exit_status_4_is_a_run_that_did_not_finish() {
    let (out, _) = faultline(&[
        "run",
        "--timeout=1",
        "--set=workload=thrash",
        "--set=workload.size=48M",
        "--set=memcg.max=16M",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out after 1 s"),
        "{}",
        stderr(&out)
    );
    // The same in the run's own clock: a budget of 100 million guest
    // instructions for a run that needs about 2000.
    let (out, _) = faultline(&[
        "run",
        "--deterministic",
        "--set=run.budget_mcycles=100",
        "--set=workload=thrash",
        "--set=workload.size=48M",
        "--set=memcg.max=16M",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("budget: the measured phase passed run.budget_mcycles=100"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_completions_and_knobs_json() {
    let (out, _) = faultline(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "run",
        "lab",
        "bench",
        "knobs",
        "fault",
        "soak",
        "completions",
    ] {
        assert!(text.contains(&format!("  {cmd} ")), "{cmd}: {text}");
    }
    assert!(text.contains("Exit status:"), "{text}");
    let (out, _) = faultline(&["lab", "seed", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--resume"));
    let (out, _) = faultline(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("_faultline"));
    let (out, _) = faultline(&["knobs", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), knobs::KNOBS.len());
    assert!(all
        .iter()
        .any(|k| k["name"] == "memcg.max" && k["default"] == "max"));
}

/// `run --timeline`: the kernel samples its counters during the measured
/// phase; the host writes them as per-interval deltas and a chart.
#[test]
fn timeline_writes_a_csv_of_samples_and_a_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let (out, _) = faultline(&[
        "run",
        "--deterministic",
        "--timeline=50",
        "--out",
        dir,
        "--json",
        "--set=workload=thrash",
        "--set=workload.size=48M",
        "--set=memcg.max=16M",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let csv = std::fs::read_to_string(tmp.path().join("timeline.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(header[0], "t_mcycles");
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<f64>> = rows
        .map(|r| r.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() > 10, "{} samples", rows.len());
    // Deltas add up to the run's totals: the last sample is close to the
    // end of the measured phase, so at least 80 % of the faults are in.
    let sum: f64 = rows.iter().map(|r| r[col("pgmajfault")]).sum();
    let total = v["vmstat"]["pgmajfault"].as_f64().unwrap();
    assert!(sum <= total && sum >= 0.8 * total, "{sum} of {total}");
    // memcg usage is a level, capped by memcg.max (4096 pages).
    assert!(rows.iter().all(|r| r[col("memcg_pages")] <= 4096.0));
    let svg = std::fs::read_to_string(tmp.path().join("timeline.svg")).unwrap();
    assert!(svg.contains("time (Mcycles of the run's clock)"));
}
