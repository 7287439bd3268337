//! The page cache: reads served from memory after the first, Linux's
//! readahead windows, clean file pages reclaimed without I/O and their
//! refaults counted, vm.swappiness moving reclaim between file and anon,
//! the files disk read through virtio-blk, and files written through the
//! cache to the objects disk: dirty pages, the cgroup's dirty limits, and
//! writeback before reclaim frees a page. The files are the ext2
//! fixture's (`boot/src/ext2_image.rs`), from its 4 KiB-block image.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use kernel::drivers::fw_cfg;
use kernel::drivers::virtio::blk::DeviceLatency;
use kernel::fs::ext2::{Ext2, MemDisk};
use kernel::fs::objects::{create_object, have_objects_disk, mount_objects_disk};
use kernel::fs::{install_page_cache, mount_files_disk, open_files};
use kernel::mm::filemap::{drop_caches, filemap_read, File, FileBacking};
use kernel::mm::filemap_write::generic_perform_write;
use kernel::mm::memcontrol::memcg_usage;
use kernel::mm::page::{flags, pfn_to_pa};
use kernel::mm::page_io::drain_io;
use kernel::mm::page_writeback::{dirty_limits, sync};
use kernel::mm::phys_to_virt;
use kernel::mm::state::{with_mm_state, SwapPolicy};
use kernel::mm::vmscan::{shrink_all_memory, try_to_free_mem_cgroup_pages};
use kernel::mm::vmstat::{self, VmEvent};
use kernel::testing::fixtures::{virtio_swap, TestMm};

kernel::test_kernel!(test_main);

/// `big.bin` of the fixture: 300,000 bytes (74 pages), byte `i` below.
const BIG: u16 = 0;
const BIG_LEN: u64 = 300_000;
const BIG_PAGES: u64 = 74;
fn big_byte(i: u64) -> u8 {
    ((i / 1024) as u8).wrapping_mul(31) ^ (i as u8)
}
const PATHS: [&str; 2] = ["/big.bin", "/hello.txt"];

static IMAGE: spin::Once<&'static [u8]> = spin::Once::new();

/// The 4 KiB fixture image, read from fw_cfg once (missing is a failure).
fn image() -> &'static [u8] {
    IMAGE.call_once(|| {
        let name = "opt/faultline/ext2-4k";
        let data = fw_cfg::read_file(name)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no fw_cfg file {name}: boot this kernel with cargo test"));
        alloc::boxed::Box::leak(data.into_boxed_slice())
    })
}

/// An empty page cache over the fixture's files (read from memory), no
/// memory limit, readahead at Linux's default, counters zeroed.
fn fresh_cache() {
    with_mm_state(|st| {
        drop_caches(st);
        st.memcg.max_pages = u64::MAX;
        st.swappiness = 60;
        st.page_cache.stats = Default::default();
    });
    let mut fs = Ext2::mount(MemDisk(image())).expect("fixture mounts");
    let paths: Vec<String> = PATHS.iter().map(|p| String::from(*p)).collect();
    let files = open_files(&mut fs, &paths).expect("fixture files open");
    install_page_cache(files, FileBacking::Memory(image()));
    vmstat::reset();
}

/// Reads `len` bytes of `file` at `pos` and checks them against big.bin.
fn read_big(file: &mut File, pos: u64, len: u64) {
    let got = filemap_read(file, pos, len, |at, bytes| {
        for (k, &b) in bytes.iter().enumerate() {
            let i = at + k as u64;
            assert_eq!(b, big_byte(i), "big.bin byte {i}");
        }
    })
    .expect("read");
    assert_eq!(got, len.min(BIG_LEN.saturating_sub(pos)));
}

fn reads() -> u64 {
    with_mm_state(|st| st.page_cache.stats.reads)
}

fn cached_pages() -> u64 {
    with_mm_state(|st| st.page_cache.files[BIG as usize].nrpages)
}

#[test_case]
fn a_file_read_twice_is_read_from_disk_once() {
    fresh_cache();
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    assert_eq!(reads(), BIG_PAGES, "every page read once");
    assert_eq!(cached_pages(), BIG_PAGES);
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    assert_eq!(reads(), BIG_PAGES, "the second read came from the cache");
    assert_eq!(
        vmstat::read(VmEvent::PgPgIn),
        BIG_PAGES * 4,
        "pgpgin in KiB"
    );
    let charged = with_mm_state(|st| st.memcg.usage_pages);
    assert!(charged >= BIG_PAGES, "file pages are charged: {charged}");
}

#[test_case]
fn sequential_reads_move_the_readahead_window_as_linux_does() {
    fresh_cache();
    let mut f = File::open(BIG);
    // A 1-page read at the start of the file: an initial window of
    // get_init_ra_size(1, 32) = 4 pages, async_size 3, so page 1 carries
    // the readahead mark.
    read_big(&mut f, 0, 4096);
    assert_eq!(reads(), 4);
    assert_eq!((f.ra.start, f.ra.size, f.ra.async_size), (0, 4, 3));
    let marked = with_mm_state(|st| {
        let pfn = st.page_cache.files[BIG as usize]
            .folio(1)
            .expect("page 1 cached");
        st.mem_map.get(pfn).test(flags::READAHEAD)
    });
    assert!(marked, "page 1 = start + size - async_size is marked");
    // Reading the marked page starts the next window: 8 pages at 4, all
    // of them async (page_cache_async_ra), marked at its first page.
    read_big(&mut f, 4096, 4096);
    assert_eq!((f.ra.start, f.ra.size, f.ra.async_size), (4, 8, 8));
    assert_eq!(reads(), 12);
    // Pages 2 and 3 come from the cache; page 4 (the new mark) pushes on
    // to a 16-page window at 12.
    read_big(&mut f, 2 * 4096, 3 * 4096);
    assert_eq!((f.ra.start, f.ra.size, f.ra.async_size), (12, 16, 16));
    assert_eq!(reads(), 28);
}

#[test_case]
fn a_window_that_reaches_the_end_of_the_file_sets_no_mark() {
    fresh_cache();
    let mut f = File::open(BIG);
    // As if the previous read had ended at page 72: a sequential 2-page
    // read of the last two pages. Its window (4 pages, async 2) is cut at
    // EOF, and with nothing after EOF to read ahead, Linux sets no mark
    // ("We've reached the end, so don't set a readahead marker"), so the
    // window state stays as the sync readahead left it.
    f.ra.prev_pos = 72 * 4096;
    read_big(&mut f, 72 * 4096, BIG_LEN - 72 * 4096);
    assert_eq!(reads(), 2);
    assert_eq!((f.ra.start, f.ra.size, f.ra.async_size), (72, 4, 2));
}

#[test_case]
fn a_random_read_reads_only_the_page_it_asks_for() {
    fresh_cache();
    let mut f = File::open(BIG);
    // Page 40, no page before it cached, not after the previous read: a
    // "standalone, small random read", no window.
    read_big(&mut f, 40 * 4096, 100);
    assert_eq!(reads(), 1);
    assert_eq!(f.ra.size, 0, "the readahead state is left alone");
}

#[test_case]
fn a_clean_file_page_is_reclaimed_without_io_and_its_refault_counted() {
    fresh_cache();
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    let freed = with_mm_state(shrink_all_memory);
    assert!(freed >= BIG_PAGES as usize, "reclaim freed {freed}");
    assert_eq!(cached_pages(), 0, "every clean file page reclaimed");
    assert_eq!(vmstat::read(VmEvent::PgStealFile), BIG_PAGES);
    assert_eq!(
        vmstat::read(VmEvent::PgPgOut),
        0,
        "no write: they were clean"
    );
    assert_eq!(vmstat::read(VmEvent::PswpOut), 0);
    assert_eq!(vmstat::read(VmEvent::WorkingsetRefaultFile), 0);
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    assert_eq!(reads(), 2 * BIG_PAGES, "read from the disk again");
    assert_eq!(
        vmstat::read(VmEvent::WorkingsetRefaultFile),
        BIG_PAGES,
        "each page came back where its shadow was"
    );
}

#[test_case]
fn a_page_that_changed_since_its_first_read_is_reported_corrupt() {
    fresh_cache();
    read_big(&mut File::open(BIG), 0, 4096);
    with_mm_state(|st| {
        let pfn = st.page_cache.files[BIG as usize].folio(0).expect("cached");
        // SAFETY: a page-cache frame in the direct map; the test scribbles
        // on it to stand for a disk or cache that returned the wrong data.
        unsafe { *(phys_to_virt(pfn_to_pa(pfn)) as *mut u8).add(100) ^= 0xff };
    });
    let got = filemap_read(&mut File::open(BIG), 0, 4096, |_, _| {}).expect("read");
    assert_eq!(got, 4096);
    let stats = with_mm_state(|st| st.page_cache.stats);
    assert_eq!(
        (stats.checked, stats.corrupt),
        (2, 1),
        "the second read is caught"
    );
}

#[test_case]
fn a_page_read_twice_is_activated() {
    fresh_cache();
    read_big(&mut File::open(BIG), 0, 4096);
    read_big(&mut File::open(BIG), 0, 4096);
    let active = with_mm_state(|st| {
        let pfn = st.page_cache.files[BIG as usize].folio(0).expect("cached");
        st.mem_map.get(pfn).test(flags::ACTIVE)
    });
    assert!(active, "the second access activates (folio_mark_accessed)");
    assert!(vmstat::read(VmEvent::PgActivate) >= 1);
}

/// 1024 written anonymous pages and big.bin read twice (so its pages are
/// on the active file list), then one reclaim of 32 pages at `swappiness`.
/// Returns (anon, file) pages stolen.
fn reclaim_split(swappiness: u64) -> (u64, u64) {
    virtio_swap(SwapPolicy::default());
    fresh_cache();
    let anon = TestMm::new("anon", 0x0000_6000_0000_0000, 1024);
    for p in 0..anon.pages {
        anon.write(p, p);
    }
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    read_big(&mut File::open(BIG), 0, BIG_LEN);
    vmstat::reset();
    with_mm_state(|st| {
        st.swappiness = swappiness;
        try_to_free_mem_cgroup_pages(st, 32);
    });
    let split = (
        vmstat::read(VmEvent::PgStealAnon),
        vmstat::read(VmEvent::PgStealFile),
    );
    for p in 0..anon.pages {
        anon.touch(p);
    }
    split
}

#[test_case]
fn swappiness_0_reclaims_only_file_pages() {
    let (anon, file) = reclaim_split(0);
    assert_eq!(anon, 0, "memcg swappiness 0 never swaps (SCAN_FILE)");
    assert!(file > 0, "file pages were reclaimed");
}

#[test_case]
fn swappiness_200_reclaims_anon_before_active_file_pages() {
    // With no inactive file pages (no cache trim) the split is
    // SCAN_FRACT, and at 200 the file share (200 - swappiness) is 0.
    let (anon, file) = reclaim_split(200);
    assert!(anon > 0, "anon pages were reclaimed");
    assert_eq!(file, 0, "no file page was reclaimed at swappiness 200");
}

#[test_case]
fn the_files_disk_is_read_through_virtio_blk() {
    with_mm_state(drop_caches);
    let summary = mount_files_disk(DeviceLatency::default())
        .expect("files disk mounts")
        .expect("the host attaches a files disk");
    assert!(summary.files >= PATHS.len() as u64);
    let big = with_mm_state(|st| {
        st.page_cache.stats = Default::default();
        st.page_cache
            .files
            .iter()
            .position(|f| f.name == "/big.bin")
            .expect("big.bin opened") as u16
    });
    vmstat::reset();
    read_big(&mut File::open(big), 0, BIG_LEN);
    assert_eq!(reads(), BIG_PAGES, "each page read from the disk once");
    read_big(&mut File::open(big), 0, BIG_LEN);
    assert_eq!(reads(), BIG_PAGES);
    assert_eq!(vmstat::read(VmEvent::PgPgIn), BIG_PAGES * 4);
    with_mm_state(drop_caches);
}

/// The objects disk, mounted by the first test that writes.
fn objects_disk() {
    if !have_objects_disk() {
        mount_objects_disk(DeviceLatency::default())
            .expect("objects disk")
            .expect("the host attaches an objects disk");
    }
}

/// Byte `i` of the object files the tests write.
fn obj_byte(i: u64) -> u8 {
    ((i / 4096) as u8).wrapping_mul(13) ^ (i as u8).wrapping_mul(7)
}

/// Creates `name` of `pages` pages and writes it whole in one write.
fn write_object(name: &str, pages: u64) -> u16 {
    let id = create_object(String::from(name), pages * 4096).expect("object created");
    let data: Vec<u8> = (0..pages * 4096).map(obj_byte).collect();
    let n = generic_perform_write(&mut File::open(id), 0, &data).expect("write");
    assert_eq!(n, pages * 4096);
    id
}

/// Reads object `id` back whole and checks every byte.
fn check_object(id: u16, pages: u64) {
    let got = filemap_read(&mut File::open(id), 0, u64::MAX, |at, bytes| {
        for (k, &b) in bytes.iter().enumerate() {
            assert_eq!(b, obj_byte(at + k as u64), "object byte {}", at + k as u64);
        }
    })
    .expect("read back");
    assert_eq!(got, pages * 4096);
    let corrupt = with_mm_state(|st| st.page_cache.stats.corrupt);
    assert_eq!(corrupt, 0);
}

fn dirty_and_writeback() -> (u64, u64) {
    with_mm_state(|st| (st.page_cache.wb.nr_dirty, st.page_cache.wb.nr_writeback))
}

#[test_case]
fn a_written_file_stays_dirty_in_the_cache_until_sync_writes_it() {
    fresh_cache();
    objects_disk();
    let id = write_object("/obj/a.o", 16);
    assert_eq!(
        dirty_and_writeback(),
        (16, 0),
        "no limit: nothing written yet"
    );
    assert_eq!(vmstat::read(VmEvent::NrDirtied), 16);
    assert_eq!(vmstat::read(VmEvent::PgPgOut), 0);
    check_object(id, 16);
    assert_eq!(reads(), 0, "read back from the cache, not the disk");
    assert_eq!(with_mm_state(sync), 0, "sync leaves nothing dirty");
    assert_eq!(dirty_and_writeback(), (0, 0));
    assert_eq!(vmstat::read(VmEvent::NrWritten), 16);
    assert_eq!(vmstat::read(VmEvent::PgPgOut), 16 * 4, "pgpgout in KiB");
}

#[test_case]
fn dirty_pages_are_written_back_before_reclaim() {
    fresh_cache();
    objects_disk();
    let id = write_object("/obj/b.o", 32);
    vmstat::reset();
    // Reclaim meets only dirty pages: it frees none of them, marks them
    // PG_reclaim, activates them and wakes the flushers, which write all.
    let freed = with_mm_state(|st| try_to_free_mem_cgroup_pages(st, 32));
    let written = vmstat::read(VmEvent::NrWritten);
    assert!(vmstat::read(VmEvent::NrVmscanImmediate) >= 1);
    assert_eq!(
        dirty_and_writeback().0,
        0,
        "the flushers took every dirty page"
    );
    assert!(
        freed as u64 <= written,
        "freed {freed} pages but only {written} writes had completed"
    );
    // Their writes complete: marked pages go to the inactive tail...
    with_mm_state(drain_io);
    assert_eq!(vmstat::read(VmEvent::NrWritten), 32);
    assert_eq!(vmstat::read(VmEvent::PgPgOut), 32 * 4);
    assert!(vmstat::read(VmEvent::PgRotated) >= 1, "rotated for reclaim");
    // ...and the next reclaim frees them without any I/O of its own.
    with_mm_state(|st| try_to_free_mem_cgroup_pages(st, 32));
    assert_eq!(vmstat::read(VmEvent::PgStealFile), 32);
    assert_eq!(
        with_mm_state(|st| st.page_cache.files[id as usize].nrpages),
        0
    );
    // What the disk holds is what was written.
    check_object(id, 32);
    assert_eq!(reads(), 32, "read back from the objects disk");
    assert_eq!(vmstat::read(VmEvent::WorkingsetRefaultFile), 32);
}

#[test_case]
fn writing_past_the_cgroups_dirty_limits_starts_background_writeback() {
    fresh_cache();
    objects_disk();
    with_mm_state(|st| st.memcg.max_pages = memcg_usage(st) + 200);
    let id = write_object("/obj/c.o", 64);
    let (dirty, writeback) = dirty_and_writeback();
    let (bg, thresh) = with_mm_state(|st| dirty_limits(st));
    assert!(
        vmstat::read(VmEvent::NrWritten) + writeback > 0,
        "writeback started"
    );
    assert!(
        dirty <= (bg + thresh) / 2,
        "{dirty} pages still dirty, above the freerun ceiling of {bg} and {thresh}"
    );
    with_mm_state(|st| {
        assert!(memcg_usage(st) <= st.memcg.max_pages, "the limit held");
        sync(st);
        st.memcg.max_pages = u64::MAX;
    });
    check_object(id, 64);
}

#[test_case]
fn a_write_to_a_file_of_the_read_only_files_disk_is_refused() {
    fresh_cache();
    let e = generic_perform_write(&mut File::open(BIG), 0, &[1, 2, 3]).unwrap_err();
    assert_eq!(
        alloc::format!("{e}"),
        "/big.bin is on the read-only files disk: only object files are written"
    );
    assert_eq!(dirty_and_writeback(), (0, 0));
    read_big(&mut File::open(BIG), 0, 4096);
}

#[test_case]
fn files_dirty_for_longer_than_30_s_are_written_by_the_periodic_flush() {
    fresh_cache();
    objects_disk();
    let old = write_object("/obj/old.o", 16);
    assert_eq!(
        dirty_and_writeback(),
        (16, 0),
        "no limit: nothing written yet"
    );
    // 31 s of modelled time later (dirty_expire_centisecs is 3000)...
    kernel::sched::clock::charge(31_000_000_000);
    // ...the next dirtied page runs the periodic flush (it is more than
    // dirty_writeback_centisecs since the last): the old file is written,
    // the new one, dirtied just now, is not.
    let young = write_object("/obj/young.o", 1);
    with_mm_state(drain_io);
    assert_eq!(
        vmstat::read(VmEvent::NrWritten),
        16,
        "the expired file only"
    );
    assert_eq!(dirty_and_writeback(), (1, 0), "the young file stays dirty");
    with_mm_state(|st| {
        let clean = |id: u16| {
            let f = &st.page_cache.files[id as usize];
            (0..f.nr_pages()).all(|i| {
                let pfn = f.folio(i).expect("cached");
                !st.mem_map.get(pfn).test(flags::DIRTY)
            })
        };
        assert!(clean(old) && !clean(young));
    });
}
