//! The virtio-blk driver against QEMU's device: page round trips with many
//! requests in flight, and device errors coming back as errors.
//! The host attaches a 64 MiB swap disk to every test kernel.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::vec::Vec;

use kernel::drivers::virtio::blk::{BlkError, BlkOp, VirtioBlk};
use kernel::mm::page_alloc::{alloc_page, free_page};
use kernel::mm::{phys_to_virt, PAGE_SIZE};
use kernel::workload::mix64;

kernel::test_kernel!(test_main);

fn fill(pa: u64, tag: u64) {
    let p = phys_to_virt(pa) as *mut u64;
    for i in 0..512 {
        // SAFETY: `pa` is a frame we own, mapped in the direct map.
        unsafe { p.add(i).write(mix64(tag ^ i as u64)) };
    }
}

fn check(pa: u64, tag: u64) -> bool {
    let p = phys_to_virt(pa) as *const u64;
    // SAFETY: as in `fill`.
    (0..512).all(|i| unsafe { p.add(i).read() } == mix64(tag ^ i as u64))
}

/// Submits everything, then waits for all completions; returns results by token.
fn run_batch(
    blk: &mut VirtioBlk,
    reqs: &[(BlkOp, u64, u64)],
) -> (Vec<Result<(), BlkError>>, usize) {
    let mut results = alloc::vec![None; reqs.len()];
    let mut max_in_flight = 0;
    blk.plug();
    for (token, &(op, pos, pa)) in reqs.iter().enumerate() {
        while blk.submit(op, pos, pa, token as u64).is_err() {
            blk.wait_and_poll(|t, r| results[t as usize] = Some(r));
        }
        max_in_flight = max_in_flight.max(blk.in_flight());
    }
    blk.unplug();
    while blk.in_flight() > 0 {
        blk.wait_and_poll(|t, r| results[t as usize] = Some(r));
    }
    (
        results
            .into_iter()
            .map(|r| r.expect("every request completes"))
            .collect(),
        max_in_flight,
    )
}

#[test_case]
fn probe_reports_capacity() {
    let blk = VirtioBlk::probe().expect("virtio-blk device");
    assert_eq!(blk.capacity_bytes(), 64 << 20);
    assert_eq!(
        blk.pci().device,
        0x1042,
        "the host attaches a modern device"
    );
}

#[test_case]
fn many_pages_round_trip_with_many_in_flight() {
    let mut blk = VirtioBlk::probe().unwrap();
    let n = 200u64;
    let out: Vec<u64> = (0..n).map(|_| alloc_page().unwrap()).collect();
    let back: Vec<u64> = (0..n).map(|_| alloc_page().unwrap()).collect();
    for (i, &pa) in out.iter().enumerate() {
        fill(pa, 0x5eed ^ i as u64);
    }
    // Scattered positions, so that neighbours on disk are not neighbours here.
    let pos = |i: u64| ((i * 37) % 4096) * PAGE_SIZE;
    let writes: Vec<_> = (0..n)
        .map(|i| (BlkOp::Write, pos(i), out[i as usize]))
        .collect();
    let (res, max_w) = run_batch(&mut blk, &writes);
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    let reads: Vec<_> = (0..n)
        .map(|i| (BlkOp::Read, pos(i), back[i as usize]))
        .collect();
    let (res, max_r) = run_batch(&mut blk, &reads);
    assert!(res.iter().all(|r| r.is_ok()));
    for (i, &pa) in back.iter().enumerate() {
        assert!(check(pa, 0x5eed ^ i as u64), "page {i} came back different");
    }
    assert!(
        max_w >= 32 && max_r >= 32,
        "in flight: {max_w} writes, {max_r} reads"
    );
    out.into_iter().chain(back).for_each(free_page);
}

#[test_case]
fn read_beyond_the_disk_is_an_io_error() {
    let mut blk = VirtioBlk::probe().unwrap();
    let pa = alloc_page().unwrap();
    let end = blk.capacity_bytes();
    let (res, _) = run_batch(&mut blk, &[(BlkOp::Read, end, pa), (BlkOp::Read, 0, pa)]);
    assert_eq!(res[0], Err(BlkError::IoError));
    assert_eq!(res[1], Ok(()), "the device still works after an error");
    free_page(pa);
}

#[test_case]
fn unsupported_request_type_is_reported() {
    let mut blk = VirtioBlk::probe().unwrap();
    let pa = alloc_page().unwrap();
    let (res, _) = run_batch(&mut blk, &[(BlkOp::Raw(0x99), 0, pa)]);
    assert_eq!(res[0], Err(BlkError::Unsupported));
    free_page(pa);
}

#[test_case]
fn completions_arrive_by_interrupt() {
    let blk = VirtioBlk::probe().unwrap();
    assert!(blk.irq().is_some(), "the firmware routed an INTx line");
}
