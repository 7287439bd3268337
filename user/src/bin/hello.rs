//! The smallest program: print, touch some memory, exit 0.

#![no_std]
#![no_main]

use user::*;

entry!(main);

fn main() -> i32 {
    println!("hello from ring 3, pid {}", getpid());
    let r = Region::map(16);
    r.fill(|i| i as u64);
    if r.check(|i| i as u64) != 0 {
        return 1;
    }
    0
}
