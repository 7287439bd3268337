//! `faultline`: run the faultline kernel under QEMU and show its counters.

use std::process::exit;
use std::time::Duration;

use faultline::run::{run, RunOptions};

const USAGE: &str = "\
usage: faultline run [--set key=value]... [--json] [--mem SIZE] [--swap SIZE]
                     [--timeout SECS] [--deterministic] [--gdb] [--virtio-transitional]
                     [--trace FILE]... [--files IMAGE [--objects SIZE]]
                     [--fault SPEC | --blkdebug RULES]

  --set key=value   a boot-time knob (repeatable; faultline knobs lists them);
                    unknown knobs and bad values are refused before anything
                    is built or booted, with the valid ones listed
  --json            print exactly one JSON object on stdout
  --mem SIZE        guest RAM (default 512M)
  --swap SIZE       swap disk (virtio-blk), a sparse file (default 1G; 0 = none)
  --timeout SECS    kill QEMU after this long (default 300)
  --deterministic   reproducible runs: QEMU -icount shift=0 (the TSC counts
                    guest instructions) and sched.deterministic=1 (no
                    interrupts); host load then changes nothing
  --gdb             start halted with a gdb stub on :1234 (prints the gdb command)
  --trace FILE      a page trace for workload=trace (repeatable: one task each)
  --files IMAGE     an ext2 image (see faultline image) attached read-only as
                    the files disk; the kernel walks it and reports its files
  --objects SIZE    with --files: the sparse scratch disk workload=compile
                    writes its object files to (default 1G; 0 for none: the
                    jobs then keep their output in memory)
  --virtio-transitional
                    attach the swap disk as a transitional virtio device
                    (1af4:1001) instead of a modern-only one (1af4:1042)
  --fault SPEC      make the swap disk fail (QEMU blkdebug): read|write, then
                    :all (default), :nth=N, :every=N or :slot=N, and :once
                    (with all or slot=N); or hang (a device that never
                    answers; see the knob swapdev.timeout_ms). Examples:
                    read:slot=100:once, write:every=10, write, hang.
                    A read error kills only the task that faults on the
                    page (SIGBUS, listed in killed_tasks); a write error
                    keeps the page in memory and counts swap_write_errors
  --blkdebug RULES  your own blkdebug rule file under the swap disk

       faultline bench faults|zswap [--set key=value]...   (no other option)
       faultline bench trace TRACE [--set key=value]...
       faultline bench compressors
       faultline trace import [--max-records N] [--layout kept|dense] [--gap SIZE]
                              [--codec zstd|lz4] LACKEY_LOG|- OUTPUT
       faultline image [--size SIZE] DIR OUTPUT
       faultline knobs
       faultline fault [--jobs J] [--only TEXT]   (the fault matrix; fault --help)
       faultline soak [--minutes N] [--jobs J]     (soak under faults; soak --help)

  bench faults      cycles per major fault and per swap-cache-hit fault, at a
                    16 MiB and a 256 MiB footprint with memcg.max = 1/3 of it
  bench zswap       cycles per zswap swap-in fault next to one bare lz4 page
                    decompress, measured in the same run
  bench trace       records/s of one deterministic replay of TRACE (one
                    pass, no memory limit unless --set gives one), in the
                    guest clock and over the whole run's wall time
  bench compressors lz4, the kernel's zstd (ruzstd) and reference zstd
                    (libzstd, levels 3 and 1) on the workloads' own page
                    contents, on the host: size and time per page
  knobs             every boot-time knob: name=default, its values, its help
                    (run checks --set against this list before it boots)
  trace import      a valgrind lackey log (streamed, any length) -> a page
                    trace (format: src/trace.rs); the address-space layout
                    is kept (regions cut at gaps of --gap, default 1G) unless
                    --layout dense; --max-records keeps the first N records;
                    chunks in zstd (small files, the default) or lz4
  image             an ext2 image (4 KiB blocks, made with mke2fs -d) holding
                    a copy of DIR, for the file-backed workloads to come (the
                    kernel's reader: kernel/src/fs/ext2/); sized to fit DIR
                    unless --size says otherwise; never overwrites OUTPUT

The serial log goes to stderr; the result goes to stdout. Exit status of
run: 0 when the kernel reported success (QEMU exit 33: no corrupt page, no
leak, no task killed); 1 when the run finished and failed (its result's
status is corrupt, leak or killed: a task killed by a swap read error, see
killed_tasks); 2 for a usage or input error, a run that printed no result
(timeout, crash, a kernel error such as memcg OOM or a hung device), or a
missing QEMU.";

fn fail(msg: &str) -> ! {
    eprintln!("faultline: {msg}");
    exit(2)
}

/// A disk size option: 0 (no disk) or at least 1M; `like` is an example
/// for the error.
fn disk_size(name: &str, v: &str, like: &str) -> u64 {
    faultline::parse_size(v)
        .filter(|b| *b == 0 || *b >= 1 << 20)
        .unwrap_or_else(|| {
            fail(&format!(
                "{name} {v}: expected 0 or a size of at least 1M, like {like}"
            ))
        })
}

fn parse_run_args(args: &[String]) -> (RunOptions, bool) {
    let mut opts = RunOptions::default();
    let mut json = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{name} needs a value\n\n{USAGE}")))
        };
        match arg.as_str() {
            "--set" => opts.knobs.push(value("--set")),
            "--json" => json = true,
            "--gdb" => opts.gdb = true,
            "--deterministic" => opts.deterministic = true,
            "--virtio-transitional" => opts.virtio_transitional = true,
            "--trace" => opts.traces.push(value("--trace").into()),
            "--fault" => {
                let spec = value("--fault");
                opts.fault =
                    Some(faultline::fault::Fault::parse(&spec).unwrap_or_else(|e| fail(&e)));
            }
            "--blkdebug" => opts.blkdebug = Some(value("--blkdebug").into()),
            "--files" => opts.files = Some(value("--files").into()),
            "--objects" => opts.objects_bytes = disk_size("--objects", &value("--objects"), "1G"),
            "--swap" => opts.swap_bytes = disk_size("--swap", &value("--swap"), "256M"),
            "--mem" => {
                let v = value("--mem");
                let bytes = faultline::parse_size(&v)
                    .filter(|b| *b >= 64 << 20)
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "--mem {v}: expected a size of at least 64M, like 512M or 1G"
                        ))
                    });
                opts.mem_mib = bytes >> 20;
            }
            "--timeout" => {
                let v = value("--timeout");
                let secs: u64 = v
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("--timeout {v}: expected whole seconds")));
                opts.timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            other => fail(&format!("unknown option '{other}'\n\n{USAGE}")),
        }
    }
    if opts.gdb {
        opts.timeout = opts.timeout.max(Duration::from_secs(3600));
    }
    (opts, json)
}

fn bench(args: &[String]) {
    // A bench sizes its own runs: of run's options it takes only --set, and
    // says so rather than ignoring the others.
    let mut rest = args.get(1..).unwrap_or_default();
    let mut trace = None;
    if args.first().map(String::as_str) == Some("trace") {
        match rest.split_first() {
            Some((t, tail)) if !t.starts_with('-') => {
                trace = Some(std::path::PathBuf::from(t));
                rest = tail;
            }
            _ => fail(&format!("bench trace: expected a trace file\n\n{USAGE}")),
        }
    }
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--set" => {
                it.next();
            }
            "-h" | "--help" => {}
            other => fail(&format!(
                "bench takes only --set key=value, not '{other}' (it sizes its own runs)\n\n{USAGE}"
            )),
        }
    }
    let (opts, _) = parse_run_args(rest);
    match args.first().map(String::as_str) {
        Some("faults") => {
            let rows =
                faultline::bench::fault_costs(&faultline::bench::FOOTPRINTS_MIB, &opts.knobs)
                    .unwrap_or_else(|e| fail(&e));
            print!("{}", faultline::bench::render(&rows));
        }
        Some("zswap") => {
            let v = faultline::bench::zswap_cost(&opts.knobs).unwrap_or_else(|e| fail(&e));
            print!("{}", faultline::bench::render_zswap(&v));
        }
        Some("trace") => {
            let trace = trace.expect("parsed above");
            let out =
                faultline::bench::trace_speed(&trace, &opts.knobs).unwrap_or_else(|e| fail(&e));
            print!("{out}");
        }
        Some("compressors") => {
            let sets = faultline::compressors::run().unwrap_or_else(|e| fail(&e));
            print!("{}", faultline::compressors::render(&sets));
        }
        _ => fail(&format!(
            "bench: expected 'faults', 'zswap', 'trace' or 'compressors'\n\n{USAGE}"
        )),
    }
}

const LAB_USAGE: &str = "\
usage: faultline lab list
       faultline lab NAME [--scale mini|full] [--reps N] [--jobs J] [--out DIR] [--json]
                          [--timeout SECS] [--swap SIZE] [--policies P1,P2,...]
                          [--files IMAGE] [--trace FILE]...

  Runs experiments/NAME.json: its memory limits x policies, N repetitions
  each (default 3), J QEMU instances at once (default: the number of CPUs),
  and prints seed-shaped tables (medians, min-max). Each run gets the
  experiment's timeout and swap disk for the scale (its \"timeout\" and
  \"swap\" fields; else 300 s and a 1G sparse disk), or --timeout and
  --swap. --policies runs only the named policies (the first one named is
  the one the others are compared with). Runs read the experiment's build
  tree (its \"files\", made once under target/faultline/trees/), or with
  --files an image of your own tree: faultline image DIR IMAGE (files
  ending in .h are headers, the others sources). Writes results.csv,
  results.json and one SVG chart per metric to DIR (default
  lab-results/NAME-SCALE). With --json, prints results.json on stdout.
  A trace experiment (lab traces) replays each trace of its directory, and
  every --trace FILE, as a row, plus \"mix\" (all at once); its memcg.max
  may be a percentage of the row's footprint (see src/lab/traces.rs).
  A run that fails (a memcg OOM, a kernel error, a timeout) is kept: it is
  listed after the tables, has its \"error\" in results.json and results.csv,
  is left out of the medians, and the lab exits with status 1 once every
  other run has finished and been written.";

fn lab(args: &[String]) {
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            println!("{LAB_USAGE}");
            return;
        }
        Some("list") => {
            let all = faultline::lab::list().unwrap_or_else(|e| fail(&e));
            for e in all {
                println!(
                    "{:<12} scales {:<10} {}",
                    e.name,
                    e.scales().join(","),
                    e.description
                );
            }
            return;
        }
        Some(_) => {}
    }
    let mut exp = faultline::lab::Experiment::load(&args[0]).unwrap_or_else(|e| fail(&e));
    let mut scale = "mini".to_string();
    let mut reps = 3usize;
    let mut opts = faultline::lab::LabOptions {
        jobs: std::thread::available_parallelism().map_or(2, |n| n.get()),
        ..Default::default()
    };
    let mut out: Option<std::path::PathBuf> = None;
    let mut json = false;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{name} needs a value\n\n{LAB_USAGE}")))
        };
        let number = |name: &str, v: String| -> usize {
            v.parse()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| fail(&format!("{name} {v}: expected a whole number above 0")))
        };
        match a.as_str() {
            "--scale" => scale = value("--scale"),
            "--reps" => reps = number("--reps", value("--reps")),
            "--jobs" => opts.jobs = number("--jobs", value("--jobs")),
            "--timeout" => {
                let secs = number("--timeout", value("--timeout"));
                opts.timeout = Some(std::time::Duration::from_secs(secs as u64));
            }
            "--swap" => {
                let v = value("--swap");
                let bytes = faultline::parse_size(&v)
                    .filter(|&b| b >= 1 << 20)
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "--swap {v}: expected a size of at least 1M, like 4G"
                        ))
                    });
                opts.swap_bytes = Some(bytes);
            }
            "--out" => out = Some(value("--out").into()),
            "--files" => {
                let image = std::path::PathBuf::from(value("--files"));
                faultline::run::check_files_image(&image).unwrap_or_else(|e| fail(&e));
                opts.files = Some(image);
            }
            "--json" => json = true,
            "--trace" => {
                let t = std::path::PathBuf::from(value("--trace"));
                if exp.traces.is_empty() {
                    fail(&format!(
                        "--trace: experiment {} replays no traces",
                        exp.name
                    ));
                }
                faultline::trace::read_header(&t).unwrap_or_else(|e| fail(&format!("--trace {e}")));
                exp.extra_traces.push(t);
            }
            "--policies" => {
                let names = value("--policies");
                exp.select_policies(&names).unwrap_or_else(|e| fail(&e));
            }
            other => fail(&format!("lab: unknown option '{other}'\n\n{LAB_USAGE}")),
        }
    }
    let specs = faultline::lab::matrix(&exp, &scale, reps).unwrap_or_else(|e| fail(&e));
    eprintln!(
        "lab: {} runs of experiment {} at scale {scale}, {} at a time, {} s per run at most, {} MiB swap",
        specs.len(),
        exp.name,
        opts.jobs,
        opts.timeout.unwrap_or_else(|| exp.run_timeout(&scale)).as_secs(),
        opts.swap_bytes.unwrap_or_else(|| exp.swap_bytes(&scale)) >> 20,
    );
    let runs = faultline::lab::run_matrix(&exp, &scale, &specs, &opts).unwrap_or_else(|e| fail(&e));
    let corrupt: u64 = runs
        .iter()
        .filter(|r| !r.result.is_null())
        .map(|r| r.result["integrity"]["corrupt_pages"].as_u64().unwrap_or(1))
        .sum();
    let failed = runs.iter().filter(|r| r.error.is_some()).count();
    let dir = out.unwrap_or_else(|| {
        faultline::cargo::workspace_root()
            .join("lab-results")
            .join(format!("{}-{scale}", exp.name))
    });
    let files =
        faultline::lab::report::write_all(&dir, &exp, &scale, &runs).unwrap_or_else(|e| fail(&e));
    if json {
        println!("{}", faultline::lab::report::json(&exp, &scale, &runs));
    } else {
        print!("{}", faultline::lab::report::tables(&exp, &runs));
        println!("\ncorrupt pages over all runs: {corrupt}");
    }
    eprintln!(
        "lab: wrote {} files to {}: {}",
        files.len(),
        dir.display(),
        files.join(", ")
    );
    if corrupt != 0 {
        fail("some run reported corrupt pages");
    }
    if failed != 0 {
        eprintln!(
            "faultline: lab: {failed} of {} runs failed (listed above and in results.json); the others are in the tables",
            runs.len()
        );
        exit(1);
    }
}

fn trace(args: &[String]) {
    if args.first().map(String::as_str) != Some("import") {
        fail(&format!("trace: expected 'import'\n\n{USAGE}"));
    }
    let mut opts = faultline::trace::ImportOptions::default();
    let mut paths = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("{flag}: expected a value")))
        };
        match a.as_str() {
            // --max-accesses: the name before version 2.
            "--max-records" | "--max-accesses" => {
                let v = value(a);
                opts.max_records =
                    v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                        fail(&format!("{a} {v}: expected a whole number above 0"))
                    });
            }
            "--gap" => {
                let v = value(a);
                let gap = faultline::parse_size(&v)
                    .filter(|g| *g >= 4096)
                    .unwrap_or_else(|| {
                        fail(&format!(
                            "--gap {v}: expected a size of at least 4K, like 1G"
                        ))
                    });
                opts.gap_bytes = Some(gap);
            }
            "--codec" => match value(a).as_str() {
                "zstd" => opts.codec = faultline::trace::Codec::Zstd,
                "lz4" => opts.codec = faultline::trace::Codec::Lz4,
                v => fail(&format!("--codec {v}: expected zstd or lz4")),
            },
            "--layout" => match value(a).as_str() {
                "kept" => {}
                "dense" => opts.gap_bytes = None,
                v => fail(&format!("--layout {v}: expected kept or dense")),
            },
            _ => paths.push(a.clone()),
        }
    }
    let [input, output] = paths.as_slice() else {
        fail(&format!("trace import: expected an input (lackey log, or - for stdin) and an output file\n\n{USAGE}"));
    };
    let output = std::path::Path::new(output);
    let summary = if input == "-" {
        faultline::trace::import(std::io::stdin().lock(), output, opts)
    } else {
        let f = std::fs::File::open(input).unwrap_or_else(|e| fail(&format!("{input}: {e}")));
        faultline::trace::import(f, output, opts)
    }
    .unwrap_or_else(|e| fail(&format!("{input}: {e}")));
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
}

fn image(args: &[String]) {
    let mut size = None;
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--size" {
            let v = it.next().cloned().unwrap_or_default();
            size = Some(
                faultline::parse_size(&v)
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| {
                        fail(&format!("--size {v}: expected a size such as 64M or 1G"))
                    }),
            );
        } else {
            paths.push(a.clone());
        }
    }
    let [dir, output] = paths.as_slice() else {
        fail(&format!(
            "image: expected a directory and an output file\n\n{USAGE}"
        ));
    };
    let summary = boot::ext2_image::image_from_dir(dir.as_ref(), output.as_ref(), size)
        .unwrap_or_else(|e| fail(&format!("image: {e}")));
    eprintln!("image: {summary}");
}

/// `faultline knobs`: every boot-time knob, from the registry the kernel
/// itself parses with.
/// `faultline fault`: the fault matrix (see `src/fault/matrix.rs`).
fn fault_matrix(args: &[String]) {
    use faultline::fault::matrix;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut only: Option<String> = None;
    let mut timeout = Duration::from_secs(120);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .unwrap_or_else(|| fail(&format!("fault: {name} needs a value\n\n{FAULT_USAGE}")))
        };
        match a.as_str() {
            "--jobs" => {
                let v = value("--jobs");
                jobs = v
                    .parse()
                    .ok()
                    .filter(|j| *j >= 1)
                    .unwrap_or_else(|| fail(&format!("fault: --jobs {v}: expected 1 or more")));
            }
            "--only" => only = Some(value("--only")),
            "--timeout" => {
                let v = value("--timeout");
                let secs: u64 = v.parse().unwrap_or_else(|_| {
                    fail(&format!("fault: --timeout {v}: expected whole seconds"))
                });
                timeout = Duration::from_secs(secs);
            }
            "-h" | "--help" => {
                println!("{FAULT_USAGE}");
                return;
            }
            other => fail(&format!("fault: unknown option '{other}'\n\n{FAULT_USAGE}")),
        }
    }
    let cells: Vec<_> = matrix::cells()
        .into_iter()
        .filter(|c| only.as_ref().is_none_or(|o| c.name().contains(o.as_str())))
        .collect();
    if cells.is_empty() {
        fail("fault: --only matches no cell (see the names in a full run's table)");
    }
    boot::find_qemu().unwrap_or_else(|e| fail(&e));
    let elf = faultline::cargo::build_release_kernel().unwrap_or_else(|e| fail(&e));
    let start = std::time::Instant::now();
    let used = matrix::used_slots(&elf).unwrap_or_else(|e| fail(&e));
    eprintln!(
        "fault: {} cells, {jobs} at a time; the workload uses {used} swap slots",
        cells.len()
    );
    let outcomes = matrix::run(&elf, &cells, used, jobs, timeout, |o| {
        let verdict = if o.failures.is_empty() {
            "pass"
        } else {
            "FAIL"
        };
        eprintln!("fault: {verdict} {}", o.cell.name());
    })
    .unwrap_or_else(|e| fail(&e));
    print!("{}", matrix::render(&outcomes));
    println!("wall time {:.0} s", start.elapsed().as_secs_f64());
    if outcomes.iter().any(|o| !o.failures.is_empty()) {
        exit(1);
    }
}

/// `faultline soak --minutes N`.
fn soak(args: &[String]) {
    let mut minutes = 60;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> u64 {
            let v = it
                .next()
                .unwrap_or_else(|| fail(&format!("soak: {name} needs a value\n\n{SOAK_USAGE}")));
            v.parse().ok().filter(|n| *n >= 1).unwrap_or_else(|| {
                fail(&format!(
                    "soak: {name} {v}: expected a whole number, 1 or more"
                ))
            })
        };
        match a.as_str() {
            "--minutes" => minutes = number("--minutes"),
            "--jobs" => jobs = number("--jobs") as usize,
            "-h" | "--help" => {
                println!("{SOAK_USAGE}");
                return;
            }
            other => fail(&format!("soak: unknown option '{other}'\n\n{SOAK_USAGE}")),
        }
    }
    boot::find_qemu().unwrap_or_else(|e| fail(&e));
    let elf = faultline::cargo::build_release_kernel().unwrap_or_else(|e| fail(&e));
    let start = std::time::Instant::now();
    eprintln!("soak: {minutes} min, {jobs} runs at a time");
    let totals = faultline::soak::soak(&elf, minutes, jobs, |line| eprintln!("soak: {line}"));
    print!("{}", faultline::soak::render(&totals, start.elapsed()));
    if totals.corrupt_pages != 0 || totals.leaked != 0 || !totals.problems.is_empty() {
        exit(1);
    }
}

const SOAK_USAGE: &str = "\
usage: faultline soak [--minutes N] [--jobs J]

  Runs for N minutes (default 60), J runs at a time (default: the number
  of CPUs): thrash (five access patterns) and compile (16 jobs) workloads, under
  seven policies (baseline, readahead off, cluster readahead, zswap, the
  zswap bypass, map-around, zram), a new seed each run. Runs on the disk
  get a write error every 1000th swap write (QEMU blkdebug), every fifth
  a read error every 2000th read instead. Every run is checked as the
  fault matrix checks a cell. Prints the swap-in faults verified, pages
  checked, corrupt pages, leak figures, errors and kills; exits 1 on any
  corruption, leak or unexpected outcome.";

const FAULT_USAGE: &str = "\
usage: faultline fault [--jobs J] [--only TEXT] [--timeout SECS]

  The fault matrix: {read, write} x {once, persistent} x {first, middle,
  last, 1 % of the used slots} plus {every 10th, 100th, 1000th request},
  x {zswap off, on} x {readahead vma, off}: 88 runs of a small thrash
  workload (4 tasks, 24M through an 8M memcg) with QEMU blkdebug under the
  swap disk. Each cell is checked against what Linux does: no corrupt page,
  no leak, read errors kill only tasks that touch a failed page, write
  errors kill nobody and are counted, every-N rules fail 1 in N requests.
  Prints a table; exits 1 if any cell fails. --only runs the cells whose
  name contains TEXT (e.g. 'write every'); --jobs runs J at once (default:
  the number of CPUs); --timeout is per run (default 120).";

fn list_knobs(args: &[String]) {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return;
        }
        fail(&format!("knobs takes no arguments, got '{a}'\n\n{USAGE}"));
    }
    for k in knobs::KNOBS {
        let values = match k.kind {
            knobs::KnobKind::Enum(words) => words.join("|"),
            knobs::KnobKind::Size { min, max } => format!("size {min}..={max} (K, M, G)"),
            knobs::KnobKind::U64 { min, max } => format!("number {min}..={max}"),
            knobs::KnobKind::SizeOrMax { min, max } => {
                format!("size {min}..={max} (K, M, G) or max")
            }
        };
        println!("{}={}\n    {values}\n    {}", k.name, k.default, k.help);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => {}
        Some("bench") => return bench(&args[1..]),
        Some("lab") => return lab(&args[1..]),
        Some("trace") => return trace(&args[1..]),
        Some("image") => return image(&args[1..]),
        Some("knobs") => return list_knobs(&args[1..]),
        Some("fault") => return fault_matrix(&args[1..]),
        Some("soak") => return soak(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return;
        }
        Some(other) => fail(&format!("unknown command '{other}'\n\n{USAGE}")),
        None => fail(&format!("no command given\n\n{USAGE}")),
    }
    let (opts, json) = parse_run_args(&args[1..]);
    let report = run(&opts).unwrap_or_else(|e| fail(&e));
    if let Some(err) = &report.error {
        fail(err);
    }
    let Some(result) = &report.result else {
        let qemu = report.qemu_stderr.trim();
        let qemu = if qemu.is_empty() {
            String::new()
        } else {
            format!("\nQEMU said: {qemu}")
        };
        fail(&format!(
            "the kernel printed no result: {}{qemu}",
            report.outcome.describe()
        ));
    };
    if json {
        println!("{result}");
    } else {
        print!("{}", faultline::result::render_table(result));
    }
    if !report.is_success() {
        let killed = result["integrity"]["killed_tasks"]
            .as_array()
            .map_or(0, Vec::len);
        let status = result["status"].as_str().unwrap_or("?");
        eprintln!(
            "faultline: run failed: status {status}, {killed} task(s) killed; {}",
            report.outcome.describe()
        );
        exit(1);
    }
}
