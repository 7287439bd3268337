//! faultline's exit statuses: one meaning each, so that a script (a lab
//! driver, a Slurm job, CI) can tell a failed experiment from a typo, a
//! missing QEMU or a hang.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success: every run finished and passed its checks |
//! | 1 | a run finished and failed: corrupt pages, a leak, a killed task, a memcg OOM, a hung device, a failed lab cell or fault-matrix cell |
//! | 2 | usage or input error: a bad option or knob, a file that is missing or malformed (also when the kernel refuses its configuration or input) |
//! | 3 | environment error: no QEMU, the kernel build failed, a file cannot be written |
//! | 4 | a run did not finish: timeout (in wall time, or the run's budget in guest instructions), triple fault, QEMU crashed or printed no result |
//!
//! clap's own usage errors exit 2 as well, and `--help` exits 0.

use std::fmt;

/// Why faultline stops with a nonzero status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Failed = 1,
    Usage = 2,
    Environment = 3,
    Unfinished = 4,
}

/// An error with the exit status it ends the program with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub status: Status,
    pub message: String,
}

impl Fail {
    pub fn new(status: Status, message: impl Into<String>) -> Fail {
        Fail {
            status,
            message: message.into(),
        }
    }

    /// Prints `faultline: MESSAGE` on stderr and exits with the status.
    pub fn exit(&self) -> ! {
        eprintln!("faultline: {}", self.message);
        std::process::exit(self.status as i32)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A usage or input error (status 2).
pub fn usage(message: impl Into<String>) -> Fail {
    Fail::new(Status::Usage, message)
}

/// An environment error (status 3).
pub fn environment(message: impl Into<String>) -> Fail {
    Fail::new(Status::Environment, message)
}

/// A run that finished and failed (status 1).
pub fn failed(message: impl Into<String>) -> Fail {
    Fail::new(Status::Failed, message)
}

/// The status for an error the kernel reported, from the kind its
/// partial result names (`FAULTLINE-PARTIAL {"status": KIND, ...}`,
/// kernel/src/report.rs): a configuration or workload input it refused
/// is an input error; the budget of the run's clock is a timeout in guest
/// instructions; any other (a memcg OOM, an I/O error, a hung device, a
/// swap read error outside a killable section) is a run that failed, and
/// so is an error line with no kind (a partial line cut short).
pub fn kernel_error_status(kind: Option<&str>) -> Status {
    match kind {
        Some("config" | "input") => Status::Usage,
        Some("budget") => Status::Unfinished,
        _ => Status::Failed,
    }
}

/// The status of a run that printed no result, from how QEMU ended.
pub fn unfinished_status(outcome: &boot::Outcome) -> Status {
    match outcome {
        boot::Outcome::OtherExit(1) => Status::Environment,
        _ => Status::Unfinished,
    }
}

/// The statuses as the `--help` text shows them.
pub const HELP: &str = "\
Exit status:
  0  success: every run finished and passed its checks
  1  a run finished and failed: corrupt pages, a leak, a task killed by a
     swap read error, a memcg OOM, a hung device, a failed lab or
     fault-matrix cell (a lab still writes every other run's result)
  2  usage or input error: a bad option, knob or file (the host checks
     knobs before it builds or boots; a configuration the kernel refuses
     is status 2 too)
  3  environment error: no QEMU, the kernel build failed, a file that
     cannot be written, QEMU refused to start
  4  a run did not finish: a timeout (wall time, or run.budget_mcycles of
     the run's clock), triple fault, QEMU crashed, no result";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_are_classified() {
        assert_eq!(kernel_error_status(Some("config")), Status::Usage);
        assert_eq!(kernel_error_status(Some("input")), Status::Usage);
        assert_eq!(kernel_error_status(Some("oom")), Status::Failed);
        assert_eq!(kernel_error_status(Some("io_error")), Status::Failed);
        assert_eq!(kernel_error_status(Some("budget")), Status::Unfinished);
        assert_eq!(kernel_error_status(None), Status::Failed);
        assert_eq!(
            unfinished_status(&boot::Outcome::TripleFault),
            Status::Unfinished
        );
    }
}
