//! Kernel ELF -> bootable BIOS disk image.

use std::path::Path;

/// Wraps `kernel_elf` into a BIOS-bootable raw disk image at `image_path`.
///
/// The bootloader's own log lines on serial and screen are switched off, so
/// that the serial console carries only what the kernel prints.
pub fn create_bios_image(kernel_elf: &Path, image_path: &Path) -> Result<(), String> {
    let mut config = bootloader::BootConfig::default();
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    bootloader::BiosBoot::new(kernel_elf)
        .set_boot_config(&config)
        .create_disk_image(image_path)
        .map_err(|e| {
            format!(
                "cannot create a disk image from {}: {e:#}",
                kernel_elf.display()
            )
        })
}
