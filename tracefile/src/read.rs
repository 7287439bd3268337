//! Reading traces, version 1 or 2 (format: the parent module), from
//! memory or streamed from a file one chunk at a time.

use std::io::{Read, Seek, SeekFrom};

use super::{
    Codec, Layout, PageTrace, Region, HEADER_LEN, MAGIC, MAX_RECORDS_PER_CHUNK, RECORDS_PER_CHUNK,
    VERSION, WRITE_BIT,
};

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

fn u32_at(b: &[u8], off: usize, what: &str) -> Result<u32, String> {
    b.get(off..off + 4)
        .map(|x| u32::from_le_bytes(x.try_into().expect("4 bytes")))
        .ok_or_else(|| format!("offset {off}: expected {what}, found the end of the file"))
}

fn u64_at(b: &[u8], off: usize, what: &str) -> Result<u64, String> {
    b.get(off..off + 8)
        .map(|x| u64::from_le_bytes(x.try_into().expect("8 bytes")))
        .ok_or_else(|| format!("offset {off}: expected {what}, found the end of the file"))
}

/// Reads and checks the header of a version 2 file of `file_len` bytes
/// (`bytes` holds at least its first 64). Every count is checked against
/// the file's length before anyone allocates by it.
pub fn parse_header(bytes: &[u8], file_len: u64) -> Result<Header, String> {
    if bytes.get(..8) != Some(MAGIC) {
        return Err("offset 0: expected the magic \"FLTRACE1\"".into());
    }
    let version = u32_at(bytes, 8, "the version")?;
    if version != VERSION {
        return Err(format!(
            "offset 8: expected version 1 or {VERSION}, found {version}"
        ));
    }
    let code = u32_at(bytes, 12, "the codec")?;
    let codec = Codec::from_code(code).ok_or_else(|| {
        format!("offset 12: expected a codec of 0 (raw), 1 (lz4) or 2 (zstd), found {code}")
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
        return Err("offset 16: expected at least one record".into());
    }
    if h.n_pages == 0 || h.n_pages as u64 > h.n_records {
        return Err(format!(
            "offset 24: expected a page count from 1 to the record count {}, found {}",
            h.n_records, h.n_pages
        ));
    }
    if h.n_regions == 0 || h.n_regions > h.n_pages {
        return Err(format!(
            "offset 28: expected a region count from 1 to the page count {}, found {}",
            h.n_pages, h.n_regions
        ));
    }
    if h.records_per_chunk == 0 || h.records_per_chunk > MAX_RECORDS_PER_CHUNK {
        return Err(format!(
            "offset 32: expected 1 to {MAX_RECORDS_PER_CHUNK} records per chunk, found {}",
            h.records_per_chunk
        ));
    }
    let want_chunks = h.n_records.div_ceil(h.records_per_chunk as u64);
    if h.n_chunks as u64 != want_chunks {
        return Err(format!(
            "offset 36: expected {want_chunks} chunks for {} records, found {}",
            h.n_records, h.n_chunks
        ));
    }
    let tables_len = 4 * h.n_chunks as u64 + 16 * h.n_regions as u64 + 4 * h.n_pages as u64;
    if h.tables < HEADER_LEN as u64 || h.tables.checked_add(tables_len) != Some(file_len) {
        return Err(format!(
            "offset 48: expected the tables offset to leave exactly {tables_len} bytes of tables before the end of the {file_len}-byte file, found {}",
            h.tables
        ));
    }
    Ok(h)
}

/// Reads the tables of a version 2 file (`bytes`, from the tables offset
/// on): chunk lengths and layout.
fn parse_tables(bytes: &[u8], h: &Header) -> Result<(Vec<u32>, Layout), String> {
    let mut off = 0;
    let at = |off: usize| h.tables as usize + off;
    let mut lengths = Vec::with_capacity(h.n_chunks as usize);
    let mut sum = 0u64;
    for _ in 0..h.n_chunks {
        let l = u32_at(bytes, off, "a chunk length")
            .map_err(|_| format!("offset {}: expected a chunk length", at(off)))?;
        sum += l as u64;
        lengths.push(l);
        off += 4;
    }
    if HEADER_LEN as u64 + sum != h.tables {
        return Err(format!(
            "offset {}: expected chunk lengths that add up to the {} bytes before the tables, found {sum}",
            h.tables,
            h.tables - HEADER_LEN as u64
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
        .map_err(|(rel, e)| format!("offset {}: {e}", regions_off + rel))?;
    Ok((lengths, layout))
}

/// A version 2 trace read one chunk at a time (memory: the tables and one
/// chunk).
pub struct TraceReader<R: Read + Seek> {
    src: R,
    pub header: Header,
    pub layout: Layout,
    lengths: Vec<u32>,
    next: usize,
    pos: u64,
}

impl<R: Read + Seek> TraceReader<R> {
    pub fn new(mut src: R) -> Result<Self, String> {
        let io = |e: std::io::Error| e.to_string();
        let len = src.seek(SeekFrom::End(0)).map_err(io)?;
        src.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
        src.read_exact(&mut head).map_err(io)?;
        let header = parse_header(&head, len)?;
        // Bounded by the file's length (checked by parse_header).
        let mut tables = vec![0u8; (len - header.tables) as usize];
        src.seek(SeekFrom::Start(header.tables)).map_err(io)?;
        src.read_exact(&mut tables).map_err(io)?;
        let (lengths, layout) = parse_tables(&tables, &header)?;
        src.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(io)?;
        Ok(TraceReader {
            src,
            header,
            layout,
            lengths,
            next: 0,
            pos: HEADER_LEN as u64,
        })
    }

    /// The next chunk's records, each page id checked; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u32>>, String> {
        let k = self.next;
        let Some(&len) = self.lengths.get(k) else {
            return Ok(None);
        };
        let h = self.header;
        let off = self.pos;
        let want = (h.n_records - k as u64 * h.records_per_chunk as u64)
            .min(h.records_per_chunk as u64) as usize;
        let mut stored = vec![0u8; len as usize];
        self.src
            .read_exact(&mut stored)
            .map_err(|e| format!("offset {off}: chunk {k}: {e}"))?;
        let raw = match h.codec {
            Codec::Raw => stored,
            Codec::Lz4 => lz4_flex::block::decompress(&stored, 4 * want).map_err(|e| {
                format!("offset {off}: expected chunk {k} as an lz4 block of {want} records: {e}")
            })?,
            Codec::Zstd => zstd::bulk::decompress(&stored, 4 * want).map_err(|e| {
                format!("offset {off}: expected chunk {k} as a zstd frame of {want} records: {e}")
            })?,
        };
        if raw.len() != 4 * want {
            return Err(format!(
                "offset {off}: expected chunk {k} to hold {want} records, found {} bytes",
                raw.len()
            ));
        }
        let mut records = Vec::with_capacity(want);
        for (i, c) in raw.chunks(4).enumerate() {
            let r = u32::from_le_bytes(c.try_into().expect("4"));
            if r & !WRITE_BIT >= h.n_pages {
                return Err(format!(
                    "chunk {k} (offset {off}), record {i}: expected a page id below {}, found {}",
                    h.n_pages,
                    r & !WRITE_BIT
                ));
            }
            records.push(r);
        }
        self.next += 1;
        self.pos += len as u64;
        Ok(Some(records))
    }
}

/// Reads a whole trace, version 1 or 2, into memory (for tests and small
/// traces).
pub fn decode(bytes: &[u8]) -> Result<PageTrace, String> {
    if bytes.get(..8) != Some(MAGIC) {
        return Err("offset 0: expected the magic \"FLTRACE1\"".into());
    }
    if u32_at(bytes, 8, "the version")? == 1 {
        return decode_v1(bytes);
    }
    let mut reader = TraceReader::new(std::io::Cursor::new(bytes))?;
    let mut records = Vec::new();
    while let Some(chunk) = reader.next_chunk()? {
        records.extend(chunk);
    }
    Ok(PageTrace {
        layout: reader.layout,
        records,
    })
}

/// Version 1: one payload, dense layout.
fn decode_v1(bytes: &[u8]) -> Result<PageTrace, String> {
    let flags = u32_at(bytes, 12, "the flags")?;
    let len = u32_at(bytes, 16, "the payload length")? as usize;
    // Checked before allocating: an lz4 block expands at most 255 times.
    let stored = bytes.len().saturating_sub(20);
    let most = if flags & 1 != 0 {
        stored.saturating_mul(255)
    } else {
        stored
    };
    if len > most {
        return Err(format!(
            "offset 16: expected a payload length of at most {most} bytes for the {stored} stored, found {len}"
        ));
    }
    let payload = if flags & 1 != 0 {
        lz4_flex::block::decompress(&bytes[20..], len)
            .map_err(|e| format!("offset 20: expected an lz4 block: {e}"))?
    } else {
        bytes[20..].to_vec()
    };
    let at = |off: usize| {
        u32_at(&payload, off, "a u32")
            .map_err(|_| format!("payload offset {off}: expected a u32, found the end"))
    };
    let n_pages = at(0)?;
    let n = at(4)? as usize;
    if payload.len() != 8 + 4 * n {
        return Err(format!(
            "payload: expected {} bytes for {n} accesses, found {}",
            8 + 4 * n,
            payload.len()
        ));
    }
    if n == 0 {
        return Err("payload offset 4: expected at least one access".into());
    }
    if n_pages as usize > n {
        return Err(format!(
            "payload offset 0: expected a page count no larger than the access count {n}, found {n_pages}"
        ));
    }
    let records: Vec<u32> = payload[8..]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    if let Some(i) = records.iter().position(|a| a & !WRITE_BIT >= n_pages) {
        return Err(format!(
            "payload offset {}: page index {} is not below {n_pages}",
            8 + 4 * i,
            records[i] & !WRITE_BIT
        ));
    }
    Ok(PageTrace {
        layout: Layout::dense(n_pages, 0),
        records,
    })
}

/// The header of the trace file at `path`, version 1 or 2 (version 1 is
/// read whole and described as its version 2 equivalent).
pub fn read_header(path: &std::path::Path) -> Result<Header, String> {
    use std::io::Read;
    let name = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let len = f.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    let mut head = vec![0u8; HEADER_LEN.min(len as usize)];
    f.read_exact(&mut head)
        .map_err(|e| format!("{name}: {e}"))?;
    if head.len() >= 12 && head[..8] == MAGIC[..] && head[8..12] == 1u32.to_le_bytes() {
        let t = decode(&std::fs::read(path).map_err(|e| format!("{name}: {e}"))?)
            .map_err(|e| format!("{name}: {e}"))?;
        return Ok(Header {
            version: 1,
            codec: Codec::Lz4,
            n_records: t.records.len() as u64,
            n_pages: t.n_pages(),
            n_regions: 1,
            records_per_chunk: RECORDS_PER_CHUNK as u32,
            n_chunks: t.records.len().div_ceil(RECORDS_PER_CHUNK) as u32,
            gap_bytes: 0,
            tables: 0,
        });
    }
    parse_header(&head, len).map_err(|e| format!("{name}: {e}"))
}
