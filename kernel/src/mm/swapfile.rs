//! The swap area: slots, clusters, swap counts (Linux mm/swapfile.c,
//! `struct swap_info_struct`).
//!
//! Slot 0 holds the swap header and is never handed out. Slots are grouped
//! in clusters of [`SWAPFILE_CLUSTER`]; allocation takes slots *in order*
//! from the current cluster, so pages reclaimed together get neighbouring
//! slots, which is the locality cluster readahead relies on. When the
//! current cluster is used up we take a free cluster, then a partly used
//! one. Every step is O(1) amortised: no scan over the whole area.
//!
//! Per slot we keep the swap count (how many PTEs hold the entry: above 1
//! once fork shared it) and the swap cache (the frame holding the page, if
//! any). This is the 2026 "swap table" shape: one word per slot holding the
//! cache state, plus the count. A slot is free when its count is 0 and it
//! has no swap-cache page.
//!
//! Simplifications: one swap device (type 0), one allocation cluster (one
//! CPU), no discard, no priorities, no swapoff.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::page::{Pfn, NIL};
use super::swap::SwapEntry;
use super::zswap::Zswap;
use crate::drivers::virtio::blk::VirtioBlk;
use crate::drivers::zram::Zram;
use crate::mm::PAGE_SIZE;
use crate::sched::clock::sched_clock;

/// What stores the slots.
// One per kernel, for the whole run: the variants' size difference costs
// nothing worth a Box on the I/O path.
#[allow(clippy::large_enum_variant)]
pub enum SwapDevice {
    /// The virtio-blk disk: asynchronous I/O.
    Virtio(VirtioBlk),
    /// zram: synchronous, in RAM (Linux `SWP_SYNCHRONOUS_IO`).
    Zram(Zram),
}

impl SwapDevice {
    pub fn capacity_bytes(&self) -> u64 {
        match self {
            SwapDevice::Virtio(b) => b.capacity_bytes(),
            SwapDevice::Zram(z) => z.capacity_bytes(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            SwapDevice::Virtio(_) => "virtio",
            SwapDevice::Zram(_) => "zram",
        }
    }
}

/// Slots per cluster (Linux `SWAPFILE_CLUSTER` with THP swap on x86_64).
pub const SWAPFILE_CLUSTER: u32 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClusterState {
    Free,
    /// Some slots free, on the `nonfull` list.
    Nonfull,
    Full,
    /// The cluster allocations currently come from.
    Current,
}

#[derive(Debug, Clone, Copy)]
struct Cluster {
    used: u32,
    state: ClusterState,
}

/// What a swap area holds (see [`SwapInfo::usage_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwapUsage {
    /// Slots with a count or a cached page, the header excluded.
    pub slots_in_use: u64,
    pub swap_cache: u64,
    pub zeromap_bits: u64,
}

/// Linux `struct swap_info_struct` for our one device.
pub struct SwapInfo {
    /// The device behind the slots (`None` only for allocator tests).
    device: Option<SwapDevice>,
    /// zswap, in front of the device.
    pub zswap: Zswap,
    /// One bit per slot: the page was all zeros, nothing was stored
    /// (Linux `si->zeromap`).
    zeromap: Vec<u64>,
    nr_slots: u32,
    /// Swap count per slot (Linux `swap_map`).
    swap_map: Vec<u8>,
    /// Swap cache per slot: the frame, or `NIL` (Linux: the swap table).
    cache: Vec<Pfn>,
    clusters: Vec<Cluster>,
    free_clusters: VecDeque<u32>,
    nonfull_clusters: VecDeque<u32>,
    /// (cluster, next offset to try) of the current allocation cluster.
    current: Option<(u32, u32)>,
    /// Slots in use (count > 0 or cached), header excluded.
    nr_used: u32,
    /// Per slot: the workingset shadow left when reclaim evicted the
    /// slot's page, or 0 (Linux keeps it in the swap table, in the place
    /// of the folio: `__swap_cache_del_folio(.., shadow)`).
    shadows: Vec<u32>,
    /// Most slots in use at once since the last [`Self::reset_stats`].
    pub peak_used: u32,
    /// Highest swap count any slot reached (above 1 only when fork shared
    /// swap entries) since the last [`Self::reset_stats`].
    pub peak_count: u8,
    /// Time (sched_clock cycles) spent with more than half of the slots in
    /// use (`vm_swap_full`), and since when it is so now.
    full_cycles: u64,
    full_since: Option<u64>,
}

impl SwapInfo {
    /// Linux `swapon`: takes the whole device as one swap area.
    pub fn new(device: SwapDevice) -> SwapInfo {
        let nr_slots = (device.capacity_bytes() / PAGE_SIZE).min(u32::MAX as u64 - 1) as u32;
        let mut si = SwapInfo::new_detached(nr_slots);
        si.device = Some(device);
        si
    }

    /// The device behind the slots.
    pub fn device(&mut self) -> &mut SwapDevice {
        self.device.as_mut().expect("swap area without a device")
    }

    /// The virtio disk behind the slots (panics for zram: callers check
    /// [`Self::is_synchronous`] first).
    pub fn bdev(&mut self) -> &mut VirtioBlk {
        match self.device() {
            SwapDevice::Virtio(b) => b,
            SwapDevice::Zram(_) => panic!("asynchronous I/O on zram"),
        }
    }

    /// The virtio disk, if that is the device (for plugging and polling,
    /// which zram has no use for).
    pub fn virtio_mut(&mut self) -> Option<&mut VirtioBlk> {
        match &mut self.device {
            Some(SwapDevice::Virtio(b)) => Some(b),
            _ => None,
        }
    }

    /// Linux `SWP_SYNCHRONOUS_IO`: reads complete in the call (zram).
    pub fn is_synchronous(&self) -> bool {
        matches!(self.device, Some(SwapDevice::Zram(_)))
    }

    /// "virtio", "zram" or "none".
    pub fn device_name(&self) -> &'static str {
        self.device.as_ref().map_or("none", SwapDevice::name)
    }

    /// Requests in flight on the device.
    pub fn nr_in_flight(&self) -> usize {
        match &self.device {
            Some(SwapDevice::Virtio(b)) => b.in_flight(),
            _ => 0,
        }
    }

    /// What the area holds, counted slot by slot (for the leak check:
    /// the running `nr_used` could itself be wrong).
    pub fn usage_counts(&self) -> SwapUsage {
        let slots = 1..self.nr_slots as usize;
        SwapUsage {
            slots_in_use: slots
                .clone()
                .filter(|&o| self.swap_map[o] != 0 || self.cache[o] != NIL)
                .count() as u64,
            swap_cache: slots.filter(|&o| self.cache[o] != NIL).count() as u64,
            zeromap_bits: self.zeromap.iter().map(|w| w.count_ones() as u64).sum(),
        }
    }

    /// Linux `swap_zeromap_folio_test`.
    pub fn zeromap_test(&self, entry: SwapEntry) -> bool {
        self.zeromap[entry.offset as usize / 64] & (1 << (entry.offset % 64)) != 0
    }

    /// Linux `swap_zeromap_folio_set` / `_clear`.
    pub fn zeromap_set(&mut self, entry: SwapEntry, is_zero: bool) {
        let w = &mut self.zeromap[entry.offset as usize / 64];
        let bit = 1u64 << (entry.offset % 64);
        if is_zero {
            *w |= bit;
        } else {
            *w &= !bit;
        }
    }

    /// A swap area of `nr_slots` slots with no device behind it: for
    /// exercising the allocator alone.
    pub fn new_detached(nr_slots: u32) -> SwapInfo {
        assert!(nr_slots >= 2, "swap device too small");
        let nr_clusters = nr_slots.div_ceil(SWAPFILE_CLUSTER);
        let mut clusters =
            alloc::vec![Cluster { used: 0, state: ClusterState::Free }; nr_clusters as usize];
        // Slot 0 (the header) counts as used forever; a short last cluster
        // counts its missing slots as used.
        clusters[0].used = 1;
        let tail_missing = nr_clusters * SWAPFILE_CLUSTER - nr_slots;
        clusters[nr_clusters as usize - 1].used += tail_missing;
        // Exact capacities: the leak check counts heap bytes, and `trim`
        // brings the lists back to these.
        let mut free_clusters = VecDeque::with_capacity(nr_clusters as usize);
        let mut nonfull_clusters = VecDeque::with_capacity(nr_clusters as usize);
        for (i, c) in clusters.iter_mut().enumerate() {
            if c.used == 0 {
                free_clusters.push_back(i as u32);
            } else {
                c.state = ClusterState::Nonfull;
                nonfull_clusters.push_back(i as u32);
            }
        }
        SwapInfo {
            device: None,
            zswap: Zswap::new(),
            zeromap: alloc::vec![0; (nr_slots as usize).div_ceil(64)],
            nr_slots,
            swap_map: alloc::vec![0; nr_slots as usize],
            cache: alloc::vec![NIL; nr_slots as usize],
            clusters,
            free_clusters,
            nonfull_clusters,
            current: None,
            nr_used: 0,
            shadows: alloc::vec![0; nr_slots as usize],
            peak_used: 0,
            peak_count: 0,
            full_cycles: 0,
            full_since: None,
        }
    }

    /// Starts the swap-size figures afresh (the measured part of a run).
    pub fn reset_stats(&mut self) {
        self.peak_used = self.nr_used;
        self.peak_count = 0;
        self.full_cycles = 0;
        self.full_since = self.vm_swap_full().then(sched_clock);
    }

    /// Cycles spent so far with swap more than half full.
    pub fn full_cycles(&self) -> u64 {
        self.full_cycles + self.full_since.map_or(0, |t| sched_clock() - t)
    }

    /// Notes a change of `nr_used` for the peak and the half-full time.
    fn note_usage(&mut self, was_full: bool) {
        self.peak_used = self.peak_used.max(self.nr_used);
        match (was_full, self.vm_swap_full()) {
            (false, true) => self.full_since = Some(sched_clock()),
            (true, false) => {
                if let Some(t) = self.full_since.take() {
                    self.full_cycles += sched_clock() - t;
                }
            }
            _ => {}
        }
    }

    /// Takes the workingset shadow of `entry`'s slot, if reclaim left one
    /// (Linux: the swap table held a shadow where the folio now goes).
    pub fn take_shadow(&mut self, entry: SwapEntry) -> Option<u32> {
        let s = core::mem::take(&mut self.shadows[entry.offset as usize]);
        (s != 0).then_some(s)
    }

    /// The workingset shadow of `entry`'s slot without taking it (0: none).
    pub fn shadow(&self, entry: SwapEntry) -> u32 {
        self.shadows[entry.offset as usize]
    }

    /// Slots in the area, the header included (Linux `si->max`).
    pub fn max(&self) -> u32 {
        self.nr_slots
    }

    /// Usable slots (Linux `total_swap_pages`).
    pub fn total_slots(&self) -> u32 {
        self.nr_slots - 1
    }

    pub fn nr_used(&self) -> u32 {
        self.nr_used
    }

    /// Linux `vm_swap_full`: more than half the slots are in use.
    pub fn vm_swap_full(&self) -> bool {
        self.nr_used * 2 > self.total_slots()
    }

    fn is_slot_free(&self, offset: u32) -> bool {
        offset != 0 && self.swap_map[offset as usize] == 0 && self.cache[offset as usize] == NIL
    }

    /// Linux `swap_count`.
    pub fn swap_count(&self, entry: SwapEntry) -> u8 {
        self.swap_map[entry.offset as usize]
    }

    /// Is the slot allocated (swapped out, or cached)? Readahead skips
    /// slots for which this is false (Linux: -ENOENT from the add check).
    pub fn is_slot_in_use(&self, entry: SwapEntry) -> bool {
        entry.offset != 0 && entry.offset < self.nr_slots && !self.is_slot_free(entry.offset)
    }

    /// Linux `folio_alloc_swap`: takes the next free slot (in order within
    /// the current cluster) and puts `pfn` in its swap cache, in one step
    /// as Linux does since the swap table. `None` when the area is full.
    pub fn folio_alloc_swap(&mut self, pfn: Pfn) -> Option<SwapEntry> {
        // LAB 2 BEGIN folio_alloc_swap
        // LAB 2 STANDIN: // Before lab 2 the swap area reads as full.
        // LAB 2 STANDIN: let _ = pfn;
        // LAB 2 STANDIN: None
        loop {
            if let Some((c, next)) = self.current {
                let end = ((c + 1) * SWAPFILE_CLUSTER).min(self.nr_slots);
                if let Some(off) = (next..end).find(|&o| self.is_slot_free(o)) {
                    self.current = Some((c, off + 1));
                    self.take_slot(off);
                    self.cache[off as usize] = pfn;
                    return Some(SwapEntry::new(off));
                }
                let cl = &mut self.clusters[c as usize];
                cl.state = if cl.used < SWAPFILE_CLUSTER {
                    ClusterState::Nonfull
                } else {
                    ClusterState::Full
                };
                if cl.state == ClusterState::Nonfull {
                    self.nonfull_clusters.push_back(c);
                }
                self.current = None;
            }
            let c = self.next_cluster()?;
            self.clusters[c as usize].state = ClusterState::Current;
            self.current = Some((c, c * SWAPFILE_CLUSTER));
        }
        // LAB 2 END folio_alloc_swap
    }

    /// Drops the cluster lists' stale and repeated entries and the
    /// capacity they grew to beyond one entry per cluster (at the end of a
    /// run, so that the leak check's heap figure is back at its baseline).
    pub fn trim(&mut self) {
        let n = self.clusters.len();
        let mut seen = alloc::vec![false; n];
        let clusters = &self.clusters;
        self.free_clusters.retain(|&c| {
            clusters[c as usize].state == ClusterState::Free
                && !core::mem::replace(&mut seen[c as usize], true)
        });
        self.nonfull_clusters.retain(|&c| {
            let cl = clusters[c as usize];
            cl.state == ClusterState::Nonfull
                && cl.used < SWAPFILE_CLUSTER
                && !core::mem::replace(&mut seen[c as usize], true)
        });
        self.free_clusters.shrink_to(n);
        self.nonfull_clusters.shrink_to(n);
        if let Some(SwapDevice::Zram(z)) = &mut self.device {
            z.trim();
        }
    }

    /// A free cluster first, else a partly used one (stale list entries,
    /// whose state changed since they were queued, are skipped).
    fn next_cluster(&mut self) -> Option<u32> {
        while let Some(c) = self.free_clusters.pop_front() {
            if self.clusters[c as usize].state == ClusterState::Free {
                return Some(c);
            }
        }
        while let Some(c) = self.nonfull_clusters.pop_front() {
            let cl = self.clusters[c as usize];
            if cl.state == ClusterState::Nonfull && cl.used < SWAPFILE_CLUSTER {
                return Some(c);
            }
        }
        None
    }

    fn take_slot(&mut self, offset: u32) {
        self.clusters[(offset / SWAPFILE_CLUSTER) as usize].used += 1;
        let was_full = self.vm_swap_full();
        self.nr_used += 1;
        self.shadows[offset as usize] = 0;
        self.note_usage(was_full);
    }

    /// Called when a slot may have become free (count 0, no cache). A freed
    /// slot forgets everything stored for it: the zswap entry (Linux
    /// `zswap_invalidate`), the zero bit, and zram's copy (discard).
    fn maybe_free_slot(&mut self, offset: u32) {
        if !self.is_slot_free(offset) {
            return;
        }
        self.zswap.invalidate(offset);
        self.zeromap_set(SwapEntry::new(offset), false);
        self.shadows[offset as usize] = 0;
        if let Some(SwapDevice::Zram(z)) = &mut self.device {
            z.discard(offset);
        }
        let was_full = self.vm_swap_full();
        self.nr_used -= 1;
        self.note_usage(was_full);
        let c = offset / SWAPFILE_CLUSTER;
        let cl = &mut self.clusters[c as usize];
        cl.used -= 1;
        match cl.state {
            ClusterState::Current => {}
            _ if cl.used == 0 => {
                cl.state = ClusterState::Free;
                self.free_clusters.push_back(c);
            }
            ClusterState::Full => {
                cl.state = ClusterState::Nonfull;
                self.nonfull_clusters.push_back(c);
            }
            _ => {}
        }
    }

    /// Linux `folio_dup_swap` / `swap_duplicate`: one more PTE holds it.
    /// Counts up to 255 in a byte (Linux: `SWAP_MAP_MAX`, 62, then
    /// continuation pages); the process limit keeps fork below that.
    pub fn swap_duplicate(&mut self, entry: SwapEntry) {
        let c = &mut self.swap_map[entry.offset as usize];
        *c = c.checked_add(1).expect("swap count overflow");
        self.peak_count = self.peak_count.max(*c);
    }

    /// Linux `folio_put_swap` / `swap_free`: one PTE less; frees the slot
    /// when nothing refers to it any more.
    pub fn swap_free(&mut self, entry: SwapEntry) {
        // LAB 2 BEGIN swap_free
        // LAB 2 STANDIN: let _ = entry;
        // LAB 2 STANDIN: unreachable!("lab 2 stand-in: no slot is allocated before lab 2")
        let c = &mut self.swap_map[entry.offset as usize];
        *c = c.checked_sub(1).expect("swap count underflow");
        self.maybe_free_slot(entry.offset);
        // LAB 2 END swap_free
    }

    /// The swap-cache page of `entry`, if any (Linux `swap_cache_get_folio`).
    pub fn cache_lookup(&self, entry: SwapEntry) -> Option<Pfn> {
        let pfn = *self.cache.get(entry.offset as usize)?;
        (pfn != NIL).then_some(pfn)
    }

    /// Records `pfn` as the cache page of `entry`.
    pub fn cache_insert(&mut self, entry: SwapEntry, pfn: Pfn) {
        let slot = &mut self.cache[entry.offset as usize];
        assert_eq!(*slot, NIL, "swap slot {} already cached", entry.offset);
        *slot = pfn;
    }

    /// Forgets the cache page of `entry`, leaving `shadow` (0: none) in
    /// its place; frees the slot if unreferenced (the shadow goes with it).
    pub fn cache_remove(&mut self, entry: SwapEntry, shadow: u32) {
        self.cache[entry.offset as usize] = NIL;
        self.shadows[entry.offset as usize] = shadow;
        self.maybe_free_slot(entry.offset);
    }
}

/// Which device `swapon` should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Virtio,
    Zram { disksize: u64 },
}

/// Linux `swapon`: makes the virtio-blk disk, or a new zram device, the
/// swap area. Returns the number of usable slots. Calling it again with the
/// same choice is harmless; with another choice it replaces an idle area.
pub fn swapon(choice: DeviceChoice) -> Result<u32, crate::drivers::virtio::VirtioError> {
    use super::state::with_mm_state;
    let wanted = match choice {
        DeviceChoice::Virtio => "virtio",
        DeviceChoice::Zram { .. } => "zram",
    };
    let current = with_mm_state(|st| {
        st.swap
            .as_ref()
            .map(|s| (s.device_name(), s.nr_used(), s.total_slots()))
    });
    match current {
        Some((name, _, slots)) if name == wanted => return Ok(slots),
        Some((_, used, _)) => {
            assert_eq!(used, 0, "swapoff of a swap area in use");
            let old = with_mm_state(|st| st.swap.take());
            drop(old);
        }
        None => {}
    }
    let device = match choice {
        DeviceChoice::Virtio => SwapDevice::Virtio(VirtioBlk::probe()?),
        DeviceChoice::Zram { disksize } => SwapDevice::Zram(Zram::new(disksize)),
    };
    let info = SwapInfo::new(device);
    let slots = info.total_slots();
    with_mm_state(|st| st.swap = Some(info));
    Ok(slots)
}
