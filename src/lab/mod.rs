//! `faultline lab`: run an experiment (memory limits x policies x
//! repetitions), several QEMU instances at once, and report medians.
//!
//! An experiment is a small declarative JSON file in `experiments/`, so a
//! teacher can add one without touching Rust: its workload knobs per
//! scale, knobs common to every run, the memory limits, and the policies
//! (a name and the knobs that differ from the baseline, which is the first
//! policy).
//!
//! Every run is deterministic (`faultline run --deterministic`: QEMU
//! `-icount` and `sched.deterministic=1`), so the same run gives the same
//! numbers on any machine under any load. Repetition `k` runs with
//! `workload.seed=k` (other job sizes, other access orders; the policies
//! of one repetition see the same seed), so the min-max spread shows how
//! much a figure depends on the particular build rather than on noise.

pub mod build_tree;
pub mod chart;
pub mod command;
pub mod compare;
pub mod journal;
pub mod plan;
pub mod report;
pub mod traces;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cargo::{build_release_kernel, workspace_root};
use crate::run::{run_elf, RunOptions, DEFAULT_SWAP_BYTES};

/// A named list of knobs.
pub type Named = (String, Vec<String>);

/// One experiment, as read from `experiments/NAME.json`.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    /// Workload knobs per scale (`mini`, `full`).
    pub workload: Vec<(String, Vec<String>)>,
    pub common: Vec<String>,
    /// Limits per scale: (scale, [(limit name, knobs)]).
    pub limits: Vec<(String, Vec<Named>)>,
    /// Guest RAM per scale.
    pub mem: Vec<(String, String)>,
    /// Swap disk bytes per scale (optional; default [`DEFAULT_SWAP_BYTES`]).
    pub swap: Vec<(String, u64)>,
    /// Per-run timeout in seconds per scale (optional; default
    /// [`DEFAULT_RUN_TIMEOUT`]).
    pub timeout: Vec<(String, u64)>,
    /// Per-run budget in million cycles of the run's clock per scale
    /// (optional): the knob `run.budget_mcycles`, the real limit of a
    /// deterministic run; the wall-time timeout is only a safety net.
    pub budget: Vec<(String, u64)>,
    /// The build tree each run reads through the page cache, per scale
    /// (optional: without one, workload=compile reads no files).
    pub files: Vec<(String, build_tree::TreeSpec)>,
    /// The first policy is the baseline.
    pub policies: Vec<Named>,
    /// Trace experiments: the traces per scale ([`traces`]); each trace is
    /// a row of every limit.
    pub traces: Vec<(String, traces::TraceSpec)>,
    /// Traces given with `lab --trace`, rows after the experiment's own.
    pub extra_traces: Vec<PathBuf>,
    /// Pairs of policies whose change the tables show (optional; without
    /// pairs each policy is compared with the first).
    pub pairs: Vec<(String, String)>,
    /// `lab --set` knobs, applied to every run after all others.
    pub overrides: Vec<String>,
}

/// A lab run's timeout when the experiment names none for its scale.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Settings of [`run_matrix`] that the command line may override.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// QEMU instances at once.
    pub jobs: usize,
    /// Per-run timeout instead of the experiment's.
    pub timeout: Option<Duration>,
    /// Swap disk size in bytes instead of the experiment's.
    pub swap_bytes: Option<u64>,
    /// A files image (`faultline image`) instead of the experiment's tree.
    pub files: Option<PathBuf>,
    /// Append every finished run to this results.jsonl.
    pub journal: Option<PathBuf>,
    /// Runs already done (`--resume`): a spec that matches one is not run
    /// again, its result is taken as it is.
    pub done: Vec<RunResult>,
}

/// Where experiments live.
pub fn experiments_dir() -> PathBuf {
    workspace_root().join("experiments")
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what}: expected a list of \"key=value\" strings"))?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{what}: not a string: {s}"))
        })
        .collect()
}

fn named_list(v: &Value, what: &str) -> Result<Vec<Named>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("{what}: expected a list of [name, [knobs]]"))?;
    items
        .iter()
        .map(|item| {
            let name = item[0]
                .as_str()
                .ok_or_else(|| format!("{what}: entry without a name: {item}"))?;
            Ok((
                name.to_string(),
                strings(&item[1], &format!("{what} {name}"))?,
            ))
        })
        .collect()
}

fn per_scale<T>(
    v: &Value,
    what: &str,
    f: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<(String, T)>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what}: expected an object keyed by scale"))?;
    obj.iter()
        .map(|(scale, x)| Ok((scale.clone(), f(x, &format!("{what}.{scale}"))?)))
        .collect()
}

/// [`per_scale`] for a field that may be absent (then: no scale sets it).
fn optional_per_scale<T>(
    v: &Value,
    what: &str,
    f: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<(String, T)>, String> {
    v.get(what)
        .map_or(Ok(Vec::new()), |x| per_scale(x, what, f))
}

impl Experiment {
    /// Parses an experiment; errors name the field that is wrong.
    pub fn parse(text: &str) -> Result<Experiment, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let field = |k: &str| v.get(k).ok_or_else(|| format!("missing field \"{k}\""));
        let exp = Experiment {
            name: field("name")?
                .as_str()
                .ok_or("name: expected a string")?
                .to_string(),
            description: v["description"].as_str().unwrap_or("").to_string(),
            workload: per_scale(field("workload")?, "workload", strings)?,
            common: strings(field("common")?, "common")?,
            limits: per_scale(field("limits")?, "limits", named_list)?,
            mem: per_scale(field("mem")?, "mem", |x, w| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{w}: expected a size like \"512M\""))
            })?,
            swap: optional_per_scale(&v, "swap", |x, w| {
                x.as_str()
                    .and_then(crate::parse_size)
                    .filter(|&b| b >= 1 << 20)
                    .ok_or_else(|| format!("{w}: expected a size of at least 1M, like \"4G\""))
            })?,
            timeout: optional_per_scale(&v, "timeout", |x, w| {
                x.as_u64()
                    .filter(|&t| t > 0)
                    .ok_or_else(|| format!("{w}: expected seconds, a whole number above 0"))
            })?,
            budget: optional_per_scale(&v, "budget_mcycles", |x, w| {
                x.as_u64()
                    .filter(|&t| t > 0)
                    .ok_or_else(|| format!("{w}: expected million cycles, a whole number above 0"))
            })?,
            files: optional_per_scale(&v, "files", build_tree::TreeSpec::from_json)?,
            policies: named_list(field("policies")?, "policies")?,
            traces: optional_per_scale(&v, "traces", traces::TraceSpec::from_json)?,
            extra_traces: Vec::new(),
            pairs: Vec::new(),
            overrides: Vec::new(),
        };
        if exp.policies.is_empty() {
            return Err("policies: at least the baseline is needed".into());
        }
        let mut exp = exp;
        for pair in v["pairs"].as_array().into_iter().flatten() {
            let name = |i: usize| {
                pair[i]
                    .as_str()
                    .filter(|n| exp.policies.iter().any(|(p, _)| p == n))
                    .map(str::to_string)
                    .ok_or_else(|| format!("pairs: expected two policy names, found {pair}"))
            };
            exp.pairs.push((name(0)?, name(1)?));
        }
        Ok(exp)
    }

    /// Loads `experiments/NAME.json`, or NAME itself when it is a path to
    /// a `.json` file (an experiment of your own).
    pub fn load(name: &str) -> Result<Experiment, String> {
        let own = Path::new(name);
        let path = if name.ends_with(".json") && own.is_file() {
            own.to_path_buf()
        } else {
            experiments_dir().join(format!("{name}.json"))
        };
        let text = std::fs::read_to_string(&path).map_err(|_| {
            let known = list()
                .map(|l| {
                    l.iter()
                        .map(|e| e.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!(
                "no experiment '{name}' (looked for {}); known: {known}",
                path.display()
            )
        })?;
        Experiment::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn scales(&self) -> Vec<String> {
        self.workload.iter().map(|(s, _)| s.clone()).collect()
    }

    fn for_scale<'a, T>(
        &self,
        list: &'a [(String, T)],
        scale: &str,
        what: &str,
    ) -> Result<&'a T, String> {
        list.iter()
            .find(|(s, _)| s == scale)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                format!(
                    "experiment {} has no {what} for scale '{scale}' (scales: {})",
                    self.name,
                    self.scales().join(", ")
                )
            })
    }
}

/// Every experiment in `experiments/`.
pub fn list() -> Result<Vec<Experiment>, String> {
    let dir = experiments_dir();
    let mut out = Vec::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            out.push(Experiment::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One run of the matrix.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub limit: String,
    pub policy: String,
    pub rep: usize,
    pub knobs: Vec<String>,
    /// The traces a trace experiment's run replays.
    pub traces: Vec<PathBuf>,
}

/// What one run gave.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub spec: RunSpec,
    /// The kernel's result (`null` for a run that printed none).
    pub result: Value,
    pub wall: Duration,
    /// Why the run failed (a memcg OOM, a kernel error, a timeout, a
    /// triple fault), or `None`. A failed run stays in the results: its
    /// cell shows what it was, the other cells are kept.
    pub error: Option<String>,
    /// `ok`, `killed`, `corrupt`, `leak` (finished runs); `oom`, `budget`,
    /// `io_error`, `bus_error`, `hung`, `input`, `config` (the kernel's
    /// kind of failure); `error`, `timeout`, `triple_fault` or `crash`
    /// ([`journal::status_of`]).
    pub status: String,
    /// Where the run came from (`crate::provenance`); `Null` for a run of
    /// this process, which gets this process's when written.
    pub provenance: Value,
    /// The machine it ran on ([`machine_json`]: guest RAM, swap disk,
    /// files image); `Null` when not recorded (a collected plan's runs,
    /// journals before schema 3).
    pub machine: Value,
}

/// The machine a lab run boots, as its journal line records it, so that
/// `--resume` never mixes runs of another RAM, swap or files image.
pub fn machine_json(mem_mib: u64, swap_bytes: u64, files: Option<&Path>) -> Value {
    serde_json::json!({
        "mem_mib": mem_mib,
        "swap_bytes": swap_bytes,
        "files": files.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()),
    })
}

/// The matrix of runs, limit by limit, policy by policy, repetition last.
/// A trace experiment's rows are its traces (and "mix") times its limits,
/// with relative limits resolved against each row's footprint.
pub fn matrix(exp: &Experiment, scale: &str, reps: usize) -> Result<Vec<RunSpec>, String> {
    let workload = exp.for_scale(&exp.workload, scale, "workload")?;
    let limits = exp.for_scale(&exp.limits, scale, "limits")?;
    // (row name, limit knobs, traces, footprint for relative limits)
    type Row = (String, Vec<String>, Vec<PathBuf>, Option<u64>);
    let rows: Vec<Row> = match exp.traces.iter().find(|(s, _)| s == scale) {
        None => limits
            .iter()
            .map(|(l, k)| (l.clone(), k.clone(), Vec::new(), None))
            .collect(),
        Some((_, spec)) => {
            let mut rows = Vec::new();
            for row in traces::rows(spec, &exp.extra_traces)? {
                for (l, k) in limits {
                    let name = if limits.len() == 1 {
                        row.name.clone()
                    } else {
                        format!("{}/{l}", row.name)
                    };
                    rows.push((
                        name,
                        k.clone(),
                        row.traces.clone(),
                        Some(row.footprint_bytes),
                    ));
                }
            }
            rows
        }
    };
    let mut runs = Vec::new();
    for (limit, limit_knobs, trace_files, footprint) in rows {
        for (policy, policy_knobs) in &exp.policies {
            for rep in 0..reps {
                let mut knobs: Vec<String> = workload
                    .iter()
                    .chain(&exp.common)
                    .chain(&limit_knobs)
                    .chain(policy_knobs)
                    .cloned()
                    .collect();
                if let Some((_, b)) = exp.budget.iter().find(|(s, _)| s == scale) {
                    if !knobs.iter().any(|k| k.starts_with("run.budget_mcycles=")) {
                        knobs.push(format!("run.budget_mcycles={b}"));
                    }
                }
                knobs = with_overrides(knobs, &exp.overrides);
                knobs = traces::resolve_relative(&knobs, footprint)
                    .map_err(|e| format!("{limit} / {policy}: {e}"))?;
                if !knobs.iter().any(|k| k.starts_with("workload.seed=")) {
                    knobs.push(format!("workload.seed={}", rep + 1));
                }
                runs.push(RunSpec {
                    limit: limit.clone(),
                    policy: policy.clone(),
                    rep,
                    knobs,
                    traces: trace_files.clone(),
                });
            }
        }
    }
    Ok(runs)
}

/// `knobs` with every knob `overrides` sets replaced by the override's
/// value (a key may appear once: the kernel refuses duplicates).
pub fn with_overrides(knobs: Vec<String>, overrides: &[String]) -> Vec<String> {
    let key = |k: &str| k.split('=').next().unwrap_or("").to_string();
    let mut out: Vec<String> = knobs
        .into_iter()
        .filter(|k| !overrides.iter().any(|o| key(o) == key(k)))
        .collect();
    out.extend(overrides.iter().cloned());
    out
}

/// Checks every run's knobs with the kernel's parser, naming the cell of
/// the first that is wrong.
pub fn check_knobs(specs: &[RunSpec]) -> Result<(), String> {
    for spec in specs {
        knobs::Config::parse(&spec.knobs.join("\n"))
            .map_err(|e| format!("{} / {}: {e}", spec.limit, spec.policy))?;
    }
    Ok(())
}

impl Experiment {
    /// Guest RAM at `scale`, in MiB.
    pub fn mem_mib(&self, scale: &str) -> Result<u64, String> {
        let mem = self.for_scale(&self.mem, scale, "mem")?;
        Ok(crate::parse_size(mem).ok_or_else(|| format!("mem.{scale}: bad size {mem}"))? >> 20)
    }

    /// The files disk of every run at `scale`: `given` (`--files`), else
    /// the experiment's build tree (made once), else none.
    pub fn files_image(
        &self,
        scale: &str,
        given: Option<&PathBuf>,
    ) -> Result<Option<PathBuf>, String> {
        match (given, self.files.iter().find(|(s, _)| s == scale)) {
            (Some(image), _) => Ok(Some(image.clone())),
            (None, Some((_, spec))) => Ok(Some(build_tree::tree_image(spec)?)),
            (None, None) => Ok(None),
        }
    }

    /// The swap disk size at `scale`: the experiment's, else the default.
    pub fn swap_bytes(&self, scale: &str) -> u64 {
        self.swap
            .iter()
            .find(|(s, _)| s == scale)
            .map_or(DEFAULT_SWAP_BYTES, |&(_, b)| b)
    }

    /// Keeps only the policies named in `names` (comma-separated), in the
    /// order given, so the first named is the reference of the tables.
    pub fn select_policies(&mut self, names: &str) -> Result<(), String> {
        let mut chosen = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let p = self
                .policies
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = self.policies.iter().map(|(n, _)| n.as_str()).collect();
                    format!(
                        "--policies: experiment {} has no policy '{name}' (policies: {})",
                        self.name,
                        known.join(", ")
                    )
                })?;
            chosen.push(p.clone());
        }
        if chosen.is_empty() {
            return Err("--policies: name at least one policy".into());
        }
        self.policies = chosen;
        Ok(())
    }

    /// The per-run timeout at `scale`: the experiment's, else the default.
    pub fn run_timeout(&self, scale: &str) -> Duration {
        self.timeout
            .iter()
            .find(|(s, _)| s == scale)
            .map_or(DEFAULT_RUN_TIMEOUT, |&(_, t)| Duration::from_secs(t))
    }
}

/// Runs every spec with `opts.jobs` QEMU instances at once, printing
/// progress on stderr. A run that fails (the kernel's error, a timeout,
/// a crash) is kept as a failed result, named in the progress line and in
/// the results, and the others go on; a run that times out names the
/// timeout and how to raise it. Only what stops every run (no QEMU, a
/// build that fails, a file that cannot be made) ends the matrix.
pub fn run_matrix(
    exp: &Experiment,
    scale: &str,
    specs: &[RunSpec],
    opts: &LabOptions,
) -> Result<Vec<RunResult>, String> {
    let jobs = opts.jobs;
    let mem_mib = exp.mem_mib(scale)?;
    boot::find_qemu()?;
    let files = exp.files_image(scale, opts.files.as_ref())?;
    let swap_bytes = opts.swap_bytes.unwrap_or_else(|| exp.swap_bytes(scale));
    let settings = RunSettings {
        mem_mib,
        swap_bytes,
        timeout: opts.timeout.unwrap_or_else(|| exp.run_timeout(scale)),
        machine: machine_json(mem_mib, swap_bytes, files.as_deref()),
        files,
        timelines: opts
            .journal
            .as_deref()
            .and_then(Path::parent)
            .map(|d| d.join("timelines")),
    };
    check_knobs(specs)?;
    let elf = build_release_kernel()?;
    let journal = opts
        .journal
        .as_deref()
        .map(journal::Journal::open)
        .transpose()?;
    // Resumed runs are taken as they are; only the others are run.
    let mut results: Vec<Option<RunResult>> = specs
        .iter()
        .map(|spec| {
            opts.done
                .iter()
                .find(|d| journal::same_run(&d.spec, spec))
                .cloned()
        })
        .collect();
    let todo: Vec<usize> = (0..specs.len()).filter(|&i| results[i].is_none()).collect();
    if todo.len() < specs.len() {
        eprintln!(
            "lab: resuming: {} of {} runs are done already, {} to run",
            specs.len() - todo.len(),
            specs.len(),
            todo.len()
        );
    }
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let finished: Mutex<Vec<(usize, RunResult)>> = Mutex::new(Vec::new());
    let error: Mutex<Option<String>> = Mutex::new(None);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= todo.len() || error.lock().unwrap().is_some() {
                    return;
                }
                let i = todo[k];
                let r = run_one(&specs[i], &elf, &settings).and_then(|r| {
                    if let Some(j) = &journal {
                        j.append(&r)?;
                    }
                    Ok(r)
                });
                match r {
                    Ok(r) => {
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress(n, todo.len(), &r, start.elapsed());
                        finished.lock().unwrap().push((i, r));
                    }
                    Err(e) => *error.lock().unwrap() = Some(e),
                }
            });
        }
    });
    if let Some(e) = error.into_inner().unwrap() {
        return Err(e);
    }
    for (i, r) in finished.into_inner().unwrap() {
        results[i] = Some(r);
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every run finished"))
        .collect())
}

/// What every run of one lab invocation shares.
struct RunSettings {
    mem_mib: u64,
    swap_bytes: u64,
    timeout: Duration,
    /// The files disk of every run, if any.
    files: Option<PathBuf>,
    /// [`machine_json`] of the above, recorded with every run.
    machine: Value,
    /// Where runs that sampled a counter timeline (an experiment with
    /// `timeline.interval_mcycles` in its knobs) write it.
    timelines: Option<PathBuf>,
}

/// Boots one run. `Err` only for what stops every run (see
/// [`run_matrix`]); a run that failed is an `Ok` with its `error` set.
fn run_one(spec: &RunSpec, elf: &Path, settings: &RunSettings) -> Result<RunResult, String> {
    let opts = RunOptions {
        knobs: spec.knobs.clone(),
        mem_mib: settings.mem_mib,
        swap_bytes: settings.swap_bytes,
        timeout: settings.timeout,
        echo_serial: false,
        deterministic: true,
        files: settings.files.clone(),
        traces: spec.traces.clone(),
        ..RunOptions::default()
    };
    let report = run_elf(&opts, elf)?;
    if let Some(dir) = &settings.timelines {
        write_timeline(spec, &report.serial, dir)?;
    }
    let what = format!(
        "run {} / {} / rep {}",
        spec.limit,
        spec.policy,
        spec.rep + 1
    );
    let error = if let Some(e) = &report.error {
        Some(format!("{what}: {e}"))
    } else if !report.is_success() || report.result.is_none() {
        let mut e = format!("{what}: {}", report.outcome.describe());
        if report.wall_time >= settings.timeout {
            e += &format!(
                " (the per-run timeout is {} s: raise it with --timeout SECS, or the experiment's \"timeout\")",
                settings.timeout.as_secs()
            );
        }
        Some(e)
    } else {
        None
    };
    // A run that ended with an error keeps the counters it reached (its
    // partial result, whose status is the kind of failure).
    let result = report.result.or(report.partial).unwrap_or(Value::Null);
    Ok(RunResult {
        status: journal::status_of(&result, report.error.as_deref(), Some(&report.outcome)),
        spec: spec.clone(),
        result,
        wall: report.wall_time,
        error,
        provenance: Value::Null,
        machine: settings.machine.clone(),
    })
}

/// A run's counter timeline, if it sampled one, as
/// `timelines/LIMIT-POLICY-REP.csv` and `.svg` (names made file-safe).
pub(super) fn write_timeline(spec: &RunSpec, serial: &str, dir: &Path) -> Result<(), String> {
    let Some(t) = crate::timeline::parse(serial)? else {
        return Ok(());
    };
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let name = format!(
        "{}-{}-{}",
        safe(&spec.limit),
        safe(&spec.policy),
        spec.rep + 1
    );
    let sub = dir.join(&name);
    let title = format!("{} / {} / seed {}", spec.limit, spec.policy, spec.rep + 1);
    t.write(&sub, &title)?;
    Ok(())
}

fn progress(n: usize, total: usize, r: &RunResult, elapsed: Duration) {
    let eta = elapsed.as_secs_f64() / n as f64 * (total - n) as f64;
    if let Some(e) = &r.error {
        eprintln!(
            "lab: run {n}/{total} FAILED in {:.1} s: {e}; elapsed {:.0} s, about {eta:.0} s left",
            r.wall.as_secs_f64(),
            elapsed.as_secs_f64(),
        );
        return;
    }
    let v = &r.result["vmstat"];
    eprintln!(
        "lab: run {n}/{total} done ({} / {} / rep {}) in {:.1} s: swap_ra={} zswpin={} corrupt={}; elapsed {:.0} s, about {:.0} s left",
        r.spec.limit,
        r.spec.policy,
        r.spec.rep + 1,
        r.wall.as_secs_f64(),
        v["swap_ra"],
        v["zswpin"],
        r.result["integrity"]["corrupt_pages"],
        elapsed.as_secs_f64(),
        eta
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_experiments_parse() {
        let all = list().unwrap();
        assert!(
            all.iter().any(|e| e.name == "seed"),
            "experiments/seed.json is missing"
        );
        for e in &all {
            for scale in e.scales() {
                let runs = matrix(e, &scale, 2).unwrap();
                assert!(!runs.is_empty());
                assert!(runs.iter().all(|r| r.knobs.iter().all(|k| k.contains('='))));
            }
        }
    }

    #[test]
    fn bad_experiments_name_the_field() {
        assert!(Experiment::parse("{")
            .unwrap_err()
            .contains("not valid JSON"));
        let e = Experiment::parse(r#"{"name":"x"}"#).unwrap_err();
        assert!(e.contains("missing field \"workload\""), "{e}");
        let e = Experiment::parse(
            r#"{"name":"x","workload":{"mini":[1]},"common":[],"limits":{},"mem":{},"policies":[]}"#,
        )
        .unwrap_err();
        assert!(e.contains("workload.mini"), "{e}");
    }

    #[test]
    fn policies_can_be_selected_by_name() {
        let mut e = Experiment::load("seed").unwrap();
        e.select_policies("bypass,baseline").unwrap();
        let names: Vec<&str> = e.policies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bypass", "baseline"]);
        let err = e.select_policies("nope").unwrap_err();
        assert!(err.contains("no policy 'nope'"), "{err}");
        assert!(e.select_policies(",").is_err());
    }

    #[test]
    fn timeout_and_swap_per_scale() {
        let e = Experiment::load("seed").unwrap();
        assert_eq!(e.run_timeout("full"), Duration::from_secs(14400));
        let full = matrix(&e, "full", 1).unwrap();
        assert!(full[0]
            .knobs
            .contains(&"run.budget_mcycles=2000000".to_string()));
        assert_eq!(e.swap_bytes("full"), 4 << 30);
        let bad = r#"{"name":"t","workload":{"mini":[]},"common":[],"limits":{},"mem":{},
            "timeout":{"mini":0},"policies":[["b",[]]]}"#;
        assert!(Experiment::parse(bad).unwrap_err().contains("timeout.mini"));
        let bad = bad.replace(r#""timeout":{"mini":0}"#, r#""swap":{"mini":"lots"}"#);
        assert!(Experiment::parse(&bad).unwrap_err().contains("swap.mini"));
    }

    #[test]
    fn matrix_orders_limits_policies_reps() {
        let e = Experiment::parse(
            r#"{"name":"t","workload":{"mini":["workload=thrash"]},"common":["zswap.enabled=1"],
                "limits":{"mini":[["a",["memcg.max=8M"]],["b",["memcg.max=16M"]]]},"mem":{"mini":"512M"},
                "policies":[["base",[]],["p",["swap.zswap_bypass=1"]]]}"#,
        )
        .unwrap();
        let m = matrix(&e, "mini", 2).unwrap();
        assert_eq!(m.len(), 8);
        assert_eq!(
            (m[0].limit.as_str(), m[0].policy.as_str(), m[0].rep),
            ("a", "base", 0)
        );
        assert_eq!(m[3].knobs.last().unwrap(), "workload.seed=2");
        assert!(m[3].knobs.contains(&"swap.zswap_bypass=1".to_string()));
        assert!(matrix(&e, "full", 1)
            .unwrap_err()
            .contains("no workload for scale 'full'"));
    }
}
