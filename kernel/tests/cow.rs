//! fork's copy-on-write at the mm level (no user mode needed): shared
//! pages and shared swap entries, `do_wp_page`'s reuse-or-copy, swap
//! counts above one, non-exclusive swap-ins, reclaim unmapping a page
//! from every address space through the reverse map, and exit of one
//! sharer. Every page is checked in both address spaces.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::cow::dup_mm;
use kernel::mm::mm_types::switch_mm;
use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::pte_to_swp_entry;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{page_of, swap_out_all, virtio_swap, TestMm};
use kernel::workload::integrity;

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_6000_0000_0000;
const PAGES: u64 = 32;

/// A parent with `PAGES` written pages and its fork, parent current.
fn forked(name: &str) -> (TestMm, TestMm) {
    virtio_swap(SwapPolicy::default());
    let parent = TestMm::new(name, BASE, PAGES);
    for p in 0..PAGES {
        parent.write(p, p);
    }
    let child = TestMm {
        mm: dup_mm(parent.id(), "child").expect("fork"),
        base: BASE,
        pages: PAGES,
    };
    (parent, child)
}

fn swap_count(t: &TestMm, page: u64) -> u8 {
    let e = t.entry(page);
    with_mm_state(|st| st.swap.as_ref().expect("swap").swap_count(e))
}

#[test_case]
fn fork_shares_pages_read_only_and_the_first_write_copies() {
    let (parent, child) = forked("p1");
    for p in 0..PAGES {
        assert!(
            !parent.pte(p).is_writable(),
            "parent page {p} still writable"
        );
        assert_eq!(parent.pte(p).pa(), child.pte(p).pa(), "page {p} not shared");
        let page = page_of(pa_to_pfn(parent.pte(p).pa()));
        assert_eq!(page.mapcount, 2);
        assert!(!page.test(flags::ANON_EXCLUSIVE));
    }
    let copies = vmstat::read(VmEvent::PgFaultWpCopy);
    let reuses = vmstat::read(VmEvent::PgFaultWpReuse);
    // The child writes first: it gets a copy; the parent's write then
    // finds the page its own and reuses it.
    switch_mm(Some(&child));
    child.write(3, 1000);
    switch_mm(Some(&parent));
    parent.write(3, 2000);
    assert_eq!(vmstat::read(VmEvent::PgFaultWpCopy) - copies, 1);
    assert_eq!(vmstat::read(VmEvent::PgFaultWpReuse) - reuses, 1);
    assert!(parent.holds(3, 2000));
    switch_mm(Some(&child));
    assert!(child.holds(3, 1000), "the child's write went to the parent");
    for p in (0..PAGES).filter(|&p| p != 3) {
        assert!(child.holds(p, p), "child page {p}");
    }
    switch_mm(Some(&parent));
    for p in (0..PAGES).filter(|&p| p != 3) {
        assert!(parent.holds(p, p), "parent page {p}");
    }
}

#[test_case]
fn reclaim_unmaps_a_shared_page_from_both_and_counts_two_swap_references() {
    let (parent, child) = forked("p2");
    swap_out_all();
    for p in 0..PAGES {
        let (pe, pexcl) = pte_to_swp_entry(parent.pte(p)).expect("parent swapped");
        let (ce, cexcl) = pte_to_swp_entry(child.pte(p)).expect("child swapped");
        assert_eq!(pe, ce, "one slot for the shared page {p}");
        assert!(
            !pexcl && !cexcl,
            "a shared page's swap PTEs are not exclusive"
        );
        assert_eq!(swap_count(&parent, p), 2);
    }
    assert!(with_mm_state(|st| st.swap.as_ref().unwrap().peak_count) >= 2);
    let nonexcl = vmstat::read(VmEvent::SwapinNonExclusive);
    // The child swaps in first (read-only: the parent still holds the
    // entry), then the parent maps the same swap-cache page.
    switch_mm(Some(&child));
    for p in 0..PAGES {
        assert!(child.holds(p, p), "child page {p} after swap-in");
        assert!(!child.pte(p).is_writable());
    }
    switch_mm(Some(&parent));
    for p in 0..PAGES {
        assert!(parent.holds(p, p), "parent page {p} after swap-in");
        assert_eq!(parent.pte(p).pa(), child.pte(p).pa(), "not shared");
    }
    assert_eq!(
        vmstat::read(VmEvent::SwapinNonExclusive) - nonexcl,
        2 * PAGES
    );
    // Writes on both sides: one copy and one reuse per page.
    for p in 0..PAGES {
        parent.write(p, 100 + p);
    }
    switch_mm(Some(&child));
    for p in 0..PAGES {
        child.write(p, 200 + p);
    }
    for p in 0..PAGES {
        assert!(child.holds(p, 200 + p));
    }
    switch_mm(Some(&parent));
    for p in 0..PAGES {
        assert!(parent.holds(p, 100 + p));
    }
}

#[test_case]
fn fork_of_swapped_out_pages_duplicates_the_entries() {
    virtio_swap(SwapPolicy::default());
    let parent = TestMm::swapped_out("p3", BASE, PAGES);
    let child = TestMm {
        mm: dup_mm(parent.id(), "child").expect("fork"),
        base: BASE,
        pages: PAGES,
    };
    for p in 0..PAGES {
        assert_eq!(swap_count(&parent, p), 2, "page {p}");
        assert!(!pte_to_swp_entry(parent.pte(p)).unwrap().1);
    }
    // The child exits: the parent's entries are its alone again, though
    // their PTEs stay non-exclusive (Linux does not set the bit back).
    drop(child);
    switch_mm(Some(&parent));
    for p in 0..PAGES {
        assert_eq!(swap_count(&parent, p), 1);
        assert!(parent.holds(p, p));
    }
    // Mapped read-only; the write reuses the page (its only mapping,
    // and it can leave the swap cache).
    let reuses = vmstat::read(VmEvent::PgFaultWpReuse);
    for p in 0..PAGES {
        parent.write(p, 7 * p);
    }
    assert_eq!(vmstat::read(VmEvent::PgFaultWpReuse) - reuses, PAGES);
    for p in 0..PAGES {
        assert!(parent.holds(p, 7 * p));
    }
}

#[test_case]
fn fork_and_exit_leave_nothing_behind() {
    // Swap-on allocates for good: the baseline is taken after it.
    virtio_swap(SwapPolicy::default());
    let before = integrity::snapshot();
    {
        let (parent, child) = forked("p4");
        swap_out_all();
        switch_mm(Some(&child));
        child.write(0, 5);
        drop(child);
        switch_mm(Some(&parent));
        for p in 0..PAGES {
            assert!(parent.holds(p, p));
        }
    }
    switch_mm(None);
    with_mm_state(|st| st.trim());
    let after = integrity::snapshot();
    let leaks = integrity::Leaks::between(&before, &after);
    assert!(leaks.is_clean(), "leaks: {:?}", leaks.0);
}

#[test_case]
fn map_around_leaves_shared_entries_to_their_own_faults() {
    // The PoC maps a neighbour only if its swap PTE is exclusive: after
    // fork none is, so a swap-in maps the faulting page alone.
    virtio_swap(SwapPolicy {
        map_around: kernel::mm::map_around::MapAroundMode::Cached,
        ..SwapPolicy::default()
    });
    let parent = TestMm::swapped_out("p5", BASE, PAGES);
    let child = TestMm {
        mm: dup_mm(parent.id(), "child").expect("fork"),
        base: BASE,
        pages: PAGES,
    };
    switch_mm(Some(&parent));
    let mapped = vmstat::read(VmEvent::SwapMapAround);
    assert!(parent.holds(8, 8));
    // Readahead brought the neighbours into the swap cache ...
    assert!(parent.is_cached(9), "readahead did not run");
    // ... but map-around left them to their own faults.
    assert_eq!(vmstat::read(VmEvent::SwapMapAround), mapped);
    assert!(pte_to_swp_entry(parent.pte(9)).is_some());
    for p in 0..PAGES {
        assert!(parent.holds(p, p));
    }
    switch_mm(Some(&child));
    for p in 0..PAGES {
        assert!(child.holds(p, p));
    }
    switch_mm(Some(&parent));
    drop(child);
}
