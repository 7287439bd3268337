//! usertests: fork after `MADV_PAGEOUT`. Every swap entry gets a second
//! reference (`swap_duplicate`: swap count 2) and loses its exclusive bit
//! in both processes. The child's swap-ins are non-exclusive, mapped
//! read-only while the parent still holds the entries; its writes copy.
//! The parent then finds the pages in the swap cache (the child's reads
//! put them there) and, their only user by then, writes them in place.

#![no_std]
#![no_main]

use user::*;

entry!(main);

const PAGES: usize = 128;

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| 3 * i as u64);
    r.pageout();
    for i in 0..PAGES {
        match pte(r.addr(i)) {
            Pte::Swap {
                exclusive,
                swap_count,
                ..
            } => {
                ensure!(
                    exclusive && swap_count == 1,
                    "page {i} before fork: {exclusive} {swap_count}"
                )
            }
            other => ensure!(false, "page {i} not swapped out: {other:?}"),
        }
    }
    let nonexcl = vmstat("swapin_nonexclusive");
    let child = fork();
    if child == 0 {
        for i in 0..PAGES {
            match pte(r.addr(i)) {
                Pte::Swap {
                    exclusive,
                    swap_count,
                    ..
                } => ensure!(
                    !exclusive && swap_count == 2,
                    "page {i} after fork: exclusive {exclusive}, count {swap_count}"
                ),
                other => ensure!(false, "page {i} after fork: {other:?}"),
            }
        }
        ensure!(r.check(|i| 3 * i as u64) == 0, "the child's swap-ins");
        ensure!(
            vmstat("swapin_nonexclusive") - nonexcl >= PAGES as u64,
            "swap-ins of shared entries were not counted non-exclusive"
        );
        match pte(r.addr(0)) {
            Pte::Present { writable, .. } => {
                ensure!(!writable, "a non-exclusive swap-in was mapped writable")
            }
            other => ensure!(false, "page 0 after the read: {other:?}"),
        }
        r.fill(|i| 5 * i as u64);
        ensure!(r.check(|i| 5 * i as u64) == 0, "the child's writes");
        exit(failures());
    }
    ensure!(wait_all() == 1, "one child");
    ensure!(vmstat("swap_peak_count") >= 2, "no swap count above one");
    let hits = vmstat("pgfault_swapcache");
    ensure!(
        r.check(|i| 3 * i as u64) == 0,
        "the parent's pages after the child"
    );
    ensure!(
        vmstat("pgfault_swapcache") - hits >= PAGES as u64 / 2,
        "the parent did not find the child's swap-ins in the swap cache"
    );
    r.fill(|i| 7 * i as u64);
    ensure!(r.check(|i| 7 * i as u64) == 0, "the parent's writes");
    failures()
}
