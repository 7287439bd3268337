//! The README's example program (a test runs it, so the README's code
//! is known to work): write, page out, fork, check in the child.

#![no_std]
#![no_main]
use user::*;

entry!(main);

fn main() -> i32 {
    let r = Region::map(256); // mmap 1 MiB
    r.fill(|i| i as u64); // a pattern per page
    r.pageout(); // MADV_PAGEOUT: to swap now
    if fork() == 0 {
        ensure!(r.check(|i| i as u64) == 0, "child"); // swap-ins, verified
        exit(failures());
    }
    wait_all();
    println!("peak swap count {}", vmstat("swap_peak_count"));
    failures() // the exit status: 0 passes
}
