//! usertests: a fork bomb stays inside its limits. Every process forks up
//! to four children, down to depth four (341 processes if nothing
//! stopped it); fork fails with EAGAIN at `user.max_procs` (the cgroup's
//! pids.max) and the bomb goes on with what it has. Every process writes
//! pages of its own and reads the ones it inherited (shared copy-on-write,
//! swapped out and in under the memory limit), and checks them all before
//! it exits. Memory never goes over `memcg.max`.

#![no_std]
#![no_main]

use user::*;

entry!(main);

const FANOUT: usize = 4;
const DEPTH: usize = 4;
/// Pages each process writes, and the root's pages everyone inherits.
const OWN_PAGES: usize = 48;
const SHARED_PAGES: usize = 64;

/// Exit status bit: this process or a descendant saw EAGAIN.
const SAW_EAGAIN: i32 = 0x40;

fn main() -> i32 {
    let shared = Region::map(SHARED_PAGES);
    shared.fill(|i| 23 * i as u64);
    let status = bomb(&shared, 0);
    let max = vmstat("memcg_max");
    let peak = vmstat("memcg_peak");
    println!(
        "ut_forkbomb: EAGAIN seen: {}, memcg peak {peak} of {max} pages",
        status & SAW_EAGAIN != 0
    );
    ensure!(
        status & SAW_EAGAIN != 0,
        "the bomb never reached the process limit"
    );
    ensure!(peak <= max, "memory went over the limit: {peak} > {max}");
    ensure!(status & !SAW_EAGAIN == 0, "a process failed");
    failures()
}

/// One process of the bomb at `depth`: fork, work, wait, check. Returns
/// failures (low bits) and `SAW_EAGAIN`.
fn bomb(shared: &Region, depth: usize) -> i32 {
    let mut saw_eagain = false;
    if depth < DEPTH {
        for _ in 0..FANOUT {
            let child = fork();
            if child == 0 {
                let status = bomb(shared, depth + 1);
                exit(status);
            }
            if child == -EAGAIN {
                saw_eagain = true;
                break;
            }
            ensure!(child > 0, "fork failed: {child}");
        }
    }
    let own = Region::map(OWN_PAGES);
    let me = getpid() as u64;
    own.fill(|i| (me << 32) ^ i as u64);
    ensure!(shared.check(|i| 23 * i as u64) == 0, "inherited pages");
    let mut status = 0;
    while let Ok((_, s)) = wait() {
        let code = exit_code(s).unwrap_or(1);
        saw_eagain |= code & SAW_EAGAIN != 0;
        if code & !SAW_EAGAIN != 0 {
            status = 1;
        }
    }
    ensure!(own.check(|i| (me << 32) ^ i as u64) == 0, "own pages");
    let failed = (failures() != 0 || status != 0) as i32;
    failed | if saw_eagain { SAW_EAGAIN } else { 0 }
}
