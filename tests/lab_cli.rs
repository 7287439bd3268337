//! `faultline lab` as a user runs it: a grid that crosses the OOM
//! boundary completes and shows the OOM cell as such; `--resume` after an
//! interrupt reruns nothing that finished; a `--plan` run command by
//! command and then `--collect`ed gives the local lab's results.csv but
//! for wall times.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::stderr;

/// Four small runs: a `tight` limit where smoke OOMs (swappiness 0 never
/// swaps) and a `loose` one, under two policies.
const EXPERIMENT: &str = r#"{"name": "edge", "description": "an OOM edge",
    "workload": {"mini": ["workload=smoke", "workload.size=8M"]},
    "common": [], "mem": {"mini": "512M"},
    "limits": {"mini": [["tight", ["memcg.max=2M", "vm.swappiness=0"]], ["loose", []]]},
    "policies": [["base", []], ["ra-off", ["swap.readahead=off"]]]}"#;

/// `faultline lab EXP --reps=1 EXTRA...` (with `--jobs=2` when it runs).
fn lab(exp: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["lab", exp.to_str().unwrap()];
    if !extra.contains(&"--collect") {
        args.push("--reps=1");
    }
    if !extra.contains(&"--collect") && !extra.contains(&"--plan") {
        args.push("--jobs=2");
    }
    args.extend(extra);
    common::faultline(&args)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts that `out` exited with `code` and said `says` on stderr.
fn assert_exit(out: &std::process::Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(stderr(out).contains(says), "{}", stderr(out));
}

/// `lab EXP --plan` into `tmp/planned`, each command run by `sh` as GNU
/// parallel would, then `lab EXP --collect` into `tmp/collected`: the
/// number of commands, the collected directory and the collect's output.
fn plan_run_collect(exp: &Path, tmp: &Path) -> (usize, PathBuf, std::process::Output) {
    let planned = tmp.join("planned");
    let jobs = tmp.join("jobs.txt");
    let plan = [
        "--plan",
        jobs.to_str().unwrap(),
        "--out",
        planned.to_str().unwrap(),
    ];
    let out = lab(exp, &plan);
    assert!(out.status.success(), "{}", stderr(&out));
    let commands = lines(&jobs);
    for c in &commands {
        let st = Command::new("sh")
            .args(["-c", c])
            .env("FAULTLINE", env!("CARGO_BIN_EXE_faultline"))
            .status()
            .unwrap();
        assert!(st.success(), "{c}");
    }
    let collected = tmp.join("collected");
    let collect = [
        "--collect",
        planned.to_str().unwrap(),
        "--out",
        collected.to_str().unwrap(),
    ];
    let out = lab(exp, &collect);
    (commands.len(), collected, out)
}

/// results.csv without its wall_s column.
fn csv_without_wall(path: &Path) -> Vec<String> {
    let rows = lines(path);
    let wall = rows[0].split(',').position(|c| c == "wall_s").unwrap();
    rows.iter()
        .map(|r| {
            let mut cols: Vec<&str> = r.split(',').collect();
            cols.remove(wall);
            cols.join(",")
        })
        .collect()
}

#[test]
fn an_oom_cell_is_a_result_resume_skips_finished_runs_and_a_plan_collects_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("edge.json");
    std::fs::write(&exp, EXPERIMENT).unwrap();
    let local = tmp.path().join("local");
    let out = lab(&exp, &["--out", local.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let tables = String::from_utf8_lossy(&out.stdout);
    assert!(tables.contains("OOM 1/1"), "{tables}");
    assert!(tables.contains("2 of 4 runs FAILED"), "{tables}");
    let journal = local.join("results.jsonl");
    assert_eq!(lines(&journal).len(), 4);

    // An interrupt after two runs, in the middle of writing the third.
    let kept = lines(&journal)[..2].join("\n") + "\n{\"limit\":\"lo";
    std::fs::write(&journal, kept).unwrap();
    let out = lab(&exp, &["--resume", local.to_str().unwrap()]);
    assert_exit(&out, 1, "2 of 4 runs are done already, 2 to run");
    assert_eq!(lines(&journal).len(), 4, "whole lines only");
    let first = csv_without_wall(&local.join("results.csv"));
    // Runs of another machine (here another swap disk) are not resumed.
    let out = lab(
        &exp,
        &["--resume", local.to_str().unwrap(), "--swap", "512M"],
    );
    assert_exit(&out, 2, "booted another machine");
    // Runs of another build are not resumed: their figures are that build's.
    let text = std::fs::read_to_string(&journal).unwrap();
    // (In a tree without git the commit is null: another build is then a
    // commit where there was none.)
    let other = if text.contains("\"commit\":null") {
        text.replacen("\"commit\":null", "\"commit\":\"0000\"", 1)
    } else {
        text.replacen("\"commit\":\"", "\"commit\":\"0000", 1)
    };
    assert_ne!(other, text);
    std::fs::write(&journal, other).unwrap();
    let out = lab(&exp, &["--resume", local.to_str().unwrap()]);
    assert_exit(&out, 2, "come from commit");

    // The same lab as a plan, its commands run one by one, then collected.
    let (n, collected, out) = plan_run_collect(&exp, tmp.path());
    assert_eq!(n, 4);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(csv_without_wall(&collected.join("results.csv")), first);
}

/// An experiment that sets `timeline.interval_mcycles` gets every run's
/// counter timeline next to its results.
#[test]
fn a_lab_writes_the_timelines_its_runs_sampled() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("tl.json");
    std::fs::write(
        &exp,
        r#"{"name": "tl", "workload": {"mini": ["workload=thrash", "workload.size=24M"]},
            "common": ["timeline.interval_mcycles=20"], "mem": {"mini": "512M"},
            "limits": {"mini": [["8M", ["memcg.max=8M"]]]}, "policies": [["base", []]]}"#,
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = lab(&exp, &["--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = out_dir.join("timelines/8M-base-1/timeline.csv");
    let rows = lines(&csv);
    assert!(rows[0].starts_with("t_mcycles,"), "{}", rows[0]);
    assert!(rows.len() > 3, "{} samples", rows.len() - 1);
    assert!(out_dir.join("timelines/8M-base-1/timeline.svg").is_file());

    // Planned, run elsewhere, collected: the same timeline (deterministic).
    let (_, collected, out) = plan_run_collect(&exp, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let got = collected.join("timelines/8M-base-1/timeline.csv");
    assert_eq!(lines(&got), rows, "the collected timeline differs");
}
