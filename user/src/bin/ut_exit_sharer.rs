//! usertests: exit of one sharer. Three children share the parent's
//! swapped-out pages (swap count 4); they exit without touching them, and
//! every count goes back to 1. Then one child that swapped the pages in
//! exits while the parent still holds the entries: the pages stay in the
//! swap cache for the parent, which reads them back intact.

#![no_std]
#![no_main]

use user::*;

entry!(main);

const PAGES: usize = 64;

fn swap_count(r: &Region, i: usize) -> u64 {
    match pte(r.addr(i)) {
        Pte::Swap { swap_count, .. } => swap_count,
        _ => 0,
    }
}

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| 11 * i as u64);
    r.pageout();
    for _ in 0..3 {
        if fork() == 0 {
            // Stay alive for a hundred turns of the run queue (round
            // robin: the parent gets the CPU within them), then exit
            // without touching the pages.
            for _ in 0..100 {
                sched_yield();
            }
            exit(0);
        }
    }
    let held = swap_count(&r, 0);
    ensure!(held == 4, "swap count {held} with three children");
    ensure!(wait_all() == 3, "three children");
    for i in 0..PAGES {
        ensure!(
            swap_count(&r, i) == 1,
            "page {i}: count {} after the children exited",
            swap_count(&r, i)
        );
    }
    if fork() == 0 {
        ensure!(r.check(|i| 11 * i as u64) == 0, "the child's swap-ins");
        exit(failures());
    }
    ensure!(wait_all() == 1, "one child");
    ensure!(
        r.check(|i| 11 * i as u64) == 0,
        "the parent's pages after the sharer left"
    );
    failures()
}
