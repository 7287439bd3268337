//! The header and tables of a version 2 trace (format: the crate's
//! documentation), parsed from bytes: no I/O and no `std`, so that the
//! kernel (`kernel/src/workload/trace_file.rs`, which streams the records
//! from its trace disk) and the host check a trace with the same code.
//! Every count is checked against the file's length before anything is
//! allocated by it; every error names the byte offset.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::{Codec, Layout, Region, HEADER_LEN, MAGIC, MAX_RECORDS_PER_CHUNK, VERSION};

/// The fixed header of a version 2 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1 or 2 (a version 1 file is described as its version 2 equivalent).
    pub version: u32,
    pub codec: Codec,
    pub n_records: u64,
    pub n_pages: u32,
    pub n_regions: u32,
    pub records_per_chunk: u32,
    pub n_chunks: u32,
    pub gap_bytes: u64,
    pub tables: u64,
}

/// What is wrong with a trace: the byte offset and what was expected
/// there (shown as `offset N: <message>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub offset: u64,
    /// Usually `expected ...`; for a layout entry, which entry and why.
    pub message: String,
}

fn bad(offset: u64, message: String) -> FormatError {
    FormatError { offset, message }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "offset {}: {}", self.offset, self.message)
    }
}

impl From<FormatError> for String {
    fn from(e: FormatError) -> String {
        e.to_string()
    }
}

pub(crate) fn u32_at(b: &[u8], off: usize, what: &str) -> Result<u32, FormatError> {
    b.get(off..off + 4)
        .map(|x| u32::from_le_bytes(x.try_into().expect("4 bytes")))
        .ok_or_else(|| {
            bad(
                off as u64,
                format!("expected {what}, found the end of the file"),
            )
        })
}

fn u64_at(b: &[u8], off: usize, what: &str) -> Result<u64, FormatError> {
    b.get(off..off + 8)
        .map(|x| u64::from_le_bytes(x.try_into().expect("8 bytes")))
        .ok_or_else(|| {
            bad(
                off as u64,
                format!("expected {what}, found the end of the file"),
            )
        })
}

/// Reads and checks the header of a version 2 file of `file_len` bytes
/// (`bytes` holds at least its first 64). Every count is checked against
/// the file's length before anyone allocates by it.
pub fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header, FormatError> {
    if bytes.get(..8) != Some(MAGIC) {
        return Err(bad(0, "expected the magic \"FLTRACE1\"".into()));
    }
    let version = u32_at(bytes, 8, "the version")?;
    if version != VERSION {
        return Err(bad(
            8,
            format!("expected version 1 or {VERSION}, found {version}"),
        ));
    }
    let code = u32_at(bytes, 12, "the codec")?;
    let codec = Codec::from_code(code).ok_or_else(|| {
        bad(
            12,
            format!("expected a codec of 0 (raw), 1 (lz4) or 2 (zstd), found {code}"),
        )
    })?;
    let h = Header {
        version: VERSION,
        codec,
        n_records: u64_at(bytes, 16, "the record count")?,
        n_pages: u32_at(bytes, 24, "the page count")?,
        n_regions: u32_at(bytes, 28, "the region count")?,
        records_per_chunk: u32_at(bytes, 32, "the records per chunk")?,
        n_chunks: u32_at(bytes, 36, "the chunk count")?,
        gap_bytes: u64_at(bytes, 40, "the gap threshold")?,
        tables: u64_at(bytes, 48, "the tables offset")?,
    };
    if h.n_records == 0 {
        return Err(bad(16, "expected at least one record".into()));
    }
    if h.n_pages == 0 || h.n_pages as u64 > h.n_records {
        return Err(bad(
            24,
            format!(
                "expected a page count from 1 to the record count {}, found {}",
                h.n_records, h.n_pages
            ),
        ));
    }
    if h.n_regions == 0 || h.n_regions > h.n_pages {
        return Err(bad(
            28,
            format!(
                "expected a region count from 1 to the page count {}, found {}",
                h.n_pages, h.n_regions
            ),
        ));
    }
    if h.records_per_chunk == 0 || h.records_per_chunk > MAX_RECORDS_PER_CHUNK {
        return Err(bad(
            32,
            format!(
                "expected 1 to {MAX_RECORDS_PER_CHUNK} records per chunk, found {}",
                h.records_per_chunk
            ),
        ));
    }
    let want_chunks = h.n_records.div_ceil(h.records_per_chunk as u64);
    if h.n_chunks as u64 != want_chunks {
        return Err(bad(
            36,
            format!(
                "expected {want_chunks} chunks for {} records, found {}",
                h.n_records, h.n_chunks
            ),
        ));
    }
    let tables_len = 4 * h.n_chunks as u64 + 16 * h.n_regions as u64 + 4 * h.n_pages as u64;
    if h.tables < HEADER_LEN as u64 || h.tables.checked_add(tables_len) != Some(file_len) {
        return Err(bad(
            48,
            format!("expected the tables offset to leave exactly {tables_len} bytes of tables before the end of the {file_len}-byte file, found {}",
            h.tables
        )));
    }
    Ok(h)
}

/// Reads the tables of a version 2 file (`bytes`, from the tables offset
/// on): chunk lengths and layout.
pub fn parse_tables(bytes: &[u8], h: &Header) -> Result<(Vec<u32>, Layout), FormatError> {
    let mut off = 0;
    let at = |off: usize| h.tables as usize + off;
    let mut lengths = Vec::with_capacity(h.n_chunks as usize);
    let mut sum = 0u64;
    for _ in 0..h.n_chunks {
        let l = u32_at(bytes, off, "a chunk length")
            .map_err(|_| bad(at(off) as u64, "expected a chunk length".into()))?;
        sum += l as u64;
        lengths.push(l);
        off += 4;
    }
    if HEADER_LEN as u64 + sum != h.tables {
        return Err(bad(
            h.tables,
            format!(
                "expected chunk lengths that add up to the {} bytes before the tables, found {sum}",
                h.tables - HEADER_LEN as u64
            ),
        ));
    }
    let mut layout = Layout {
        gap_bytes: h.gap_bytes,
        regions: Vec::with_capacity(h.n_regions as usize),
        pages: Vec::with_capacity(h.n_pages as usize),
    };
    for _ in 0..h.n_regions {
        layout.regions.push(Region {
            recorded_page: u64_at(bytes, off, "a region")?,
            layout_start: u32_at(bytes, off + 8, "a region")?,
            span: u32_at(bytes, off + 12, "a region")?,
        });
        off += 16;
    }
    let pages_off = at(off);
    for _ in 0..h.n_pages {
        layout.pages.push(u32_at(bytes, off, "a layout page")?);
        off += 4;
    }
    let regions_off = pages_off as u64 - 16 * h.n_regions as u64;
    layout
        .check()
        .map_err(|(rel, e)| bad(regions_off + rel, e))?;
    Ok((lengths, layout))
}
