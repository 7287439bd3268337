//! Trace experiments (`faultline lab traces`): one row per trace, plus
//! "mix" (every trace at once, concurrent tasks in one cgroup), with
//! limits relative to the row's footprint, and tables that compare pairs
//! of policies (e.g. page_cluster 3 against 0 for each backend).
//!
//! In such an experiment `memcg.max` may be a percentage of the row's
//! touched footprint (distinct pages x 4 KiB, all traces of the row), and
//! `memcg.zswap_max` a percentage of the resolved `memcg.max`:
//!
//! ```json
//! "traces": {"mini": {"dir": "traces", "mix": true}},
//! "limits": {"mini": [["half", ["memcg.max=50%"]]]},
//! "policies": [["zswap_pc3", ["zswap.enabled=1", "memcg.zswap_max=25%", "vm.page_cluster=3"]], ...],
//! "pairs": [["zswap_pc3", "zswap_pc0"], ...]
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

use super::report::{
    counter, elapsed_mcycles, fmt_delta, fmt_stat, knob_text, limits, ra_hit_pct, stat, Metric,
};
use super::{Experiment, RunResult};

/// Where a scale's traces come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSpec {
    /// A directory (relative to the workspace): every `*.fltrace` in it.
    pub dir: String,
    /// Also a row with every trace at once.
    pub mix: bool,
}

impl TraceSpec {
    pub fn from_json(v: &Value, what: &str) -> Result<TraceSpec, String> {
        let dir = v["dir"]
            .as_str()
            .ok_or_else(|| format!("{what}.dir: expected a directory of traces"))?;
        Ok(TraceSpec {
            dir: dir.to_string(),
            mix: v["mix"].as_bool().unwrap_or(false),
        })
    }
}

/// One row of a trace experiment: its name, its traces, their footprint.
#[derive(Debug, Clone)]
pub struct TraceRow {
    pub name: String,
    pub traces: Vec<PathBuf>,
    pub footprint_bytes: u64,
}

fn footprint(t: &std::path::Path) -> Result<u64, String> {
    Ok(tracefile::read_header(t)?.n_pages as u64 * 4096)
}

/// The rows at `scale`: every trace of the spec's directory (sorted by
/// name), then `extra` (given with `--trace`), then "mix".
pub fn rows(spec: &TraceSpec, extra: &[PathBuf]) -> Result<Vec<TraceRow>, String> {
    let dir = crate::cargo::workspace_root().join(&spec.dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("traces: {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "fltrace"))
        .collect();
    files.sort();
    files.extend(extra.iter().cloned());
    if files.is_empty() {
        return Err(format!("traces: no *.fltrace in {}", dir.display()));
    }
    let mut rows = Vec::new();
    for t in &files {
        let name = t.file_stem().map_or_else(
            || t.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        rows.push(TraceRow {
            name,
            traces: vec![t.clone()],
            footprint_bytes: footprint(t)?,
        });
    }
    if spec.mix && files.len() > 1 {
        rows.push(TraceRow {
            name: "mix".into(),
            footprint_bytes: rows.iter().map(|r| r.footprint_bytes).sum(),
            traces: files,
        });
    }
    Ok(rows)
}

/// `P%` -> P, if `value` is a percentage.
fn percent(value: &str) -> Option<Result<u64, String>> {
    let p = value.strip_suffix('%')?;
    Some(
        p.parse::<u64>()
            .ok()
            .filter(|p| (1..=1000).contains(p))
            .ok_or_else(|| format!("expected a whole percentage from 1% to 1000%, found {value}")),
    )
}

/// Resolves relative knobs: `memcg.max=P%` to P % of `footprint` (rounded
/// up to a page); then every `memcg.zswap_max=Q%` to Q % of the
/// `memcg.max` that takes effect (the last one given, whatever the order).
/// Any other knob given as a percentage is an error naming it.
pub fn resolve_relative(knobs: &[String], footprint: Option<u64>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = knobs.to_vec();
    let mut max_bytes = None;
    for k in out.iter_mut() {
        let (key, value) = k.split_once('=').unwrap_or((k.as_str(), ""));
        if key != "memcg.max" {
            continue;
        }
        let bytes =
            match (percent(value), footprint) {
                (None, _) => {
                    max_bytes = crate::parse_size(value);
                    continue;
                }
                (Some(p), Some(f)) => {
                    (f * p.map_err(|e| format!("{key}: {e}"))? / 100).next_multiple_of(4096)
                }
                (Some(_), None) => return Err(
                    "memcg.max: a percentage needs a trace experiment (of the traces' footprint)"
                        .into(),
                ),
            };
        max_bytes = Some(bytes);
        *k = format!("{key}={}K", bytes >> 10);
    }
    for k in out.iter_mut() {
        let (key, value) = k.split_once('=').unwrap_or((k.as_str(), ""));
        let Some(p) = percent(value) else {
            continue;
        };
        if key != "memcg.zswap_max" {
            return Err(format!(
                "{key}={value}: only memcg.max (of the footprint) and memcg.zswap_max (of memcg.max) may be percentages"
            ));
        }
        let p = p.map_err(|e| format!("{key}: {e}"))?;
        let max = max_bytes
            .ok_or("memcg.zswap_max: a percentage of memcg.max needs a memcg.max of a size")?;
        *k = format!("{key}={}K", ((max * p / 100).next_multiple_of(4096)) >> 10);
    }
    Ok(out)
}

/// What a trace table shows (the issue's list): faults, swap-ins from
/// both backends, swap-outs, readahead and its hit rate, zswap writeback,
/// elapsed time.
pub const TRACE_METRICS: [Metric; 8] = [
    Metric {
        key: "pgmajfault",
        label: "pgmajfault",
        is_percent: false,
        get: |v| counter(v, "pgmajfault"),
    },
    Metric {
        key: "swapins",
        label: "swap-ins (pswpin+zswpin)",
        is_percent: false,
        get: |v| Some(counter(v, "pswpin")? + counter(v, "zswpin")?),
    },
    Metric {
        key: "pswpout",
        label: "pswpout",
        is_percent: false,
        get: |v| counter(v, "pswpout"),
    },
    Metric {
        key: "zswpout",
        label: "zswpout",
        is_percent: false,
        get: |v| counter(v, "zswpout"),
    },
    Metric {
        key: "swap_ra",
        label: "swap_ra",
        is_percent: false,
        get: |v| counter(v, "swap_ra"),
    },
    Metric {
        key: "swap_ra_hit_pct",
        label: "ra hit (%)",
        is_percent: true,
        get: ra_hit_pct,
    },
    Metric {
        key: "zswpwb",
        label: "zswpwb",
        is_percent: false,
        get: |v| counter(v, "zswpwb"),
    },
    Metric {
        key: "elapsed_mcycles",
        label: "elapsed (Mcycles)",
        is_percent: false,
        get: elapsed_mcycles,
    },
];

/// One table per row: every policy's medians, and for each pair the
/// change from its first policy to its second.
pub fn pair_tables(exp: &Experiment, runs: &[RunResult]) -> String {
    let reps = runs.iter().map(|r| r.spec.rep + 1).max().unwrap_or(0);
    let mut out = String::new();
    for row in limits(runs) {
        let any = runs
            .iter()
            .find(|r| r.spec.limit == row && !r.result["config"].is_null());
        let cfg = |k: &str| {
            any.map(|r| knob_text(&r.result["config"][k]))
                .unwrap_or_default()
        };
        let records = any.map_or(Value::Null, |r| r.result["trace"]["records"].clone());
        let pages = any.map_or(Value::Null, |r| r.result["trace"]["pages"].clone());
        let _ = writeln!(
            out,
            "\n== {row}: {records} records, {pages} pages; memcg.max={}; median of {reps} runs (min-max)",
            cfg("memcg.max")
        );
        let mut head = format!("{:<26}", "metric");
        for (a, b) in &exp.pairs {
            head += &format!(" {a:>18} {b:>18} {:>8}", "delta");
        }
        let _ = writeln!(out, "{head}");
        for m in &TRACE_METRICS {
            let mut line = format!("{:<26}", m.label);
            for (a, b) in &exp.pairs {
                let (sa, sb) = (stat(runs, &row, a, m), stat(runs, &row, b, m));
                line += &format!(
                    " {:>18} {:>18} {:>8}",
                    fmt_stat(sa),
                    fmt_stat(sb),
                    fmt_delta(sa, sb, m.is_percent)
                );
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_limits_resolve_against_the_footprint() {
        let knobs: Vec<String> = ["memcg.max=50%", "zswap.enabled=1", "memcg.zswap_max=25%"]
            .map(String::from)
            .to_vec();
        let r = resolve_relative(&knobs, Some(10 << 20)).unwrap();
        assert_eq!(
            r,
            [
                "memcg.max=5120K",
                "zswap.enabled=1",
                "memcg.zswap_max=1280K"
            ]
        );
        assert!(resolve_relative(&knobs, None)
            .unwrap_err()
            .contains("needs a trace experiment"));
        let e = resolve_relative(&["vm.swappiness=5%".into()], Some(1)).unwrap_err();
        assert!(e.contains("vm.swappiness=5%: only memcg.max"), "{e}");
        let e = resolve_relative(&["memcg.max=0%".into()], Some(1)).unwrap_err();
        assert!(e.contains("memcg.max: expected a whole percentage"), "{e}");
        let e = resolve_relative(&["memcg.zswap_max=5%".into()], Some(1)).unwrap_err();
        assert!(e.contains("needs a memcg.max of a size"), "{e}");
        // The memcg.max that takes effect is the last one, set before or
        // after the relative zswap_max.
        let r = resolve_relative(
            &[
                "memcg.max=1G".into(),
                "memcg.zswap_max=25%".into(),
                "memcg.max=50%".into(),
            ],
            Some(8 << 20),
        )
        .unwrap();
        assert_eq!(r[1], "memcg.zswap_max=1024K");
        // Absolute values pass through, and a later relative zswap_max
        // takes an absolute memcg.max.
        let r =
            resolve_relative(&["memcg.max=8M".into(), "memcg.zswap_max=50%".into()], None).unwrap();
        assert_eq!(r[1], "memcg.zswap_max=4096K");
    }
}
