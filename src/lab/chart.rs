//! A lab metric's chart: every repetition as a point and the median as a
//! bar across them, per limit and policy, on an axis that does not start
//! at zero (a 5 % effect stays visible); below it, the paired change of
//! each policy against the first, one point per seed. Cells whose runs all
//! failed say so (`OOM 3/3`) instead of leaving a gap.

use std::fmt::Write;

use super::report::{limits, median, paired_deltas, seed_values, Metric};
use super::{Experiment, RunResult};
use crate::chart::{nice_ticks_range, tick_label, xml_escape, COLORS};

/// Geometry of one panel.
struct Panel {
    top: f64,
    height: f64,
    ticks: Vec<f64>,
}

impl Panel {
    fn new(top: f64, height: f64, values: impl Iterator<Item = f64>) -> Panel {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let ticks = if lo.is_finite() {
            nice_ticks_range(lo, hi)
        } else {
            vec![0.0, 1.0]
        };
        Panel { top, height, ticks }
    }

    fn y(&self, v: f64) -> f64 {
        let (lo, hi) = (self.ticks[0], *self.ticks.last().unwrap());
        self.top + self.height - (v - lo) / (hi - lo) * self.height
    }

    fn axis(&self, s: &mut String, left: f64, right: f64, title: &str) {
        for t in &self.ticks {
            let _ = write!(
                s,
                "<line x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                if *t == 0.0 { "#888" } else { "#ddd" },
                left - 6.0,
                self.y(*t) + 4.0,
                tick_label(*t),
                y = self.y(*t)
            );
        }
        let _ = write!(
            s,
            "<text transform=\"translate(16,{:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            self.top + self.height / 2.0,
            xml_escape(title)
        );
    }
}

/// The chart of metric `m` (SVG).
pub fn svg(exp: &Experiment, runs: &[RunResult], m: &Metric) -> String {
    let limits = limits(runs);
    let policies: Vec<&str> = exp.policies.iter().map(|(p, _)| p.as_str()).collect();
    let reps = runs.iter().map(|r| r.spec.rep + 1).max().unwrap_or(0);
    let (w, left, legend_w, top) = (860.0, 80.0, 170.0, 56.0);
    let right = w - legend_w;
    let values = Panel::new(
        top,
        230.0,
        limits.iter().flat_map(|l| {
            policies
                .iter()
                .flat_map(move |p| seed_values(runs, l, p, m).into_iter().map(|x| x.1))
        }),
    );
    let mut all_deltas = vec![0.0];
    for l in &limits {
        for p in &policies[1..] {
            all_deltas.extend(paired_deltas(runs, l, policies[0], p, m));
        }
    }
    let deltas = Panel::new(top + 230.0 + 70.0, 150.0, all_deltas.into_iter());
    let h = deltas.top + deltas.height + 50.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{}: {}</text>\
         <text x=\"{}\" y=\"38\" text-anchor=\"middle\" fill=\"#555\">n = {reps} seeds per cell: points are seeds, the bar their median</text>",
        w / 2.0,
        xml_escape(&exp.name),
        xml_escape(m.label),
        w / 2.0
    );
    values.axis(&mut s, left, right, m.label);
    let unit = if m.is_percent { "points" } else { "%" };
    deltas.axis(
        &mut s,
        left,
        right,
        &format!("change vs {} ({unit})", policies[0]),
    );
    let group_w = (right - left) / limits.len().max(1) as f64;
    let col_w = group_w * 0.8 / policies.len() as f64;
    for (gi, limit) in limits.iter().enumerate() {
        let gx = left + gi as f64 * group_w + group_w * 0.1;
        for (pi, policy) in policies.iter().enumerate() {
            let cx = gx + (pi as f64 + 0.5) * col_w;
            let color = COLORS[pi % COLORS.len()];
            let pts = seed_values(runs, limit, policy, m);
            if pts.is_empty() {
                let text = super::report::fmt_cell(runs, limit, policy, m);
                let _ = write!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#999\" font-size=\"10\" transform=\"rotate(-90 {cx:.1} {:.1})\">{}</text>",
                    values.top + values.height / 2.0,
                    values.top + values.height / 2.0,
                    xml_escape(&text)
                );
            } else {
                let med = median(&pts.iter().map(|p| p.1).collect::<Vec<_>>());
                let _ = write!(
                    s,
                    "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>",
                    cx - col_w * 0.35,
                    cx + col_w * 0.35,
                    y = values.y(med)
                );
                for (_, v) in &pts {
                    let _ = write!(
                        s,
                        "<circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"none\" stroke=\"{color}\"/>",
                        values.y(*v)
                    );
                }
            }
            if pi > 0 {
                for d in paired_deltas(runs, limit, policies[0], policy, m) {
                    let _ = write!(
                        s,
                        "<circle cx=\"{cx:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"/>",
                        deltas.y(d)
                    );
                }
            }
        }
        for panel in [&values, &deltas] {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                gx + group_w * 0.4,
                panel.top + panel.height + 18.0,
                xml_escape(limit)
            );
        }
    }
    for (pi, p) in policies.iter().enumerate() {
        let y = top + 8.0 + pi as f64 * 18.0;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{:.1}\">{}</text>",
            right + 16.0,
            y - 10.0,
            COLORS[pi % COLORS.len()],
            right + 32.0,
            y,
            xml_escape(p)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::report::METRICS;
    use crate::lab::RunSpec;
    use serde_json::json;
    use std::time::Duration;

    fn run(limit: &str, policy: &str, rep: usize, elapsed: u64, ok: bool) -> RunResult {
        RunResult {
            spec: RunSpec {
                limit: limit.into(),
                policy: policy.into(),
                rep,
                knobs: vec![],
                traces: vec![],
            },
            result: if ok {
                json!({"elapsed_cycles": elapsed, "vmstat": {}})
            } else {
                serde_json::Value::Null
            },
            wall: Duration::from_secs(1),
            error: (!ok).then(|| "Memory cgroup out of memory".to_string()),
            status: if ok { "ok" } else { "oom" }.into(),
            provenance: serde_json::Value::Null,
            machine: serde_json::Value::Null,
        }
    }

    #[test]
    fn points_medians_paired_changes_and_failed_cells() {
        let exp = Experiment::parse(
            r#"{"name":"t","workload":{"mini":[]},"common":[],"limits":{"mini":[["a",[]],["b",[]]]},
                "mem":{"mini":"512M"},"policies":[["base",[]],["bypass",[]]]}"#,
        )
        .unwrap();
        let mut runs = Vec::new();
        for rep in 0..3 {
            runs.push(run("a", "base", rep, 7_400_000_000 + rep as u64, true));
            runs.push(run("a", "bypass", rep, 6_200_000_000, true));
            runs.push(run("b", "base", rep, 0, false));
            runs.push(run("b", "bypass", rep, 0, false));
        }
        let elapsed = METRICS.iter().find(|m| m.key == "elapsed_mcycles").unwrap();
        let s = svg(&exp, &runs, elapsed);
        assert!(s.contains("n = 3 seeds per cell"), "{s}");
        assert!(s.contains("OOM 3/3"), "failed cells say so");
        assert!(s.contains("change vs base (%)"));
        // 6 points per policy-cell pair in limit a, 3 paired changes.
        assert_eq!(s.matches("<circle").count(), 6 + 3);
        // The value axis starts near the data (6200), not at zero.
        assert!(s.contains(">6200</text>"), "{s}");
    }
}
