//! Workloads: what runs inside the address spaces, chosen by the
//! `workload` knob. Each one checks the content of every page it reads
//! back, so a lost or stale page shows up as a corrupt page.

pub mod compile;
pub mod integrity;
pub mod measured;
pub mod setup;
pub mod smoke;
pub mod thrash;
pub mod trace;
pub mod trace_disk;
pub mod trace_file;
pub mod user;

use crate::report::ErrorKind;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::knobs::Config;
use crate::mm::{page_alloc, PAGE_SIZE};

/// Virtual address where workload memory starts (lower half).
pub const WORKLOAD_BASE: u64 = 0x0000_1000_0000_0000;

/// What a workload run measured.
#[derive(Clone)]
pub struct WorkloadResult {
    /// TSC cycles spent in the measured part of the workload.
    pub elapsed_cycles: u64,
    /// Pages whose content was verified.
    pub checked_pages: u64,
    /// Pages whose content did not match what was written.
    pub corrupt_pages: u64,
    /// Frames the allocator manages.
    pub totalram_pages: u64,
    /// Frames not returned after the workload's address spaces were freed.
    pub leaked_pages: u64,
    /// Everything else that must be back at its baseline (see [`integrity`]).
    pub leaks: integrity::Leaks,
    /// Tasks killed by a swap read error (Linux: SIGBUS), oldest first
    /// (the first `MAX_KILLED`), and how many in all.
    pub killed_tasks: [Option<crate::sched::signal::KilledTask>; crate::sched::signal::MAX_KILLED],
    pub nr_killed: usize,
    /// Swap (read, write) errors over the whole run.
    pub swap_io_errors: (u64, u64),
    /// Cost units measured in the same run (see [`setup::Calibration`]).
    pub calibration: setup::Calibration,
    /// Counters and latencies of the measured phase (see [`measured`]).
    pub measured: Option<measured::Measured>,
    /// What the files disk holds, if the host attached one.
    pub files: Option<crate::fs::FilesSummary>,
    /// What `workload=trace` replayed.
    pub trace: Option<trace::TraceSummary>,
    /// What the ring-3 programs of `workload=user`/`usertests` did.
    pub user: Option<user::UserSummary>,
}

impl Default for WorkloadResult {
    fn default() -> Self {
        WorkloadResult {
            elapsed_cycles: 0,
            checked_pages: 0,
            corrupt_pages: 0,
            totalram_pages: 0,
            leaked_pages: 0,
            leaks: integrity::Leaks::default(),
            killed_tasks: [None; crate::sched::signal::MAX_KILLED],
            nr_killed: 0,
            swap_io_errors: (0, 0),
            calibration: setup::Calibration::default(),
            measured: None,
            files: None,
            trace: None,
            user: None,
        }
    }
}

impl WorkloadResult {
    pub fn is_success(&self) -> bool {
        self.status() == "ok"
    }

    /// `corrupt` before `leak` before `killed` before `failed` (a user
    /// program did not exit with 0): the worst thing first.
    pub fn status(&self) -> &'static str {
        if self.corrupt_pages != 0 {
            "corrupt"
        } else if self.leaked_pages != 0 || !self.leaks.is_clean() {
            "leak"
        } else if self.nr_killed != 0 {
            "killed"
        } else if self.user.is_some_and(|u| u.nr_failed != 0) {
            "failed"
        } else {
            "ok"
        }
    }
}

/// Why a workload could not run, or stopped: the message and what kind of
/// failure it is (the host's exit status and the lab's run status follow
/// the kind, never the message's words).
#[derive(Debug, Clone)]
pub struct WorkloadError(pub alloc::string::String, pub ErrorKind);

impl WorkloadError {
    /// An input the workload refuses before it runs (a size that does not
    /// fit, a damaged trace): the user's to fix.
    pub fn input(msg: impl Into<alloc::string::String>) -> Self {
        WorkloadError(msg.into(), ErrorKind::Input)
    }

    /// A disk read or write that failed while the workload ran.
    pub fn io(msg: impl Into<alloc::string::String>) -> Self {
        WorkloadError(msg.into(), ErrorKind::Io)
    }

    /// A page-cache read or write that failed: a memcg OOM is an OOM,
    /// anything else an I/O failure. `what` names who failed.
    pub fn file(what: core::fmt::Arguments, e: crate::mm::filemap::ReadError) -> Self {
        let kind = match e {
            crate::mm::filemap::ReadError::OutOfMemory => ErrorKind::Oom,
            _ => ErrorKind::Io,
        };
        WorkloadError(alloc::format!("{what}: {e}"), kind)
    }
}

impl From<&'static str> for WorkloadError {
    fn from(msg: &'static str) -> Self {
        WorkloadError::input(msg)
    }
}

/// Pages read back and checked, and how many of them were wrong.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub checked: u64,
    pub corrupt: u64,
}

impl core::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.checked += other.checked;
        self.corrupt += other.corrupt;
    }
}

/// Runs the workload's tasks on the scheduler; returns their results and
/// the cycles the measured phase took.
pub fn run_timed<T: Send + 'static>(
    bodies: alloc::vec::Vec<(alloc::string::String, crate::sched::TaskBody<T>)>,
) -> (alloc::vec::Vec<T>, u64) {
    let start = crate::sched::clock::sched_clock();
    let results = crate::sched::run_tasks(bodies);
    (results, crate::sched::clock::sched_clock() - start)
}

/// Runs the configured workload.
pub fn run(config: &Config) -> Result<WorkloadResult, WorkloadError> {
    let calibration = setup::setup_mm(config)?;
    // After swap-on, so the probe skips the swap disk (held, its serial
    // known) instead of bringing it up only to reset it; before the leak
    // baseline, like swap-on, which allocates the device's rings for good.
    let files =
        crate::fs::mount_files_disk(calibration.device_latency()).map_err(WorkloadError::input)?;
    crate::sched::signal::take_killed();
    let files_mark = crate::mm::state::with_mm_state(|st| crate::mm::filemap::files_mark(st));
    let baseline = integrity::snapshot();
    crate::mm::page_io::reset_swap_io_errors();
    let mut result = match config.word("workload") {
        "smoke" => smoke::run(config)?,
        "thrash" => thrash::run(config)?,
        "compile" => compile::run(config)?,
        "trace" => trace::run(config)?,
        "user" | "usertests" => user::run(config)?,
        other => unreachable!("knob registry admitted unknown workload {other}"),
    };
    result.totalram_pages = page_alloc::totalram_pages() as u64;
    result.calibration = calibration;
    result.files = files;
    if result.measured.is_none() {
        result.measured = Some(measured::capture());
    }
    // File pages the workload read were verified by the page cache.
    let (checked, corrupt) = crate::mm::state::with_mm_state(|st| {
        let s = st.page_cache.stats;
        (s.checked, s.corrupt)
    });
    result.checked_pages += checked;
    result.corrupt_pages += corrupt;
    // The run is over: drop the page cache (its pages are the cgroup's,
    // freed with it), so what is still allocated now is a leak.
    crate::mm::state::with_mm_state(|st| {
        crate::mm::filemap::drop_caches(st);
        crate::mm::filemap::remove_files_since(st, files_mark);
        st.trim();
    });
    (result.killed_tasks, result.nr_killed) = crate::sched::signal::take_killed();
    result.swap_io_errors = crate::mm::page_io::swap_io_errors();
    let after = integrity::snapshot();
    result.leaks = integrity::Leaks::between(&baseline, &after);
    result.leaked_pages = result.leaks.frames();
    Ok(result)
}

/// Average TSC cycles of one 4 KiB page copy (median of 9 rounds of 64).
pub fn measure_page_copy_cycles() -> u64 {
    let (Ok(a), Ok(b)) = (page_alloc::alloc_page(), page_alloc::alloc_page()) else {
        return 0;
    };
    let (src, dst) = (
        crate::mm::phys_to_virt(a) as *const u8,
        crate::mm::phys_to_virt(b) as *mut u8,
    );
    let mut rounds = [0u64; 9];
    for r in rounds.iter_mut() {
        let start = crate::arch::cpu::rdtsc();
        for _ in 0..64 {
            // SAFETY: two distinct frames we own, mapped in the direct map.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE_SIZE as usize) };
            core::hint::black_box(dst);
        }
        *r = (crate::arch::cpu::rdtsc() - start) / 64;
    }
    page_alloc::free_page(a);
    page_alloc::free_page(b);
    rounds.sort_unstable();
    rounds[4]
}

/// SplitMix64: a tiny, good 64-bit mixer for deterministic patterns.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Words per 4 KiB page.
const WORDS_PER_PAGE: usize = 512;

/// `workload.random_pct`: percent of a page's words that are
/// pseudo-random (100 = incompressible).
static RANDOM_PCT: AtomicU64 = AtomicU64::new(100);

/// Sets how compressible page contents are (see `workload.random_pct`).
pub fn set_random_pct(pct: u64) {
    RANDOM_PCT.store(pct.clamp(1, 100), Ordering::Relaxed);
}

/// Word `i` of the page pattern of `base`: either pseudo-random (a
/// multiplicative hash, which lz4 cannot shorten) or part of a 4-word
/// phrase that repeats through the page (which lz4 shortens to almost
/// nothing). Each 32-word block starts with its random words, so lz4 sees
/// one literal run and one long match per block and a page compresses to
/// about `random_pct` percent of its size, like text or code would.
#[inline]
fn pattern_word(base: u64, i: usize, random_pct: u64) -> u64 {
    if (i as u64 % 32) * 100 < random_pct * 32 {
        base ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    } else {
        base.rotate_left(16 * (i as u32 % 4))
    }
}

/// Fills the page at `va` with the pattern of `tag` (any value that
/// identifies what should be there: seed, task, page, write count).
///
/// # Safety
/// `va` must be a page-aligned address inside a writable VMA of the
/// current address space (a missing page is demand-faulted in).
pub unsafe fn fill_page(va: u64, tag: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { fill_page_pct(va, tag, RANDOM_PCT.load(Ordering::Relaxed)) }
}

/// [`fill_page`] with an explicit randomness (`random_pct`, 1..=100)
/// instead of `workload.random_pct`: 100 makes an incompressible page.
/// Also fills calibration and test pages through the direct map.
///
/// # Safety
/// As for [`fill_page`], or `va` is a writable, page-aligned kernel
/// mapping (e.g. the direct map) of a frame the caller owns.
pub unsafe fn fill_page_pct(va: u64, tag: u64, pct: u64) {
    let base = mix64(tag);
    let p = va as *mut u64;
    for i in 0..WORDS_PER_PAGE {
        // SAFETY: guaranteed by the caller; volatile so that every word
        // really goes through the MMU (and faults if it has to).
        unsafe { p.add(i).write_volatile(pattern_word(base, i, pct)) };
    }
}

/// Clears the page at `va` word by word, as a program clearing a table
/// does (the page is written, so it is private, charged and on the LRU,
/// and reclaim finds it zero-filled: Linux's swap zero map).
///
/// # Safety
/// As for [`fill_page_pct`].
pub unsafe fn fill_zero_page(va: u64) {
    let p = va as *mut u64;
    for i in 0..WORDS_PER_PAGE {
        // SAFETY: guaranteed by the caller; volatile as in `fill_page_pct`.
        unsafe { p.add(i).write_volatile(0) };
    }
}

/// Checks that every word of the page at `va` is zero.
///
/// # Safety
/// As for [`verify_page`].
pub unsafe fn verify_zero_page(va: u64) -> bool {
    let p = va as *const u64;
    // SAFETY: guaranteed by the caller.
    (0..WORDS_PER_PAGE).all(|i| unsafe { p.add(i).read_volatile() } == 0)
}

/// Checks a page read back by a workload that tracks write counts: a page
/// written `count` times holds the pattern of `tag_of(count)`; a page
/// never written (`count == 0`) must read as zeros (its first word is
/// checked).
///
/// # Safety
/// As for [`verify_page`].
pub unsafe fn verify_counted(va: u64, count: u32, tag_of: impl FnOnce(u32) -> u64) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { verify_counted_pct(va, count, tag_of, RANDOM_PCT.load(Ordering::Relaxed)) }
}

/// [`verify_counted`] for pages filled by [`fill_page_pct`] with `pct`.
///
/// # Safety
/// As for [`verify_page`].
pub unsafe fn verify_counted_pct(
    va: u64,
    count: u32,
    tag_of: impl FnOnce(u32) -> u64,
    pct: u64,
) -> bool {
    if count == 0 {
        // SAFETY: guaranteed by the caller.
        return unsafe { (va as *const u64).read_volatile() } == 0;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { verify_page_pct(va, tag_of(count), pct) }
}

/// Checks that the page at `va` holds the pattern of `tag`.
///
/// # Safety
/// As for [`fill_page`], with a readable VMA.
pub unsafe fn verify_page(va: u64, tag: u64) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { verify_page_pct(va, tag, RANDOM_PCT.load(Ordering::Relaxed)) }
}

/// Checks words `from..512` of the page at `va` against the pattern of
/// `tag` (the rest holds something else, e.g. a header).
///
/// # Safety
/// As for [`verify_page`].
pub unsafe fn verify_page_words(va: u64, tag: u64, from: usize) -> bool {
    let base = mix64(tag);
    let pct = RANDOM_PCT.load(Ordering::Relaxed);
    let p = va as *const u64;
    (from..WORDS_PER_PAGE).all(|i| {
        // SAFETY: guaranteed by the caller.
        let word = unsafe { p.add(i).read_volatile() };
        word == pattern_word(base, i, pct)
    })
}

/// [`verify_page`] for a page filled by [`fill_page_pct`] with `pct`.
///
/// # Safety
/// As for [`verify_page`].
pub unsafe fn verify_page_pct(va: u64, tag: u64, pct: u64) -> bool {
    let base = mix64(tag);
    let p = va as *const u64;
    (0..WORDS_PER_PAGE).all(|i| {
        // SAFETY: guaranteed by the caller.
        let word = unsafe { p.add(i).read_volatile() };
        word == pattern_word(base, i, pct)
    })
}
