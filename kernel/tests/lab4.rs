//! Lab 4 (labs/lab4.md): the swap cache and readahead. The public tests;
//! `faultline grade lab4` runs them and `labs/lab4.json` gives their
//! points. The first four test one function each on its own; the last
//! three run whole faults, one readahead path each, so a broken function
//! costs the tests that reach it and no others.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::page::flags;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::pte_to_swp_entry;
use kernel::mm::swap_state::{
    __swapin_nr_pages, cluster_ra_window, swap_cache_read_folio, swap_vma_ra_win, swapin_nr_pages,
    ReadaheadMode, SwapRaInfo, SwapRaState,
};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::mm::PAGE_SIZE;
use kernel::testing::fixtures::{page_of, virtio_swap, TestMm};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_5000_0000_0000;
const P: u64 = PAGE_SIZE;

fn swapped_out(name: &str, pages: u64, readahead: ReadaheadMode) -> TestMm {
    virtio_swap(SwapPolicy {
        readahead,
        page_cluster: 3,
        ..SwapPolicy::default()
    });
    TestMm::swapped_out(name, BASE, pages)
}

#[test_case]
fn window_grows_with_hits_and_shrinks_slowly() {
    // (prev_offset, offset, hits, max_pages, prev_win) → pages
    let cases = [
        ((10, 50, 0, 8, 0), 1), // no hits, not adjacent: the faulting page only
        ((10, 11, 0, 8, 0), 2), // no hits, next to the last fault
        ((10, 9, 0, 8, 0), 2),  // ... on either side
        ((0, 50, 1, 8, 0), 4),  // hits + 2 = 3, rounded up to a power of two
        ((0, 50, 3, 8, 0), 8),  // 5 → 8
        ((0, 50, 9, 8, 0), 8),  // at most max_pages
        ((0, 50, 0, 8, 8), 4),  // no hits, but shrink at most by half
    ];
    for ((prev, off, hits, max, prev_win), want) in cases {
        assert_eq!(
            __swapin_nr_pages(prev, off, hits, max, prev_win),
            want,
            "__swapin_nr_pages(prev_offset {prev}, offset {off}, hits {hits}, max {max}, prev_win {prev_win})"
        );
    }
}

#[test_case]
fn swapin_nr_pages_consumes_hits() {
    let mut ra = SwapRaState::new();
    assert_eq!(
        swapin_nr_pages(&mut ra, 100, 3),
        8,
        "Linux starts with 4 hits: the full window"
    );
    assert_eq!(ra.hits, 0, "the hits are consumed");
    assert_eq!(ra.last_readahead_pages, 8);
    assert_eq!(
        swapin_nr_pages(&mut ra, 300, 3),
        4,
        "no hits: half the last window"
    );
    assert_eq!(ra.prev_offset, 300, "a fault without hits is remembered");
    assert_eq!(
        swapin_nr_pages(&mut ra, 500, 0),
        1,
        "page_cluster 0: no readahead"
    );
}

#[test_case]
fn cluster_window_is_aligned_and_clamped() {
    assert_eq!(
        cluster_ra_window(13, 8, 1000),
        (8, 15),
        "aligned to the window"
    );
    assert_eq!(
        cluster_ra_window(3, 8, 1000),
        (1, 7),
        "slot 0 (the header) is skipped"
    );
    assert_eq!(
        cluster_ra_window(998, 8, 1000),
        (992, 999),
        "clamped to the area"
    );
    assert_eq!(cluster_ra_window(5, 1, 1000), (5, 5));
}

#[test_case]
fn vma_window_follows_the_fault_direction() {
    let (vs, ve) = (BASE, BASE + 64 * P);
    let mut info = SwapRaInfo(0);
    // A fresh VMA reads as 4 hits: window 8, centred (3 before).
    let (s, e) = swap_vma_ra_win(&mut info, BASE + 20 * P, vs, ve, 3);
    assert_eq!(
        (s, e),
        (BASE + 17 * P, BASE + 25 * P),
        "first window, centred"
    );
    assert_eq!(
        (info.addr(), info.win(), info.hits()),
        (BASE + 20 * P, 8, 0)
    );
    // Two hits, and the next fault is the next page: forward from it.
    info = SwapRaInfo::pack(BASE + 20 * P, 8, 2);
    let (s, e) = swap_vma_ra_win(&mut info, BASE + 21 * P, vs, ve, 3);
    assert_eq!(
        (s, e),
        (BASE + 21 * P, BASE + 25 * P),
        "forward window of 4"
    );
    // The page before: backward.
    info = SwapRaInfo::pack(BASE + 21 * P, 4, 2);
    let (s, e) = swap_vma_ra_win(&mut info, BASE + 20 * P, vs, ve, 3);
    assert_eq!(
        (s, e),
        (BASE + 17 * P, BASE + 21 * P),
        "backward window of 4"
    );
    // Never outside the VMA.
    info = SwapRaInfo(0);
    let (s, e) = swap_vma_ra_win(&mut info, BASE + P, vs, ve, 3);
    assert_eq!((s, e), (BASE, BASE + 6 * P), "clipped at vm_start");
}

#[test_case]
fn readahead_hit_is_a_minor_fault_and_scores() {
    let mm = swapped_out("lab4-hit", 8, ReadaheadMode::Off);
    let (entry, _) = pte_to_swp_entry(mm.pte(3)).unwrap();
    with_mm_state(|st| st.ra.hits = 0);
    vmstat::reset();
    let pfn = with_mm_state(|st| swap_cache_read_folio(st, entry, true))
        .unwrap()
        .unwrap();
    assert!(page_of(pfn).test(flags::READAHEAD));
    assert!(mm.holds(3, 3), "page 3 intact");
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        0,
        "a swap-cache hit is minor"
    );
    assert_eq!(vmstat::read(VmEvent::PgFaultSwapcache), 1);
    assert_eq!(
        vmstat::read(VmEvent::SwapRaHit),
        1,
        "the prefetched page scored a hit"
    );
    assert!(
        !page_of(pfn).test(flags::READAHEAD),
        "the hit is counted once"
    );
    assert_eq!(
        with_mm_state(|st| st.ra.hits),
        1,
        "cluster mode keeps the hit"
    );
}

#[test_case]
fn cluster_readahead_reads_the_aligned_neighbours() {
    let mm = swapped_out("lab4-cluster", 64, ReadaheadMode::Cluster);
    with_mm_state(|st| st.ra = SwapRaState::new());
    let target = mm.entry(10).offset;
    vmstat::reset();
    assert!(mm.holds(10, 10));
    assert_eq!(vmstat::read(VmEvent::PgMajFault), 1);
    assert_eq!(
        vmstat::read(VmEvent::SwapRa),
        7,
        "a window of 8 slots: 7 neighbours"
    );
    let (start, end) = (target & !7, target | 7);
    for p in 0..64 {
        let off = mm.entry_or_mapped(p);
        if let Some(off) = off.filter(|&o| o != target) {
            let cached = mm.is_cached(p);
            assert_eq!(
                cached,
                (start..=end).contains(&off),
                "page {p} (slot {off}): cached iff inside [{start}, {end}]"
            );
        }
    }
}

#[test_case]
fn vma_readahead_makes_sequential_faults_minor() {
    let mm = swapped_out("lab4-vma", 64, ReadaheadMode::Vma);
    vmstat::reset();
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p} corrupt");
    }
    let (major, minor) = (
        vmstat::read(VmEvent::PgMajFault),
        vmstat::read(VmEvent::PgFaultSwapcache),
    );
    assert_eq!(major + minor, 64);
    assert!(
        minor > 3 * major,
        "{major} major, {minor} minor: the window should grow"
    );
    assert_eq!(
        vmstat::read(VmEvent::SwapRaHit),
        minor,
        "every hit was prefetched"
    );
    assert_eq!(vmstat::read(VmEvent::PswpIn), 64, "each page read once");
}

/// Helps `cluster_readahead_reads_the_aligned_neighbours`: the slot of a
/// page still swapped out.
trait EntryOrMapped {
    fn entry_or_mapped(&self, page: u64) -> Option<u32>;
}

impl EntryOrMapped for TestMm {
    fn entry_or_mapped(&self, page: u64) -> Option<u32> {
        pte_to_swp_entry(self.pte(page)).map(|(e, _)| e.offset)
    }
}
