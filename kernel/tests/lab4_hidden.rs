//! Lab 4's hidden test (teacher-only; see lab2_hidden.rs): random faults
//! over a swapped-out region in both readahead modes, sized and ordered by
//! the grader's secret seed.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use kernel::mm::state::SwapPolicy;
use kernel::mm::swap_state::ReadaheadMode;
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{virtio_swap, xorshift, TestMm};
use kernel::testing::lab::seed_or;

kernel::test_kernel!(test_main);

#[test_case]
fn random_faults_in_both_modes_keep_every_page() {
    let mut rng = seed_or(4) | 1;
    for (i, mode) in [ReadaheadMode::Cluster, ReadaheadMode::Vma]
        .into_iter()
        .enumerate()
    {
        virtio_swap(SwapPolicy {
            readahead: mode,
            page_cluster: 1 + (xorshift(&mut rng) % 4) as u32,
            ..SwapPolicy::default()
        });
        let pages = 32 + xorshift(&mut rng) % 96;
        let mm = TestMm::swapped_out(
            "lab4-hidden",
            0x0000_5200_0000_0000 + i as u64 * (1 << 30),
            pages,
        );
        vmstat::reset();
        for _ in 0..pages {
            let p = xorshift(&mut rng) % pages;
            assert!(mm.holds(p, p), "{mode:?}: page {p} corrupt");
        }
        let ra = vmstat::read(VmEvent::SwapRa);
        let hits = vmstat::read(VmEvent::SwapRaHit);
        assert!(
            hits <= ra,
            "{mode:?}: {hits} hits but only {ra} pages read ahead"
        );
        assert_eq!(
            vmstat::read(VmEvent::PgFaultSwapcache),
            hits,
            "{mode:?}: every swap-cache hit was a readahead page"
        );
        drop(mm);
    }
}
