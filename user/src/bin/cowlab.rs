//! Lab 6's experiment (labs/lab6.md): 256 pages written, paged out, then
//! shared by fork. The child rewrites every page and exits; then the
//! parent rewrites every page. The run's counters (`swapin_nonexclusive`,
//! `pgfault_wp_copy`, `pgfault_wp_reuse`, `pgmajfault`,
//! `pgfault_swapcache`) tell who copied, who reused, and who read from
//! the disk.

#![no_std]
#![no_main]
use user::*;

entry!(main);

const PAGES: usize = 256;

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| i as u64);
    r.pageout(); // every page to swap: the PTEs hold exclusive entries
    if fork() == 0 {
        // The child's first touch of each page: a shared swap entry.
        ensure!(r.check(|i| i as u64) == 0, "child read");
        r.fill(|i| 1000 + i as u64);
        ensure!(r.check(|i| 1000 + i as u64) == 0, "child write");
        exit(failures());
    }
    wait_all();
    // The child is gone: the parent's entries have one user again.
    ensure!(r.check(|i| i as u64) == 0, "parent read");
    r.fill(|i| 2000 + i as u64);
    ensure!(r.check(|i| 2000 + i as u64) == 0, "parent write");
    failures()
}
