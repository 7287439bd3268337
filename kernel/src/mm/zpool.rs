//! A pool for compressed pages (Linux: zsmalloc, mm/zsmalloc.c), shared by
//! zswap and zram.
//!
//! Objects are grouped in size classes of 32-byte steps; each class packs
//! its objects into whole 4 KiB frames taken from the page allocator. A
//! handle names (frame, class, slot). A frame whose last object is freed
//! goes back to the allocator at once.
//!
//! Simplification: zsmalloc chains several pages into one "zspage" so that
//! objects of, say, 2.1 KiB waste little space; our classes use single
//! pages, so objects above 2 KiB take a whole page each. No compaction.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::page::{pa_to_pfn, pfn_to_pa, Pfn};
use super::page_alloc::{alloc_page, free_page};
use super::{phys_to_virt, OutOfMemory, PAGE_SIZE};

/// Size-class step in bytes.
const CLASS_STEP: usize = 32;
const NR_CLASSES: usize = PAGE_SIZE as usize / CLASS_STEP;

/// An object in the pool: frame, class and slot packed in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(u64);

impl Handle {
    fn new(pfn: Pfn, class: usize, slot: usize) -> Handle {
        Handle(((pfn as u64) << 16) | ((class as u64) << 8) | slot as u64)
    }
    fn pfn(self) -> Pfn {
        (self.0 >> 16) as Pfn
    }
    fn class(self) -> usize {
        ((self.0 >> 8) & 0xff) as usize
    }
    fn slot(self) -> usize {
        (self.0 & 0xff) as usize
    }
}

/// One frame of a class: which slots are taken.
#[derive(Debug)]
struct PoolPage {
    /// The size class this frame is cut into.
    class: usize,
    used: u128,
    nr_used: u32,
    is_on_partial: bool,
}

#[derive(Debug, Default)]
struct SizeClass {
    /// Frames with at least one free slot (stale entries are skipped).
    partial: Vec<Pfn>,
}

/// Linux `struct zs_pool`.
pub struct ZPool {
    classes: Vec<SizeClass>,
    pages: BTreeMap<Pfn, PoolPage>,
    /// Bytes of live objects (compressed sizes).
    stored_bytes: u64,
}

fn class_of(len: usize) -> usize {
    len.div_ceil(CLASS_STEP).max(1) - 1
}

fn class_size(class: usize) -> usize {
    (class + 1) * CLASS_STEP
}

fn slots_per_page(class: usize) -> usize {
    (PAGE_SIZE as usize / class_size(class)).min(128)
}

impl ZPool {
    pub fn new() -> ZPool {
        ZPool {
            classes: (0..NR_CLASSES).map(|_| SizeClass::default()).collect(),
            pages: BTreeMap::new(),
            stored_bytes: 0,
        }
    }

    /// Drops the classes' stale partial lists, and the map's empty root
    /// node (a `BTreeMap` keeps it), once the pool is empty.
    pub fn trim(&mut self) {
        if self.pages.is_empty() {
            self.pages = BTreeMap::new();
            for class in &mut self.classes {
                class.partial = Vec::new();
            }
        }
    }

    /// Frames the pool holds (what it costs in memory).
    pub fn nr_pages(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Bytes of compressed data stored.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Linux `zs_malloc` + copy: stores `data` (at most a page).
    pub fn store(&mut self, data: &[u8]) -> Result<Handle, OutOfMemory> {
        assert!(!data.is_empty() && data.len() <= PAGE_SIZE as usize);
        let class = class_of(data.len());
        let pfn = self.page_with_room(class)?;
        let page = self.pages.get_mut(&pfn).expect("pool page");
        let slot = (!page.used).trailing_zeros() as usize;
        page.used |= 1 << slot;
        page.nr_used += 1;
        if page.nr_used as usize == slots_per_page(class) {
            page.is_on_partial = false;
            self.classes[class].partial.retain(|&p| p != pfn);
        }
        let handle = Handle::new(pfn, class, slot);
        // SAFETY: the slot lies inside a frame the pool owns, and is ours.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.obj_ptr(handle), data.len()) };
        self.stored_bytes += data.len() as u64;
        Ok(handle)
    }

    /// A frame of `class` with a free slot, allocating one if needed.
    fn page_with_room(&mut self, class: usize) -> Result<Pfn, OutOfMemory> {
        while let Some(&pfn) = self.classes[class].partial.last() {
            match self.pages.get(&pfn) {
                // A stale entry may name a frame that was freed and is now
                // reused by another class: it must be ours, on the list,
                // and not full.
                Some(p)
                    if p.class == class
                        && p.is_on_partial
                        && (p.nr_used as usize) < slots_per_page(class) =>
                {
                    return Ok(pfn)
                }
                _ => {
                    self.classes[class].partial.pop();
                }
            }
        }
        let pfn = pa_to_pfn(alloc_page()?);
        self.pages.insert(
            pfn,
            PoolPage {
                class,
                used: 0,
                nr_used: 0,
                is_on_partial: true,
            },
        );
        self.classes[class].partial.push(pfn);
        Ok(pfn)
    }

    fn obj_ptr(&self, h: Handle) -> *mut u8 {
        (phys_to_virt(pfn_to_pa(h.pfn())) as *mut u8).wrapping_add(h.slot() * class_size(h.class()))
    }

    /// Linux `zs_obj_read_begin`: the object's bytes (`len` as stored).
    pub fn read(&self, h: Handle, len: usize) -> &[u8] {
        assert!(
            len <= class_size(h.class()),
            "object length beyond its class"
        );
        assert!(self.pages.contains_key(&h.pfn()), "stale zpool handle");
        // SAFETY: the handle names a live object in a frame we own; the
        // slice stays inside its slot and lives as long as `&self`.
        unsafe { core::slice::from_raw_parts(self.obj_ptr(h), len) }
    }

    /// Linux `zs_free`: `len` is the stored length (for the byte count).
    pub fn free(&mut self, h: Handle, len: usize) {
        let class = h.class();
        let page = self.pages.get_mut(&h.pfn()).expect("stale zpool handle");
        assert!(page.used & (1 << h.slot()) != 0, "zpool double free");
        page.used &= !(1 << h.slot());
        page.nr_used -= 1;
        self.stored_bytes -= len as u64;
        if page.nr_used == 0 {
            self.pages.remove(&h.pfn());
            self.classes[class].partial.retain(|&p| p != h.pfn());
            free_page(pfn_to_pa(h.pfn()));
        } else if !page.is_on_partial {
            page.is_on_partial = true;
            self.classes[class].partial.push(h.pfn());
        }
    }
}

impl Default for ZPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression test: a frame freed by one class and handed back to the
    /// pool for another class must not be reused through a stale entry of
    /// the first class (objects would overlap).
    #[test_case]
    fn freed_frame_reused_by_another_class_is_not_shared() {
        let mut pool = ZPool::new();
        let small = [1u8; 20];
        let h = pool.store(&small).unwrap();
        pool.free(h, small.len());
        let big = [2u8; 1000];
        let hb = pool.store(&big).unwrap(); // likely the same frame again
        let hs = pool.store(&small).unwrap();
        assert!(
            hs.pfn() != hb.pfn() || hs.class() == hb.class(),
            "two classes share a frame"
        );
        assert_eq!(
            pool.read(hb, 1000),
            &big[..],
            "the big object was overwritten"
        );
        assert_eq!(pool.read(hs, 20), &small[..]);
    }

    #[test_case]
    fn objects_pack_into_pages_and_pages_return() {
        let before = super::super::page_alloc::nr_free_pages();
        let mut pool = ZPool::new();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let handles: Vec<Handle> = (0..8).map(|_| pool.store(&data).unwrap()).collect();
        // 1000 bytes -> 1024-byte class -> 4 per page.
        assert_eq!(pool.nr_pages(), 2);
        assert_eq!(pool.stored_bytes(), 8000);
        for h in &handles {
            assert_eq!(pool.read(*h, 1000), &data[..]);
        }
        for h in handles {
            pool.free(h, 1000);
        }
        assert_eq!(pool.nr_pages(), 0);
        assert_eq!(super::super::page_alloc::nr_free_pages(), before);
    }
}
