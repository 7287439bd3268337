//! A virtio-blk disk as an ext2 [`BlockDevice`]: byte reads turned into
//! page reads, one request at a time, waiting for each (Linux reads file
//! system metadata through the block device's page cache, `sb_bread`;
//! here one page is remembered, since the reader asks for small pieces of
//! the same block in a row).

use crate::drivers::virtio::blk::{BlkOp, VirtioBlk};
use crate::fs::ext2::{BlockDevice, Ext2Error};
use crate::mm::page_alloc::{alloc_page, free_page};
use crate::mm::{phys_to_virt, PAGE_SIZE};

/// A disk read synchronously through one bounce page.
pub struct DiskReader {
    blk: VirtioBlk,
    page_pa: u64,
    /// Disk offset of the page held in `page_pa`, if any.
    cached: Option<u64>,
    /// Page reads sent to the disk (for tests and reports).
    pub reads: u64,
}

impl DiskReader {
    pub fn new(blk: VirtioBlk) -> Self {
        DiskReader {
            blk,
            page_pa: alloc_page().expect("no memory for a disk reader"),
            cached: None,
            reads: 0,
        }
    }

    /// Gives the disk back (the bounce page is freed).
    pub fn into_inner(self) -> VirtioBlk {
        let this = core::mem::ManuallyDrop::new(self);
        free_page(this.page_pa);
        // SAFETY: `this` is never dropped or used again, so the disk is
        // moved out exactly once.
        unsafe { core::ptr::read(&this.blk) }
    }

    /// Makes the page at disk offset `pos` (page aligned) the cached one.
    fn load(&mut self, pos: u64) -> Result<(), Ext2Error> {
        if self.cached == Some(pos) {
            return Ok(());
        }
        self.cached = None;
        let mut result = Ok(());
        self.blk
            .submit(BlkOp::Read, pos, self.page_pa, 0)
            .expect("one request at a time never fills the queue");
        while self.blk.in_flight() > 0 {
            self.blk.wait_and_poll(|_, r| result = r);
        }
        self.reads += 1;
        result.map_err(|_| Ext2Error::DeviceError { offset: pos })?;
        self.cached = Some(pos);
        Ok(())
    }
}

impl BlockDevice for DiskReader {
    fn size(&self) -> u64 {
        self.blk.capacity_bytes()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        let size = self.size();
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > size)
        {
            return Err(Ext2Error::Io {
                offset,
                len: buf.len(),
                size,
            });
        }
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let page = pos - pos % PAGE_SIZE;
            self.load(page)?;
            let in_page = (pos - page) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            // SAFETY: our bounce page, filled by the completed read.
            let src = unsafe {
                core::slice::from_raw_parts(
                    phys_to_virt(self.page_pa) as *const u8,
                    PAGE_SIZE as usize,
                )
            };
            buf[done..done + n].copy_from_slice(&src[in_page..in_page + n]);
            done += n;
        }
        Ok(())
    }
}

impl Drop for DiskReader {
    fn drop(&mut self) {
        free_page(self.page_pa);
    }
}
