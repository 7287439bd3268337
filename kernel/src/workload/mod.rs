//! Workloads: what runs inside the address spaces, chosen by the
//! `workload` knob. Each one checks the content of every page it reads
//! back, so a lost or stale page shows up as a corrupt page.

pub mod smoke;

use crate::knobs::Config;
use crate::mm::page_alloc;

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

/// Runs the configured workload.
pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let free_before = page_alloc::nr_free_pages();
    let mut result = match config.word("workload") {
        "smoke" => smoke::run(config)?,
        other => unreachable!("knob registry admitted unknown workload {other}"),
    };
    result.totalram_pages = page_alloc::totalram_pages() as u64;
    let free_after = page_alloc::nr_free_pages();
    result.leaked_pages = free_before.saturating_sub(free_after) as u64;
    Ok(result)
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
