//! Writing a file through the page cache: the write side of Linux
//! mm/filemap.c (`generic_perform_write` and a file system's
//! `write_begin`). The pages it dirties are written to the disk later, by
//! writeback ([`super::page_writeback`]).

use super::filemap::{
    page_cache_alloc, read_pages, wait_writeback, File, FileDev, Lookup, ReadError,
};
use super::page::{flags, pfn_to_pa};
use super::page_writeback::{balance_dirty_pages_ratelimited, folio_mark_dirty};
use super::state::{with_mm_state, MmState};
use super::PAGE_SIZE;

/// Linux `write_begin` (`grab_cache_page_write_begin`, with
/// `simple_write_begin`'s zeroing): the page at `index` of `file`, ready
/// for a write, which covers all of it when `whole`. A page not in the
/// cache is created; its old contents are read first only if the write
/// keeps part of them and the file had data there. A page being read or
/// written is waited for (Linux waits for writeback here only on disks
/// that need stable pages; waiting keeps the disk's copy whole).
fn write_begin(st: &mut MmState, id: u16, index: u64, whole: bool) -> Result<Lookup, ReadError> {
    let mapping = &st.page_cache.files[id as usize];
    if let Some(pfn) = mapping.folio(index) {
        let page = st.mem_map.get(pfn);
        if page.test(flags::LOCKED) {
            return Ok(Lookup::Wait(pfn));
        }
        if page.test(flags::WRITEBACK) {
            return Ok(Lookup::WaitWriteback(pfn));
        }
        if page.test(flags::UPTODATE) || whole {
            return Ok(Lookup::Ready(pfn));
        }
        // Its read failed, and the write needs what it holds: fail the
        // write (as a read fails, `filemap_get_page`), dropping the page so
        // that a later call tries the disk again.
        super::vmscan::drop_file_page(st, pfn);
        let file = mapping_name(st, id);
        return Err(ReadError::Io {
            file,
            offset: index * PAGE_SIZE,
        });
    }
    let needs_read = !whole && st.page_cache.files[id as usize].has_data(index);
    let pfn = page_cache_alloc(st, id, index, false).map_err(|_| ReadError::OutOfMemory)?;
    if needs_read {
        read_pages(st, &[pfn]);
        return Ok(Lookup::Wait(pfn));
    }
    // SAFETY: a new page, locked: nobody else uses it.
    unsafe { super::zswap::page_bytes(pfn_to_pa(pfn)) }.fill(0);
    let page = st.mem_map.get_mut(pfn);
    page.clear(flags::LOCKED);
    page.set(flags::UPTODATE);
    Ok(Lookup::Ready(pfn))
}

/// Linux `generic_perform_write`: writes `data` into `file` at `pos`
/// through the page cache, never past the file's size (an object file
/// gets its size when it is created). For each page: `write_begin`, copy
/// in, `folio_mark_dirty`, then `balance_dirty_pages_ratelimited`, which
/// may start writeback or make the writer wait for it. A write does not
/// mark a page accessed (Linux's `FGP_WRITEBEGIN` has no
/// `FGP_ACCESSED`). `data` must be kernel memory: it is copied with the mm
/// lock held, where a fault on workload memory could not be served.
/// Returns the bytes written.
pub fn generic_perform_write(file: &mut File, pos: u64, data: &[u8]) -> Result<u64, ReadError> {
    let (size, dev) = with_mm_state(|st| {
        let mapping = &st.page_cache.files[file.id as usize];
        (mapping.size, mapping.dev)
    });
    if dev != FileDev::Objects {
        let file = with_mm_state(|st| mapping_name(st, file.id));
        return Err(ReadError::ReadOnly { file });
    }
    let end = pos.saturating_add(data.len() as u64).min(size);
    let mut at = pos;
    while at < end {
        let index = at / PAGE_SIZE;
        let in_page = (at % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - in_page).min((end - at) as usize);
        let src = &data[(at - pos) as usize..][..n];
        let whole = n == PAGE_SIZE as usize || (in_page == 0 && at + n as u64 == size);
        let (lookup, throttle) = with_mm_state(|st| {
            let lookup = write_begin(st, file.id, index, whole)?;
            let Lookup::Ready(pfn) = lookup else {
                return Ok((lookup, None));
            };
            // SAFETY: an uptodate page-cache page, unlocked but ours while
            // we hold the mm lock.
            let dst = unsafe { super::zswap::page_bytes(pfn_to_pa(pfn)) };
            dst[in_page..in_page + n].copy_from_slice(src);
            st.page_cache.files[file.id as usize].note_written(index, dst);
            let page = st.mem_map.get_mut(pfn);
            page.clear(flags::ERROR);
            page.set(flags::UPTODATE);
            folio_mark_dirty(st, pfn);
            Ok((lookup, balance_dirty_pages_ratelimited(st)))
        })?;
        match lookup {
            Lookup::Wait(_) | Lookup::WaitWriteback(_) => lookup.wait(),
            Lookup::Ready(_) => {
                at += n as u64;
                if let Some(pfn) = throttle {
                    wait_writeback(pfn);
                }
            }
        }
    }
    Ok(end.saturating_sub(pos))
}

/// The file's path, for an error.
fn mapping_name(st: &MmState, id: u16) -> alloc::string::String {
    st.page_cache.files[id as usize].name.clone()
}
