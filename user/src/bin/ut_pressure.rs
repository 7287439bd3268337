//! usertests: swap-in from one process while another still maps the
//! entry, under memory pressure. The parent writes more than the memory
//! limit holds and forks; parent and child then read every page in turn.
//! Reclaim takes pages both map (the reverse map finds both PTEs; the
//! swap count is 2) and each process's reads swap them back in,
//! non-exclusively, often finding the other's swap-in in the swap cache.
//! Then both write (copy or reuse) and check again.

#![no_std]
#![no_main]

use user::*;

entry!(main);

/// 24 MiB: more than the 16 MiB limit the usertests run under.
const PAGES: usize = 6144;

fn main() -> i32 {
    let r = Region::map(PAGES);
    r.fill(|i| 29 * i as u64);
    let nonexcl = vmstat("swapin_nonexclusive");
    let child = fork();
    let tag = if child == 0 { 31 } else { 37 };
    for _ in 0..2 {
        ensure!(r.check(|i| 29 * i as u64) == 0, "shared pages");
    }
    r.fill(|i| tag * i as u64);
    ensure!(
        r.check(|i| tag * i as u64) == 0,
        "private pages after the writes"
    );
    if child == 0 {
        exit(failures());
    }
    ensure!(wait_all() == 1, "one child");
    let shared_ins = vmstat("swapin_nonexclusive") - nonexcl;
    println!(
        "ut_pressure: {shared_ins} non-exclusive swap-ins, peak swap count {}",
        vmstat("swap_peak_count")
    );
    ensure!(shared_ins > 0, "no non-exclusive swap-in under pressure");
    ensure!(vmstat("swap_peak_count") >= 2, "no swap count above one");
    failures()
}
