//! `faultline lab compare DIR_A DIR_B`: two result sets side by side, in
//! the spirit of mmtests' compare reports. For every cell (limit, policy)
//! both hold and every metric: both medians, the change of B against A,
//! and a significance mark.
//!
//! The test: when both sets ran the same seeds (repetition k has
//! `workload.seed=k` in both), a paired t-test on the per-seed
//! differences; otherwise Welch's t-test. Either needs at least 5 values
//! a side (fewer shows `n<5`: three seeds cannot tell a 5 % change from
//! seed noise). Marks: `**` p < 0.01, `*` p < 0.05, `-` not significant.
//! Runs under `--deterministic` repeat exactly, so a difference between
//! two builds at the same seed is the build's, and the spread across
//! seeds is the workload's, not the host's.

use std::fmt::Write;
use std::path::Path;

use super::report::{median, seed_values, METRICS};
use super::RunResult;

/// The runs of a results directory: results.json, or results.jsonl when
/// the lab was interrupted before it wrote results.json.
pub fn load(dir: &Path) -> Result<Vec<RunResult>, String> {
    let json = dir.join("results.json");
    if let Ok(text) = std::fs::read_to_string(&json) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not valid JSON: {e}", json.display()))?;
        let runs = v["runs"]
            .as_array()
            .ok_or_else(|| format!("{}: no \"runs\" list", json.display()))?;
        return runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                super::journal::from_json(r)
                    .ok_or_else(|| format!("{}: runs[{i}] is not a lab run", json.display()))
            })
            .collect();
    }
    let runs = super::journal::read(&dir.join("results.jsonl"))?;
    if runs.is_empty() {
        return Err(format!(
            "{}: no results.json or results.jsonl (a lab's --out directory)",
            dir.display()
        ));
    }
    Ok(runs)
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// The smallest number of values a side for a test.
pub const MIN_REPS: usize = 5;

/// Two-sided p-value of B against A: paired when both have the same seeds,
/// Welch otherwise. `None` with fewer than [`MIN_REPS`] values a side.
pub fn p_value(a: &[(usize, f64)], b: &[(usize, f64)]) -> Option<f64> {
    if a.len() < MIN_REPS || b.len() < MIN_REPS {
        return None;
    }
    let same_seeds = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0);
    if same_seeds {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y.1 - x.1).collect();
        let (mean, var) = mean_var(&d);
        let n = d.len() as f64;
        if var == 0.0 {
            return Some(if mean == 0.0 { 1.0 } else { 0.0 });
        }
        let t = mean / (var / n).sqrt();
        return Some(student_t_two_sided(t, n - 1.0));
    }
    let xs: Vec<f64> = a.iter().map(|x| x.1).collect();
    let ys: Vec<f64> = b.iter().map(|x| x.1).collect();
    let ((ma, va), (mb, vb)) = (mean_var(&xs), mean_var(&ys));
    let (na, nb) = (xs.len() as f64, ys.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 == 0.0 {
        return Some(if ma == mb { 1.0 } else { 0.0 });
    }
    let t = (mb - ma) / se2.sqrt();
    // Welch–Satterthwaite degrees of freedom.
    let df = se2 * se2 / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    Some(student_t_two_sided(t, df))
}

/// P(|T| > |t|) for Student's t with `df` degrees of freedom:
/// I_{df/(df+t²)}(df/2, 1/2), the regularized incomplete beta function.
fn student_t_two_sided(t: f64, df: f64) -> f64 {
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// The regularized incomplete beta function I_x(a, b), by its continued
/// fraction (Numerical Recipes' `betai`/`betacf`, Lentz's method).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-12 {
            break;
        }
    }
    h
}

/// ln Γ(x) (Lanczos, g = 7, nine coefficients).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn mark(p: Option<f64>) -> &'static str {
    match p {
        None => "n<5",
        Some(p) if p < 0.01 => "**",
        Some(p) if p < 0.05 => "*",
        Some(_) => "-",
    }
}

/// The cells (limit, policy) in A's order that B holds too.
fn cells(a: &[RunResult], b: &[RunResult]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in a {
        let cell = (r.spec.limit.clone(), r.spec.policy.clone());
        let in_b = b
            .iter()
            .any(|x| x.spec.limit == cell.0 && x.spec.policy == cell.1);
        if in_b && !out.contains(&cell) {
            out.push(cell);
        }
    }
    out
}

/// The report: one block per cell, one line per metric.
pub fn render(a_name: &str, a: &[RunResult], b_name: &str, b: &[RunResult]) -> String {
    let mut out = format!(
        "A = {a_name}\nB = {b_name}\nmedians; delta = B against A; sig: ** p<0.01, * p<0.05, - not significant, \
         n<5 fewer than {MIN_REPS} seeds (paired t-test when both ran the same seeds, else Welch)\n"
    );
    let common = cells(a, b);
    if common.is_empty() {
        out += "\nno cell (limit, policy) is in both result sets\n";
        return out;
    }
    for (limit, policy) in common {
        let _ = writeln!(out, "\n== {limit} / {policy}");
        let _ = writeln!(
            out,
            "{:<32} {:>14} {:>14} {:>9} {:>5} {:>7}",
            "metric", "A", "B", "delta", "sig", "n A/B"
        );
        for m in &METRICS {
            let va = seed_values(a, &limit, &policy, m);
            let vb = seed_values(b, &limit, &policy, m);
            if va.is_empty() && vb.is_empty() {
                continue;
            }
            let med = |v: &[(usize, f64)]| {
                let xs: Vec<f64> = v.iter().map(|x| x.1).collect();
                (!xs.is_empty()).then(|| median(&xs))
            };
            let (ma, mb) = (med(&va), med(&vb));
            let num = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.1}"));
            let delta = match (ma, mb) {
                (Some(x), Some(y)) if m.is_percent => format!("{:+.1}pp", y - x),
                (Some(x), Some(y)) if x != 0.0 => format!("{:+.1}%", (y - x) / x * 100.0),
                _ => "n/a".into(),
            };
            let _ = writeln!(
                out,
                "{:<32} {:>14} {:>14} {:>9} {:>5} {:>7}",
                m.label,
                num(ma),
                num(mb),
                delta,
                mark(p_value(&va, &vb)),
                format!("{}/{}", va.len(), vb.len())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // t = 2.776 at df = 4 is the two-sided 5 % point; 2.228 at df = 10.
        assert!((student_t_two_sided(2.776, 4.0) - 0.05).abs() < 1e-3);
        assert!((student_t_two_sided(2.228, 10.0) - 0.05).abs() < 1e-3);
        assert!((student_t_two_sided(0.0, 7.0) - 1.0).abs() < 1e-9);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-10);
    }

    #[test]
    fn paired_and_welch() {
        let seeds = |xs: &[f64]| xs.iter().copied().enumerate().collect::<Vec<_>>();
        let a = seeds(&[100.0, 110.0, 120.0, 130.0, 140.0]);
        // Every seed 5 % lower: paired, highly significant.
        let b = seeds(&[95.0, 104.0, 114.5, 123.0, 133.5]);
        assert!(p_value(&a, &b).unwrap() < 0.01);
        // The same values under other seeds: Welch, not significant.
        let shifted: Vec<(usize, f64)> = b.iter().map(|&(i, x)| (i + 10, x)).collect();
        assert!(p_value(&a, &shifted).unwrap() > 0.05);
        assert_eq!(p_value(&a[..3], &b[..3]), None, "fewer than 5");
    }
}
