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
use super::student::{has_regions, student_text, tracked_files, write_student_tree};

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
        if !has_regions(&path) {
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

/// `faultline course check [--lab N] [--record] [--experiments]`.
pub fn check(
    root: &Path,
    labs: &[u32],
    record: bool,
    experiments: bool,
    verbose: bool,
) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for &lab in labs {
        let start = Instant::now();
        let mut p = check_lab(root, lab, record, verbose)?;
        if experiments {
            p.extend(check_answers(root, lab)?);
        }
        eprintln!(
            "course check lab {lab}: {} in {:.0} s",
            if p.is_empty() { "passed" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        problems.extend(p.into_iter().map(|p| format!("lab {lab}: {p}")));
    }
    Ok(problems)
}

/// One figure a reference answer states (the `check` block of
/// `labs/teacher/answers-labN.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub limit: String,
    pub policy: String,
    pub metric: String,
    pub value: f64,
    pub tolerance_pct: f64,
}

/// Parses the fenced ```check block: `LIMIT POLICY METRIC VALUE TOL%`.
pub fn parse_expected(text: &str) -> Result<Vec<Expected>, String> {
    let Some(start) = text.find("```check\n") else {
        return Err("no ```check block".into());
    };
    let body = &text[start + "```check\n".len()..];
    let body = &body[..body.find("```").ok_or("the ```check block is not closed")?];
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [limit, policy, metric, value, tol] = f.as_slice() else {
            return Err(format!(
                "check line `{line}`: want LIMIT POLICY METRIC VALUE TOLERANCE_PCT"
            ));
        };
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| format!("check line `{line}`: `{s}` is not a number"))
        };
        out.push(Expected {
            limit: limit.to_string(),
            policy: policy.to_string(),
            metric: metric.to_string(),
            value: num(value)?,
            tolerance_pct: num(tol)?,
        });
    }
    Ok(out)
}

/// Runs lab `lab`'s experiment once (one seed) with this faultline and
/// compares the answers' figures; returns the mismatches.
pub fn check_answers(root: &Path, lab: u32) -> Result<Vec<String>, String> {
    let answers = root.join(format!("labs/teacher/answers-lab{lab}.md"));
    let text =
        std::fs::read_to_string(&answers).map_err(|e| format!("{}: {e}", answers.display()))?;
    let expected = parse_expected(&text).map_err(|e| format!("{}: {e}", answers.display()))?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary dir: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let status = std::process::Command::new(exe)
        .current_dir(root)
        .args(["lab", &format!("lab{lab}"), "--reps", "1", "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run faultline lab: {e}"))?;
    if !status.success() {
        return Ok(vec![format!("faultline lab lab{lab} failed ({status})")]);
    }
    // The lab's own results (`lab compare` reads them the same way); a
    // metric is a results.csv column name, i.e. a path into the result.
    let runs = crate::lab::compare::load(dir.path())?;
    let mut problems = Vec::new();
    for e in &expected {
        let run = runs
            .iter()
            .find(|r| r.spec.limit == e.limit && r.spec.policy == e.policy);
        let figure = run.map(|r| e.metric.split('.').fold(&r.result, |v, key| &v[key]));
        let Some(actual) = figure.and_then(serde_json::Value::as_f64) else {
            problems.push(format!(
                "{}: no figure for {} / {} / {}",
                answers.display(),
                e.limit,
                e.policy,
                e.metric
            ));
            continue;
        };
        let allowed = e.value.abs() * e.tolerance_pct / 100.0;
        let ok = (actual - e.value).abs() <= allowed;
        eprintln!(
            "course check lab {lab}: answer {} / {} / {}: expected {} ±{}%, measured {actual}: {}",
            e.limit,
            e.policy,
            e.metric,
            e.value,
            e.tolerance_pct,
            if ok { "ok" } else { "DIFFERS" }
        );
        if !ok {
            problems.push(format!(
                "answers-lab{lab}.md says {} / {} / {} = {} (±{}%), the experiment measured {actual}",
                e.limit, e.policy, e.metric, e.value, e.tolerance_pct
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_blocks_parse_and_refuse_bad_lines() {
        let t = "text\n```check\n# c\n15M write0 vmstat.pswpout 4096 0\n```\n";
        let e = parse_expected(t).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].limit.as_str(), e[0].value), ("15M", 4096.0));
        assert!(parse_expected("```check\na b c\n```")
            .unwrap_err()
            .contains("want LIMIT"));
        assert!(parse_expected("```check\na b c x 1\n```")
            .unwrap_err()
            .contains("`x`"));
        assert!(parse_expected("nothing").is_err());
    }
}
