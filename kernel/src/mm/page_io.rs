//! Reading and writing swap pages (Linux mm/page_io.c: `swap_read_folio`,
//! `swap_writeout`/`__swap_writepage`, and the bio completions
//! `end_swap_bio_read` / `end_swap_bio_write`), and the block I/O of
//! page-cache pages (a file system's `read_folio` and `writepages`).
//!
//! A read first looks where the page may be without any I/O, in Linux's
//! order: the zero map, then zswap; then the device. zram is synchronous
//! (the read is done on return); the virtio disk is asynchronous: a read
//! leaves the page `LOCKED` until its completion marks it uptodate (or
//! failed) and unlocks it, and a write leaves it under `WRITEBACK`.
//! Completions are processed whenever someone waits, for whatever request
//! finished, so a fault that waits for its own page also finishes
//! readahead reads.

use super::filemap::{FileBacking, FileDev, PageCache};
use super::page::{flags, pfn_to_pa, Pfn};
use super::page_writeback::{folio_end_writeback, FileIoDone};
use super::state::MmState;
use super::swap::SwapEntry;
use super::swapfile::SwapDevice;
use super::vmstat::{count_pgpg, count_vm_event, VmEvent};
use super::zswap::page_bytes;
use super::PAGE_SIZE;
use crate::drivers::virtio::blk::{BlkError, BlkOp, VirtioBlk};

/// Low bit of a request token: 1 for a write.
const TOKEN_WRITE: u64 = 1;

fn token(pfn: Pfn, is_write: bool) -> u64 {
    ((pfn as u64) << 1) | is_write as u64
}

/// Applies one completion to its page (Linux `end_swap_bio_read` /
/// `end_swap_bio_write`, and for page-cache pages `mpage_end_io`). A
/// failed read leaves the page not uptodate, so the fault reports an I/O
/// error; a failed write redirties the page so it is kept, never dropped.
fn end_io(io: &mut FileIoDone, token: u64, result: Result<(), BlkError>) {
    let pfn = (token >> 1) as Pfn;
    let page = io.mem_map.get_mut(pfn);
    let is_write = token & TOKEN_WRITE != 0;
    if is_write && page.test(flags::FILE) {
        folio_end_writeback(io, pfn, result.is_ok());
        return;
    }
    if let Err(e) = result {
        if !page.test(flags::FILE) {
            swap_io_error(is_write, page.swap_offset, e);
        }
    }
    if is_write {
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

/// Swap (read, write) errors since [`reset_swap_io_errors`], for the
/// run's integrity report (vmstat covers only the measured phase).
static SWAP_IO_ERRORS: [core::sync::atomic::AtomicU64; 2] =
    [const { core::sync::atomic::AtomicU64::new(0) }; 2];

/// Swap (read, write) errors since the last reset.
pub fn swap_io_errors() -> (u64, u64) {
    let get = |i: usize| SWAP_IO_ERRORS[i].load(core::sync::atomic::Ordering::Relaxed);
    (get(0), get(1))
}

/// Starts counting swap I/O errors from zero (at the start of a run).
pub fn reset_swap_io_errors() {
    for c in &SWAP_IO_ERRORS {
        c.store(0, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Swap I/O errors printed before they are only counted (Linux prints
/// each with `pr_alert_ratelimited`).
const SWAP_ERRORS_PRINTED: u64 = 10;

/// Linux `__end_swap_bio_read` / `__end_swap_bio_write` on an error: the
/// alert line (`maj:min` is the device's serial here) and our counter.
fn swap_io_error(is_write: bool, offset: u32, e: BlkError) {
    let (event, what) = if is_write {
        (VmEvent::SwapWriteErrors, "Write")
    } else {
        (VmEvent::SwapReadErrors, "Read")
    };
    count_vm_event(event);
    let n =
        SWAP_IO_ERRORS[is_write as usize].fetch_add(1, core::sync::atomic::Ordering::Relaxed) + 1;
    if n <= SWAP_ERRORS_PRINTED {
        let more = if n == SWAP_ERRORS_PRINTED {
            " (further ones only counted: integrity swap_read_errors, swap_write_errors)"
        } else {
            ""
        };
        crate::println!(
            "{what}-error on swap-device (faultline-swap:{}): {e:?}{more}",
            offset as u64 * (PAGE_SIZE / 512)
        );
    }
}

/// The disks a request can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disk {
    Swap = 0,
    Files = 1,
    Objects = 2,
}

/// The disks requests can be in flight on (swap, files, objects: a token
/// is a page's frame, and a frame is in at most one request, so one
/// completion routine serves all), and what their completions change. An
/// array, not a vector: this runs on every plug and poll, in the fault
/// path.
fn disks(st: &mut MmState) -> (FileIoDone<'_>, [Option<&mut VirtioBlk>; 3]) {
    let MmState {
        swap,
        page_cache,
        mem_map,
        lru,
        ..
    } = st;
    let PageCache {
        files,
        backing,
        objects,
        wb,
        ..
    } = page_cache;
    let swap_disk = swap.as_mut().and_then(|s| s.virtio_mut());
    let files_disk = match backing {
        Some(FileBacking::Disk(b)) => Some(&mut **b),
        _ => None,
    };
    let objects_disk = objects.as_mut().map(|o| &mut *o.disk);
    let io = FileIoDone {
        mem_map,
        lru,
        wb,
        files,
    };
    (io, [swap_disk, files_disk, objects_disk])
}

/// Requests in flight on all disks.
fn nr_in_flight(st: &mut MmState) -> usize {
    disks(st).1.iter().flatten().map(|d| d.in_flight()).sum()
}

/// Waits for at least one completion and processes all that are ready.
fn wait_some(st: &mut MmState) {
    let (mut io, disks) = disks(st);
    let mut busy = disks.into_iter().flatten().filter(|d| d.in_flight() > 0);
    let done = |t, r| end_io(&mut io, t, r);
    match (busy.next(), busy.next(), busy.next()) {
        (Some(a), Some(b), Some(c)) => VirtioBlk::wait_and_poll_any(&mut [a, b, c], done),
        (Some(a), Some(b), None) => VirtioBlk::wait_and_poll_any(&mut [a, b], done),
        (Some(d), None, None) => d.wait_and_poll(done),
        _ => panic!("waiting for I/O with nothing in flight"),
    };
}

/// Waits for at least one completion if any request is in flight (the
/// idle task, when every task sleeps on I/O). Returns whether it waited.
pub fn wait_for_io(st: &mut MmState) -> bool {
    if nr_in_flight(st) == 0 {
        return false;
    }
    wait_some(st);
    true
}

/// Linux `blk_start_plug` / `blk_finish_plug` around a batch of requests
/// (readahead, reclaim's writes): held back until the outermost unplug.
pub fn plug(st: &mut MmState, on: bool) {
    for bdev in disks(st).1.into_iter().flatten() {
        if on {
            bdev.plug();
        } else {
            bdev.unplug();
        }
    }
}

/// Processes completions that are ready, without waiting.
pub fn poll_completions(st: &mut MmState) {
    let (mut io, disks) = disks(st);
    for bdev in disks.into_iter().flatten() {
        bdev.poll(|t, r| end_io(&mut io, t, r));
    }
}

/// Submits one request to `disk` at byte `pos`, first making room in the
/// queue if it is full.
fn submit_to(st: &mut MmState, disk: Disk, op: BlkOp, pfn: Pfn, pos: u64) {
    let tok = token(pfn, op == BlkOp::Write);
    loop {
        let bdev = match disk {
            Disk::Swap => st.swap.as_mut().expect("I/O without swap").bdev(),
            Disk::Files => st
                .page_cache
                .disk_mut()
                .expect("file I/O without a files disk"),
            Disk::Objects => st
                .page_cache
                .objects_disk_mut()
                .expect("object file I/O without an objects disk"),
        };
        if bdev.submit(op, pos, pfn_to_pa(pfn), tok).is_ok() {
            count_pgpg(op == BlkOp::Write);
            return;
        }
        wait_some(st);
    }
}

/// Submits one request for a swap slot.
fn submit(st: &mut MmState, op: BlkOp, pfn: Pfn, entry: SwapEntry) {
    submit_to(st, Disk::Swap, op, pfn, entry.offset as u64 * PAGE_SIZE);
}

/// Linux `read_folio` of a file system (ext2's `mpage_read_folio`): starts
/// reading the locked page-cache page `pfn` from its file's disk. A hole
/// is zero-filled at once; a memory image is copied at once.
pub fn file_read_folio(st: &mut MmState, pfn: Pfn) {
    let page = *st.mem_map.get(pfn);
    debug_assert!(page.test(flags::LOCKED) && page.test(flags::FILE));
    let mapping = &st.page_cache.files[page.file as usize];
    // SAFETY: the page is locked for this read: nobody else uses it.
    let dst = unsafe { page_bytes(pfn_to_pa(pfn)) };
    let Some(pos) = mapping.block(page.index as u64) else {
        dst.fill(0);
        read_done(st, pfn);
        return;
    };
    st.page_cache.stats.reads += 1;
    if mapping.dev == FileDev::Objects {
        submit_to(st, Disk::Objects, BlkOp::Read, pfn, pos);
        return;
    }
    match st
        .page_cache
        .backing
        .as_ref()
        .expect("file pages without a store")
    {
        // (The last page of a file may run past the end of the image.)
        FileBacking::Memory(image) => {
            let from = (pos as usize).min(image.len());
            let n = (image.len() - from).min(dst.len());
            dst[..n].copy_from_slice(&image[from..from + n]);
            dst[n..].fill(0);
            count_pgpg(false);
            read_done(st, pfn);
        }
        FileBacking::Disk(_) => submit_to(st, Disk::Files, BlkOp::Read, pfn, pos),
    }
}

/// Linux `writepage` of a file system (ext2's `mpage_writepages`, one
/// page): starts writing the page-cache page `pfn`, which writeback has
/// marked `WRITEBACK` and cleaned, to its place on the objects disk.
pub fn file_write_folio(st: &mut MmState, pfn: Pfn) {
    let page = *st.mem_map.get(pfn);
    debug_assert!(page.test(flags::WRITEBACK) && page.test(flags::FILE));
    let mapping = &st.page_cache.files[page.file as usize];
    debug_assert_eq!(
        mapping.dev,
        FileDev::Objects,
        "only object files are written"
    );
    let pos = mapping
        .block(page.index as u64)
        .expect("an object file has no holes");
    submit_to(st, Disk::Objects, BlkOp::Write, pfn, pos);
}

/// Marks a read done: uptodate and unlocked.
fn read_done(st: &mut MmState, pfn: Pfn) {
    let page = st.mem_map.get_mut(pfn);
    page.clear(flags::LOCKED);
    page.set(flags::UPTODATE);
}

/// Linux `swap_read_folio`: fills the locked page `pfn` with `entry`'s
/// data. Zero-map and zswap pages are done at once (zswap's exclusive load
/// leaves the page dirty); zram reads synchronously; the virtio disk gets
/// an asynchronous read. `pswpin` counts device reads only, at submission
/// as Linux does for block devices.
pub fn swap_read_folio(st: &mut MmState, pfn: Pfn, entry: SwapEntry) {
    debug_assert!(st.mem_map.get(pfn).test(flags::LOCKED));
    let swap = st.swap.as_mut().expect("swap-in without swap");
    // SAFETY: the page is locked for this read: nobody else uses it.
    let dst = unsafe { page_bytes(pfn_to_pa(pfn)) };
    if swap.zeromap_test(entry) {
        dst.fill(0);
        read_done(st, pfn);
        count_vm_event(VmEvent::SwpinZero);
        return;
    }
    if swap.zswap.load(entry.offset, dst) {
        read_done(st, pfn);
        st.mem_map.get_mut(pfn).set(flags::DIRTY);
        count_vm_event(VmEvent::Zswpin);
        return;
    }
    if let SwapDevice::Zram(z) = swap.device() {
        z.read(entry.offset, dst);
        count_pgpg(false);
        read_done(st, pfn);
        count_vm_event(VmEvent::PswpIn);
        return;
    }
    submit(st, BlkOp::Read, pfn, entry);
    count_vm_event(VmEvent::PswpIn);
}

/// How [`swap_writeout`] dealt with a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writeout {
    /// Stored without device I/O (zero map, zswap, zram): clean now.
    Done,
    /// A write to the disk is in flight: the page is under writeback.
    Submitted,
    /// Could not be stored (zram out of memory, or zswap refused it and
    /// the cgroup forbids the device): the page stays dirty and active.
    Failed,
}

/// Is the page all zeros? Checks the last word first, like Linux's
/// `is_folio_zero_filled`, since a non-zero page usually ends non-zero.
fn is_zero_filled(page: &[u8]) -> bool {
    page[page.len() - 8..].iter().all(|&b| b == 0) && page.iter().all(|&b| b == 0)
}

/// Linux `swap_writeout`: stores the dirty swap-cache page `pfn` in its
/// slot: a zero page as a bit, else in zswap, else on the device. If
/// zswap did not take it and the cgroup's `memory.zswap.writeback` is 0,
/// the page may not go to the device: it stays dirty in RAM and reclaim
/// activates it (Linux returns `AOP_WRITEPAGE_ACTIVATE`).
pub fn swap_writeout(st: &mut MmState, pfn: Pfn) -> Writeout {
    let entry = SwapEntry::new(st.mem_map.get(pfn).swap_offset);
    // SAFETY: reclaim has the page isolated and unmapped: nobody writes it.
    let src = unsafe { page_bytes(pfn_to_pa(pfn)) };
    let swap = st.swap.as_mut().expect("swap");
    let is_zero = is_zero_filled(src);
    swap.zeromap_set(entry, is_zero);
    let done = if is_zero {
        swap.zswap.invalidate(entry.offset);
        count_vm_event(VmEvent::SwpoutZero);
        true
    } else if super::zswap::zswap_store(st, entry.offset, src).is_ok() {
        count_vm_event(VmEvent::Zswpout);
        true
    } else if !st.memcg.zswap_writeback {
        return Writeout::Failed;
    } else if let SwapDevice::Zram(z) = st.swap.as_mut().expect("swap").device() {
        if z.write(entry.offset, src).is_err() {
            return Writeout::Failed;
        }
        count_pgpg(true);
        count_vm_event(VmEvent::PswpOut);
        true
    } else {
        false
    };
    if st.swap.as_ref().expect("swap").zswap.needs_shrink() {
        super::zswap::shrink_pool(st);
    }
    if done {
        st.mem_map.get_mut(pfn).clear(flags::DIRTY);
        return Writeout::Done;
    }
    swap_writepage(st, pfn);
    Writeout::Submitted
}

/// Writes the frame `pfn` (not in the swap cache: zswap writeback) to
/// `entry`'s slot on the disk and waits. Returns whether it succeeded.
pub fn write_page_sync(st: &mut MmState, pfn: Pfn, entry: SwapEntry) -> bool {
    st.mem_map.reset(pfn);
    let page = st.mem_map.get_mut(pfn);
    page.set(flags::WRITEBACK);
    // Not a swap-cache page: the offset only names the slot in an error.
    page.swap_offset = entry.offset;
    submit(st, BlkOp::Write, pfn, entry);
    count_vm_event(VmEvent::PswpOut);
    wait_on_page_writeback(st, pfn);
    !st.mem_map.get_mut(pfn).test_and_clear(flags::ERROR)
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

/// Linux `folio_wait_locked`, with the mm lock held: waits until the read
/// into `pfn` finished. Only where no other task could run anyway (boot,
/// tests, the fault path outside the scheduler); a task sleeps instead
/// (`crate::sched::sleep_on_page`).
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
    while nr_in_flight(st) > 0 {
        wait_some(st);
    }
}
