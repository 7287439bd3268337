//! `faultline fault`: the fault matrix. Every cell is one run of a small
//! swapping workload with one kind of device fault injected, checked
//! against what Linux does (see the module comment of `crate::fault` and
//! the shared reference `qemu-fault-injection.md`):
//!
//! - always: a result (no hang, panic or triple fault), 0 corrupt pages,
//!   every leak figure 0;
//! - read errors: only tasks that faulted on a failed page die
//!   (`nr_killed <= swap_read_errors`, each kill names a failed slot when
//!   the rule names slots), and the run's status says so;
//! - write errors: nobody dies, the run is `ok`, and the errors are
//!   counted; every-N rules fail about 1 in N device requests.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{blkdebug_rules_for_slots, Fault, Which};
use crate::run::{run_elf, RunOptions};

/// The workload of every cell: 4 tasks thrash 24M through an 8M memcg.
const WORKLOAD: [&str; 4] = [
    "workload=thrash",
    "workload.size=24M",
    "memcg.max=8M",
    "workload.passes=2",
];

/// Knobs of the zswap-on cells: a small cgroup zswap limit, so that zswap
/// writes back to the disk and device reads and writes still happen.
const ZSWAP_ON: [&str; 2] = ["zswap.enabled=1", "memcg.zswap_max=1M"];

/// The first slot the allocator hands out: cluster 0 holds the header, so
/// allocation starts in cluster 1 (see `mm/swapfile.rs`).
const FIRST_SLOT: u64 = 512;

/// Where a slot fault sits in the slots the workload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    First,
    Middle,
    Last,
    /// 1 % of the used slots, chosen at random (seeded).
    OnePercent,
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    write: bool,
    /// `None` for every-N cells.
    position: Option<Position>,
    once: bool,
    every: Option<u64>,
    zswap: bool,
    readahead: bool,
}

impl Cell {
    pub fn name(&self) -> String {
        let kind = if self.write { "write" } else { "read" };
        let what = match (self.every, self.position) {
            (Some(n), _) => format!("every {n}"),
            (None, Some(p)) => {
                let p = format!("{p:?}").to_lowercase();
                let once = if self.once { "once" } else { "persistent" };
                format!("{once} {p}")
            }
            (None, None) => unreachable!("a cell has a position or a period"),
        };
        let z = if self.zswap { "on" } else { "off" };
        let ra = if self.readahead { "vma" } else { "off" };
        format!("{kind:5} {what:19} zswap {z:3} ra {ra}")
    }
}

/// Every cell: {read, write} x {once, persistent} x {first, middle, last,
/// 1 %} plus {every 10, 100, 1000}, x {zswap off, on} x {readahead vma, off}.
pub fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for zswap in [false, true] {
        for readahead in [true, false] {
            for write in [false, true] {
                let base = Cell {
                    write,
                    position: None,
                    once: false,
                    every: None,
                    zswap,
                    readahead,
                };
                for once in [true, false] {
                    for p in [
                        Position::First,
                        Position::Middle,
                        Position::Last,
                        Position::OnePercent,
                    ] {
                        out.push(Cell {
                            position: Some(p),
                            once,
                            ..base.clone()
                        });
                    }
                }
                for n in [10, 100, 1000] {
                    out.push(Cell {
                        every: Some(n),
                        ..base.clone()
                    });
                }
            }
        }
    }
    out
}

/// The slots a cell's rules name, given how many slots the workload uses.
fn slots_of(position: Position, used: u64) -> Vec<u64> {
    let last = FIRST_SLOT + used.max(1) - 1;
    match position {
        Position::First => vec![FIRST_SLOT],
        Position::Middle => vec![FIRST_SLOT + used / 2],
        Position::Last => vec![last],
        Position::OnePercent => {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            let mut set = BTreeSet::new();
            while (set.len() as u64) < (used / 100).max(1) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                set.insert(FIRST_SLOT + x % used.max(1));
            }
            set.into_iter().collect()
        }
    }
}

/// The knobs of a cell's run.
fn knobs(cell: &Cell) -> Vec<String> {
    let mut k: Vec<String> = WORKLOAD.iter().map(|s| s.to_string()).collect();
    if cell.zswap {
        k.extend(ZSWAP_ON.iter().map(|s| s.to_string()));
    }
    if !cell.readahead {
        k.push("swap.readahead=off".into());
    }
    k
}

/// What one cell did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub cell: Cell,
    /// Problems found; empty = the cell passed.
    pub failures: Vec<String>,
    /// (read errors, write errors, tasks killed, device reads, device writes).
    pub figures: [u64; 5],
    pub wall: Duration,
}

/// A counter of a result (0 if absent).
fn num(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// What every run under injected faults must satisfy, as Linux would:
/// no corrupt page, no leak, a status that matches the kills, and kills
/// only from read errors (at most one per failed read: a failed
/// readahead page nobody touches kills nobody). `read_faults`: reads were
/// made to fail.
pub fn check_linux_outcome(v: &Value, read_faults: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let corrupt = num(v, "/integrity/corrupt_pages");
    if corrupt != 0 {
        bad.push(format!("{corrupt} corrupt pages"));
    }
    if let Some(leaks) = v["integrity"]["leaks"].as_object() {
        for (name, n) in leaks.iter().filter(|(_, n)| n.as_i64() != Some(0)) {
            bad.push(format!("leak of {name}: {n}"));
        }
    } else {
        bad.push("no leak figures".into());
    }
    let killed = num(v, "/integrity/nr_killed");
    // Over the whole run (vmstat covers the measured phase only).
    let rerr = num(v, "/integrity/swap_read_errors");
    let status = v["status"].as_str().unwrap_or("?");
    let want_status = if killed > 0 { "killed" } else { "ok" };
    if status != want_status {
        bad.push(format!("status {status}, expected {want_status}"));
    }
    if !read_faults && (killed != 0 || rerr != 0) {
        bad.push(format!(
            "no read faults, yet {killed} killed and {rerr} read errors"
        ));
    }
    if read_faults && killed > rerr {
        bad.push(format!("{killed} tasks killed by {rerr} read errors"));
    }
    bad
}

/// Checks one cell's result against Linux's behaviour.
fn check(cell: &Cell, slots: &[u64], v: &Value) -> (Vec<String>, [u64; 5]) {
    let num = |p: &str| num(v, p);
    let (rerr, werr) = (
        num("/vmstat/swap_read_errors"),
        num("/vmstat/swap_write_errors"),
    );
    let killed = num("/integrity/nr_killed");
    let (reads, writes) = (num("/vmstat/pswpin"), num("/vmstat/pswpout"));
    let figures = [rerr, werr, killed, reads, writes];
    let mut bad = check_linux_outcome(v, !cell.write);
    if cell.once && rerr + werr > slots.len() as u64 {
        bad.push(format!(
            "once: {} errors for {} slots",
            rerr + werr,
            slots.len()
        ));
    }
    if !cell.once && cell.every.is_none() && cell.position.is_some() {
        // Kills name a failed slot.
        for k in v["integrity"]["killed_tasks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let slot = k["slot"].as_u64().unwrap_or(0);
            if !slots.contains(&slot) {
                bad.push(format!("killed on slot {slot}, which had no fault"));
            }
        }
    }
    if let Some(n) = cell.every {
        // One error per N device requests of the kind, give or take the
        // requests outside the measured phase.
        let (errors, requests) = if cell.write {
            (werr, writes)
        } else {
            (rerr, reads)
        };
        let want = requests / n;
        if errors + 2 < want || errors > want + 2 {
            bad.push(format!("every {n}: {errors} errors in {requests} requests"));
        }
    }
    (bad, figures)
}

/// Runs one cell.
fn run_cell(elf: &Path, cell: &Cell, used: u64, dir: &Path, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let slots = cell.position.map(|p| slots_of(p, used)).unwrap_or_default();
    let rules = match cell.every {
        Some(n) => Fault::Io {
            write: cell.write,
            which: Which::Every(n),
            once: false,
        }
        .blkdebug_rules()
        .expect("an I/O fault has rules"),
        None => blkdebug_rules_for_slots(cell.write, &slots, cell.once),
    };
    let file = dir.join(format!("cell-{:x}.conf", fxhash(&cell.name())));
    let outcome = |failures, figures| Outcome {
        cell: cell.clone(),
        failures,
        figures,
        wall: start.elapsed(),
    };
    if let Err(e) = std::fs::write(&file, rules) {
        return outcome(
            vec![format!("cannot write {}: {e}", file.display())],
            [0; 5],
        );
    }
    let opts = RunOptions {
        knobs: knobs(cell),
        blkdebug: Some(file.clone()),
        echo_serial: false,
        timeout,
        ..RunOptions::default()
    };
    let report = run_elf(&opts, elf);
    let _ = std::fs::remove_file(&file);
    match report {
        Err(e) => outcome(vec![e], [0; 5]),
        Ok(r) => match (&r.result, &r.error) {
            (Some(v), _) => {
                let (bad, figures) = check(cell, &slots, v);
                outcome(bad, figures)
            }
            (None, Some(e)) => outcome(vec![format!("kernel error: {e}")], [0; 5]),
            (None, None) => outcome(vec![format!("no result: {}", r.outcome.describe())], [0; 5]),
        },
    }
}

/// A small stable hash for file names.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// How many slots the matrix workload uses: `swap.peak_used_slots` of one
/// run without faults (slots are handed out in order from [`FIRST_SLOT`]
/// on the first pass, so they are the range the positions refer to).
pub fn used_slots(elf: &Path) -> Result<u64, String> {
    let opts = RunOptions {
        knobs: WORKLOAD.iter().map(|s| s.to_string()).collect(),
        echo_serial: false,
        ..RunOptions::default()
    };
    let r = run_elf(&opts, elf)?;
    let v = r
        .result
        .ok_or_else(|| format!("the fault-free run printed no result: {:?}", r.error))?;
    v["swap"]["peak_used_slots"]
        .as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| "the fault-free run used no swap slot".into())
}

/// Runs `cells` (`jobs` at a time) and returns their outcomes in order.
/// `progress` sees each outcome as it finishes.
pub fn run(
    elf: &Path,
    cells: &[Cell],
    used: u64,
    jobs: usize,
    timeout: Duration,
    progress: impl Fn(&Outcome) + Sync,
) -> Result<Vec<Outcome>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let next = Mutex::new(0usize);
    let done: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("lock");
                    *n += 1;
                    *n - 1
                };
                let Some(cell) = cells.get(i) else { break };
                let o = run_cell(elf, cell, used, dir.path(), timeout);
                progress(&o);
                done.lock().expect("lock")[i] = Some(o);
            });
        }
    });
    Ok(done
        .into_inner()
        .expect("lock")
        .into_iter()
        .map(|o| o.expect("every cell ran"))
        .collect())
}

/// The table: one line per cell, pass or fail, with its figures.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:43} {:>6} {:>6} {:>6} {:>7} {:>7} {:>5}  result\n",
        "cell", "rd err", "wr err", "killed", "pswpin", "pswpout", "wall"
    );
    for o in outcomes {
        let [r, w, k, i, out] = o.figures;
        let result = if o.failures.is_empty() {
            "pass".to_string()
        } else {
            format!("FAIL: {}", o.failures.join("; "))
        };
        s.push_str(&format!(
            "{:43} {r:>6} {w:>6} {k:>6} {i:>7} {out:>7} {:>4.0}s  {result}\n",
            o.cell.name(),
            o.wall.as_secs_f64()
        ));
    }
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    s.push_str(&format!(
        "\n{} cells, {} passed, {failed} failed\n",
        outcomes.len(),
        outcomes.len() - failed
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_has_every_combination() {
        let c = cells();
        assert_eq!(c.len(), 2 * 2 * 2 * (2 * 4 + 3));
        let names: BTreeSet<String> = c.iter().map(Cell::name).collect();
        assert_eq!(names.len(), c.len(), "names are unique");
    }

    #[test]
    fn positions_fall_in_the_used_slots() {
        assert_eq!(slots_of(Position::First, 1000), [512]);
        assert_eq!(slots_of(Position::Middle, 1000), [1012]);
        assert_eq!(slots_of(Position::Last, 1000), [1511]);
        let one = slots_of(Position::OnePercent, 1000);
        assert_eq!(one.len(), 10);
        assert!(one.iter().all(|s| (512..1512).contains(s)));
    }
}
