//! The runtime of faultline's user programs: the entry point, system-call
//! wrappers, `print!`, and page patterns to write and verify.
//!
//! A program is one file in `src/bin/`:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use user::*;
//!
//! entry!(main);
//! fn main() -> i32 {
//!     println!("hello from pid {}", getpid());
//!     0
//! }
//! ```
//!
//! `entry!(main)` makes `main` the program; its return value is the exit
//! status. A panic prints its message and exits with status 101. At exit
//! the pages the program checked with [`check_page`] are reported to the
//! kernel, which adds them to the run's integrity figures.

#![no_std]

pub mod sys;

pub use sys::*;

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(
    ".global _start",
    "_start:",
    "    xor ebp, ebp",
    "    and rsp, -16",
    "    call faultline_user_main",
    "    ud2",
);

/// Makes `$main` (a `fn() -> i32`) the program's entry point.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn faultline_user_main() -> ! {
            let f: fn() -> i32 = $main;
            $crate::exit(f())
        }
    };
}

/// `print!` to standard output (the serial console).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::_print(format_args!($($arg)*)));
}

/// `println!` to standard output.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::print!("{}\n", format_args!($($arg)*)));
}

/// Buffers formatted text and writes it with as few `write` calls as fit.
struct Stdout {
    buf: [u8; 128],
    len: usize,
}

impl Stdout {
    fn flush(&mut self) {
        if self.len > 0 {
            write(1, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let mut out = Stdout {
        buf: [0; 128],
        len: 0,
    };
    let _ = out.write_fmt(args);
    out.flush();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("pid {}: panic: {}", getpid(), info.message());
    exit(101)
}

/// Checks a condition; if it is false, prints where and why and counts a
/// failure (see [`failures`]). The program goes on.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::println!(
                "pid {}: FAIL at {}:{}: {}",
                $crate::getpid(),
                file!(),
                line!(),
                format_args!($($arg)*)
            );
            $crate::note_failure();
        }
    };
}

static FAILURES: AtomicU64 = AtomicU64::new(0);

#[doc(hidden)]
pub fn note_failure() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// Failures so far in this process, as an exit status (0: none).
pub fn failures() -> i32 {
    FAILURES.load(Ordering::Relaxed).min(100) as i32
}

/// Waits for every child; one that did not exit with 0 is a failure.
/// Returns how many children there were.
pub fn wait_all() -> usize {
    let mut n = 0;
    while let Ok((pid, status)) = wait() {
        n += 1;
        ensure!(
            exit_code(status) == Some(0),
            "child {pid} ended with status {status:#x}"
        );
    }
    n
}

/// Pages checked and found wrong by this process (each process has its
/// own copy: fork copies them with the rest of memory).
static CHECKED: AtomicU64 = AtomicU64::new(0);
static CORRUPT: AtomicU64 = AtomicU64::new(0);

/// Ends the process with `code`, reporting the pages it checked first.
pub fn exit(code: i32) -> ! {
    let checked = CHECKED.swap(0, Ordering::Relaxed);
    let corrupt = CORRUPT.swap(0, Ordering::Relaxed);
    sys::faultline_report(checked, corrupt);
    sys::exit_raw(code)
}

/// Words in a 4 KiB page.
pub const PAGE_WORDS: usize = 512;
pub const PAGE_SIZE: usize = 4096;

/// SplitMix64, as the kernel's workloads use.
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Word `i` of the pattern of `tag`: a quarter of each 32-word block is
/// random, the rest a repeated phrase, so a page compresses to about a
/// quarter (as the kernel's `workload.random_pct=25`).
fn pattern_word(base: u64, i: usize) -> u64 {
    if i % 32 < 8 {
        base ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    } else {
        base.rotate_left(16 * (i as u32 % 4))
    }
}

/// Fills the page at `page` with the pattern of `tag`.
///
/// # Safety
/// `page` must be a page-aligned, writable page of this process.
pub unsafe fn fill_page(page: *mut u64, tag: u64) {
    let base = mix64(tag);
    for i in 0..PAGE_WORDS {
        // SAFETY: guaranteed by the caller; volatile so every word goes
        // through the MMU.
        unsafe { page.add(i).write_volatile(pattern_word(base, i)) };
    }
}

/// Checks that the page at `page` holds the pattern of `tag`, counting it
/// (and, if wrong, counting it corrupt and saying so).
///
/// # Safety
/// `page` must be a page-aligned, readable page of this process.
pub unsafe fn check_page(page: *const u64, tag: u64) -> bool {
    let base = mix64(tag);
    // SAFETY: guaranteed by the caller.
    let ok =
        (0..PAGE_WORDS).all(|i| unsafe { page.add(i).read_volatile() } == pattern_word(base, i));
    CHECKED.fetch_add(1, Ordering::Relaxed);
    if !ok {
        CORRUPT.fetch_add(1, Ordering::Relaxed);
        println!("pid {}: page {:p} does not hold tag {tag}", getpid(), page);
    }
    ok
}

/// A region of `pages` pages from `mmap`, with helpers to fill and check
/// page `i` with a tag.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub base: *mut u64,
    pub pages: usize,
}

impl Region {
    /// Maps `pages` fresh pages (panics if `mmap` fails).
    pub fn map(pages: usize) -> Region {
        let base = mmap_anon(pages * PAGE_SIZE).expect("mmap") as *mut u64;
        Region { base, pages }
    }

    pub fn page(&self, i: usize) -> *mut u64 {
        assert!(i < self.pages, "page {i} outside the region");
        // The region is `pages` pages long.
        self.base.wrapping_add(i * PAGE_WORDS)
    }

    pub fn addr(&self, i: usize) -> u64 {
        self.page(i) as u64
    }

    pub fn len(&self) -> usize {
        self.pages * PAGE_SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// Writes the pattern of `tag(i)` into every page `i`.
    pub fn fill(&self, tag: impl Fn(usize) -> u64) {
        for i in 0..self.pages {
            // SAFETY: page `i` of a mapping this process made.
            unsafe { fill_page(self.page(i), tag(i)) };
        }
    }

    /// Checks every page `i` against `tag(i)`; returns the wrong ones.
    pub fn check(&self, tag: impl Fn(usize) -> u64) -> usize {
        (0..self.pages)
            // SAFETY: as in `fill`.
            .filter(|&i| !unsafe { check_page(self.page(i), tag(i)) })
            .count()
    }

    /// `MADV_PAGEOUT` on the whole region.
    pub fn pageout(&self) {
        assert_eq!(madvise(self.base as u64, self.len(), MADV_PAGEOUT), 0);
    }
}
