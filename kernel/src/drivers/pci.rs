//! PCI configuration space through the legacy I/O ports 0xCF8/0xCFC
//! (configuration mechanism #1), enough to find a device, read its BARs
//! and capabilities, and enable it.
//!
//! Simplification: only bus 0 is scanned (QEMU's i440fx and q35 put their
//! devices there unless bridges are added).

use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

const PCI_COMMAND: u8 = 0x04;
const PCI_STATUS: u8 = 0x06;
const PCI_CAPABILITY_LIST: u8 = 0x34;
const PCI_INTERRUPT_LINE: u8 = 0x3c;
const PCI_COMMAND_MEMORY: u16 = 1 << 1;
const PCI_COMMAND_MASTER: u16 = 1 << 2;
const PCI_COMMAND_INTX_DISABLE: u16 = 1 << 10;
const PCI_STATUS_CAP_LIST: u16 = 1 << 4;

/// A function on bus 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciDevice {
    pub dev: u8,
    pub func: u8,
    pub vendor: u16,
    pub device: u16,
}

fn address(d: &PciDevice, offset: u8) -> u32 {
    (1 << 31) | ((d.dev as u32) << 11) | ((d.func as u32) << 8) | (offset as u32 & 0xfc)
}

/// Reads a 32-bit register of `d`'s configuration space.
pub fn read32(d: &PciDevice, offset: u8) -> u32 {
    // SAFETY: 0xCF8/0xCFC are the PCI configuration ports on the PC
    // platform; the address written selects a configuration register only.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address(d, offset));
        Port::<u32>::new(CONFIG_DATA).read()
    }
}

/// Writes a 32-bit register of `d`'s configuration space.
pub fn write32(d: &PciDevice, offset: u8, value: u32) {
    // SAFETY: as for `read32`.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address(d, offset));
        Port::<u32>::new(CONFIG_DATA).write(value);
    }
}

pub fn read16(d: &PciDevice, offset: u8) -> u16 {
    (read32(d, offset) >> ((offset & 2) * 8)) as u16
}

pub fn read8(d: &PciDevice, offset: u8) -> u8 {
    (read32(d, offset) >> ((offset & 3) * 8)) as u8
}

fn write16(d: &PciDevice, offset: u8, value: u16) {
    let shift = (offset & 2) * 8;
    let old = read32(d, offset) & !(0xffff << shift);
    write32(d, offset, old | ((value as u32) << shift));
}

/// Finds the first function on bus 0 for which `matches(vendor, device)`.
pub fn find(matches: impl Fn(u16, u16) -> bool) -> Option<PciDevice> {
    find_all(matches).into_iter().next()
}

/// Every function on bus 0 for which `matches(vendor, device)`, in slot
/// order (QEMU fills slots in command-line order).
pub fn find_all(matches: impl Fn(u16, u16) -> bool) -> alloc::vec::Vec<PciDevice> {
    let mut found = alloc::vec::Vec::new();
    for dev in 0..32 {
        for func in 0..8 {
            let probe = PciDevice {
                dev,
                func,
                vendor: 0,
                device: 0,
            };
            let id = read32(&probe, 0);
            let vendor = id as u16;
            if vendor == 0xffff {
                continue;
            }
            let device = (id >> 16) as u16;
            if matches(vendor, device) {
                found.push(PciDevice {
                    dev,
                    func,
                    vendor,
                    device,
                });
            }
        }
    }
    found
}

/// Physical address of memory BAR `index` (handles 64-bit BARs), or
/// `None` for an I/O BAR or an unassigned one.
pub fn memory_bar(d: &PciDevice, index: u8) -> Option<u64> {
    let offset = 0x10 + 4 * index;
    let low = read32(d, offset);
    if low & 1 != 0 {
        return None;
    }
    let is_64bit = (low >> 1) & 0b11 == 0b10;
    let high = if is_64bit {
        read32(d, offset + 4) as u64
    } else {
        0
    };
    let pa = (high << 32) | (low & !0xf) as u64;
    (pa != 0).then_some(pa)
}

/// Calls `f(cap_id, offset)` for every capability in the list.
pub fn for_each_capability(d: &PciDevice, mut f: impl FnMut(u8, u8)) {
    if read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST == 0 {
        return;
    }
    let mut ptr = read8(d, PCI_CAPABILITY_LIST) & !3;
    let mut hops = 0;
    while ptr != 0 && hops < 48 {
        f(read8(d, ptr), ptr);
        ptr = read8(d, ptr + 1) & !3;
        hops += 1;
    }
}

/// Enables memory decoding, bus mastering (DMA) and INTx.
pub fn enable(d: &PciDevice) {
    let cmd = read16(d, PCI_COMMAND);
    let cmd = (cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) & !PCI_COMMAND_INTX_DISABLE;
    write16(d, PCI_COMMAND, cmd);
}

/// The legacy IRQ line the firmware routed INTx to (0xff = none).
pub fn interrupt_line(d: &PciDevice) -> u8 {
    read8(d, PCI_INTERRUPT_LINE)
}
