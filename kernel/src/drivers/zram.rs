//! zram: a swap device in RAM that stores pages lz4-compressed (Linux
//! drivers/block/zram). It is *synchronous* (`SWP_SYNCHRONOUS_IO`): a read
//! is a decompression done on the spot, so Linux skips readahead for it
//! (commit 0bcac06f27d7) and frees the slot as soon as the page is mapped.
//!
//! Its memory is not charged to the workload's memory cgroup (in Linux it
//! belongs to the zram device, not to the cgroup). Pages that do not
//! compress are stored whole. A never-written slot reads as zeros.

use alloc::vec::Vec;

use crate::mm::zcomp::{self, MAX_COMPRESSED};
use crate::mm::zpool::{Handle, ZPool};
use crate::mm::{OutOfMemory, PAGE_SIZE};

/// One zram device.
pub struct Zram {
    /// Per slot: the stored object and its length.
    table: Vec<Option<(Handle, u32)>>,
    pool: ZPool,
}

impl Zram {
    /// A device of `disksize` bytes.
    pub fn new(disksize: u64) -> Zram {
        let slots = (disksize / PAGE_SIZE) as usize;
        Zram {
            table: alloc::vec![None; slots],
            pool: ZPool::new(),
        }
    }

    /// Gives back what the pool's lists grew to once it is empty (the
    /// leak check counts heap bytes).
    pub fn trim(&mut self) {
        self.pool.trim();
    }

    pub fn capacity_bytes(&self) -> u64 {
        self.table.len() as u64 * PAGE_SIZE
    }

    /// Frames the device uses for stored pages.
    pub fn pool_pages(&self) -> u64 {
        self.pool.nr_pages()
    }

    /// Writes one page to `slot` (compressing it). Fails only when no frame
    /// is left for the pool, and then the slot keeps its old contents.
    pub fn write(&mut self, slot: u32, src: &[u8]) -> Result<(), OutOfMemory> {
        let mut buf = [0u8; MAX_COMPRESSED];
        let len = zcomp::compress(src, &mut buf);
        let data = if len < PAGE_SIZE as usize {
            &buf[..len]
        } else {
            src
        };
        let handle = self.pool.store(data)?;
        self.discard(slot);
        self.table[slot as usize] = Some((handle, data.len() as u32));
        Ok(())
    }

    /// Reads `slot` into `dst`.
    pub fn read(&self, slot: u32, dst: &mut [u8]) {
        match self.table[slot as usize] {
            None => dst.fill(0),
            Some((h, len)) if len as u64 == PAGE_SIZE => {
                dst.copy_from_slice(self.pool.read(h, len as usize))
            }
            Some((h, len)) => zcomp::decompress(self.pool.read(h, len as usize), dst)
                .expect("zram object does not decompress"),
        }
    }

    /// Linux `zram_slot_free_notify`: the swap slot was freed.
    pub fn discard(&mut self, slot: u32) {
        if let Some((h, len)) = self.table[slot as usize].take() {
            self.pool.free(h, len as usize);
        }
    }
}
