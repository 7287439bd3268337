//! Kernel ELF -> bootable BIOS disk image.

use std::path::Path;
use std::process::{Command, Stdio};

/// Wraps `kernel_elf` into a BIOS-bootable raw disk image at `image_path`.
///
/// The image is made from a copy without debug info when binutils'
/// `strip` is there (see [`strip_debug`]): the BIOS stage reads the whole
/// kernel file through real-mode disk calls, which under TCG took 16 of a
/// smoke run's 20 seconds when the file held its debug info. gdb reads the
/// symbols from the ELF on the host, which keeps them.
///
/// The bootloader's own log lines on serial and screen are switched off, so
/// that the serial console carries only what the kernel prints.
pub fn create_bios_image(kernel_elf: &Path, image_path: &Path) -> Result<(), String> {
    let stripped = image_path.with_extension("stripped.elf");
    let source = if strip_debug(kernel_elf, &stripped) {
        stripped.as_path()
    } else {
        kernel_elf
    };
    let mut config = bootloader::BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    let made = bootloader::BiosBoot::new(source)
        .set_boot_config(&config)
        .create_disk_image(image_path)
        .map_err(|e| {
            format!(
                "cannot create a disk image from {}: {e:#}",
                kernel_elf.display()
            )
        });
    let _ = std::fs::remove_file(&stripped);
    made
}

/// `strip --strip-debug -o out elf`; false (use the ELF as it is) when
/// binutils is missing or strip fails. Only boot time depends on it.
fn strip_debug(elf: &Path, out: &Path) -> bool {
    Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(out)
        .arg(elf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
