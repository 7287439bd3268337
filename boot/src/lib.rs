//! Host side of the boot path: turn a faultline kernel ELF into a BIOS disk
//! image (with the `bootloader` crate) and boot it in QEMU with a timeout.
//!
//! Used three ways: as the cargo runner for `x86_64-unknown-none` (see
//! `src/main.rs`), by the `faultline` CLI, and by the host tests that boot
//! every kernel test binary.

pub mod ext2_image;
pub mod image;
pub mod qemu;
pub mod trace_fixture;

pub use image::create_bios_image;
pub use qemu::{
    create_sparse_disk, create_swap_disk, find_qemu, kvm_usable, Outcome, QemuConfig, RunOutput,
    SwapFault,
};

/// Value the kernel writes to the isa-debug-exit port on success.
/// QEMU exits with `(value << 1) | 1`, so success is 33.
pub const EXIT_SUCCESS_CODE: i32 = (0x10 << 1) | 1;
/// Value the kernel writes on failure; QEMU exits with 35.
pub const EXIT_FAILURE_CODE: i32 = (0x11 << 1) | 1;
