//! Lists the user programs (`user/src/bin/NAME.rs`) for the `user.program`
//! knob, so the host refuses an unknown program before it boots.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let bin = manifest.join("..").join("user").join("src").join("bin");
    println!("cargo:rerun-if-changed={}", bin.display());
    let mut names: Vec<String> = fs::read_dir(&bin)
        .map(|dir| {
            dir.filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".rs").map(str::to_string)
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    let list: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    fs::write(
        out.join("user_programs.rs"),
        format!(
            "/// The user programs (`user/src/bin/`), in name order.\npub const USER_PROGRAMS: &[&str] = &[{}];\n",
            list.join(", ")
        ),
    )
    .expect("write user_programs.rs");
}
