//! Lab 3 (labs/lab3.md): reclaim and the LRU lists. The public tests;
//! `faultline grade lab3` runs them and `labs/lab3.json` gives their
//! points. Readahead is off, so every page that was reclaimed and is
//! touched again is one major fault: the count of major faults on a hot
//! set is how these tests see whether reclaim kept it.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::rmap::folio_referenced;
use kernel::mm::state::with_mm_state;
use kernel::mm::swap::pte_to_swp_entry;
use kernel::mm::vmscan::{shrink_all_memory, try_to_free_mem_cgroup_pages};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{page_of, virtio_swap_no_readahead, TestMm};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_5000_0000_0000;

#[test_case]
fn folio_referenced_clears_and_counts_young_ptes() {
    virtio_swap_no_readahead();
    let mm = TestMm::new("lab3-young", BASE, 4);
    mm.write(2, 2);
    let pfn = pa_to_pfn(mm.pte(2).pa());
    assert!(mm.pte(2).is_young(), "the CPU set the accessed bit");
    assert_eq!(
        with_mm_state(|st| folio_referenced(st, pfn)),
        1,
        "one young PTE"
    );
    assert!(
        !mm.pte(2).is_young(),
        "folio_referenced clears the accessed bit"
    );
    assert_eq!(
        with_mm_state(|st| folio_referenced(st, pfn)),
        0,
        "not used since"
    );
    assert!(mm.holds(2, 2));
    assert_eq!(
        with_mm_state(|st| folio_referenced(st, pfn)),
        1,
        "used again"
    );
}

/// Clears the accessed bit of every resident page of `mm` (as if reclaim
/// had aged them all once), so that only later accesses count.
fn age_all(mm: &TestMm) {
    let pfns: alloc::vec::Vec<_> = (0..mm.pages)
        .map(|p| mm.pte(p))
        .filter(|pte| pte.is_present())
        .map(|pte| pa_to_pfn(pte.pa()))
        .collect();
    with_mm_state(|st| {
        for &pfn in &pfns {
            folio_referenced(st, pfn);
        }
    });
}

/// `pages` written pages, aged once; before each of `rounds` reclaims of
/// `per_round` pages the hot set (pages 0..16, the oldest on the list) is
/// read. Returns the major faults those reads took.
fn hot_set_major_faults(name: &str, pages: u64, per_round: usize, rounds: usize) -> (TestMm, u64) {
    virtio_swap_no_readahead();
    let mm = TestMm::new(name, BASE, pages);
    for p in 0..pages {
        mm.write(p, p);
    }
    age_all(&mm);
    vmstat::reset();
    for _ in 0..rounds {
        for p in 0..16 {
            assert!(mm.holds(p, p), "hot page {p} corrupt");
        }
        with_mm_state(|st| try_to_free_mem_cgroup_pages(st, per_round));
    }
    (mm, vmstat::read(VmEvent::PgMajFault))
}

#[test_case]
fn hot_pages_survive_the_reclaim_of_cold_ones() {
    let (mm, major) = hot_set_major_faults("lab3-hot", 256, 32, 4);
    assert_eq!(
        major, 0,
        "the hot set, read before every reclaim, was reclaimed {major} times (first in, first out would take it at once)"
    );
    let swapped = (16..256)
        .filter(|&p| pte_to_swp_entry(mm.pte(p)).is_some())
        .count();
    assert!(
        swapped >= 96,
        "4 rounds of 32 should take cold pages, took {swapped}"
    );
}

#[test_case]
fn a_page_referenced_twice_is_activated() {
    // 16 hot and 48 cold pages. Round 1: the hot pages are at the tail,
    // referenced once: another trip (PG_referenced), not activated.
    let (mm, _) = hot_set_major_faults("lab3-active", 64, 16, 1);
    for p in 0..16 {
        let page = page_of(pa_to_pfn(mm.pte(p).pa()));
        assert!(
            page.test(flags::REFERENCED),
            "hot page {p}: referenced once, it is marked PG_referenced"
        );
        assert!(
            !page.test(flags::ACTIVE),
            "hot page {p}: referenced once is not enough to activate"
        );
    }
    assert_eq!(
        vmstat::read(VmEvent::PgActivate),
        0,
        "nothing activated yet"
    );
    drop(mm);
    // Round 2: read again, the hot pages reach the tail again and are
    // activated. (The list is small, so the rebalancing that follows may
    // deactivate them at once: deactivated pages carry PG_workingset.)
    let (mm, major) = hot_set_major_faults("lab3-active2", 64, 16, 2);
    assert_eq!(major, 0, "the hot set was reclaimed");
    assert!(
        vmstat::read(VmEvent::PgActivate) >= 12,
        "the hot set, referenced twice, was activated: {}",
        vmstat::read(VmEvent::PgActivate)
    );
    let activated = (0..16)
        .filter(|&p| {
            let page = page_of(pa_to_pfn(mm.pte(p).pa()));
            page.test(flags::ACTIVE) || page.test(flags::WORKINGSET)
        })
        .count();
    assert!(
        activated >= 12,
        "only {activated} of 16 hot pages were activated"
    );
}

#[test_case]
fn deactivation_ages_the_active_list() {
    let (mm, _) = hot_set_major_faults("lab3-deact", 64, 16, 2);
    // Reclaim everything: active pages must be aged onto the inactive
    // list (shrink_active_list) before they can go.
    with_mm_state(shrink_all_memory);
    assert!(
        vmstat::read(VmEvent::PgDeactivate) >= 12,
        "the hot set was deactivated: {}",
        vmstat::read(VmEvent::PgDeactivate)
    );
    for p in 0..64 {
        assert!(
            pte_to_swp_entry(mm.pte(p)).is_some(),
            "page {p} is still resident"
        );
    }
    let corrupt = (0..64).filter(|&p| !mm.holds(p, p)).count();
    assert_eq!(corrupt, 0, "pages corrupt after reclaim");
}

#[test_case]
fn inactive_list_is_scanned_from_its_tail() {
    virtio_swap_no_readahead();
    let mm = TestMm::new("lab3-tail", BASE, 64);
    for p in 0..64 {
        mm.write(p, p);
    }
    // Age every page once, so none is referenced: then reclaim takes the
    // oldest first.
    age_all(&mm);
    vmstat::reset();
    let got = with_mm_state(|st| try_to_free_mem_cgroup_pages(st, 8));
    assert!(got >= 8, "reclaimed {got}");
    assert!(
        vmstat::read(VmEvent::PgScanAnon) >= 8,
        "scans are counted (pgscan_anon)"
    );
    for p in 0..8 {
        assert!(
            pte_to_swp_entry(mm.pte(p)).is_some(),
            "page {p}, among the oldest, was not reclaimed"
        );
    }
    for p in 32..64 {
        assert!(
            mm.pte(p).is_present(),
            "page {p}, among the newest, was reclaimed first"
        );
    }
}
