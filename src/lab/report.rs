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
    let mut xs: Vec<f64> = runs
        .iter()
        .filter(|r| r.error.is_none())
        .filter(|r| r.spec.limit == limit && r.spec.policy == policy)
        .filter_map(|r| (metric.get)(&r.result))
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: xs[0],
        max: xs[n - 1],
    })
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
    let value = |policy: &str, rep: usize| {
        runs.iter()
            .find(|r| {
                r.spec.limit == limit
                    && r.spec.policy == policy
                    && r.spec.rep == rep
                    && r.error.is_none()
            })
            .and_then(|r| (m.get)(&r.result))
    };
    let reps = runs.iter().map(|r| r.spec.rep + 1).max().unwrap_or(0);
    let mut deltas: Vec<f64> = (0..reps)
        .filter_map(|rep| {
            let (b, o) = (value(base, rep)?, value(other, rep)?);
            if m.is_percent {
                Some(o - b)
            } else if b != 0.0 {
                Some((o - b) / b * 100.0)
            } else {
                None
            }
        })
        .collect();
    if deltas.is_empty() {
        return "n/a".into();
    }
    deltas.sort_by(|a, b| a.total_cmp(b));
    let n = deltas.len();
    let median = if n % 2 == 1 {
        deltas[n / 2]
    } else {
        (deltas[n / 2 - 1] + deltas[n / 2]) / 2.0
    };
    let agree = deltas
        .iter()
        .filter(|d| d.signum() == median.signum() && **d != 0.0)
        .count();
    let unit = if m.is_percent { "pp" } else { "%" };
    format!("{median:+.1}{unit} {agree}/{n}")
}

/// The limits in the order they were run.
pub(super) fn limits(runs: &[RunResult]) -> Vec<String> {
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
            .find(|r| r.spec.limit == limit && !r.result.is_null())
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

/// Scheduler figures appended to every CSV row (from the result's `sched`).
const SCHED_COLUMNS: [&str; 4] = [
    "context_switches",
    "preemptions",
    "io_sleeps",
    "idle_cycles",
];

/// `results.csv`: one row per run, every counter and the scheduler figures.
pub fn csv(exp: &Experiment, scale: &str, runs: &[RunResult]) -> String {
    let counters: Vec<String> = runs
        .iter()
        .find_map(|r| r.result["vmstat"].as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut out = format!(
        "experiment,scale,limit,policy,rep,wall_s,elapsed_cycles,checked_pages,corrupt_pages,{},{},error\n",
        counters.join(","),
        SCHED_COLUMNS.join(",")
    );
    for r in runs {
        let v = &r.result;
        let _ = write!(
            out,
            "{},{scale},{},{},{},{:.3},{},{},{}",
            exp.name,
            r.spec.limit,
            r.spec.policy,
            r.spec.rep + 1,
            r.wall.as_secs_f64(),
            v["elapsed_cycles"],
            v["integrity"]["checked_pages"],
            v["integrity"]["corrupt_pages"]
        );
        for c in &counters {
            let _ = write!(out, ",{}", v["vmstat"][c]);
        }
        for c in SCHED_COLUMNS {
            let _ = write!(out, ",{}", v["sched"][c]);
        }
        // Quoted as CSV quotes a field (RFC 4180); empty for a run that passed.
        if let Some(e) = &r.error {
            let _ = write!(out, ",\"{}\"", e.replace('"', "\"\""));
        } else {
            out.push(',');
        }
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

const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One grouped bar chart: limits on the x axis, a bar per policy (median),
/// whiskers for the min-max spread.
pub fn svg(exp: &Experiment, runs: &[RunResult], m: &Metric) -> String {
    let (w, h, left, top, bottom) = (760.0, 380.0, 70.0, 40.0, 70.0);
    let limits = limits(runs);
    let cells: Vec<Vec<Option<Stat>>> = limits
        .iter()
        .map(|l| {
            exp.policies
                .iter()
                .map(|(p, _)| stat(runs, l, p, m))
                .collect()
        })
        .collect();
    let ymax = cells
        .iter()
        .flatten()
        .flatten()
        .map(|s| s.max)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let plot_w = w - left - 20.0;
    let plot_h = h - top - bottom;
    let y = |v: f64| top + plot_h - v / ymax * plot_h;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        s,
        r#"<rect width="{w}" height="{h}" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="15">{}: {}</text>"#,
        w / 2.0,
        xml_escape(&exp.name),
        xml_escape(m.label)
    );
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - 20.0,
            left - 6.0,
            yy + 4.0,
            fmt_num(v)
        );
    }
    let group_w = plot_w / limits.len().max(1) as f64;
    let bar_w = group_w * 0.8 / exp.policies.len() as f64;
    for (gi, limit) in limits.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (pi, cell) in cells[gi].iter().enumerate() {
            let Some(st) = cell else { continue };
            let x = gx + pi as f64 * bar_w;
            let color = COLORS[pi % COLORS.len()];
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                y(st.median),
                bar_w * 0.9,
                top + plot_h - y(st.median)
            );
            let cx = x + bar_w * 0.45;
            let _ = write!(
                s,
                r#"<line x1="{cx:.1}" x2="{cx:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
                y(st.min),
                y(st.max)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            top + plot_h + 18.0,
            xml_escape(limit)
        );
    }
    let legend_w = (w - left) / exp.policies.len().max(1) as f64;
    for (pi, (p, _)) in exp.policies.iter().enumerate() {
        let x = left + pi as f64 * legend_w;
        let yy = h - 22.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{yy:.1}">{}</text>"#,
            yy - 10.0,
            COLORS[pi % COLORS.len()],
            x + 16.0,
            xml_escape(p)
        );
    }
    s.push_str("</svg>\n");
    s
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
            1 + 1 + 1 + 2,
            "background, 2 bars (one is 0 high), 2 legend keys"
        );
    }
}
