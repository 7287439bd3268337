//! Workingset refault detection for anonymous and file pages (Linux
//! mm/workingset.c).
//!
//! When reclaim evicts a swap-cache page it leaves a *shadow* in the
//! page's swap slot (a page-cache page leaves it in its file's mapping,
//! `AddressSpace`): the value of a clock, `nonresident_age`, that ticks
//! once per eviction and once per activation (Linux `lruvec->nonresident_age`,
//! `workingset_age_nonresident`). When the data comes back into the swap
//! cache or the page cache (a fault, a read, or readahead), the *refault
//! distance*
//!
//! ```text
//! distance = age now - age at eviction
//! ```
//!
//! is how many pages were evicted or activated in between: how much more
//! memory the page would have needed to stay resident. If it is no larger
//! than the workingset ([`workingset_size`]), the page is activated at once
//! instead of starting on the inactive list (`workingset_test_recent`,
//! `workingset_refault`). Counters, `_anon` and `_file`:
//! `workingset_refault_*` (every refault with a shadow),
//! `workingset_activate_*` (activated), `workingset_restore_*` (activated
//! and it had been in the workingset, `PG_workingset`, before eviction;
//! such a refault is also a reclaim cost of its type, `lru_note_cost_refault`).
//!
//! Simplifications: one lruvec (one memory cgroup, one node), so the
//! shadow holds no memcg or node id; the age is kept in 30 bits (Linux
//! packs it with the ids into an xarray value, `EVICTION_MASK`, and uses
//! `bucket_order` to coarsen it), and distances are taken modulo 2^30.

use super::lru::lru_note_cost_refault;
use super::page::{flags, Pfn};
use super::state::MmState;
use super::vmstat::{count_vm_event, VmEvent};

/// Bits of the eviction age kept in a shadow.
const EVICTION_BITS: u32 = 30;
const EVICTION_MASK: u64 = (1 << EVICTION_BITS) - 1;
/// Shadow bit 0 is always set (0 means "no shadow"); bit 1 is
/// `PG_workingset`; the age is above them.
const SHADOW_PRESENT: u32 = 1;
const SHADOW_WORKINGSET: u32 = 2;

/// Linux `pack_shadow`.
fn pack_shadow(eviction: u64, workingset: bool) -> u32 {
    (((eviction & EVICTION_MASK) as u32) << 2)
        | SHADOW_PRESENT
        | if workingset { SHADOW_WORKINGSET } else { 0 }
}

/// Linux `unpack_shadow`: (eviction age, workingset).
fn unpack_shadow(shadow: u32) -> (u64, bool) {
    ((shadow >> 2) as u64, shadow & SHADOW_WORKINGSET != 0)
}

/// Linux `workingset_age_nonresident`: `nr` pages were evicted or
/// activated.
pub fn workingset_age_nonresident(st: &mut MmState, nr: u64) {
    st.nonresident_age += nr;
}

/// Linux `workingset_eviction`: the shadow to leave in the slot of the
/// page `pfn` that reclaim is evicting. Ages the clock by one page.
pub fn workingset_eviction(st: &mut MmState, pfn: Pfn) -> u32 {
    let eviction = st.nonresident_age;
    workingset_age_nonresident(st, 1);
    pack_shadow(eviction, st.mem_map.get(pfn).test(flags::WORKINGSET))
}

/// The refault distance of a page whose slot holds `shadow`: pages
/// evicted or activated since it was evicted.
pub fn refault_distance(st: &MmState, shadow: u32) -> u64 {
    let (eviction, _) = unpack_shadow(shadow);
    let refault = st.nonresident_age & EVICTION_MASK;
    refault.wrapping_sub(eviction) & EVICTION_MASK
}

/// Linux `workingset_activation`: a page was activated by an access
/// (`folio_mark_accessed`); that ages the clock like an eviction does.
pub fn workingset_activation(st: &mut MmState) {
    workingset_age_nonresident(st, 1);
}

/// The workingset a refault of type `file` is measured against, as
/// `workingset_test_recent` sums it: the active file list; for an anon
/// refault also the inactive file list (file pages that anon could have
/// displaced); and while swap has free slots, the active anon list, plus
/// the inactive anon list for a file refault.
pub fn workingset_size(st: &MmState, file: bool) -> u64 {
    let lru = &st.lru;
    let mut size = lru.active_file.len();
    if !file {
        size += lru.inactive_file.len();
    }
    let swap_left = st
        .swap
        .as_ref()
        .is_some_and(|s| s.nr_used() < s.total_slots());
    if swap_left {
        size += lru.active_anon.len();
        if file {
            size += lru.inactive_anon.len();
        }
    }
    size as u64
}

/// Linux `workingset_refault`: the page `pfn` was just inserted into the
/// swap cache or the page cache where `shadow` was. Returns whether to put
/// it on the active list rather than the inactive one.
pub fn workingset_refault(st: &mut MmState, pfn: Pfn, shadow: u32) -> bool {
    let file = st.mem_map.get(pfn).test(flags::FILE);
    let [refault, activate, restore] = if file {
        [
            VmEvent::WorkingsetRefaultFile,
            VmEvent::WorkingsetActivateFile,
            VmEvent::WorkingsetRestoreFile,
        ]
    } else {
        [
            VmEvent::WorkingsetRefaultAnon,
            VmEvent::WorkingsetActivateAnon,
            VmEvent::WorkingsetRestoreAnon,
        ]
    };
    count_vm_event(refault);
    if refault_distance(st, shadow) > workingset_size(st, file) {
        return false;
    }
    workingset_age_nonresident(st, 1);
    count_vm_event(activate);
    let (_, workingset) = unpack_shadow(shadow);
    if workingset {
        st.mem_map.get_mut(pfn).set(flags::WORKINGSET);
        lru_note_cost_refault(st, pfn);
        count_vm_event(restore);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn shadows_round_trip_and_wrap() {
        let s = pack_shadow(12345, true);
        assert!(s != 0);
        assert_eq!(unpack_shadow(s), (12345, true));
        let s = pack_shadow(EVICTION_MASK + 7, false);
        assert_eq!(unpack_shadow(s), (6, false), "the age wraps at 2^30");
        assert!(pack_shadow(0, false) != 0, "a shadow is never 0");
    }
}
