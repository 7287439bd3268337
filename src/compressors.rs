//! `faultline bench compressors`: what zswap's compressors do to the
//! workloads' own pages, measured on the host (real time, not TCG).
//!
//! For each kind of page the workloads write (the same pattern generator
//! as `kernel/src/workload/mod.rs`, `pattern_word`), it compresses and
//! decompresses a set of distinct pages with
//! - lz4_flex (the kernel's lz4),
//! - rusty_zstd at level 3 without checksum (the kernel's zstd),
//! - ruzstd at its only level, "Fastest" (measured, not taken),
//! - reference zstd (libzstd through the `zstd` crate) at level 3, Linux's
//!   default for the crypto `zstd` (`ZSTD_DEF_LEVEL` in crypto/zstd.c),
//!   and at level 1, the level ruzstd imitates,
//!
//! and prints the compressed size as a share of the page and the time per
//! page, the fastest of several rounds over the set. The rows that
//! matter for the model are the cost ratios libzstd -3 : lz4 on the default
//! pages, which `kernel/src/mm/zcomp.rs` uses as `REF_ZSTD_*_X_LZ4`.

use std::time::Instant;

/// Pages per set: distinct contents, so caches do not flatter anyone.
const PAGES: usize = 512;
/// Rounds over the set; the fastest is reported (the least disturbed by the rest of the machine).
const ROUNDS: usize = 15;

/// The kernel's `workload::mix64` (SplitMix64).
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The kernel's `workload::fill_page_pct` for `tag` (same words, same
/// order), so the host measures exactly what the kernel compresses.
pub fn workload_page(tag: u64, random_pct: u64) -> Vec<u8> {
    let base = mix64(tag);
    (0..512usize)
        .flat_map(|i| {
            let w = if (i as u64 % 32) * 100 < random_pct * 32 {
                base ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            } else {
                base.rotate_left(16 * (i as u32 % 4))
            };
            w.to_le_bytes()
        })
        .collect()
}

/// One compressor under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Lz4,
    RustyZstd,
    Ruzstd,
    Zstd(i32),
}

impl Alg {
    pub fn name(self) -> String {
        match self {
            Alg::Lz4 => "lz4 (lz4_flex, kernel)".into(),
            Alg::RustyZstd => "zstd -3 (rusty_zstd, kernel)".into(),
            Alg::Ruzstd => "zstd (ruzstd Fastest, not taken)".into(),
            Alg::Zstd(l) => format!("zstd -{l} (libzstd, reference)"),
        }
    }
}

/// Measured on one set of pages.
#[derive(Debug, Clone)]
pub struct Row {
    pub alg: Alg,
    /// Compressed bytes / page bytes, over the set.
    pub ratio: f64,
    pub compress_ns: f64,
    pub decompress_ns: f64,
}

fn fastest(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

/// Compresses and decompresses every page of `pages` with `alg`, checking
/// each round trip; errors name the page that failed.
pub fn measure(alg: Alg, pages: &[Vec<u8>]) -> Result<Row, String> {
    let mut zc = zstd::bulk::Compressor::new(if let Alg::Zstd(l) = alg { l } else { 3 })
        .map_err(|e| format!("libzstd: {e}"))?;
    let mut zd = zstd::bulk::Decompressor::new().map_err(|e| format!("libzstd: {e}"))?;
    let compress = |zc: &mut zstd::bulk::Compressor, p: &[u8]| -> Result<Vec<u8>, String> {
        Ok(match alg {
            Alg::Lz4 => lz4_flex::block::compress(p),
            Alg::Ruzstd => {
                ruzstd::encoding::compress_to_vec(p, ruzstd::encoding::CompressionLevel::Fastest)
            }
            Alg::RustyZstd => rusty_zstd::compress_with(
                p,
                rusty_zstd::CompressOptions {
                    level: 3,
                    checksum: false,
                },
            )
            .map_err(|e| format!("rusty_zstd: {e:?}"))?,
            Alg::Zstd(_) => zc.compress(p).map_err(|e| format!("libzstd: {e}"))?,
        })
    };
    let decompress = |zd: &mut zstd::bulk::Decompressor, c: &[u8]| -> Result<Vec<u8>, String> {
        match alg {
            Alg::Lz4 => lz4_flex::block::decompress(c, 4096).map_err(|e| e.to_string()),
            Alg::Ruzstd => {
                let mut out = vec![0u8; 4096];
                let n = ruzstd::decoding::FrameDecoder::new()
                    .decode_all(c, &mut out)
                    .map_err(|e| e.to_string())?;
                out.truncate(n);
                Ok(out)
            }
            Alg::RustyZstd => rusty_zstd::decompress(c).map_err(|e| format!("{e:?}")),
            Alg::Zstd(_) => zd.decompress(c, 4096).map_err(|e| e.to_string()),
        }
    };
    let mut compressed = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let c = compress(&mut zc, p)?;
        if decompress(&mut zd, &c)? != *p {
            return Err(format!("{}: page {i} did not round-trip", alg.name()));
        }
        compressed.push(c);
    }
    let total: usize = compressed.iter().map(|c| c.len().min(4096)).sum();
    let (mut cs, mut ds) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for p in pages {
            std::hint::black_box(compress(&mut zc, p)?);
        }
        cs.push(t.elapsed().as_nanos() as f64 / pages.len() as f64);
        let t = Instant::now();
        for c in &compressed {
            std::hint::black_box(decompress(&mut zd, c)?);
        }
        ds.push(t.elapsed().as_nanos() as f64 / pages.len() as f64);
    }
    Ok(Row {
        alg,
        ratio: total as f64 / (pages.len() * 4096) as f64,
        compress_ns: fastest(cs),
        decompress_ns: fastest(ds),
    })
}

/// The page sets: (name, random_pct) as the workloads write them.
pub const SETS: [(&str, u64); 3] = [
    ("input and heap (workload.random_pct=25, default)", 25),
    ("half random (random_pct=50)", 50),
    ("compile output (incompressible, 100)", 100),
];

pub const ALGS: [Alg; 5] = [
    Alg::Lz4,
    Alg::RustyZstd,
    Alg::Zstd(3),
    Alg::Zstd(1),
    Alg::Ruzstd,
];

/// Measures every compressor on every set.
pub fn run() -> Result<Vec<(&'static str, Vec<Row>)>, String> {
    SETS.iter()
        .map(|&(name, pct)| {
            let pages: Vec<Vec<u8>> = (0..PAGES as u64)
                .map(|t| workload_page(t * 7919 + 1, pct))
                .collect();
            let rows = ALGS
                .iter()
                .map(|&a| measure(a, &pages))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((name, rows))
        })
        .collect()
}

/// A Markdown table per set, with each cost relative to lz4's.
pub fn render(sets: &[(&str, Vec<Row>)]) -> String {
    let mut out = String::new();
    for (name, rows) in sets {
        let lz4 = &rows[0];
        out += &format!("\n{name}, {PAGES} pages, fastest of {ROUNDS} rounds:\n\n");
        out += "| compressor | size / page | compress ns/page | x lz4 | decompress ns/page | x lz4 |\n";
        out += "|---|---:|---:|---:|---:|---:|\n";
        for r in rows {
            out += &format!(
                "| {} | {:.1} % | {:.0} | {:.2} | {:.0} | {:.2} |\n",
                r.alg.name(),
                100.0 * r.ratio,
                r.compress_ns,
                r.compress_ns / lz4.compress_ns,
                r.decompress_ns,
                r.decompress_ns / lz4.decompress_ns,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_pages_compress_as_the_kernel_says() {
        // random_pct=25: about a quarter to a third of a page survives lz4
        // on average (one page's phrase may compress worse).
        let total: usize = (0..64)
            .map(|t| lz4_flex::block::compress(&workload_page(t * 7919 + 1, 25)).len())
            .sum();
        let avg = total / 64;
        assert!((900..1800).contains(&avg), "lz4 gave {avg} bytes a page");
        let p = workload_page(1, 100);
        assert!(lz4_flex::block::compress(&p).len() > 4096);
    }

    #[test]
    fn every_compressor_round_trips_the_workload_pages() {
        let pages: Vec<Vec<u8>> = (0..8).map(|t| workload_page(t, 25)).collect();
        for alg in ALGS {
            let r = measure(alg, &pages).unwrap();
            assert!(
                r.ratio > 0.1 && r.ratio < 0.5,
                "{}: {}",
                alg.name(),
                r.ratio
            );
        }
    }
}
