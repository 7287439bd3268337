//! A page trace (version 2, format in the `tracefile` crate, whose
//! header and table parser this uses) read from the trace disk: its header
//! and tables on the heap, its records
//! streamed one chunk at a time ([`TraceStream`]), so memory is bounded by
//! the number of distinct pages and the chunk size, never by the length.
//!
//! Every count is checked against the file's length and the free heap
//! before anything is allocated by it; every error names the byte offset
//! in the trace file and what was expected there.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::trace_disk;

pub use tracefile::WRITE_BIT;
use tracefile::{Codec, FormatError, HEADER_LEN, MAGIC};

const HEADER_BYTES: u64 = HEADER_LEN as u64;
/// Largest records-per-chunk accepted: 256 KiB once decompressed, what
/// the host's trace disk always holds (`RECORDS_PER_CHUNK` in tracefile).
const MAX_RECORDS_PER_CHUNK: u32 = 1 << 16;
/// Heap bytes a VMA and its region entry cost, about (for the heap check).
const REGION_COST: u64 = 128;

/// What is wrong with a trace, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    pub offset: u64,
    pub expected: String,
}

fn err(offset: u64, expected: impl Into<String>) -> TraceError {
    TraceError {
        offset,
        expected: expected.into(),
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// The shared parser's error as ours: its message without `expected `.
fn format_error(e: FormatError) -> TraceError {
    let expected = e.message.strip_prefix("expected ").unwrap_or(&e.message);
    err(e.offset, expected)
}

/// One VMA of the replay: `span` pages from layout page `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start: u32,
    pub span: u32,
}

/// A trace's header and tables.
#[derive(Debug)]
pub struct TraceFile {
    /// Disk offset of the file.
    base: u64,
    lz4: bool,
    pub n_records: u64,
    records_per_chunk: u32,
    /// Stored length of each chunk (they follow each other from byte 64).
    chunk_lengths: Vec<u32>,
    pub regions: Vec<Region>,
    /// Layout page of each page id (strictly increasing).
    pub pages: Vec<u32>,
}

impl TraceFile {
    pub fn n_pages(&self) -> u32 {
        self.pages.len() as u32
    }

    /// Heap bytes a [`TraceStream`] of this trace holds (its two buffers).
    pub fn stream_bytes(&self) -> u64 {
        let chunk = 4 * self.records_per_chunk as u64;
        2 * (chunk + chunk / 255 + 16)
    }

    /// Records in chunk `k`.
    fn chunk_records(&self, k: usize) -> usize {
        let before = k as u64 * self.records_per_chunk as u64;
        (self.n_records - before).min(self.records_per_chunk as u64) as usize
    }
}

/// Reads and checks the header and tables of the `len`-byte trace at disk
/// offset `base`, reading through `read(offset, buf)` (the trace disk, or
/// memory in tests).
pub fn open(
    base: u64,
    len: u64,
    read: &mut impl FnMut(u64, &mut [u8]) -> Result<(), String>,
) -> Result<TraceFile, TraceError> {
    let io = |e: String| err(0, format!("a readable trace ({e})"));
    if len < HEADER_BYTES {
        return Err(err(len, "a 64-byte header (the file ends here)"));
    }
    let mut h = [0u8; HEADER_LEN];
    read(base, &mut h).map_err(io)?;
    // What only the kernel refuses: the host converts version 1 and zstd
    // traces to lz4 ones with chunks it can hold.
    if &h[..8] == MAGIC && u32_at(&h, 8) == 1 {
        return Err(err(8, "version 2 (the host converts version 1), found 1"));
    }
    let hd = tracefile::parse_header(&h, len).map_err(format_error)?;
    if hd.codec == Codec::Zstd {
        return Err(err(
            12,
            "a chunk codec of 0 (raw) or 1 (lz4; faultline run converts zstd), found 2",
        ));
    }
    let rpc = hd.records_per_chunk;
    if rpc > MAX_RECORDS_PER_CHUNK {
        return Err(err(
            32,
            format!("1 to {MAX_RECORDS_PER_CHUNK} records per chunk, found {rpc}"),
        ));
    }
    let (n_pages, n_regions) = (hd.n_pages as u64, hd.n_regions as u64);
    let tables_len = len - hd.tables;
    // The tables are bounded by the file's length now; the heap must hold,
    // with room to spare, what opening and replaying this trace allocates:
    // the tables read whole and what is parsed from them (chunk lengths,
    // regions, layout pages), a version per page, each region's VMA, and
    // the task's two chunk buffers.
    let heap_free = crate::mm::heap::size_bytes() - crate::mm::heap::used_bytes();
    let chunk_bytes = 4 * rpc as u64;
    let need = 2 * tables_len
        + 4 * n_pages
        + REGION_COST * n_regions
        + 2 * (chunk_bytes + chunk_bytes / 255 + 16); // = stream_bytes()
    if need > heap_free as u64 / 2 {
        return Err(err(24, format!("tables that fit the kernel heap ({heap_free} bytes free, {need} needed; give the machine more memory with --mem)")));
    }
    let mut t = Vec::new();
    t.try_reserve_exact(tables_len as usize).map_err(|_| {
        err(
            48,
            format!("tables of {tables_len} bytes that fit the kernel heap"),
        )
    })?;
    t.resize(tables_len as usize, 0);
    read(base + hd.tables, &mut t).map_err(io)?;
    let (chunk_lengths, layout) = tracefile::parse_tables(&t, &hd).map_err(format_error)?;
    drop(t);
    let regions = layout
        .regions
        .iter()
        .map(|r| Region {
            start: r.layout_start,
            span: r.span,
        })
        .collect();
    Ok(TraceFile {
        base,
        lz4: hd.codec == Codec::Lz4,
        n_records: hd.n_records,
        records_per_chunk: rpc,
        chunk_lengths,
        regions,
        pages: layout.pages,
    })
}

/// Streams a trace's records, one chunk at a time.
pub struct TraceStream<'a> {
    file: &'a TraceFile,
    next: usize,
    /// File offset of chunk `next`.
    pos: u64,
    stored: Vec<u8>,
    /// The current chunk, decompressed: u32 records, little endian.
    records: Vec<u8>,
}

impl<'a> TraceStream<'a> {
    pub fn new(file: &'a TraceFile) -> Self {
        TraceStream {
            file,
            next: 0,
            pos: HEADER_BYTES,
            stored: Vec::new(),
            records: Vec::new(),
        }
    }

    /// The next chunk's records (u32 little endian each), or `None` at the
    /// end. A page id is not checked here: the replay checks each as it
    /// uses it.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, TraceError> {
        self.next_chunk_from(&mut |off, buf| trace_disk::read_at(off, buf))
    }

    /// [`Self::next_chunk`] reading through `read`.
    pub fn next_chunk_from(
        &mut self,
        read: &mut impl FnMut(u64, &mut [u8]) -> Result<(), String>,
    ) -> Result<Option<&[u8]>, TraceError> {
        let f = self.file;
        let k = self.next;
        let Some(&len) = f.chunk_lengths.get(k) else {
            return Ok(None);
        };
        self.next += 1;
        let (lo, hi) = (self.pos, self.pos + len as u64);
        self.pos = hi;
        let want = 4 * f.chunk_records(k);
        // An lz4 block never holds more than 255x its size, nor less than
        // `want / 255`: a stored length outside that is corrupt.
        let stored_len = (hi - lo) as usize;
        let plausible = if f.lz4 {
            stored_len >= want / 255 && stored_len <= want + want / 255 + 16
        } else {
            stored_len == want
        };
        if !plausible {
            return Err(err(
                lo,
                format!("chunk {k} of {want} bytes of records, stored in {stored_len} bytes"),
            ));
        }
        self.stored.resize(stored_len, 0);
        read(f.base + lo, &mut self.stored)
            .map_err(|e| err(lo, format!("chunk {k} read from the trace disk ({e})")))?;
        if !f.lz4 {
            core::mem::swap(&mut self.stored, &mut self.records);
            return Ok(Some(&self.records));
        }
        self.records.resize(want, 0);
        match lz4_flex::block::decompress_into(&self.stored, &mut self.records) {
            Ok(n) if n == want => Ok(Some(&self.records)),
            _ => Err(err(
                lo,
                format!("chunk {k} as an lz4 block of {want} bytes"),
            )),
        }
    }
}
