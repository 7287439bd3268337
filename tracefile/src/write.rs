//! Writing version 2 traces (format: the parent module).

use std::io::{Seek, SeekFrom, Write};

use super::{Codec, Layout, PageTrace, HEADER_LEN, MAGIC, RECORDS_PER_CHUNK, VERSION, ZSTD_LEVEL};

/// Writes a version 2 file chunk by chunk: the records first, the tables
/// at [`TraceWriter::finish`], then the header over the placeholder.
pub struct TraceWriter<W: Write + Seek> {
    out: W,
    codec: Codec,
    records_per_chunk: usize,
    lengths: Vec<u32>,
    n_records: u64,
    /// Where the file starts in `out`, and where the next chunk goes.
    start: u64,
    pos: u64,
    /// Records not yet making a whole chunk.
    pending: Vec<u32>,
}

impl<W: Write + Seek> TraceWriter<W> {
    /// A writer of a trace starting at `out`'s current position.
    pub fn new(mut out: W, codec: Codec, records_per_chunk: usize) -> Result<Self, String> {
        assert!(
            records_per_chunk > 0 && records_per_chunk <= super::MAX_RECORDS_PER_CHUNK as usize
        );
        let start = out.stream_position().map_err(|e| e.to_string())?;
        out.write_all(&[0u8; HEADER_LEN])
            .map_err(|e| e.to_string())?;
        Ok(TraceWriter {
            out,
            codec,
            records_per_chunk,
            lengths: Vec::new(),
            n_records: 0,
            start,
            pos: HEADER_LEN as u64,
            pending: Vec::with_capacity(records_per_chunk),
        })
    }

    /// Appends records; every `records_per_chunk` of them make a chunk.
    pub fn push_records(&mut self, mut records: &[u32]) -> Result<(), String> {
        while !records.is_empty() {
            let n = (self.records_per_chunk - self.pending.len()).min(records.len());
            self.pending.extend_from_slice(&records[..n]);
            records = &records[n..];
            if self.pending.len() == self.records_per_chunk {
                self.write_chunk()?;
            }
        }
        Ok(())
    }

    /// Writes the pending records as one chunk.
    fn write_chunk(&mut self) -> Result<(), String> {
        let records = std::mem::take(&mut self.pending);
        let raw: Vec<u8> = records.iter().flat_map(|r| r.to_le_bytes()).collect();
        let stored = match self.codec {
            Codec::Raw => raw,
            Codec::Lz4 => lz4_flex::block::compress(&raw),
            Codec::Zstd => {
                zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(|e| format!("zstd: {e}"))?
            }
        };
        self.out.write_all(&stored).map_err(|e| e.to_string())?;
        self.lengths.push(stored.len() as u32);
        self.pos += stored.len() as u64;
        self.n_records += records.len() as u64;
        self.pending = records;
        self.pending.clear();
        Ok(())
    }

    /// Writes the tables and the header; returns the file's length.
    pub fn finish(&mut self, layout: &Layout) -> Result<u64, String> {
        let io = |e: std::io::Error| e.to_string();
        if !self.pending.is_empty() {
            self.write_chunk()?;
        }
        if self.n_records == 0 {
            return Err("a trace needs at least one record".into());
        }
        let tables = self.pos;
        let mut t = Vec::new();
        for l in &self.lengths {
            t.extend_from_slice(&l.to_le_bytes());
        }
        for r in &layout.regions {
            t.extend_from_slice(&r.recorded_page.to_le_bytes());
            t.extend_from_slice(&r.layout_start.to_le_bytes());
            t.extend_from_slice(&r.span.to_le_bytes());
        }
        for p in &layout.pages {
            t.extend_from_slice(&p.to_le_bytes());
        }
        self.out.write_all(&t).map_err(io)?;
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&self.codec.code().to_le_bytes());
        h.extend_from_slice(&self.n_records.to_le_bytes());
        h.extend_from_slice(&(layout.pages.len() as u32).to_le_bytes());
        h.extend_from_slice(&(layout.regions.len() as u32).to_le_bytes());
        h.extend_from_slice(&(self.records_per_chunk as u32).to_le_bytes());
        h.extend_from_slice(&(self.lengths.len() as u32).to_le_bytes());
        h.extend_from_slice(&layout.gap_bytes.to_le_bytes());
        h.extend_from_slice(&tables.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        self.out.seek(SeekFrom::Start(self.start)).map_err(io)?;
        self.out.write_all(&h).map_err(io)?;
        self.out
            .seek(SeekFrom::Start(self.start + tables + t.len() as u64))
            .map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok(tables + t.len() as u64)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The file bytes of a version 2 trace with lz4 chunks.
pub fn encode(t: &PageTrace) -> Vec<u8> {
    encode_with(t, Codec::Lz4, RECORDS_PER_CHUNK)
}

/// The file bytes of a version 2 trace.
pub fn encode_with(t: &PageTrace, codec: Codec, records_per_chunk: usize) -> Vec<u8> {
    let mut w = TraceWriter::new(std::io::Cursor::new(Vec::new()), codec, records_per_chunk)
        .expect("in memory");
    w.push_records(&t.records).expect("in memory");
    w.finish(&t.layout).expect("in memory");
    w.into_inner().into_inner()
}
