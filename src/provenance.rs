//! Where a result came from: the commit and whether the tree was dirty,
//! QEMU's version, the toolchain, and the result schema's version. Every
//! `run --json` result and every lab run carries it, so a figure in a doc
//! or a mail can be traced to the build that made it without anyone
//! writing the commit down by hand.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The version of the result layout (`run --json`, a lab's results.jsonl
/// and results.json). Raise it when a field changes meaning or moves.
/// 3: a run the kernel ended early has its partial result (`status` the
/// kind of failure, `elapsed_cycles`, `vmstat`) where 2 had `null`.
pub const SCHEMA_VERSION: u32 = 3;

/// The first line a command prints, or `None` when it cannot run.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(crate::cargo::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("").trim().to_string())
}

/// Collected once per process (a lab's runs share it).
pub fn get() -> &'static Value {
    static CELL: OnceLock<Value> = OnceLock::new();
    CELL.get_or_init(|| {
        let commit = first_line("git", &["rev-parse", "HEAD"]);
        // Untracked files count as dirty too: they may be sources.
        let dirty = Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(crate::cargo::workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| !o.stdout.is_empty());
        json!({
            "schema_version": SCHEMA_VERSION,
            "commit": commit,
            "dirty": dirty,
            "qemu": first_line(boot::qemu::QEMU, &["--version"]),
            "rustc": first_line("rustc", &["--version"]),
            "faultline": env!("CARGO_PKG_VERSION"),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn provenance_names_the_commit_and_schema() {
        let p = super::get();
        assert_eq!(p["schema_version"], super::SCHEMA_VERSION);
        // In a git checkout (with git installed) the commit and the dirty
        // flag are known; in an exported tree they are null, never wrong.
        let in_git = std::process::Command::new("git")
            .args(["rev-parse", "--is-inside-work-tree"])
            .current_dir(crate::cargo::workspace_root())
            .output()
            .is_ok_and(|o| o.status.success());
        if in_git {
            let commit = p["commit"].as_str().expect("a commit");
            assert_eq!(commit.len(), 40, "{commit}");
            assert!(p["dirty"].is_boolean());
        } else {
            assert!(p["commit"].is_null() && p["dirty"].is_null(), "{p}");
        }
        assert!(p["qemu"].is_string() || p["qemu"].is_null());
    }
}
