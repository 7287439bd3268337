//! QEMU's isa-debug-exit device: the only way a run reports its verdict.
//!
//! QEMU exits with `(value << 1) | 1`, so `Success` gives 33 and `Failure`
//! gives 35. The host treats 33 as the only pass: a triple fault under
//! `-no-reboot` makes QEMU exit 0.

use x86_64::instructions::port::Port;

/// I/O port of `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Success = 0x10,
    Failure = 0x11,
}

/// Ends the run with the given verdict.
pub fn exit_qemu(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(ISA_DEBUG_EXIT_PORT);
    // SAFETY: the port belongs to the isa-debug-exit device, which QEMU
    // handles by exiting; nothing else lives there.
    unsafe { port.write(code as u32) };
    // Only reached when the device is missing (e.g. a different machine).
    super::cpu::halt_forever()
}
