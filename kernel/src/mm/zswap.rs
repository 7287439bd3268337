//! zswap: a compressed cache of swapped-out pages in RAM, in front of the
//! swap device (Linux mm/zswap.c).
//!
//! - [`Zswap::store`] (Linux `zswap_store`), at reclaim before any disk
//!   write: compress with lz4 into the pool. A page that does not compress
//!   to less than a page is rejected (`reject_compress_poor`) and goes to
//!   disk. (Linux 6.18+ stores such pages as-is only when the cgroup has
//!   writeback disabled; ours always has writeback.)
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
//! Simplifications: one pool, one tree (a map by slot), lz4 only, no
//! per-memcg `zswap.max`; the pool's pages count toward the memory cgroup
//! (Linux charges the compressed bytes), see `memcontrol::memcg_usage`.

use alloc::collections::{BTreeMap, VecDeque};

use super::page::{flags, pa_to_pfn};
use super::page_alloc::{alloc_page, free_page};
use super::state::MmState;
use super::swap::SwapEntry;
use super::vmstat::{count_vm_event, VmEvent};
use super::zcomp::{self, MAX_COMPRESSED};
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
}

/// zswap statistics (Linux debugfs zswap/ and meminfo `Zswap`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ZswapStats {
    pub pool_limit_hit: u64,
    pub reject_compress_poor: u64,
    pub reject_alloc_fail: u64,
    pub written_back_pages: u64,
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
            stats: ZswapStats::default(),
        }
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

    /// Linux `zswap_present_test` (the seed's patch).
    pub fn is_present(&self, offset: u32) -> bool {
        self.entries.contains_key(&offset)
    }

    /// Linux `zswap_check_limits`: is there room, with hysteresis?
    fn check_limits(&mut self) -> bool {
        let pages = self.pool.nr_pages();
        if pages >= self.max_pool_pages {
            self.stats.pool_limit_hit += 1;
            self.pool_reached_full = true;
        } else if self.pool_reached_full && pages <= self.accept_thr_pages {
            self.pool_reached_full = false;
        }
        !self.pool_reached_full
    }

    /// Whether the pool is over its accept threshold (writeback needed).
    pub fn needs_shrink(&self) -> bool {
        self.pool_reached_full && self.pool.nr_pages() > self.accept_thr_pages
    }

    /// Linux `zswap_store` for one page: compress `src` into the pool for
    /// slot `offset`. Any older entry for the slot is dropped first
    /// (Linux's `check_old`), whatever the outcome.
    pub fn store(&mut self, offset: u32, src: &[u8]) -> Result<(), Reject> {
        self.invalidate(offset);
        if !self.enabled {
            return Err(Reject::Disabled);
        }
        if !self.check_limits() {
            return Err(Reject::PoolLimit);
        }
        let mut buf = [0u8; MAX_COMPRESSED];
        let len = zcomp::compress(src, &mut buf);
        if len >= PAGE_SIZE as usize {
            self.stats.reject_compress_poor += 1;
            return Err(Reject::CompressPoor);
        }
        let Ok(handle) = self.pool.store(&buf[..len]) else {
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
    }

    /// Stores `src` for `offset` ignoring the pool limit: for putting back
    /// a page whose writeback failed (its data exists nowhere else).
    fn restore(&mut self, offset: u32, src: &[u8]) {
        let limit = core::mem::replace(&mut self.max_pool_pages, u64::MAX);
        let reached = core::mem::replace(&mut self.pool_reached_full, false);
        let stored = self.store(offset, src);
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
        let data = self.pool.read(e.handle, e.length as usize);
        zcomp::decompress(data, dst).expect("zswap entry does not decompress");
        self.pool.free(e.handle, e.length as usize);
        true
    }

    /// Linux `zswap_invalidate`: the slot was freed (or is being reused).
    pub fn invalidate(&mut self, offset: u32) {
        if let Some(e) = self.entries.remove(&offset) {
            self.pool.free(e.handle, e.length as usize);
        }
    }

    /// Puts an entry back at the young end of the LRU after a writeback
    /// attempt that did not happen (Linux rotates before trying).
    fn requeue(&mut self, offset: u32) {
        if let Some(e) = self.entries.get(&offset) {
            self.lru.push_back((offset, e.seq));
        }
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
}

/// Linux `shrink_worker` (run synchronously here): write back the oldest
/// entries until the pool is below the accept threshold.
pub fn shrink_pool(st: &mut MmState) {
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
