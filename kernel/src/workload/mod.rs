//! Workloads: what runs inside the address spaces, chosen by the
//! `workload` knob. Each one checks the content of every page it reads
//! back, so a lost or stale page shows up as a corrupt page.

pub mod smoke;
pub mod thrash;

use alloc::format;

use crate::knobs::Config;
use crate::mm::fault_latency::FaultLatency;
use crate::mm::state::{with_mm_state, SwapPolicy};
use crate::mm::swap_state::ReadaheadMode;
use crate::mm::{page_alloc, swapfile, vmstat, PAGE_SIZE};

/// Virtual address where workload memory starts (lower half).
pub const WORKLOAD_BASE: u64 = 0x0000_1000_0000_0000;

/// What a workload run measured.
#[derive(Debug, Clone, Default)]
pub struct WorkloadResult {
    /// TSC cycles spent in the measured part of the workload.
    pub elapsed_cycles: u64,
    /// Pages whose content was verified.
    pub checked_pages: u64,
    /// Pages whose content did not match what was written.
    pub corrupt_pages: u64,
    /// Frames the allocator manages.
    pub totalram_pages: u64,
    /// Frames not returned after the workload's address spaces were freed.
    pub leaked_pages: u64,
    /// TSC cycles to copy one 4 KiB page, measured in the same run: a unit
    /// to express fault costs in, since absolute cycles under TCG depend on
    /// the host.
    pub page_copy_cycles: u64,
}

impl WorkloadResult {
    pub fn is_success(&self) -> bool {
        self.corrupt_pages == 0 && self.leaked_pages == 0
    }

    pub fn status(&self) -> &'static str {
        match (self.corrupt_pages, self.leaked_pages) {
            (0, 0) => "ok",
            (0, _) => "leak",
            _ => "corrupt",
        }
    }
}

/// Why a workload could not run at all.
#[derive(Debug, Clone)]
pub struct WorkloadError(pub alloc::string::String);

/// Frames kept free for page tables and kernel metadata beyond the
/// memory cgroup's limit.
const RESERVE_PAGES: u64 = 2048;

/// Applies the mm knobs (memory limit, readahead policy), turns swap on if
/// there is a disk, and checks that the machine has the memory the run
/// needs: RAM must hold the cgroup's limit (or, with no limit, the whole
/// footprint), since only the cgroup reclaims.
fn setup_mm(config: &Config) -> Result<(), WorkloadError> {
    let max = config.number("memcg.max");
    let max_pages = if max == u64::MAX {
        u64::MAX
    } else {
        max / PAGE_SIZE
    };
    let footprint = config.number("workload.size").div_ceil(PAGE_SIZE);
    let needed = footprint.min(max_pages) + RESERVE_PAGES;
    let free = page_alloc::nr_free_pages() as u64;
    if needed > free {
        let what = if max_pages == u64::MAX {
            "workload.size"
        } else {
            "memcg.max"
        };
        return Err(WorkloadError(format!(
            "{what} needs {needed} pages (with {RESERVE_PAGES} for the kernel) but only {free} are free; \
             lower it or give the machine more memory (--mem)"
        )));
    }
    let readahead = match config.word("swap.readahead") {
        "vma" => ReadaheadMode::Vma,
        "cluster" => ReadaheadMode::Cluster,
        _ => ReadaheadMode::Off,
    };
    let policy = SwapPolicy {
        readahead,
        page_cluster: config.number("vm.page_cluster") as u32,
    };
    let swap = swapfile::swapon();
    with_mm_state(|st| {
        st.memcg.max_pages = max_pages;
        st.memcg.peak_pages = st.memcg.usage_pages;
        st.policy = policy;
        st.latency = FaultLatency::new();
    });
    match swap {
        Ok(slots) => crate::println!("swap: virtio-blk, {slots} slots of 4 KiB"),
        Err(e) => crate::println!("swap: none ({e:?}); pages over memcg.max cannot be reclaimed"),
    }
    vmstat::reset();
    Ok(())
}

/// Runs the configured workload.
pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    // Swap-on allocates the device's rings for good: take the leak
    // baseline after it.
    setup_mm(config)?;
    let free_before = page_alloc::nr_free_pages();
    let mut result = match config.word("workload") {
        "smoke" => smoke::run(config)?,
        "thrash" => thrash::run(config)?,
        other => unreachable!("knob registry admitted unknown workload {other}"),
    };
    result.totalram_pages = page_alloc::totalram_pages() as u64;
    result.page_copy_cycles = measure_page_copy_cycles();
    let free_after = page_alloc::nr_free_pages();
    result.leaked_pages = free_before.saturating_sub(free_after) as u64;
    Ok(result)
}

/// Average TSC cycles of one 4 KiB page copy (median of 9 rounds of 64).
pub fn measure_page_copy_cycles() -> u64 {
    let (Ok(a), Ok(b)) = (page_alloc::alloc_page(), page_alloc::alloc_page()) else {
        return 0;
    };
    let (src, dst) = (
        crate::mm::phys_to_virt(a) as *const u8,
        crate::mm::phys_to_virt(b) as *mut u8,
    );
    let mut rounds = [0u64; 9];
    for r in rounds.iter_mut() {
        let start = crate::arch::cpu::rdtsc();
        for _ in 0..64 {
            // SAFETY: two distinct frames we own, mapped in the direct map.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE_SIZE as usize) };
            core::hint::black_box(dst);
        }
        *r = (crate::arch::cpu::rdtsc() - start) / 64;
    }
    page_alloc::free_page(a);
    page_alloc::free_page(b);
    rounds.sort_unstable();
    rounds[4]
}

/// SplitMix64: a tiny, good 64-bit mixer for deterministic patterns.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Words per 4 KiB page.
const WORDS_PER_PAGE: usize = 512;

/// Fills the page at `va` with the pattern of `tag` (any value that
/// identifies what should be there: seed, task, page, write count).
///
/// # Safety
/// `va` must be a page-aligned address inside a writable VMA of the
/// current address space (a missing page is demand-faulted in).
pub unsafe fn fill_page(va: u64, tag: u64) {
    let base = mix64(tag);
    let p = va as *mut u64;
    for i in 0..WORDS_PER_PAGE {
        // SAFETY: guaranteed by the caller; volatile so that every word
        // really goes through the MMU (and faults if it has to).
        unsafe {
            p.add(i)
                .write_volatile(base ^ (i as u64).wrapping_mul(0x100_0000_01b3))
        };
    }
}

/// Checks that the page at `va` holds the pattern of `tag`.
///
/// # Safety
/// As for [`fill_page`], with a readable VMA.
pub unsafe fn verify_page(va: u64, tag: u64) -> bool {
    let base = mix64(tag);
    let p = va as *const u64;
    (0..WORDS_PER_PAGE).all(|i| {
        // SAFETY: guaranteed by the caller.
        let word = unsafe { p.add(i).read_volatile() };
        word == base ^ (i as u64).wrapping_mul(0x100_0000_01b3)
    })
}
