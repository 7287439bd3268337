//! The OS-course side of faultline: labs cut from the solution's own mm
//! code, student trees generated from it, a grader, and the teacher's
//! check (see `labs/README.md`).
//!
//! - `regions.rs`: the `// LAB N BEGIN/STANDIN:/END` markers and cutting;
//! - `manifest.rs`: `labs/labN.json` (editable files, tests, points, limits);
//! - `student.rs`: `faultline course student`;
//! - `grade.rs`: `faultline grade`;
//! - `batch.rs`: `faultline grade --batch` (a teacher's whole class);
//! - `check.rs`: `faultline course check`.

pub mod batch;
pub mod check;
pub mod grade;
pub mod manifest;
pub mod regions;
pub mod student;

use std::path::{Path, PathBuf};

use crate::exit::{environment, failed, usage, Fail};

/// `labN` or `N` → N.
pub fn parse_lab(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("lab").unwrap_or(text);
    digits
        .parse()
        .map_err(|_| format!("`{text}` is not a lab (write lab2 or 2)"))
}

/// The tree around the current directory.
pub fn current_tree() -> Result<PathBuf, Fail> {
    let cwd = std::env::current_dir().map_err(|e| environment(format!("current dir: {e}")))?;
    student::find_tree(&cwd).map_err(usage)
}

/// `faultline course student --lab N --out DIR`.
pub fn student_command(lab: u32, out: &Path) -> Result<(), Fail> {
    let root = current_tree()?;
    let n = student::write_student_tree(&root, lab, out).map_err(|e| {
        if e.contains("not empty") || e.contains("cannot read") || e.contains("line ") {
            usage(e)
        } else {
            environment(e)
        }
    })?;
    println!(
        "faultline course: lab {lab} student tree in {} ({n} files, one commit). Next:\n  cd {} && faultline grade lab{lab}\n  (the handout: labs/lab{lab}.md)",
        out.display(),
        out.display()
    );
    Ok(())
}

/// `faultline grade labN --batch DIR --csv FILE`: every submission in
/// DIR graded in a fresh tree from this one; the CSV written to FILE.
pub fn batch_command(
    lab: u32,
    dir: &Path,
    csv_path: &Path,
    opts: &grade::GradeOptions,
) -> Result<(), Fail> {
    let root = current_tree()?;
    let manifest = manifest::Manifest::load(&root, lab).map_err(usage)?;
    let rows = batch::grade_batch(&root, lab, dir, opts).map_err(usage)?;
    std::fs::write(csv_path, batch::csv(&manifest, &rows))
        .map_err(|e| environment(format!("{}: {e}", csv_path.display())))?;
    for r in &rows {
        match &r.grade {
            Ok(g) => println!("{}: {}/{}", r.name, g.score(), g.max_score()),
            Err(e) => println!("{}: not graded: {e}", r.name),
        }
    }
    println!(
        "faultline grade: {} submissions, CSV in {}",
        rows.len(),
        csv_path.display()
    );
    Ok(())
}

/// `faultline grade labN`: exit 0 with full marks, 1 with fewer, 2 when
/// the tree was changed outside the manifest's files.
pub fn grade_command(lab: u32, json: bool, opts: &grade::GradeOptions) -> Result<(), Fail> {
    let root = current_tree()?;
    let manifest = manifest::Manifest::load(&root, lab).map_err(usage)?;
    if let Some(changed) = student::changes_outside(&root, &manifest.editable).map_err(usage)? {
        if !changed.is_empty() {
            return Err(usage(format!(
                "lab {lab} may change only {}; these were changed too: {} (undo with `git checkout -- FILE`)",
                manifest.editable.join(", "),
                changed.join(", ")
            )));
        }
    }
    if !json {
        eprintln!(
            "faultline grade: building and booting lab {lab}'s tests in {} (deterministic clock)...",
            root.display()
        );
    }
    let g = grade::grade(&root, lab, opts).map_err(environment)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&g.json()).expect("json"));
    } else {
        print!("{}", g.text());
        eprintln!(
            "faultline grade: {} boots in {:.0} s",
            g.boots,
            g.wall.as_secs_f64()
        );
    }
    if g.score() < g.max_score() {
        return Err(failed(format!(
            "lab {lab}: {}/{} points",
            g.score(),
            g.max_score()
        )));
    }
    Ok(())
}
