//! Serial console on COM1 (a 16550 UART), and the `print!`/`println!`
//! macros. Everything the kernel says goes here; QEMU's `-serial stdio`
//! hands it to the host.

use core::fmt::{self, Write};

use spin::{Lazy, Mutex};
use uart_16550::SerialPort;

/// I/O base of COM1.
const COM1_PORT: u16 = 0x3f8;

static COM1: Lazy<Mutex<SerialPort>> = Lazy::new(|| {
    // SAFETY: 0x3f8 is the standard COM1 base on the PC platform QEMU
    // emulates, and only this driver touches it.
    let mut port = unsafe { SerialPort::new(COM1_PORT) };
    port.init();
    Mutex::new(port)
});

/// Writes formatted text to COM1. Used by the macros below.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    // Interrupts are off and there is one CPU, so the lock is only ever
    // contended if a fault happens while printing; `force_unlock` there
    // would be worse than a garbled line, so we simply wait.
    COM1.lock()
        .write_fmt(args)
        .expect("writing to COM1 cannot fail");
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::drivers::serial::_print(format_args!($($arg)*)));
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}
