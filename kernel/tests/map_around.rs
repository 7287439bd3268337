//! Map-around in do_swap_page: what it maps, what it must skip, its
//! counters, the io-complete bottom half, and integrity with every variant.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::knobs::Config;
use kernel::mm::map_around::{run_deferred_maps, MapAroundMode};
use kernel::mm::page::flags;
use kernel::mm::page_io::wait_on_page_locked;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap::{pte_to_swp_entry, swp_entry_to_pte};
use kernel::mm::swap_state::{swap_cache_read_folio, RaPage, ReadaheadMode};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{swap_out_all, virtio_swap, TestMm};

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_6800_0000_0000;

/// `pages` pages, all swapped out to disk; readahead off, map-around `mode`.
fn setup(name: &str, pages: u64, mode: MapAroundMode) -> TestMm {
    virtio_swap(SwapPolicy {
        readahead: ReadaheadMode::Off,
        page_cluster: 3,
        map_around: mode,
        ..SwapPolicy::default()
    });
    TestMm::swapped_out(name, BASE, pages)
}

/// Puts `page`'s data in the swap cache (a completed read).
fn prefetch(mm: &TestMm, page: u64) -> u32 {
    let e = mm.entry(page);
    with_mm_state(|st| {
        let pfn = swap_cache_read_folio(st, e, true).unwrap().unwrap();
        wait_on_page_locked(st, pfn);
        pfn
    })
}

#[test_case]
fn maps_ready_neighbours_and_skips_the_rest() {
    let mm = setup("skips", 32, MapAroundMode::Cached);
    mm.touch(11); // page 11 is present now: "already present" for the walk
                  // Neighbours of page 16 in its window [9, 24):
    let ready = [12, 13, 20];
    for p in ready {
        prefetch(&mm, p);
    }
    let locked = prefetch(&mm, 14);
    let stale = prefetch(&mm, 15);
    prefetch(&mm, 17);
    with_mm_state(|st| {
        st.mem_map.get_mut(locked).set(flags::LOCKED); // as if under I/O
        st.mem_map.get_mut(stale).clear(flags::UPTODATE); // as if a read failed
                                                          // Page 17: swapped out but not exclusive (as after fork).
        let e = pte_to_swp_entry(st.mm(mm.id()).pgtable().get_pte(mm.va(17)).unwrap())
            .unwrap()
            .0;
        st.mm_mut(mm.id())
            .pgtable_mut()
            .set_pte(mm.va(17), swp_entry_to_pte(e, false))
            .unwrap();
    });
    vmstat::reset();
    mm.touch(16);
    for p in ready {
        assert!(mm.pte(p).is_present(), "ready neighbour {p} not mapped");
    }
    for p in [14, 15, 17, 18, 19] {
        assert!(!mm.pte(p).is_present(), "page {p} must not be mapped");
    }
    assert_eq!(vmstat::read(VmEvent::SwapMapAround), 3);
    assert_eq!(vmstat::read(VmEvent::PgMajFault), 1, "only page 16 faulted");
    // Mapped neighbours are young, as the PoC's mk_pte(page,
    // vma->vm_page_prot) makes them on x86, and behave like swap-ins.
    assert!(mm.pte(12).is_young());
    assert_eq!(mm.rss_anon(), 5); // 11, 16 and the three neighbours
    with_mm_state(|st| {
        st.mem_map.get_mut(locked).clear(flags::LOCKED);
        st.mem_map.get_mut(stale).set(flags::UPTODATE);
        let e = pte_to_swp_entry(st.mm(mm.id()).pgtable().get_pte(mm.va(17)).unwrap())
            .unwrap()
            .0;
        st.mm_mut(mm.id())
            .pgtable_mut()
            .set_pte(mm.va(17), swp_entry_to_pte(e, true))
            .unwrap();
    });
    // Touching a mapped neighbour costs no fault at all.
    vmstat::reset();
    mm.touch(12);
    assert_eq!(
        vmstat::read(VmEvent::PgFault),
        0,
        "no double mapping, no second fault"
    );
    for p in 0..32 {
        mm.touch(p);
    }
    drop(mm);
}

#[test_case]
fn unused_old_mappings_are_reported_wasted() {
    let mm = setup("wasted", 32, MapAroundMode::Cached);
    // Our departure from the PoC: neighbours mapped old.
    with_mm_state(|st| st.policy.map_around_old = true);
    prefetch(&mm, 9);
    prefetch(&mm, 10);
    mm.touch(8);
    assert!(
        mm.pte(10).is_present() && !mm.pte(10).is_young(),
        "mapped old"
    );
    vmstat::reset();
    mm.touch(9); // used: its accessed bit gets set by the CPU
    swap_out_all();
    assert_eq!(
        vmstat::read(VmEvent::SwapMapAroundWasted),
        1,
        "page 10 was never touched"
    );
    drop(mm);
}

#[test_case]
fn io_complete_maps_after_the_read_completes_and_revalidates() {
    let mm = setup("iocomplete", 32, MapAroundMode::IoComplete);
    let e = mm.entry(5);
    // Start the read without waiting, and queue the deferred mapping.
    let pfn = with_mm_state(|st| {
        let pfn = swap_cache_read_folio(st, e, true).unwrap().unwrap();
        let p = RaPage {
            addr: mm.va(5),
            entry: e,
            pfn,
            is_sync: false,
        };
        st.deferred_maps.push((mm.id(), p));
        st.mem_map.get_mut(pfn).set(flags::LOCKED); // keep it "in flight"
        run_deferred_maps(st);
        assert_eq!(
            st.deferred_maps.len(),
            1,
            "not mapped while the read is in flight"
        );
        pfn
    });
    assert!(!mm.pte(5).is_present());
    with_mm_state(|st| {
        wait_on_page_locked(st, pfn);
        st.mem_map.get_mut(pfn).clear(flags::LOCKED);
        run_deferred_maps(st);
        assert!(st.deferred_maps.is_empty());
    });
    assert!(
        mm.pte(5).is_present(),
        "mapped once the completion was processed"
    );
    // A deferred mapping whose PTE changed meanwhile is dropped.
    let e6 = mm.entry(6);
    with_mm_state(|st| {
        let pfn = swap_cache_read_folio(st, e6, true).unwrap().unwrap();
        wait_on_page_locked(st, pfn);
        st.deferred_maps.push((
            mm.id(),
            RaPage {
                addr: mm.va(6),
                entry: e6,
                pfn,
                is_sync: false,
            },
        ));
    });
    mm.touch(6); // the normal fault maps it first
    let before = vmstat::read(VmEvent::SwapMapAround);
    with_mm_state(run_deferred_maps);
    assert_eq!(
        vmstat::read(VmEvent::SwapMapAround),
        before,
        "no double mapping"
    );
    for p in 0..32 {
        mm.touch(p);
    }
    drop(mm);
}

#[test_case]
fn every_variant_keeps_every_page_intact() {
    for mode in ["off", "cached", "zswap-sync", "io-complete"] {
        for zswap in ["0", "1"] {
            let text = alloc::format!(
                "workload=thrash;workload.size=16M;memcg.max=8M;workload.tasks=2;workload.pattern=runs;\
                 swap.map_around={mode};zswap.enabled={zswap};zswap.max_pool_percent=1;swapdev.profile=none"
            );
            let r = kernel::workload::run(&Config::parse(&text).unwrap()).unwrap();
            assert_eq!(r.corrupt_pages, 0, "{mode} zswap={zswap}");
            assert_eq!(r.leaked_pages, 0, "{mode} zswap={zswap}");
            let m = r.measured.unwrap();
            let mapped = m
                .vmstat
                .iter()
                .find(|(n, _)| *n == "swap_map_around")
                .unwrap()
                .1;
            if mode == "cached" || mode == "io-complete" {
                assert!(mapped > 0, "{mode} zswap={zswap} mapped nothing");
            }
        }
    }
}
