//! The course tooling end to end (labs/README.md): the grader on the
//! solution (full marks, the documented JSON shape), a generated lab-4
//! student tree with one function made to panic and one made to loop
//! (each loses only its own tests), and the refusal of changes outside
//! the manifest. The teacher's `faultline course check` runs in `.ci/run`.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use faultline::course::grade::{grade, GradeOptions, Verdict};
use faultline::course::student::write_student_tree;
use serde_json::Value;

/// One QEMU or build at a time: the tests share 2 cores.
static HEAVY: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn require_qemu() {
    if let Err(e) = boot::find_qemu() {
        panic!("these tests boot QEMU: {e}");
    }
}

/// Checks the documented `--json` shape (labs/README.md), field by field.
fn assert_grade_shape(v: &Value) {
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["lab", "score", "max_score", "tests"], "{v}");
    assert!(v["score"].is_u64() && v["max_score"].is_u64());
    for t in v["tests"].as_array().unwrap() {
        let o = t.as_object().unwrap();
        for k in o.keys() {
            assert!(
                [
                    "name",
                    "score",
                    "max_score",
                    "visibility",
                    "status",
                    "output"
                ]
                .contains(&k.as_str()),
                "unknown key {k} in {t}"
            );
        }
        assert!(t["name"].is_string() && t["output"].is_string(), "{t}");
        assert!(t["score"].as_u64() <= t["max_score"].as_u64(), "{t}");
        let vis = t["visibility"].as_str().unwrap();
        assert!(["visible", "after_due_date"].contains(&vis), "{t}");
        let status = t["status"].as_str().unwrap();
        assert!(["passed", "failed"].contains(&status), "{t}");
    }
}

#[test]
fn the_solution_gets_full_marks_in_the_documented_json() {
    require_qemu();
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["grade", "lab2", "--json"])
        .current_dir(root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_grade_shape(&v);
    assert_eq!(v["lab"], 2);
    assert_eq!(v["score"], v["max_score"]);
    assert_eq!(v["max_score"], 20, "16 public points and 4 hidden");
}

#[test]
fn a_panic_and_an_endless_loop_cost_only_their_own_tests() {
    require_qemu();
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("lab4");
    write_student_tree(root(), 4, &tree).unwrap();
    // The student's work: the solution, with one function that panics and
    // one that never returns.
    let solution = std::fs::read_to_string(root().join("kernel/src/mm/swap_state.rs")).unwrap();
    let cluster = "fn swap_cluster_readahead(st: &mut MmState, target: SwapEntry) -> Result<(), ChargeFailed> {\n";
    let vma = "fn swap_vma_readahead(st: &mut MmState, mm: usize, faddr: u64) -> Result<(), ChargeFailed> {\n";
    assert!(solution.contains(cluster) && solution.contains(vma));
    let broken = solution
        .replace(
            cluster,
            &format!("{cluster}    panic!(\"deliberately broken\");\n"),
        )
        .replace(
            vma,
            &format!("{vma}    loop {{\n        core::hint::spin_loop();\n    }}\n"),
        );
    std::fs::write(tree.join("kernel/src/mm/swap_state.rs"), broken).unwrap();
    let opts = GradeOptions {
        target_dir: Some(root().join("target/course")),
        ..GradeOptions::default()
    };
    let g = grade(&tree, 4, &opts).unwrap();
    let text = g.text();
    for r in &g.results {
        match r.spec.name.as_str() {
            "cluster_readahead_reads_the_aligned_neighbours" => assert!(
                matches!(&r.verdict, Verdict::Panic { message, .. } if message == "deliberately broken"),
                "{text}"
            ),
            "vma_readahead_makes_sequential_faults_minor" => {
                assert!(matches!(r.verdict, Verdict::OverLimit { .. }), "{text}")
            }
            "random_faults_in_both_modes_keep_every_page" => {
                assert_eq!(r.verdict, Verdict::Hidden, "not in a student tree: {text}")
            }
            _ => assert!(r.verdict.passed(), "{text}"),
        }
    }
    assert!(text.ends_with("Score: 12/18\n"), "{text}");
    assert!(g.boots >= 3, "a boot per crash: {text}");

    // A change outside the manifest's files is refused, with the file named.
    let tests = tree.join("kernel/tests/lab4.rs");
    let mut t = std::fs::read_to_string(&tests).unwrap();
    t.push_str("\n// made easier\n");
    std::fs::write(&tests, t).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["grade", "lab4"])
        .current_dir(&tree)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("kernel/tests/lab4.rs"), "{err}");
    assert!(
        err.contains("may change only kernel/src/mm/swap_state.rs"),
        "{err}"
    );
}

#[test]
fn student_trees_leave_out_teacher_material_and_later_solutions() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("lab2");
    write_student_tree(root(), 2, &tree).unwrap();
    assert!(!tree.join("kernel/tests/lab2_hidden.rs").exists());
    assert!(!tree.join("labs/teacher").exists());
    assert!(tree.join("kernel/tests/lab2.rs").exists());
    assert!(tree.join(".git").is_dir(), "a repository of its own");
    let swap = std::fs::read_to_string(tree.join("kernel/src/mm/swap.rs")).unwrap();
    assert!(swap.contains("todo!(\"lab 2: swp_entry_to_pte: see labs/lab2.md#swp_entry_to_pte\")"));
    assert!(!swap.contains("LAB 2"), "markers are gone");
    // Lab 4 comes later: its stand-in, not its solution.
    let ra = std::fs::read_to_string(tree.join("kernel/src/mm/swap_state.rs")).unwrap();
    assert!(!ra.contains("roundup <<= 1"), "lab 4's solution leaked");
    assert!(!ra.contains("todo!("), "lab 4 is not this lab");
    // An existing non-empty directory is never overwritten.
    let e = write_student_tree(root(), 2, &tree).unwrap_err();
    assert!(e.contains("not empty"), "{e}");
}
