//! What `faultline lab` prints and writes: seed-shaped tables of medians
//! (with the min-max spread over repetitions), `results.csv`,
//! `results.json` and one SVG chart per metric.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use super::{Experiment, RunResult};

/// A metric of the tables and charts.
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    /// In percent (deltas are shown in percentage points).
    pub is_percent: bool,
    pub(super) get: fn(&Value) -> Option<f64>,
}

pub(super) fn counter(v: &Value, name: &str) -> Option<f64> {
    v["vmstat"][name].as_u64().map(|n| n as f64)
}

/// The share of readahead pages that were hit, if any were read ahead.
pub(super) fn ra_hit_pct(v: &Value) -> Option<f64> {
    let ra = counter(v, "swap_ra")?;
    (ra > 0.0).then(|| 100.0 * counter(v, "swap_ra_hit").unwrap_or(0.0) / ra)
}

/// Elapsed time in millions of (deterministic) cycles.
pub(super) fn elapsed_mcycles(v: &Value) -> Option<f64> {
    v["elapsed_cycles"].as_u64().map(|n| n as f64 / 1e6)
}

const MIB_PER_PAGE: f64 = 4096.0 / (1024.0 * 1024.0);

/// The seed's five metrics, the fault counts that explain them, and the
/// page cache's side (the seed's "file pages get evicted and re-read"):
/// block reads, file refaults, and reclaim's anon/file split.
pub const METRICS: [Metric; 18] = [
    Metric {
        key: "elapsed_mcycles",
        label: "elapsed (Mcycles)",
        is_percent: false,
        get: elapsed_mcycles,
    },
    Metric {
        key: "zswpin_pages",
        label: "zswap-in (pages)",
        is_percent: false,
        get: |v| counter(v, "zswpin"),
    },
    Metric {
        key: "zswpin_mib",
        label: "zswap-in (MiB)",
        is_percent: false,
        get: |v| counter(v, "zswpin").map(|n| n * MIB_PER_PAGE),
    },
    Metric {
        key: "zswpout_pages",
        label: "zswap-out (pages)",
        is_percent: false,
        get: |v| counter(v, "zswpout"),
    },
    Metric {
        key: "zswpout_mib",
        label: "zswap-out (MiB)",
        is_percent: false,
        get: |v| counter(v, "zswpout").map(|n| n * MIB_PER_PAGE),
    },
    Metric {
        key: "swap_ra",
        label: "swap readahead (pages)",
        is_percent: false,
        get: |v| counter(v, "swap_ra"),
    },
    Metric {
        key: "swap_ra_hit_pct",
        label: "swap_ra hit (%)",
        is_percent: true,
        get: ra_hit_pct,
    },
    Metric {
        key: "pgmajfault",
        label: "pgmajfault",
        is_percent: false,
        get: |v| counter(v, "pgmajfault"),
    },
    Metric {
        key: "pgfault_swapcache",
        label: "pgfault_swapcache",
        is_percent: false,
        get: |v| counter(v, "pgfault_swapcache"),
    },
    Metric {
        key: "swap_map_around",
        label: "swap_map_around",
        is_percent: false,
        get: |v| counter(v, "swap_map_around"),
    },
    Metric {
        // Readahead hits that cost a fault: those map-around scored
        // without one (`swap_map_around_ra_hit`) taken out. Barry Song's
        // claim for the PoC is about this number.
        key: "prefetch_minor_faults",
        label: "minor faults on prefetched pages",
        is_percent: false,
        get: |v| {
            let hits = counter(v, "swap_ra_hit")?;
            Some(hits - counter(v, "swap_map_around_ra_hit").unwrap_or(0.0))
        },
    },
    Metric {
        key: "pswpin",
        label: "pswpin (disk reads)",
        is_percent: false,
        get: |v| counter(v, "pswpin"),
    },
    Metric {
        key: "pgpgin_kib",
        label: "pgpgin (KiB read)",
        is_percent: false,
        get: |v| counter(v, "pgpgin"),
    },
    Metric {
        key: "workingset_refault_file",
        label: "workingset_refault_file",
        is_percent: false,
        get: |v| counter(v, "workingset_refault_file"),
    },
    Metric {
        key: "pgpgout_kib",
        label: "pgpgout (KiB written)",
        is_percent: false,
        get: |v| counter(v, "pgpgout"),
    },
    Metric {
        key: "nr_vmscan_immediate_reclaim",
        label: "nr_vmscan_immediate_reclaim",
        is_percent: false,
        get: |v| counter(v, "nr_vmscan_immediate_reclaim"),
    },
    Metric {
        key: "pgsteal_anon",
        label: "pgsteal_anon",
        is_percent: false,
        get: |v| counter(v, "pgsteal_anon"),
    },
    Metric {
        key: "pgsteal_file",
        label: "pgsteal_file",
        is_percent: false,
        get: |v| counter(v, "pgsteal_file"),
    },
];

/// Median, min and max of one metric over repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// The statistic of `metric` for one (limit, policy) cell, if defined.
pub fn stat(runs: &[RunResult], limit: &str, policy: &str, metric: &Metric) -> Option<Stat> {
    let mut xs: Vec<f64> = seed_values(runs, limit, policy, metric)
        .into_iter()
        .map(|x| x.1)
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    Some(Stat {
        median: median(&xs),
        min: xs[0],
        max: xs[xs.len() - 1],
    })
}

/// The value of `m` for every seed (repetition) of a cell whose run
/// passed, in seed order.
pub fn seed_values(runs: &[RunResult], limit: &str, policy: &str, m: &Metric) -> Vec<(usize, f64)> {
    let mut v: Vec<(usize, f64)> = runs
        .iter()
        .filter(|r| r.spec.limit == limit && r.spec.policy == policy && r.error.is_none())
        .filter_map(|r| Some((r.spec.rep, (m.get)(&r.result)?)))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

/// The per-seed paired change of `m` from `base` to `other` in one limit:
/// percentage points for a percentage, else percent; seeds where either
/// run failed (or the base is 0) are left out.
pub fn paired_deltas(
    runs: &[RunResult],
    limit: &str,
    base: &str,
    other: &str,
    m: &Metric,
) -> Vec<f64> {
    let b = seed_values(runs, limit, base, m);
    seed_values(runs, limit, other, m)
        .into_iter()
        .filter_map(|(rep, o)| {
            let (_, bv) = b.iter().find(|(r, _)| *r == rep)?;
            if m.is_percent {
                Some(o - bv)
            } else if *bv != 0.0 {
                Some((o - bv) / bv * 100.0)
            } else {
                None
            }
        })
        .collect()
}

/// The median of `xs` (not empty; any order).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

pub(super) fn fmt_stat(s: Option<Stat>) -> String {
    match s {
        None => "n/a".into(),
        Some(s) if s.min == s.max => fmt_num(s.median),
        Some(s) => format!(
            "{} ({}-{})",
            fmt_num(s.median),
            fmt_num(s.min),
            fmt_num(s.max)
        ),
    }
}

pub(super) fn fmt_delta(base: Option<Stat>, other: Option<Stat>, is_percent: bool) -> String {
    match (base, other) {
        (Some(b), Some(o)) if is_percent => format!("{:+.1}pp", o.median - b.median),
        (Some(b), Some(o)) if b.median != 0.0 => {
            format!("{:+.1}%", (o.median - b.median) / b.median * 100.0)
        }
        _ => "n/a".into(),
    }
}

/// A cell's figure, or what its runs ended in when none passed (`OOM
/// 3/3`), so a failed cell reads as failed rather than as missing data.
pub(super) fn fmt_cell(runs: &[RunResult], limit: &str, policy: &str, m: &Metric) -> String {
    if let Some(s) = stat(runs, limit, policy, m) {
        return fmt_stat(Some(s));
    }
    let cell: Vec<&RunResult> = runs
        .iter()
        .filter(|r| r.spec.limit == limit && r.spec.policy == policy)
        .collect();
    let failed: Vec<&RunResult> = cell.iter().copied().filter(|r| r.error.is_some()).collect();
    match failed.first() {
        Some(f) => format!(
            "{} {}/{}",
            f.status.to_uppercase(),
            failed.len(),
            cell.len()
        ),
        None => "n/a".into(),
    }
}

/// Per-seed paired change of `m` from `base` to `other` in one limit: the
/// median of the per-seed deltas (percent, or points for a percentage)
/// and how many seeds agree with its sign, e.g. `-8.2% 3/3`. Seeds where
/// either run failed are left out.
pub fn fmt_paired(runs: &[RunResult], limit: &str, base: &str, other: &str, m: &Metric) -> String {
    let deltas = paired_deltas(runs, limit, base, other, m);
    if deltas.is_empty() {
        return "n/a".into();
    }
    let n = deltas.len();
    let median = median(&deltas);
    let agree = deltas
        .iter()
        .filter(|d| d.signum() == median.signum() && **d != 0.0)
        .count();
    let unit = if m.is_percent { "pp" } else { "%" };
    format!("{median:+.1}{unit} {agree}/{n}")
}

/// The limits in the order they were run.
pub fn limits(runs: &[RunResult]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        if !out.contains(&r.spec.limit) {
            out.push(r.spec.limit.clone());
        }
    }
    out
}

/// Seed-shaped tables: for each limit, the baseline against each policy
/// (or, for an experiment with `pairs`, [`super::traces::pair_tables`]).
pub fn tables(exp: &Experiment, runs: &[RunResult]) -> String {
    if !exp.pairs.is_empty() {
        return super::traces::pair_tables(exp, runs) + &failed_runs(runs);
    }
    let reps = runs.iter().map(|r| r.spec.rep + 1).max().unwrap_or(0);
    let base = &exp.policies[0].0;
    let mut out = String::new();
    for limit in limits(runs) {
        let knob = runs
            .iter()
            .find(|r| r.spec.limit == limit && !r.result["config"].is_null())
            .map(|r| r.result["config"]["memcg.max"].clone())
            .unwrap_or_default();
        for (policy, _) in exp.policies.iter().skip(1) {
            let _ = writeln!(
                out,
                "\n== {limit} (memcg.max={}): {base} vs {policy}, median of {reps} runs (min-max)",
                knob_text(&knob)
            );
            let _ = writeln!(
                out,
                "{:<32} {:>26} {:>26} {:>9} {:>14}",
                "metric", base, policy, "delta", "paired, seeds"
            );
            for m in &METRICS {
                let b = stat(runs, &limit, base, m);
                let p = stat(runs, &limit, policy, m);
                let _ = writeln!(
                    out,
                    "{:<32} {:>26} {:>26} {:>9} {:>14}",
                    m.label,
                    fmt_cell(runs, &limit, base, m),
                    fmt_cell(runs, &limit, policy, m),
                    fmt_delta(b, p, m.is_percent),
                    fmt_paired(runs, &limit, base, policy, m)
                );
            }
        }
    }
    out + &failed_runs(runs)
}

/// The failed runs, listed (empty if none).
fn failed_runs(runs: &[RunResult]) -> String {
    let mut out = String::new();
    let failed: Vec<&RunResult> = runs.iter().filter(|r| r.error.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "\n{} of {} runs FAILED (left out of the medians above):",
            failed.len(),
            runs.len()
        );
        for r in failed {
            let _ = writeln!(
                out,
                "  [{}] {}",
                r.status,
                r.error.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

pub fn knob_text(v: &Value) -> String {
    match v {
        Value::Number(n) => crate::result::human_size(n.as_u64().unwrap_or(0)),
        Value::String(s) => s.clone(),
        _ => "?".into(),
    }
}

/// The result's sections flattened into `results.csv` columns, as
/// `section.key` (nested: `fault_latency.major.p50_cycles`).
const CSV_SECTIONS: [&str; 9] = [
    "config",
    "vmstat",
    "integrity",
    "memcg",
    "swap",
    "zswap",
    "fault_latency",
    "calibration",
    "sched",
];

/// Scalar leaves of `v` under `prefix`, in order (lists are left out:
/// `killed_tasks` is in results.json).
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(_) | Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// A CSV field, quoted as RFC 4180 quotes one when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: one tidy row per run: the run's cell, status and wall
/// time, then every knob (`config.*`) and every scalar of the result's
/// sections as its own column (the union over the runs, empty where a run
/// has none, e.g. a run that failed before it printed a result), then the
/// error.
pub fn csv(exp: &Experiment, scale: &str, runs: &[RunResult]) -> String {
    let rows: Vec<Vec<(String, String)>> = runs
        .iter()
        .map(|r| {
            let mut cells = vec![(
                "elapsed_cycles".to_string(),
                r.result["elapsed_cycles"].to_string(),
            )];
            if r.result["elapsed_cycles"].is_null() {
                cells.clear();
            }
            for section in CSV_SECTIONS {
                flatten(section, &r.result[section], &mut cells);
            }
            cells
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut out = String::from("experiment,scale,limit,policy,rep,status,wall_s");
    for c in &columns {
        out.push(',');
        out += &csv_field(c);
    }
    out += ",error\n";
    for (r, row) in runs.iter().zip(&rows) {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{:.3}",
            csv_field(&exp.name),
            csv_field(scale),
            csv_field(&r.spec.limit),
            csv_field(&r.spec.policy),
            r.spec.rep + 1,
            r.status,
            r.wall.as_secs_f64()
        );
        for c in &columns {
            out.push(',');
            if let Some((_, v)) = row.iter().find(|(k, _)| k == c) {
                out += &csv_field(v);
            }
        }
        out.push(',');
        out += &csv_field(r.error.as_deref().unwrap_or(""));
        out.push('\n');
    }
    out
}

/// `results.json`: every run with its full result, and the summary.
pub fn json(exp: &Experiment, scale: &str, runs: &[RunResult]) -> Value {
    let mut summary = Vec::new();
    for limit in limits(runs) {
        for (policy, _) in &exp.policies {
            let mut cell = json!({"limit": limit, "policy": policy});
            for m in &METRICS {
                cell[m.key] = match stat(runs, &limit, policy, m) {
                    Some(s) => json!({"median": s.median, "min": s.min, "max": s.max}),
                    None => Value::Null,
                };
            }
            summary.push(cell);
        }
    }
    json!({
        "experiment": exp.name,
        "description": exp.description,
        "scale": scale,
        "faultline_version": env!("CARGO_PKG_VERSION"),
        "provenance": crate::provenance::get(),
        "runs": runs.iter().map(super::journal::to_json).collect::<Vec<_>>(),
        "summary": summary,
    })
}

/// The chart of one metric ([`super::chart::svg`]).
pub fn svg(exp: &Experiment, runs: &[RunResult], m: &Metric) -> String {
    super::chart::svg(exp, runs, m)
}

/// Writes `results.csv`, `results.json` and one SVG per metric into `dir`.
pub fn write_all(
    dir: &Path,
    exp: &Experiment,
    scale: &str,
    runs: &[RunResult],
) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let mut put = |name: String, text: String| -> Result<(), String> {
        let path = dir.join(&name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        files.push(name);
        Ok(())
    };
    put("results.csv".into(), csv(exp, scale, runs))?;
    put(
        "results.json".into(),
        serde_json::to_string_pretty(&json(exp, scale, runs)).expect("JSON"),
    )?;
    for m in &METRICS {
        put(format!("{}.svg", m.key), svg(exp, runs, m))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::RunSpec;
    use std::time::Duration;

    fn run(limit: &str, policy: &str, rep: usize, ra: u64, hit: u64, zswpin: u64) -> RunResult {
        RunResult {
            spec: RunSpec {
                limit: limit.into(),
                policy: policy.into(),
                rep,
                knobs: vec![],
                traces: vec![],
            },
            result: json!({
                "config": {"memcg.max": 33554432},
                "vmstat": {"swap_ra": ra, "swap_ra_hit": hit, "zswpin": zswpin, "zswpout": 10,
                           "pgmajfault": 1, "pgfault_swapcache": 2, "swap_map_around": 0},
                "elapsed_cycles": 1000000 * (rep as u64 + 1),
                "integrity": {"checked_pages": 5, "corrupt_pages": 0}
            }),
            wall: Duration::from_secs(1),
            error: None,
            status: "ok".into(),
            provenance: Value::Null,
            machine: Value::Null,
        }
    }

    fn exp() -> Experiment {
        Experiment::parse(
            r#"{"name":"t","workload":{"mini":[]},"common":[],"limits":{"mini":[["a",[]]]},
                "mem":{"mini":"512M"},"policies":[["base",[]],["bypass",[]]]}"#,
        )
        .unwrap()
    }

    #[test]
    fn medians_spreads_and_deltas() {
        let runs = vec![
            run("a", "base", 0, 100, 70, 50),
            run("a", "base", 1, 120, 90, 60),
            run("a", "base", 2, 110, 80, 55),
            run("a", "bypass", 0, 10, 9, 40),
        ];
        let s = stat(&runs, "a", "base", &METRICS[5]).unwrap();
        assert_eq!((s.median, s.min, s.max), (110.0, 100.0, 120.0));
        let t = tables(&exp(), &runs);
        assert!(
            t.contains("== a (memcg.max=32M): base vs bypass, median of 3 runs"),
            "{t}"
        );
        assert!(t.contains("110 (100-120)"), "{t}");
        assert!(t.contains("-90.9%"), "swap_ra delta: {t}");
        assert!(t.contains("pp"), "hit ratio delta in points: {t}");
        // Seed 1 is the only one both policies ran: -90.0 %, 1 of 1.
        assert!(t.contains("-90.0% 1/1"), "paired swap_ra: {t}");
    }

    #[test]
    fn a_cell_whose_runs_all_failed_says_how() {
        let mut oom = run("a", "bypass", 0, 0, 0, 0);
        oom.result = Value::Null;
        oom.error = Some("Memory cgroup out of memory".into());
        oom.status = "oom".into();
        let runs = vec![run("a", "base", 0, 100, 70, 50), oom];
        let t = tables(&exp(), &runs);
        assert!(t.contains("OOM 1/1"), "{t}");
    }

    #[test]
    fn a_failed_run_is_kept_listed_and_left_out_of_the_medians() {
        let mut failed = run("a", "base", 1, 0, 0, 0);
        failed.result = Value::Null;
        failed.error = Some("run a / base / rep 2: Memory cgroup out of memory, \"cc-3\"".into());
        failed.status = "oom".into();
        let runs = vec![
            run("a", "base", 0, 100, 70, 50),
            failed,
            run("a", "base", 2, 120, 90, 60),
            run("a", "bypass", 0, 10, 9, 40),
        ];
        let s = stat(&runs, "a", "base", &METRICS[5]).unwrap();
        assert_eq!((s.median, s.min, s.max), (110.0, 100.0, 120.0), "2 runs");
        let t = tables(&exp(), &runs);
        assert!(t.contains("1 of 4 runs FAILED"), "{t}");
        assert!(t.contains("rep 2: Memory cgroup out of memory"), "{t}");
        let j = json(&exp(), "mini", &runs);
        assert_eq!(j["runs"].as_array().unwrap().len(), 4);
        assert!(j["runs"][1]["result"].is_null());
        assert!(j["runs"][1]["error"]
            .as_str()
            .unwrap()
            .contains("out of memory"));
        assert!(j["runs"][0]["error"].is_null());
        let csv = csv(&exp(), "mini", &runs);
        assert_eq!(csv.lines().count(), 5);
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .ends_with(",\"run a / base / rep 2: Memory cgroup out of memory, \"\"cc-3\"\"\""),
            "{csv}"
        );
        assert!(
            csv.lines().nth(1).unwrap().ends_with(','),
            "no error: empty"
        );
    }

    #[test]
    fn csv_json_and_svg_are_well_formed() {
        let runs = vec![
            run("a", "base", 0, 100, 70, 50),
            run("a", "bypass", 0, 0, 0, 40),
        ];
        let csv = csv(&exp(), "mini", &runs);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv
            .lines()
            .all(|l| l.split(',').count() == csv.lines().next().unwrap().split(',').count()));
        let header = csv.lines().next().unwrap();
        assert!(header.contains(",config.memcg.max,"), "{header}");
        assert!(header.contains(",vmstat.swap_ra,"), "{header}");
        assert!(header.starts_with("experiment,scale,limit,policy,rep,status,wall_s,"));
        let j = json(&exp(), "mini", &runs);
        assert_eq!(j["runs"].as_array().unwrap().len(), 2);
        assert!(
            j["summary"][1]["swap_ra_hit_pct"].is_null(),
            "no readahead: hit % undefined"
        );
        let svg = svg(&exp(), &runs, &METRICS[5]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 2,
            "background, 2 legend keys"
        );
    }
}
