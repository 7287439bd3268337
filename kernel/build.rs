//! Builds the user programs (the `user/` crate, for ring 3) and writes
//! `programs.rs`, the table that embeds them (see src/proc/programs.rs).
//!
//! A nested cargo builds them for the same bare-metal target as the
//! kernel, but as ordinary non-PIC executables linked at 0x400000 by
//! user/link.ld, with the small code model (the target's default, the
//! kernel model, only links in the top 2 GiB). It gets its own target
//! directory, so it never waits on the lock of the build that runs us.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .parent()
        .expect("the kernel is in the workspace")
        .to_path_buf();
    let user = root.join("user");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    for p in ["src", "Cargo.toml", "link.ld"] {
        println!("cargo:rerun-if-changed={}", user.join(p).display());
    }
    let target_dir = out.join("user-target");
    let flags = [
        "-Crelocation-model=static".to_string(),
        "-Ccode-model=small".to_string(),
        // Embedded in the kernel image: no debug info (symbols stay).
        "-Cdebuginfo=0".to_string(),
        "-Cstrip=debuginfo".to_string(),
        format!("-Clink-arg=-T{}", user.join("link.ld").display()),
    ]
    .join("\x1f");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            "user",
            "--release",
            "--bins",
        ])
        .args(["--target", "x86_64-unknown-none"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("cannot run cargo to build the user programs");
    assert!(status.success(), "building the user programs failed");
    let bin_dir = target_dir.join("x86_64-unknown-none").join("release");
    let mut names: Vec<String> = fs::read_dir(user.join("src").join("bin"))
        .expect("user/src/bin")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut table = String::from("/// (name, ELF file) of every user program.\n");
    table.push_str("pub static PROGRAMS: &[(&str, &[u8])] = &[\n");
    for name in &names {
        let path = bin_dir.join(name);
        table.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    table.push_str("];\n");
    fs::write(out.join("programs.rs"), table).expect("write programs.rs");
}
