//! zswap: a compressed cache of swapped-out pages in RAM, in front of the
//! swap device (Linux mm/zswap.c).
//!
//! - [`zswap_store`] (Linux `zswap_store`), at reclaim before any disk
//!   write: compress into the pool. A page that does not compress to less
//!   than a page is stored *as-is* (length `PAGE_SIZE`, copied on load,
//!   `stored_incompressible_pages`) while the cgroup's
//!   `memory.zswap.writeback` is 1, as Linux does since 6.18 (commit
//!   dca4437a5861, `zswap_compress`), so that the LRU order of writeback is
//!   kept; with writeback 0 it is rejected (`reject_compress_poor`) and
//!   `swap_writeout` keeps the page in RAM, since it may not go to disk.
//! - The cgroup's `memory.zswap.max` (`memcg.zswap_max`): a store over it
//!   first writes back one entry of the cgroup (Linux `shrink_memcg`, one
//!   LRU step with a second chance) and is rejected if that did not work.
//! - The pool limit (`zswap.max_pool_percent` of RAM) with Linux's
//!   hysteresis: once full, stores are rejected until the pool is below
//!   `zswap.accept_threshold_percent` of the limit, and the oldest entries
//!   are written back to the disk ([`shrink_pool`], `zswpwb`).
//! - [`Zswap::load`] (Linux `zswap_load`), an *exclusive* load: decompress,
//!   free the entry; the caller marks the page dirty, so a prefetched page
//!   that is reclaimed again costs another compression.
//! - [`Zswap::invalidate`] when a slot is freed, so a reused slot can never
//!   return a stale page.
//!
//! Zero-filled pages never get here: the swap core records them in a
//! per-slot zero bit (see `SwapInfo::zeromap_*`).
//!
//! The memory cgroup is charged the stored (compressed) bytes of every
//! entry, as Linux's `obj_cgroup_charge_zswap(objcg, entry->length)` does,
//! not the pool's frames: see `memcontrol::memcg_usage`.
//!
//! Simplifications: one pool, one tree (a map by slot), one memory cgroup
//! (so its zswap LRU is the pool's LRU).

use alloc::collections::{BTreeMap, VecDeque};

use super::page::{flags, pa_to_pfn};
use super::page_alloc::{alloc_page, free_page};
use super::state::MmState;
use super::swap::SwapEntry;
use super::vmstat::{count_vm_event, VmEvent};
use super::zcomp::{self, Compressor, MAX_COMPRESSED};
use super::zpool::{Handle, ZPool};
use super::{phys_to_virt, PAGE_SIZE};

/// Linux `struct zswap_entry`.
#[derive(Debug, Clone, Copy)]
struct ZswapEntry {
    handle: Handle,
    length: u32,
    /// Second chance for the shrinker.
    referenced: bool,
    /// Position in the LRU (stale LRU records are skipped).
    seq: u64,
}

/// Why a store was refused (Linux's debugfs `reject_*` counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Disabled,
    PoolLimit,
    CompressPoor,
    AllocFail,
    /// Over `memory.zswap.max` and `shrink_memcg` could not make room
    /// (Linux counts nothing for it; `reject_reclaim_fail` is the pool's).
    CgroupLimit,
}

/// zswap statistics (Linux debugfs zswap/ and meminfo `Zswap`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZswapStats {
    pub pool_limit_hit: u64,
    pub reject_compress_poor: u64,
    pub reject_alloc_fail: u64,
    pub written_back_pages: u64,
    /// Stores over the cgroup's `memory.zswap.max`, and how many of them
    /// `shrink_memcg` could not make room for (rejected).
    pub cgroup_limit_hit: u64,
    pub reject_cgroup_limit: u64,
    /// Incompressible pages stored as-is (a count of stores; Linux's
    /// `stored_incompressible_pages` gauge is [`Zswap::stored_incompressible_pages`]).
    pub incompressible_stores: u64,
    /// Uncompressed and compressed bytes of every successful store.
    pub stored_in_bytes: u64,
    pub stored_out_bytes: u64,
    pub pool_pages_peak: u64,
    pub stored_pages_peak: u64,
}

/// The zswap state of the swap area (Linux: the zswap trees of one swap
/// type, plus the global pool).
pub struct Zswap {
    pub enabled: bool,
    pub shrinker_enabled: bool,
    pub max_pool_pages: u64,
    pub accept_thr_pages: u64,
    pool: ZPool,
    entries: BTreeMap<u32, ZswapEntry>,
    /// Oldest first: (slot, seq) as stored.
    lru: VecDeque<(u32, u64)>,
    next_seq: u64,
    /// Linux `zswap_pool_reached_full`.
    pool_reached_full: bool,
    /// Entries stored as-is (Linux `zswap_stored_incompressible_pages`).
    nr_incompressible: u64,
    /// The compressor (`zswap.compressor`).
    pub compressor: Compressor,
    pub stats: ZswapStats,
}

impl Zswap {
    pub fn new() -> Zswap {
        Zswap {
            enabled: false,
            shrinker_enabled: false,
            max_pool_pages: 0,
            accept_thr_pages: 0,
            pool: ZPool::new(),
            entries: BTreeMap::new(),
            lru: VecDeque::new(),
            next_seq: 0,
            pool_reached_full: false,
            nr_incompressible: 0,
            compressor: Compressor::Lz4,
            stats: ZswapStats::default(),
        }
    }

    /// Drops the LRU's stale records and capacity, and the entry map's
    /// empty root node, once no entry is left (see `MmState::trim`).
    pub fn trim(&mut self) {
        if self.entries.is_empty() {
            self.entries = BTreeMap::new();
            self.lru = VecDeque::new();
        }
        self.pool.trim();
    }

    /// Frames the pool uses.
    pub fn pool_pages(&self) -> u64 {
        self.pool.nr_pages()
    }

    /// Bytes of compressed data in the pool.
    pub fn pool_bytes(&self) -> u64 {
        self.pool.stored_bytes()
    }

    /// Pages stored.
    pub fn stored_pages(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Pages stored as-is because they did not compress (Linux's debugfs
    /// `stored_incompressible_pages`).
    pub fn stored_incompressible_pages(&self) -> u64 {
        self.nr_incompressible
    }

    /// Linux `zswap_present_test` (the seed's patch).
    pub fn is_present(&self, offset: u32) -> bool {
        self.entries.contains_key(&offset)
    }

    /// Linux `zswap_check_limits`: is there room, with hysteresis?
    fn check_limits(&mut self) -> bool {
        // LAB 5 BEGIN check_limits
        // LAB 5 STANDIN: // Before lab 5 the pool never has room.
        // LAB 5 STANDIN: false
        let pages = self.pool.nr_pages();
        if pages >= self.max_pool_pages {
            self.stats.pool_limit_hit += 1;
            self.pool_reached_full = true;
        } else if self.pool_reached_full && pages <= self.accept_thr_pages {
            self.pool_reached_full = false;
        }
        !self.pool_reached_full
        // LAB 5 END check_limits
    }

    /// Whether the pool is over its accept threshold (writeback needed).
    pub fn needs_shrink(&self) -> bool {
        self.pool_reached_full && self.pool.nr_pages() > self.accept_thr_pages
    }

    /// The pool part of Linux `zswap_store` for one page (the cgroup's
    /// checks are in [`zswap_store`]): compress `src` into the pool for
    /// slot `offset`. Any older entry for the slot is dropped first
    /// (Linux's `check_old`), whatever the outcome. A page that does not
    /// compress is stored as-is if `writeback` (the cgroup's
    /// `memory.zswap.writeback`) allows, as `zswap_compress` does.
    pub fn store(&mut self, offset: u32, src: &[u8], writeback: bool) -> Result<(), Reject> {
        // LAB 5 BEGIN zswap_pool_store
        // LAB 5 STANDIN: self.invalidate(offset);
        // LAB 5 STANDIN: let _ = (src, writeback);
        // LAB 5 STANDIN: Err(Reject::Disabled)
        self.invalidate(offset);
        if !self.enabled {
            return Err(Reject::Disabled);
        }
        if !self.check_limits() {
            return Err(Reject::PoolLimit);
        }
        let mut buf = [0u8; MAX_COMPRESSED];
        let mut len = zcomp::compress_with(self.compressor, src, &mut buf);
        let data = if len < PAGE_SIZE as usize {
            &buf[..len]
        } else if writeback {
            // Linux 6.18: "save the content as is without a compression,
            // to keep the LRU order of writebacks".
            len = PAGE_SIZE as usize;
            self.nr_incompressible += 1;
            self.stats.incompressible_stores += 1;
            src
        } else {
            self.stats.reject_compress_poor += 1;
            return Err(Reject::CompressPoor);
        };
        let Ok(handle) = self.pool.store(data) else {
            if len == PAGE_SIZE as usize {
                self.nr_incompressible -= 1;
                self.stats.incompressible_stores -= 1;
            }
            self.stats.reject_alloc_fail += 1;
            return Err(Reject::AllocFail);
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(
            offset,
            ZswapEntry {
                handle,
                length: len as u32,
                referenced: true,
                seq,
            },
        );
        self.lru.push_back((offset, seq));
        if self.lru.len() > 2 * self.entries.len() + 1024 {
            // Drop records of entries loaded or invalidated since (amortised O(1)).
            let entries = &self.entries;
            self.lru
                .retain(|(o, s)| entries.get(o).is_some_and(|e| e.seq == *s));
        }
        self.stats.stored_in_bytes += PAGE_SIZE;
        self.stats.stored_out_bytes += len as u64;
        self.stats.pool_pages_peak = self.stats.pool_pages_peak.max(self.pool.nr_pages());
        self.stats.stored_pages_peak = self.stats.stored_pages_peak.max(self.entries.len() as u64);
        Ok(())
        // LAB 5 END zswap_pool_store
    }

    /// Stores `src` for `offset` ignoring the pool limit: for putting back
    /// a page whose writeback failed (its data exists nowhere else).
    fn restore(&mut self, offset: u32, src: &[u8]) {
        let limit = core::mem::replace(&mut self.max_pool_pages, u64::MAX);
        let reached = core::mem::replace(&mut self.pool_reached_full, false);
        let stored = self.store(offset, src, true);
        self.max_pool_pages = limit;
        self.pool_reached_full = reached;
        stored.expect("re-storing a page that compressed before");
    }

    /// Decompresses the entry of `offset` into `dst` and frees it (an
    /// exclusive load). `false` if the slot is not in zswap. A corrupt
    /// entry is a kernel bug and panics: silently returning would lose data.
    pub fn load(&mut self, offset: u32, dst: &mut [u8]) -> bool {
        let Some(e) = self.entries.remove(&offset) else {
            return false;
        };
        // LAB 5 BEGIN zswap_load
        // LAB 5 STANDIN: let _ = dst;
        // LAB 5 STANDIN: unreachable!("lab 5 stand-in: zswap holds no page before lab 5 (entry {:?})", e.length)
        let data = self.pool.read(e.handle, e.length as usize);
        if e.length as u64 == PAGE_SIZE {
            // Stored as-is (Linux `zswap_decompress`: a copy, no decompressor).
            dst.copy_from_slice(data);
        } else {
            zcomp::decompress_with(self.compressor, data, dst)
                .expect("zswap entry does not decompress");
        }
        self.free_entry(e);
        true
        // LAB 5 END zswap_load
    }

    /// Linux `zswap_entry_free`.
    fn free_entry(&mut self, e: ZswapEntry) {
        // LAB 5 BEGIN zswap_entry_free
        // LAB 5 STANDIN: let _ = e;
        // LAB 5 STANDIN: unreachable!("lab 5 stand-in: zswap holds no entry before lab 5")
        if e.length as u64 == PAGE_SIZE {
            self.nr_incompressible -= 1;
        }
        self.pool.free(e.handle, e.length as usize);
        // LAB 5 END zswap_entry_free
    }

    /// Linux `zswap_invalidate`: the slot was freed (or is being reused).
    pub fn invalidate(&mut self, offset: u32) {
        if let Some(e) = self.entries.remove(&offset) {
            self.free_entry(e);
        }
    }

    /// Puts an entry back at the young end of the LRU after a writeback
    /// attempt that did not happen (Linux rotates before trying).
    fn requeue(&mut self, offset: u32) {
        if let Some(e) = self.entries.get(&offset) {
            self.lru.push_back((offset, e.seq));
        }
    }

    /// One step of Linux's `list_lru_walk_one(.., shrink_memcg_cb, nr=1)`:
    /// the oldest live entry, for writeback, unless it is referenced, in
    /// which case it is cleared and rotated (`LRU_ROTATE`) and `Err(())`
    /// says one entry was scanned without a candidate. `Ok(None)`: empty.
    fn walk_one(&mut self) -> Result<Option<u32>, ()> {
        while let Some((offset, seq)) = self.lru.pop_front() {
            let Some(e) = self.entries.get_mut(&offset) else {
                continue;
            };
            if e.seq != seq {
                continue;
            }
            if e.referenced {
                e.referenced = false;
                self.lru.push_back((offset, seq));
                return Err(());
            }
            return Ok(Some(offset));
        }
        Ok(None)
    }

    /// The oldest live entry, for writeback. With `second_chance`, a
    /// referenced entry is cleared and rotated instead (the shrinker).
    fn pop_oldest(&mut self, second_chance: bool) -> Option<u32> {
        while let Some((offset, seq)) = self.lru.pop_front() {
            let Some(e) = self.entries.get_mut(&offset) else {
                continue;
            };
            if e.seq != seq {
                continue;
            }
            if second_chance && e.referenced {
                e.referenced = false;
                self.lru.push_back((offset, seq));
                continue;
            }
            return Some(offset);
        }
        None
    }
}

impl Default for Zswap {
    fn default() -> Self {
        Self::new()
    }
}

/// The frame of a page as a byte slice.
///
/// # Safety
/// `pa` must be a frame the caller owns (no other live reference to it).
pub unsafe fn page_bytes<'a>(pa: u64) -> &'a mut [u8] {
    // SAFETY: guaranteed by the caller; the direct map covers all RAM.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(pa) as *mut u8, PAGE_SIZE as usize) }
}

/// Linux `zswap_writeback_entry`: moves the entry of `offset` from the pool
/// to the disk slot of the same number. Skipped (false) if the page is in
/// the swap cache: it just became hot. Waits for the write; on a write
/// error the data goes back into the pool, so nothing is lost.
pub fn zswap_writeback_entry(st: &mut MmState, offset: u32) -> bool {
    // LAB 5 BEGIN zswap_writeback_entry
    // LAB 5 STANDIN: let _ = (st, offset);
    // LAB 5 STANDIN: false
    let swap = st.swap.as_mut().expect("zswap without swap");
    if swap.cache_lookup(SwapEntry::new(offset)).is_some() || swap.is_synchronous() {
        return false;
    }
    let Ok(pa) = alloc_page() else {
        return false;
    };
    // SAFETY: the frame was just allocated for us.
    let buf = unsafe { page_bytes(pa) };
    if !swap.zswap.load(offset, buf) {
        free_page(pa);
        return false;
    }
    let ok = super::page_io::write_page_sync(st, pa_to_pfn(pa), SwapEntry::new(offset));
    let swap = st.swap.as_mut().expect("swap");
    if ok {
        swap.zswap.stats.written_back_pages += 1;
        count_vm_event(VmEvent::Zswpwb);
    } else {
        // Put it back, over the limit if need be: losing it is not an option.
        swap.zswap.restore(offset, buf);
    }
    st.mem_map.get_mut(pa_to_pfn(pa)).clear(flags::WRITEBACK);
    free_page(pa);
    ok
    // LAB 5 END zswap_writeback_entry
}

/// Linux `shrink_memcg`: write back one entry of the (only) cgroup, one
/// LRU step with a second chance. `false` (Linux -ENOENT / -EAGAIN) when
/// writeback is disabled, the LRU is empty, the step only rotated a
/// referenced entry, or the writeback was skipped.
fn shrink_memcg(st: &mut MmState) -> bool {
    if !st.memcg.zswap_writeback {
        return false;
    }
    let Some(swap) = st.swap.as_mut().filter(|s| !s.is_synchronous()) else {
        return false;
    };
    match swap.zswap.walk_one() {
        Ok(Some(offset)) => {
            if zswap_writeback_entry(st, offset) {
                return true;
            }
            st.swap.as_mut().expect("swap").zswap.requeue(offset);
            false
        }
        Ok(None) | Err(()) => false,
    }
}

/// Linux `obj_cgroup_may_zswap` for our one cgroup: is its zswap usage
/// (compressed bytes, in whole pages) below `memory.zswap.max`?
fn obj_cgroup_may_zswap(st: &MmState) -> bool {
    let max = st.memcg.zswap_max_pages;
    if max == u64::MAX {
        return true;
    }
    let pages = st.swap.as_ref().map_or(0, |s| s.zswap.pool_bytes()) / PAGE_SIZE;
    max != 0 && pages < max
}

/// Linux `zswap_store` for one page: the cgroup's `memory.zswap.max`
/// first (over it, `shrink_memcg` must write one entry back or the store
/// is rejected), then the pool ([`Zswap::store`]).
pub fn zswap_store(st: &mut MmState, offset: u32, src: &[u8]) -> Result<(), Reject> {
    let swap = st.swap.as_mut().expect("swap");
    if !swap.zswap.enabled {
        // check_old: a stale entry of the slot goes, whatever happens.
        swap.zswap.invalidate(offset);
        return Err(Reject::Disabled);
    }
    // LAB 5 BEGIN zswap_store
    // LAB 5 STANDIN: // Before lab 5 zswap refuses every page: they all go to the disk.
    // LAB 5 STANDIN: let _ = src;
    // LAB 5 STANDIN: st.swap.as_mut().expect("swap").zswap.invalidate(offset);
    // LAB 5 STANDIN: Err(Reject::Disabled)
    if !obj_cgroup_may_zswap(st) {
        let swap = st.swap.as_mut().expect("swap");
        swap.zswap.stats.cgroup_limit_hit += 1;
        if !shrink_memcg(st) {
            let swap = st.swap.as_mut().expect("swap");
            swap.zswap.invalidate(offset); // check_old
            swap.zswap.stats.reject_cgroup_limit += 1;
            return Err(Reject::CgroupLimit);
        }
    }
    let writeback = st.memcg.zswap_writeback;
    let swap = st.swap.as_mut().expect("swap");
    swap.zswap.store(offset, src, writeback)
    // LAB 5 END zswap_store
}

/// Linux `shrink_worker` (run synchronously here): write back the oldest
/// entries until the pool is below the accept threshold. Nothing is
/// written back when the cgroup disabled writeback (`shrink_memcg`
/// returns -ENOENT for it in Linux).
pub fn shrink_pool(st: &mut MmState) {
    if !st.memcg.zswap_writeback {
        return;
    }
    let mut failures = 0;
    while failures < 16 {
        // zram has no disk to write back to.
        let Some(swap) = st.swap.as_mut().filter(|s| !s.is_synchronous()) else {
            return;
        };
        if !swap.zswap.needs_shrink() {
            return;
        }
        let Some(offset) = swap.zswap.pop_oldest(false) else {
            return;
        };
        if !zswap_writeback_entry(st, offset) {
            st.swap.as_mut().expect("swap").zswap.requeue(offset);
            failures += 1;
        }
    }
}

/// The zswap shrinker (`zswap.shrinker=1`, Linux `zswap_shrinker_scan`):
/// during reclaim, write back up to `nr` cold entries, giving referenced
/// ones a second chance. Returns entries written back.
pub fn zswap_shrinker_scan(st: &mut MmState, nr: usize) -> usize {
    let mut done = 0;
    if !st.memcg.zswap_writeback {
        return 0; // Linux: zswap_shrinker_count() is 0 for such a cgroup
    }
    for _ in 0..nr {
        let Some(swap) = st.swap.as_mut().filter(|s| !s.is_synchronous()) else {
            break;
        };
        if !swap.zswap.shrinker_enabled {
            break;
        }
        let Some(offset) = swap.zswap.pop_oldest(true) else {
            break;
        };
        if zswap_writeback_entry(st, offset) {
            done += 1;
        } else {
            st.swap.as_mut().expect("swap").zswap.requeue(offset);
        }
    }
    done
}
