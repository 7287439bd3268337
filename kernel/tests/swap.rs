//! The swap core end to end on a real virtio-blk disk: slot allocation,
//! the swap cache and its states, major/minor accounting, readahead hits,
//! the keep-slot rule, and reclaim under a small limit with integrity
//! checks. The host attaches a 64 MiB swap disk to every test kernel.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::knobs::Config;
use kernel::mm::mm_types::switch_mm;
use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::page_io::wait_on_page_locked;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::{pte_to_swp_entry, SwapEntry};
use kernel::mm::swap_state::{swap_cache_read_folio, ReadaheadMode};
use kernel::mm::swapfile::{SwapInfo, SWAPFILE_CLUSTER};
use kernel::mm::vmscan::shrink_all_memory;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::mm::workingset::{refault_distance, workingset_size};
use kernel::testing::fixtures::{page_of, virtio_swap, TestMm};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_5000_0000_0000;

fn policy(readahead: ReadaheadMode) -> SwapPolicy {
    SwapPolicy {
        readahead,
        page_cluster: 3,
        ..SwapPolicy::default()
    }
}

/// An address space of `pages` written pages, then everything reclaimed.
fn swapped_out_mm(name: &str, pages: u64, readahead: ReadaheadMode) -> TestMm {
    virtio_swap(policy(readahead));
    let t = TestMm::swapped_out(name, BASE, pages);
    for p in 0..pages {
        assert!(
            pte_to_swp_entry(t.pte(p)).is_some(),
            "page {p} not swapped out"
        );
    }
    t
}

#[test_case]
fn slots_are_allocated_in_cluster_order_until_exhausted() {
    // A private swap area with the disk's size but no device (the disk
    // belongs to swapon).
    let mut si = SwapInfo::new_detached((64 << 20) / 4096);
    let total = si.total_slots();
    assert_eq!(total, (64 << 20) / 4096 - 1, "slot 0 is the header");
    // Free clusters come first (as in Linux); cluster 0 holds the header,
    // so it is only partly free and is used last.
    let first = si.folio_alloc_swap(7).unwrap().offset;
    assert_eq!(first, SWAPFILE_CLUSTER);
    for expect in first + 1..first + SWAPFILE_CLUSTER + 3 {
        assert_eq!(
            si.folio_alloc_swap(7).unwrap().offset,
            expect,
            "sequential, across clusters"
        );
    }
    for _ in SWAPFILE_CLUSTER + 3..total {
        let e = si.folio_alloc_swap(7).unwrap();
        assert_ne!(e.offset, 0, "the header is never handed out");
    }
    assert_eq!(si.folio_alloc_swap(7), None, "a full area says so");
    assert_eq!(si.nr_used(), total);
    // Freeing a slot (count and cache both gone) makes it allocatable again.
    let e = SwapEntry::new(700);
    si.swap_duplicate(e);
    si.cache_remove(e, 0);
    assert_eq!(si.nr_used(), total, "still referenced by a PTE");
    si.swap_free(e);
    assert_eq!(si.nr_used(), total - 1);
    assert_eq!(si.folio_alloc_swap(9), Some(e));
    assert_eq!(si.cache_lookup(e), Some(9));
}

#[test_case]
fn swap_out_and_major_fault_back_with_readahead_off() {
    let mm = swapped_out_mm("major", 64, ReadaheadMode::Off);
    vmstat::reset();
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p} corrupt after swap-in");
    }
    assert_eq!(vmstat::read(VmEvent::PgMajFault), 64);
    assert_eq!(vmstat::read(VmEvent::PswpIn), 64);
    assert_eq!(vmstat::read(VmEvent::SwapRa), 0);
    assert_eq!(vmstat::read(VmEvent::PgFaultSwapcache), 0);
    drop(mm);
}

#[test_case]
fn readahead_pages_are_minor_faults_and_score_hits() {
    let mm = swapped_out_mm("ra", 64, ReadaheadMode::Vma);
    vmstat::reset();
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p} corrupt");
    }
    let (maj, minor) = (
        vmstat::read(VmEvent::PgMajFault),
        vmstat::read(VmEvent::PgFaultSwapcache),
    );
    assert_eq!(maj + minor, 64);
    assert!(
        minor > maj,
        "sequential faults should mostly hit readahead: {maj} major, {minor} minor"
    );
    assert_eq!(
        vmstat::read(VmEvent::SwapRaHit),
        minor,
        "every cache hit was a prefetched page"
    );
    assert_eq!(vmstat::read(VmEvent::PswpIn), 64, "each page read once");
    drop(mm);
}

#[test_case]
fn swap_cache_states_and_a_fault_on_a_page_under_io() {
    let mm = swapped_out_mm("states", 8, ReadaheadMode::Off);
    let (entry, _) = pte_to_swp_entry(mm.pte(3)).unwrap();
    vmstat::reset();
    // Start a readahead read of page 3 without waiting for it.
    let pfn = with_mm_state(|st| swap_cache_read_folio(st, entry, true))
        .unwrap()
        .unwrap();
    let p = page_of(pfn);
    assert!(p.test(flags::SWAPCACHE) && p.test(flags::READAHEAD));
    assert_eq!(vmstat::read(VmEvent::SwapRa), 1);
    // Whether or not its I/O finished, the fault finds it in the cache.
    assert!(mm.holds(3, 3));
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        0,
        "a swap-cache hit is minor"
    );
    assert_eq!(vmstat::read(VmEvent::PgFaultSwapcache), 1);
    assert_eq!(vmstat::read(VmEvent::SwapRaHit), 1);
    let p = page_of(pfn);
    assert!(p.test(flags::UPTODATE) && !p.test(flags::LOCKED) && !p.test(flags::READAHEAD));
    // A second readahead of the same entry is not counted again.
    with_mm_state(|st| wait_on_page_locked(st, pfn));
    drop(mm);
}

#[test_case]
fn read_fault_keeps_the_slot_and_clean_pages_drop_without_io() {
    let mm = swapped_out_mm("keep", 4, ReadaheadMode::Off);
    // Read fault: the page keeps its slot (Linux keeps it unless swap is
    // half full or the fault writes).
    assert!(mm.holds(1, 1));
    let pfn = pa_to_pfn(mm.pte(1).pa());
    let p = page_of(pfn);
    assert!(p.test(flags::SWAPCACHE), "slot kept after a read fault");
    assert!(!p.test(flags::DIRTY));
    // Reclaim it again: clean with a valid copy, so no write.
    vmstat::reset();
    with_mm_state(shrink_all_memory);
    assert_eq!(
        vmstat::read(VmEvent::PswpOut),
        0,
        "a clean page is dropped, not written"
    );
    assert!(vmstat::read(VmEvent::PgSteal) >= 1);
    assert!(mm.holds(1, 1), "dropped page came back intact");
    // Write fault on a swapped page: the slot is freed, the page is dirty.
    mm.write(2, 42);
    let p = page_of(pa_to_pfn(mm.pte(2).pa()));
    assert!(
        !p.test(flags::SWAPCACHE) && p.test(flags::DIRTY),
        "slot freed on write"
    );
    vmstat::reset();
    with_mm_state(shrink_all_memory);
    assert!(
        vmstat::read(VmEvent::PswpOut) >= 1,
        "a dirty page is written"
    );
    assert!(mm.holds(2, 42));
    drop(mm);
}

#[test_case]
fn teardown_returns_every_slot_and_frame() {
    let before = kernel::mm::page_alloc::nr_free_pages();
    let used_before = with_mm_state(|st| st.swap.as_ref().map(|s| s.nr_used()).unwrap_or(0));
    let mm = swapped_out_mm("teardown", 100, ReadaheadMode::Vma);
    // Bring some back, leave some out, prefetch some.
    for p in (0..100).step_by(7) {
        assert!(mm.holds(p, p));
    }
    switch_mm(None);
    drop(mm);
    let used_after = with_mm_state(|st| st.swap.as_ref().unwrap().nr_used());
    assert_eq!(used_after, used_before, "swap slots leaked");
    assert_eq!(
        with_mm_state(|st| st.memcg.usage_pages),
        0,
        "charges leaked"
    );
    assert_eq!(
        kernel::mm::page_alloc::nr_free_pages(),
        before,
        "frames leaked"
    );
}

fn thrash(extra: &str) -> kernel::workload::WorkloadResult {
    let text =
        alloc::format!("workload=thrash;workload.size=8M;memcg.max=2M;workload.tasks=2;{extra}");
    let config = Config::parse(&text).unwrap();
    kernel::workload::run(&config).unwrap()
}

#[test_case]
fn reclaim_under_a_small_limit_keeps_every_page_intact() {
    for extra in [
        "swap.readahead=vma",
        "swap.readahead=cluster",
        "swap.readahead=off",
        "workload.pattern=random",
        "workload.pattern=hot;vm.page_cluster=1",
    ] {
        let r = thrash(extra);
        assert_eq!(r.corrupt_pages, 0, "{extra}: corrupt pages");
        assert_eq!(r.leaked_pages, 0, "{extra}: leaked pages");
        assert!(
            r.checked_pages > 2048,
            "{extra}: only {} checked",
            r.checked_pages
        );
        assert!(
            vmstat::read(VmEvent::PswpOut) > 0 && vmstat::read(VmEvent::PswpIn) > 0,
            "{extra}: no swap traffic"
        );
        let peak = with_mm_state(|st| st.memcg.peak_pages);
        assert!(peak <= 512, "{extra}: memcg limit exceeded: {peak} pages");
    }
}

#[test_case]
fn refaults_within_the_active_list_are_activated() {
    // Linux mm/workingset.c: reclaim leaves a shadow (the eviction age) in
    // each slot; a page coming back into the swap cache is activated if
    // no more pages were evicted or activated since than the active list
    // holds.
    let mm = swapped_out_mm("ws", 64, ReadaheadMode::Off);
    for p in 0..64 {
        let e = mm.entry(p);
        let shadow = with_mm_state(|st| st.swap.as_ref().unwrap().shadow(e));
        assert!(shadow != 0, "page {p}: eviction left no shadow");
    }
    // Bring the first half back and make 16 of them the active list (as
    // if hot): smaller than the spread of the other half's distances.
    for p in 0..32 {
        assert!(mm.holds(p, p));
    }
    with_mm_state(|st| {
        for p in 0..16 {
            let pfn = pa_to_pfn(st.mm(mm.id()).pgtable().get_pte(mm.va(p)).unwrap().pa());
            let kernel::mm::state::MmState { lru, mem_map, .. } = st;
            assert!(lru.del(mem_map, pfn));
            lru.add_active(mem_map, pfn);
        }
    });
    vmstat::reset();
    let (mut activated, mut not) = (0, 0);
    for p in 32..64 {
        let e = mm.entry(p);
        let (distance, size) = with_mm_state(|st| {
            let shadow = st.swap.as_ref().unwrap().shadow(e);
            (refault_distance(st, shadow), workingset_size(st, false))
        });
        assert!(mm.holds(p, p));
        let pfn = pa_to_pfn(mm.pte(p).pa());
        let active = page_of(pfn).test(flags::ACTIVE);
        assert_eq!(
            active,
            distance <= size,
            "page {p}: distance {distance}, active list {size}"
        );
        if active {
            activated += 1;
        } else {
            not += 1;
        }
        assert_eq!(
            with_mm_state(|st| st.swap.as_ref().unwrap().shadow(e)),
            0,
            "the refault consumed the shadow"
        );
    }
    assert!(activated > 0 && not > 0, "{activated} activated, {not} not");
    assert_eq!(vmstat::read(VmEvent::WorkingsetRefaultAnon), 32);
    assert_eq!(vmstat::read(VmEvent::WorkingsetActivateAnon), activated);
    drop(mm);
}
