//! `faultline trace import`: a valgrind lackey log, streamed, to a trace
//! file (format: the parent module).
//!
//! Recording: `valgrind --tool=lackey --trace-mem=yes PROGRAM` writes one
//! line per memory access (` L addr,size`, ` S …`, ` M …`, and `I …` for
//! instruction fetches). We keep the data accesses (loads, stores and
//! modifies: anonymous memory; code pages would be file-backed in Linux),
//! take their 4 KiB page, and drop consecutive repeats of the same page (a
//! write among them makes the record a write).
//!
//! Streaming, in two passes so that memory is bounded by the number of
//! distinct pages, never by the log's length: pass 1 numbers pages in the
//! order they are first touched and spills the records, in compressed
//! chunks, to a temporary file; once every page is known they are sorted by
//! address, and pass 2 renumbers each chunk to the final page ids (address
//! order) and writes the trace.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Codec, Layout, TraceWriter, RECORDS_PER_CHUNK, RECORDS_PER_ZSTD_CHUNK, WRITE_BIT};

/// What to keep of the log.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Keep at most this many records (the first ones).
    pub max_records: u64,
    /// Gap threshold for regions, in bytes; `None`: the dense layout.
    pub gap_bytes: Option<u64>,
    /// How chunks are compressed: zstd (small files) or lz4 (what the
    /// trace disk holds).
    pub codec: Codec,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            max_records: u64::MAX,
            gap_bytes: Some(super::DEFAULT_GAP_BYTES),
            codec: Codec::Zstd,
        }
    }
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: u64,
    pub pages: u32,
    pub regions: u32,
    /// Bytes the regions span (holes included).
    pub span_bytes: u64,
    /// Bytes of the trace file.
    pub file_bytes: u64,
    /// Lines of the log read.
    pub lines: u64,
}

/// Page ids at most 2^31 - 1 (bit 31 is the write bit).
const MAX_PAGES: usize = (WRITE_BIT - 1) as usize;

/// Streams lackey output from `input` to a trace file at `output`.
pub fn import(
    input: impl Read,
    output: &Path,
    opts: ImportOptions,
) -> Result<ImportSummary, String> {
    let mut spill = tempfile::tempfile().map_err(|e| format!("a temporary file: {e}"))?;
    let (first_touch, lines, records) = pass1(input, &mut spill, opts.max_records)?;
    // Final ids: pages in address order.
    let mut order: Vec<u32> = (0..first_touch.len() as u32).collect();
    order.sort_unstable_by_key(|&i| first_touch[i as usize]);
    let mut final_id = vec![0u32; order.len()];
    for (rank, &prov) in order.iter().enumerate() {
        final_id[prov as usize] = rank as u32;
    }
    let sorted: Vec<u64> = order.iter().map(|&i| first_touch[i as usize]).collect();
    drop(first_touch);
    let layout = match opts.gap_bytes {
        Some(gap) => Layout::kept(&sorted, gap)?,
        None => Layout::dense(sorted.len() as u32, sorted[0]),
    };
    let out = std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let per_chunk = match opts.codec {
        Codec::Zstd => RECORDS_PER_ZSTD_CHUNK,
        _ => RECORDS_PER_CHUNK,
    };
    let mut writer = TraceWriter::new(BufWriter::new(out), opts.codec, per_chunk)?;
    spill
        .seek(SeekFrom::Start(0))
        .map_err(|e| format!("the temporary file: {e}"))?;
    let mut spill = BufReader::new(spill);
    let mut chunk = Vec::with_capacity(RECORDS_PER_CHUNK);
    let mut left = records;
    while left > 0 {
        read_spilled(
            &mut spill,
            &mut chunk,
            left.min(RECORDS_PER_CHUNK as u64) as usize,
        )?;
        for r in chunk.iter_mut() {
            *r = final_id[(*r & !WRITE_BIT) as usize] | (*r & WRITE_BIT);
        }
        writer.push_records(&chunk)?;
        left -= chunk.len() as u64;
    }
    let file_bytes = writer
        .finish(&layout)
        .map_err(|e| format!("{}: {e}", output.display()))?;
    Ok(ImportSummary {
        records,
        pages: layout.pages.len() as u32,
        regions: layout.regions.len() as u32,
        span_bytes: layout.span_bytes(),
        file_bytes,
        lines,
    })
}

/// Pass 1: parses the log; returns the recorded page of each provisional
/// id (first-touch order), the lines read and the records spilled.
fn pass1(
    input: impl Read,
    spill: &mut std::fs::File,
    max_records: u64,
) -> Result<(Vec<u64>, u64, u64), String> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let mut spill = BufWriter::new(spill);
    let mut ids: HashMap<u64, u32> = HashMap::new();
    let mut first_touch: Vec<u64> = Vec::new();
    let mut chunk: Vec<u32> = Vec::with_capacity(RECORDS_PER_CHUNK);
    let (mut lines, mut records) = (0u64, 0u64);
    let mut last_page = u64::MAX;
    let mut line = Vec::with_capacity(64);
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("line {}: {e}", lines + 1))?;
        if n == 0 {
            break;
        }
        lines += 1;
        let Some((is_write, addr)) = parse_line(&line).map_err(|e| format!("line {lines}: {e}"))?
        else {
            continue;
        };
        let page = addr >> 12;
        if page == last_page {
            // A repeat: a write among them makes the record a write.
            if is_write {
                *chunk.last_mut().expect("a record for the last page") |= WRITE_BIT;
            }
            continue;
        }
        if records == max_records {
            break;
        }
        last_page = page;
        let next = first_touch.len() as u32;
        let id = *ids.entry(page).or_insert(next);
        if id == next {
            if first_touch.len() == MAX_PAGES {
                return Err(format!(
                    "line {lines}: more than {MAX_PAGES} distinct pages"
                ));
            }
            first_touch.push(page);
        }
        if chunk.len() == RECORDS_PER_CHUNK {
            spill_chunk(&mut spill, &chunk)?;
            chunk.clear();
        }
        chunk.push(id | if is_write { WRITE_BIT } else { 0 });
        records += 1;
    }
    if records == 0 {
        return Err(
            "no data accesses found: is this `valgrind --tool=lackey --trace-mem=yes` output?"
                .into(),
        );
    }
    spill_chunk(&mut spill, &chunk)?;
    spill
        .flush()
        .map_err(|e| format!("the temporary file: {e}"))?;
    Ok((first_touch, lines, records))
}

/// ` L 04222cac,4` -> (false, 0x4222cac); ` S`/` M` are writes;
/// instruction fetches and valgrind's own messages -> None.
fn parse_line(line: &[u8]) -> Result<Option<(bool, u64)>, String> {
    let [b' ', kind, rest @ ..] = line else {
        return Ok(None);
    };
    if !matches!(kind, b'L' | b'S' | b'M') {
        return Ok(None);
    }
    let mut addr = 0u64;
    let mut digits = 0;
    for &c in rest.iter().skip_while(|c| **c == b' ') {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        addr = (addr << 4) | d as u64;
        digits += 1;
    }
    if digits == 0 || digits > 16 {
        return Err(format!(
            "expected a hex address after '{}', got '{}'",
            *kind as char,
            String::from_utf8_lossy(line).trim_end()
        ));
    }
    Ok(Some((*kind != b'L', addr)))
}

/// Spilled chunks: u32 count, u32 stored length, an lz4 block.
fn spill_chunk(out: &mut impl Write, chunk: &[u32]) -> Result<(), String> {
    let raw: Vec<u8> = chunk.iter().flat_map(|r| r.to_le_bytes()).collect();
    let stored = lz4_flex::block::compress(&raw);
    let io = |e: std::io::Error| format!("the temporary file: {e}");
    out.write_all(&(chunk.len() as u32).to_le_bytes())
        .map_err(io)?;
    out.write_all(&(stored.len() as u32).to_le_bytes())
        .map_err(io)?;
    out.write_all(&stored).map_err(io)
}

fn read_spilled(input: &mut impl Read, chunk: &mut Vec<u32>, want: usize) -> Result<(), String> {
    let io = |e: std::io::Error| format!("the temporary file: {e}");
    let mut head = [0u8; 8];
    input.read_exact(&mut head).map_err(io)?;
    let n = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
    let len = u32::from_le_bytes(head[4..].try_into().expect("4")) as usize;
    assert_eq!(n, want, "pass 1 spills full chunks");
    let mut stored = vec![0u8; len];
    input.read_exact(&mut stored).map_err(io)?;
    let raw = lz4_flex::block::decompress(&stored, 4 * n).map_err(|e| e.to_string())?;
    chunk.clear();
    chunk.extend(
        raw.chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4"))),
    );
    Ok(())
}
