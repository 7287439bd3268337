//! The faultline kernel: read the knobs, run the workload, report.

#![no_std]
#![no_main]

use kernel::arch::qemu::{exit_qemu, ExitCode};
use kernel::{knobs, report, workload};

kernel::kernel_entry!(kernel_main);

fn kernel_main() -> ! {
    let config = match knobs::load_from_fw_cfg() {
        Ok(c) => knobs::set_global(c),
        Err(e) => {
            report::emit_error(report::ErrorKind::Config, format_args!("config: {e}"));
            exit_qemu(ExitCode::Failure)
        }
    };
    let result = match workload::run(config) {
        Ok(r) => r,
        Err(e) => {
            report::emit_error(e.1, format_args!("workload: {}", e.0));
            exit_qemu(ExitCode::Failure)
        }
    };
    kernel::mm::timeline::emit();
    report::emit(config, &result);
    let code = if result.is_success() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    };
    exit_qemu(code)
}
