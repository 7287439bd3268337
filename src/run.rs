//! `faultline run`: build the release kernel, boot it once with the given
//! knobs, and return its result.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::cargo::build_release_kernel;
use crate::result::{find_error, find_partial, find_result};

/// Default swap disk: a sparse file, so its size costs nothing until used.
pub const DEFAULT_SWAP_BYTES: u64 = 1 << 30;

/// Default objects disk: sparse too; a full-scale seed build writes about
/// 0.5 GiB of object files.
pub const DEFAULT_OBJECTS_BYTES: u64 = 1 << 30;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `key=value` knobs, passed to the kernel unchanged (it validates them).
    pub knobs: Vec<String>,
    pub mem_mib: u64,
    /// Size of the swap disk in bytes (0: no swap disk).
    pub swap_bytes: u64,
    /// Attach the swap disk as a transitional virtio device (1af4:1001).
    pub virtio_transitional: bool,
    /// Page traces for `workload=trace`, put on the trace disk
    /// (`src/trace/disk.rs`).
    pub traces: Vec<PathBuf>,
    /// An ext2 image (`faultline image`), attached read-only as the files
    /// disk; the kernel surveys it and reports the `files` section.
    pub files: Option<PathBuf>,
    /// Size of the objects disk, a sparse scratch file attached writable
    /// next to a files disk, where `workload=compile` writes its object
    /// files (0: none; then the jobs keep their output in memory).
    pub objects_bytes: u64,
    pub timeout: Duration,
    pub gdb: bool,
    /// Reproducible run: QEMU `-icount shift=0` (see `boot::QemuConfig`)
    /// and the knob `sched.deterministic=1`.
    pub deterministic: bool,
    /// Run under KVM instead of TCG (never with `deterministic`).
    pub kvm: bool,
    /// Copy the serial log to stderr while the kernel runs.
    pub echo_serial: bool,
    /// A fault injected under the swap disk (`--fault`).
    pub fault: Option<crate::fault::Fault>,
    /// A hand-written `blkdebug` rule file for the swap disk (`--blkdebug`).
    pub blkdebug: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            knobs: Vec::new(),
            mem_mib: 512,
            swap_bytes: DEFAULT_SWAP_BYTES,
            virtio_transitional: false,
            traces: Vec::new(),
            files: None,
            objects_bytes: DEFAULT_OBJECTS_BYTES,
            timeout: Duration::from_secs(300),
            gdb: false,
            deterministic: false,
            kvm: false,
            echo_serial: true,
            fault: None,
            blkdebug: None,
        }
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    pub outcome: boot::Outcome,
    pub serial: String,
    /// QEMU's own complaints, if any.
    pub qemu_stderr: String,
    pub result: Option<Value>,
    pub error: Option<String>,
    /// After an error line: the kind of failure and the counters reached
    /// (`crate::result::find_partial`).
    pub partial: Option<Value>,
    pub wall_time: Duration,
}

impl RunReport {
    /// Success: QEMU exit 33 and a result whose integrity checks passed.
    pub fn is_success(&self) -> bool {
        self.outcome.is_success() && self.result.as_ref().is_some_and(crate::result::is_ok)
    }
}

/// A per-run file name under `target/faultline/`.
fn run_file(stem: &str, ext: &str) -> Result<PathBuf, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = crate::cargo::target_dir().join("faultline");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!("{stem}-{}-{n}.{ext}", std::process::id())))
}

/// Writes the knobs for `-fw_cfg name=opt/faultline/config,file=`.
fn write_config_file(path: &Path, knobs: &[String]) -> Result<(), String> {
    let mut text = String::new();
    for k in knobs {
        text.push_str(k);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Builds (if needed) and boots the release kernel once.
pub fn run(opts: &RunOptions) -> Result<RunReport, String> {
    check_options(opts)?;
    boot::find_qemu()?;
    let elf = build_release_kernel()?;
    run_elf(opts, &elf)
}

/// Rejects what the host can see is wrong before anything is built or
/// created: a knob without `=`, a trace file that does not exist or whose
/// header is wrong.
pub fn check_options(opts: &RunOptions) -> Result<(), String> {
    if let Some(k) = opts.knobs.iter().find(|k| !k.contains('=')) {
        return Err(format!("--set expects key=value, got '{k}'"));
    }
    // The kernel's own parser (the shared `knobs` crate), before anything
    // is built or booted.
    knobs::Config::parse(&opts.knobs.join("\n")).map_err(|e| e.to_string())?;
    if let Some(t) = opts.traces.iter().find(|t| !t.is_file()) {
        return Err(format!("--trace {}: no such file", t.display()));
    }
    if opts.traces.len() > crate::trace::disk::MAX_TRACES {
        return Err(format!(
            "--trace: at most {} traces, found {}",
            crate::trace::disk::MAX_TRACES,
            opts.traces.len()
        ));
    }
    for t in &opts.traces {
        // The header and the tables' size; the kernel checks the rest.
        crate::trace::read_header(t).map_err(|e| format!("--trace {e}"))?;
    }
    if let Some(f) = &opts.files {
        check_files_image(f)?;
    }
    if (opts.fault.is_some() || opts.blkdebug.is_some()) && opts.swap_bytes == 0 {
        return Err("--fault and --blkdebug need a swap disk (not --swap 0)".into());
    }
    if opts.fault.is_some() && opts.blkdebug.is_some() {
        return Err("give --fault or --blkdebug, not both".into());
    }
    if let Some(rules) = &opts.blkdebug {
        if !rules.is_file() {
            return Err(format!("--blkdebug {}: no such file", rules.display()));
        }
        // QEMU's `blkdebug:RULES:IMAGE` cannot quote a colon or comma.
        if rules.to_string_lossy().contains([':', ',']) {
            return Err(format!(
                "--blkdebug {}: QEMU cannot take a path with ':' or ','; copy the file elsewhere",
                rules.display()
            ));
        }
    }
    Ok(())
}

/// A files image must be a file whose size is whole pages (the kernel
/// reads the disk a page at a time); a directory gets the command that
/// makes an image of it.
pub fn check_files_image(f: &Path) -> Result<(), String> {
    if f.is_dir() {
        return Err(format!(
            "--files {}: a directory; make an image of it first: faultline image {} files.img",
            f.display(),
            f.display()
        ));
    }
    let len = std::fs::metadata(f)
        .map_err(|e| format!("--files {}: {e}", f.display()))?
        .len();
    if len == 0 || len % 4096 != 0 {
        return Err(format!(
            "--files {}: {len} bytes, not a whole number of 4 KiB pages (make it with faultline image)",
            f.display()
        ));
    }
    Ok(())
}

/// Boots an already built kernel ELF once (for callers that run many
/// boots in parallel and build once).
pub fn run_elf(opts: &RunOptions, elf: &Path) -> Result<RunReport, String> {
    check_options(opts)?;
    // One boot image per kernel build, shared by every run of it (QEMU
    // opens it with snapshot=on, read-only); one config file per run.
    let image = boot_image(elf)?;
    let config_file = run_file("config", "txt")?;
    let mut knobs = opts.knobs.clone();
    if opts.deterministic && !knobs.iter().any(|k| k.starts_with("sched.deterministic=")) {
        knobs.push("sched.deterministic=1".into());
    }
    write_config_file(&config_file, &knobs)?;
    let swap_disk = if opts.swap_bytes > 0 {
        let disk = run_file("swap", "img")?;
        boot::create_swap_disk(&disk, opts.swap_bytes)?;
        Some(disk)
    } else {
        None
    };
    let objects_disk = if opts.files.is_some() && opts.objects_bytes > 0 {
        let disk = run_file("objects", "img")?;
        boot::create_sparse_disk(&disk, opts.objects_bytes, "objects disk")?;
        Some(disk)
    } else {
        None
    };
    let traces_disk = if opts.traces.is_empty() {
        None
    } else {
        let disk = run_file("traces", "img")?;
        crate::trace::disk::create_trace_disk(&opts.traces, &disk)?;
        Some(disk)
    };
    let mut qemu = boot::QemuConfig::new(&image);
    qemu.mem_mib = opts.mem_mib;
    qemu.timeout = opts.timeout;
    qemu.echo_serial = opts.echo_serial;
    qemu.gdb = opts.gdb;
    qemu.icount = opts.deterministic;
    qemu.kvm = opts.kvm && !opts.deterministic;
    qemu.swap_disk = swap_disk.clone();
    qemu.files_disk = opts.files.clone();
    qemu.objects_disk = objects_disk.clone();
    qemu.virtio_transitional = opts.virtio_transitional;
    qemu.fw_cfg_files
        .push(("opt/faultline/config".into(), config_file.clone()));
    qemu.traces_disk = traces_disk.clone();
    let rules_file = swap_fault(opts, &mut qemu)?;
    if opts.gdb {
        print_gdb_help(elf);
    }
    let out = boot::qemu::run(&qemu);
    let _ = std::fs::remove_file(&config_file);
    for disk in [&swap_disk, &objects_disk, &traces_disk, &rules_file]
        .into_iter()
        .flatten()
    {
        let _ = std::fs::remove_file(disk);
    }
    let out = out?;
    Ok(RunReport {
        // A result line cut short (a panic while it was printed, a kill)
        // is no result: the outcome says what happened.
        result: find_result(&out.serial).unwrap_or(None),
        error: find_error(&out.serial),
        partial: find_partial(&out.serial),
        outcome: out.outcome,
        serial: out.serial,
        qemu_stderr: out.qemu_stderr,
        wall_time: out.wall_time,
    })
}

/// Raise when `boot::create_bios_image` changes what it makes (boot
/// config, strip flags, the bootloader's version): the cached images are
/// named by it, so old ones are not reused.
const BOOT_IMAGE_VERSION: u32 = 1;

/// The BIOS boot image of `elf`, made once per build: under
/// `target/faultline/images/`, named by a hash of the ELF's bytes, written
/// to a temporary name and renamed, so runs at once (a lab's jobs,
/// separate `faultline run`s) never see a half-written image. Making one
/// costs about 0.75 s (strip, then the bootloader's disk image).
fn boot_image(elf: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(elf).map_err(|e| format!("cannot read {}: {e}", elf.display()))?;
    // FNV-1a over the ELF: a new build gets a new image.
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let dir = crate::cargo::target_dir().join("faultline").join("images");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let image = dir.join(format!("kernel-v{BOOT_IMAGE_VERSION}-{hash:016x}.img"));
    if !image.exists() {
        // A unique temporary file in the same directory (also on a target
        // directory shared by several machines), removed if anything fails.
        let tmp = tempfile::Builder::new()
            .prefix("kernel-")
            .suffix(".img.partial")
            .tempfile_in(&dir)
            .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
        boot::create_bios_image(elf, tmp.path())?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
        tmp.persist(&image)
            .map_err(|e| format!("cannot rename to {}: {e}", image.display()))?;
    }
    Ok(image)
}

/// Puts the run's `--fault` or `--blkdebug` under the swap disk; returns
/// the rule file written for `--fault` (removed after the run).
fn swap_fault(opts: &RunOptions, qemu: &mut boot::QemuConfig) -> Result<Option<PathBuf>, String> {
    if let Some(rules) = &opts.blkdebug {
        qemu.swap_fault = boot::SwapFault::Blkdebug(rules.clone());
        return Ok(None);
    }
    let Some(fault) = opts.fault else {
        return Ok(None);
    };
    let Some(rules) = fault.blkdebug_rules() else {
        qemu.swap_fault = boot::SwapFault::Hang {
            size_bytes: opts.swap_bytes,
        };
        return Ok(None);
    };
    let file = run_file("blkdebug", "conf")?;
    std::fs::write(&file, rules).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    qemu.swap_fault = boot::SwapFault::Blkdebug(file.clone());
    Ok(Some(file))
}

/// Kernel image load address (kernel/src/boot.rs `KERNEL_IMAGE_BASE`); the
/// ELF is position independent and linked at 0.
const KERNEL_IMAGE_BASE: &str = "0xffffffff80000000";

fn print_gdb_help(elf: &std::path::Path) {
    eprintln!(
        "QEMU is halted with a gdb stub on localhost:1234. In another terminal run:\n\n    \
         gdb -ex 'symbol-file {} -o {KERNEL_IMAGE_BASE}' -ex 'target remote :1234'\n\n\
         then e.g. `break kernel::mm::memory::handle_mm_fault` and `continue`.",
        elf.display()
    );
}
