//! Event counters, named exactly as in Linux's /proc/vmstat
//! (include/linux/vm_event_item.h, mm/vmstat.c). Each counter means what
//! its Linux namesake means; any difference is documented at the variant.
//!
//! To add a counter: add a variant to [`VmEvent`] and its name to
//! [`VM_EVENT_NAMES`] at the same position.

use core::sync::atomic::{AtomicU64, Ordering};

/// Linux `enum vm_event_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum VmEvent {
    /// Every page fault that `handle_mm_fault` resolved (Linux counts
    /// completed faults in `mm_account_fault`; a fault that ends in a
    /// segmentation fault is not counted, and ends our run anyway).
    PgFault,
    /// Swap-ins that were not swap-cache hits (`do_swap_page`).
    PgMajFault,
    /// Not in Linux: faults on swap PTEs served from the swap cache
    /// (minor), e.g. a prefetched page found by its first touch.
    PgFaultSwapcache,
    /// Pages read from the swap device, counted at submission.
    PswpIn,
    /// Pages written to the swap device.
    PswpOut,
    /// Pages newly read by readahead (the faulting page not included).
    SwapRa,
    /// Readahead pages later found by a fault (each at most once).
    SwapRaHit,
    /// Not in Linux: readahead pages freed by reclaim before any use.
    SwapRaWasted,
    /// Pages scanned on the inactive lists by reclaim, anon and file
    /// (memory.stat `pgscan`).
    PgScan,
    /// Pages freed by reclaim, anon and file (memory.stat `pgsteal`).
    PgSteal,
    /// Pages moved to the active list by reclaim.
    PgActivate,
    /// Pages moved from the active to the inactive list.
    PgDeactivate,
    /// Pages stored in zswap (`zswap_store`).
    Zswpout,
    /// Pages loaded from zswap (`zswap_load`), readahead included.
    Zswpin,
    /// Pages written back from zswap to the disk.
    Zswpwb,
    /// Zero-filled pages recorded in the zero map instead of stored.
    SwpoutZero,
    /// Swap-ins served from the zero map.
    SwpinZero,
    /// Not in Linux: pages mapped by map-around (no fault of their own).
    SwapMapAround,
    /// Not in Linux: readahead hits scored by map-around at map time.
    SwapMapAroundRaHit,
    /// Not in Linux: pages mapped by map-around, then unmapped by reclaim
    /// without ever being accessed (seen with the accessed bit).
    SwapMapAroundWasted,
    /// Swap-ins whose slot held a workingset shadow.
    WorkingsetRefaultAnon,
    /// Of those, pages activated at once (refault distance within the
    /// workingset).
    WorkingsetActivateAnon,
    /// Of those, pages that had been in the workingset before eviction.
    WorkingsetRestoreAnon,
    /// Read faults on never-written anonymous memory that mapped the
    /// shared zero page (not in Linux's vmstat; a minor fault there).
    PgFaultZeroPage,
    /// Write faults that copied a page they could not write in place: the
    /// zero page, or a page fork shared (`do_wp_page` → `wp_page_copy`;
    /// not in Linux's vmstat).
    PgFaultWpCopy,
    /// Page-cache reads whose mapping held a workingset shadow.
    WorkingsetRefaultFile,
    /// Of those, pages activated at once.
    WorkingsetActivateFile,
    /// Of those, pages that had been in the workingset before eviction.
    WorkingsetRestoreFile,
    /// Inactive anon pages scanned by reclaim.
    PgScanAnon,
    /// Inactive file pages scanned by reclaim.
    PgScanFile,
    /// Anon pages freed by reclaim.
    PgStealAnon,
    /// File pages freed by reclaim.
    PgStealFile,
    /// KiB read from block devices (swap and files disks; Linux counts
    /// every read bio's sectors in `submit_bio` and shows them halved, in
    /// KiB). zswap and the zero map are not block I/O; zram is.
    PgPgIn,
    /// KiB written to block devices, likewise.
    PgPgOut,
    /// File pages that became dirty (Linux node stat `nr_dirtied`,
    /// `folio_account_dirtied`).
    NrDirtied,
    /// File pages whose writeback completed (node stat `nr_written`,
    /// `__folio_end_writeback`).
    NrWritten,
    /// Dirty file pages that reclaim met, marked `PG_reclaim` and
    /// activated to be freed once written (node stat
    /// `nr_vmscan_immediate_reclaim`; pages already under writeback are
    /// marked and activated too, but not counted here, as in Linux).
    NrVmscanImmediate,
    /// Pages moved to the inactive tail when their writeback finished
    /// (`folio_rotate_reclaimable`).
    PgRotated,
    /// Not in Linux's vmstat: swap reads the device failed (Linux logs
    /// each, `Read-error on swap-device`, in `__end_swap_bio_read`).
    SwapReadErrors,
    /// Not in Linux's vmstat: swap writes the device failed, the page kept
    /// dirty in memory (`Write-error on swap-device`, `__end_swap_bio_write`);
    /// zswap writebacks included.
    SwapWriteErrors,
    /// Not in Linux's vmstat: write faults on a page fork shared that
    /// found it no longer shared and wrote it in place (`do_wp_page` →
    /// `wp_can_reuse_anon_folio` → `wp_page_reuse`).
    PgFaultWpReuse,
    /// Not in Linux's vmstat: swap-ins of a non-exclusive swap PTE (one
    /// fork duplicated), mapped read-only (`do_swap_page` without
    /// `RMAP_EXCLUSIVE`).
    SwapinNonExclusive,
    /// Not in Linux's vmstat (Linux shows page-table pages as the gauge
    /// `nr_page_table_pages`): page-table pages allocated below the pgd
    /// (`PageTable::walk_to`, Linux `__pte_alloc` and friends).
    PgtableAlloc,
}

/// Names in /proc/vmstat, indexed by [`VmEvent`].
pub const VM_EVENT_NAMES: [&str; NR_VM_EVENTS] = [
    "pgfault",
    "pgmajfault",
    "pgfault_swapcache",
    "pswpin",
    "pswpout",
    "swap_ra",
    "swap_ra_hit",
    "swap_ra_wasted",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "zswpout",
    "zswpin",
    "zswpwb",
    "swpout_zero",
    "swpin_zero",
    "swap_map_around",
    "swap_map_around_ra_hit",
    "swap_map_around_wasted",
    "workingset_refault_anon",
    "workingset_activate_anon",
    "workingset_restore_anon",
    "pgfault_zeropage",
    "pgfault_wp_copy",
    "workingset_refault_file",
    "workingset_activate_file",
    "workingset_restore_file",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "pgpgin",
    "pgpgout",
    "nr_dirtied",
    "nr_written",
    "nr_vmscan_immediate_reclaim",
    "pgrotated",
    "swap_read_errors",
    "swap_write_errors",
    "pgfault_wp_reuse",
    "swapin_nonexclusive",
    "pgtable_alloc",
];

pub const NR_VM_EVENTS: usize = 43;

static COUNTERS: [AtomicU64; NR_VM_EVENTS] = [const { AtomicU64::new(0) }; NR_VM_EVENTS];

/// Counts one page of block I/O in `pgpgin` or `pgpgout` (in KiB).
pub fn count_pgpg(is_write: bool) {
    let event = if is_write {
        VmEvent::PgPgOut
    } else {
        VmEvent::PgPgIn
    };
    count_vm_events(event, super::PAGE_SIZE / 1024);
}

/// Linux `count_vm_event`.
#[inline]
pub fn count_vm_event(event: VmEvent) {
    count_vm_events(event, 1);
}

/// Linux `count_vm_events`.
#[inline]
pub fn count_vm_events(event: VmEvent, n: u64) {
    COUNTERS[event as usize].fetch_add(n, Ordering::Relaxed);
}

/// The current value of one counter.
pub fn read(event: VmEvent) -> u64 {
    COUNTERS[event as usize].load(Ordering::Relaxed)
}

/// All counters as (name, value), in declaration order.
pub fn snapshot() -> [(&'static str, u64); NR_VM_EVENTS] {
    core::array::from_fn(|i| (VM_EVENT_NAMES[i], COUNTERS[i].load(Ordering::Relaxed)))
}

/// Zeroes every counter (between the set-up and the measured part of a run).
pub fn reset() {
    for c in &COUNTERS {
        c.store(0, Ordering::Relaxed);
    }
}
