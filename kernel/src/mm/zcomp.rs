//! Page compression with lz4 (`lz4_flex`, block format), shared by zswap
//! and zram (Linux: the crypto acomp API for zswap, `zcomp` for zram).
//! Every call is timed with the TSC, so runs can report how many cycles
//! compression costs next to the fault path.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;

/// Output buffer for one 4 KiB page: what `lz4_flex` asks for (its bound
/// is looser than lz4's own n + n/255 + 16).
pub const MAX_COMPRESSED: usize = lz4_flex::block::get_maximum_output_size(4096);

static COMPRESS_CYCLES: AtomicU64 = AtomicU64::new(0);
static COMPRESS_CALLS: AtomicU64 = AtomicU64::new(0);
static DECOMPRESS_CYCLES: AtomicU64 = AtomicU64::new(0);
static DECOMPRESS_CALLS: AtomicU64 = AtomicU64::new(0);

/// Compresses `src` into `dst`; returns the compressed length.
pub fn compress(src: &[u8], dst: &mut [u8]) -> usize {
    let start = rdtsc();
    let n = lz4_flex::block::compress_into(src, dst).expect("lz4 output buffer too small");
    COMPRESS_CYCLES.fetch_add(rdtsc() - start, Ordering::Relaxed);
    COMPRESS_CALLS.fetch_add(1, Ordering::Relaxed);
    n
}

/// Compressed data that does not decompress to a whole page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorruptData;

/// Decompresses `src` into exactly `dst.len()` bytes. A short or corrupt
/// input is an error, never silently accepted.
pub fn decompress(src: &[u8], dst: &mut [u8]) -> Result<(), CorruptData> {
    let start = rdtsc();
    let r = lz4_flex::block::decompress_into(src, dst);
    DECOMPRESS_CYCLES.fetch_add(rdtsc() - start, Ordering::Relaxed);
    DECOMPRESS_CALLS.fetch_add(1, Ordering::Relaxed);
    match r {
        Ok(n) if n == dst.len() => Ok(()),
        _ => Err(CorruptData),
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

/// Median cycles to (compress, decompress) one copy of `page`, over 15
/// rounds, without touching the totals: the unit the latency model and
/// the reports use.
pub fn measure(page: &[u8]) -> (u64, u64) {
    let mut buf = [0u8; MAX_COMPRESSED];
    let mut out = [0u8; 4096];
    let mut c = [0u64; 15];
    let mut d = [0u64; 15];
    for i in 0..15 {
        let t0 = rdtsc();
        let n = lz4_flex::block::compress_into(page, &mut buf).expect("bound");
        let t1 = rdtsc();
        let _ = lz4_flex::block::decompress_into(&buf[..n], &mut out);
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

    fn round_trip(page: &[u8; 4096]) -> usize {
        let mut buf = [0u8; MAX_COMPRESSED];
        let n = compress(page, &mut buf);
        let mut out = [0u8; 4096];
        decompress(&buf[..n], &mut out).unwrap();
        assert!(out[..] == page[..], "round trip changed the page");
        n
    }

    #[test_case]
    fn round_trips_of_every_kind_of_page() {
        let zero = [0u8; 4096];
        assert!(round_trip(&zero) < 64, "zeros compress to almost nothing");
        let mut rep = [0u8; 4096];
        for (i, b) in rep.iter_mut().enumerate() {
            *b = b"faultline "[i % 10];
        }
        assert!(round_trip(&rep) < 128);
        let mut rnd = [0u8; 4096];
        let mut x = 0x1234_5678_9abc_def0u64;
        for b in rnd.iter_mut() {
            x = crate::workload::mix64(x);
            *b = x as u8;
        }
        assert!(round_trip(&rnd) > 4096, "random data does not compress");
    }

    #[test_case]
    fn corrupt_input_is_an_error() {
        let mut out = [0u8; 4096];
        assert!(decompress(&[0xff, 0xff, 0xff], &mut out).is_err());
    }
}
