//! A process that dereferences an unmapped address is killed with
//! SIGSEGV; its siblings finish. The parent checks both children's wait
//! statuses and exits 0 if the right one died of the right signal.

#![no_std]
#![no_main]

use user::*;

entry!(main);

/// An address no VMA covers (below the program, which starts at 4 MiB).
const UNMAPPED: u64 = 0x1000;

fn main() -> i32 {
    let worker = fork();
    if worker == 0 {
        // A sibling that does real work across the crash.
        let r = Region::map(64);
        r.fill(|i| 7 * i as u64);
        for _ in 0..3 {
            sched_yield();
        }
        exit((r.check(|i| 7 * i as u64) != 0) as i32);
    }
    let crasher = fork();
    if crasher == 0 {
        println!("pid {}: reading {UNMAPPED:#x}", getpid());
        // SAFETY: it is not safe: this is the bug the kernel must survive.
        let v = unsafe { (UNMAPPED as *const u64).read_volatile() };
        println!("pid {}: read {v} and lived: wrong", getpid());
        exit(2);
    }
    let mut ok = true;
    for _ in 0..2 {
        let (pid, status) = wait().expect("two children");
        if pid == crasher {
            ok &= term_signal(status) == Some(11);
            println!(
                "segv: child {pid} (the crasher) ended by signal {:?}",
                term_signal(status)
            );
        } else {
            ok &= exit_code(status) == Some(0);
            println!(
                "segv: child {pid} (the worker) exited with {:?}",
                exit_code(status)
            );
        }
    }
    if ok {
        0
    } else {
        1
    }
}
