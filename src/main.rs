//! `faultline`: run the faultline kernel under QEMU and show its counters.
//!
//! The command line is `src/cli.rs` (clap); the exit statuses are
//! `src/exit.rs`. Each command here parses nothing itself: it turns clap's
//! arguments into the library's options and maps errors to a status.

use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use faultline::cli::{self, BenchCommand, Cli, Command, TraceCommand};
use faultline::exit::{environment, failed, kernel_error_status, unfinished_status, usage, Fail};
use faultline::run::{check_options, run_elf, RunOptions};

fn main() {
    let cli = Cli::parse();
    let done = match cli.command {
        Command::Run(a) => run(a),
        Command::Lab(a) => faultline::lab::command::lab(a),
        Command::Bench(a) => bench(a.which),
        Command::Trace(a) => trace(a.command),
        Command::Image(a) => image(a),
        Command::Knobs(a) => {
            faultline::knob_list::print(a.json);
            Ok(())
        }
        Command::Fault(a) => fault_matrix(a),
        Command::Soak(a) => soak(a),
        Command::Course(a) => course(a.command),
        Command::Grade(a) => {
            let opts = faultline::course::grade::GradeOptions {
                seed: a.seed,
                teacher: a.teacher,
                target_dir: None,
                verbose: a.verbose,
            };
            match (&a.batch, &a.csv) {
                (Some(dir), Some(csv)) => faultline::course::batch_command(a.lab, dir, csv, &opts),
                _ => faultline::course::grade_command(a.lab, a.json, &opts),
            }
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "faultline", &mut std::io::stdout());
            Ok(())
        }
    };
    if let Err(fail) = done {
        fail.exit();
    }
}

/// The QEMU check and the release build every booting command starts with.
fn qemu_and_kernel() -> Result<PathBuf, Fail> {
    boot::find_qemu().map_err(environment)?;
    faultline::cargo::build_release_kernel().map_err(environment)
}

fn run(a: cli::RunArgs) -> Result<(), Fail> {
    let mut knobs = a.knobs.knobs;
    if let Some(n) = a.timeline {
        if knobs
            .iter()
            .any(|k| k.starts_with("timeline.interval_mcycles="))
        {
            return Err(usage(
                "give --timeline or --set timeline.interval_mcycles, not both",
            ));
        }
        knobs.push(format!("timeline.interval_mcycles={n}"));
    }
    let kvm = match a.accel {
        cli::Accel::Tcg => false,
        cli::Accel::Kvm if a.deterministic => {
            return Err(usage(
                "--accel kvm with --deterministic: QEMU's -icount needs TCG",
            ))
        }
        cli::Accel::Kvm => {
            boot::kvm_usable().map_err(|e| environment(format!("--accel kvm: {e}")))?;
            true
        }
        cli::Accel::Auto => !a.deterministic && boot::kvm_usable().is_ok(),
    };
    // The provenance (git, QEMU and rustc versions: about half a second)
    // is gathered while the kernel runs.
    if a.json {
        std::thread::spawn(|| {
            faultline::provenance::get();
        });
    }
    let opts = RunOptions {
        kvm,
        knobs,
        mem_mib: a.mem >> 20,
        swap_bytes: a.swap,
        virtio_transitional: a.virtio_transitional,
        traces: a.trace,
        files: a.files,
        objects_bytes: a.objects,
        timeout: if a.gdb {
            Duration::from_secs(a.timeout.max(3600))
        } else {
            Duration::from_secs(a.timeout)
        },
        gdb: a.gdb,
        deterministic: a.deterministic,
        fault: a.fault,
        blkdebug: a.blkdebug,
        ..RunOptions::default()
    };
    check_options(&opts).map_err(usage)?;
    let elf = qemu_and_kernel()?;
    let report = run_elf(&opts, &elf).map_err(environment)?;
    if let Some(err) = &report.error {
        let kind = report.partial.as_ref().and_then(|p| p["status"].as_str());
        if let Some(partial) = report.partial.as_ref().filter(|_| a.json) {
            // Still exactly one JSON object: the kind of failure and the
            // counters the run reached, for a script to keep.
            let mut partial = partial.clone();
            partial["error"] = err.as_str().into();
            stamp(&mut partial, &report, kvm);
            println!("{partial}");
        }
        return Err(Fail::new(kernel_error_status(kind), err.clone()));
    }
    let Some(mut result) = report.result.clone() else {
        let qemu = report.qemu_stderr.trim();
        let qemu = if qemu.is_empty() {
            String::new()
        } else {
            format!("\nQEMU said: {qemu}")
        };
        return Err(Fail::new(
            unfinished_status(&report.outcome),
            format!(
                "the kernel printed no result: {}{qemu}",
                report.outcome.describe()
            ),
        ));
    };
    if a.timeline.is_some() {
        write_timeline(&report.serial, &a.out, &result)?;
    }
    if a.json {
        stamp(&mut result, &report, kvm);
        println!("{result}");
    } else {
        print!("{}", faultline::result::render_table(&result));
    }
    if !report.is_success() {
        let killed = result["integrity"]["killed_tasks"]
            .as_array()
            .map_or(0, Vec::len);
        let status = result["status"].as_str().unwrap_or("?");
        let programs = match result["user"]["nr_failed"].as_u64() {
            Some(n) => format!("{n} user program(s) failed, "),
            None => String::new(),
        };
        return Err(failed(format!(
            "run failed: status {status}, {programs}{killed} task(s) killed; {}",
            report.outcome.describe()
        )));
    }
    Ok(())
}

/// What `run --json` adds to the kernel's (partial) result: provenance,
/// wall time and the accelerator.
fn stamp(v: &mut serde_json::Value, report: &faultline::run::RunReport, kvm: bool) {
    v["provenance"] = faultline::provenance::get().clone();
    v["wall_s"] = report.wall_time.as_secs_f64().into();
    v["accel"] = if kvm { "kvm" } else { "tcg" }.into();
}

/// `run --timeline`: the samples as timeline.csv and timeline.svg.
fn write_timeline(
    serial: &str,
    dir: &std::path::Path,
    result: &serde_json::Value,
) -> Result<(), Fail> {
    let timeline = faultline::timeline::parse(serial)
        .map_err(environment)?
        .ok_or_else(|| environment("--timeline: the kernel printed no samples"))?;
    let c = &result["config"];
    let title = format!(
        "{} {}, memcg.max {}: counters over the measured phase ({} samples)",
        c["workload"].as_str().unwrap_or("?"),
        faultline::result::human_size(c["workload.size"].as_u64().unwrap_or(0)),
        faultline::lab::report::knob_text(&c["memcg.max"]),
        timeline.rows.len()
    );
    let files = timeline.write(dir, &title).map_err(environment)?;
    eprintln!("timeline: wrote {}", files.join(", "));
    Ok(())
}

fn bench(which: BenchCommand) -> Result<(), Fail> {
    use faultline::bench;
    let settings = |a: &cli::BenchRunArgs| -> Result<bench::BenchRun, Fail> {
        knobs::Config::parse(&a.knobs.knobs.join("\n")).map_err(|e| usage(e.to_string()))?;
        Ok(bench::BenchRun {
            knobs: a.knobs.knobs.clone(),
            mem_mib: a.mem >> 20,
            timeout: Duration::from_secs(a.timeout),
            deterministic: a.deterministic,
        })
    };
    // The benches boot through the library, which reports every problem
    // as text: a bench that cannot finish is an environment problem.
    match which {
        BenchCommand::Faults(a) => {
            let b = settings(&a)?;
            let rows = bench::fault_costs(&bench::FOOTPRINTS_MIB, &b).map_err(environment)?;
            if a.json {
                let rows: Vec<_> = rows
                    .iter()
                    .map(|r| serde_json::json!({"footprint_mib": r.footprint_mib, "result": r.result}))
                    .collect();
                println!("{}", serde_json::json!({"clock": b.clock(), "runs": rows}));
            } else {
                println!("clock: {}", b.clock());
                print!("{}", bench::render(&rows));
            }
        }
        BenchCommand::Zswap(a) => {
            let b = settings(&a)?;
            let v = bench::zswap_cost(&b).map_err(environment)?;
            if a.json {
                println!("{}", serde_json::json!({"clock": b.clock(), "result": v}));
            } else {
                println!("clock: {}", b.clock());
                print!("{}", bench::render_zswap(&v));
            }
        }
        BenchCommand::Trace { trace, run } => {
            faultline::trace::read_header(&trace).map_err(usage)?;
            let (text, v) = bench::trace_speed(&trace, &settings(&run)?).map_err(environment)?;
            if run.json {
                println!("{v}");
            } else {
                print!("{text}");
            }
        }
        BenchCommand::Compressors => {
            let sets = faultline::compressors::run().map_err(environment)?;
            print!("{}", faultline::compressors::render(&sets));
        }
    }
    Ok(())
}

fn trace(command: TraceCommand) -> Result<(), Fail> {
    let TraceCommand::Import {
        max_records,
        layout,
        gap,
        codec,
        input,
        output,
    } = command;
    let mut opts = faultline::trace::ImportOptions::default();
    if let Some(n) = max_records {
        opts.max_records = n as u64;
    }
    opts.codec = match codec {
        cli::Codec::Zstd => faultline::trace::Codec::Zstd,
        cli::Codec::Lz4 => faultline::trace::Codec::Lz4,
    };
    opts.gap_bytes = match layout {
        cli::Layout::Dense => None,
        cli::Layout::Kept => Some(
            faultline::parse_size(&gap)
                .filter(|g| *g >= 4096)
                .ok_or_else(|| {
                    usage(format!(
                        "--gap {gap}: expected a size of at least 4K, like 1G"
                    ))
                })?,
        ),
    };
    let summary = if input == "-" {
        faultline::trace::import(std::io::stdin().lock(), &output, opts)
    } else {
        let f = std::fs::File::open(&input).map_err(|e| usage(format!("{input}: {e}")))?;
        faultline::trace::import(f, &output, opts)
    }
    .map_err(|e| usage(format!("{input}: {e}")))?;
    eprintln!(
        "trace: {} lines -> {} records over {} distinct pages ({} MiB footprint) in {} region(s) spanning {} MiB -> {} ({} bytes)",
        summary.lines,
        summary.records,
        summary.pages,
        (summary.pages as u64 * 4096) >> 20,
        summary.regions,
        summary.span_bytes >> 20,
        output.display(),
        summary.file_bytes
    );
    Ok(())
}

fn image(a: cli::ImageArgs) -> Result<(), Fail> {
    let size = match &a.size {
        None => None,
        Some(v) => Some(
            faultline::parse_size(v)
                .filter(|n| *n > 0)
                .ok_or_else(|| usage(format!("--size {v}: expected a size such as 64M or 1G")))?,
        ),
    };
    let summary = boot::ext2_image::image_from_dir(&a.dir, &a.output, size)
        .map_err(|e| usage(format!("image: {e}")))?;
    eprintln!("image: {summary}");
    Ok(())
}

/// `faultline course student|check`.
fn course(c: cli::CourseCommand) -> Result<(), Fail> {
    use faultline::course;
    match c {
        cli::CourseCommand::Student { lab, out } => course::student_command(lab, &out),
        cli::CourseCommand::Check {
            lab,
            record,
            experiments,
            verbose,
        } => {
            boot::find_qemu().map_err(environment)?;
            let root = course::current_tree()?;
            let labs = match lab {
                Some(l) => vec![l],
                None => course::manifest::labs_in(&root),
            };
            let start = std::time::Instant::now();
            let problems = course::check::check(&root, &labs, record, experiments, verbose)
                .map_err(environment)?;
            for p in &problems {
                eprintln!("course check: {p}");
            }
            eprintln!(
                "course check: {} lab(s) in {:.0} s: {}",
                labs.len(),
                start.elapsed().as_secs_f64(),
                if problems.is_empty() {
                    "passed"
                } else {
                    "FAILED"
                }
            );
            if problems.is_empty() {
                Ok(())
            } else {
                Err(failed(format!(
                    "course check: {} problem(s)",
                    problems.len()
                )))
            }
        }
    }
}

/// `faultline fault`: the fault matrix (see `src/fault/matrix.rs`).
fn fault_matrix(a: cli::FaultArgs) -> Result<(), Fail> {
    use faultline::fault::matrix;
    let jobs = a.jobs.unwrap_or_else(cli::cpus);
    let cells: Vec<_> = matrix::cells()
        .into_iter()
        .filter(|c| {
            a.only
                .as_ref()
                .is_none_or(|o| c.name().contains(o.as_str()))
        })
        .collect();
    if cells.is_empty() {
        return Err(usage(
            "fault: --only matches no cell (see the names in a full run's table)",
        ));
    }
    let elf = qemu_and_kernel()?;
    let start = std::time::Instant::now();
    let used = matrix::used_slots(&elf).map_err(environment)?;
    eprintln!(
        "fault: {} cells, {jobs} at a time; the workload uses {used} swap slots",
        cells.len()
    );
    let timeout = Duration::from_secs(a.timeout);
    let outcomes = matrix::run(&elf, &cells, used, jobs, timeout, |o| {
        let verdict = if o.failures.is_empty() {
            "pass"
        } else {
            "FAIL"
        };
        eprintln!("fault: {verdict} {}", o.cell.name());
    })
    .map_err(environment)?;
    print!("{}", matrix::render(&outcomes));
    println!("wall time {:.0} s", start.elapsed().as_secs_f64());
    let bad = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    if bad > 0 {
        return Err(failed(format!("fault: {bad} cell(s) failed")));
    }
    Ok(())
}

/// `faultline soak --minutes N`.
fn soak(a: cli::SoakArgs) -> Result<(), Fail> {
    let jobs = a.jobs.unwrap_or_else(cli::cpus);
    let elf = qemu_and_kernel()?;
    let start = std::time::Instant::now();
    eprintln!("soak: {} min, {jobs} runs at a time", a.minutes);
    let totals = faultline::soak::soak(&elf, a.minutes as u64, jobs, |line| {
        eprintln!("soak: {line}")
    });
    print!("{}", faultline::soak::render(&totals, start.elapsed()));
    if totals.corrupt_pages != 0 || totals.leaked != 0 || !totals.problems.is_empty() {
        return Err(failed(
            "soak: corrupt pages, leaks or unexpected outcomes (above)",
        ));
    }
    Ok(())
}
