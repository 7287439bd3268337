//! Page compression, shared by zswap and zram (Linux: the crypto acomp API
//! for zswap, `zcomp` for zram). Two compressors, as `zswap.compressor`
//! chooses (Linux's `zswap.compressor` module parameter):
//! - lz4 (`lz4_flex`, block format), Linux's `lz4` at its default level;
//! - zstd (`rusty_zstd`, a pure-Rust zstd, no_std + alloc), which the seed
//!   ran: one frame per page at level 3 without checksum, as Linux's crypto
//!   `zstd` compresses (`ZSTD_DEF_LEVEL`, libzstd's default flags).
//!   ruzstd, the longer-lived pure-Rust zstd, was measured first and not
//!   taken: its encoder has only a level-1-like mode and costs about 12x
//!   libzstd per page (README, "Compressors").
//!
//! **zstd's cost is modelled.** rusty_zstd costs about 2.7x (compress) and
//! 2x (decompress) what libzstd does on the workloads' pages, so its own
//! cycles would make zstd look too dear next to lz4. Each zstd call runs
//! in a stolen section (`sched::clock::stolen`: not counted) and charges
//! (`sched::clock::charge`) its measured cycles times a scale set at boot
//! by [`calibrate_zstd_cost`], so that zstd costs [`REF_ZSTD_COMPRESS_X_LZ4`]
//! and [`REF_ZSTD_DECOMPRESS_X_LZ4`] times lz4 on the calibration page, the
//! ratios `faultline bench compressors` measured between libzstd level 3
//! and lz4_flex on the same pages. Parameters of the *compressor*, taken
//! from the reference library, never from the seed's results.
//!
//! zram always uses lz4 here. Every call is timed, so runs can report how
//! many cycles compression costs next to the fault path.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;
use crate::sched::clock::{charge, stolen};

/// Output buffer for one 4 KiB page: what `lz4_flex` asks for (its bound
/// is looser than lz4's own n + n/255 + 16).
pub const MAX_COMPRESSED: usize = lz4_flex::block::get_maximum_output_size(4096);

static COMPRESS_CYCLES: AtomicU64 = AtomicU64::new(0);
static COMPRESS_CALLS: AtomicU64 = AtomicU64::new(0);
static DECOMPRESS_CYCLES: AtomicU64 = AtomicU64::new(0);
static DECOMPRESS_CALLS: AtomicU64 = AtomicU64::new(0);

/// libzstd level 3 : lz4_flex, cycles per page to compress, on the
/// workloads' default pages (`workload.random_pct=25`), measured on the
/// host by `faultline bench compressors` (README, "Compressors").
pub const REF_ZSTD_COMPRESS_X_LZ4: f64 = 3.3;
/// The same ratio for decompression.
pub const REF_ZSTD_DECOMPRESS_X_LZ4: f64 = 2.5;

/// Charged cycles per measured cycle of our zstd, in 1/1024ths
/// (1024 = charge what it took), for compression and decompression.
static ZSTD_COMPRESS_SCALE: AtomicU64 = AtomicU64::new(1024);
static ZSTD_DECOMPRESS_SCALE: AtomicU64 = AtomicU64::new(1024);

/// Sets the zstd cost scales from one page's measured (compress,
/// decompress) cycles with lz4 and with our zstd: zstd is then charged the
/// reference ratio times lz4's cost. Returns the scales (in 1/1024ths).
pub fn calibrate_zstd_cost(lz4: (u64, u64), zstd: (u64, u64)) -> (u64, u64) {
    let scale = |lz4: u64, zstd: u64, x: f64| {
        if zstd == 0 {
            1024
        } else {
            (x * lz4 as f64 * 1024.0 / zstd as f64) as u64
        }
    };
    let c = scale(lz4.0, zstd.0, REF_ZSTD_COMPRESS_X_LZ4);
    let d = scale(lz4.1, zstd.1, REF_ZSTD_DECOMPRESS_X_LZ4);
    ZSTD_COMPRESS_SCALE.store(c, Ordering::Relaxed);
    ZSTD_DECOMPRESS_SCALE.store(d, Ordering::Relaxed);
    (c, d)
}

/// Runs `f` (our zstd) without counting its cycles, and charges them times
/// `scale`/1024 instead. Returns what `f` returned and the cycles charged.
fn modelled<R>(scale: &AtomicU64, f: impl FnOnce() -> R) -> (R, u64) {
    let t0 = rdtsc();
    let r = stolen(f);
    let cycles = (rdtsc() - t0) * scale.load(Ordering::Relaxed) / 1024;
    charge(cycles);
    (r, cycles)
}

/// Runs one compression or decompression with `alg`; returns the result
/// and the cycles the clock counted for it.
fn timed<R>(alg: Compressor, scale: &AtomicU64, f: impl FnOnce() -> R) -> (R, u64) {
    match alg {
        Compressor::Lz4 => {
            let t0 = rdtsc();
            let r = f();
            (r, rdtsc() - t0)
        }
        Compressor::Zstd => modelled(scale, f),
    }
}

/// Linux's zstd level for zswap: `ZSTD_DEF_LEVEL` in crypto/zstd.c.
pub const ZSTD_LEVEL: i32 = 3;

/// Which algorithm compresses zswap pages (`zswap.compressor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressor {
    Lz4,
    Zstd,
}

impl Compressor {
    /// The name Linux gives it (`/sys/module/zswap/parameters/compressor`).
    pub fn name(self) -> &'static str {
        match self {
            Compressor::Lz4 => "lz4",
            Compressor::Zstd => "zstd",
        }
    }
}

/// Compresses `src` into `dst` with lz4; returns the compressed length.
pub fn compress(src: &[u8], dst: &mut [u8]) -> usize {
    compress_with(Compressor::Lz4, src, dst)
}

/// Compresses `src` with `alg` into `dst`; returns the compressed length.
/// A result that does not fit `dst` returns a length over `src.len()`
/// with `dst` unspecified: the caller treats the page as incompressible,
/// as Linux's `zswap_compress` does when the output exceeds a page.
pub fn compress_with(alg: Compressor, src: &[u8], dst: &mut [u8]) -> usize {
    let (n, cycles) = timed(alg, &ZSTD_COMPRESS_SCALE, || raw_compress(alg, src, dst));
    COMPRESS_CYCLES.fetch_add(cycles, Ordering::Relaxed);
    COMPRESS_CALLS.fetch_add(1, Ordering::Relaxed);
    n
}

fn raw_compress(alg: Compressor, src: &[u8], dst: &mut [u8]) -> usize {
    match alg {
        Compressor::Lz4 => {
            lz4_flex::block::compress_into(src, dst).expect("lz4 output buffer too small")
        }
        Compressor::Zstd => {
            let opts = rusty_zstd::CompressOptions {
                level: ZSTD_LEVEL,
                checksum: false, // libzstd's default, as Linux's crypto zstd
            };
            let out = rusty_zstd::compress_with(src, opts).expect("zstd of one page");
            if out.len() <= dst.len() {
                dst[..out.len()].copy_from_slice(&out);
                out.len()
            } else {
                src.len() + 1
            }
        }
    }
}

/// Compressed data that does not decompress to a whole page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptData;

/// Decompresses `src` into exactly `dst.len()` bytes. A short or corrupt
/// input is an error, never silently accepted.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> Result<(), CorruptData> {
    decompress_with(Compressor::Lz4, src, dst)
}

/// [`decompress`] for data compressed by `alg`.
pub fn decompress_with(alg: Compressor, src: &[u8], dst: &mut [u8]) -> Result<(), CorruptData> {
    let (r, cycles) = timed(alg, &ZSTD_DECOMPRESS_SCALE, || {
        raw_decompress(alg, src, dst)
    });
    DECOMPRESS_CYCLES.fetch_add(cycles, Ordering::Relaxed);
    DECOMPRESS_CALLS.fetch_add(1, Ordering::Relaxed);
    match r {
        Some(n) if n == dst.len() => Ok(()),
        _ => Err(CorruptData),
    }
}

fn raw_decompress(alg: Compressor, src: &[u8], dst: &mut [u8]) -> Option<usize> {
    match alg {
        Compressor::Lz4 => lz4_flex::block::decompress_into(src, dst).ok(),
        Compressor::Zstd => {
            // Never more than a page, whatever a (corrupt) header claims.
            let opts = rusty_zstd::DecompressOptions::default();
            let out = rusty_zstd::decompress_with_limit(src, opts, dst.len()).ok()?;
            let n = out.len().min(dst.len());
            dst[..n].copy_from_slice(&out[..n]);
            Some(out.len())
        }
    }
}

/// (cycles, calls) spent compressing and decompressing since the reset.
pub fn totals() -> [(u64, u64); 2] {
    [
        (
            COMPRESS_CYCLES.load(Ordering::Relaxed),
            COMPRESS_CALLS.load(Ordering::Relaxed),
        ),
        (
            DECOMPRESS_CYCLES.load(Ordering::Relaxed),
            DECOMPRESS_CALLS.load(Ordering::Relaxed),
        ),
    ]
}

/// Zeroes the totals (at the start of a workload).
pub fn reset_totals() {
    for c in [
        &COMPRESS_CYCLES,
        &COMPRESS_CALLS,
        &DECOMPRESS_CYCLES,
        &DECOMPRESS_CALLS,
    ] {
        c.store(0, Ordering::Relaxed);
    }
}

/// Median cycles to (compress, decompress) one copy of `page` with `alg`,
/// over 15 rounds, without touching the totals: the unit the latency model
/// and the reports use.
pub fn measure(alg: Compressor, page: &[u8]) -> (u64, u64) {
    let mut buf = [0u8; MAX_COMPRESSED];
    let mut out = [0u8; 4096];
    let mut c = [0u64; 15];
    let mut d = [0u64; 15];
    for i in 0..15 {
        let t0 = rdtsc();
        let n = raw_compress(alg, page, &mut buf).min(buf.len());
        let t1 = rdtsc();
        let _ = raw_decompress(alg, &buf[..n], &mut out);
        let t2 = rdtsc();
        c[i] = t1 - t0;
        d[i] = t2 - t1;
    }
    c.sort_unstable();
    d.sort_unstable();
    (c[7], d[7])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compresses and decompresses `page`; returns the compressed length
    /// (over 4096 for a page that does not compress).
    fn round_trip(alg: Compressor, page: &[u8; 4096]) -> usize {
        let mut buf = [0u8; MAX_COMPRESSED];
        let n = compress_with(alg, page, &mut buf);
        if n > 4096 {
            return n;
        }
        let mut out = [0u8; 4096];
        decompress_with(alg, &buf[..n], &mut out).unwrap();
        assert!(out[..] == page[..], "round trip changed the page");
        n
    }

    fn random_page() -> [u8; 4096] {
        let mut rnd = [0u8; 4096];
        let mut x = 0x1234_5678_9abc_def0u64;
        for b in rnd.iter_mut() {
            x = crate::workload::mix64(x);
            *b = x as u8;
        }
        rnd
    }

    fn round_trips_of_every_kind_of_page(alg: Compressor) {
        let zero = [0u8; 4096];
        assert!(
            round_trip(alg, &zero) < 64,
            "zeros compress to almost nothing"
        );
        let mut rep = [0u8; 4096];
        for (i, b) in rep.iter_mut().enumerate() {
            *b = b"faultline "[i % 10];
        }
        assert!(round_trip(alg, &rep) < 128);
        // Half random, half a repeated phrase: compresses to about half.
        let mut half = random_page();
        half[2048..].copy_from_slice(&rep[..2048]);
        let n = round_trip(alg, &half);
        assert!((2048..3072).contains(&n), "half-random page gave {n} bytes");
        assert!(
            round_trip(alg, &random_page()) > 4096,
            "random data does not compress"
        );
    }

    #[test_case]
    fn lz4_round_trips_of_every_kind_of_page() {
        round_trips_of_every_kind_of_page(Compressor::Lz4);
    }

    #[test_case]
    fn zstd_round_trips_of_every_kind_of_page() {
        round_trips_of_every_kind_of_page(Compressor::Zstd);
    }

    #[test_case]
    fn corrupt_input_is_an_error() {
        let mut out = [0u8; 4096];
        assert!(decompress(&[0xff, 0xff, 0xff], &mut out).is_err());
        assert!(
            decompress_with(Compressor::Zstd, &[0x28, 0xb5, 0x2f, 0xfd, 0xff], &mut out).is_err()
        );
        // A valid zstd frame of the wrong length is corrupt for a page.
        let mut buf = [0u8; MAX_COMPRESSED];
        let n = compress_with(Compressor::Zstd, &[7u8; 100], &mut buf);
        assert!(decompress_with(Compressor::Zstd, &buf[..n], &mut out).is_err());
    }
}
