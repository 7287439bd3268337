//! `faultline course check`: the teacher's check that the labs still work,
//! run in CI (one lab per run, to stay inside the CI budget).
//!
//! For each lab it proves what course staff otherwise find out from
//! students: the solution gets full marks, twice, with identical JSON (the
//! deterministic clock makes even the instruction counts repeat); the
//! student tree builds, boots to its tests and scores 0 on its lab
//! (except the manifest's `student_allow`), reaching `todo!()`s; it
//! passes every earlier lab's tests; every region has its section in the
//! handout and lives in a file the manifest lets students edit. With
//! `--record` the solution's instruction counts become the manifest's
//! `reference_instr` (the basis of the limits).

use std::path::Path;
use std::time::Instant;

use super::grade::{grade, GradeOptions, Verdict};
use super::manifest::{labs_in, Manifest};
use super::regions;
use super::student::{student_text, tracked_files, write_student_tree};

/// Checks one lab; returns what failed (empty: it passed).
pub fn check_lab(
    root: &Path,
    lab: u32,
    record: bool,
    verbose: bool,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let mut manifest = Manifest::load(root, lab)?;
    problems.extend(check_regions(root, &manifest)?);

    let solution = GradeOptions {
        verbose,
        ..GradeOptions::default()
    };
    let first = grade(root, lab, &solution)?;
    let second = grade(root, lab, &solution)?;
    if first.score() != first.max_score() || first.max_score() == 0 {
        problems.push(format!(
            "the solution scores {}/{}:\n{}",
            first.score(),
            first.max_score(),
            first.text()
        ));
    }
    if first.json() != second.json() {
        problems.push(format!(
            "two gradings of the solution differ:\n{}\n{}",
            first.json(),
            second.json()
        ));
    }
    eprintln!(
        "course check lab {lab}: solution {}/{} twice, identical JSON: {}",
        first.score(),
        first.max_score(),
        first.json() == second.json()
    );

    let dir = tempfile::tempdir().map_err(|e| format!("temporary dir: {e}"))?;
    let tree = dir.path().join(format!("lab{lab}"));
    write_student_tree(root, lab, &tree)?;
    let student = GradeOptions {
        teacher: Some(root.to_path_buf()),
        target_dir: Some(crate::cargo::target_dir().join("course")),
        verbose,
        ..GradeOptions::default()
    };
    let g = grade(&tree, lab, &student)?;
    let mut todo = 0;
    for r in &g.results {
        if matches!(r.verdict, Verdict::NotImplemented { .. }) {
            todo += 1;
        }
        if matches!(r.verdict, Verdict::NotRun { .. }) {
            problems.push(format!(
                "student tree: `{}` did not run: {}",
                r.spec.name,
                r.verdict.describe()
            ));
        }
        let allowed = manifest.student_allow.contains(&r.spec.name);
        if r.score() > 0 && !allowed {
            problems.push(format!(
                "student tree: `{}` passes without the student's code (add it to student_allow if that is intended)",
                r.spec.name
            ));
        }
    }
    if todo == 0 {
        problems.push("student tree: no test reached a todo!()".into());
    }
    eprintln!(
        "course check lab {lab}: student tree {}/{}, {todo} of {} tests reach a todo!()",
        g.score(),
        g.max_score(),
        g.results.len()
    );
    for earlier in labs_in(root).into_iter().filter(|&l| l < lab) {
        let e = grade(&tree, earlier, &student)?;
        if e.score() != e.max_score() {
            problems.push(format!(
                "student tree of lab {lab}: lab {earlier} scores {}/{}:\n{}",
                e.score(),
                e.max_score(),
                e.text()
            ));
        }
        eprintln!(
            "course check lab {lab}: student tree passes lab {earlier}: {}/{}",
            e.score(),
            e.max_score()
        );
    }

    if record {
        for t in &mut manifest.tests {
            if let Some(Verdict::Pass { instr }) = first
                .results
                .iter()
                .find(|r| r.spec.name == t.name)
                .map(|r| &r.verdict)
            {
                t.reference_instr = *instr;
            }
        }
        let path = Manifest::path(root, lab);
        let json = serde_json::to_string_pretty(&manifest).expect("json") + "\n";
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "course check lab {lab}: reference instructions written to {}",
            path.display()
        );
    }
    Ok(problems)
}

/// Every lab region is in an editable file, has a handout section, and
/// every lab tree can be cut.
fn check_regions(root: &Path, manifest: &Manifest) -> Result<Vec<String>, String> {
    let lab = manifest.lab;
    let handout_path = root.join(format!("labs/lab{lab}.md"));
    let handout = std::fs::read_to_string(&handout_path)
        .map_err(|e| format!("{}: {e}", handout_path.display()))?;
    let mut problems = Vec::new();
    let mut count = 0;
    for path in tracked_files(root)? {
        if !path.ends_with(".rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else {
            continue;
        };
        let regions = regions::parse(&text).map_err(|e| format!("{path}: {e}"))?;
        // Every lab's tree must be cuttable (stand-ins present).
        student_text(&path, text.as_bytes(), lab)?;
        for r in regions.iter().filter(|r| r.lab == lab) {
            count += 1;
            if !manifest.editable.contains(&path) {
                problems.push(format!(
                    "{path}:{}: region `{}` is not in an editable file of labs/lab{lab}.json",
                    r.begin_line, r.name
                ));
            }
            let heading = handout
                .lines()
                .any(|l| l.starts_with('#') && l.contains(&format!("`{}`", r.name)));
            if !heading {
                problems.push(format!(
                    "labs/lab{lab}.md has no section headed `{}` (the todo!() points there)",
                    r.name
                ));
            }
        }
    }
    if count == 0 {
        problems.push(format!("no `// LAB {lab} BEGIN` region in the tree"));
    }
    Ok(problems)
}

/// `faultline course check [--lab N] [--record]`.
pub fn check(
    root: &Path,
    labs: &[u32],
    record: bool,
    verbose: bool,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for &lab in labs {
        let start = Instant::now();
        let p = check_lab(root, lab, record, verbose)?;
        eprintln!(
            "course check lab {lab}: {} in {:.0} s",
            if p.is_empty() { "passed" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        problems.extend(p.into_iter().map(|p| format!("lab {lab}: {p}")));
    }
    Ok(problems)
}
