//! Booting a disk image in QEMU, with a timeout and an honest verdict.
//!
//! The kernel ends every run by writing to QEMU's isa-debug-exit port, which
//! makes QEMU exit with `(value << 1) | 1`: 33 for success, 35 for failure.
//! Exit status 0 is *not* a pass: a guest triple fault under `-no-reboot`
//! also exits 0, so only 33 counts as success.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{EXIT_FAILURE_CODE, EXIT_SUCCESS_CODE};

/// The QEMU binary we boot with.
pub const QEMU: &str = "qemu-system-x86_64";

/// How a QEMU run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel reported success (exit status 33).
    Success,
    /// The kernel reported failure (exit status 35).
    Failure,
    /// Exit status 0: QEMU stopped on a guest triple fault (`-no-reboot`).
    TripleFault,
    /// The run did not finish within the timeout and QEMU was killed.
    Timeout(Duration),
    /// Any other exit status (1 is a bad QEMU option).
    OtherExit(i32),
    /// QEMU was killed by a signal.
    Signal,
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        *self == Outcome::Success
    }

    /// A one-line explanation for a user.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Success => "the kernel reported success (exit 33)".into(),
            Outcome::Failure => "the kernel reported failure (exit 35)".into(),
            Outcome::TripleFault => {
                "QEMU exited 0: the guest triple-faulted (0 is never a pass)".into()
            }
            Outcome::Timeout(t) => format!("timed out after {} s; QEMU was killed", t.as_secs()),
            Outcome::OtherExit(1) => {
                "QEMU exited 1 (bad option or cannot start; see its stderr)".into()
            }
            Outcome::OtherExit(c) => format!("QEMU exited with unexpected status {c}"),
            Outcome::Signal => "QEMU was killed by a signal".into(),
        }
    }
}

/// What a QEMU run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub outcome: Outcome,
    /// Everything the guest wrote to COM1.
    pub serial: String,
    /// What QEMU itself wrote to stderr (option errors, lock failures).
    pub qemu_stderr: String,
    pub wall_time: Duration,
}

/// One QEMU invocation.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    pub image: PathBuf,
    pub mem_mib: u64,
    pub timeout: Duration,
    /// `opt/...` fw_cfg files: (name, host file).
    pub fw_cfg_files: Vec<(String, PathBuf)>,
    /// Start halted with a gdb stub on tcp::1234.
    pub gdb: bool,
    /// Copy serial output to our stderr as it arrives.
    pub echo_serial: bool,
    /// The swap disk, attached as a virtio-blk PCI device.
    pub swap_disk: Option<PathBuf>,
    /// A disk of files (an ext2 image), attached read-only after the swap
    /// disk with the serial the kernel looks for (`FILES_SERIAL` in
    /// `kernel/src/drivers/virtio/blk.rs`): it is never written and never
    /// taken for swap.
    pub files_disk: Option<PathBuf>,
    /// A writable scratch disk for the files the workload creates (object
    /// files), attached after the files disk with the serial
    /// `OBJECTS_SERIAL` (same file): never taken for swap.
    pub objects_disk: Option<PathBuf>,
    /// The trace disk (`faultline run --trace`), attached read-only with the
    /// serial `TRACES_SERIAL`: never taken for swap.
    pub traces_disk: Option<PathBuf>,
    /// Attach the swap disk as a transitional virtio device (1af4:1001)
    /// instead of a modern-only one (1af4:1042, `disable-legacy=on`).
    pub virtio_transitional: bool,
    /// Deterministic clock (`-icount shift=0`): the TSC counts guest
    /// instructions, one per nanosecond, so host load does not change
    /// measured times.
    pub icount: bool,
    /// Hardware virtualisation (`-accel kvm -cpu host`) instead of TCG.
    /// Not with `icount` (QEMU's icount needs TCG).
    pub kvm: bool,
    /// A fault injected under the swap disk (`faultline run --fault`).
    pub swap_fault: SwapFault,
    /// A file that receives what the guest writes to the debug console
    /// (`isa-debugcon` at port 0xe9): the lab-test protocol
    /// (`kernel/src/testing/lab.rs`), kept apart from COM1 so that no
    /// print of the code under test can break or fake a verdict.
    pub protocol_file: Option<PathBuf>,
    /// Extra raw QEMU arguments.
    pub extra_args: Vec<String>,
}

/// How the swap disk misbehaves (see ../shared reference
/// `qemu-fault-injection.md` for the facts these settings rest on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SwapFault {
    /// A plain raw file.
    #[default]
    None,
    /// QEMU's `blkdebug` driver between the device and the file, with this
    /// rule file. The device then gets an explicit geometry (else QEMU's
    /// startup probe of sector 0 consumes a "first read" rule) and
    /// `request-merging=off` (else one bad sector fails a merged batch).
    Blkdebug(PathBuf),
    /// A `null-co` device of this many bytes whose every request takes
    /// `HANG_LATENCY_NS`: a device that stops answering.
    Hang { size_bytes: u64 },
}

/// Latency of every request on a hung swap device: ten minutes, far past
/// any run's timeout.
pub const HANG_LATENCY_NS: u64 = 600_000_000_000;

/// `cyls,heads,secs` for a disk of `bytes` (16 heads, 63 sectors, as
/// many cylinders as fit, at most 65535): only so that QEMU skips its
/// geometry probe; the kernel addresses sectors, not cylinders.
fn geometry(bytes: u64) -> String {
    let cyls = (bytes / 512 / (16 * 63)).clamp(1, 65535);
    format!("cyls={cyls},heads=16,secs=63")
}

impl QemuConfig {
    pub fn new(image: &Path) -> Self {
        QemuConfig {
            image: image.to_path_buf(),
            mem_mib: 512,
            timeout: Duration::from_secs(120),
            fw_cfg_files: Vec::new(),
            gdb: false,
            echo_serial: false,
            swap_disk: None,
            files_disk: None,
            objects_disk: None,
            traces_disk: None,
            virtio_transitional: false,
            icount: false,
            kvm: false,
            swap_fault: SwapFault::None,
            protocol_file: None,
            extra_args: Vec::new(),
        }
    }

    /// The full argument list, without the QEMU binary itself.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = if self.swap_fault == SwapFault::None {
            vec![
                "-drive".into(),
                // snapshot=on: the boot image is only read (writes would
                // go to a throw-away overlay), so QEMU takes a shared lock
                // and runs at once can boot from one image.
                format!("format=raw,snapshot=on,file={}", self.image.display()),
            ]
        } else {
            // Boot from the image first, a precaution: should the firmware
            // (SeaBIOS) look for a boot sector on the virtio disks, that
            // read would hang on a hung device or use up a "first read"
            // rule. (Not measured to matter: QEMU's own geometry probe,
            // below, was what a hung device needed.)
            vec![
                "-drive".into(),
                format!(
                    "if=none,id=boot,format=raw,snapshot=on,file={}",
                    self.image.display()
                ),
                "-device".into(),
                "ide-hd,drive=boot,bootindex=0".into(),
            ]
        };
        args.extend([
            "-serial".into(),
            "stdio".into(),
            "-display".into(),
            "none".into(),
            "-monitor".into(),
            "none".into(),
            "-no-reboot".into(),
            // No network card: the kernel has no driver for one (QEMU
            // would add an e1000 and run its option ROM at every boot).
            "-nic".into(),
            "none".into(),
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
            "-m".into(),
            format!("{}M", self.mem_mib),
        ]);
        for (name, file) in &self.fw_cfg_files {
            args.push("-fw_cfg".into());
            args.push(format!("name={name},file={}", file.display()));
        }
        let legacy = if self.virtio_transitional {
            ""
        } else {
            ",disable-legacy=on"
        };
        let disks = [
            (&self.swap_disk, "swap", ""),
            (&self.files_disk, "files", ",readonly=on"),
            (&self.objects_disk, "objects", ""),
            (&self.traces_disk, "traces", ",readonly=on"),
        ];
        for (disk, id, ro) in disks {
            let Some(disk) = disk else { continue };
            let mut device = String::new();
            match (&self.swap_fault, id) {
                (SwapFault::Blkdebug(rules), "swap") => {
                    let bytes = std::fs::metadata(disk).map(|m| m.len()).unwrap_or(0);
                    args.push("-drive".into());
                    args.push(format!(
                        "file=blkdebug:{}:{},if=none,id={id},format=raw",
                        rules.display(),
                        disk.display()
                    ));
                    device = format!(",request-merging=off,{}", geometry(bytes));
                }
                (SwapFault::Hang { size_bytes }, "swap") => {
                    args.push("-blockdev".into());
                    args.push(format!(
                        "driver=null-co,node-name={id},size={size_bytes},latency-ns={HANG_LATENCY_NS},read-zeroes=on"
                    ));
                    // QEMU's geometry probe would read sector 0 at startup
                    // and wait for it.
                    device = format!(",{}", geometry(*size_bytes));
                }
                _ => {
                    args.push("-drive".into());
                    args.push(format!(
                        "file={},if=none,id={id},format=raw{ro}",
                        disk.display()
                    ));
                }
            }
            args.push("-device".into());
            args.push(format!(
                "virtio-blk-pci,drive={id},serial=faultline-{id}{legacy}{device}"
            ));
        }
        if let Some(file) = &self.protocol_file {
            args.push("-chardev".into());
            args.push(format!("file,id=protocol,path={}", file.display()));
            args.push("-device".into());
            args.push("isa-debugcon,iobase=0xe9,chardev=protocol".into());
        }
        if self.icount {
            args.push("-icount".into());
            args.push("shift=0".into());
        }
        if self.kvm {
            args.extend(["-accel".into(), "kvm".into(), "-cpu".into(), "host".into()]);
        }
        if self.gdb {
            args.push("-s".into());
            args.push("-S".into());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// Creates (or truncates) a sparse raw disk image of `size_bytes` for swap.
pub fn create_swap_disk(path: &Path, size_bytes: u64) -> Result<(), String> {
    create_sparse_disk(path, size_bytes, "swap disk")
}

/// Creates (or truncates) a sparse raw disk image of `size_bytes`; `what`
/// names it in errors.
pub fn create_sparse_disk(path: &Path, size_bytes: u64, what: &str) -> Result<(), String> {
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {what} {}: {e}", path.display()))?;
    file.set_len(size_bytes)
        .map_err(|e| format!("cannot size {what} {}: {e}", path.display()))
}

/// Checks that QEMU is installed; the error names the install command.
pub fn find_qemu() -> Result<(), String> {
    // Asked once per process: `--version` costs a quarter of a second
    // under load, and a lab asks for every run.
    static FOUND: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FOUND.get_or_init(probe_qemu).clone()
}

/// Can this machine run guests under KVM? `/dev/kvm` must open for
/// reading and writing and the CPU must offer VT-x or AMD-V (a machine
/// can have the device without the CPU feature, as this project's build
/// machines do).
pub fn kvm_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("/dev/kvm: {e}"))?;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    if flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
        Ok(())
    } else {
        Err("the CPU offers neither VT-x (vmx) nor AMD-V (svm)".into())
    }
}

fn probe_qemu() -> Result<(), String> {
    match Command::new(QEMU).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(format!(
            "{QEMU} not found. Install it with:\n    \
             sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-system-x86\n\
             (./run-qemu.sh does this for you when run as root)"
        )),
    }
}

/// Boots the image and waits for the kernel's verdict or the timeout.
pub fn run(config: &QemuConfig) -> Result<RunOutput, String> {
    find_qemu()?;
    let start = Instant::now();
    let mut cmd = Command::new(QEMU);
    cmd.args(config.args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and
    // calls only prctl(2), which is async-signal-safe. It asks the kernel
    // to kill QEMU when the thread that started it exits, so a faultline
    // stopped by a signal (a lab interrupted by `timeout`, a killed CI
    // job) leaves no QEMU running on for minutes, writing nowhere.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {QEMU}: {e}"))?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let echo = config.echo_serial;
    let reader = thread::spawn(move || collect_serial(stdout, echo));
    let stderr = child.stderr.take().expect("stderr is piped");
    let err_reader = thread::spawn(move || collect_serial(stderr, false));

    let outcome = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break classify(status.code());
        }
        if start.elapsed() >= config.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break Outcome::Timeout(config.timeout);
        }
        thread::sleep(Duration::from_millis(20));
    };
    let serial = reader.join().unwrap_or_default();
    let qemu_stderr = err_reader.join().unwrap_or_default();
    // QEMU stopped by SIGINT or SIGTERM (a Ctrl-C reaches the whole
    // process group) also exits 0: that is not a triple fault.
    let outcome = signal_or(outcome, &qemu_stderr);
    Ok(RunOutput {
        outcome,
        serial,
        qemu_stderr,
        wall_time: start.elapsed(),
    })
}

/// A "triple fault" (exit 0) after which QEMU said it was terminated by a
/// signal is a QEMU stopped by SIGINT or SIGTERM.
fn signal_or(outcome: Outcome, qemu_stderr: &str) -> Outcome {
    match outcome {
        Outcome::TripleFault if qemu_stderr.contains("terminating on signal") => Outcome::Signal,
        other => other,
    }
}

fn classify(code: Option<i32>) -> Outcome {
    match code {
        Some(EXIT_SUCCESS_CODE) => Outcome::Success,
        Some(EXIT_FAILURE_CODE) => Outcome::Failure,
        Some(0) => Outcome::TripleFault,
        Some(c) => Outcome::OtherExit(c),
        None => Outcome::Signal,
    }
}

fn collect_serial(stream: impl std::io::Read, echo: bool) -> String {
    let mut out = String::new();
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut line) {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line).replace('\r', "");
        if echo {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        out.push_str(&text);
        line.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_to_outcomes() {
        assert_eq!(classify(Some(33)), Outcome::Success);
        assert_eq!(classify(Some(35)), Outcome::Failure);
        assert_eq!(classify(Some(0)), Outcome::TripleFault);
        let said = "qemu-system-x86_64: terminating on signal 2 from pid 7 (bash)\n";
        assert_eq!(signal_or(Outcome::TripleFault, said), Outcome::Signal);
        assert_eq!(signal_or(Outcome::TripleFault, ""), Outcome::TripleFault);
        assert_eq!(classify(Some(1)), Outcome::OtherExit(1));
        assert_eq!(classify(None), Outcome::Signal);
        assert!(!Outcome::TripleFault.is_success());
    }

    #[test]
    fn args_attach_fw_cfg_and_gdb() {
        let mut c = QemuConfig::new(Path::new("/tmp/k.img"));
        c.fw_cfg_files
            .push(("opt/faultline/config".into(), PathBuf::from("/tmp/c.txt")));
        c.gdb = true;
        c.swap_disk = Some(PathBuf::from("/tmp/s.img"));
        let a = c.args().join(" ");
        assert!(a.contains("file=/tmp/s.img,if=none,id=swap,format=raw"));
        assert!(a.contains("virtio-blk-pci,drive=swap,serial=faultline-swap,disable-legacy=on"));
        assert!(!a.contains("id=files"));
        c.files_disk = Some(PathBuf::from("/tmp/f.img"));
        let a = c.args().join(" ");
        assert!(a.contains("file=/tmp/f.img,if=none,id=files,format=raw,readonly=on"));
        assert!(a.contains("virtio-blk-pci,drive=files,serial=faultline-files,disable-legacy=on"));
        let swap_at = a.find("drive=swap").unwrap();
        assert!(swap_at < a.find("drive=files").unwrap(), "swap first: {a}");
        assert!(!a.contains("id=objects"));
        c.objects_disk = Some(PathBuf::from("/tmp/o.img"));
        let a = c.args().join(" ");
        // Writable, unlike the files disk.
        assert!(a.contains("file=/tmp/o.img,if=none,id=objects,format=raw "));
        assert!(
            a.contains("virtio-blk-pci,drive=objects,serial=faultline-objects,disable-legacy=on")
        );
        assert!(a.contains("-fw_cfg name=opt/faultline/config,file=/tmp/c.txt"));
        assert!(a.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(a.contains("-s -S"));
        assert!(a.contains("-no-reboot"));
    }
}
