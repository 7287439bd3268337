//! A lab on many machines: `lab NAME --plan FILE` writes one
//! self-contained shell command per run, which GNU parallel (also across
//! machines with `--sshloginfile`) or a Slurm job array runs; each
//! command writes one JSON result. `lab NAME --collect DIR` reads them
//! back into the same tables, CSV, JSON and charts a local lab writes.
//! Runs are deterministic (`-icount`), so a collected lab equals a local
//! one but for wall times. See docs/many-machines.md.
//!
//! The out directory holds everything the commands need besides
//! faultline itself: `plan.json` (the experiment, the scale and every
//! run's cell and knobs, for `--collect`), a copy of the build-tree image
//! and of the traces, and `runs/` for the results. Commands use paths
//! relative to it, so a machine runs them from its own copy (`cd DIR`).

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::{Experiment, RunResult, RunSpec};

/// What the commands of a plan share.
pub struct PlanSettings {
    pub mem_mib: u64,
    pub swap_bytes: u64,
    pub timeout: Duration,
    pub files: Option<PathBuf>,
}

/// Shell quoting for one word.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=._-/,:%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The result file of run `i` (relative to the out directory).
fn result_file(i: usize) -> String {
    format!("runs/{i:04}.json")
}

/// Copies `src` into `dir/sub/` (once) and returns its relative path.
fn bring(dir: &Path, sub: &str, src: &Path) -> Result<String, String> {
    let name = src
        .file_name()
        .ok_or_else(|| format!("{}: not a file", src.display()))?;
    let rel = Path::new(sub).join(name);
    let dst = dir.join(&rel);
    std::fs::create_dir_all(dst.parent().expect("has a parent"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if dst.exists() {
        // One name, one file: two inputs with the same name (or an image
        // rebuilt since the last plan into this directory) are refused.
        let same = std::fs::read(src).ok() == std::fs::read(&dst).ok();
        if !same {
            return Err(format!(
                "{} differs from {}, already in the plan's directory under that name: plan into a new --out, or rename the input",
                src.display(),
                dst.display()
            ));
        }
    } else {
        std::fs::copy(src, &dst)
            .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
    }
    Ok(rel.to_string_lossy().into_owned())
}

/// Writes the plan: `plan_file` (one command per line) and, in `dir`,
/// `plan.json`, the files image and traces, and an empty `runs/`.
pub fn write(
    exp: &Experiment,
    scale: &str,
    specs: &[RunSpec],
    settings: &PlanSettings,
    dir: &Path,
    plan_file: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("runs"))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let files = settings
        .files
        .as_deref()
        .map(|f| bring(dir, "inputs", f))
        .transpose()?;
    let mut lines = String::new();
    let mut runs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let mut cmd = format!(
            "cd {} && ${{FAULTLINE:-faultline}} run --deterministic --json --mem {}M --swap {}M --timeout {}",
            quote(&dir.to_string_lossy()),
            settings.mem_mib,
            settings.swap_bytes >> 20,
            settings.timeout.as_secs()
        );
        if let Some(f) = &files {
            let _ = write!(cmd, " --files {}", quote(f));
        }
        let mut traces = Vec::new();
        for t in &spec.traces {
            let rel = bring(dir, "inputs", t)?;
            let _ = write!(cmd, " --trace {}", quote(&rel));
            traces.push(rel);
        }
        for k in &spec.knobs {
            let _ = write!(cmd, " --set {}", quote(k));
        }
        let out = result_file(i);
        let _ = writeln!(
            lines,
            "{cmd} > {out}.part 2> {out}.log; echo $? > {out}.status; mv {out}.part {out}"
        );
        runs.push(json!({
            "file": out, "limit": spec.limit, "policy": spec.policy,
            "rep": spec.rep + 1, "knobs": spec.knobs, "traces": traces,
        }));
    }
    let plan = json!({
        "experiment": exp.name,
        "scale": scale,
        "provenance": crate::provenance::get(),
        "runs": runs,
    });
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(&plan).expect("JSON"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::write(plan_file, lines)
        .map_err(|e| format!("cannot write {}: {e}", plan_file.display()))
}

/// The last `faultline: ...` line of a run's log: why it failed.
fn failure_of(log: &str) -> Option<String> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("faultline: "))
        .map(str::to_string)
}

/// Reads a planned lab back: the experiment's name and scale, and every
/// run (a run whose result file is missing is an error naming it).
/// Runs that sampled a counter timeline (`timeline.interval_mcycles` in
/// their knobs) have it in their log, the serial console `faultline run`
/// echoes on stderr; it is written to `timelines` as a local lab writes it.
pub fn collect(dir: &Path, timelines: &Path) -> Result<(String, String, Vec<RunResult>), String> {
    let path = dir.join("plan.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (--collect takes the directory a --plan wrote)",
            path.display()
        )
    })?;
    let plan: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |k: &str| {
        plan[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{}: no \"{k}\"", path.display()))
    };
    let (name, scale) = (field("experiment")?, field("scale")?);
    let mut runs = Vec::new();
    let mut missing = Vec::new();
    for (i, r) in plan["runs"].as_array().into_iter().flatten().enumerate() {
        let bad = || format!("{}: runs[{i}] is malformed", path.display());
        let file = r["file"].as_str().ok_or_else(bad)?;
        let mut line = r.clone();
        line["status"] = json!("?");
        line["wall_s"] = json!(0.0);
        let mut run = super::journal::from_json(&line).ok_or_else(bad)?;
        let out = std::fs::read_to_string(dir.join(file)).ok();
        let log = std::fs::read_to_string(dir.join(format!("{file}.log"))).unwrap_or_default();
        let Some(out) = out else {
            missing.push(file.to_string());
            continue;
        };
        // Exit status 3 is the machine's fault (no QEMU, a failed build),
        // not the run's: it is run again, not collected as a failure.
        let status =
            std::fs::read_to_string(dir.join(format!("{file}.status"))).unwrap_or_default();
        if status.trim() == "3" {
            missing.push(format!(
                "{file} (exit 3 on its machine: {})",
                failure_of(&log).unwrap_or_default()
            ));
            continue;
        }
        let result: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        run.wall = Duration::try_from_secs_f64(result["wall_s"].as_f64().unwrap_or(0.0))
            .unwrap_or_default();
        run.provenance = result["provenance"].clone();
        run.error = if crate::result::is_ok(&result) {
            None
        } else {
            Some(format!(
                "run {} / {} / rep {}: {}",
                run.spec.limit,
                run.spec.policy,
                run.spec.rep + 1,
                failure_of(&log).unwrap_or_else(|| "no result and no message".into())
            ))
        };
        run.status = super::journal::status_of(&result, run.error.as_deref(), None);
        super::write_timeline(&run.spec, &log, timelines)?;
        run.result = result;
        runs.push(run);
    }
    if !missing.is_empty() {
        return Err(format!(
            "{} of {} runs have no result yet in {} (run their lines of the plan again): {}{}",
            missing.len(),
            missing.len() + runs.len(),
            dir.display(),
            missing[..missing.len().min(5)].join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        ));
    }
    Ok((name, scale, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quote("memcg.max=8M"), "memcg.max=8M");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn the_last_faultline_line_is_the_reason() {
        let log = "serial...\nfaultline: Memory cgroup out of memory: task t\n";
        assert_eq!(
            failure_of(log).unwrap(),
            "Memory cgroup out of memory: task t"
        );
    }
}
