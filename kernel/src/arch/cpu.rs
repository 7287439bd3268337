//! Small wrappers around single CPU instructions.

use core::arch::asm;

/// Reads the time-stamp counter. Under QEMU TCG it advances at the host TSC
/// rate, so it measures host time spent emulating the guest.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no side effects beyond reading the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The faulting linear address of the last page fault.
#[inline]
pub fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effects; we run in ring 0.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
