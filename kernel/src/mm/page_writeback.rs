//! Dirty file pages and their writeback (Linux mm/page-writeback.c and
//! fs/fs-writeback.c, simplified and named as in Linux).
//!
//! A write through the page cache leaves the page *dirty*
//! ([`folio_mark_dirty`]); reclaim cannot drop it until its data is on the
//! disk. Three things start writeback, as in Linux:
//!
//! - the writer itself, in [`balance_dirty_pages_ratelimited`], once the
//!   memory cgroup's dirty pages pass the midpoint of its background and
//!   hard limits (`dirty_freerun_ceiling`): background writeback then
//!   writes files, oldest dirtied first, until the dirty pages are under
//!   the background limit (`wb_over_bg_thresh`). Above the hard limit the
//!   writer waits for writes to finish (without a memory limit, the
//!   machine's free and file pages bound the limits, as Linux's global
//!   domain does);
//! - reclaim, when a whole batch it took from the inactive file list was
//!   dirty and not yet queued (`wakeup_flusher_threads(WB_REASON_VMSCAN)`,
//!   in `shrink_inactive_list`): everything dirty is written. Reclaim
//!   itself never writes a file page: it marks it `PG_reclaim` and
//!   activates it, and the write's completion moves it to the inactive
//!   tail (`folio_rotate_reclaimable`), where the next scan frees it;
//! - age (`wb_check_old_data_flush`, every `dirty_writeback_centisecs`):
//!   files dirtied longer than `dirty_expire_centisecs` ago. Linux runs it
//!   from the flusher's timer; here it runs when a page is dirtied, so
//!   pages dirtied after the last write wait for reclaim or `sync`.
//!
//! The limits are the memory cgroup's (`mdtc` in `balance_dirty_pages`):
//! `vm.dirty_background_ratio` (10 %) and `vm.dirty_ratio` (20 %) of
//! what it has available for file pages: its file pages plus its headroom
//! below `memory.max` (`mdtc_calc_avail`).
//!
//! Simplifications: Linux's flusher is a kernel thread (a kworker per
//! cgroup `bdi_writeback`); here its work runs in whoever woke it, and
//! since it only *submits* writes (they complete asynchronously on the
//! disk, under the same latency model as the swap disk), that costs the
//! waker little. Linux makes a writer between the freerun ceiling and the
//! hard limit pause for a time fitted to the disk's bandwidth
//! (`wb_position_ratio`); ours runs on until the hard limit and then
//! waits for writes. The checks run on every dirtied page, where Linux's
//! run every `nr_dirtied_pause` pages (32 at first). Of the global domain
//! only its size is kept (it caps the cgroup's). Reclaim does not throttle
//! on pages under writeback (Linux's `reclaim_throttle` when every dirty
//! page scanned is already being written): a charge that finds nothing to
//! free polls for completions a bounded number of times, then fails. A
//! failed write redirties the page (the data stays in memory), where Linux
//! leaves it clean with the error recorded for `fsync`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::page::{flags, Lru, MemMap, Pfn};
use super::page_io::file_write_folio;
use super::state::MmState;
use super::vmstat::{count_vm_event, VmEvent};
use crate::sched::clock::sched_clock;

/// Linux `vm_dirty_ratio`: the hard limit, percent of available memory.
pub const DIRTY_RATIO: u64 = 20;
/// Linux `dirty_background_ratio`: where background writeback starts
/// aiming.
pub const DIRTY_BACKGROUND_RATIO: u64 = 10;
/// Linux `dirty_expire_interval` (30 s), in clock cycles (1 ns each
/// under the deterministic clock).
const DIRTY_EXPIRE_CYCLES: u64 = 30_000_000_000;
/// Linux `dirty_writeback_interval` (5 s), likewise.
const DIRTY_WRITEBACK_CYCLES: u64 = 5_000_000_000;
/// Linux `MAX_WRITEBACK_PAGES`: a file gets at most this many pages
/// written before the flusher moves on to the next (`writeback_chunk_size`
/// rounds a chunk to it).
const MAX_WRITEBACK_PAGES: u64 = 1024;

/// Why writeback runs (Linux `enum wb_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WbReason {
    /// Dirty pages above the background limit.
    Background,
    /// Reclaim found only dirty pages (`WB_REASON_VMSCAN`): write all.
    Vmscan,
    /// Files dirtied longer ago than the expire interval (kupdate).
    Periodic,
    /// `sync`: write all (then the caller waits).
    Sync,
}

/// Linux `struct bdi_writeback` of the objects disk in our one cgroup.
#[derive(Debug)]
pub struct Writeback {
    /// Dirty file pages (node stat `NR_FILE_DIRTY`).
    pub nr_dirty: u64,
    /// File pages being written (`NR_WRITEBACK`).
    pub nr_writeback: u64,
    /// Files with dirty pages, oldest dirtied first (Linux `wb->b_dirty`).
    pub b_dirty: VecDeque<u16>,
    /// Pages submitted for writing, oldest first; pages whose write has
    /// ended are dropped from the front when it is looked at. Not in
    /// Linux (whose throttled writer sleeps for a computed pause): what
    /// our writer above the hard limit waits on, found without a scan.
    pub in_flight: VecDeque<Pfn>,
    /// When old data was last flushed (`wb->last_old_flush`).
    pub last_old_flush: u64,
}

impl Writeback {
    /// Gives back the capacity of lists that are empty (end of a run).
    pub fn trim(&mut self) {
        if self.b_dirty.is_empty() {
            self.b_dirty = VecDeque::new();
        }
        if self.in_flight.is_empty() {
            self.in_flight = VecDeque::new();
        }
    }

    pub const fn new() -> Writeback {
        Writeback {
            nr_dirty: 0,
            nr_writeback: 0,
            b_dirty: VecDeque::new(),
            in_flight: VecDeque::new(),
            last_old_flush: 0,
        }
    }
}

impl Default for Writeback {
    fn default() -> Self {
        Writeback::new()
    }
}

/// The dirty limits in pages: (background, hard) (Linux
/// `domain_dirty_limits`). What they are a share of is the cgroup's
/// `avail` (`mdtc_calc_avail`: file pages plus headroom below
/// `memory.max`), but never more than the machine's (`gdtc`: free pages
/// plus file pages), which is what binds without a memory limit.
pub fn dirty_limits(st: &MmState) -> (u64, u64) {
    let file_pages = st.lru.file_len() as u64;
    let usage = super::memcontrol::memcg_usage(st);
    let headroom = st.memcg.max_pages.saturating_sub(usage);
    let global_avail = super::page_alloc::nr_free_pages() as u64 + file_pages;
    let avail = file_pages.saturating_add(headroom).min(global_avail);
    let thresh = avail.saturating_mul(DIRTY_RATIO) / 100;
    let mut bg_thresh = avail.saturating_mul(DIRTY_BACKGROUND_RATIO) / 100;
    if bg_thresh >= thresh {
        bg_thresh = thresh / 2;
    }
    (bg_thresh, thresh)
}

/// Linux `folio_mark_dirty` for a page-cache page: the first time it
/// becomes dirty it is counted (`nr_dirtied`), and its file joins the
/// dirty list if it was clean (`__mark_inode_dirty`).
pub fn folio_mark_dirty(st: &mut MmState, pfn: Pfn) {
    let page = st.mem_map.get_mut(pfn);
    debug_assert!(page.test(flags::FILE));
    if page.test(flags::DIRTY) {
        return;
    }
    page.set(flags::DIRTY);
    let file = page.file;
    st.page_cache.wb.nr_dirty += 1;
    count_vm_event(VmEvent::NrDirtied);
    let mapping = &mut st.page_cache.files[file as usize];
    if mapping.dirtied_when.is_none() {
        mapping.dirtied_when = Some(sched_clock());
        st.page_cache.wb.b_dirty.push_back(file);
    }
}

/// Linux `balance_dirty_pages_ratelimited`, after a page was dirtied:
/// starts background writeback above the freerun ceiling, and above the
/// hard limit returns a page under writeback for the writer to wait on
/// (outside the mm lock); also runs the periodic flush when it is due.
pub fn balance_dirty_pages_ratelimited(st: &mut MmState) -> Option<Pfn> {
    wb_check_old_data_flush(st);
    let (bg_thresh, thresh) = dirty_limits(st);
    let wb = &st.page_cache.wb;
    let dirty = wb.nr_dirty + wb.nr_writeback;
    // `dirty_freerun_ceiling`: halfway between the two limits.
    if dirty <= (thresh + bg_thresh) / 2 {
        return None;
    }
    wb_writeback(st, WbReason::Background);
    if st.page_cache.wb.nr_dirty + st.page_cache.wb.nr_writeback <= thresh {
        return None;
    }
    oldest_under_writeback(st)
}

/// The oldest page still being written, if any: the writer waits for it
/// (the others were submitted after it). Amortised O(1): pages whose
/// write has ended leave the front of the queue here.
fn oldest_under_writeback(st: &mut MmState) -> Option<Pfn> {
    let MmState {
        page_cache,
        mem_map,
        ..
    } = st;
    let queue = &mut page_cache.wb.in_flight;
    while let Some(&pfn) = queue.front() {
        let page = mem_map.get(pfn);
        if page.test(flags::FILE) && page.test(flags::WRITEBACK) {
            return Some(pfn);
        }
        queue.pop_front();
    }
    None
}

/// Linux `wb_over_bg_thresh` for the cgroup: dirty pages (not counting
/// those already being written) above the background limit.
fn wb_over_bg_thresh(st: &MmState) -> bool {
    st.page_cache.wb.nr_dirty > dirty_limits(st).0
}

/// Linux `wb_check_old_data_flush` (the kupdate-style flush, every
/// `dirty_writeback_centisecs`).
fn wb_check_old_data_flush(st: &mut MmState) {
    let now = sched_clock();
    if now.saturating_sub(st.page_cache.wb.last_old_flush) < DIRTY_WRITEBACK_CYCLES {
        return;
    }
    st.page_cache.wb.last_old_flush = now;
    wb_writeback(st, WbReason::Periodic);
}

/// Linux `wakeup_flusher_threads(WB_REASON_VMSCAN)`, from reclaim.
pub fn wakeup_flusher_threads(st: &mut MmState) {
    wb_writeback(st, WbReason::Vmscan);
}

/// Linux `wb_writeback` + `writeback_sb_inodes`: writes files from the
/// dirty list, oldest first, up to [`MAX_WRITEBACK_PAGES`] pages of each
/// per turn, while `reason` says there is more to do. A file with pages
/// left dirty goes to the back of the list (`requeue_inode`).
pub fn wb_writeback(st: &mut MmState, reason: WbReason) {
    let now = sched_clock();
    // One pass over the files on the list now: each gets one turn.
    let mut turns = st.page_cache.wb.b_dirty.len();
    super::page_io::plug(st, true);
    while turns > 0 {
        turns -= 1;
        let more = match reason {
            WbReason::Background => wb_over_bg_thresh(st),
            WbReason::Vmscan | WbReason::Sync | WbReason::Periodic => true,
        };
        let Some(&file) = st.page_cache.wb.b_dirty.front() else {
            break;
        };
        if !more {
            break;
        }
        st.page_cache.wb.b_dirty.pop_front();
        let dirtied = st.page_cache.files[file as usize].dirtied_when;
        if reason == WbReason::Periodic
            && dirtied.is_some_and(|t| now.saturating_sub(t) < DIRTY_EXPIRE_CYCLES)
        {
            // Not expired: its turn is over. (A file requeued with pages
            // left keeps its age, so the list is not strictly in age order
            // and the others are still looked at.)
            st.page_cache.wb.b_dirty.push_back(file);
            continue;
        }
        // Background and periodic writeback write a chunk of each file in
        // turn; "write everything" (reclaim's wakeup, `wb_check_start_all`,
        // and sync) goes on until all is written.
        let chunk = match reason {
            WbReason::Vmscan | WbReason::Sync => u64::MAX,
            WbReason::Background | WbReason::Periodic => MAX_WRITEBACK_PAGES,
        };
        writepages(st, file, chunk);
        let mapping = &mut st.page_cache.files[file as usize];
        if has_dirty_pages(&st.mem_map, mapping) {
            st.page_cache.wb.b_dirty.push_back(file);
        } else {
            mapping.dirtied_when = None;
        }
    }
    super::page_io::plug(st, false);
}

fn has_dirty_pages(mem_map: &MemMap, mapping: &super::filemap::AddressSpace) -> bool {
    mapping.i_pages.values().any(|e| match e {
        super::filemap::CacheEntry::Folio(pfn) => mem_map.get(*pfn).test(flags::DIRTY),
        _ => false,
    })
}

/// Linux `do_writepages` (`WB_SYNC_NONE`): starts writing up to `max`
/// dirty pages of `file` in index order; pages already under writeback or
/// locked are skipped. Returns the pages submitted.
fn writepages(st: &mut MmState, file: u16, max: u64) -> u64 {
    let dirty: Vec<Pfn> = st.page_cache.files[file as usize]
        .i_pages
        .values()
        .filter_map(|e| match e {
            super::filemap::CacheEntry::Folio(pfn) => Some(*pfn),
            _ => None,
        })
        .filter(|&pfn| {
            let p = st.mem_map.get(pfn);
            p.test(flags::DIRTY) && !p.test(flags::WRITEBACK) && !p.test(flags::LOCKED)
        })
        .take(max.min(usize::MAX as u64) as usize)
        .collect();
    for &pfn in &dirty {
        // `folio_clear_dirty_for_io` + `folio_start_writeback`.
        let page = st.mem_map.get_mut(pfn);
        page.clear(flags::DIRTY);
        page.set(flags::WRITEBACK);
        st.page_cache.wb.nr_dirty -= 1;
        st.page_cache.wb.nr_writeback += 1;
        st.page_cache.wb.in_flight.push_back(pfn);
        file_write_folio(st, pfn);
    }
    dirty.len() as u64
}

/// Linux `folio_end_writeback` for a page-cache page, from the write's
/// completion: a page reclaim asked for (`PG_reclaim`) goes to the
/// inactive tail (`folio_rotate_reclaimable`: not if it was dirtied again
/// or is locked). A failed write redirties the page.
pub fn folio_end_writeback(io: &mut FileIoDone, pfn: Pfn, ok: bool) {
    let FileIoDone {
        mem_map,
        lru,
        wb,
        files,
    } = io;
    let page = mem_map.get_mut(pfn);
    debug_assert!(page.test(flags::WRITEBACK) && page.test(flags::FILE));
    page.clear(flags::WRITEBACK);
    wb.nr_writeback -= 1;
    count_vm_event(VmEvent::NrWritten);
    // Keep the queue to the writes in flight (writes mostly end in order).
    while let Some(&front) = wb.in_flight.front() {
        if mem_map.get(front).test(flags::WRITEBACK) {
            break;
        }
        wb.in_flight.pop_front();
    }
    let page = mem_map.get_mut(pfn);
    if !ok && !page.test(flags::DIRTY) {
        page.set(flags::DIRTY);
        wb.nr_dirty += 1;
        let mapping = &mut files[page.file as usize];
        if mapping.dirtied_when.is_none() {
            mapping.dirtied_when = Some(sched_clock());
            wb.b_dirty.push_back(page.file);
        }
    }
    if page.test_and_clear(flags::RECLAIM)
        && !page.test(flags::DIRTY)
        && !page.test(flags::LOCKED)
        && page.test(flags::LRU)
    {
        lru.move_tail(mem_map, pfn);
        count_vm_event(VmEvent::PgRotated);
    }
}

/// What a file write's completion may change: the page, its LRU list,
/// the writeback counts and (to requeue a file whose write failed) the
/// files. The disks are borrowed apart from these while completions run.
pub struct FileIoDone<'a> {
    pub mem_map: &'a mut MemMap,
    pub lru: &'a mut Lru,
    pub wb: &'a mut Writeback,
    pub files: &'a mut [super::filemap::AddressSpace],
}

/// `sync`: writes every dirty file page and waits for all writes, three
/// rounds at most (a write that fails redirties its page). Returns the
/// pages still dirty: 0 unless the disk keeps failing.
pub fn sync(st: &mut MmState) -> u64 {
    for _ in 0..3 {
        wb_writeback(st, WbReason::Sync);
        super::page_io::drain_io(st);
        if st.page_cache.wb.nr_dirty == 0 {
            break;
        }
    }
    st.page_cache.wb.nr_dirty
}
