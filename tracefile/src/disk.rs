//! The trace disk: every `--trace` file of a run on one read-only
//! virtio-blk disk (serial `faultline-traces`), which the kernel streams
//! chunk by chunk instead of holding traces on its heap
//! (`kernel/src/workload/trace_disk.rs` reads it).
//!
//! ```text
//! offset 0    8 bytes  magic "FLTDISK1"
//! offset 8    u32      number of traces (1..=64)
//! offset 12   u32      0
//! offset 16   16 B per trace: u64 offset, u64 length (offsets 4 KiB aligned)
//! offset 4096 the trace files (version 2), each at its offset
//! ```
//!
//! Traces are converted on the way to what the kernel reads: version 2
//! with lz4 chunks of at most 2^16 records (a version 1 file keeps its
//! dense layout; a zstd one is decompressed and compressed again with lz4,
//! a chunk at a time).

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::{Codec, TraceReader, TraceWriter, RECORDS_PER_CHUNK};

pub const DISK_MAGIC: &[u8; 8] = b"FLTDISK1";
/// Traces (tasks) per run at most.
pub const MAX_TRACES: usize = 64;
const ALIGN: u64 = 4096;

/// Writes the trace disk for `traces` to `disk`.
pub fn create_trace_disk(traces: &[impl AsRef<Path>], disk: &Path) -> Result<(), String> {
    if traces.is_empty() || traces.len() > MAX_TRACES {
        return Err(format!(
            "expected 1 to {MAX_TRACES} traces, found {}",
            traces.len()
        ));
    }
    let io = |e: std::io::Error| format!("{}: {e}", disk.display());
    let mut out = std::fs::File::create(disk).map_err(io)?;
    let mut dir = Vec::new();
    let mut pos = ALIGN;
    for t in traces {
        let t = t.as_ref();
        let name = t.display();
        let header = super::read_header(t)?;
        out.seek(SeekFrom::Start(pos)).map_err(io)?;
        let len = if header.version == 2
            && header.codec == Codec::Lz4
            && header.records_per_chunk as usize <= RECORDS_PER_CHUNK
        {
            let mut f = std::fs::File::open(t).map_err(|e| format!("{name}: {e}"))?;
            std::io::copy(&mut f, &mut out).map_err(io)?
        } else {
            to_lz4(t, &mut out).map_err(|e| format!("{name}: {e}"))?
        };
        dir.push((pos, len));
        pos = (pos + len).next_multiple_of(ALIGN);
    }
    let mut head = Vec::new();
    head.extend_from_slice(DISK_MAGIC);
    head.extend_from_slice(&(dir.len() as u32).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    for (off, len) in &dir {
        head.extend_from_slice(&off.to_le_bytes());
        head.extend_from_slice(&len.to_le_bytes());
    }
    out.seek(SeekFrom::Start(0)).map_err(io)?;
    out.write_all(&head).map_err(io)?;
    // Whole sectors: the disk's size is a multiple of 4 KiB.
    out.set_len(pos).map_err(io)?;
    Ok(())
}

/// Writes the trace at `path` to `out` (at its position) as version 2
/// with lz4 chunks; returns the bytes written.
fn to_lz4(path: &Path, out: &mut std::fs::File) -> Result<u64, String> {
    let start = out.stream_position().map_err(|e| e.to_string())?;
    let mut w = TraceWriter::new(BufWriter::new(&mut *out), Codec::Lz4, RECORDS_PER_CHUNK)?;
    let mut f = BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    let mut magic = [0u8; 12];
    f.read_exact(&mut magic).map_err(|e| e.to_string())?;
    let layout = if magic[8..12] == 1u32.to_le_bytes() {
        let t = super::decode(&std::fs::read(path).map_err(|e| e.to_string())?)?;
        w.push_records(&t.records)?;
        t.layout
    } else {
        let mut r = TraceReader::new(f)?;
        while let Some(chunk) = r.next_chunk()? {
            w.push_records(&chunk)?;
        }
        r.layout
    };
    let len = w.finish(&layout)?;
    drop(w);
    out.seek(SeekFrom::Start(start + len))
        .map_err(|e| e.to_string())?;
    Ok(len)
}

/// Reads trace `i` back from a trace disk (for tests).
pub fn read_trace(disk: &Path, i: usize) -> Result<Vec<u8>, String> {
    let io = |e: std::io::Error| format!("{}: {e}", disk.display());
    let mut f = std::fs::File::open(disk).map_err(io)?;
    let mut head = [0u8; 16];
    f.read_exact(&mut head).map_err(io)?;
    let n = u32::from_le_bytes(head[8..12].try_into().expect("4")) as usize;
    if &head[..8] != DISK_MAGIC || i >= n {
        return Err(format!("{}: no trace {i}", disk.display()));
    }
    let mut entry = [0u8; 16];
    f.seek(SeekFrom::Start(16 + 16 * i as u64)).map_err(io)?;
    f.read_exact(&mut entry).map_err(io)?;
    let off = u64::from_le_bytes(entry[..8].try_into().expect("8"));
    let len = u64::from_le_bytes(entry[8..].try_into().expect("8"));
    let mut bytes = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(off)).map_err(io)?;
    f.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}
