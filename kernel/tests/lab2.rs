//! Lab 2 (labs/lab2.md): swap out and in without readahead. The public
//! tests; `faultline grade lab2` runs them, one verdict each, and
//! `labs/lab2.json` gives their points. Readahead is off in every test:
//! lab 4's code is a stand-in (one page) in a lab-2 tree. Pages go out
//! through `MADV_PAGEOUT`'s path, which skips the LRU policy: a lab-3
//! tree (reclaim cut) still runs these tests.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::pgtable::Pte;
use kernel::mm::state::with_mm_state;
use kernel::mm::swap::{pte_to_swp_entry, swp_entry_to_pte, SwapEntry};
use kernel::mm::swapfile::{SwapInfo, SWAPFILE_CLUSTER};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{page_of, virtio_swap_no_readahead, xorshift, TestMm};
use kernel::testing::lab::seed_or;

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_5000_0000_0000;

#[test_case]
fn swap_pte_round_trip() {
    for (offset, excl) in [(1u32, true), (2, false), (511, false), (0x00ff_ffff, true)] {
        let pte = swp_entry_to_pte(SwapEntry::new(offset), excl);
        assert!(
            !pte.is_present() && !pte.is_none(),
            "slot {offset}: a swap PTE is neither present nor none ({:#x})",
            pte.raw()
        );
        assert_eq!(
            pte_to_swp_entry(pte),
            Some((SwapEntry::new(offset), excl)),
            "slot {offset}, exclusive {excl}: round trip"
        );
    }
}

#[test_case]
fn none_and_present_ptes_are_not_swap_entries() {
    assert_eq!(pte_to_swp_entry(Pte::NONE), None, "the none PTE");
    assert_eq!(pte_to_swp_entry(Pte::new(0x5000, 0)), None, "a present PTE");
}

#[test_case]
fn slots_are_allocated_in_order_and_freed() {
    // A private area with no device: 4 clusters of slots.
    let mut si = SwapInfo::new_detached(4 * SWAPFILE_CLUSTER);
    let first = si.folio_alloc_swap(7).expect("a free slot").offset;
    assert_ne!(first, 0, "slot 0 is the header");
    let second = si.folio_alloc_swap(8).expect("a second slot").offset;
    assert_eq!(second, first + 1, "slots come in order within a cluster");
    assert_eq!(
        si.cache_lookup(SwapEntry::new(first)),
        Some(7),
        "the page is in the swap cache"
    );
    let total = si.total_slots();
    for _ in 2..total {
        si.folio_alloc_swap(9).expect("the area is not full yet");
    }
    assert_eq!(si.folio_alloc_swap(9), None, "a full area says so");
    // One PTE refers to `first`; dropping the cache page and then the
    // reference frees it.
    let e = SwapEntry::new(first);
    si.swap_duplicate(e);
    si.cache_remove(e, 0);
    assert_eq!(si.nr_used(), total, "still referenced by a PTE");
    si.swap_free(e);
    assert_eq!(si.nr_used(), total - 1, "swap_free released the slot");
    assert_eq!(
        si.folio_alloc_swap(10),
        Some(e),
        "and it can be allocated again"
    );
}

#[test_case]
fn reclaim_swaps_out_every_page() {
    virtio_swap_no_readahead();
    vmstat::reset();
    // 16 to 79 pages, from the handout's seed or the grader's secret one
    // (fw_cfg `seed=`, see kernel/src/testing/lab.rs).
    let pages = 16 + xorshift(&mut (seed_or(0x2b) | 1)) % 64;
    let mm = TestMm::paged_out("lab2-out", BASE, pages);
    for p in 0..pages {
        let pte = mm.pte(p);
        let (entry, exclusive) = pte_to_swp_entry(pte)
            .unwrap_or_else(|| panic!("page {p}: PTE {:#x} holds no swap entry", pte.raw()));
        assert!(
            exclusive,
            "page {p}: an unshared page is swapped out exclusive"
        );
        let count = with_mm_state(|st| st.swap.as_ref().unwrap().swap_count(entry));
        assert_eq!(
            count, 1,
            "page {p}: one PTE refers to slot {}",
            entry.offset
        );
    }
    assert_eq!(
        vmstat::read(VmEvent::PswpOut),
        pages,
        "each page written once"
    );
    assert_eq!(mm.rss_anon(), 0, "no page is mapped any more");
}

#[test_case]
fn swap_in_restores_every_page() {
    virtio_swap_no_readahead();
    // 16 to 111 pages and a stride through them, from the handout's seed
    // or the grader's secret one.
    let mut rng = seed_or(0x2c) | 1;
    let pages = 16 + xorshift(&mut rng) % 96;
    let step = [1, 3, 5, 7][(xorshift(&mut rng) % 4) as usize];
    let mm = TestMm::paged_out("lab2-in", BASE, pages);
    vmstat::reset();
    // Every page once, last to first within each residue of `step`.
    let mut order: alloc::vec::Vec<u64> = (0..step)
        .flat_map(|r| (r..pages).step_by(step as usize))
        .collect();
    order.reverse();
    for &p in &order {
        assert!(mm.holds(p, p), "page {p} corrupt after swap-in");
    }
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        pages,
        "one major fault per page"
    );
    assert_eq!(vmstat::read(VmEvent::PswpIn), pages, "one read per page");
    assert_eq!(vmstat::read(VmEvent::SwapRa), 0, "readahead is off");
}

#[test_case]
fn write_fault_frees_the_slot_read_fault_keeps_it() {
    virtio_swap_no_readahead();
    let mm = TestMm::paged_out("lab2-keep", BASE, 4);
    assert!(mm.holds(1, 1));
    let p = page_of(pa_to_pfn(mm.pte(1).pa()));
    assert!(p.test(flags::SWAPCACHE), "a read fault keeps the slot");
    assert!(!p.test(flags::DIRTY), "and the page stays clean");
    vmstat::reset();
    mm.pageout();
    assert_eq!(
        vmstat::read(VmEvent::PswpOut),
        0,
        "a clean page with a slot is dropped, not written"
    );
    assert!(mm.holds(1, 1), "the dropped page comes back intact");
    mm.write(2, 42);
    let p = page_of(pa_to_pfn(mm.pte(2).pa()));
    assert!(!p.test(flags::SWAPCACHE), "a write fault frees the slot");
    assert!(
        p.test(flags::DIRTY),
        "and leaves the only copy, dirty, in RAM"
    );
    assert!(mm.holds(2, 42));
}
