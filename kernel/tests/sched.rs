//! The scheduler: tasks interleave on timer slices, a task that faults on
//! a page under swap I/O sleeps while another computes, results come back
//! in order, and the clock stands still in stolen time.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::arch::cpu::rdtsc;
use kernel::drivers::virtio::blk::DeviceLatency;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::pte_to_swp_entry;
use kernel::mm::swap_state::ReadaheadMode;
use kernel::mm::swapfile::SwapDevice;
use kernel::sched::clock::{sched_clock, stolen};
use kernel::sched::signal::{force_sig_bus, killable, publish, take_killed, Killed};
use kernel::sched::{cond_resched, run_tasks, stats, TaskBody};
use kernel::testing::fixtures::{virtio_swap, TestMm};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_6000_0000_0000;

/// Busy for at least `cycles` TSC cycles, giving way at every step.
fn compute(cycles: u64) -> u64 {
    let start = rdtsc();
    let mut steps = 0;
    while rdtsc() - start < cycles {
        steps += 1;
        cond_resched();
    }
    steps
}

#[test_case]
fn timer_slices_interleave_tasks_and_results_keep_their_order() {
    // Each task runs for ~30 ticks' worth of host time and notes which
    // task ran before each of its steps; with slices, others ran between.
    let last = Arc::new(AtomicU64::new(u64::MAX));
    let bodies: Vec<(_, TaskBody<(u64, u64)>)> = (0..3u64)
        .map(|id| {
            let last = last.clone();
            let body = move || {
                let mut saw_other = 0u64;
                let start = rdtsc();
                while rdtsc() - start < 100_000_000 {
                    if last.swap(id, Ordering::Relaxed) != id {
                        saw_other += 1;
                    }
                    cond_resched();
                }
                (id, saw_other)
            };
            (format!("spin-{id}"), Box::new(body) as _)
        })
        .collect();
    let results = run_tasks(bodies);
    let ids: Vec<u64> = results.iter().map(|r| r.0).collect();
    assert_eq!(ids, [0, 1, 2], "results in spawn order");
    let s = stats();
    assert_eq!(s.tasks, 3);
    assert!(s.preemptions >= 3, "the tick ended slices: {s:?}");
    for (id, switches_seen) in &results {
        assert!(
            *switches_seen >= 2,
            "task {id} never saw another task run between its steps"
        );
    }
}

#[test_case]
fn a_task_waiting_for_swap_io_sleeps_while_another_computes() {
    virtio_swap(SwapPolicy {
        readahead: ReadaheadMode::Off,
        ..SwapPolicy::default()
    });
    // Reads take a while (a slow disk): with no latency a read can be done
    // before the reader is off the CPU, and a woken task runs first.
    with_mm_state(|st| {
        let swap = st.swap.as_mut().expect("swap");
        if let SwapDevice::Virtio(b) = swap.device() {
            b.set_latency(DeviceLatency {
                read_cycles: 2_000_000,
                write_cycles: 0,
                is_serial: false,
            });
        }
    });
    let reader_done = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let (done, prog) = (reader_done.clone(), progress.clone());
    // The reader swaps its pages out, then faults them back one by one:
    // each fault reads the disk and sleeps.
    let reader = move || {
        let t = TestMm::swapped_out("reader", BASE, 32);
        assert!(pte_to_swp_entry(t.pte(0)).is_some(), "swapped out");
        let before = prog.load(Ordering::Relaxed);
        for p in 0..32 {
            t.touch(p);
        }
        let during = prog.load(Ordering::Relaxed) - before;
        done.store(true, Ordering::Relaxed);
        during
    };
    // The other task computes until the reader is done.
    let worker = move || {
        while !reader_done.load(Ordering::Relaxed) {
            progress.fetch_add(1, Ordering::Relaxed);
            cond_resched();
            core::hint::spin_loop();
        }
        0u64
    };
    let out = run_tasks(alloc::vec![
        ("reader".into(), Box::new(reader) as TaskBody<u64>),
        ("worker".into(), Box::new(worker) as _),
    ]);
    let s = stats();
    with_mm_state(|st| {
        if let SwapDevice::Virtio(b) = st.swap.as_mut().expect("swap").device() {
            b.set_latency(DeviceLatency::default());
        }
    });
    assert!(s.io_sleeps >= 1, "the reader slept on I/O: {s:?}");
    assert!(
        out[0] > 0,
        "the worker made no progress while the reader waited for the disk"
    );
}

#[test_case]
fn the_clock_stands_still_in_stolen_time() {
    let before = sched_clock();
    let inside = stolen(|| {
        let a = sched_clock();
        compute(2_000_000);
        assert_eq!(sched_clock(), a, "the clock moved inside a stolen section");
        a
    });
    let after = sched_clock();
    assert!(inside >= before);
    // The stolen section took over 2M cycles, but the clock only moved by
    // the few instructions around it.
    assert!(
        after - before < 1_000_000,
        "{} cycles counted",
        after - before
    );
}

#[test_case]
fn a_killable_section_returns_its_result_and_nests() {
    let r = killable(|| killable(|| 6 * 7));
    assert_eq!(r, Ok(Ok(42)));
    // Outside any section a SIGBUS does not kill: the caller ends the run.
    force_sig_bus(0x1000, 3);
    assert_eq!(take_killed().1, 0);
}

/// A victim task (killed in its section if `kill`) and a bystander;
/// returns their results and how the heap's use changed.
fn victim_and_bystander(kill: bool) -> (Vec<(bool, u64)>, isize) {
    let heap_before = kernel::mm::heap::used_bytes() as isize;
    let victim = move || {
        let mut steps = 0u64;
        let r = killable(|| {
            steps += 1;
            publish(&mut steps);
            cond_resched();
            if kill {
                // What the fault handler does on a swap read error.
                force_sig_bus(0xdead_0000, 77);
            }
            steps += 100;
        });
        // The task runs on after the kill, with interrupts as before.
        (r == Err(Killed), steps)
    };
    let bystander = || {
        let r = killable(|| compute(1_000_000));
        (r.is_ok(), 1u64)
    };
    let out = run_tasks(alloc::vec![
        ("victim".into(), Box::new(victim) as TaskBody<(bool, u64)>),
        ("bystander".into(), Box::new(bystander) as _),
    ]);
    (out, kernel::mm::heap::used_bytes() as isize - heap_before)
}

#[test_case]
fn a_kill_ends_only_the_section_and_its_task_goes_on() {
    take_killed();
    let (out, heap_unkilled) = victim_and_bystander(false);
    assert_eq!(out, [(false, 101), (true, 1)]);
    assert_eq!(take_killed().1, 0);
    let (out, heap_killed) = victim_and_bystander(true);
    assert_eq!(out, [(true, 1), (true, 1)], "victim killed after one step");
    let (killed, n) = take_killed();
    assert_eq!(n, 1);
    let k = killed[0].expect("one kill listed");
    assert_eq!((k.signal, k.address, k.slot), ("SIGBUS", 0xdead_0000, 77));
    // The section owned nothing, so abandoning it leaked nothing.
    assert_eq!(heap_killed, heap_unkilled, "heap bytes kept by the kill");
}
