//! The legacy 8259 interrupt controllers (a master and a slave PIC), which
//! deliver PCI INTx lines on QEMU's i440fx machine.
//!
//! At power-on the PICs use vectors 8..15, which collide with CPU
//! exceptions, so we remap them to 32..47 and mask every line until a
//! driver asks for one with [`request_irq`]. PCI interrupts are level
//! triggered: the driver must make the device drop the line (virtio: read
//! the ISR register) before [`end_of_interrupt`].
//!
//! Simplification: no I/O APIC and no MSI-X; one CPU.

use core::sync::atomic::{AtomicUsize, Ordering};

use x86_64::instructions::port::Port;

/// First vector of the master PIC after remapping.
pub const PIC_VECTOR_BASE: u8 = 32;
pub const NR_IRQS: usize = 16;

const MASTER_CMD: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_CMD: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;
const CMD_EOI: u8 = 0x20;
/// Line of the master where the slave is cascaded.
const CASCADE_IRQ: u8 = 2;

/// Handlers registered per IRQ line (0 = none).
static HANDLERS: [AtomicUsize; NR_IRQS] = [const { AtomicUsize::new(0) }; NR_IRQS];

fn outb(port: u16, value: u8) {
    // SAFETY: the four ports belong to the 8259 PICs, programmed only here.
    unsafe { Port::<u8>::new(port).write(value) };
}

fn inb(port: u16) -> u8 {
    // SAFETY: as above.
    unsafe { Port::<u8>::new(port).read() }
}

/// Remaps both PICs to vectors 32..47 and masks all lines.
pub fn init() {
    // ICW1: initialise, expect ICW4.
    outb(MASTER_CMD, 0x11);
    outb(SLAVE_CMD, 0x11);
    // ICW2: vector offsets.
    outb(MASTER_DATA, PIC_VECTOR_BASE);
    outb(SLAVE_DATA, PIC_VECTOR_BASE + 8);
    // ICW3: cascade wiring.
    outb(MASTER_DATA, 1 << CASCADE_IRQ);
    outb(SLAVE_DATA, CASCADE_IRQ);
    // ICW4: 8086 mode.
    outb(MASTER_DATA, 0x01);
    outb(SLAVE_DATA, 0x01);
    // Mask everything but the cascade line.
    outb(MASTER_DATA, !(1 << CASCADE_IRQ));
    outb(SLAVE_DATA, 0xff);
}

/// Registers `handler` for `irq` and unmasks the line. The handler runs in
/// interrupt context with interrupts off; it must not take locks that the
/// interrupted code may hold.
pub fn request_irq(irq: u8, handler: fn()) {
    assert!(
        (irq as usize) < NR_IRQS && irq != CASCADE_IRQ,
        "bad IRQ line {irq}"
    );
    HANDLERS[irq as usize].store(handler as usize, Ordering::Release);
    if irq < 8 {
        outb(MASTER_DATA, inb(MASTER_DATA) & !(1 << irq));
    } else {
        outb(SLAVE_DATA, inb(SLAVE_DATA) & !(1 << (irq - 8)));
    }
}

/// Masks `irq` again (Linux `disable_irq`): the line stays silent.
pub fn disable_irq(irq: u8) {
    if irq < 8 {
        outb(MASTER_DATA, inb(MASTER_DATA) | (1 << irq));
    } else {
        outb(SLAVE_DATA, inb(SLAVE_DATA) | (1 << (irq - 8)));
    }
}

/// Acknowledges `irq` at the PIC(s).
pub fn end_of_interrupt(irq: u8) {
    if irq >= 8 {
        outb(SLAVE_CMD, CMD_EOI);
    }
    outb(MASTER_CMD, CMD_EOI);
}

/// Called by the IDT stubs: run the registered handler, then EOI.
pub fn handle_irq(irq: u8) {
    let h = HANDLERS[irq as usize].load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: only `request_irq` stores non-zero values, and it stores
        // a valid `fn()` pointer.
        let handler: fn() = unsafe { core::mem::transmute::<usize, fn()>(h) };
        handler();
    }
    end_of_interrupt(irq);
}
