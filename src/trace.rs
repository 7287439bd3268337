//! `faultline trace import`: valgrind lackey output -> a compact page-level
//! trace that `workload=trace` replays.
//!
//! Recording: `valgrind --tool=lackey --trace-mem=yes PROGRAM 2> log` writes
//! one line per memory access (` L addr,size`, ` S …`, ` M …`, and `I …`
//! for instruction fetches). We keep the data accesses (loads, stores and
//! modifies: anonymous memory; code pages would be file-backed in Linux),
//! take their 4 KiB page, and drop consecutive repeats of the same page
//! (a write among them makes the access a write). Distinct pages are
//! renumbered densely in address order, so neighbours stay neighbours
//! (what readahead needs) while the gaps between mappings disappear.
//!
//! File format, version 1 (little endian):
//!
//! ```text
//! offset 0   8 bytes  magic "FLTRACE1"
//! offset 8   u32      version = 1
//! offset 12  u32      flags: 1 = payload is an lz4 block, 0 = raw
//! offset 16  u32      payload length once decompressed
//! offset 20  ...      payload: u32 n_pages, u32 n_accesses, then
//!                     n_accesses u32: bit 31 = write, bits 0..30 = page
//! ```

use std::collections::HashMap;
use std::io::BufRead;

pub const MAGIC: &[u8; 8] = b"FLTRACE1";
pub const VERSION: u32 = 1;
const FLAG_LZ4: u32 = 1;
const WRITE_BIT: u32 = 1 << 31;

/// A page-level trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTrace {
    pub n_pages: u32,
    /// Page index (dense) with [`WRITE_BIT`] for writes.
    pub accesses: Vec<u32>,
}

/// Reads lackey output, keeping at most `max_accesses` page accesses.
pub fn import(input: impl BufRead, max_accesses: usize) -> Result<PageTrace, String> {
    let mut raw: Vec<(u64, bool)> = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", n + 1))?;
        let Some((kind, rest)) = parse_kind(&line) else {
            continue;
        };
        let addr_text = rest.split(',').next().unwrap_or("");
        let addr = u64::from_str_radix(addr_text.trim(), 16).map_err(|_| {
            format!(
                "line {}: expected a hex address after '{kind}', got '{line}'",
                n + 1
            )
        })?;
        let page = addr >> 12;
        let is_write = kind != 'L';
        if let Some((p, w)) = raw.last_mut().filter(|(p, _)| *p == page) {
            debug_assert_eq!(*p, page);
            *w |= is_write;
            continue;
        }
        if raw.len() == max_accesses {
            break;
        }
        raw.push((page, is_write));
    }
    if raw.is_empty() {
        return Err(
            "no data accesses found: is this `valgrind --tool=lackey --trace-mem=yes` output?"
                .into(),
        );
    }
    let mut pages: Vec<u64> = raw.iter().map(|(p, _)| *p).collect();
    pages.sort_unstable();
    pages.dedup();
    let index: HashMap<u64, u32> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as u32))
        .collect();
    let accesses = raw
        .iter()
        .map(|(p, w)| index[p] | if *w { WRITE_BIT } else { 0 })
        .collect();
    Ok(PageTrace {
        n_pages: pages.len() as u32,
        accesses,
    })
}

/// ` L 04222cac,4` -> ('L', "04222cac,4"); instruction fetches and
/// valgrind's own messages -> None.
fn parse_kind(line: &str) -> Option<(char, &str)> {
    let t = line.strip_prefix(' ')?;
    let mut chars = t.chars();
    let kind = chars.next()?;
    if !matches!(kind, 'L' | 'S' | 'M') {
        return None;
    }
    Some((kind, chars.as_str().trim_start()))
}

/// The file bytes of a trace (lz4-compressed payload).
pub fn encode(t: &PageTrace) -> Vec<u8> {
    let mut payload = Vec::with_capacity(8 + 4 * t.accesses.len());
    payload.extend_from_slice(&t.n_pages.to_le_bytes());
    payload.extend_from_slice(&(t.accesses.len() as u32).to_le_bytes());
    for a in &t.accesses {
        payload.extend_from_slice(&a.to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&FLAG_LZ4.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(&payload));
    out
}

/// Reads a trace file back (the kernel has its own parser; this one checks
/// files on the host and in tests).
pub fn decode(bytes: &[u8]) -> Result<PageTrace, String> {
    let u32_at = |off: usize, what: &str| -> Result<u32, String> {
        bytes
            .get(off..off + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .ok_or_else(|| format!("offset {off}: expected {what}, found the end of the file"))
    };
    if bytes.get(..8) != Some(MAGIC) {
        return Err("offset 0: expected the magic \"FLTRACE1\"".into());
    }
    let version = u32_at(8, "the version")?;
    if version != VERSION {
        return Err(format!(
            "offset 8: expected version {VERSION}, found {version}"
        ));
    }
    let flags = u32_at(12, "the flags")?;
    let len = u32_at(16, "the payload length")? as usize;
    // Checked before allocating: an lz4 block expands at most 255 times.
    let stored = bytes.len().saturating_sub(20);
    let most = if flags & FLAG_LZ4 != 0 {
        stored.saturating_mul(255)
    } else {
        stored
    };
    if len > most {
        return Err(format!(
            "offset 16: expected a payload length of at most {most} bytes for the {stored} stored, found {len}"
        ));
    }
    let payload = if flags & FLAG_LZ4 != 0 {
        lz4_flex::block::decompress(&bytes[20..], len)
            .map_err(|e| format!("offset 20: expected an lz4 block: {e}"))?
    } else {
        bytes[20..].to_vec()
    };
    let n_pages = u32_at_slice(&payload, 0)?;
    let n = u32_at_slice(&payload, 4)? as usize;
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
    let accesses: Vec<u32> = payload[8..]
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
        .collect();
    if let Some(i) = accesses.iter().position(|a| a & !WRITE_BIT >= n_pages) {
        return Err(format!(
            "payload offset {}: page index {} is not below {n_pages}",
            8 + 4 * i,
            accesses[i] & !WRITE_BIT
        ));
    }
    Ok(PageTrace { n_pages, accesses })
}

fn u32_at_slice(b: &[u8], off: usize) -> Result<u32, String> {
    b.get(off..off + 4)
        .map(|x| u32::from_le_bytes(x.try_into().expect("4 bytes")))
        .ok_or_else(|| format!("payload offset {off}: expected a u32, found the end"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "==1== Lackey\nI  04016b0,3\n L 1ffefff000,8\n L 1ffefff008,8\n S 1ffefff010,8\n L 0402000,4\n M 0403004,4\n L 1ffefff000,8\n";

    #[test]
    fn import_collapses_repeats_and_renumbers_densely() {
        let t = import(LOG.as_bytes(), 100).unwrap();
        // pages: 0x402, 0x403, 0x1ffefff -> indexes 0, 1, 2 (address order)
        assert_eq!(t.n_pages, 3);
        assert_eq!(t.accesses, vec![2 | WRITE_BIT, 0, 1 | WRITE_BIT, 2]);
        let back = decode(&encode(&t)).unwrap();
        assert_eq!(back, t);
        assert_eq!(import(LOG.as_bytes(), 2).unwrap().accesses.len(), 2);
    }

    #[test]
    fn malformed_input_names_the_place() {
        assert!(import("I  0401,3\n".as_bytes(), 10)
            .unwrap_err()
            .contains("no data accesses"));
        assert!(import(" L zz,8\n".as_bytes(), 10)
            .unwrap_err()
            .contains("line 1: expected a hex address"));
        let mut bytes = encode(&import(LOG.as_bytes(), 100).unwrap());
        bytes[8] = 9;
        assert!(decode(&bytes)
            .unwrap_err()
            .contains("offset 8: expected version 1"));
        assert!(decode(b"NOTATRACE").unwrap_err().contains("offset 0"));
        assert!(decode(&huge_page_count_trace())
            .unwrap_err()
            .contains("payload offset 0: expected a page count no larger than the access count 1, found 4294967295"));
        // A header claiming 4 GiB of lz4 payload is refused before any allocation.
        let mut lz = encode(&import(LOG.as_bytes(), 100).unwrap());
        lz[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lz)
            .unwrap_err()
            .contains("offset 16: expected a payload length of at most"));
    }

    /// An uncompressed trace of one access whose header claims 2^32 - 1
    /// pages.
    pub(crate) fn huge_page_count_trace() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&12u32.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }
}
