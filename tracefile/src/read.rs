//! Reading traces, version 1 or 2 (format: the parent module), from
//! memory or streamed from a file one chunk at a time.

use std::io::{Read, Seek, SeekFrom};

use super::header::u32_at;
use super::{
    parse_header, parse_tables, Codec, Header, Layout, PageTrace, HEADER_LEN, MAGIC,
    RECORDS_PER_CHUNK, WRITE_BIT,
};

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
