//! usertests: `MADV_DONTNEED`, `munmap` and `brk`. Dropped pages read as
//! zeros (also when they were swapped out); an unmapped hole faults
//! (SIGSEGV in a child) while both sides of it keep their data; the heap
//! grows, holds data, and shrinks.

#![no_std]
#![no_main]

use user::*;

entry!(main);

const PAGES: usize = 32;

fn is_zero(r: &Region, i: usize) -> bool {
    // SAFETY: page `i` of our own mapping.
    (0..PAGE_WORDS).all(|w| unsafe { r.page(i).add(w).read_volatile() } == 0)
}

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| 17 * i as u64);
    ensure!(
        madvise(r.addr(0), PAGE_SIZE * 8, MADV_DONTNEED) == 0,
        "DONTNEED"
    );
    ensure!(
        (0..8).all(|i| is_zero(&r, i)),
        "DONTNEED pages are not zero"
    );
    r.pageout();
    ensure!(
        madvise(r.addr(8), PAGE_SIZE * 8, MADV_DONTNEED) == 0,
        "DONTNEED"
    );
    ensure!(
        (8..16).all(|i| is_zero(&r, i)),
        "DONTNEED on swapped-out pages"
    );
    ensure!(
        (16..PAGES).all(|i| unsafe { check_page(r.page(i), 17 * i as u64) }),
        "pages outside the DONTNEED range"
    );
    // A hole in the middle.
    ensure!(munmap(r.addr(20), PAGE_SIZE * 4) == 0, "munmap");
    if fork() == 0 {
        // SAFETY: none: page 21 was unmapped; the child must die.
        let _ = unsafe { r.page(21).read_volatile() };
        exit(3);
    }
    let (_, status) = wait().expect("the child");
    ensure!(
        term_signal(status) == Some(11),
        "reading the hole: status {status:#x}"
    );
    ensure!(
        (16..20)
            .chain(24..PAGES)
            .all(|i| unsafe { check_page(r.page(i), 17 * i as u64) }),
        "pages beside the hole"
    );
    // The heap.
    let start = brk(0);
    let grown = brk(start + 16 * PAGE_SIZE as u64);
    ensure!(
        grown == start + 16 * PAGE_SIZE as u64,
        "brk did not grow: {grown:#x}"
    );
    let heap = Region {
        base: start as *mut u64,
        pages: 16,
    };
    heap.fill(|i| 19 * i as u64);
    ensure!(heap.check(|i| 19 * i as u64) == 0, "heap pages");
    ensure!(
        brk(start + 4 * PAGE_SIZE as u64) == start + 4 * PAGE_SIZE as u64,
        "brk shrink"
    );
    let small = Region {
        base: start as *mut u64,
        pages: 4,
    };
    ensure!(
        small.check(|i| 19 * i as u64) == 0,
        "heap pages below the new end"
    );
    failures()
}
