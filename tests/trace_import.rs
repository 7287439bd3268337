//! Streaming import: memory is bounded by the distinct pages, not by the
//! log's length. A generated lackey log of 20M data-access lines (about
//! 400 MB of text, 20M records once imported, 80 MB as raw records) over
//! 50,000 distinct pages is imported while a counting allocator records
//! the peak of live heap bytes; the bound is 8 MiB of buffers plus 128
//! bytes per distinct page (`src/trace/import.rs`: the page map, the sort,
//! the layout), 14 MiB here (4.2 MiB measured when it was written).

use std::io::Read;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

const LINES: u64 = 20_000_000;
const PAGES: u64 = 50_000;

/// A lackey log made on the fly: a loop over PAGES pages with a stride, so
/// consecutive lines touch different pages; every fourth access a store.
struct GenLog {
    line: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for GenLog {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            while self.buf.len() < 1 << 16 && self.line < LINES {
                let page = (self.line * 7919) % PAGES;
                let addr = 0x5555_0000_0000u64 + page * 4096 + (self.line % 64) * 8;
                let kind = if self.line % 4 == 0 { 'S' } else { 'L' };
                self.buf
                    .extend_from_slice(format!(" {kind} {addr:x},8\n").as_bytes());
                self.line += 1;
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn streaming_import_of_20m_lines_stays_within_its_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.fltrace");
    let base = counting_alloc::live();
    counting_alloc::reset_peak();
    let log = GenLog {
        line: 0,
        buf: Vec::new(),
        pos: 0,
    };
    let s =
        faultline::trace::import(log, &out, faultline::trace::ImportOptions::default()).unwrap();
    let peak = counting_alloc::peak() - base;
    assert_eq!((s.lines, s.records, s.pages as u64), (LINES, LINES, PAGES));
    let bound = (8 << 20) + 128 * PAGES as usize;
    assert!(
        peak < bound,
        "peak heap {peak} bytes, bound {bound} (raw records alone would be {})",
        4 * LINES
    );
    eprintln!(
        "imported {} records over {} pages with a peak of {:.1} MiB of heap (bound {:.1} MiB); {} bytes written",
        s.records,
        s.pages,
        peak as f64 / (1 << 20) as f64,
        bound as f64 / (1 << 20) as f64,
        s.file_bytes
    );
}
