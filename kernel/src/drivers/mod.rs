//! Device drivers: the serial console (COM1) and QEMU's fw_cfg interface.

pub mod fw_cfg;
pub mod serial;
