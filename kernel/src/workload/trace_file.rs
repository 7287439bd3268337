//! A page trace (version 2, format in the host's `src/trace.rs`) read
//! from the trace disk: its header and tables on the heap, its records
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

const MAGIC: &[u8; 8] = b"FLTRACE1";
const VERSION: u32 = 2;
const HEADER_LEN: u64 = 64;
/// Chunk codecs the kernel reads: 0 raw, 1 lz4 (the host converts zstd).
const FLAG_LZ4: u32 = 1;
pub const WRITE_BIT: u32 = 1 << 31;
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

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
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
    if len < HEADER_LEN {
        return Err(err(len, "a 64-byte header (the file ends here)"));
    }
    let mut h = [0u8; HEADER_LEN as usize];
    read(base, &mut h).map_err(io)?;
    if &h[..8] != MAGIC {
        return Err(err(0, "the magic \"FLTRACE1\""));
    }
    let version = u32_at(&h, 8);
    if version != VERSION {
        return Err(err(
            8,
            format!("version {VERSION} (the host converts version 1), found {version}"),
        ));
    }
    let flags = u32_at(&h, 12);
    let n_records = u64_at(&h, 16);
    let n_pages = u32_at(&h, 24);
    let n_regions = u32_at(&h, 28);
    let rpc = u32_at(&h, 32);
    let n_chunks = u32_at(&h, 36);
    let tables = u64_at(&h, 48);
    if flags > FLAG_LZ4 {
        return Err(err(
            12,
            format!(
                "a chunk codec of 0 (raw) or 1 (lz4; faultline run converts zstd), found {flags}"
            ),
        ));
    }
    if n_records == 0 {
        return Err(err(16, "at least one record"));
    }
    if n_pages == 0 || n_pages as u64 > n_records {
        return Err(err(
            24,
            format!("a page count from 1 to the record count {n_records}, found {n_pages}"),
        ));
    }
    if n_regions == 0 || n_regions > n_pages {
        return Err(err(
            28,
            format!("a region count from 1 to the page count {n_pages}, found {n_regions}"),
        ));
    }
    if rpc == 0 || rpc > MAX_RECORDS_PER_CHUNK {
        return Err(err(
            32,
            format!("1 to {MAX_RECORDS_PER_CHUNK} records per chunk, found {rpc}"),
        ));
    }
    let want_chunks = n_records.div_ceil(rpc as u64);
    if n_chunks as u64 != want_chunks {
        return Err(err(
            36,
            format!("{want_chunks} chunks for {n_records} records, found {n_chunks}"),
        ));
    }
    let tables_len = 4 * n_chunks as u64 + 16 * n_regions as u64 + 4 * n_pages as u64;
    if tables < HEADER_LEN || tables.checked_add(tables_len) != Some(len) {
        return Err(err(48, format!("a tables offset that leaves exactly {tables_len} bytes of tables before the end of the {len}-byte file, found {tables}")));
    }
    // The tables are bounded by the file's length now; the heap must hold,
    // with room to spare, what opening and replaying this trace allocates:
    // the tables read whole and what is kept of them (chunk lengths,
    // layout pages), a version per page, each region's VMA, and the task's
    // two chunk buffers.
    let heap_free = crate::mm::heap::size_bytes() - crate::mm::heap::used_bytes();
    let chunk_bytes = 4 * rpc as u64;
    let need = 2 * tables_len
        + 4 * n_pages as u64
        + REGION_COST * n_regions as u64
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
    read(base + tables, &mut t).map_err(io)?;
    let chunk_lengths: Vec<u32> = (0..n_chunks as usize).map(|k| u32_at(&t, 4 * k)).collect();
    let off = HEADER_LEN + chunk_lengths.iter().map(|&l| l as u64).sum::<u64>();
    if off != tables {
        return Err(err(
            tables,
            format!(
                "chunk lengths that add up to the {} bytes before the tables, found {}",
                tables - HEADER_LEN,
                off - HEADER_LEN
            ),
        ));
    }
    let reg_at = 4 * n_chunks as usize;
    let regions = (0..n_regions as usize)
        .map(|r| Region {
            start: u32_at(&t, reg_at + 16 * r + 8),
            span: u32_at(&t, reg_at + 16 * r + 12),
        })
        .collect::<Vec<_>>();
    let pages_at = reg_at + 16 * n_regions as usize;
    let pages = (0..n_pages as usize)
        .map(|i| u32_at(&t, pages_at + 4 * i))
        .collect::<Vec<_>>();
    check_layout(
        &regions,
        &pages,
        tables + reg_at as u64,
        tables + pages_at as u64,
    )?;
    Ok(TraceFile {
        base,
        lz4: flags & FLAG_LZ4 != 0,
        n_records,
        records_per_chunk: rpc,
        chunk_lengths,
        regions,
        pages,
    })
}

/// Regions sorted, non-empty, not overlapping; layout pages strictly
/// increasing, each inside a region. `Err` names the entry's offset.
fn check_layout(
    regions: &[Region],
    pages: &[u32],
    regions_at: u64,
    pages_at: u64,
) -> Result<(), TraceError> {
    let mut prev_end = 0u64;
    for (k, r) in regions.iter().enumerate() {
        if r.span == 0 || (r.start as u64) < prev_end {
            return Err(err(
                regions_at + 16 * k as u64,
                format!("a non-empty region starting at or after layout page {prev_end}"),
            ));
        }
        prev_end = r.start as u64 + r.span as u64;
    }
    let mut r = 0;
    for (id, &p) in pages.iter().enumerate() {
        let at = pages_at + 4 * id as u64;
        if id > 0 && p <= pages[id - 1] {
            return Err(err(at, "layout pages in increasing order"));
        }
        while r < regions.len() && p as u64 >= regions[r].start as u64 + regions[r].span as u64 {
            r += 1;
        }
        if r == regions.len() || p < regions[r].start {
            return Err(err(at, format!("a layout page inside a region, found {p}")));
        }
    }
    Ok(())
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
            pos: HEADER_LEN,
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
