//! User processes inside a test kernel: every embedded program loads
//! (its segments copied byte for byte, its entry in an executable VMA),
//! and programs run in ring 3 through system calls, fork and wait to an
//! exit status; a segfault kills only its process and is recorded. The
//! leak check's figures are back at their baseline after each.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::vec;

use kernel::mm::mm_types::switch_mm;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::PAGE_SIZE;
use kernel::proc::elf;
use kernel::proc::exec::load;
use kernel::proc::programs::{find_program, names};
use kernel::proc::{self, ExitStatus};
use kernel::sched::run_user_tasks;
use kernel::testing::fixtures::virtio_swap;
use kernel::workload::integrity;

kernel::test_kernel!(test_main);

/// Runs program `name` to its end; returns its exit status and the
/// processes the faults killed.
fn run(name: &'static str) -> (ExitStatus, proc::ProcStats) {
    let start = proc::spawn_program(name).expect("the program loads");
    run_user_tasks(vec![start]);
    let finished = proc::take_finished();
    assert_eq!(finished.len(), 1, "one program ran");
    assert_eq!(finished[0].name, name);
    (finished[0].status, proc::take_stats())
}

/// The leak check's baseline, with what earlier tests grew trimmed away.
fn baseline() -> integrity::Snapshot {
    virtio_swap(SwapPolicy::default());
    with_mm_state(|st| st.trim());
    integrity::snapshot()
}

fn assert_no_leaks(before: &integrity::Snapshot) {
    with_mm_state(|st| st.trim());
    let leaks = integrity::Leaks::between(before, &integrity::snapshot());
    assert!(leaks.is_clean(), "leaks: {:?}", leaks.0);
}

#[test_case]
fn every_program_loads_its_segments_byte_for_byte() {
    let before = baseline();
    let mut n = 0;
    for name in names() {
        let file = find_program(name).unwrap();
        let program = elf::parse(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let image = load(name).unwrap_or_else(|e| panic!("{e}"));
        switch_mm(Some(&image.mm));
        let entry_vma = with_mm_state(|st| st.find_vma(image.mm.id(), program.entry));
        assert!(
            entry_vma.is_some_and(|v| v.is_exec()),
            "{name}: entry not executable"
        );
        for seg in &program.segments {
            let bytes = &file[seg.offset as usize..(seg.offset + seg.file_size) as usize];
            for (i, &b) in bytes.iter().enumerate() {
                // SAFETY: the segment is mapped in the current address
                // space, readable, and populated by exec.
                let got = unsafe { ((seg.vaddr + i as u64) as *const u8).read_volatile() };
                assert_eq!(
                    got, b,
                    "{name}: byte {i} of the segment at {:#x}",
                    seg.vaddr
                );
            }
            // .bss and the rest of the last page read as zeros.
            for va in seg.vaddr + seg.file_size..seg.vaddr + seg.mem_size {
                // SAFETY: as above.
                assert_eq!(
                    unsafe { (va as *const u8).read_volatile() },
                    0,
                    "{name}: bss"
                );
            }
        }
        assert!(image.brk_start.is_multiple_of(PAGE_SIZE));
        switch_mm(None);
        drop(image);
        n += 1;
    }
    assert!(n >= 10, "only {n} programs embedded");
    assert_no_leaks(&before);
}

#[test_case]
fn hello_runs_in_ring3_and_exits_0() {
    let before = baseline();
    let (status, stats) = run("hello");
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(stats.forks, 0);
    let (checked, corrupt) = proc::syscall::take_user_tally();
    assert_eq!((checked, corrupt), (16, 0), "hello checks its 16 pages");
    assert_no_leaks(&before);
}

#[test_case]
fn a_segfault_kills_only_its_process() {
    let before = baseline();
    let (status, stats) = run("segv");
    assert_eq!(
        status,
        ExitStatus::Exited(0),
        "the parent saw what it expected"
    );
    assert_eq!(stats.forks, 2);
    assert_eq!(stats.nr_kills, 1);
    let kill = stats.kills[0].expect("a kill report");
    assert_eq!((kill.signal, kill.address), (proc::SIGSEGV, 0x1000));
    proc::syscall::take_user_tally();
    assert_no_leaks(&before);
}

#[test_case]
fn a_failing_program_reports_its_exit_status() {
    virtio_swap(SwapPolicy::default());
    let (status, _) = run("must_fail");
    assert_eq!(status, ExitStatus::Exited(1));
    proc::syscall::take_user_tally();
}
