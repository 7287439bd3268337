//! usertests: fork, then write in child and parent. Pages are shared
//! read-only after fork; the first writer copies (`pgfault_wp_copy`),
//! and once the other side has let go, a write reuses the page in place
//! (`pgfault_wp_reuse`). Each side sees only its own writes.

#![no_std]
#![no_main]

use user::*;

entry!(main);

const PAGES: usize = 64;

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| i as u64);
    let copies = vmstat("pgfault_wp_copy");
    let reuses = vmstat("pgfault_wp_reuse");
    let child = fork();
    ensure!(child >= 0, "fork failed: {child}");
    if child == 0 {
        match pte(r.addr(0)) {
            Pte::Present {
                writable, mapcount, ..
            } => {
                ensure!(!writable, "a shared page is mapped writable after fork");
                ensure!(
                    mapcount == 2,
                    "a shared page has map count {mapcount}, not 2"
                );
            }
            other => ensure!(false, "page 0 is {other:?} after fork"),
        }
        ensure!(r.check(|i| i as u64) == 0, "the child sees wrong data");
        r.fill(|i| 1000 + i as u64);
        ensure!(r.check(|i| 1000 + i as u64) == 0, "the child's writes");
        exit(failures());
    }
    ensure!(wait_all() == 1, "one child");
    ensure!(
        r.check(|i| i as u64) == 0,
        "the child's writes reached the parent"
    );
    ensure!(
        vmstat("pgfault_wp_copy") - copies >= PAGES as u64,
        "the child's writes did not copy"
    );
    // The child has exited: every page is the parent's alone again.
    r.fill(|i| 2000 + i as u64);
    ensure!(r.check(|i| 2000 + i as u64) == 0, "the parent's writes");
    ensure!(
        vmstat("pgfault_wp_reuse") - reuses >= PAGES as u64,
        "the parent's writes copied pages nobody shared"
    );
    match pte(r.addr(0)) {
        Pte::Present {
            writable, mapcount, ..
        } => {
            ensure!(writable && mapcount == 1, "page 0 after the reuse");
        }
        other => ensure!(false, "page 0 is {other:?}"),
    }
    failures()
}
