//! The physical frame allocator (Linux: the buddy allocator in
//! mm/page_alloc.c, `alloc_page`/`__free_page`).
//!
//! Simplification: one bitmap over all of physical memory, one bit per 4 KiB
//! frame (1 = in use), with a next-fit cursor. No orders (we only ever need
//! single pages), no zones, no per-CPU lists. Frees are checked: freeing a
//! free frame is a bug and panics. The free/used counts are what the leak
//! checks in the tests compare.

use spin::Mutex;

use super::{phys_to_virt, OutOfMemory, PAGE_SIZE};

/// A usable RAM range `[start, end)` from the boot memory map.
#[derive(Debug, Clone, Copy)]
pub struct RamRange {
    pub start: u64,
    pub end: u64,
}

struct FrameBitmap {
    /// The bitmap itself, reached through the direct map.
    words: *mut u64,
    nr_frames: usize,
    nr_free: usize,
    nr_usable: usize,
    /// Next word to look at (next-fit).
    cursor: usize,
}

// SAFETY: the raw pointer is only dereferenced under the ALLOCATOR lock.
unsafe impl Send for FrameBitmap {}

static ALLOCATOR: Mutex<Option<FrameBitmap>> = Mutex::new(None);

impl FrameBitmap {
    fn word(&self, i: usize) -> u64 {
        // SAFETY: i < nr_words, checked by callers; memory is ours.
        unsafe { self.words.add(i).read() }
    }

    fn set_word(&mut self, i: usize, value: u64) {
        // SAFETY: as above.
        unsafe { self.words.add(i).write(value) }
    }

    fn nr_words(&self) -> usize {
        self.nr_frames.div_ceil(64)
    }

    fn is_used(&self, pfn: usize) -> bool {
        self.word(pfn / 64) & (1 << (pfn % 64)) != 0
    }

    fn set_used(&mut self, pfn: usize, used: bool) {
        let w = self.word(pfn / 64);
        let bit = 1u64 << (pfn % 64);
        self.set_word(pfn / 64, if used { w | bit } else { w & !bit });
    }

    fn alloc(&mut self) -> Option<u64> {
        let n = self.nr_words();
        for step in 0..n {
            let i = (self.cursor + step) % n;
            let w = self.word(i);
            if w == u64::MAX {
                continue;
            }
            let pfn = i * 64 + (!w).trailing_zeros() as usize;
            if pfn >= self.nr_frames {
                continue;
            }
            self.set_used(pfn, true);
            self.nr_free -= 1;
            self.cursor = i;
            return Some(pfn as u64 * PAGE_SIZE);
        }
        None
    }

    fn free(&mut self, pa: u64) {
        let pfn = (pa / PAGE_SIZE) as usize;
        assert!(
            pa.is_multiple_of(PAGE_SIZE),
            "free_page({pa:#x}): not page aligned"
        );
        assert!(pfn < self.nr_frames, "free_page({pa:#x}): beyond RAM");
        assert!(self.is_used(pfn), "free_page({pa:#x}): double free");
        self.set_used(pfn, false);
        self.nr_free += 1;
    }
}

/// Builds the allocator from the usable RAM ranges. The bitmap is placed in
/// the first range large enough to hold it, and those frames are marked used.
/// Frame 0 is never handed out, so that 0 can never be a valid frame.
///
/// Called once, at boot, while the bootloader's direct map is live.
pub fn init(ranges: &[RamRange]) {
    let max_pa = ranges.iter().map(|r| r.end).max().unwrap_or(0);
    let nr_frames = (max_pa / PAGE_SIZE) as usize;
    let bitmap_bytes = (nr_frames.div_ceil(64) * 8) as u64;
    let bitmap_pages = bitmap_bytes.div_ceil(PAGE_SIZE);
    let home = ranges
        .iter()
        .map(|r| (super::page_align_up(r.start), r.end))
        .find(|&(s, e)| s.max(PAGE_SIZE) + bitmap_pages * PAGE_SIZE <= e)
        .expect("no RAM range can hold the frame bitmap");
    let bitmap_pa = home.0.max(PAGE_SIZE);
    let words = phys_to_virt(bitmap_pa) as *mut u64;
    let mut bm = FrameBitmap {
        words,
        nr_frames,
        nr_free: 0,
        nr_usable: 0,
        cursor: 0,
    };
    for i in 0..bm.nr_words() {
        bm.set_word(i, u64::MAX);
    }
    for r in ranges {
        let first = super::page_align_up(r.start).max(PAGE_SIZE) / PAGE_SIZE;
        let last = r.end / PAGE_SIZE;
        for pfn in first..last {
            bm.set_used(pfn as usize, false);
            bm.nr_free += 1;
        }
    }
    for page in 0..bitmap_pages {
        bm.set_used((bitmap_pa / PAGE_SIZE + page) as usize, true);
        bm.nr_free -= 1;
    }
    bm.nr_usable = bm.nr_free;
    *ALLOCATOR.lock() = Some(bm);
}

fn with<R>(f: impl FnOnce(&mut FrameBitmap) -> R) -> R {
    let mut guard = ALLOCATOR.lock();
    f(guard.as_mut().expect("page allocator not initialised"))
}

/// Linux `alloc_page`: one frame, contents undefined.
pub fn alloc_page() -> Result<u64, OutOfMemory> {
    with(|bm| bm.alloc()).ok_or(OutOfMemory)
}

/// Linux `get_zeroed_page`: one frame filled with zeros.
pub fn alloc_zeroed_page() -> Result<u64, OutOfMemory> {
    let pa = alloc_page()?;
    // SAFETY: the frame is ours (just allocated) and mapped in the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, PAGE_SIZE as usize) };
    Ok(pa)
}

/// Linux `__free_page`. Panics on a double free.
pub fn free_page(pa: u64) {
    with(|bm| bm.free(pa))
}

/// Frames currently free (Linux `nr_free_pages`).
pub fn nr_free_pages() -> usize {
    with(|bm| bm.nr_free)
}

/// Frames the allocator manages in total (Linux `totalram_pages`).
pub fn totalram_pages() -> usize {
    with(|bm| bm.nr_usable)
}

/// Number of frame numbers the allocator covers (highest PFN + 1).
pub fn max_pfn() -> usize {
    with(|bm| bm.nr_frames)
}

/// Frames currently allocated.
pub fn nr_used_pages() -> usize {
    with(|bm| bm.nr_usable - bm.nr_free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test_case]
    fn counts_return_after_free() {
        let before = nr_free_pages();
        let pages: Vec<u64> = (0..100).map(|_| alloc_page().unwrap()).collect();
        assert_eq!(nr_free_pages(), before - 100);
        for pa in pages {
            free_page(pa);
        }
        assert_eq!(nr_free_pages(), before);
    }

    #[test_case]
    fn no_double_allocation() {
        let mut pages: Vec<u64> = (0..2000).map(|_| alloc_page().unwrap()).collect();
        pages.sort_unstable();
        let n = pages.len();
        pages.dedup();
        assert_eq!(pages.len(), n, "a frame was handed out twice");
        assert!(pages.iter().all(|&pa| pa != 0 && pa % PAGE_SIZE == 0));
        for pa in pages {
            free_page(pa);
        }
    }

    #[test_case]
    fn zeroed_page_is_zero() {
        let pa = alloc_page().unwrap();
        // SAFETY: we own the frame.
        unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0xAB, 4096) };
        free_page(pa);
        let pa = alloc_zeroed_page().unwrap();
        // SAFETY: we own the frame.
        let bytes = unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, 4096) };
        assert!(bytes.iter().all(|&b| b == 0));
        free_page(pa);
    }
}
