//! `workload=smoke`: one address space, one anonymous VMA of
//! `workload.size` bytes. Every page is written once (each first touch is
//! a demand-zero fault, `do_anonymous_page`), then every page is read back
//! and verified. With `workload.pattern=stride` only every
//! `workload.stride`-th page is touched: a sparse region, whose
//! page-table pages (`pgtable_alloc`) lab 1's experiment counts.

use super::{fill_page, verify_page, WorkloadError, WorkloadResult, WORKLOAD_BASE};
use crate::knobs::Config;
use crate::mm::mm_types::{new_anon_mm, switch_mm};
use crate::mm::{page_align_up, PAGE_SIZE};
use crate::sched::clock::sched_clock;

pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let size = page_align_up(config.number("workload.size"));
    let seed = config.number("workload.seed");
    let nr_pages = size / PAGE_SIZE;
    let step = match config.word("workload.pattern") {
        "stride" => config.number("workload.stride"),
        _ => 1,
    };
    let mm = new_anon_mm("smoke", WORKLOAD_BASE, size)?;
    switch_mm(Some(&mm));
    let start = sched_clock();
    for page in (0..nr_pages).step_by(step as usize) {
        // SAFETY: the page lies inside the VMA just created in the current
        // address space; the first write faults it in.
        unsafe { fill_page(WORKLOAD_BASE + page * PAGE_SIZE, seed ^ (page << 20)) };
    }
    let mut corrupt = 0;
    for page in (0..nr_pages).step_by(step as usize) {
        // SAFETY: as above; every page is mapped by now.
        let ok = unsafe { verify_page(WORKLOAD_BASE + page * PAGE_SIZE, seed ^ (page << 20)) };
        corrupt += u64::from(!ok);
    }
    let elapsed_cycles = sched_clock() - start;
    switch_mm(None);
    drop(mm);
    Ok(WorkloadResult {
        elapsed_cycles,
        checked_pages: nr_pages.div_ceil(step),
        corrupt_pages: corrupt,
        ..WorkloadResult::default()
    })
}
