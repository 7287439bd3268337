//! Trace replay: the trace disk and its reader (every record streamed back,
//! corrupt files refused with the offset named), and light verification
//! catching what it exists to catch (a lost write, a misplaced page).
//!
//! The host attaches a trace disk holding one generated trace (see
//! `trace_fixture` in `src/ktest.rs`) and passes its expected figures as
//! `opt/faultline/trace-fixture`: `records pages regions checksum`.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use kernel::drivers::fw_cfg;
use kernel::testing::fixtures::TestMm;
use kernel::workload::trace::Verify;
use kernel::workload::trace_disk;
use kernel::workload::trace_file::{self, TraceError, TraceStream};

kernel::test_kernel!(test_main);

/// The fixture's expected figures from the host.
fn expected() -> [u64; 4] {
    let text = fw_cfg::read_file("opt/faultline/trace-fixture")
        .unwrap()
        .expect("the host passes the fixture's figures");
    let text = String::from_utf8(text).unwrap();
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3]]
}

/// The fixture trace's bytes, read from the trace disk.
fn fixture_bytes() -> Vec<u8> {
    assert_eq!(trace_disk::open(), Ok(1));
    let (off, len) = trace_disk::trace_extent(0).unwrap();
    let mut bytes = alloc::vec![0u8; len as usize];
    trace_disk::read_at(off, &mut bytes).unwrap();
    trace_disk::close();
    bytes
}

fn open_mem(bytes: &[u8]) -> Result<trace_file::TraceFile, TraceError> {
    trace_file::open(0, bytes.len() as u64, &mut |off, buf: &mut [u8]| {
        buf.copy_from_slice(&bytes[off as usize..off as usize + buf.len()]);
        Ok(())
    })
}

/// Order-sensitive checksum of the records (the host computes the same).
fn checksum(sum: u64, i: u64, r: u32) -> u64 {
    sum.wrapping_mul(31).wrapping_add(r as u64 ^ i)
}

#[test_case]
fn the_trace_disk_streams_every_record_back() {
    let [records, pages, regions, sum] = expected();
    assert_eq!(trace_disk::open(), Ok(1));
    let (off, len) = trace_disk::trace_extent(0).unwrap();
    let file = trace_file::open(off, len, &mut trace_disk::read_at).unwrap();
    assert_eq!((file.n_records, file.n_pages() as u64), (records, pages));
    assert_eq!(file.regions.len() as u64, regions);
    let mut stream = TraceStream::new(&file);
    let (mut n, mut got) = (0u64, 0u64);
    while let Some(chunk) = stream.next_chunk().unwrap() {
        for c in chunk.as_chunks::<4>().0 {
            got = checksum(got, n, u32::from_le_bytes(*c));
            n += 1;
        }
    }
    trace_disk::close();
    assert_eq!((n, got), (records, sum));
}

#[test_case]
fn a_corrupt_trace_is_refused_naming_the_offset() {
    let good = fixture_bytes();
    assert!(open_mem(&good).is_ok());
    let with = |off: usize, v: &[u8]| {
        let mut b = good.clone();
        b[off..off + v.len()].copy_from_slice(v);
        open_mem(&b).unwrap_err()
    };
    let e = with(0, b"X");
    assert_eq!(e.offset, 0);
    let e = with(8, &[1]);
    assert_eq!(e.offset, 8, "{e:?}");
    assert!(e.expected.contains("the host converts version 1"), "{e:?}");
    let e = with(12, &[2]);
    assert_eq!(e.offset, 12);
    assert!(e.expected.contains("faultline run converts zstd"), "{e:?}");
    // A page count of 2^32 - 1 is refused before anything is allocated.
    let e = with(24, &u32::MAX.to_le_bytes());
    assert_eq!(e.offset, 24);
    let e = with(48, &7u64.to_le_bytes());
    assert_eq!(e.offset, 48);
    // The second layout page moved before the first: named at its offset.
    let tables = u64::from_le_bytes(good[48..56].try_into().unwrap()) as usize;
    let n_chunks = u32::from_le_bytes(good[36..40].try_into().unwrap()) as usize;
    let n_regions = u32::from_le_bytes(good[28..32].try_into().unwrap()) as usize;
    let pages_at = tables + 4 * n_chunks + 16 * n_regions;
    let e = with(pages_at + 4, &0u32.to_le_bytes());
    assert_eq!(e.offset, pages_at as u64 + 4, "{e:?}");
    // A damaged chunk: an error at the chunk's offset when it is streamed.
    let mut b = good.clone();
    for x in &mut b[64..96] {
        *x = 0xff;
    }
    let file = open_mem(&b).unwrap();
    let mut stream = TraceStream::new(&file);
    let e = stream
        .next_chunk_from(&mut |off, buf: &mut [u8]| {
            buf.copy_from_slice(&b[off as usize..off as usize + buf.len()]);
            Ok(())
        })
        .unwrap_err();
    assert_eq!(e.offset, 64, "{e:?}");
}

const BASE: u64 = 0x0000_6a00_0000_0000;

#[test_case]
fn light_verification_catches_a_lost_write_and_a_misplaced_page() {
    let mm = TestMm::new("light", BASE, 4);
    let v = Verify {
        light: true,
        seed: 7,
        task: 3,
    };
    let (a, b) = (mm.va(0), mm.va(1));
    // SAFETY (every block below): pages of the current test address space.
    unsafe {
        // Never written: reads as zeros, and only then.
        assert!(v.check_read(a, 0, 0));
        v.write(a, 0, 1);
        v.write(a, 0, 2);
        v.write(b, 1, 1);
        assert!(v.check_read(a, 0, 2) && v.check_all(a, 0, 2));
        assert!(v.check_read(b, 1, 1) && v.check_all(b, 1, 1));
        assert!(!v.check_read(a, 0, 0), "a written page is not a zero page");
        // A lost write: the page still says version 1 when 2 was written.
        assert!(!v.check_read(a, 0, 3));
        // A misplaced page: page 1's content where page 0 should be.
        core::ptr::copy_nonoverlapping(b as *const u8, a as *mut u8, 4096);
        assert!(!v.check_read(a, 0, 1) && !v.check_read(a, 0, 2));
        // Another task's page with the same id and version.
        let other = Verify { task: 4, ..v };
        other.write(mm.va(2), 0, 1);
        assert!(!v.check_read(mm.va(2), 0, 1));
        // The body is checked once at the end, not on every read: a word
        // flipped in it passes the header check and fails the full one.
        let p = b as *mut u64;
        p.add(100).write_volatile(p.add(100).read_volatile() ^ 1);
        assert!(v.check_read(b, 1, 1));
        assert!(!v.check_all(b, 1, 1));
        // Full mode checks everything on every read.
        let full = Verify { light: false, ..v };
        full.write(mm.va(3), 5, 1);
        assert!(full.check_read(mm.va(3), 5, 1) && !full.check_read(mm.va(3), 5, 2));
        let q = mm.va(3) as *mut u64;
        q.add(100).write_volatile(q.add(100).read_volatile() ^ 1);
        assert!(!full.check_read(mm.va(3), 5, 1));
    }
}
