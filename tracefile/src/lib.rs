//! Page traces: the file format `workload=trace` replays, its reader and
//! writer, and the trace disk. `faultline trace import` writes traces from
//! valgrind lackey logs (`src/trace/import.rs` in the `faultline` crate);
//! `faultline run --trace` puts them on the trace disk (`disk`), which the
//! kernel streams (`kernel/src/workload/trace_file.rs`). A crate of its own
//! so that `boot`, which makes the kernel tests' fixtures, `faultline` and
//! the kernel share it: without its default feature `std` it is `no_std`
//! (alloc only) and holds what the kernel needs, the layout and the
//! header and table parser ([`parse_header`], [`parse_tables`]); with
//! `std`, the reader, the writer and the trace disk too.
//!
//! A trace is the sequence of 4 KiB pages a program's data accesses
//! touched, consecutive repeats of one page collapsed (a write among them
//! makes the record a write). Pages are numbered 0..n_pages in address
//! order (the *page id*).
//!
//! # Version 2: the address-space layout is kept
//!
//! Touched pages are cut into *regions*: maximal groups whose gaps (the
//! untouched pages between two touched ones) are all
//! below a threshold (1 GiB by default, recorded in the header). Each region
//! becomes one VMA of the replaying task, at a 2 MiB-aligned base plus the
//! region's first page's position modulo 512 (so every page keeps its place
//! inside its page-table page, which clamps Linux's VMA readahead window),
//! with a 2 MiB hole before the next region. Inside a region every page keeps
//! its distance to the others; untouched pages are holes, never faulted.
//! The *layout page* of a page is its page number from the replay base.
//!
//! ```text
//! offset 0   8 bytes  magic "FLTRACE1"
//! offset 8   u32      version = 2
//! offset 12  u32      chunk codec: 0 raw, 1 lz4 block, 2 zstd frame
//! offset 16  u64      n_records (at least 1)
//! offset 24  u32      n_pages: distinct pages (1..=n_records)
//! offset 28  u32      n_regions (1..=n_pages)
//! offset 32  u32      records per chunk (1..=2^20; only the last chunk
//!                     holds fewer)
//! offset 36  u32      n_chunks = ceil(n_records / records per chunk)
//! offset 40  u64      gap threshold in bytes (0: the dense layout)
//! offset 48  u64      tables offset T: the chunks fill [64, T)
//! offset 56  u64      0 (reserved)
//! offset 64  chunks   one after the other: each the records of the chunk,
//!                     u32 each (bit 31 = write, bits 0..30 = page id),
//!                     compressed with the codec
//! offset T   u32 x n_chunks   stored length of each chunk
//!            16 B x n_regions  u64 recorded page number (address >> 12)
//!                              of the region's first page, u32 layout
//!                              page of it, u32 span in pages
//!            u32 x n_pages     layout page of each page id, strictly
//!                              increasing, each inside its region
//!            (end of file)
//! ```
//!
//! Regions are sorted, do not overlap, and together hold every page; the
//! tables come last so that import can stream the records out first.
//!
//! Import writes zstd chunks of 2^18 records (level 9: about 0.11 bytes
//! per record on a compiler's trace, against 0.54 for lz4 chunks of 2^16),
//! so traces are small to keep and ship; the trace disk holds lz4 chunks of
//! 2^16 records (fast to decompress in the kernel, 256 KiB per task), and
//! [`disk`] converts on the way.
//!
//! # Version 1 (still read): the dense layout
//!
//! The first importer renumbered pages densely (no holes, one VMA), which
//! erases what VMA readahead depends on. A version 1 file reads as a
//! version 2 trace with one region and layout page = page id.
//!
//! ```text
//! offset 0   "FLTRACE1", u32 version = 1, u32 flags (1 = lz4), u32 payload
//!            length; offset 20: the payload (u32 n_pages, u32 n_accesses,
//!            then the records as above), one lz4 block if flagged
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

#[cfg(feature = "std")]
pub mod disk;
mod header;
#[cfg(feature = "std")]
mod read;
#[cfg(feature = "std")]
mod write;

pub use header::{parse_header, parse_tables, FormatError, Header};
#[cfg(feature = "std")]
pub use read::{decode, read_header, TraceReader};
#[cfg(feature = "std")]
pub use write::{encode, encode_with, TraceWriter};

pub const MAGIC: &[u8; 8] = b"FLTRACE1";
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 64;
pub const WRITE_BIT: u32 = 1 << 31;
/// Records per lz4 chunk (what the kernel reads): 256 KiB decompressed.
pub const RECORDS_PER_CHUNK: usize = 1 << 16;
/// Records per zstd chunk (what import writes): 1 MiB decompressed.
pub const RECORDS_PER_ZSTD_CHUNK: usize = 1 << 18;
/// zstd level of import: level 19 saves another 20 % and takes 30x longer.
pub const ZSTD_LEVEL: i32 = 9;
/// The largest records-per-chunk a reader accepts (4 MiB decompressed).
pub const MAX_RECORDS_PER_CHUNK: u32 = 1 << 20;
/// Default gap that separates two regions.
pub const DEFAULT_GAP_BYTES: u64 = 1 << 30;
/// Pages per 2 MiB page-table page.
const PTRS_PER_PTE: u64 = 512;

/// How chunks are compressed (the header's codec field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Raw,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn code(self) -> u32 {
        match self {
            Codec::Raw => 0,
            Codec::Lz4 => 1,
            Codec::Zstd => 2,
        }
    }

    pub fn from_code(code: u32) -> Option<Codec> {
        [Codec::Raw, Codec::Lz4, Codec::Zstd]
            .into_iter()
            .find(|c| c.code() == code)
    }
}

/// One VMA of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Page number (address >> 12) of the region's first page as recorded.
    pub recorded_page: u64,
    /// Layout page of that first page.
    pub layout_start: u32,
    /// Pages from the first to the last touched page, both included.
    pub span: u32,
}

/// Where each page goes in the replaying address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Gap threshold in bytes; 0 for the dense layout.
    pub gap_bytes: u64,
    pub regions: Vec<Region>,
    /// Layout page of each page id (strictly increasing).
    pub pages: Vec<u32>,
}

impl Layout {
    /// The dense layout of `n` pages (what version 1 replayed): one region,
    /// layout page = page id.
    pub fn dense(n: u32, first_recorded: u64) -> Layout {
        Layout {
            gap_bytes: 0,
            regions: vec![Region {
                recorded_page: first_recorded,
                layout_start: 0,
                span: n,
            }],
            pages: (0..n).collect(),
        }
    }

    /// The kept layout of `pages` (recorded page numbers, sorted, distinct):
    /// regions cut where a gap reaches `gap_bytes` (see the module doc).
    pub fn kept(pages: &[u64], gap_bytes: u64) -> Result<Layout, String> {
        let gap_pages = (gap_bytes / 4096).max(1);
        let mut layout = Layout {
            gap_bytes,
            regions: Vec::new(),
            pages: Vec::with_capacity(pages.len()),
        };
        let mut cursor = 0u64;
        let mut i = 0;
        while i < pages.len() {
            let first = pages[i];
            let mut j = i + 1;
            // The hole between two touched pages, in pages.
            while j < pages.len() && pages[j] - pages[j - 1] - 1 < gap_pages {
                j += 1;
            }
            let span = pages[j - 1] - first + 1;
            let start = cursor.next_multiple_of(PTRS_PER_PTE) + first % PTRS_PER_PTE;
            // A 2 MiB hole after each region keeps the VMAs apart.
            cursor = start + span + PTRS_PER_PTE;
            if cursor > u32::MAX as u64 {
                return Err(format!(
                    "the kept layout needs more than 16 TiB of address space (gap threshold {gap_bytes} bytes): give a smaller --gap"
                ));
            }
            layout.regions.push(Region {
                recorded_page: first,
                layout_start: start as u32,
                span: span as u32,
            });
            layout
                .pages
                .extend(pages[i..j].iter().map(|p| (start + (p - first)) as u32));
            i = j;
        }
        Ok(layout)
    }

    /// Checks the invariants the format promises (see the module doc).
    /// `Err` names the first region or page that breaks them, with its
    /// entry's byte offset from the start of the region table.
    fn check(&self) -> Result<(), (u64, String)> {
        let page_at = |id: usize| 16 * self.regions.len() as u64 + 4 * id as u64;
        let mut r = 0;
        let mut prev_end = 0u64;
        for (k, region) in self.regions.iter().enumerate() {
            let start = region.layout_start as u64;
            if region.span == 0 || start < prev_end {
                return Err((
                    16 * k as u64,
                    format!("region {k}: expected a non-empty span starting at or after layout page {prev_end}"),
                ));
            }
            prev_end = start + region.span as u64;
        }
        for (id, &p) in self.pages.iter().enumerate() {
            if id > 0 && p <= self.pages[id - 1] {
                return Err((
                    page_at(id),
                    format!("page {id}: expected layout pages in increasing order"),
                ));
            }
            while r < self.regions.len() && {
                let reg = self.regions[r];
                p as u64 >= reg.layout_start as u64 + reg.span as u64
            } {
                r += 1;
            }
            if r == self.regions.len() || p < self.regions[r].layout_start {
                return Err((
                    page_at(id),
                    format!("page {id}: layout page {p} is in no region"),
                ));
            }
        }
        Ok(())
    }

    /// Bytes the replay's VMAs span (holes included).
    pub fn span_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.span as u64 * 4096).sum()
    }
}

/// A whole trace in memory (for tests, small traces and version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTrace {
    pub layout: Layout,
    /// Page id with [`WRITE_BIT`] for writes.
    pub records: Vec<u32>,
}

impl PageTrace {
    pub fn n_pages(&self) -> u32 {
        self.layout.pages.len() as u32
    }
}
