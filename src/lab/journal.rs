//! `results.jsonl`: one JSON line per lab run, appended as each run
//! finishes, so an interrupted lab loses nothing that finished and
//! `lab --resume DIR` can skip it. The same line format is what
//! `results.json` lists and what `lab --collect` reads back.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::{RunResult, RunSpec};

/// A run's status: the kernel's (`ok`, `killed`, `corrupt`, `leak`) when
/// it printed a result; the kind of failure of its partial result when
/// the kernel ended it (`oom`, `budget`: the run's clock passed
/// `run.budget_mcycles`, `io_error`, `bus_error`, `hung`, `input`,
/// `config`; all deterministic, so results); else what ended it, from
/// the error text and QEMU's outcome (journals before schema 3 included):
/// `oom`, `budget`, `error` (another kernel error), `timeout` (wall time:
/// the host's, so `--resume` runs it again), `triple_fault` or `crash`.
pub fn status_of(result: &Value, error: Option<&str>, outcome: Option<&boot::Outcome>) -> String {
    if let Some(s) = result["status"].as_str() {
        return s.to_string();
    }
    let error = error.unwrap_or("");
    let s = if error.contains("Memory cgroup out of memory") {
        "oom"
    } else if error.contains("budget: ") {
        "budget"
    } else if matches!(outcome, Some(boot::Outcome::Timeout(_))) || error.contains("timed out") {
        "timeout"
    } else if matches!(outcome, Some(boot::Outcome::TripleFault)) || error.contains("triple-fault")
    {
        "triple_fault"
    } else if outcome.is_none_or(|o| *o == boot::Outcome::Failure) {
        // The kernel's own error line (exit 35), or a collected run whose
        // QEMU outcome is known only from its message.
        "error"
    } else {
        "crash"
    };
    s.to_string()
}

/// One run as a JSON object (a line of results.jsonl, an entry of
/// results.json's `runs`).
pub fn to_json(r: &RunResult) -> Value {
    json!({
        "limit": r.spec.limit,
        "policy": r.spec.policy,
        "rep": r.spec.rep + 1,
        "status": r.status,
        "wall_s": r.wall.as_secs_f64(),
        "knobs": r.spec.knobs,
        "traces": r.spec.traces,
        "error": r.error,
        "provenance": if r.provenance.is_null() {
            crate::provenance::get()
        } else {
            &r.provenance
        },
        "machine": r.machine,
        "result": r.result,
    })
}

/// Reads a run back; `None` for a line that is not one (a line cut short
/// by an interrupt is skipped, and that run runs again).
pub fn from_json(v: &Value) -> Option<RunResult> {
    let strings = |k: &str| -> Option<Vec<String>> {
        v[k].as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    Some(RunResult {
        spec: RunSpec {
            limit: v["limit"].as_str()?.to_string(),
            policy: v["policy"].as_str()?.to_string(),
            rep: (v["rep"].as_u64()? as usize).checked_sub(1)?,
            knobs: strings("knobs")?,
            traces: strings("traces")
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        },
        result: v["result"].clone(),
        wall: Duration::try_from_secs_f64(v["wall_s"].as_f64()?).unwrap_or_default(),
        provenance: v["provenance"].clone(),
        machine: v["machine"].clone(),
        error: v["error"].as_str().map(str::to_string),
        // Results written before schema 2 have no status.
        status: match v["status"].as_str() {
            Some(s) => s.to_string(),
            None => status_of(&v["result"], v["error"].as_str(), None),
        },
    })
}

/// Every complete run in `path` (a missing file holds none).
pub fn read(path: &Path) -> Result<Vec<RunResult>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| from_json(&v))
        .collect())
}

/// Is `done` the same run as `spec` (same cell, repetition and knobs)?
pub fn same_run(done: &RunSpec, spec: &RunSpec) -> bool {
    done.limit == spec.limit
        && done.policy == spec.policy
        && done.rep == spec.rep
        && done.knobs == spec.knobs
}

/// An append-only results.jsonl, shared by the lab's worker threads.
pub struct Journal {
    file: Mutex<std::fs::File>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Journal {
            file: Mutex::new(file),
        })
    }

    /// Appends one run as one line, written with one call so that a line
    /// is whole or missing.
    pub fn append(&self, r: &RunResult) -> Result<(), String> {
        let mut line = to_json(r).to_string();
        line.push('\n');
        let mut f = self.file.lock().unwrap();
        f.write_all(line.as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| format!("cannot append to results.jsonl: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rep: usize) -> RunResult {
        RunResult {
            spec: RunSpec {
                limit: "thrash".into(),
                policy: "bypass".into(),
                rep,
                knobs: vec!["memcg.max=8M".into(), format!("workload.seed={}", rep + 1)],
                traces: vec![],
            },
            result: json!({"status": "ok", "vmstat": {"pgfault": 7}}),
            wall: Duration::from_millis(1500),
            error: None,
            status: "ok".into(),
            provenance: Value::Null,
            machine: Value::Null,
        }
    }

    #[test]
    fn runs_round_trip_and_cut_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let j = Journal::open(&path).unwrap();
        j.append(&run(0)).unwrap();
        j.append(&run(1)).unwrap();
        // An interrupt in the middle of a line.
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"limit\":\"thr");
        std::fs::write(&path, text).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert!(same_run(&back[1].spec, &run(1).spec));
        assert!(!same_run(&back[0].spec, &run(1).spec));
        assert_eq!(back[0].result["vmstat"]["pgfault"], 7);
        assert_eq!(back[0].wall, Duration::from_millis(1500));
        assert!(read(&dir.path().join("none.jsonl")).unwrap().is_empty());
    }

    #[test]
    fn statuses_name_what_ended_a_run() {
        let none = Value::Null;
        let oom = "run a / b / rep 1: Memory cgroup out of memory: task t";
        assert_eq!(status_of(&none, Some(oom), None), "oom");
        let t = boot::Outcome::Timeout(Duration::from_secs(5));
        assert_eq!(status_of(&none, Some("x"), Some(&t)), "timeout");
        assert_eq!(
            status_of(&json!({"status": "killed"}), None, None),
            "killed"
        );
    }
}
