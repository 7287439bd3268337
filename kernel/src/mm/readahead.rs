//! File readahead (Linux mm/readahead.c, the on-demand algorithm as of
//! 6.18, for a file system without large folios such as ext2).
//!
//! Each open file keeps a window ([`FileRaState`]):
//!
//! ```text
//!                        |<----- async_size ---------|
//!     |------------------- size -------------------->|
//!     |==================#===========================|
//!     ^start             ^page marked with PG_readahead
//! ```
//!
//! A read that misses the cache starts *synchronous* readahead
//! ([`page_cache_sync_ra`]): at the start of a file, or right after the
//! previous read, a new window of `get_init_ra_size` pages; after a jump,
//! only if the pages before it are cached (a stream the state lost),
//! otherwise just the pages asked for. The page at `start + size -
//! async_size` is marked `READAHEAD`; reaching it starts the next window
//! early, *asynchronously* ([`page_cache_async_ra`]), so a sequential
//! reader finds its pages already read. Windows grow x4 then x2 up to
//! `ra_pages` (32 pages, 128 KiB).
//!
//! Simplifications: the optimal I/O size of the device (`bdi->io_pages`)
//! is taken to be `ra_pages`, so reads larger than the window are not
//! read as one bigger window; no `FMODE_RANDOM` (no `fadvise`) and no
//! cgroup I/O congestion check.

use alloc::vec::Vec;

use super::filemap::{page_cache_alloc, read_pages, CacheEntry};
use super::page::{flags, Pfn};
use super::state::MmState;
use super::PAGE_SIZE;

/// Linux `struct file_ra_state` (without `ra_pages`, which is the
/// device's, in `PageCache`, and `mmap_miss`: no file is mapped).
#[derive(Debug, Clone, Copy)]
pub struct FileRaState {
    pub start: u64,
    pub size: u64,
    pub async_size: u64,
    /// Folio order of the last window (only its alignment effect in
    /// `page_cache_async_ra` remains: ext2 has order-0 folios).
    pub order: u32,
    /// Where the previous read ended (a byte offset); `u64::MAX` before
    /// the first read (Linux `file_ra_state_init`: `prev_pos = -1`).
    pub prev_pos: u64,
}

impl Default for FileRaState {
    fn default() -> Self {
        FileRaState {
            start: 0,
            size: 0,
            async_size: 0,
            order: 0,
            prev_pos: u64::MAX,
        }
    }
}

/// Linux `get_init_ra_size`: the first window for a read of `size`
/// pages: rounded up to a power of two, then x4 when small, x2 when
/// medium, the maximum when large.
fn get_init_ra_size(size: u64, max: u64) -> u64 {
    let newsize = size.next_power_of_two();
    if newsize <= max / 32 {
        newsize * 4
    } else if newsize <= max / 4 {
        newsize * 2
    } else {
        max
    }
}

/// Linux `get_next_ra_size`: ramp the window up, x4 while small, x2 up to
/// half the maximum, then the maximum.
fn get_next_ra_size(cur: u64, max: u64) -> u64 {
    if cur < max / 16 {
        4 * cur
    } else if cur <= max / 2 {
        2 * cur
    } else {
        max
    }
}

/// Linux `page_cache_prev_miss`: the first index at or below `index`,
/// looking back at most `max_scan` pages, that has no page (a shadow is
/// a miss). `None` if the walk went past the start of the file with every
/// page present (Linux returns `ULONG_MAX`); `index - max_scan` if it
/// found no gap within `max_scan`.
fn page_cache_prev_miss(st: &MmState, file: u16, index: u64, max_scan: u64) -> Option<u64> {
    let mapping = &st.page_cache.files[file as usize];
    let mut i = index;
    for _ in 0..max_scan {
        if mapping.folio(i).is_none() {
            return Some(i);
        }
        if i == 0 {
            return None;
        }
        i -= 1;
    }
    Some(i)
}

/// Linux `page_cache_next_miss`: the first index at or above `index`,
/// within `max_scan` pages, with no page (or `index + max_scan`).
fn page_cache_next_miss(st: &MmState, file: u16, index: u64, max_scan: u64) -> u64 {
    let mapping = &st.page_cache.files[file as usize];
    (index..index + max_scan)
        .find(|&i| !matches!(mapping.i_pages.get(&(i as u32)), Some(CacheEntry::Folio(_))))
        .unwrap_or(index + max_scan)
}

/// Linux `page_cache_ra_unbounded`: adds pages `index..index + nr_to_read`
/// that are not cached yet, marks the one `lookahead_size` before the end
/// `READAHEAD`, and starts their reads. A page already cached splits the
/// batch; a page that cannot be charged (its `__GFP_NORETRY` charge gave
/// up after little reclaim) ends the readahead, as in Linux.
fn page_cache_ra_unbounded(
    st: &mut MmState,
    file: u16,
    index: u64,
    nr_to_read: u64,
    lookahead_size: u64,
    req_index: u64,
) {
    let mark = (lookahead_size <= nr_to_read).then(|| nr_to_read - lookahead_size);
    let mut batch: Vec<Pfn> = Vec::new();
    for i in 0..nr_to_read {
        let at = index + i;
        if st.page_cache.files[file as usize].folio(at).is_some() {
            read_pages(st, &batch);
            batch.clear();
            continue;
        }
        let Ok(pfn) = page_cache_alloc(st, file, at, true) else {
            break;
        };
        if Some(i) == mark {
            st.mem_map.get_mut(pfn).set(flags::READAHEAD);
        }
        if at != req_index {
            st.page_cache.stats.ra_pages += 1;
        }
        batch.push(pfn);
    }
    read_pages(st, &batch);
}

/// Linux `do_page_cache_ra`: [`page_cache_ra_unbounded`], not past the
/// page holding the file's last byte, and with no readahead mark when the
/// window reaches it (recent mm/readahead.c: nothing to read after EOF).
fn do_page_cache_ra(
    st: &mut MmState,
    file: u16,
    index: u64,
    nr_to_read: u64,
    lookahead_size: u64,
    req_index: u64,
) {
    let size = st.page_cache.files[file as usize].size;
    if size == 0 {
        return;
    }
    let end_index = (size - 1) / PAGE_SIZE;
    if index > end_index {
        return;
    }
    let (mut nr, mut lookahead_size) = (nr_to_read, lookahead_size);
    if nr > end_index - index {
        nr = end_index - index + 1;
        // "We've reached the end, so don't set a readahead marker."
        lookahead_size = 0;
    }
    page_cache_ra_unbounded(st, file, index, nr, lookahead_size, req_index);
}

/// Reads the window `ra` describes (Linux `page_cache_ra_order`, which
/// for a mapping without large folios sets the order to 0 and falls back
/// to `do_page_cache_ra`).
fn read_window(st: &mut MmState, file: u16, ra: &mut FileRaState, req_index: u64) {
    ra.order = 0;
    do_page_cache_ra(st, file, ra.start, ra.size, ra.async_size, req_index);
}

/// Linux `page_cache_sync_ra`: the read of `req_count` pages from `index`
/// missed the cache at `index`.
pub fn page_cache_sync_ra(
    st: &mut MmState,
    file: u16,
    ra: &mut FileRaState,
    index: u64,
    req_count: u64,
) {
    let max_pages = st.page_cache.ra_pages;
    if max_pages == 0 {
        // Readahead off: read just the page (`force_page_cache_ra` of 1).
        do_page_cache_ra(st, file, index, 1, 0, index);
        return;
    }
    let prev_index = ra.prev_pos / PAGE_SIZE;
    // Start of file, oversized read, or sequential miss (unsigned in
    // Linux: a read before the previous one is not "<= 1" away).
    let is_sequential = index >= prev_index && index - prev_index <= 1;
    if index == 0 || req_count > max_pages || is_sequential {
        ra.start = index;
        ra.size = get_init_ra_size(req_count, max_pages);
        ra.async_size = if ra.size > req_count {
            ra.size - req_count
        } else {
            ra.size >> 1
        };
        read_window(st, file, ra, index);
        return;
    }
    // Look for the trace a sequential stream would leave in the cache.
    let miss = page_cache_prev_miss(st, file, index - 1, max_pages);
    let mut contig_count = match miss {
        Some(m) => index - m - 1,
        None => index,
    };
    if contig_count <= req_count {
        // A small random read: read just it, keep the state as it is.
        do_page_cache_ra(st, file, index, req_count, 0, index);
        return;
    }
    // Cached from the start of the file: a long stream or a whole-file read.
    if miss.is_none() {
        contig_count *= 2;
    }
    ra.start = index;
    ra.size = (contig_count + req_count).min(max_pages);
    ra.async_size = 1;
    read_window(st, file, ra, index);
}

/// Linux `page_cache_async_ra`: the read reached page `pfn` at `index`,
/// marked `READAHEAD`: start the next window now.
pub fn page_cache_async_ra(
    st: &mut MmState,
    file: u16,
    ra: &mut FileRaState,
    pfn: Pfn,
    index: u64,
    req_count: u64,
) {
    let max_pages = st.page_cache.ra_pages;
    if max_pages == 0 || st.mem_map.get(pfn).test(flags::WRITEBACK) {
        return;
    }
    st.mem_map.get_mut(pfn).clear(flags::READAHEAD);
    let expected = ra.start + ra.size - ra.async_size;
    if index == expected {
        // The expected marker: a sequential reader. Push the window on.
        ra.start += ra.size;
        ra.size = ra.size.max(get_next_ra_size(ra.size, max_pages));
    } else {
        // A marked page without matching state (interleaved readers):
        // the cached run after it is the old async part; ramp it up.
        let start = page_cache_next_miss(st, file, index + 1, max_pages);
        if start - index > max_pages {
            return;
        }
        ra.start = start;
        ra.size = start - index + req_count;
        ra.size = get_next_ra_size(ra.size, max_pages);
    }
    // Linux bumps the order by 2 and trims the window's end to that
    // alignment (capped by max_pages' own alignment), even when the
    // mapping then reads order-0 pages.
    ra.order += 2;
    let align = 1u64 << ra.order.min(max_pages.trailing_zeros());
    let end = ra.start + ra.size;
    let aligned_end = end - end % align;
    if aligned_end > ra.start {
        ra.size -= end - aligned_end;
    }
    ra.async_size = ra.size;
    read_window(st, file, ra, u64::MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn window_sizes_ramp_up_as_in_linux() {
        // "1-2 page = 16k, 3-4 page 32k, 5-8 page = 64k, > 8 page = 128k
        // initial" for a 32-page maximum (mm/readahead.c).
        let max = 32;
        assert_eq!(get_init_ra_size(1, max), 4);
        assert_eq!(get_init_ra_size(2, max), 4);
        assert_eq!(get_init_ra_size(3, max), 8);
        assert_eq!(get_init_ra_size(8, max), 16);
        assert_eq!(get_init_ra_size(9, max), 32);
        assert_eq!(get_next_ra_size(1, max), 4);
        assert_eq!(get_next_ra_size(4, max), 8);
        assert_eq!(get_next_ra_size(16, max), 32);
        assert_eq!(get_next_ra_size(32, max), 32);
    }
}
