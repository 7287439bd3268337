//! LRU bookkeeping that Linux keeps in mm/swap.c (our `swap.rs` is about
//! swap entries): the reclaim cost of each LRU type that balances anon
//! against file reclaim, and `folio_mark_accessed`, which is how a page
//! that is read (not mapped) earns its place on the active list.

use super::page::{flags, Pfn};
use super::state::MmState;
use super::vmstat::{count_vm_event, VmEvent};
use super::workingset::workingset_activation;

/// Linux `SWAP_CLUSTER_MAX`, the weight of one page of I/O in a cost.
const IO_COST: u64 = super::memcontrol::SWAP_CLUSTER_MAX as u64;

/// Linux `lru_note_cost`: reclaim of type `file` cost `nr_io` pages of
/// I/O and `nr_rotated` pages put back. Costs decay (both halve) once
/// their sum passes a quarter of the LRU pages, so recent events weigh
/// more; `get_scan_count` scans each type in inverse proportion.
pub fn lru_note_cost(st: &mut MmState, file: bool, nr_io: u64, nr_rotated: u64) {
    let cost = nr_io * IO_COST + nr_rotated;
    if cost == 0 {
        return;
    }
    let lru = &mut st.lru;
    if file {
        lru.file_cost += cost;
    } else {
        lru.anon_cost += cost;
    }
    if lru.file_cost + lru.anon_cost > lru.len() as u64 / 4 {
        lru.file_cost /= 2;
        lru.anon_cost /= 2;
    }
}

/// Linux `lru_note_cost_refault`: a page of the workingset came back,
/// one page of I/O against its type.
pub fn lru_note_cost_refault(st: &mut MmState, pfn: Pfn) {
    let file = st.mem_map.get(pfn).test(flags::FILE);
    lru_note_cost(st, file, 1, 0);
}

/// Linux `folio_mark_accessed`, for a page-cache page that `read()` used:
/// inactive,unreferenced → inactive,referenced → active,unreferenced.
/// The second access activates the page (and ages the workingset clock,
/// `workingset_activation`), so a file read twice while on the inactive
/// list is protected, one read once is not.
pub fn folio_mark_accessed(st: &mut MmState, pfn: Pfn) {
    let page = *st.mem_map.get(pfn);
    if !page.test(flags::REFERENCED) {
        st.mem_map.get_mut(pfn).set(flags::REFERENCED);
        return;
    }
    if page.test(flags::ACTIVE) {
        return;
    }
    // Reclaim isolates pages only while it holds the mm lock, which we
    // hold: the page is on its LRU list (it went there when it was added
    // to the page cache).
    let super::state::MmState { lru, mem_map, .. } = st;
    if lru.del(mem_map, pfn) {
        lru.add_active(mem_map, pfn);
        count_vm_event(VmEvent::PgActivate);
    }
    st.mem_map.get_mut(pfn).clear(flags::REFERENCED);
    workingset_activation(st);
}
