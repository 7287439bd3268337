//! Device drivers: the serial console (COM1), QEMU's fw_cfg interface, PCI
//! configuration space, and virtio-blk (the swap disk, and a files disk).

pub mod fw_cfg;
pub mod pci;
pub mod serial;
pub mod virtio;
pub mod zram;
