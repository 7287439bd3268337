//! The page cache (Linux mm/filemap.c, simplified and named as in Linux).
//!
//! Every file the workload can read has an [`AddressSpace`]: its pages in
//! the cache, indexed by page number (Linux `mapping->i_pages`, an xarray;
//! here a B-tree map), and where each page lives on the files disk. A
//! page-cache page is an ordinary frame with `FILE` set, charged to the
//! memory cgroup like an anonymous page and kept on the file LRU lists,
//! where reclaim finds it ([`super::vmscan`]). A clean file page is
//! dropped without any I/O: its data is still on the disk. It leaves a
//! workingset *shadow* in its slot, so that reading it again is a counted
//! refault (`workingset_refault_file`) that can activate it at once.
//!
//! [`filemap_read`] is Linux `filemap_read` for one `read()` call: for
//! each page, look it up; on a miss start synchronous readahead
//! (`page_cache_sync_ra`); on a page marked `READAHEAD` start the next
//! window early (`page_cache_async_ra`); wait while the page is locked
//! for its read; copy it out; `folio_mark_accessed`. The readahead
//! window logic is in [`super::readahead`].
//!
//! [`super::filemap_write::generic_perform_write`] writes a file through the cache: the pages
//! become dirty, and writeback ([`super::page_writeback`]) writes them to
//! the disk later. Two disks hold files: the read-only files disk (the
//! build's sources and headers, an ext2 image) and the objects disk, a
//! scratch disk the build's object files are created on
//! ([`crate::fs::objects`]). A file lives on one of them ([`FileDev`]).
//!
//! Simplifications, each where Linux's behaviour would not change what a
//! build's memory sees: files are never mapped (`mmap`); only object
//! files are written, each created once with its final size; the file set
//! is opened once before the workload runs (every inode and block map is
//! read then, like a warm dentry, inode and buffer cache: only file
//! *data* goes through this cache); one page per folio.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::lru::folio_mark_accessed;
use super::memcontrol::{mem_cgroup_charge, mem_cgroup_charge_noretry, ChargeFailed};
use super::page::{flags, pa_to_pfn, pfn_to_pa, Pfn};
use super::page_alloc::{alloc_page, free_page};
use super::page_io::{file_read_folio, plug, wait_on_page_locked};
use super::readahead::{page_cache_async_ra, page_cache_sync_ra, FileRaState};
use super::state::{with_mm_state, MmState};
use super::workingset::workingset_refault;
use super::{phys_to_virt, PAGE_SIZE};
use crate::drivers::virtio::blk::VirtioBlk;

/// Where file data is read from.
pub enum FileBacking {
    /// The files disk (`faultline run --files IMAGE`): asynchronous reads.
    Disk(alloc::boxed::Box<VirtioBlk>),
    /// An image in memory (kernel tests): read at once, like a disk that
    /// answers instantly, and counted as disk reads all the same.
    Memory(&'static [u8]),
}

/// Which disk a file is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDev {
    /// The read-only files disk (or its in-memory image, in tests).
    Files,
    /// The writable objects disk.
    Objects,
}

/// One slot of `i_pages`: the page, or the shadow an evicted page left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEntry {
    Folio(Pfn),
    Shadow(u32),
}

/// Linux `struct address_space` of one file.
pub struct AddressSpace {
    /// The file's path, for reports and errors.
    pub name: String,
    /// Linux `i_size`.
    pub size: u64,
    /// Byte offset on the disk of each page of the file; `None` for a
    /// hole, which reads as zeros without I/O.
    blocks: Vec<Option<u64>>,
    pub i_pages: BTreeMap<u32, CacheEntry>,
    /// Pages in the cache now (Linux `mapping->nrpages`).
    pub nrpages: u64,
    /// The disk `blocks` are on.
    pub dev: FileDev,
    /// When the file first had a dirty page since it was last clean
    /// (Linux `inode->dirtied_when`, in clock cycles); `None`: clean.
    pub dirtied_when: Option<u64>,
    /// Not in Linux: a checksum of each page as first read (0: not read
    /// yet), so that every later read, from the cache or from the disk
    /// after reclaim dropped the page, is verified against it.
    sums: Vec<u64>,
}

impl AddressSpace {
    /// A file of `size` bytes whose page `i` is at disk offset `blocks[i]`.
    pub fn new(name: String, size: u64, blocks: Vec<Option<u64>>) -> AddressSpace {
        debug_assert_eq!(blocks.len() as u64, size.div_ceil(PAGE_SIZE));
        AddressSpace {
            name,
            size,
            sums: alloc::vec![0; blocks.len()],
            blocks,
            i_pages: BTreeMap::new(),
            nrpages: 0,
            dev: FileDev::Files,
            dirtied_when: None,
        }
    }

    /// A new, empty file of `size` bytes on the objects disk, whose pages
    /// are the contiguous run from byte `base` on.
    pub fn new_object(name: String, size: u64, base: u64) -> AddressSpace {
        let blocks = (0..size.div_ceil(PAGE_SIZE))
            .map(|i| Some(base + i * PAGE_SIZE))
            .collect();
        AddressSpace {
            dev: FileDev::Objects,
            ..AddressSpace::new(name, size, blocks)
        }
    }

    /// Records what page `index` holds after a write: later reads are
    /// verified against it.
    pub fn note_written(&mut self, index: u64, page: &[u8]) {
        self.sums[index as usize] = page_sum(page);
    }

    /// Has page `index` ever held data (been read or written)?
    pub fn has_data(&self, index: u64) -> bool {
        self.sums[index as usize] != 0
    }

    /// Checks page `index`'s contents against its first read (or records
    /// them, on the first read). Returns whether they match.
    fn verify(&mut self, index: u64, page: &[u8]) -> bool {
        let sum = page_sum(page);
        let slot = &mut self.sums[index as usize];
        if *slot == 0 {
            *slot = sum;
        }
        *slot == sum
    }

    /// Pages in the file (the last one may be partial).
    pub fn nr_pages(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// The cached page at `index`, if there is one (Linux `filemap_get_folio`).
    pub fn folio(&self, index: u64) -> Option<Pfn> {
        match self.i_pages.get(&(index as u32)) {
            Some(CacheEntry::Folio(pfn)) => Some(*pfn),
            _ => None,
        }
    }

    /// Disk offset of page `index` (`None`: a hole).
    pub fn block(&self, index: u64) -> Option<u64> {
        self.blocks[index as usize]
    }
}

/// A checksum of a page (never 0, which means "none yet").
fn page_sum(page: &[u8]) -> u64 {
    let sum = page
        .as_chunks::<8>()
        .0
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15u64, |h, w| {
            (h ^ u64::from_le_bytes(*w))
                .rotate_left(23)
                .wrapping_mul(0x2545_f491_4f6c_dd1d)
        });
    sum.max(1)
}

/// Counts of the page cache, for tests and the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageCacheStats {
    /// Pages read from the backing store (holes excluded).
    pub reads: u64,
    /// Pages copied out by `filemap_read` and verified, and of those the
    /// ones whose contents differed from their first read.
    pub checked: u64,
    pub corrupt: u64,
    /// Of those, pages readahead read other than the one a read missed on.
    pub ra_pages: u64,
}

/// The objects disk and its allocator: each new file gets the next
/// contiguous run of pages (files are never deleted during a run, so a
/// bump allocator is all it needs).
pub struct ObjectStore {
    pub disk: alloc::boxed::Box<VirtioBlk>,
    /// First free byte.
    pub next_free: u64,
    pub capacity: u64,
}

/// All files and the store behind them.
pub struct PageCache {
    pub files: Vec<AddressSpace>,
    pub backing: Option<FileBacking>,
    pub objects: Option<ObjectStore>,
    /// Dirty-page and writeback state (Linux `struct bdi_writeback`).
    pub wb: super::page_writeback::Writeback,
    /// Linux `bdi->ra_pages` (`read_ahead_kb` 128 by default: 32 pages).
    pub ra_pages: u64,
    pub stats: PageCacheStats,
}

/// Linux `VM_READAHEAD_PAGES`: 128 KiB.
pub const VM_READAHEAD_PAGES: u64 = (128 << 10) / PAGE_SIZE;

impl PageCache {
    pub const fn new() -> PageCache {
        PageCache {
            files: Vec::new(),
            backing: None,
            objects: None,
            wb: super::page_writeback::Writeback::new(),
            ra_pages: VM_READAHEAD_PAGES,
            stats: PageCacheStats {
                reads: 0,
                checked: 0,
                corrupt: 0,
                ra_pages: 0,
            },
        }
    }

    /// Pages of all files in the cache.
    pub fn nrpages(&self) -> u64 {
        self.files.iter().map(|f| f.nrpages).sum()
    }

    /// The files disk, if that is the backing store.
    pub fn disk_mut(&mut self) -> Option<&mut VirtioBlk> {
        match &mut self.backing {
            Some(FileBacking::Disk(b)) => Some(&mut **b),
            _ => None,
        }
    }

    /// The objects disk, if there is one.
    pub fn objects_disk_mut(&mut self) -> Option<&mut VirtioBlk> {
        self.objects.as_mut().map(|o| &mut *o.disk)
    }
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::new()
    }
}

/// Linux `filemap_add_folio`: puts the new, locked page `pfn` at `index`
/// of file `file`, charges it (`noretry`: readahead's `__GFP_NORETRY`,
/// which gives up after little reclaim), and adds it to the file LRU. If
/// the slot held a shadow, this is a refault: `workingset_refault` decides
/// whether the page starts active. The caller reads its data.
pub fn filemap_add_folio(
    st: &mut MmState,
    file: u16,
    index: u64,
    pfn: Pfn,
    noretry: bool,
) -> Result<(), ChargeFailed> {
    st.mem_map.reset(pfn);
    if noretry {
        mem_cgroup_charge_noretry(st, pfn)?;
    } else {
        mem_cgroup_charge(st, pfn)?;
    }
    let page = st.mem_map.get_mut(pfn);
    page.set(flags::FILE | flags::LOCKED);
    page.file = file;
    page.index = index as u32;
    let mapping = &mut st.page_cache.files[file as usize];
    let old = mapping.i_pages.insert(index as u32, CacheEntry::Folio(pfn));
    debug_assert!(!matches!(old, Some(CacheEntry::Folio(_))), "slot taken");
    mapping.nrpages += 1;
    let activate = match old {
        Some(CacheEntry::Shadow(shadow)) => workingset_refault(st, pfn, shadow),
        _ => false,
    };
    let MmState { lru, mem_map, .. } = st;
    if activate {
        lru.add_active(mem_map, pfn);
    } else {
        lru.add_inactive(mem_map, pfn);
    }
    Ok(())
}

/// Allocates, charges and adds a page for `index` of `file` (Linux
/// `filemap_alloc_folio` + `filemap_add_folio`). The page is locked.
/// `noretry` for readahead (see [`filemap_add_folio`]).
pub fn page_cache_alloc(
    st: &mut MmState,
    file: u16,
    index: u64,
    noretry: bool,
) -> Result<Pfn, ChargeFailed> {
    let pfn = pa_to_pfn(alloc_page().map_err(|_| ChargeFailed)?);
    if let Err(e) = filemap_add_folio(st, file, index, pfn, noretry) {
        st.mem_map.reset(pfn);
        free_page(pfn_to_pa(pfn));
        return Err(e);
    }
    Ok(pfn)
}

/// Linux `__filemap_remove_folio`: reclaim takes the clean page `pfn` out
/// of its file; `shadow` (0: none) stays in its slot.
pub fn filemap_remove_folio(st: &mut MmState, pfn: Pfn, shadow: u32) {
    let page = st.mem_map.get(pfn);
    debug_assert!(page.test(flags::FILE));
    let (file, index) = (page.file, page.index);
    let mapping = &mut st.page_cache.files[file as usize];
    if shadow != 0 {
        mapping.i_pages.insert(index, CacheEntry::Shadow(shadow));
    } else {
        mapping.i_pages.remove(&index);
    }
    mapping.nrpages -= 1;
}

/// Linux `read_pages`: starts the reads of a batch of new, locked pages
/// (plugged, so a disk sees them together).
pub fn read_pages(st: &mut MmState, batch: &[Pfn]) {
    if batch.is_empty() {
        return;
    }
    plug(st, true);
    for &pfn in batch {
        file_read_folio(st, pfn);
    }
    plug(st, false);
}

/// An open file (Linux `struct file`): which file, and its readahead
/// state, which lives as long as the open file does.
#[derive(Debug, Clone, Copy)]
pub struct File {
    pub id: u16,
    pub ra: FileRaState,
}

impl File {
    /// Opens file `id` of the page cache.
    pub fn open(id: u16) -> File {
        File {
            id,
            ra: FileRaState::default(),
        }
    }
}

/// Why a read (or a write, which may read first) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The disk reported an error reading the page at this file offset.
    Io { file: String, offset: u64 },
    /// The memory cgroup could not make room for the page (memcg OOM).
    OutOfMemory,
    /// A write to a file on the read-only files disk.
    ReadOnly { file: String },
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReadError::Io { file, offset } => {
                write!(f, "I/O error reading {file} at byte {offset}")
            }
            ReadError::ReadOnly { file } => {
                write!(
                    f,
                    "{file} is on the read-only files disk: only object files are written"
                )
            }
            ReadError::OutOfMemory => write!(
                f,
                "Memory cgroup out of memory: no room for a page-cache page even after reclaim"
            ),
        }
    }
}

/// What one step of the read found for a page.
pub(super) enum Lookup {
    /// Uptodate: here is the page.
    Ready(Pfn),
    /// Locked for its read: sleep on it, then look again.
    Wait(Pfn),
    /// Being written: wait for that, then look again.
    WaitWriteback(Pfn),
}

/// Linux `filemap_get_pages` for the page at `index` of a read whose
/// pages run up to `last_index` (exclusive).
fn filemap_get_page(
    st: &mut MmState,
    file: &mut File,
    index: u64,
    last_index: u64,
) -> Result<Lookup, ReadError> {
    let id = file.id;
    let pfn = loop {
        let mut pfn = st.page_cache.files[id as usize].folio(index);
        if pfn.is_none() {
            page_cache_sync_ra(st, id, &mut file.ra, index, last_index - index);
            pfn = st.page_cache.files[id as usize].folio(index);
        }
        let pfn = match pfn {
            Some(pfn) => pfn,
            // Readahead could not add it (no memory for a speculative
            // page): read just this one (Linux `filemap_create_folio`).
            None => {
                let pfn =
                    page_cache_alloc(st, id, index, false).map_err(|_| ReadError::OutOfMemory)?;
                read_pages(st, &[pfn]);
                pfn
            }
        };
        if !st.mem_map.get(pfn).test(flags::READAHEAD) {
            break pfn;
        }
        page_cache_async_ra(st, id, &mut file.ra, pfn, index, last_index - index);
        // Async readahead charges new pages, and a charge may reclaim this
        // one (uptodate, unlocked, no longer marked). Linux holds a folio
        // reference from `filemap_get_read_batch`, which makes reclaim keep
        // it; we hold none, so we look it up again (and read it again if
        // it went).
        if st.page_cache.files[id as usize].folio(index) == Some(pfn) {
            break pfn;
        }
    };
    let page = st.mem_map.get(pfn);
    if page.test(flags::UPTODATE) {
        return Ok(Lookup::Ready(pfn));
    }
    if page.test(flags::LOCKED) {
        return Ok(Lookup::Wait(pfn));
    }
    // Neither uptodate nor locked: its read failed. Simplification: Linux
    // (`filemap_update_page`) reads the folio once more before failing with
    // -EIO and shrinks the readahead window; we fail at once and drop the
    // page, so that a later read tries the disk again.
    let offset = index * PAGE_SIZE;
    let name = st.page_cache.files[id as usize].name.clone();
    super::vmscan::drop_file_page(st, pfn);
    Err(ReadError::Io { file: name, offset })
}

/// Linux `filemap_read`: reads `len` bytes of `file` at `pos` (clamped to
/// the file's size) through the page cache, handing each piece to `sink`
/// with its file offset. `sink` runs without the mm lock, so it may write
/// into workload memory (fault). Returns the bytes read. Outside a task
/// (boot, tests) waiting for a read happens in place; a task sleeps.
pub fn filemap_read(
    file: &mut File,
    pos: u64,
    len: u64,
    mut sink: impl FnMut(u64, &[u8]),
) -> Result<u64, ReadError> {
    let size = with_mm_state(|st| st.page_cache.files[file.id as usize].size);
    let end = pos.saturating_add(len).min(size);
    if pos >= end {
        return Ok(0);
    }
    let last_index = (end - 1) / PAGE_SIZE + 1;
    // The page the previous read ended in is not marked accessed again
    // for its tail (Linux: "only mark it as accessed the first time").
    let prev_last = file.ra.prev_pos.checked_sub(1).map(|p| p / PAGE_SIZE);
    let mut bounce = alloc::vec![0u8; PAGE_SIZE as usize];
    let mut at = pos;
    while at < end {
        let index = at / PAGE_SIZE;
        let lookup = with_mm_state(|st| {
            let lookup = filemap_get_page(st, file, index, last_index)?;
            if let Lookup::Ready(pfn) = lookup {
                // SAFETY: an uptodate page-cache page, which stays in the
                // cache while we hold the lock; only reads it.
                let src = unsafe {
                    core::slice::from_raw_parts(
                        phys_to_virt(pfn_to_pa(pfn)) as *const u8,
                        PAGE_SIZE as usize,
                    )
                };
                bounce.copy_from_slice(src);
                let pc = &mut st.page_cache;
                let is_ok = pc.files[file.id as usize].verify(index, &bounce);
                pc.stats.checked += 1;
                pc.stats.corrupt += u64::from(!is_ok);
                if at != pos || Some(index) != prev_last {
                    folio_mark_accessed(st, pfn);
                }
            }
            Ok(lookup)
        })?;
        match lookup {
            Lookup::Wait(_) | Lookup::WaitWriteback(_) => lookup.wait(),
            Lookup::Ready(_) => {
                let in_page = (at % PAGE_SIZE) as usize;
                let n = (PAGE_SIZE as usize - in_page).min((end - at) as usize);
                sink(at, &bounce[in_page..in_page + n]);
                at += n as u64;
            }
        }
    }
    file.ra.prev_pos = end;
    Ok(end - pos)
}

/// Waits until the read into `pfn` is done: a task sleeps, anyone else
/// (boot, tests) polls in place.
pub(super) fn wait_locked(pfn: Pfn) {
    if crate::sched::in_task() {
        crate::sched::sleep_on_page(pfn);
    } else {
        with_mm_state(|st| wait_on_page_locked(st, pfn));
    }
}

/// Waits until the write of `pfn` is done, likewise.
pub(super) fn wait_writeback(pfn: Pfn) {
    if crate::sched::in_task() {
        crate::sched::sleep_on_writeback(pfn);
    } else {
        with_mm_state(|st| super::page_io::wait_on_page_writeback(st, pfn));
    }
}

impl Lookup {
    /// Waits for what a `Wait` or `WaitWriteback` waits for; `Ready` has
    /// nothing to wait for.
    pub(super) fn wait(&self) {
        match *self {
            Lookup::Wait(pfn) => wait_locked(pfn),
            Lookup::WaitWriteback(pfn) => wait_writeback(pfn),
            Lookup::Ready(_) => {}
        }
    }
}

/// `sync; echo 1 > /proc/sys/vm/drop_caches`: writes every dirty page
/// and waits for all I/O in flight (`sync`), then frees every page-cache
/// page. Unlike Linux (whose `invalidate_mapping_pages` leaves other
/// slots' shadows to the shadow shrinker) it clears every shadow too: it
/// runs at the end of a run, or to give a test a cold cache. Returns the
/// pages freed; a page whose write keeps failing stays (Linux keeps dirty
/// pages too).
/// What the file system held when a run started (see [`remove_files_since`]).
#[derive(Debug, Clone, Copy)]
pub struct FilesMark {
    nr_files: usize,
    files_capacity: usize,
    objects_next_free: u64,
}

/// Marks what the file system holds now.
pub fn files_mark(st: &MmState) -> FilesMark {
    let pc = &st.page_cache;
    FilesMark {
        nr_files: pc.files.len(),
        files_capacity: pc.files.capacity(),
        objects_next_free: pc.objects.as_ref().map_or(0, |o| o.next_free),
    }
}

/// After [`drop_caches`], at the end of a run: removes the files the run
/// created (object files; `make clean`) and gives back what the page
/// cache's lists grew to, so that the leak check's heap figure returns to
/// its baseline. Pages still cached (dirty ones a failing disk kept) stay,
/// and with them their file.
pub fn remove_files_since(st: &mut MmState, mark: FilesMark) {
    let pc = &mut st.page_cache;
    while pc.files.len() > mark.nr_files && pc.files.last().is_some_and(|f| f.nrpages == 0) {
        pc.files.pop();
    }
    if pc.files.len() == mark.nr_files {
        pc.files.shrink_to(mark.files_capacity);
        if let Some(o) = pc.objects.as_mut() {
            o.next_free = mark.objects_next_free;
        }
    }
    for f in &mut pc.files {
        if f.i_pages.is_empty() {
            f.i_pages = BTreeMap::new();
        }
    }
    pc.wb.trim();
}

pub fn drop_caches(st: &mut MmState) -> u64 {
    super::page_writeback::sync(st);
    let mut freed = 0;
    for file in 0..st.page_cache.files.len() {
        let pages: Vec<Pfn> = st.page_cache.files[file]
            .i_pages
            .values()
            .filter_map(|e| match e {
                CacheEntry::Folio(pfn) => Some(*pfn),
                CacheEntry::Shadow(_) => None,
            })
            .collect();
        for pfn in pages {
            if st.mem_map.get(pfn).test(flags::DIRTY) {
                continue;
            }
            super::vmscan::drop_file_page(st, pfn);
            freed += 1;
        }
        st.page_cache.files[file]
            .i_pages
            .retain(|_, e| matches!(e, CacheEntry::Folio(_)));
    }
    freed
}
