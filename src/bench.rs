//! `faultline bench`: fault costs measured by the kernel itself.
//!
//! `bench faults` runs the thrash workload (sequential passes, so that both
//! major faults and swap-cache hits occur) at two footprints with the same
//! limit-to-footprint ratio, and prints cycles per major fault and per
//! swap-cache-hit fault, also in units of one 4 KiB page copy measured in
//! the same run (so figures from different hosts can be compared). If the
//! cost per fault grew with the footprint, something on the fault path
//! would be scanning.

use serde_json::Value;

use crate::run::{run, RunOptions};

/// The host options a bench's runs take from the command line.
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// Extra `--set` knobs, after the bench's own.
    pub knobs: Vec<String>,
    pub mem_mib: u64,
    pub timeout: std::time::Duration,
    /// `-icount`: the clock counts guest instructions (stable across
    /// hosts, and what a ratio should be computed in).
    pub deterministic: bool,
}

impl Default for BenchRun {
    fn default() -> Self {
        let d = RunOptions::default();
        BenchRun {
            knobs: Vec::new(),
            mem_mib: d.mem_mib,
            timeout: d.timeout,
            deterministic: false,
        }
    }
}

impl BenchRun {
    fn options(&self, bench_knobs: Vec<String>) -> RunOptions {
        // `--set` wins over the bench's own setting of the same knob.
        let knobs = crate::lab::with_overrides(bench_knobs, &self.knobs);
        RunOptions {
            knobs,
            mem_mib: self.mem_mib,
            timeout: self.timeout,
            deterministic: self.deterministic,
            echo_serial: false,
            ..RunOptions::default()
        }
    }

    /// The unit of the run's clock, for the tables.
    pub fn clock(&self) -> &'static str {
        if self.deterministic {
            "guest instructions (--deterministic)"
        } else {
            "host TSC cycles under TCG (noisy: use --deterministic for ratios)"
        }
    }
}

/// Footprints of `bench faults`, in MiB.
pub const FOOTPRINTS_MIB: [u64; 2] = [16, 256];
/// memcg.max = footprint / LIMIT_DIVISOR.
pub const LIMIT_DIVISOR: u64 = 3;

/// One row of the table.
#[derive(Debug, Clone)]
pub struct FaultCost {
    pub footprint_mib: u64,
    pub result: Value,
}

fn lat(v: &Value, kind: &str, field: &str) -> u64 {
    v["fault_latency"][kind][field].as_u64().unwrap_or(0)
}

/// Runs the thrash workload at each footprint.
pub fn fault_costs(footprints_mib: &[u64], b: &BenchRun) -> Result<Vec<FaultCost>, String> {
    let mut rows = Vec::new();
    for &mib in footprints_mib {
        let opts = b.options(vec![
            "workload=thrash".into(),
            format!("workload.size={mib}M"),
            format!("memcg.max={}K", (mib << 10) / LIMIT_DIVISOR),
            "workload.pattern=seq".into(),
            "workload.passes=2".into(),
        ]);
        let report = run(&opts)?;
        if let Some(e) = &report.error {
            return Err(format!("{mib} MiB run: {e}"));
        }
        if !report.is_success() {
            return Err(format!(
                "{mib} MiB run failed: {}",
                report.outcome.describe()
            ));
        }
        let result = report.result.expect("success has a result");
        eprintln!(
            "bench: {mib} MiB footprint done in {:.1} s",
            report.wall_time.as_secs_f64()
        );
        rows.push(FaultCost {
            footprint_mib: mib,
            result,
        });
    }
    Ok(rows)
}

/// `bench zswap`: the cost of a swap-in from zswap next to the bare lz4
/// decompression of a page, both measured in one run. With the seed's
/// bypass on, a zswap fault does exactly one decompression, so the rest is
/// the fault path's own overhead.
pub fn zswap_cost(b: &BenchRun) -> Result<Value, String> {
    let opts = b.options(vec![
        "workload=thrash".into(),
        "workload.size=32M".into(),
        "memcg.max=16M".into(),
        "workload.pattern=runs".into(),
        "zswap.enabled=1".into(),
        "swap.zswap_bypass=1".into(),
    ]);
    let report = run(&opts)?;
    if let Some(e) = &report.error {
        return Err(e.clone());
    }
    if !report.is_success() {
        return Err(format!("run failed: {}", report.outcome.describe()));
    }
    Ok(report.result.expect("success has a result"))
}

/// The table `bench zswap` prints.
pub fn render_zswap(v: &Value) -> String {
    // Two units from the same run: the median of lz4 decompressions timed
    // at boot, and the mean of the decompressions the faults themselves
    // did. Medians are robust to host hiccups, means include them; so the
    // table compares median with median and mean with mean.
    let calls = v["zswap"]["decompress_calls"].as_u64().unwrap_or(0).max(1);
    let run_mean = (v["zswap"]["decompress_cycles"].as_u64().unwrap_or(0) / calls).max(1);
    let boot_median = v["calibration"]["lz4_decompress_cycles"]
        .as_u64()
        .unwrap_or(0)
        .max(1);
    let copy = v["calibration"]["page_copy_cycles"].as_u64().unwrap_or(0);
    let mut out = format!(
        "lz4 page decompress: median {boot_median} cycles (timed at boot), mean {run_mean} (the run's {calls}); page copy: {copy}\n\
         kind           faults   mean cyc    p50 cyc    p99 cyc  p50/median-lz4  mean/mean-lz4\n"
    );
    for kind in ["major_zswap", "swapcache_hit", "anon"] {
        out.push_str(&format!(
            "{kind:<13} {:>7} {:>10} {:>10} {:>10} {:>15.2} {:>14.2}\n",
            lat(v, kind, "count"),
            lat(v, kind, "mean_cycles"),
            lat(v, kind, "p50_cycles"),
            lat(v, kind, "p99_cycles"),
            lat(v, kind, "p50_cycles") as f64 / boot_median as f64,
            lat(v, kind, "mean_cycles") as f64 / run_mean as f64,
        ));
    }
    out
}

/// The table `bench faults` prints.
pub fn render(rows: &[FaultCost]) -> String {
    let mut out = String::from(
        "footprint  memcg.max  kind           faults   mean cyc    p50 cyc    p99 cyc  mean/page-copy\n",
    );
    for row in rows {
        let v = &row.result;
        let copy = v["calibration"]["page_copy_cycles"]
            .as_u64()
            .unwrap_or(0)
            .max(1);
        let limit = v["config"]["memcg.max"].as_u64().unwrap_or(0) >> 20;
        for kind in ["major", "swapcache_hit"] {
            let mean = lat(v, kind, "mean_cycles");
            out.push_str(&format!(
                "{:>6} MiB {:>6} MiB  {kind:<13} {:>7} {:>10} {:>10} {:>10} {:>14.1}\n",
                row.footprint_mib,
                limit,
                lat(v, kind, "count"),
                mean,
                lat(v, kind, "p50_cycles"),
                lat(v, kind, "p99_cycles"),
                mean as f64 / copy as f64,
            ));
        }
    }
    if let [small, large] = rows {
        for kind in ["major", "swapcache_hit"] {
            let (a, b) = (
                lat(&small.result, kind, "p50_cycles"),
                lat(&large.result, kind, "p50_cycles"),
            );
            out.push_str(&format!(
                "p50 {kind} cost at {} MiB / at {} MiB: {:.2}\n",
                large.footprint_mib,
                small.footprint_mib,
                b as f64 / a.max(1) as f64
            ));
        }
    }
    out
}

/// `bench trace`: how fast a trace replays. One deterministic run
/// (`--deterministic`: the guest clock counts instructions, one per
/// nanosecond, so its records/s do not move with host load), one pass, no
/// memory limit unless `--set` gives one: the replay's own speed.
pub fn trace_speed(trace: &std::path::Path, b: &BenchRun) -> Result<(String, Value), String> {
    // Always deterministic: records per second of the guest clock.
    let b = BenchRun {
        deterministic: true,
        ..b.clone()
    };
    let mut opts = b.options(vec!["workload=trace".into(), "workload.passes=1".into()]);
    opts.traces = vec![trace.to_path_buf()];
    let report = run(&opts)?;
    if let Some(e) = &report.error {
        return Err(e.clone());
    }
    if !report.is_success() {
        return Err(format!("run failed: {}", report.outcome.describe()));
    }
    let v = report.result.expect("success has a result");
    let records = v["trace"]["records"].as_u64().unwrap_or(0);
    let guest_s = v["elapsed_cycles"].as_u64().unwrap_or(0) as f64 / 1e9;
    let wall_s = report.wall_time.as_secs_f64();
    let verify = if v["trace"]["light_verify"] == 1 {
        "light"
    } else {
        "full"
    };
    let text = format!(
        "trace {}: {records} records over {} pages in {} regions, workload.verify={verify}, {} checked, {} corrupt\n\
         replay:        {guest_s:.2} s guest clock (instructions / 1e9)   {:.2} M records/s\n\
         whole run:     {wall_s:.2} s wall, boot and final check included   {:.2} M records/s\n\
         machine:       {}\n",
        trace.display(),
        v["trace"]["pages"],
        v["trace"]["regions"],
        v["integrity"]["checked_pages"],
        v["integrity"]["corrupt_pages"],
        records as f64 / guest_s.max(1e-9) / 1e6,
        records as f64 / wall_s.max(1e-9) / 1e6,
        machine()
    );
    Ok((text, v))
}

/// The host: CPU model and count (what a records/s figure depends on).
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpus} x {model}, QEMU TCG -icount shift=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bench --mem --timeout --deterministic --set` reach every run.
    #[test]
    fn bench_options_reach_the_runs() {
        let b = BenchRun {
            knobs: vec!["zswap.compressor=zstd".into()],
            mem_mib: 1024,
            timeout: std::time::Duration::from_secs(900),
            deterministic: true,
        };
        let o = b.options(vec!["workload=thrash".into()]);
        assert_eq!((o.mem_mib, o.timeout.as_secs()), (1024, 900));
        assert!(o.deterministic);
        assert_eq!(o.knobs, ["workload=thrash", "zswap.compressor=zstd"]);
        let o = b.options(vec!["zswap.compressor=lz4".into()]);
        assert_eq!(o.knobs, ["zswap.compressor=zstd"], "--set wins");
        assert!(b.clock().contains("guest instructions"));
    }
}
