//! The 8254 programmable interval timer: the scheduler tick (it ends a
//! task's time slice, see [`crate::sched::scheduler_tick`]), and a
//! periodic wake-up from `hlt` while the CPU waits for I/O, so that a wait
//! can notice a timeout even if the device never interrupts again.
//!
//! Time keeping is the TSC's (see `sched::clock`); the tick count
//! ([`jiffies`]) only serves timeouts in host time, such as a device that
//! stops answering (`swapdev.timeout_ms`).

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

/// The PIT's input clock.
const PIT_HZ: u32 = 1_193_182;
const CHANNEL0: u16 = 0x40;
const COMMAND: u16 = 0x43;
/// Legacy IRQ line of the PIT.
pub const PIT_IRQ: u8 = 0;

/// Ticks since boot (Linux `jiffies`), about one per millisecond.
static JIFFIES: AtomicU64 = AtomicU64::new(0);

fn tick() {
    JIFFIES.fetch_add(1, Ordering::Relaxed);
    crate::sched::scheduler_tick();
    // A graded lab test over its instruction limit ends here.
    crate::testing::lab::tick();
}

/// Ticks since boot. They advance only while interrupts are taken: in a
/// task, or while the CPU sleeps waiting for a device.
pub fn jiffies() -> u64 {
    JIFFIES.load(Ordering::Relaxed)
}

/// Starts a periodic tick at about `hz` interrupts per second.
pub fn init(hz: u32) {
    let divisor = (PIT_HZ / hz).clamp(1, 0xffff) as u16;
    // SAFETY: 0x40/0x43 are the PIT's ports; mode 2 (rate generator) on
    // channel 0 with a 16-bit divisor, low byte then high byte.
    unsafe {
        Port::<u8>::new(COMMAND).write(0x34);
        Port::<u8>::new(CHANNEL0).write(divisor as u8);
        Port::<u8>::new(CHANNEL0).write((divisor >> 8) as u8);
    }
    super::pic::request_irq(PIT_IRQ, tick);
}
