//! Nested cargo invocations that build kernels for `x86_64-unknown-none`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The kernel's target triple.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The workspace root (where `Cargo.toml` and `rust-toolchain.toml` are).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> Command {
    // Inside `cargo run`/`cargo test`, CARGO names the cargo that runs us.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root());
    cmd
}

/// Builds the release kernel (a no-op when it is up to date) and returns
/// the path of its ELF.
pub fn build_release_kernel() -> Result<PathBuf, String> {
    let status = cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "kernel",
            "--release",
            "--target",
            KERNEL_TARGET,
        ])
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the kernel failed (see the cargo output above)".into());
    }
    Ok(target_dir()
        .join(KERNEL_TARGET)
        .join("release")
        .join("kernel"))
}

/// `target/` of the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A test kernel binary produced by `cargo test -p kernel --no-run`.
#[derive(Debug, Clone)]
pub struct TestKernel {
    /// `kernel` for the lib's unit tests, else the `kernel/tests/` file stem.
    pub name: String,
    pub path: PathBuf,
}

impl TestKernel {
    /// `must_fail*` kernels prove that a failing test fails the run.
    pub fn expects_failure(&self) -> bool {
        self.name.starts_with("must_fail")
    }
}

/// Builds every kernel test binary (lib unit tests and `kernel/tests/*.rs`).
pub fn build_test_kernels() -> Result<Vec<TestKernel>, String> {
    let out = cargo()
        .args([
            "test",
            "-p",
            "kernel",
            "--target",
            KERNEL_TARGET,
            "--no-run",
        ])
        .args(["--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err("building the kernel tests failed (see the cargo output above)".into());
    }
    let mut kernels = test_kernels_built(&out.stdout);
    kernels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(kernels)
}

/// The test binaries in cargo's `--message-format=json` output.
pub fn test_kernels_built(cargo_stdout: &[u8]) -> Vec<TestKernel> {
    let mut kernels = Vec::new();
    for line in String::from_utf8_lossy(cargo_stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test = msg["profile"]["test"].as_bool() == Some(true);
        let (Some(exe), Some(name)) = (msg["executable"].as_str(), msg["target"]["name"].as_str())
        else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && is_test {
            kernels.push(TestKernel {
                name: name.to_string(),
                path: Path::new(exe).to_path_buf(),
            });
        }
    }
    kernels
}
