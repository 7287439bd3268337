//! A lab's manifest, `labs/labN.json`: the files students may edit, every
//! test with its points and visibility, and the instruction limits.
//! The shape is documented in `labs/README.md`; unknown keys are refused
//! (a misspelt `pionts` must not silently give a test 0 points).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who sees a test's result, in the words course platforms use
/// (Gradescope's `visibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Public: its code is in the student tree.
    Visible,
    /// Teacher-only code (`kernel/tests/labN_hidden.rs`); its name and
    /// points are in the manifest, its result shown after the due date.
    AfterDueDate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// The test function's name in its test kernel.
    pub name: String,
    /// The test kernel (`kernel/tests/<kernel>.rs`) that holds it.
    pub kernel: String,
    pub points: u32,
    pub visibility: Visibility,
    /// What the reference solution used, in the run's clock (guest
    /// instructions under `--deterministic`); `faultline course check
    /// --record` measures it. The limit is `limit_factor` times this, at
    /// least `min_limit_instr`.
    #[serde(default)]
    pub reference_instr: u64,
    /// What this test checks, for the grader's output.
    pub about: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub lab: u32,
    pub title: String,
    /// Files a student may change; the grader refuses changes elsewhere.
    pub editable: Vec<String>,
    pub limit_factor: u64,
    pub min_limit_instr: u64,
    /// Tests that may pass in a fresh student tree (they check something
    /// the stand-ins already do); every other test must score 0 there.
    #[serde(default)]
    pub student_allow: Vec<String>,
    pub tests: Vec<TestSpec>,
}

impl Manifest {
    /// `labs/labN.json` under `root`.
    pub fn path(root: &Path, lab: u32) -> PathBuf {
        root.join("labs").join(format!("lab{lab}.json"))
    }

    /// Loads and checks a manifest; errors name the file and the field.
    pub fn load(root: &Path, lab: u32) -> Result<Manifest, String> {
        let path = Manifest::path(root, lab);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {}: {e} (labs with a manifest: {})",
                path.display(),
                labs_in(root)
                    .iter()
                    .map(|n| format!("lab{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        m.check().map_err(|e| format!("{}: {e}", path.display()))?;
        if m.lab != lab {
            return Err(format!("{}: says lab {}", path.display(), m.lab));
        }
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        if self.tests.is_empty() {
            return Err("no tests".into());
        }
        if self.limit_factor == 0 {
            return Err("limit_factor must be at least 1".into());
        }
        for (i, t) in self.tests.iter().enumerate() {
            if self.tests[..i].iter().any(|u| u.name == t.name) {
                return Err(format!("test `{}` is listed twice", t.name));
            }
            let hidden_kernel = t.kernel.ends_with("_hidden");
            if hidden_kernel != (t.visibility == Visibility::AfterDueDate) {
                return Err(format!(
                    "test `{}`: tests in a `_hidden` kernel are after_due_date, and only they",
                    t.name
                ));
            }
        }
        for name in &self.student_allow {
            if !self.tests.iter().any(|t| &t.name == name) {
                return Err(format!("student_allow names unknown test `{name}`"));
            }
        }
        Ok(())
    }

    pub fn max_score(&self) -> u32 {
        self.tests.iter().map(|t| t.points).sum()
    }

    /// The test kernels, in the order they first appear.
    pub fn kernels(&self) -> Vec<String> {
        let mut k: Vec<String> = Vec::new();
        for t in &self.tests {
            if !k.contains(&t.kernel) {
                k.push(t.kernel.clone());
            }
        }
        k
    }

    /// The instruction limit of a test.
    pub fn limit_of(&self, t: &TestSpec) -> u64 {
        t.reference_instr
            .saturating_mul(self.limit_factor)
            .max(self.min_limit_instr)
    }
}

/// The lab numbers that have a manifest under `root`, in order.
pub fn labs_in(root: &Path) -> Vec<u32> {
    let mut labs: Vec<u32> = std::fs::read_dir(root.join("labs"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("lab")?
                .strip_suffix(".json")?
                .parse()
                .ok()
        })
        .collect();
    labs.sort_unstable();
    labs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str) -> Result<Manifest, String> {
        let text = format!(
            r#"{{"lab": 2, "title": "t", "editable": ["a.rs"], "limit_factor": 10,
               "min_limit_instr": 1000, {extra}
               "tests": [{{"name": "x", "kernel": "lab2", "points": 3,
                          "visibility": "visible", "reference_instr": 500, "about": "x"}},
                         {{"name": "h", "kernel": "lab2_hidden", "points": 2,
                          "visibility": "after_due_date", "about": "h"}}]}}"#
        );
        let m: Manifest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        m.check()?;
        Ok(m)
    }

    #[test]
    fn limits_scores_and_kernels() {
        let m = manifest("").unwrap();
        assert_eq!(m.max_score(), 5);
        assert_eq!(m.kernels(), ["lab2", "lab2_hidden"]);
        assert_eq!(m.limit_of(&m.tests[0]), 5000);
        assert_eq!(m.limit_of(&m.tests[1]), 1000, "no reference yet: the floor");
    }

    #[test]
    fn bad_manifests_are_refused_by_name() {
        let e = manifest(r#""pionts": 1,"#).unwrap_err();
        assert!(e.contains("pionts"), "{e}");
        let e = manifest(r#""student_allow": ["nope"],"#).unwrap_err();
        assert!(e.contains("unknown test `nope`"), "{e}");
    }
}
