//! virtio 1.x over PCI (the "modern" interface): find the device's
//! configuration structures through its vendor capabilities, negotiate
//! features, and set up virtqueues. Spec: virtio v1.2, §4.1.
//!
//! Both the modern-only device (1af4:1042, `disable-legacy=on`) and the
//! transitional one (1af4:1001) are accepted: a transitional device also
//! exposes the modern capabilities, and we only use those.

pub mod blk;
pub mod virtqueue;

use core::ptr::NonNull;

use volatile::VolatilePtr;

use crate::drivers::pci::{self, PciDevice};
use crate::mm::ioremap::ioremap;

/// Vendor-specific PCI capability id used by virtio.
const PCI_CAP_ID_VNDR: u8 = 0x09;
const VIRTIO_PCI_CAP_COMMON_CFG: u8 = 1;
const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
const VIRTIO_PCI_CAP_ISR_CFG: u8 = 3;
const VIRTIO_PCI_CAP_DEVICE_CFG: u8 = 4;

/// Device status bits (§2.1).
pub const STATUS_ACKNOWLEDGE: u8 = 1;
pub const STATUS_DRIVER: u8 = 2;
pub const STATUS_DRIVER_OK: u8 = 4;
pub const STATUS_FEATURES_OK: u8 = 8;
pub const STATUS_FAILED: u8 = 128;

/// The only feature we require: the device speaks virtio 1.x.
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;

/// Offsets in `struct virtio_pci_common_cfg` (§4.1.4.3).
mod common {
    pub const DEVICE_FEATURE_SELECT: u64 = 0x00;
    pub const DEVICE_FEATURE: u64 = 0x04;
    pub const DRIVER_FEATURE_SELECT: u64 = 0x08;
    pub const DRIVER_FEATURE: u64 = 0x0c;
    pub const DEVICE_STATUS: u64 = 0x14;
    pub const QUEUE_SELECT: u64 = 0x16;
    pub const QUEUE_SIZE: u64 = 0x18;
    pub const QUEUE_ENABLE: u64 = 0x1c;
    pub const QUEUE_NOTIFY_OFF: u64 = 0x1e;
    pub const QUEUE_DESC: u64 = 0x20;
    pub const QUEUE_DRIVER: u64 = 0x28;
    pub const QUEUE_DEVICE: u64 = 0x30;
}

/// Reads a device register at virtual address `va`.
///
/// # Safety
/// `va` must be a mapped, suitably aligned device register of type `T`.
pub unsafe fn mmio_read<T: Copy>(va: u64) -> T {
    // SAFETY: guaranteed by the caller; volatile keeps the access.
    unsafe { VolatilePtr::new(NonNull::new_unchecked(va as *mut T)).read() }
}

/// Writes a device register at virtual address `va`.
///
/// # Safety
/// As for [`mmio_read`].
pub unsafe fn mmio_write<T: Copy>(va: u64, value: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { VolatilePtr::new(NonNull::new_unchecked(va as *mut T)).write(value) }
}

/// Why a virtio device could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    NoDevice,
    MissingCapability(&'static str),
    FeaturesRejected,
    QueueUnavailable,
    /// The device is already driven by another `VirtioBlk` (e.g. swap).
    Busy,
}

/// The mapped configuration structures of one virtio PCI device.
#[derive(Debug)]
pub struct VirtioPci {
    pub pci: PciDevice,
    common: u64,
    notify_base: u64,
    notify_off_multiplier: u32,
    /// The ISR status register: reading it acknowledges INTx.
    pub isr: u64,
    /// Device-specific configuration (virtio-blk: capacity, ...).
    pub device_cfg: u64,
}

impl VirtioPci {
    /// Maps the capabilities of `pci` and resets the device.
    pub fn new(pci: PciDevice) -> Result<VirtioPci, VirtioError> {
        pci::enable(&pci);
        let (mut common, mut notify, mut isr, mut device_cfg) = (None, None, None, None);
        let mut multiplier = 0;
        pci::for_each_capability(&pci, |id, off| {
            if id != PCI_CAP_ID_VNDR {
                return;
            }
            let cfg_type = pci::read8(&pci, off + 3);
            let bar = pci::read8(&pci, off + 4);
            let offset = pci::read32(&pci, off + 8) as u64;
            let length = pci::read32(&pci, off + 12) as u64;
            let Some(bar_pa) = pci::memory_bar(&pci, bar) else {
                return;
            };
            let region = Some((bar_pa + offset, length.max(1)));
            match cfg_type {
                VIRTIO_PCI_CAP_COMMON_CFG => common = common.or(region),
                VIRTIO_PCI_CAP_NOTIFY_CFG if notify.is_none() => {
                    notify = region;
                    multiplier = pci::read32(&pci, off + 16);
                }
                VIRTIO_PCI_CAP_ISR_CFG => isr = isr.or(region),
                VIRTIO_PCI_CAP_DEVICE_CFG => device_cfg = device_cfg.or(region),
                _ => {}
            }
        });
        let map = |r: Option<(u64, u64)>, what| {
            r.map(|(pa, len)| ioremap(pa, len))
                .ok_or(VirtioError::MissingCapability(what))
        };
        let dev = VirtioPci {
            pci,
            common: map(common, "common cfg")?,
            notify_base: map(notify, "notify cfg")?,
            notify_off_multiplier: multiplier,
            isr: map(isr, "isr cfg")?,
            device_cfg: map(device_cfg, "device cfg")?,
        };
        dev.set_status(0);
        Ok(dev)
    }

    fn common_read<T: Copy>(&self, off: u64) -> T {
        // SAFETY: `common` maps the common configuration structure and
        // `off` is one of its register offsets with the right type.
        unsafe { mmio_read(self.common + off) }
    }

    fn common_write<T: Copy>(&self, off: u64, v: T) {
        // SAFETY: as for `common_read`.
        unsafe { mmio_write(self.common + off, v) }
    }

    pub fn status(&self) -> u8 {
        self.common_read(common::DEVICE_STATUS)
    }

    pub fn set_status(&self, status: u8) {
        self.common_write(common::DEVICE_STATUS, status);
    }

    /// Feature negotiation (§3.1.1 steps 1-6): accept only `wanted` and
    /// require `required`.
    pub fn negotiate(&self, wanted: u64, required: u64) -> Result<u64, VirtioError> {
        self.set_status(STATUS_ACKNOWLEDGE);
        self.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        let mut offered = 0u64;
        for half in 0..2u32 {
            self.common_write(common::DEVICE_FEATURE_SELECT, half);
            offered |= (self.common_read::<u32>(common::DEVICE_FEATURE) as u64) << (32 * half);
        }
        if offered & required != required {
            self.set_status(STATUS_FAILED);
            return Err(VirtioError::FeaturesRejected);
        }
        let accepted = offered & wanted;
        for half in 0..2u32 {
            self.common_write(common::DRIVER_FEATURE_SELECT, half);
            self.common_write(common::DRIVER_FEATURE, (accepted >> (32 * half)) as u32);
        }
        self.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
        if self.status() & STATUS_FEATURES_OK == 0 {
            self.set_status(STATUS_FAILED);
            return Err(VirtioError::FeaturesRejected);
        }
        Ok(accepted)
    }

    /// Sets up queue `index` with at most `max_size` entries; returns the
    /// queue. The device must be in the FEATURES_OK state.
    pub fn setup_queue(
        &self,
        index: u16,
        max_size: u16,
    ) -> Result<virtqueue::SplitQueue, VirtioError> {
        self.common_write(common::QUEUE_SELECT, index);
        let device_max: u16 = self.common_read(common::QUEUE_SIZE);
        if device_max == 0 {
            return Err(VirtioError::QueueUnavailable);
        }
        let size = device_max.min(max_size);
        let notify_off: u16 = self.common_read(common::QUEUE_NOTIFY_OFF);
        let notify = self.notify_base + notify_off as u64 * self.notify_off_multiplier as u64;
        let queue = virtqueue::SplitQueue::new(index, size, notify);
        self.common_write(common::QUEUE_SIZE, size);
        self.common_write(common::QUEUE_DESC, queue.desc_pa());
        self.common_write(common::QUEUE_DRIVER, queue.avail_pa());
        self.common_write(common::QUEUE_DEVICE, queue.used_pa());
        self.common_write(common::QUEUE_ENABLE, 1u16);
        Ok(queue)
    }

    /// Final step of initialisation: the driver is ready.
    pub fn driver_ok(&self) {
        let s = self.status();
        self.set_status(s | STATUS_DRIVER_OK);
    }
}
