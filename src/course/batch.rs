//! `faultline grade labN --batch DIR --csv FILE`: the teacher grades every
//! submission in DIR (one subdirectory each: a student's tree, or just
//! the files they changed).
//!
//! Each submission is graded in a fresh student tree generated from the
//! solution (this tree), with only the manifest's editable files taken
//! from the submission. So the harness, the tests and every other file are
//! the template's whatever the submission holds; files it changed outside
//! the manifest are ignored and listed in the CSV. The hidden tests and a
//! secret seed apply as for one grading.

use std::path::Path;

use super::grade::{grade, Grade, GradeOptions};
use super::manifest::Manifest;
use super::student::{fnv1a, write_student_tree};

/// One submission's outcome.
pub struct BatchRow {
    pub name: String,
    pub grade: Result<Grade, String>,
    /// Files the submission changed outside the manifest (ignored).
    pub ignored: Vec<String>,
}

/// Files of `sub` that exist in `template` but differ, outside `editable`.
fn ignored_changes(sub: &Path, template: &Path, editable: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(files) = super::student::tracked_files(template) else {
        return out;
    };
    for f in files {
        if editable.contains(&f) {
            continue;
        }
        let (Ok(a), Ok(b)) = (
            std::fs::read(sub.join(&f)),
            std::fs::read(template.join(&f)),
        ) else {
            continue;
        };
        if fnv1a(&a) != fnv1a(&b) {
            out.push(f);
        }
    }
    out
}

/// Grades every subdirectory of `dir`, in name order.
pub fn grade_batch(
    root: &Path,
    lab: u32,
    dir: &Path,
    opts: &GradeOptions,
) -> Result<Vec<BatchRow>, String> {
    let manifest = Manifest::load(root, lab)?;
    let mut subs: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    subs.sort_by_key(|e| e.file_name());
    if subs.is_empty() {
        return Err(format!("{} holds no submission directories", dir.display()));
    }
    let mut rows = Vec::new();
    for sub in subs {
        let name = sub.file_name().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().map_err(|e| format!("temporary dir: {e}"))?;
        let tree = tmp.path().join("tree");
        write_student_tree(root, lab, &tree)?;
        let ignored = ignored_changes(&sub.path(), &tree, &manifest.editable);
        for f in &manifest.editable {
            let src = sub.path().join(f);
            if src.is_file() {
                std::fs::copy(&src, tree.join(f)).map_err(|e| format!("{name}: {f}: {e}"))?;
            }
        }
        let mut o = opts.clone();
        o.teacher = Some(o.teacher.clone().unwrap_or_else(|| root.to_path_buf()));
        o.target_dir = Some(
            o.target_dir
                .clone()
                .unwrap_or_else(|| crate::cargo::target_dir().join("course")),
        );
        eprintln!("faultline grade: batch: {name}");
        rows.push(BatchRow {
            name,
            grade: grade(&tree, lab, &o),
            ignored,
        });
    }
    Ok(rows)
}

/// The CSV: `submission,score,max_score,<one column per test>,ignored_changes,error`.
pub fn csv(manifest: &Manifest, rows: &[BatchRow]) -> String {
    let mut s = String::from("submission,score,max_score");
    for t in &manifest.tests {
        s.push(',');
        s.push_str(&t.name);
    }
    s.push_str(",ignored_changes,error\n");
    for r in rows {
        let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
        match &r.grade {
            Ok(g) => {
                s.push_str(&format!(
                    "{},{},{}",
                    quote(&r.name),
                    g.score(),
                    g.max_score()
                ));
                for t in &manifest.tests {
                    let score = g
                        .results
                        .iter()
                        .find(|x| x.spec.name == t.name)
                        .map_or(0, |x| x.score());
                    s.push_str(&format!(",{score}"));
                }
                s.push_str(&format!(",{},\n", quote(&r.ignored.join(" "))));
            }
            Err(e) => {
                s.push_str(&format!("{},0,{}", quote(&r.name), manifest.max_score()));
                for _ in &manifest.tests {
                    s.push_str(",0");
                }
                s.push_str(&format!(",{},{}\n", quote(&r.ignored.join(" ")), quote(e)));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::grade::{TestResult, Verdict};

    #[test]
    fn csv_has_a_column_per_test_and_keeps_failures() {
        let m: Manifest = serde_json::from_str(
            r#"{"lab": 2, "title": "t", "editable": ["a.rs"], "limit_factor": 1, "min_limit_instr": 1,
                "tests": [{"name": "x", "kernel": "lab2", "points": 3, "visibility": "visible", "about": "x"},
                          {"name": "y", "kernel": "lab2", "points": 2, "visibility": "visible", "about": "y"}]}"#,
        )
        .unwrap();
        let g = Grade {
            lab: 2,
            title: "t".into(),
            results: vec![
                TestResult {
                    spec: m.tests[0].clone(),
                    verdict: Verdict::Pass { instr: 1 },
                },
                TestResult {
                    spec: m.tests[1].clone(),
                    verdict: Verdict::NotRun { why: "x".into() },
                },
            ],
            boots: 1,
            unlisted: vec![],
            wall: std::time::Duration::ZERO,
        };
        let rows = [
            BatchRow {
                name: "alice".into(),
                grade: Ok(g),
                ignored: vec!["kernel/tests/lab2.rs".into()],
            },
            BatchRow {
                name: "bob \"b\"".into(),
                grade: Err("does not build".into()),
                ignored: vec![],
            },
        ];
        let text = csv(&m, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "submission,score,max_score,x,y,ignored_changes,error"
        );
        assert_eq!(lines[1], "\"alice\",3,5,3,0,\"kernel/tests/lab2.rs\",");
        assert_eq!(
            lines[2],
            "\"bob \"\"b\"\"\",0,5,0,0,\"\",\"does not build\""
        );
    }
}
