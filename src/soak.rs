//! `faultline soak --minutes N`: runs for N minutes, rotating workloads,
//! policies and seeds, most runs with a write error every 1000th swap
//! write and every fifth with read errors as well; checks every run as the
//! fault matrix does (no corrupt page, no leak, kills only from read
//! errors) and adds up what was verified.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault::matrix::check_linux_outcome;
use crate::fault::Fault;
use crate::run::{run_elf, RunOptions};

/// Workloads the soak rotates through (knobs of each).
const WORKLOADS: [&[&str]; 6] = [
    &["workload=thrash", "workload.pattern=seq"],
    &["workload=compile", "workload.jobs=16"],
    &["workload=thrash", "workload.pattern=random"],
    &["workload=thrash", "workload.pattern=hot"],
    &["workload=thrash", "workload.pattern=runs"],
    &["workload=thrash", "workload.pattern=stride"],
];

/// Knobs every soak run shares: 4 tasks thrash 128M through 32M, 6
/// passes (long enough that boot is a small part of a run).
const SHARED: [&str; 3] = ["workload.size=128M", "memcg.max=32M", "workload.passes=6"];

/// Policies the soak rotates through; the last one swaps to zram (no disk,
/// so no injected fault).
const POLICIES: [(&str, &[&str]); 7] = [
    ("baseline", &[]),
    ("readahead off", &["swap.readahead=off"]),
    ("cluster readahead", &["swap.readahead=cluster"]),
    ("zswap", &["zswap.enabled=1", "memcg.zswap_max=4M"]),
    (
        "zswap bypass",
        &[
            "zswap.enabled=1",
            "memcg.zswap_max=4M",
            "swap.zswap_bypass=1",
        ],
    ),
    ("map-around", &["swap.map_around=cached"]),
    ("zram", &["swap.device=zram"]),
];

/// One soak run's plan.
#[derive(Debug, Clone)]
struct Plan {
    name: String,
    knobs: Vec<String>,
    fault: Option<Fault>,
}

/// The `i`th run: workload, policy and seed all move, so that over a soak
/// every pair meets.
fn plan(i: u64) -> Plan {
    let w = WORKLOADS[(i % WORKLOADS.len() as u64) as usize];
    let (pname, p) = POLICIES[(i / 2 % POLICIES.len() as u64) as usize];
    let mut knobs: Vec<String> = w
        .iter()
        .chain(&SHARED)
        .chain(p)
        .map(|s| s.to_string())
        .collect();
    knobs.push(format!("workload.seed={}", i + 1));
    let fault = if pname == "zram" {
        None
    } else if i % 5 == 4 {
        Some("read:every=2000")
    } else {
        Some("write:every=1000")
    };
    let fault = fault.map(|f| Fault::parse(f).expect("a valid built-in spec"));
    let name = format!(
        "{} / {pname} / seed {} / {}",
        w[1].trim_start_matches("workload."),
        i + 1,
        fault.map_or("no fault".into(), |f| f.describe())
    );
    Plan { name, knobs, fault }
}

/// What the soak found.
#[derive(Debug, Default)]
pub struct Totals {
    pub runs: u64,
    /// Faults that brought a swapped page back (major + swap-cache hits);
    /// the workload reads every such page back and checks it.
    pub swap_ins: u64,
    pub checked_pages: u64,
    pub corrupt_pages: u64,
    pub killed_tasks: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    /// Sum of |leak| over every figure of every run.
    pub leaked: u64,
    /// Runs that broke a rule (listed).
    pub problems: Vec<String>,
}

fn add(t: &mut Totals, name: &str, v: &Value, read_faults: bool) {
    let num = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    t.swap_ins += num("/vmstat/pgmajfault") + num("/vmstat/pgfault_swapcache");
    t.checked_pages += num("/integrity/checked_pages");
    t.corrupt_pages += num("/integrity/corrupt_pages");
    t.killed_tasks += num("/integrity/nr_killed");
    t.read_errors += num("/integrity/swap_read_errors");
    t.write_errors += num("/integrity/swap_write_errors");
    if let Some(leaks) = v["integrity"]["leaks"].as_object() {
        t.leaked += leaks
            .values()
            .map(|n| n.as_i64().unwrap_or(0).unsigned_abs())
            .sum::<u64>();
    }
    for p in check_linux_outcome(v, read_faults) {
        t.problems.push(format!("{name}: {p}"));
    }
}

/// Soaks for `minutes`, `jobs` runs at a time; `progress` gets one line
/// per finished run.
pub fn soak(
    elf: &std::path::Path,
    minutes: u64,
    jobs: usize,
    progress: impl Fn(&str) + Sync,
) -> Totals {
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let next = Mutex::new(0u64);
    let totals = Mutex::new(Totals::default());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                while Instant::now() < end {
                    let i = {
                        let mut n = next.lock().expect("lock");
                        *n += 1;
                        *n - 1
                    };
                    let p = plan(i);
                    let opts = RunOptions {
                        knobs: p.knobs.clone(),
                        fault: p.fault,
                        echo_serial: false,
                        timeout: Duration::from_secs(300),
                        ..RunOptions::default()
                    };
                    let read_faults = matches!(p.fault, Some(Fault::Io { write: false, .. }));
                    let started = Instant::now();
                    let report = run_elf(&opts, elf);
                    let mut t = totals.lock().expect("lock");
                    t.runs += 1;
                    let line = match report.as_ref().map(|r| (&r.result, &r.error)) {
                        Ok((Some(v), _)) => {
                            let before = t.problems.len();
                            add(&mut t, &p.name, v, read_faults);
                            let verdict = if t.problems.len() == before {
                                "ok"
                            } else {
                                "PROBLEM"
                            };
                            format!(
                                "{verdict} run {i}: {} ({:.0} s, {} swap-ins, {} killed)",
                                p.name,
                                started.elapsed().as_secs_f64(),
                                v["vmstat"]["pgmajfault"].as_u64().unwrap_or(0)
                                    + v["vmstat"]["pgfault_swapcache"].as_u64().unwrap_or(0),
                                v["integrity"]["nr_killed"]
                            )
                        }
                        Ok((None, e)) => {
                            let msg = format!("{}: no result ({e:?})", p.name);
                            t.problems.push(msg.clone());
                            format!("PROBLEM run {i}: {msg}")
                        }
                        Err(e) => {
                            let msg = format!("{}: {e}", p.name);
                            t.problems.push(msg.clone());
                            format!("PROBLEM run {i}: {msg}")
                        }
                    };
                    drop(t);
                    progress(&line);
                }
            });
        }
    });
    totals.into_inner().expect("lock")
}

/// The summary table.
pub fn render(t: &Totals, wall: Duration) -> String {
    let mut s = format!(
        "soak: {} runs in {:.1} min\n  swap-in faults verified  {}\n  pages checked            {}\n  corrupt pages            {}\n  leaked (sum of figures)  {}\n  swap read errors         {}\n  swap write errors        {}\n  tasks killed             {}\n  problems                 {}\n",
        t.runs,
        wall.as_secs_f64() / 60.0,
        t.swap_ins,
        t.checked_pages,
        t.corrupt_pages,
        t.leaked,
        t.read_errors,
        t.write_errors,
        t.killed_tasks,
        t.problems.len()
    );
    for p in &t.problems {
        s.push_str(&format!("  - {p}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_rotate_and_zram_runs_have_no_fault() {
        let plans: Vec<Plan> = (0..70).map(plan).collect();
        assert!(plans.iter().any(|p| p.fault.is_none()));
        assert!(plans
            .iter()
            .filter(|p| p.knobs.contains(&"swap.device=zram".to_string()))
            .all(|p| p.fault.is_none()));
        let reads = plans
            .iter()
            .filter(|p| matches!(p.fault, Some(Fault::Io { write: false, .. })))
            .count();
        assert!((10..=14).contains(&reads), "{reads} read-error runs in 70");
        for p in &plans {
            let text = p.knobs.join("\n");
            knobs::Config::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
    }
}
