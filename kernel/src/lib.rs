//! faultline: a bare-metal x86_64 teaching kernel that reproduces the Linux
//! anonymous-memory swap-in fault path.
//!
//! Read it in this order: [`boot`] (what happens from the bootloader to the
//! first workload), [`arch`] (CPU tables, exceptions, paging hardware),
//! [`mm`] (frames, page tables, address spaces, the fault handler),
//! [`knobs`] (boot-time policy switches), [`workload`], [`report`]; and
//! [`fs`] (a read-only ext2 reader; a run surveys the files disk with it,
//! no workload reads files yet).
//!
//! User programs run in ring 3 as [`proc`] processes (system calls, fork,
//! copy-on-write); the measured workloads run in ring 0 inside their own
//! address space, as [`sched`] tasks preempted only between two memory
//! accesses.
//!
//! Simplifications against Linux that hold everywhere: one CPU,
//! interrupts off in the kernel proper, 4 KiB pages only for anonymous
//! memory (no large folios).

#![no_std]
#![cfg_attr(test, no_main)]
#![feature(custom_test_frameworks)]
#![feature(abi_x86_interrupt)]
#![test_runner(crate::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod drivers;
pub mod fs;
pub mod knobs;
pub mod mm;
pub mod proc;
pub mod report;
pub mod sched;
pub mod testing;
pub mod workload;

/// Re-exported so that test kernels can name it through `kernel::`.
pub use bootloader_api;

#[cfg(test)]
test_kernel!(test_main);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    testing::on_panic(info)
}
