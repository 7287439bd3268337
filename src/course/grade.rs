//! `faultline grade labN`: build a lab's test kernels, boot them under the
//! deterministic clock, and score every test from the manifest.
//!
//! Verdicts come from the lab-test protocol (`kernel/src/testing/lab.rs`)
//! on its own channel, never from the console text, so debug prints cannot
//! break grading. Each test is isolated: a boot that a panic or a limit
//! ends is followed by another that skips every test already reported, so
//! one crashing or looping test costs only its own points (the
//! "one page fault gave me 1/100" complaint).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::manifest::{Manifest, TestSpec, Visibility};
use crate::cargo::{TestKernel, KERNEL_TARGET};

/// Wall-time safety net per boot: the real limit is in instructions;
/// this only catches a test that loops with interrupts off.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The swap disk every lab test kernel gets.
const SWAP_DISK_BYTES: u64 = 64 << 20;

/// What grading needs besides the tree.
#[derive(Debug, Clone, Default)]
pub struct GradeOptions {
    /// The secret seed of a hidden run (fw_cfg `seed=`); tests use their
    /// public seed without it.
    pub seed: Option<u64>,
    /// A solution tree whose `kernel/tests/*_hidden.rs` are added for
    /// the run (the teacher's hidden tests).
    pub teacher: Option<PathBuf>,
    /// Build here instead of the tree's own `target/` (the course check
    /// shares one across student trees).
    pub target_dir: Option<PathBuf>,
    /// Print cargo's and the boots' progress to stderr.
    pub verbose: bool,
}

/// What became of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass {
        instr: u64,
    },
    /// It reached a `todo!()`: `location` is `file:line`.
    NotImplemented {
        location: String,
        message: String,
    },
    Panic {
        instr: u64,
        location: String,
        message: String,
    },
    OverLimit {
        instr: u64,
        limit: u64,
    },
    /// The boot ended while it ran, without a verdict (a fatal exception,
    /// a triple fault, the wall-time safety net).
    Crashed {
        how: String,
    },
    /// Never ran: the build failed, or its kernel stopped before it.
    NotRun {
        why: String,
    },
    /// A hidden test whose code is not in this tree.
    Hidden,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }

    /// [`Self::describe`] without the instruction count of a pass (the
    /// JSON's, which must repeat exactly).
    pub fn summary(&self) -> String {
        match self {
            Verdict::Pass { .. } => "OK".into(),
            other => other.describe(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Verdict::Pass { instr } => format!("OK ({})", minstr(*instr)),
            Verdict::NotImplemented { location, message } => {
                format!("not yet implemented at {location} ({message})")
            }
            Verdict::Panic {
                location, message, ..
            } => format!("panicked at {location}: {message}"),
            Verdict::OverLimit { instr, limit } => format!(
                "over the instruction limit: stopped after {} (limit {}): an endless loop?",
                minstr(*instr),
                minstr(*limit)
            ),
            Verdict::Crashed { how } => format!("crashed: {how}"),
            Verdict::NotRun { why } => format!("not run: {why}"),
            Verdict::Hidden => "hidden: the teacher runs it".into(),
        }
    }
}

fn minstr(instr: u64) -> String {
    format!("{:.1} M instructions", instr as f64 / 1e6)
}

/// One graded test.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub spec: TestSpec,
    pub verdict: Verdict,
}

impl TestResult {
    pub fn score(&self) -> u32 {
        if self.verdict.passed() {
            self.spec.points
        } else {
            0
        }
    }
}

/// A lab's grade.
#[derive(Debug, Clone)]
pub struct Grade {
    pub lab: u32,
    pub title: String,
    pub results: Vec<TestResult>,
    /// Boots it took (one per kernel, plus one per crash or limit).
    pub boots: usize,
    /// Tests a kernel reported that the manifest does not list.
    pub unlisted: Vec<String>,
    pub wall: Duration,
}

impl Grade {
    pub fn score(&self) -> u32 {
        self.results.iter().map(TestResult::score).sum()
    }

    /// Points of every test that could run here (hidden tests absent from
    /// the tree are not counted).
    pub fn max_score(&self) -> u32 {
        self.results
            .iter()
            .filter(|r| r.verdict != Verdict::Hidden)
            .map(|r| r.spec.points)
            .sum()
    }

    /// `make grade`'s shape, ending in `Score: N/M`.
    pub fn text(&self) -> String {
        let mut s = format!("== lab {}: {} ==\n", self.lab, self.title);
        let width = self
            .results
            .iter()
            .map(|r| r.spec.name.len())
            .max()
            .unwrap_or(0);
        for r in &self.results {
            s.push_str(&format!(
                "{:<width$}  {:>2}/{:<2}  {}\n",
                r.spec.name,
                r.score(),
                r.spec.points,
                r.verdict.describe()
            ));
        }
        for name in &self.unlisted {
            s.push_str(&format!("{name}: not in the manifest, 0 points\n"));
        }
        s.push_str(&format!("Score: {}/{}\n", self.score(), self.max_score()));
        s
    }

    /// The shape course platforms read (Gradescope's results.json):
    /// `score`, `max_score`, and `tests` with `name`, `score`,
    /// `max_score`, `visibility`, `output`, plus our `status`. Instruction
    /// counts stay out: they vary by a few hundred between boots (device
    /// completions), and two gradings of one tree must give the same JSON.
    pub fn json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct TestJson<'a> {
            name: &'a str,
            score: u32,
            max_score: u32,
            visibility: Visibility,
            status: &'static str,
            output: String,
        }
        let tests: Vec<TestJson> = self
            .results
            .iter()
            .map(|r| TestJson {
                name: &r.spec.name,
                score: r.score(),
                max_score: r.spec.points,
                visibility: r.spec.visibility,
                status: if r.verdict.passed() {
                    "passed"
                } else {
                    "failed"
                },
                output: format!("{}: {}", r.spec.about, r.verdict.summary()),
            })
            .collect();
        serde_json::json!({
            "lab": self.lab,
            "score": self.score(),
            "max_score": self.max_score(),
            "tests": tests,
        })
    }
}

/// Builds `kernels` of the tree at `root`; returns them or cargo's error
/// output (the student's compile errors).
pub fn build_lab_kernels(
    root: &Path,
    kernels: &[String],
    opts: &GradeOptions,
) -> Result<Vec<TestKernel>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args([
        "test",
        "-p",
        "kernel",
        "--target",
        KERNEL_TARGET,
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    for k in kernels {
        cmd.args(["--test", k]);
    }
    if let Some(dir) = &opts.target_dir {
        cmd.env("CARGO_TARGET_DIR", dir);
    } else {
        cmd.env_remove("CARGO_TARGET_DIR");
    }
    let stderr = if opts.verbose {
        Stdio::inherit()
    } else {
        Stdio::piped()
    };
    let out = cmd
        .stderr(stderr)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("error") || l.trim_start().starts_with("-->"))
            .take(12)
            .collect();
        return Err(format!("the kernel does not build: {}", errors.join(" | ")));
    }
    Ok(crate::cargo::test_kernels_built(&out.stdout))
}

/// One protocol record (see `kernel/src/testing/lab.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Start(String),
    Pass(String, u64),
    Panic {
        name: String,
        instr: u64,
        location: String,
        message: String,
    },
    Limit {
        instr: u64,
        limit: u64,
    },
    Done,
}

/// Parses the protocol file. A malformed line is an error naming it (the
/// harness wrote it, so it is a bug, not a student's fault).
pub fn parse_protocol(text: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("lab-test protocol line {}: `{line}`", i + 1);
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let rec = match f.as_slice() {
            ["start", name] => Record::Start(name.to_string()),
            ["pass", name, instr] => Record::Pass(name.to_string(), num(instr)?),
            ["panic", name, instr, location, message] => Record::Panic {
                name: name.to_string(),
                instr: num(instr)?,
                location: location.to_string(),
                message: message.to_string(),
            },
            ["limit", _, instr, limit] => Record::Limit {
                instr: num(instr)?,
                limit: num(limit)?,
            },
            ["done"] => Record::Done,
            _ => return Err(bad()),
        };
        out.push(rec);
    }
    Ok(out)
}

/// Verdicts from one boot's records; `boot_end` explains a boot that
/// ended without one. Returns the verdicts and whether the kernel got
/// through all its tests.
pub fn verdicts_of_boot(records: &[Record], boot_end: &str) -> (Vec<(String, Verdict)>, bool) {
    let mut out = Vec::new();
    let mut running: Option<String> = None;
    for r in records {
        match r {
            Record::Start(name) => running = Some(name.clone()),
            Record::Pass(name, instr) => {
                out.push((name.clone(), Verdict::Pass { instr: *instr }));
                running = None;
            }
            Record::Panic {
                name,
                instr,
                location,
                message,
            } => {
                let verdict = match message.strip_prefix("not yet implemented") {
                    Some(rest) => Verdict::NotImplemented {
                        location: location.clone(),
                        message: rest.trim_start_matches(':').trim().to_string(),
                    },
                    None => Verdict::Panic {
                        instr: *instr,
                        location: location.clone(),
                        message: message.clone(),
                    },
                };
                out.push((name.clone(), verdict));
                running = None;
            }
            Record::Limit { instr, limit } => {
                if let Some(name) = running.take() {
                    let verdict = Verdict::OverLimit {
                        instr: *instr,
                        limit: *limit,
                    };
                    out.push((name, verdict));
                }
            }
            Record::Done => return (out, true),
        }
    }
    if let Some(name) = running {
        let how = boot_end.to_string();
        out.push((name, Verdict::Crashed { how }));
    }
    (out, false)
}

/// What [`run_kernel`] found: each reported test's verdict, and why the
/// kernel stopped before the rest (if it did).
type KernelVerdicts = (Vec<(String, Verdict)>, Option<String>);

/// Boots `kernel` until every test in it has a verdict.
fn run_kernel(
    kernel: &TestKernel,
    manifest: &Manifest,
    opts: &GradeOptions,
    boots: &mut usize,
) -> Result<KernelVerdicts, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary dir: {e}"))?;
    let image = dir.path().join("kernel.img");
    boot::create_bios_image(&kernel.path, &image)?;
    let mut verdicts: Vec<(String, Verdict)> = Vec::new();
    let tests_here = manifest.tests.iter().filter(|t| t.kernel == kernel.name);
    let max_boots = tests_here.clone().count() + 2;
    for _ in 0..max_boots {
        *boots += 1;
        let mut settings = format!("limit={}\n", manifest.min_limit_instr);
        for t in tests_here.clone() {
            settings.push_str(&format!("limit.{}={}\n", t.name, manifest.limit_of(t)));
        }
        for (name, _) in &verdicts {
            settings.push_str(&format!("skip={name}\n"));
        }
        if let Some(seed) = opts.seed {
            settings.push_str(&format!("seed={seed}\n"));
        }
        let settings_file = dir.path().join("labtest.txt");
        let protocol = dir.path().join("protocol.txt");
        let disk = dir.path().join("swap.img");
        let io = |e: std::io::Error| format!("{}: {e}", dir.path().display());
        std::fs::write(&settings_file, settings).map_err(io)?;
        std::fs::write(&protocol, "").map_err(io)?;
        boot::create_swap_disk(&disk, SWAP_DISK_BYTES)?;
        let mut config = boot::QemuConfig::new(&image);
        config.timeout = BOOT_TIMEOUT;
        config.icount = true;
        config.swap_disk = Some(disk);
        config.protocol_file = Some(protocol.clone());
        config
            .fw_cfg_files
            .push(("opt/faultline/labtest".into(), settings_file));
        let out = boot::qemu::run(&config)?;
        let text = std::fs::read_to_string(&protocol).map_err(io)?;
        let records = parse_protocol(&text)?;
        let tail: Vec<&str> = out.serial.lines().rev().take(3).collect();
        let how = format!(
            "{}; the console ended: {}",
            out.outcome.describe(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        );
        let (new, finished) = verdicts_of_boot(&records, &how);
        if opts.verbose {
            eprintln!(
                "faultline grade: {} boot {}: {} verdicts, {}",
                kernel.name,
                *boots,
                new.len(),
                out.outcome.describe()
            );
        }
        let progress = !new.is_empty();
        verdicts.extend(new);
        if finished {
            return Ok((verdicts, None));
        }
        if !progress {
            return Ok((
                verdicts,
                Some(format!("the test kernel stopped before it: {how}")),
            ));
        }
    }
    Ok((
        verdicts,
        Some("the grader gave up after one boot per test".into()),
    ))
}

/// Grades lab `lab` of the tree at `root`.
pub fn grade(root: &Path, lab: u32, opts: &GradeOptions) -> Result<Grade, String> {
    let start = Instant::now();
    let manifest = Manifest::load(root, lab)?;
    let mut added = Vec::new();
    let mut present = Vec::new();
    for k in manifest.kernels() {
        let file = root.join("kernel/tests").join(format!("{k}.rs"));
        if !file.exists() {
            if let Some(teacher) = &opts.teacher {
                let src = teacher.join("kernel/tests").join(format!("{k}.rs"));
                std::fs::copy(&src, &file)
                    .map_err(|e| format!("cannot add hidden tests {}: {e}", src.display()))?;
                added.push(file);
            }
        }
        if root.join("kernel/tests").join(format!("{k}.rs")).exists() {
            present.push(k);
        }
    }
    let built = build_lab_kernels(root, &present, opts);
    for file in added {
        let _ = std::fs::remove_file(file);
    }
    let mut verdicts: Vec<(String, Verdict)> = Vec::new();
    let mut stopped: Vec<(String, String)> = Vec::new();
    let mut boots = 0;
    match built {
        Err(e) => stopped.extend(present.iter().map(|k| (k.clone(), e.clone()))),
        Ok(kernels) => {
            for k in &kernels {
                let (v, why) = run_kernel(k, &manifest, opts, &mut boots)?;
                verdicts.extend(v);
                if let Some(why) = why {
                    stopped.push((k.name.clone(), why));
                }
            }
        }
    }
    let results = manifest
        .tests
        .iter()
        .map(|spec| {
            let verdict = verdicts
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    stopped
                        .iter()
                        .find(|(k, _)| *k == spec.kernel)
                        .map(|(_, why)| Verdict::NotRun { why: why.clone() })
                })
                .unwrap_or_else(|| {
                    if present.contains(&spec.kernel) {
                        Verdict::NotRun {
                            why: format!(
                                "kernel/tests/{}.rs has no test of this name",
                                spec.kernel
                            ),
                        }
                    } else {
                        Verdict::Hidden
                    }
                });
            TestResult {
                spec: spec.clone(),
                verdict,
            }
        })
        .collect();
    let unlisted = verdicts
        .iter()
        .filter(|(n, _)| !manifest.tests.iter().any(|t| &t.name == n))
        .map(|(n, _)| n.clone())
        .collect();
    Ok(Grade {
        lab,
        title: manifest.title.clone(),
        results,
        boots,
        unlisted,
        wall: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_records_become_verdicts() {
        let text = "start\ta\npass\ta\t120\nstart\tb\npanic\tb\t5\tkernel/src/mm/swap.rs:42\tnot yet implemented: lab 2: x: see labs/lab2.md#x\n";
        let recs = parse_protocol(text).unwrap();
        let (v, done) = verdicts_of_boot(&recs, "exit 35");
        assert!(!done);
        assert_eq!(v[0], ("a".into(), Verdict::Pass { instr: 120 }));
        assert_eq!(
            v[1].1,
            Verdict::NotImplemented {
                location: "kernel/src/mm/swap.rs:42".into(),
                message: "lab 2: x: see labs/lab2.md#x".into()
            }
        );
    }

    #[test]
    fn a_limit_or_a_silent_end_blames_the_running_test() {
        let recs = parse_protocol("start\tloop\nlimit\t-\t900\t800\n").unwrap();
        let (v, _) = verdicts_of_boot(&recs, "x");
        assert_eq!(
            v,
            [(
                "loop".into(),
                Verdict::OverLimit {
                    instr: 900,
                    limit: 800
                }
            )]
        );
        let recs = parse_protocol("start\ta\npass\ta\t1\nstart\tb\n").unwrap();
        let (v, done) = verdicts_of_boot(&recs, "triple fault");
        assert!(!done);
        assert_eq!(
            v[1],
            (
                "b".into(),
                Verdict::Crashed {
                    how: "triple fault".into()
                }
            )
        );
        let (v, done) = verdicts_of_boot(&parse_protocol("done\n").unwrap(), "");
        assert!(done && v.is_empty());
    }

    #[test]
    fn malformed_protocol_lines_are_named() {
        let e = parse_protocol("start\ta\npass\ta\tmany\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(parse_protocol("hello\n").is_err());
    }
}
