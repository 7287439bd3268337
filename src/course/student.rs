//! `faultline course student --lab N --out DIR`: a fresh repository for
//! students, generated from the solution tree (see `regions.rs`).
//!
//! What goes in: every file git tracks, with lab regions cut for lab N,
//! except teacher-only material (`labs/teacher/`, the hidden test kernels
//! `kernel/tests/*_hidden.rs`). A record of what was generated,
//! `.faultline-course.json`, lets the grader refuse changes outside the
//! manifest's editable files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use super::regions;

/// The record a student tree carries.
pub const RECORD_FILE: &str = ".faultline-course.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub lab: u32,
    /// The solution commit it was made from.
    pub generated_from: String,
    /// FNV-1a 64 of every file as generated (a check against accidents,
    /// not against a determined cheat: the teacher regrades with
    /// `--batch`, which puts the submission's editable files into a fresh
    /// tree).
    pub files: BTreeMap<String, String>,
}

/// Is `path` (relative, with `/`) material only the teacher gets?
pub fn is_teacher_only(path: &str) -> bool {
    path.starts_with("labs/teacher/")
        || (path.starts_with("kernel/tests/") && path.ends_with("_hidden.rs"))
}

/// FNV-1a, 64 bits, as hex.
pub fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {} in {}: {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The files git tracks under `root` (relative paths).
pub fn tracked_files(root: &Path) -> Result<Vec<String>, String> {
    let out = git(root, &["ls-files", "-z"])?;
    Ok(out
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// Can `path` hold lab regions? Only the kernel's own sources: the host
/// code (this file's tests, for one) holds marker-like text that is not a
/// region.
pub fn has_regions(path: &str) -> bool {
    path.starts_with("kernel/src/") && path.ends_with(".rs")
}

/// The text of `path` as lab `lab`'s student tree has it (`None`: the
/// file is not cut, copy its bytes).
pub fn student_text(path: &str, bytes: &[u8], lab: u32) -> Result<Option<String>, String> {
    if !has_regions(path) {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    if !text.contains("// LAB ") {
        return Ok(None);
    }
    regions::cut(text, lab)
        .map(Some)
        .map_err(|e| format!("{path}: {e}"))
}

/// Writes lab `lab`'s student tree of the solution at `root` into `out`
/// (which must not exist or be empty) and commits it. Returns the number
/// of files written.
pub fn write_student_tree(root: &Path, lab: u32, out: &Path) -> Result<usize, String> {
    Manifest::load(root, lab)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| format!("{}: {e}", out.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty: give a new or empty directory (nothing is overwritten)",
            out.display()
        ));
    }
    let commit = String::from_utf8_lossy(&git(root, &["rev-parse", "HEAD"])?)
        .trim()
        .to_string();
    let mut files = BTreeMap::new();
    for path in tracked_files(root)? {
        if is_teacher_only(&path) {
            continue;
        }
        let src = root.join(&path);
        // A file deleted in the work tree but still tracked: skip it.
        let Ok(bytes) = std::fs::read(&src) else {
            continue;
        };
        let bytes = match student_text(&path, &bytes, lab)? {
            Some(text) => text.into_bytes(),
            None => bytes,
        };
        let dst = out.join(&path);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&dst, &bytes).map_err(|e| format!("{}: {e}", dst.display()))?;
        let mode = std::fs::metadata(&src)
            .map_err(|e| format!("{}: {e}", src.display()))?
            .permissions();
        std::fs::set_permissions(&dst, mode).map_err(|e| format!("{}: {e}", dst.display()))?;
        files.insert(path, fnv1a(&bytes));
    }
    let n = files.len();
    let record = Record {
        lab,
        generated_from: commit.clone(),
        files,
    };
    let json = serde_json::to_string_pretty(&record).expect("a record serialises");
    std::fs::write(out.join(RECORD_FILE), json + "\n")
        .map_err(|e| format!("{}: {e}", out.display()))?;
    git(out, &["init", "--quiet", "-b", "main"])?;
    git(out, &["add", "-A"])?;
    let message = format!("faultline lab {lab}: student tree, generated from {commit}");
    git(
        out,
        &[
            "-c",
            "user.name=faultline course",
            "-c",
            "user.email=course@faultline.invalid",
            "commit",
            "--quiet",
            "-m",
            &message,
        ],
    )?;
    Ok(n)
}

/// The files of a student tree changed outside `editable` since it was
/// generated (changed or deleted), per its record. `Ok(None)`: `root` is
/// not a student tree.
pub fn changes_outside(root: &Path, editable: &[String]) -> Result<Option<Vec<String>>, String> {
    let path = root.join(RECORD_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let record: Record =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let changed = record
        .files
        .iter()
        .filter(|(p, _)| !editable.contains(p))
        .filter(|(p, hash)| {
            std::fs::read(root.join(p))
                .map(|b| &fnv1a(&b) != *hash)
                .unwrap_or(true)
        })
        .map(|(p, _)| p.clone())
        .collect();
    Ok(Some(changed))
}

/// The directory above `start` (or itself) that holds `labs/` and a
/// `Cargo.toml`: the tree to grade or cut.
pub fn find_tree(start: &Path) -> Result<PathBuf, String> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        if d.join("labs").is_dir() && d.join("Cargo.toml").is_file() {
            return Ok(d.to_path_buf());
        }
        dir = d.parent();
    }
    Err(format!(
        "{} is not inside a faultline tree (no labs/ and Cargo.toml above it)",
        start.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teacher_material_is_recognised() {
        assert!(is_teacher_only("labs/teacher/answers-lab2.md"));
        assert!(is_teacher_only("kernel/tests/lab2_hidden.rs"));
        assert!(!is_teacher_only("kernel/tests/lab2.rs"));
        assert!(!is_teacher_only("labs/lab2.md"));
    }

    #[test]
    fn only_marked_rust_files_are_cut() {
        let marked = b"// LAB 2 BEGIN x\n1\n// LAB 2 END x\n";
        assert_eq!(student_text("kernel/src/a.md", marked, 2).unwrap(), None);
        assert_eq!(
            student_text("src/course/a.rs", marked, 2).unwrap(),
            None,
            "host code"
        );
        assert_eq!(
            student_text("kernel/src/a.rs", b"fn x() {}", 2).unwrap(),
            None
        );
        let t = student_text("kernel/src/a.rs", marked, 2).unwrap().unwrap();
        assert!(t.contains("todo!(\"lab 2: x"), "{t}");
        let e = student_text("kernel/src/a.rs", b"// LAB 2 BEGIN x\n", 2).unwrap_err();
        assert!(e.starts_with("kernel/src/a.rs: line 1"), "{e}");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), "cbf29ce484222325");
        assert_eq!(fnv1a(b"a"), "af63dc4c8601ec8c");
    }
}
