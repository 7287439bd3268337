//! Page descriptors and the LRU lists (Linux: `struct page`/`struct folio`
//! and its flags in include/linux/page-flags.h; the lru lists of a
//! `struct lruvec`, mm/swap.c).
//!
//! One descriptor per physical frame (`mem_map`). Simplifications: every
//! folio is one 4 KiB page; an anonymous page's reverse map is its fork
//! family's `anon_vma` and its address (see [`super::rmap`]), and its
//! reference count is implied (its mappings plus the swap cache); a file
//! page (page cache, see
//! [`super::filemap`]) is never mapped into an address space (files are
//! read with `read()`, not `mmap`), so it has no reverse map at all.

use alloc::vec::Vec;

use super::PAGE_SIZE;

/// Index of a physical frame (`pa / PAGE_SIZE`).
pub type Pfn = u32;
/// "No frame": the end of a list, an empty swap-cache slot.
pub const NIL: Pfn = Pfn::MAX;

/// Linux page flags (`PG_*`), one bit each.
pub mod flags {
    /// I/O in progress (a read): wait for it to clear (`PG_locked`).
    pub const LOCKED: u16 = 1 << 0;
    /// The contents are valid (`PG_uptodate`).
    pub const UPTODATE: u16 = 1 << 1;
    /// Newer than the swap copy: must be written before freeing (`PG_dirty`).
    pub const DIRTY: u16 = 1 << 2;
    /// A write to swap or to the objects disk is in flight (`PG_writeback`).
    pub const WRITEBACK: u16 = 1 << 3;
    /// Brought in by readahead and not yet used (`PG_readahead`; Linux
    /// aliases it with `PG_reclaim`, we keep them apart).
    pub const READAHEAD: u16 = 1 << 4;
    /// In the swap cache (`PG_swapcache`).
    pub const SWAPCACHE: u16 = 1 << 5;
    /// On an LRU list (`PG_lru`).
    pub const LRU: u16 = 1 << 6;
    /// On the active list (`PG_active`).
    pub const ACTIVE: u16 = 1 << 7;
    /// Seen referenced by one reclaim pass (`PG_referenced`).
    pub const REFERENCED: u16 = 1 << 8;
    /// The last I/O on it failed (`PG_error`).
    pub const ERROR: u16 = 1 << 9;
    /// Charged to the memory cgroup.
    pub const CHARGED: u16 = 1 << 10;
    /// Mapped by map-around and not yet seen accessed (for
    /// `swap_map_around_wasted`).
    pub const MAPAROUND: u16 = 1 << 11;
    /// Was on the active list once (`PG_workingset`): set when reclaim
    /// deactivates it, carried in its shadow, restored on refault.
    pub const WORKINGSET: u16 = 1 << 12;
    /// A page-cache page of a file: on the file LRU lists (Linux tells
    /// them apart by `!PG_swapbacked`, `folio_is_file_lru`).
    pub const FILE: u16 = 1 << 13;
    /// Reclaim met this file page dirty or under writeback and wants it
    /// back as soon as its write is done (`PG_reclaim`): the write's
    /// completion moves it to the inactive tail (`folio_rotate_reclaimable`).
    pub const RECLAIM: u16 = 1 << 14;
    /// Mapped by exactly one PTE that may be made writable without a copy
    /// (Linux `PageAnonExclusive`): set when a page is mapped exclusively,
    /// cleared by fork (both sides now share it) and when reclaim turns
    /// its PTE into a swap entry (the swap PTE then carries exclusivity).
    pub const ANON_EXCLUSIVE: u16 = 1 << 15;
}

/// Reverse map of an anonymous page (Linux `folio->mapping` pointing at
/// an `anon_vma`, plus `folio->index`): the fork family whose address
/// spaces may map it, and the address it is mapped at in each of them
/// (fork keeps addresses; we have no mremap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rmap {
    pub anon_vma: u16,
    pub va: u64,
}

/// Linux `struct page` (for an order-0 anonymous folio).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub flags: u16,
    /// The swap slot, valid while `SWAPCACHE` is set (`folio->swap`).
    pub swap_offset: u32,
    /// Where it is mapped, while it is (`folio->mapping` + rmap walk).
    pub mapping: Option<Rmap>,
    /// PTEs that map it (Linux `folio_mapcount`); 0 for file pages and
    /// unmapped swap-cache pages; never counted for the zero page.
    pub mapcount: u16,
    /// A file page's file (its id in the page cache) and page index in
    /// it (`folio->mapping`, `folio->index`); valid while `FILE` is set.
    pub file: u16,
    pub index: u32,
    lru_prev: Pfn,
    lru_next: Pfn,
}

impl Page {
    const EMPTY: Page = Page {
        flags: 0,
        swap_offset: 0,
        mapping: None,
        mapcount: 0,
        file: 0,
        index: 0,
        lru_prev: NIL,
        lru_next: NIL,
    };

    pub fn test(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn set(&mut self, flag: u16) {
        self.flags |= flag;
    }

    pub fn clear(&mut self, flag: u16) {
        self.flags &= !flag;
    }

    /// Linux `folio_test_clear_*`: returns whether `flag` was set.
    pub fn test_and_clear(&mut self, flag: u16) -> bool {
        let was = self.test(flag);
        self.clear(flag);
        was
    }
}

/// Linux `mem_map`: a descriptor for every frame.
pub struct MemMap {
    pages: Vec<Page>,
}

impl MemMap {
    pub fn new(nr_frames: usize) -> MemMap {
        MemMap {
            pages: alloc::vec![Page::EMPTY; nr_frames],
        }
    }

    pub fn get(&self, pfn: Pfn) -> &Page {
        &self.pages[pfn as usize]
    }

    pub fn get_mut(&mut self, pfn: Pfn) -> &mut Page {
        &mut self.pages[pfn as usize]
    }

    /// Resets a descriptor when its frame is (re)allocated or freed.
    pub fn reset(&mut self, pfn: Pfn) {
        self.pages[pfn as usize] = Page::EMPTY;
    }
}

/// Frame number of a physical address, and back.
pub fn pa_to_pfn(pa: u64) -> Pfn {
    (pa / PAGE_SIZE) as Pfn
}

pub fn pfn_to_pa(pfn: Pfn) -> u64 {
    pfn as u64 * PAGE_SIZE
}

/// A doubly linked list threaded through the descriptors: O(1) add,
/// remove and pop. The head is the most recently added end.
#[derive(Debug, Default)]
pub struct LruList {
    head: Option<Pfn>,
    tail: Option<Pfn>,
    len: usize,
}

impl LruList {
    pub const fn new() -> LruList {
        LruList {
            head: None,
            tail: None,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds at the head (the "young" end).
    pub fn add_head(&mut self, map: &mut MemMap, pfn: Pfn) {
        let old = self.head;
        let p = map.get_mut(pfn);
        p.lru_prev = NIL;
        p.lru_next = old.unwrap_or(NIL);
        match old {
            Some(h) => map.get_mut(h).lru_prev = pfn,
            None => self.tail = Some(pfn),
        }
        self.head = Some(pfn);
        self.len += 1;
    }

    /// Adds at the tail (the end reclaim takes from next).
    pub fn add_tail(&mut self, map: &mut MemMap, pfn: Pfn) {
        let old = self.tail;
        let p = map.get_mut(pfn);
        p.lru_next = NIL;
        p.lru_prev = old.unwrap_or(NIL);
        match old {
            Some(t) => map.get_mut(t).lru_next = pfn,
            None => self.head = Some(pfn),
        }
        self.tail = Some(pfn);
        self.len += 1;
    }

    /// Unlinks `pfn`, which must be on this list.
    pub fn remove(&mut self, map: &mut MemMap, pfn: Pfn) {
        let (prev, next) = {
            let p = map.get(pfn);
            (p.lru_prev, p.lru_next)
        };
        match prev {
            NIL => self.head = (next != NIL).then_some(next),
            p => map.get_mut(p).lru_next = next,
        }
        match next {
            NIL => self.tail = (prev != NIL).then_some(prev),
            n => map.get_mut(n).lru_prev = prev,
        }
        let p = map.get_mut(pfn);
        p.lru_prev = NIL;
        p.lru_next = NIL;
        self.len -= 1;
    }

    /// Removes and returns the tail (the oldest page).
    pub fn pop_tail(&mut self, map: &mut MemMap) -> Option<Pfn> {
        let t = self.tail?;
        self.remove(map, t);
        Some(t)
    }
}

/// The four evictable LRU lists of our one memory cgroup (Linux
/// `struct lruvec`: `LRU_INACTIVE_ANON`, `LRU_ACTIVE_ANON`,
/// `LRU_INACTIVE_FILE`, `LRU_ACTIVE_FILE`; no unevictable list, nothing
/// is mlocked). A page's `FILE` flag says which pair it is on.
#[derive(Debug, Default)]
pub struct Lru {
    pub inactive_anon: LruList,
    pub active_anon: LruList,
    pub inactive_file: LruList,
    pub active_file: LruList,
    /// Linux `lruvec->anon_cost` / `file_cost`: recent reclaim cost of
    /// each type (see [`super::lru::lru_note_cost`]).
    pub anon_cost: u64,
    pub file_cost: u64,
    /// Linux `lruvec->refaults[]`: `workingset_activate_{anon,file}` at
    /// the last reclaim (new activations since then mean a new
    /// workingset is forming: deactivate, see `prepare_scan_control`).
    pub refaults: [u64; 2],
}

impl Lru {
    /// The (inactive, active) pair of one type.
    pub fn lists_mut(&mut self, file: bool) -> (&mut LruList, &mut LruList) {
        if file {
            (&mut self.inactive_file, &mut self.active_file)
        } else {
            (&mut self.inactive_anon, &mut self.active_anon)
        }
    }

    /// Linux `folio_add_lru`: new, swapped-in and read-in pages start
    /// inactive.
    pub fn add_inactive(&mut self, map: &mut MemMap, pfn: Pfn) {
        debug_assert!(!map.get(pfn).test(flags::LRU), "page already on an LRU");
        let file = map.get(pfn).test(flags::FILE);
        self.lists_mut(file).0.add_head(map, pfn);
        let p = map.get_mut(pfn);
        p.set(flags::LRU);
        p.clear(flags::ACTIVE);
    }

    /// Linux `folio_activate` for an isolated page.
    pub fn add_active(&mut self, map: &mut MemMap, pfn: Pfn) {
        let file = map.get(pfn).test(flags::FILE);
        self.lists_mut(file).1.add_head(map, pfn);
        let p = map.get_mut(pfn);
        p.set(flags::LRU | flags::ACTIVE);
    }

    /// Linux `folio_isolate_lru` / `lruvec_del_folio`: takes a page off
    /// whichever list it is on. Returns whether it was on one.
    pub fn del(&mut self, map: &mut MemMap, pfn: Pfn) -> bool {
        let p = *map.get(pfn);
        if !p.test(flags::LRU) {
            return false;
        }
        let (inactive, active) = self.lists_mut(p.test(flags::FILE));
        if p.test(flags::ACTIVE) {
            active.remove(map, pfn);
        } else {
            inactive.remove(map, pfn);
        }
        map.get_mut(pfn).clear(flags::LRU | flags::ACTIVE);
        true
    }

    /// Linux `lru_move_tail`: a page reclaim wanted, whose write just
    /// finished, goes to the tail of its inactive list, where the next
    /// scan meets it first.
    pub fn move_tail(&mut self, map: &mut MemMap, pfn: Pfn) {
        if !self.del(map, pfn) {
            return;
        }
        let file = map.get(pfn).test(flags::FILE);
        self.lists_mut(file).0.add_tail(map, pfn);
        map.get_mut(pfn).set(flags::LRU);
    }

    /// Pages on the anon lists.
    pub fn anon_len(&self) -> usize {
        self.inactive_anon.len() + self.active_anon.len()
    }

    /// Pages on the file lists.
    pub fn file_len(&self) -> usize {
        self.inactive_file.len() + self.active_file.len()
    }

    pub fn len(&self) -> usize {
        self.anon_len() + self.file_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
