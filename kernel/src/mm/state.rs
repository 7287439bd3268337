//! The state the mm subsystem shares, behind one lock.
//!
//! Linux spreads this over many locks: `mmap_lock` per address space, a
//! page-table lock per table, the lruvec lock, swap cluster locks, and a
//! lock bit per folio. With one CPU, and tasks that only switch while
//! nobody holds this lock (the scheduler checks), a single lock is enough
//! for mutual exclusion. What cannot be simplified away are the *states*
//! that span an I/O wait, and those we keep: a folio under read I/O is
//! `LOCKED`, one being written is under `WRITEBACK`, and a fault that
//! slept on a read (the lock released, Linux `VM_FAULT_RETRY`) runs again
//! and revalidates everything (see `do_swap_page`).
//!
//! The address spaces live here too, in a registry indexed by a small id,
//! so that reclaim can reach any of them through the reverse map.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use super::fault_latency::FaultLatency;
use super::map_around::MapAroundMode;
use super::memcontrol::MemCgroup;
use super::mm_types::{MmStruct, Vma};
use super::page::{Lru, MemMap};
use super::swap_state::{RaPage, ReadaheadMode, SwapRaState};
use super::swapfile::SwapInfo;

/// Boot-time swap policy (set from the knobs before the workload runs).
#[derive(Debug, Clone, Copy)]
pub struct SwapPolicy {
    pub readahead: ReadaheadMode,
    /// Linux `page_cluster` (`/proc/sys/vm/page-cluster`).
    pub page_cluster: u32,
    /// `swap.zswap_bypass`: the seed's patch.
    pub zswap_bypass: bool,
    /// `swap.ra_skip_zswap`: readahead skips slots that are in zswap.
    pub ra_skip_zswap: bool,
    /// `swap.map_around`.
    pub map_around: MapAroundMode,
    /// `swap.map_around_old`: map neighbours with the accessed bit clear.
    pub map_around_old: bool,
    /// `swap.map_around_skip_writeback`: leave neighbours under writeback.
    pub map_around_skip_writeback: bool,
    /// `vm.reclaim_fifo` (not in Linux): reclaim ignores references.
    pub reclaim_fifo: bool,
}

impl Default for SwapPolicy {
    fn default() -> Self {
        SwapPolicy {
            readahead: ReadaheadMode::Vma,
            page_cluster: 3,
            zswap_bypass: false,
            ra_skip_zswap: false,
            map_around: MapAroundMode::Off,
            map_around_old: false,
            map_around_skip_writeback: false,
            reclaim_fifo: false,
        }
    }
}

/// Everything behind [`MM_STATE`].
pub struct MmState {
    pub mem_map: MemMap,
    pub lru: Lru,
    pub memcg: MemCgroup,
    pub swap: Option<SwapInfo>,
    pub ra: SwapRaState,
    pub policy: SwapPolicy,
    pub latency: FaultLatency,
    /// Neighbours the current fault's VMA readahead read (map-around).
    pub ra_batch: Vec<RaPage>,
    /// Readahead pages to map when their read completes
    /// (`swap.map_around=io-complete`), with the address space they belong to.
    pub deferred_maps: Vec<(usize, RaPage)>,
    /// Linux `zero_pfn`: the shared page of zeros that read faults on
    /// never-written anonymous memory map (allocated at boot, never freed,
    /// not charged, never on the LRU).
    pub zero_pfn: super::page::Pfn,
    /// Linux `lruvec->nonresident_age`: the workingset clock.
    pub nonresident_age: u64,
    /// The page cache: files, their pages, the files disk.
    pub page_cache: super::filemap::PageCache,
    /// `vm.swappiness` (Linux `memcg->swappiness` of our one group).
    pub swappiness: u64,
    /// Fork families: the reverse map's roots (see [`super::rmap`]).
    pub anon_vmas: Vec<Option<super::rmap::AnonVma>>,
    mms: Vec<Option<MmStruct>>,
}

static MM_STATE: Mutex<Option<MmState>> = Mutex::new(None);

/// Id of the current address space, or `NO_MM`.
static CURRENT_MM: AtomicUsize = AtomicUsize::new(NO_MM);
pub const NO_MM: usize = usize::MAX;

/// Sets up the shared state for `nr_frames` physical frames (at boot).
pub fn init(nr_frames: usize) {
    let zero_pa = super::page_alloc::alloc_page().expect("no frame for the zero page");
    // SAFETY: the frame was just allocated and is in the direct map.
    unsafe {
        core::ptr::write_bytes(
            super::phys_to_virt(zero_pa) as *mut u8,
            0,
            super::PAGE_SIZE as usize,
        )
    };
    *MM_STATE.lock() = Some(MmState {
        zero_pfn: super::page::pa_to_pfn(zero_pa),
        mem_map: MemMap::new(nr_frames),
        lru: Lru::default(),
        memcg: MemCgroup::unlimited(),
        swap: None,
        ra: SwapRaState::new(),
        policy: SwapPolicy::default(),
        latency: FaultLatency::new(),
        ra_batch: Vec::new(),
        deferred_maps: Vec::new(),
        nonresident_age: 0,
        page_cache: super::filemap::PageCache::new(),
        swappiness: 60,
        anon_vmas: Vec::new(),
        mms: Vec::new(),
    });
}

/// Runs `f` with the mm state locked. Never touch workload memory inside:
/// a page fault there would need this lock again.
pub fn with_mm_state<R>(f: impl FnOnce(&mut MmState) -> R) -> R {
    let mut guard = MM_STATE
        .try_lock()
        .expect("mm state lock taken twice (a fault while holding it?)");
    f(guard.as_mut().expect("mm state not initialised"))
}

/// Is the mm state locked right now? The scheduler checks that nobody
/// switches tasks while holding it.
pub fn mm_state_is_locked() -> bool {
    MM_STATE.is_locked()
}

/// Id of the current address space (Linux `current->mm`).
pub fn current_mm_id() -> Option<usize> {
    let id = CURRENT_MM.load(Ordering::Relaxed);
    (id != NO_MM).then_some(id)
}

pub(crate) fn set_current_mm_id(id: Option<usize>) {
    CURRENT_MM.store(id.unwrap_or(NO_MM), Ordering::Relaxed);
}

impl MmState {
    /// Adds an address space to the registry; returns its id.
    pub fn register_mm(&mut self, mm: MmStruct) -> usize {
        if let Some(i) = self.mms.iter().position(Option::is_none) {
            self.mms[i] = Some(mm);
            return i;
        }
        self.mms.push(Some(mm));
        self.mms.len() - 1
    }

    /// Takes an address space out of the registry (and forgets pending
    /// map-around work for it, so a reused id never receives it).
    pub fn unregister_mm(&mut self, id: usize) -> MmStruct {
        self.deferred_maps.retain(|(mm, _)| *mm != id);
        self.mms[id].take().expect("no such address space")
    }

    /// Gives back the capacity that per-run work lists and the address
    /// space registry grew to, once nothing is in them (at the end of a
    /// run, so the leak check's heap figure returns to its baseline).
    pub fn trim(&mut self) {
        while matches!(self.mms.last(), Some(None)) {
            self.mms.pop();
        }
        self.mms.shrink_to_fit();
        while matches!(self.anon_vmas.last(), Some(None)) {
            self.anon_vmas.pop();
        }
        self.anon_vmas.shrink_to_fit();
        if self.ra_batch.is_empty() {
            self.ra_batch = Vec::new();
        }
        if self.deferred_maps.is_empty() {
            self.deferred_maps = Vec::new();
        }
        if let Some(swap) = self.swap.as_mut() {
            swap.zswap.trim();
            swap.trim();
        }
    }

    pub fn mm(&self, id: usize) -> &MmStruct {
        self.mms[id].as_ref().expect("no such address space")
    }

    pub fn mm_mut(&mut self, id: usize) -> &mut MmStruct {
        self.mms[id].as_mut().expect("no such address space")
    }

    /// The VMA of address space `id` that contains `addr`.
    pub fn find_vma(&self, id: usize, addr: u64) -> Option<Vma> {
        self.mm(id).find_vma(addr)
    }
}

/// One line about the memory cgroup and swap, for out-of-memory reports.
/// Never blocks: if the state is locked (the fault path holds it) it says so.
pub fn oom_report() -> alloc::string::String {
    let Some(guard) = MM_STATE.try_lock() else {
        return "mm state busy".into();
    };
    let Some(st) = guard.as_ref() else {
        return "mm state not initialised".into();
    };
    let swap = match &st.swap {
        Some(s) => alloc::format!("swap {}/{} slots used", s.nr_used(), s.total_slots()),
        None => "no swap".into(),
    };
    let max = if st.memcg.max_pages == u64::MAX {
        "max".into()
    } else {
        alloc::format!("{}", st.memcg.max_pages)
    };
    let zswap = st.swap.as_ref().map_or(0, |s| s.zswap.pool_pages());
    alloc::format!(
        "memcg usage {} of {max} pages ({} anon and file: {} inactive, {} active anon and {} inactive, {} active file on the LRU; {zswap} zswap pool), {swap}, {} pages free in RAM",
        super::memcontrol::memcg_usage(st),
        st.memcg.usage_pages,
        st.lru.inactive_anon.len(),
        st.lru.active_anon.len(),
        st.lru.inactive_file.len(),
        st.lru.active_file.len(),
        super::page_alloc::nr_free_pages()
    )
}
