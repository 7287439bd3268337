//! Reading and writing swap pages (Linux mm/page_io.c: `swap_read_folio`,
//! `swap_writeout`/`__swap_writepage`, and the bio completions
//! `end_swap_bio_read` / `end_swap_bio_write`).
//!
//! Every request is asynchronous: submitting never waits. A read leaves
//! the page `LOCKED` until its completion marks it uptodate (or failed)
//! and unlocks it; a write leaves it under `WRITEBACK`. Completions are
//! processed whenever someone waits, for whatever request finished, so a
//! fault that waits for its own page also finishes readahead reads.

use super::page::{flags, pfn_to_pa, MemMap, Pfn};
use super::state::MmState;
use super::swap::SwapEntry;
use super::vmstat::{count_vm_event, VmEvent};
use super::PAGE_SIZE;
use crate::drivers::virtio::blk::{BlkError, BlkOp};

/// Low bit of a request token: 1 for a write.
const TOKEN_WRITE: u64 = 1;

fn token(pfn: Pfn, is_write: bool) -> u64 {
    ((pfn as u64) << 1) | is_write as u64
}

/// Applies one completion to its page (Linux `end_swap_bio_read` /
/// `end_swap_bio_write`). A failed read leaves the page not uptodate, so
/// the fault reports an I/O error; a failed write redirties the page so it
/// is kept, never dropped.
fn end_io(mem_map: &mut MemMap, token: u64, result: Result<(), BlkError>) {
    let page = mem_map.get_mut((token >> 1) as Pfn);
    if token & TOKEN_WRITE != 0 {
        debug_assert!(page.test(flags::WRITEBACK));
        page.clear(flags::WRITEBACK);
        if result.is_err() {
            page.set(flags::DIRTY | flags::ERROR);
        }
        return;
    }
    debug_assert!(page.test(flags::LOCKED));
    page.clear(flags::LOCKED);
    match result {
        Ok(()) => page.set(flags::UPTODATE),
        Err(_) => page.set(flags::ERROR),
    }
}

/// Waits for at least one completion and processes all that are ready.
fn wait_some(st: &mut MmState) {
    let MmState { swap, mem_map, .. } = st;
    let bdev = swap.as_mut().expect("I/O without swap").bdev();
    bdev.wait_and_poll(|t, r| end_io(mem_map, t, r));
}

/// Processes completions that are ready, without waiting.
pub fn poll_completions(st: &mut MmState) {
    let MmState { swap, mem_map, .. } = st;
    if let Some(swap) = swap {
        swap.bdev().poll(|t, r| end_io(mem_map, t, r));
    }
}

/// Submits one request, first making room in the queue if it is full.
fn submit(st: &mut MmState, op: BlkOp, pfn: Pfn, entry: SwapEntry) {
    let pos = entry.offset as u64 * PAGE_SIZE;
    let tok = token(pfn, op == BlkOp::Write);
    loop {
        let bdev = st.swap.as_mut().expect("I/O without swap").bdev();
        if bdev.submit(op, pos, pfn_to_pa(pfn), tok).is_ok() {
            return;
        }
        wait_some(st);
    }
}

/// Linux `swap_read_folio` (block-device path): starts reading `entry`
/// into the locked page `pfn`. Counts `pswpin` at submission, as Linux
/// does for block devices.
pub fn swap_read_folio(st: &mut MmState, pfn: Pfn, entry: SwapEntry) {
    debug_assert!(st.mem_map.get(pfn).test(flags::LOCKED));
    submit(st, BlkOp::Read, pfn, entry);
    count_vm_event(VmEvent::PswpIn);
}

/// Linux `__swap_writepage`: starts writing the dirty page `pfn` to its
/// slot. The page is clean (and under writeback) from now on.
pub fn swap_writepage(st: &mut MmState, pfn: Pfn) {
    let page = st.mem_map.get_mut(pfn);
    debug_assert!(page.test(flags::SWAPCACHE));
    page.clear(flags::DIRTY);
    page.set(flags::WRITEBACK);
    let entry = SwapEntry::new(page.swap_offset);
    submit(st, BlkOp::Write, pfn, entry);
    count_vm_event(VmEvent::PswpOut);
}

/// Linux `folio_wait_locked`: sleeps until the read into `pfn` finished.
pub fn wait_on_page_locked(st: &mut MmState, pfn: Pfn) {
    while st.mem_map.get(pfn).test(flags::LOCKED) {
        wait_some(st);
    }
}

/// Linux `folio_wait_writeback`.
pub fn wait_on_page_writeback(st: &mut MmState, pfn: Pfn) {
    while st.mem_map.get(pfn).test(flags::WRITEBACK) {
        wait_some(st);
    }
}

/// Waits until no request is in flight (before tearing an address space
/// down, so no completion can arrive for a freed page).
pub fn drain_io(st: &mut MmState) {
    while st.swap.as_ref().is_some_and(|s| s.nr_in_flight() > 0) {
        wait_some(st);
    }
}
