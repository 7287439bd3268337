//! zswap, the zero map and the readahead policies of the seed thread,
//! on the real swap path (the host attaches a 64 MiB virtio swap disk).

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::page::{flags, pa_to_pfn};
use kernel::mm::page_alloc::{alloc_page, free_page};
use kernel::mm::phys_to_virt;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::swap_state::ReadaheadMode;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::mm::zswap::{page_bytes, shrink_pool, Reject};
use kernel::testing::fixtures::{page_of, swap_out_all, virtio_swap, TestMm};
use kernel::workload::fill_page_pct;

kernel::test_kernel!(test_main);

const BASE: u64 = 0x0000_6000_0000_0000;

fn in_zswap(mm: &TestMm, page: u64) -> bool {
    let e = mm.entry(page);
    with_mm_state(|st| st.swap.as_ref().unwrap().zswap.is_present(e.offset))
}

/// Sets zswap on or off (with a roomy pool) and the readahead policy.
fn configure(zswap: bool, policy: SwapPolicy) {
    virtio_swap(policy);
    with_mm_state(|st| {
        let z = &mut st.swap.as_mut().unwrap().zswap;
        z.enabled = zswap;
        z.max_pool_pages = 4096;
        z.accept_thr_pages = 3600;
    });
}

/// Every page of `mm` reads back intact, the written-back ones from the
/// disk; then `mm` goes away.
fn assert_all_back_some_from_disk(mm: TestMm, pages: u64) {
    vmstat::reset();
    for p in 0..pages {
        assert!(mm.holds(p, p), "page {p}");
    }
    assert!(
        vmstat::read(VmEvent::PswpIn) > 0,
        "written-back pages come from the disk"
    );
}

/// `pages` pages written with tag = page number, then all reclaimed.
fn swapped_out_mm(name: &str, pages: u64) -> TestMm {
    TestMm::swapped_out(name, BASE, pages)
}

fn vma_policy() -> SwapPolicy {
    SwapPolicy {
        readahead: ReadaheadMode::Vma,
        page_cluster: 3,
        ..SwapPolicy::default()
    }
}

#[test_case]
fn store_load_round_trip() {
    configure(true, vma_policy());
    let pa = alloc_page().unwrap();
    // SAFETY: our frame, in the direct map.
    unsafe { fill_page_pct(phys_to_virt(pa), 7, 25) };
    let copy: alloc::vec::Vec<u8> = unsafe { page_bytes(pa) }.to_vec();
    with_mm_state(|st| {
        let z = &mut st.swap.as_mut().unwrap().zswap;
        // SAFETY: as above.
        assert_eq!(z.store(9000, unsafe { page_bytes(pa) }, true), Ok(()));
        assert_eq!(z.stored_incompressible_pages(), 0, "it compressed");
        // SAFETY: as above.
        unsafe { page_bytes(pa) }.fill(0);
        // SAFETY: as above.
        assert!(
            z.load(9000, unsafe { page_bytes(pa) }),
            "the entry was there"
        );
        // SAFETY: as above.
        assert!(
            unsafe { page_bytes(pa) } == &copy[..],
            "round trip changed the page"
        );
        assert!(!z.is_present(9000), "exclusive load frees the entry");
    });
    free_page(pa);
}

#[test_case]
fn incompressible_page_is_stored_as_is_unless_writeback_is_off() {
    configure(true, vma_policy());
    let pa = alloc_page().unwrap();
    // SAFETY: our frame, in the direct map; every word random.
    unsafe { fill_page_pct(phys_to_virt(pa), 8, 100) };
    let copy: alloc::vec::Vec<u8> = unsafe { page_bytes(pa) }.to_vec();
    with_mm_state(|st| {
        let z = &mut st.swap.as_mut().unwrap().zswap;
        let bytes_before = z.pool_bytes();
        // Linux 6.18 zswap_compress: memory.zswap.writeback=1 keeps it as-is.
        // SAFETY: as above.
        assert_eq!(z.store(9001, unsafe { page_bytes(pa) }, true), Ok(()));
        assert_eq!(z.stored_incompressible_pages(), 1);
        assert_eq!(
            z.pool_bytes() - bytes_before,
            4096,
            "an as-is entry is charged a whole page"
        );
        // SAFETY: as above.
        unsafe { page_bytes(pa) }.fill(0);
        // SAFETY: as above.
        assert!(z.load(9001, unsafe { page_bytes(pa) }));
        // SAFETY: as above.
        assert!(
            unsafe { page_bytes(pa) } == &copy[..],
            "as-is copy changed the page"
        );
        assert_eq!(z.stored_incompressible_pages(), 0, "the load freed it");
        // memory.zswap.writeback=0: rejected, the page goes nowhere.
        // SAFETY: as above.
        let rejected = z.store(9002, unsafe { page_bytes(pa) }, false);
        assert_eq!(rejected, Err(Reject::CompressPoor));
        assert!(!z.is_present(9002));
        assert_eq!(z.stats.reject_compress_poor, 1);
    });
    free_page(pa);
}

#[test_case]
fn writeback_off_keeps_incompressible_pages_resident() {
    // Linux swap_writeout: zswap refused and writeback is disabled, so the
    // folio is redirtied and activated (AOP_WRITEPAGE_ACTIVATE), never
    // written to the disk.
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    kernel::workload::set_random_pct(100);
    with_mm_state(|st| st.memcg.zswap_writeback = false);
    vmstat::reset();
    let mm = swapped_out_mm("nowb", 16);
    with_mm_state(|st| st.memcg.zswap_writeback = true);
    assert_eq!(vmstat::read(VmEvent::PswpOut), 0, "nothing went to disk");
    assert_eq!(vmstat::read(VmEvent::Zswpout), 0, "nothing compressed");
    // As in Linux, reclaim unmapped them before pageout failed: each stays
    // in memory, in the swap cache, and comes back with a minor fault.
    for p in 0..16 {
        assert!(mm.is_cached(p), "page {p} left memory");
    }
    vmstat::reset();
    for p in 0..16 {
        assert!(mm.holds(p, p), "page {p}");
    }
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        0,
        "no page came from swap"
    );
    assert_eq!(vmstat::read(VmEvent::PswpIn), 0);
    drop(mm);
}

#[test_case]
fn zswap_max_writes_back_the_coldest_entries() {
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    // About 1 KiB per page at 25 % random: 4 pages of charge hold ~16.
    with_mm_state(|st| st.memcg.zswap_max_pages = 4);
    vmstat::reset();
    let mm = swapped_out_mm("zmax", 96);
    let (hit, rejected, bytes) = with_mm_state(|st| {
        st.memcg.zswap_max_pages = u64::MAX;
        let z = &st.swap.as_ref().unwrap().zswap;
        (
            z.stats.cgroup_limit_hit,
            z.stats.reject_cgroup_limit,
            z.pool_bytes(),
        )
    });
    assert!(hit > 0, "the cgroup's zswap limit was reached");
    assert!(rejected > 0, "referenced entries get a second chance first");
    assert!(
        bytes <= 5 * 4096,
        "pool holds {bytes} bytes, over the limit"
    );
    assert!(
        vmstat::read(VmEvent::Zswpwb) > 0,
        "the coldest went to disk"
    );
    assert!(!in_zswap(&mm, 0), "the first page stored is the coldest");
    assert_all_back_some_from_disk(mm, 96);
}

#[test_case]
fn charge_retries_while_reclaim_makes_progress() {
    // Incompressible pages stored as-is: reclaiming one frees a page and
    // charges a page of pool, so usage stays at the limit round after
    // round. Linux's try_charge_memcg retries on any progress; a rule
    // that needed usage to drop would give up after 16 such rounds, long
    // before the pool fills and pages start going to disk.
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    kernel::workload::set_random_pct(100);
    with_mm_state(|st| {
        st.memcg.max_pages = kernel::mm::memcontrol::memcg_usage(st) + 600;
        let z = &mut st.swap.as_mut().unwrap().zswap;
        z.max_pool_pages = 560;
        z.accept_thr_pages = 500;
    });
    vmstat::reset();
    let mm = TestMm::new("retry", BASE, 1200);
    for p in 0..1200 {
        mm.write(p, p);
    }
    let peak = with_mm_state(|st| {
        st.memcg.max_pages = u64::MAX;
        st.swap.as_ref().unwrap().zswap.stats.stored_pages_peak
    });
    assert!(peak > 16 * 32, "only {peak} pages were ever in the pool");
    assert!(
        vmstat::read(VmEvent::PswpOut) > 0,
        "the full pool sent pages to disk"
    );
    for p in 0..1200 {
        assert!(mm.holds(p, p), "page {p}");
    }
    drop(mm);
}

#[test_case]
fn exclusive_load_dirties_the_page_and_frees_the_entry() {
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    let mm = swapped_out_mm("excl", 8);
    assert!(in_zswap(&mm, 3), "reclaim stored it in zswap");
    vmstat::reset();
    assert!(mm.holds(3, 3));
    assert_eq!(vmstat::read(VmEvent::Zswpin), 1);
    assert_eq!(vmstat::read(VmEvent::PswpIn), 0, "no disk read");
    let pfn = pa_to_pfn(mm.pte(3).pa());
    let page = page_of(pfn);
    assert!(
        page.test(flags::DIRTY),
        "an exclusive load leaves the page dirty"
    );
    let off = page.swap_offset;
    with_mm_state(|st| assert!(!st.swap.as_ref().unwrap().zswap.is_present(off)));
    // Reclaiming it again costs another compression.
    vmstat::reset();
    swap_out_all();
    assert!(vmstat::read(VmEvent::Zswpout) >= 1);
    drop(mm);
}

#[test_case]
fn reused_slot_has_no_zswap_entry() {
    // Regression test for zswap_invalidate at the allocator level: a tiny
    // area whose only free slot must be reused.
    let mut si = kernel::mm::swapfile::SwapInfo::new_detached(3);
    si.zswap.enabled = true;
    si.zswap.max_pool_pages = 16;
    let a = si.folio_alloc_swap(1).unwrap();
    let _b = si.folio_alloc_swap(2).unwrap();
    let page = [0x5au8; 4096];
    si.zswap.store(a.offset, &page, true).unwrap();
    // The page is unmapped (count 1), then its PTE goes away (count 0).
    si.swap_duplicate(a);
    si.cache_remove(a, 0);
    si.swap_free(a);
    assert!(
        !si.zswap.is_present(a.offset),
        "freeing the slot must drop its zswap entry"
    );
    assert_eq!(
        si.folio_alloc_swap(3),
        Some(a),
        "the only free slot is reused"
    );
    let mut out = [0u8; 4096];
    assert!(
        !si.zswap.load(a.offset, &mut out),
        "a reused slot returned a stale page"
    );
}

#[test_case]
fn freed_slot_never_returns_a_stale_zswap_page() {
    // The same end to end: store A in zswap, free the slot, swap B out
    // with zswap off; every page must read back as B's data.
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    let mm = swapped_out_mm("stale-a", 1);
    let slot = mm.entry(0);
    assert!(in_zswap(&mm, 0));
    drop(mm); // frees the slot: its zswap entry must go with it
    with_mm_state(|st| {
        assert!(
            !st.swap.as_ref().unwrap().zswap.is_present(slot.offset),
            "entry survived the free"
        )
    });
    // Reuse: with zswap off, B goes to disk; the allocator may hand out the
    // same slot (it is free and current-cluster order is sequential).
    configure(
        false,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    let mm = swapped_out_mm("stale-b", 64);
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p} came back stale or corrupt");
    }
    drop(mm);
}

#[test_case]
fn zero_pages_use_the_zero_map() {
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    let mm = TestMm::new("zero", BASE, 4);
    mm.write(0, 1);
    // SAFETY: inside the VMA of the current address space: touched, but
    // left all zeros.
    unsafe { (mm.va(1) as *mut u64).write_volatile(0) };
    vmstat::reset();
    swap_out_all();
    assert_eq!(vmstat::read(VmEvent::SwpoutZero), 1);
    assert_eq!(vmstat::read(VmEvent::Zswpout), 1);
    // SAFETY: as above.
    let word = unsafe { ((mm.va(1) + 8) as *const u64).read_volatile() };
    assert_eq!(word, 0);
    assert_eq!(vmstat::read(VmEvent::SwpinZero), 1);
    assert_eq!(
        vmstat::read(VmEvent::PgMajFault),
        1,
        "a zero-map swap-in is still major"
    );
    drop(mm);
}

/// 64 pages: even ones in zswap, odd ones on disk.
fn mixed_backends_mm(name: &str) -> TestMm {
    configure(false, vma_policy());
    let mm = swapped_out_mm(name, 64);
    // Copy the even pages into zswap too: reads prefer zswap.
    let pa = alloc_page().unwrap();
    for p in (0..64).step_by(2) {
        let e = mm.entry(p);
        // SAFETY: our frame; the pattern of tag p, as fill_page wrote it.
        unsafe { fill_page_pct(phys_to_virt(pa), p, 25) };
        with_mm_state(|st| {
            let z = &mut st.swap.as_mut().unwrap().zswap;
            z.enabled = true;
            // SAFETY: as above.
            z.store(e.offset, unsafe { page_bytes(pa) }, true).unwrap();
        });
    }
    free_page(pa);
    mm
}

#[test_case]
fn bypass_skips_readahead_only_for_zswap_entries() {
    let mm = mixed_backends_mm("bypass");
    with_mm_state(|st| st.policy.zswap_bypass = true);
    vmstat::reset();
    assert!(mm.holds(20, 20), "zswap-backed page");
    assert_eq!(
        vmstat::read(VmEvent::SwapRa),
        0,
        "zswap entry: synchronous, no readahead"
    );
    assert_eq!(vmstat::read(VmEvent::Zswpin), 1);
    assert_eq!(vmstat::read(VmEvent::PgMajFault), 1);
    assert!(mm.holds(41, 41), "disk-backed page");
    assert!(
        vmstat::read(VmEvent::SwapRa) > 0,
        "disk entry: readahead as before"
    );
    assert!(vmstat::read(VmEvent::PswpIn) >= 1);
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p}");
    }
    drop(mm);
}

#[test_case]
fn ra_skip_zswap_prefetches_only_disk_neighbours() {
    let mm = mixed_backends_mm("skip");
    with_mm_state(|st| st.policy.ra_skip_zswap = true);
    vmstat::reset();
    // Fault page 33 (disk): its VMA window [30, 38) holds both kinds.
    assert!(mm.holds(33, 33));
    assert_eq!(
        vmstat::read(VmEvent::Zswpin),
        0,
        "no zswap neighbour decompressed"
    );
    for p in 30..38u64 {
        if p == 33 {
            continue;
        }
        let cached = mm.is_cached(p);
        assert_eq!(
            cached,
            p % 2 == 1,
            "page {p}: disk neighbours prefetched, zswap ones skipped"
        );
    }
    for p in 0..64 {
        assert!(mm.holds(p, p), "page {p}");
    }
    drop(mm);
}

#[test_case]
fn pool_limit_rejects_and_writes_back_oldest_first() {
    configure(
        true,
        SwapPolicy {
            readahead: ReadaheadMode::Off,
            ..vma_policy()
        },
    );
    with_mm_state(|st| {
        let z = &mut st.swap.as_mut().unwrap().zswap;
        z.max_pool_pages = 8;
        z.accept_thr_pages = 4;
    });
    vmstat::reset();
    let mm = swapped_out_mm("limit", 96);
    let (hits, pool) = with_mm_state(|st| {
        let z = &st.swap.as_ref().unwrap().zswap;
        (z.stats.pool_limit_hit, z.pool_pages())
    });
    assert!(hits > 0, "the limit was reached");
    assert!(
        vmstat::read(VmEvent::Zswpwb) > 0,
        "the oldest entries were written back"
    );
    assert!(pool <= 8, "pool {pool} pages above its limit");
    // The pages written first are the ones that left zswap.
    assert!(
        !in_zswap(&mm, 0),
        "the oldest entry should have been written back"
    );
    with_mm_state(shrink_pool);
    assert_all_back_some_from_disk(mm, 96);
}
