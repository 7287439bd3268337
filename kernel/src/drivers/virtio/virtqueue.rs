//! A split virtqueue (virtio v1.2 §2.7): a descriptor table, the driver's
//! "available" ring and the device's "used" ring, each in its own page.
//!
//! The driver puts a chain of descriptors in the table, publishes its head
//! in the available ring and notifies the device; the device later puts
//! the head in the used ring. Many chains can be in flight at once.

use core::sync::atomic::{fence, Ordering};

use super::mmio_write;
use crate::mm::page_alloc::{alloc_zeroed_page, free_page};
use crate::mm::phys_to_virt;

const VIRTQ_DESC_F_NEXT: u16 = 1;
const VIRTQ_DESC_F_WRITE: u16 = 2;
/// Byte size of one descriptor: addr u64, len u32, flags u16, next u16.
const DESC_SIZE: u64 = 16;

/// One buffer of a chain.
#[derive(Debug, Clone, Copy)]
pub struct Buffer {
    pub pa: u64,
    pub len: u32,
    /// The device writes into it (a read's data, a status byte).
    pub is_device_writable: bool,
}

/// The driver's side of one split virtqueue.
#[derive(Debug)]
pub struct SplitQueue {
    index: u16,
    size: u16,
    desc_pa: u64,
    avail_pa: u64,
    used_pa: u64,
    /// Where to write `index` to notify the device.
    notify_va: u64,
    /// Free descriptors, chained through their `next` fields.
    free_head: u16,
    num_free: u16,
    /// Our copy of avail.idx (the next slot we publish).
    avail_idx: u16,
    /// How far we have consumed the used ring.
    last_used_idx: u16,
}

/// Returns the rings' pages. The owner must have reset the device first
/// (`VirtioBlk`'s drop does), so that it no longer reads or writes them.
impl Drop for SplitQueue {
    fn drop(&mut self) {
        for pa in [self.desc_pa, self.avail_pa, self.used_pa] {
            free_page(pa);
        }
    }
}

impl SplitQueue {
    /// Allocates the three rings for `size` entries (at most 256).
    pub fn new(index: u16, size: u16, notify_va: u64) -> SplitQueue {
        assert!(size > 0 && size <= 256, "queue size {size}");
        let page = || alloc_zeroed_page().expect("no memory for a virtqueue");
        let mut q = SplitQueue {
            index,
            size,
            desc_pa: page(),
            avail_pa: page(),
            used_pa: page(),
            notify_va,
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            last_used_idx: 0,
        };
        for i in 0..size {
            q.write_desc(i, 0, 0, 0, (i + 1) % size);
        }
        q
    }

    pub fn desc_pa(&self) -> u64 {
        self.desc_pa
    }
    pub fn avail_pa(&self) -> u64 {
        self.avail_pa
    }
    pub fn used_pa(&self) -> u64 {
        self.used_pa
    }
    pub fn size(&self) -> u16 {
        self.size
    }
    pub fn num_free(&self) -> u16 {
        self.num_free
    }
    /// The head descriptor the next [`Self::add_chain`] will use.
    pub fn next_head(&self) -> u16 {
        self.free_head
    }

    fn ptr<T>(pa: u64, offset: u64) -> *mut T {
        phys_to_virt(pa + offset) as *mut T
    }

    fn write_desc(&mut self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let base = i as u64 * DESC_SIZE;
        // SAFETY: the descriptor table page is ours and `i < size <= 256`
        // keeps the 16-byte entry inside it; the device only reads entries
        // we have published, and this one is free.
        unsafe {
            Self::ptr::<u64>(self.desc_pa, base).write_volatile(addr);
            Self::ptr::<u32>(self.desc_pa, base + 8).write_volatile(len);
            Self::ptr::<u16>(self.desc_pa, base + 12).write_volatile(flags);
            Self::ptr::<u16>(self.desc_pa, base + 14).write_volatile(next);
        }
    }

    fn desc_flags_next(&self, i: u16) -> (u16, u16) {
        let base = i as u64 * DESC_SIZE;
        // SAFETY: as in `write_desc`, read-only.
        unsafe {
            (
                Self::ptr::<u16>(self.desc_pa, base + 12).read_volatile(),
                Self::ptr::<u16>(self.desc_pa, base + 14).read_volatile(),
            )
        }
    }

    /// Puts a chain in the table and the available ring (not yet visible
    /// to the device: see [`Self::publish`]). Returns its head, or `None`
    /// if there are not enough free descriptors.
    pub fn add_chain(&mut self, bufs: &[Buffer]) -> Option<u16> {
        if bufs.is_empty() || bufs.len() > self.num_free as usize {
            return None;
        }
        let head = self.free_head;
        let mut i = head;
        for (n, b) in bufs.iter().enumerate() {
            let (_, next_free) = self.desc_flags_next(i);
            let mut flags = if b.is_device_writable {
                VIRTQ_DESC_F_WRITE
            } else {
                0
            };
            let is_last = n + 1 == bufs.len();
            if !is_last {
                flags |= VIRTQ_DESC_F_NEXT;
            }
            self.write_desc(i, b.pa, b.len, flags, if is_last { 0 } else { next_free });
            if is_last {
                self.free_head = next_free;
            }
            i = next_free;
        }
        self.num_free -= bufs.len() as u16;
        let slot = (self.avail_idx % self.size) as u64;
        // SAFETY: the avail page is ours; ring[slot] is at 4 + 2*slot.
        unsafe { Self::ptr::<u16>(self.avail_pa, 4 + 2 * slot).write_volatile(head) };
        self.avail_idx = self.avail_idx.wrapping_add(1);
        Some(head)
    }

    /// Makes every chain added so far visible to the device (writes
    /// `avail.idx`). Until then the device cannot see them, even if it
    /// polls the ring; this is what lets a plugged batch stay queued.
    pub fn publish(&mut self) {
        // The ring entries must be visible before the index that publishes them.
        fence(Ordering::Release);
        // SAFETY: avail.idx is at offset 2 of our avail page.
        unsafe { Self::ptr::<u16>(self.avail_pa, 2).write_volatile(self.avail_idx) };
    }

    /// Tells the device there is new work in the available ring.
    pub fn notify(&self) {
        fence(Ordering::SeqCst);
        // SAFETY: `notify_va` is this queue's notification register,
        // mapped by `VirtioPci::new`.
        unsafe { mmio_write(self.notify_va, self.index) };
    }

    /// Takes one finished chain from the used ring: (head, bytes written).
    /// Its descriptors go back to the free list.
    pub fn pop_used(&mut self) -> Option<(u16, u32)> {
        // SAFETY: used.idx is at offset 2 of the used page, written by the device.
        let used_idx = unsafe { Self::ptr::<u16>(self.used_pa, 2).read_volatile() };
        if used_idx == self.last_used_idx {
            return None;
        }
        // Read the entry only after seeing the index that published it.
        fence(Ordering::Acquire);
        let slot = (self.last_used_idx % self.size) as u64;
        // SAFETY: used ring entries {id u32, len u32} start at offset 4.
        let (id, len) = unsafe {
            (
                Self::ptr::<u32>(self.used_pa, 4 + 8 * slot).read_volatile(),
                Self::ptr::<u32>(self.used_pa, 8 + 8 * slot).read_volatile(),
            )
        };
        self.last_used_idx = self.last_used_idx.wrapping_add(1);
        self.free_chain(id as u16);
        Some((id as u16, len))
    }

    fn free_chain(&mut self, head: u16) {
        let mut i = head;
        loop {
            let (flags, next) = self.desc_flags_next(i);
            self.num_free += 1;
            if flags & VIRTQ_DESC_F_NEXT == 0 {
                self.write_desc(i, 0, 0, 0, self.free_head);
                break;
            }
            i = next;
        }
        self.free_head = head;
    }
}
