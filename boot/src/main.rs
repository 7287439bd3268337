//! `boot`: the cargo runner for the kernel target.
//!
//! `cargo test -p kernel --target x86_64-unknown-none` (alias `cargo ktest`)
//! and `cargo krun` hand us the path of a kernel ELF; we wrap it into a disk
//! image, boot it, stream its serial output to stdout, and exit 0 only if the
//! kernel reported success (QEMU exit status 33).
//!
//! Environment: `FAULTLINE_TIMEOUT` (seconds, default 120), `FAULTLINE_MEM`
//! (MiB, default 512), `FAULTLINE_SWAP_MIB` (swap disk, default 64; 0 = none).

use std::path::PathBuf;
use std::process::exit;
use std::time::Duration;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("boot: {name}={v} is not a whole number");
            exit(2)
        }),
        Err(_) => default,
    }
}

fn main() {
    let Some(elf) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: boot <kernel-elf> [ignored test-harness args]");
        exit(2);
    };
    let image = elf.with_extension("img");
    if let Err(e) = boot::create_bios_image(&elf, &image) {
        eprintln!("boot: {e}");
        exit(1);
    }
    let mut config = boot::QemuConfig::new(&image);
    config.timeout = Duration::from_secs(env_u64("FAULTLINE_TIMEOUT", 120));
    config.mem_mib = env_u64("FAULTLINE_MEM", 512);
    config.echo_serial = true;
    let swap_mib = env_u64("FAULTLINE_SWAP_MIB", 64);
    if swap_mib > 0 {
        let disk = elf.with_extension("swap.img");
        if let Err(e) = boot::create_swap_disk(&disk, swap_mib << 20) {
            eprintln!("boot: {e}");
            exit(1);
        }
        config.swap_disk = Some(disk);
    }
    // cargo names a test binary `<target>-<hash>`.
    let stem = elf.file_stem().unwrap_or_default().to_string_lossy();
    let name = stem.rsplit_once('-').map_or(&*stem, |(name, _)| name);
    if let Err(e) = boot::ext2_image::attach_test_fixtures(name, &elf, &mut config) {
        eprintln!("boot: {e}");
        exit(1);
    }
    let result = match boot::qemu::run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("boot: {e}");
            exit(1);
        }
    };
    if result.outcome.is_success() {
        return;
    }
    eprintln!("boot: {}: {}", elf.display(), result.outcome.describe());
    exit(1);
}
