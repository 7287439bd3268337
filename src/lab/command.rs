//! `faultline lab ...`: the command, from clap's arguments to the files
//! it writes and its exit status (see `src/exit.rs`).

use std::path::Path;

use crate::cli::{LabArgs, LabCommand};
use serde_json::Value;

use super::{journal, plan, report, Experiment, LabOptions, RunResult};
use crate::exit::{environment, failed, usage, Fail};

pub fn lab(a: LabArgs) -> Result<(), Fail> {
    match a.command {
        Some(LabCommand::List) => return list(),
        Some(LabCommand::Compare { a: da, b: db }) => return compare(&da, &db),
        None => {}
    }
    let Some(name) = a.name.clone() else {
        return Err(usage(
            "lab: name an experiment (faultline lab list shows them), or use lab list / lab compare",
        ));
    };
    let mut exp = Experiment::load(&name).map_err(usage)?;
    exp.overrides = a.knobs.knobs.clone();
    if let Some(p) = &a.policies {
        exp.select_policies(p).map_err(usage)?;
    }
    for t in &a.trace {
        if exp.traces.is_empty() {
            return Err(usage(format!(
                "--trace: experiment {} replays no traces",
                exp.name
            )));
        }
        crate::trace::read_header(t).map_err(|e| usage(format!("--trace {e}")))?;
        exp.extra_traces.push(t.clone());
    }
    if let Some(f) = &a.files {
        crate::run::check_files_image(f).map_err(usage)?;
    }
    let scale = a.scale.clone();
    let specs = super::matrix(&exp, &scale, a.reps).map_err(usage)?;
    let dir = a
        .out
        .clone()
        .or_else(|| a.resume.clone())
        .unwrap_or_else(|| {
            crate::cargo::workspace_root()
                .join("lab-results")
                .join(format!("{}-{scale}", exp.name))
        });
    let timeout = a
        .timeout
        .map(|s| std::time::Duration::from_secs(s as u64))
        .unwrap_or_else(|| exp.run_timeout(&scale));
    let swap_bytes = a.swap.unwrap_or_else(|| exp.swap_bytes(&scale));
    // Every run's knobs, checked before anything is locked, moved or
    // planned: a bad knob in an experiment of your own is an input error.
    super::check_knobs(&specs).map_err(usage)?;
    let mem_mib = exp.mem_mib(&scale).map_err(usage)?;
    if let Some(plan_file) = &a.plan {
        let settings = plan::PlanSettings {
            mem_mib,
            swap_bytes,
            timeout,
            files: exp
                .files_image(&scale, a.files.as_ref())
                .map_err(environment)?,
        };
        return write_plan(&exp, &scale, &specs, &settings, &dir, plan_file);
    }
    let mut _lock = None;
    let runs = if let Some(from) = &a.collect {
        let (name, s, runs) = plan::collect(from, &dir.join("timelines")).map_err(usage)?;
        if name != exp.name || s != scale {
            return Err(usage(format!(
                "--collect {}: a plan of {name} at scale {s}, not {} at {scale}",
                from.display(),
                exp.name
            )));
        }
        runs
    } else {
        // Held until the tables and files are written.
        _lock = Some(lock_dir(&dir)?);
        // Resolved once: the runs use this image, and the journal's
        // machine names it.
        let files = exp
            .files_image(&scale, a.files.as_ref())
            .map_err(environment)?;
        let machine = super::machine_json(mem_mib, swap_bytes, files.as_deref());
        let mut opts = LabOptions {
            jobs: a.jobs.unwrap_or_else(crate::cli::cpus),
            timeout: Some(timeout),
            swap_bytes: Some(swap_bytes),
            files,
            journal: Some(dir.join("results.jsonl")),
            done: Vec::new(),
        };
        start_journal(&dir, a.resume.as_deref(), &specs, &machine, &mut opts)?;
        eprintln!(
            "lab: {} runs of experiment {} at scale {scale}, {} at a time, {} s per run at most, {} MiB swap; results.jsonl in {}",
            specs.len(),
            exp.name,
            opts.jobs,
            timeout.as_secs(),
            swap_bytes >> 20,
            dir.display()
        );
        boot::find_qemu().map_err(environment)?;
        super::run_matrix(&exp, &scale, &specs, &opts).map_err(environment)?
    };
    finish(&exp, &scale, &runs, &dir, a.json)
}

/// Takes `DIR/.lab.lock` for as long as the lab runs, so that two labs
/// never append to one results.jsonl (the lock goes with the process).
fn lock_dir(dir: &Path) -> Result<std::fs::File, Fail> {
    std::fs::create_dir_all(dir)
        .map_err(|e| environment(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(".lab.lock");
    let file = std::fs::File::create(&path)
        .map_err(|e| environment(format!("cannot create {}: {e}", path.display())))?;
    file.try_lock().map_err(|_| {
        environment(format!(
            "another faultline lab is writing {} (it holds {}); wait for it or use another --out",
            dir.display(),
            path.display()
        ))
    })?;
    Ok(file)
}

/// Opens the run journal. A new lab starts it afresh: the previous
/// results.jsonl and results.json are kept as `.old`, so that nothing
/// (`lab compare` on an interrupted lab) mistakes them for this lab's.
/// `--resume FROM` reads FROM's journal and keeps the runs that match one
/// of this lab's (cell, repetition and knobs) and ended in a result; runs
/// that timed out in wall time or crashed run again. Runs of another
/// commit are refused: their figures would be another build's; so are
/// runs of another machine (guest RAM, swap disk, files image). The kept
/// runs are written into `dir`'s journal (FROM unless `--out` says
/// otherwise), whole lines only.
fn start_journal(
    dir: &Path,
    resume: Option<&Path>,
    specs: &[super::RunSpec],
    machine: &Value,
    opts: &mut LabOptions,
) -> Result<(), Fail> {
    let path = dir.join("results.jsonl");
    let Some(from) = resume else {
        for name in ["results.jsonl", "results.json"] {
            let p = dir.join(name);
            if p.exists() {
                let old = dir.join(format!("{name}.old"));
                std::fs::rename(&p, &old)
                    .map_err(|e| environment(format!("cannot move {}: {e}", p.display())))?;
            }
        }
        return Ok(());
    };
    let from_journal = from.join("results.jsonl");
    if !from_journal.is_file() {
        return Err(usage(format!(
            "--resume {}: no results.jsonl there (the --out directory of the lab to resume)",
            from.display()
        )));
    }
    let done = journal::read(&from_journal).map_err(usage)?;
    let here = crate::provenance::get()["commit"].clone();
    if let Some(r) = done
        .iter()
        .find(|r| !r.provenance.is_null() && r.provenance["commit"] != here)
    {
        return Err(usage(format!(
            "--resume {}: its runs come from commit {}, this is {}: their figures would be another build's; run the lab afresh (or check that commit out)",
            from.display(),
            r.provenance["commit"],
            here
        )));
    }
    if let Some(r) = done
        .iter()
        .find(|r| !r.machine.is_null() && r.machine != *machine)
    {
        return Err(usage(format!(
            "--resume {}: its runs booted another machine ({}), this lab boots {machine}: their figures would not compare; give the same --swap and --files, or run the lab afresh",
            from.display(),
            r.machine
        )));
    }
    opts.done = done
        .into_iter()
        .filter(|r| !matches!(r.status.as_str(), "timeout" | "crash"))
        .filter(|r| specs.iter().any(|s| journal::same_run(&r.spec, s)))
        .collect();
    let mut text = String::new();
    for r in &opts.done {
        text += &journal::to_json(r).to_string();
        text.push('\n');
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| environment(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(&path, text)
        .map_err(|e| environment(format!("cannot write {}: {e}", path.display())))
}

fn write_plan(
    exp: &Experiment,
    scale: &str,
    specs: &[super::RunSpec],
    settings: &plan::PlanSettings,
    dir: &Path,
    plan_file: &Path,
) -> Result<(), Fail> {
    let dir = std::path::absolute(dir).map_err(|e| environment(e.to_string()))?;
    plan::write(exp, scale, specs, settings, &dir, plan_file).map_err(environment)?;
    eprintln!(
        "lab: wrote {} commands to {} (results go to {}/runs); run them, e.g.\n    \
         parallel --jobs 2 < {}\nthen: faultline lab {} --scale {scale} --collect {} --out DIR",
        specs.len(),
        plan_file.display(),
        dir.display(),
        plan_file.display(),
        exp.name,
        dir.display()
    );
    Ok(())
}

/// Writes the tables and files, prints the tables, and turns failed runs
/// into the exit status.
fn finish(
    exp: &Experiment,
    scale: &str,
    runs: &[RunResult],
    dir: &Path,
    json: bool,
) -> Result<(), Fail> {
    let corrupt: u64 = runs
        .iter()
        // Finished runs only: a failed run's partial result has no
        // integrity section.
        .filter(|r| !r.result["integrity"].is_null())
        .map(|r| r.result["integrity"]["corrupt_pages"].as_u64().unwrap_or(1))
        .sum();
    let nr_failed = runs.iter().filter(|r| r.error.is_some()).count();
    let files = report::write_all(dir, exp, scale, runs).map_err(environment)?;
    if json {
        println!("{}", report::json(exp, scale, runs));
    } else {
        print!("{}", report::tables(exp, runs));
        println!("\ncorrupt pages over all runs: {corrupt}");
    }
    eprintln!(
        "lab: wrote {} files to {}: {}",
        files.len(),
        dir.display(),
        files.join(", ")
    );
    if corrupt != 0 {
        return Err(failed("lab: some run reported corrupt pages"));
    }
    if nr_failed != 0 {
        return Err(failed(format!(
            "lab: {nr_failed} of {} runs failed (listed above and in results.json); the others are in the tables",
            runs.len()
        )));
    }
    Ok(())
}

fn list() -> Result<(), Fail> {
    for e in super::list().map_err(usage)? {
        println!(
            "{:<12} scales {:<10} {}",
            e.name,
            e.scales().join(","),
            e.description
        );
    }
    Ok(())
}

fn compare(a: &Path, b: &Path) -> Result<(), Fail> {
    let ra = super::compare::load(a).map_err(usage)?;
    let rb = super::compare::load(b).map_err(usage)?;
    print!(
        "{}",
        super::compare::render(&a.display().to_string(), &ra, &b.display().to_string(), &rb)
    );
    Ok(())
}
