//! usertests: a user segfault kills only its process. Three children
//! commit three kinds of bad access (an address no VMA covers, a write to
//! the program's read-only text, a read of a kernel address); each is
//! killed with SIGSEGV, and the parent, whose memory is verified before
//! and after, goes on.

#![no_std]
#![no_main]

use user::*;

entry!(main);

fn main() -> i32 {
    let r = Region::map(32);
    r.fill(|i| 13 * i as u64);
    let bad: [(&str, u64, bool); 3] = [
        ("unmapped read", 0x1000, false),
        ("write to text", 0x40_0000, true),
        ("kernel read", 0xffff_8880_0000_0000, false),
    ];
    for (what, addr, write) in bad {
        let child = fork();
        if child == 0 {
            // SAFETY: none: the access is the bug the kernel must survive.
            unsafe {
                if write {
                    (addr as *mut u64).write_volatile(1);
                } else {
                    let _ = (addr as *const u64).read_volatile();
                }
            }
            println!("pid {}: {what} at {addr:#x} did not fault", getpid());
            exit(2);
        }
        let (pid, status) = wait().expect("a child");
        ensure!(pid == child, "waited for {pid}, not {child}");
        ensure!(
            term_signal(status) == Some(11),
            "{what}: child ended with status {status:#x}, not SIGSEGV"
        );
    }
    ensure!(r.check(|i| 13 * i as u64) == 0, "the parent's memory");
    failures()
}
