//! Fault latency in TSC cycles, per kind of fault, as log-linear
//! histograms (8 sub-buckets per power of two: percentiles within ~6 %).
//! Not a Linux counter: Linux users get this from perf or bpftrace.

/// Kinds of faults we time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum FaultKind {
    /// `do_swap_page` that had to read the page (a major fault).
    Major,
    /// The subset of `Major` whose page came from zswap.
    MajorZswap,
    /// `do_swap_page` served from the swap cache (minor).
    SwapcacheHit,
    /// `do_anonymous_page` (demand zero).
    Anon,
}

pub const FAULT_KIND_NAMES: [&str; 4] = ["major", "major_zswap", "swapcache_hit", "anon"];

const SUB_BITS: u32 = 3;
const NR_BUCKETS: usize = 64 << SUB_BITS;

/// One histogram.
#[derive(Clone)]
pub struct Histogram {
    buckets: [u32; NR_BUCKETS],
    count: u64,
    sum: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < (1 << SUB_BITS) {
        return v as usize;
    }
    let log = 63 - v.leading_zeros();
    let sub = (v >> (log - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    (((log - SUB_BITS + 1) << SUB_BITS) as u64 + sub) as usize
}

/// The smallest value that falls in bucket `b` (for reporting).
fn bucket_floor(b: usize) -> u64 {
    if b < (1 << SUB_BITS) {
        return b as u64;
    }
    let log = (b >> SUB_BITS) as u32 + SUB_BITS - 1;
    let sub = (b & ((1 << SUB_BITS) - 1)) as u64;
    (1u64 << log) | (sub << (log - SUB_BITS))
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [0; NR_BUCKETS],
            count: 0,
            sum: 0,
        }
    }

    pub fn record(&mut self, v: u64) {
        self.buckets[bucket_of(v)] += 1;
        self.count += 1;
        self.sum += v;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> u64 {
        self.sum.checked_div(self.count).unwrap_or(0)
    }

    /// The value below which `pct` percent of samples fall (bucket floor).
    pub fn percentile(&self, pct: u64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = (self.count * pct).div_ceil(100).max(1);
        let mut seen = 0;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n as u64;
            if seen >= rank {
                return bucket_floor(b);
            }
        }
        unreachable!("rank within count")
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// One histogram per [`FaultKind`].
#[derive(Clone, Default)]
pub struct FaultLatency {
    pub kinds: [Histogram; 4],
}

impl FaultLatency {
    pub fn new() -> FaultLatency {
        FaultLatency::default()
    }

    pub fn record(&mut self, kind: FaultKind, cycles: u64) {
        self.kinds[kind as usize].record(cycles);
        if kind == FaultKind::MajorZswap {
            self.kinds[FaultKind::Major as usize].record(cycles);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1000,
            123_456,
            u32::MAX as u64,
        ] {
            let b = bucket_of(v);
            assert!(b >= last);
            last = b;
            let floor = bucket_floor(b);
            assert!(floor <= v && v - floor <= v / 8 + 1, "v={v} floor={floor}");
        }
    }

    #[test_case]
    fn percentiles() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 100);
        }
        assert_eq!(h.mean(), 50_050);
        let p50 = h.percentile(50);
        assert!((46_000..=50_000).contains(&p50), "{p50}");
        let p99 = h.percentile(99);
        assert!((92_000..=99_000).contains(&p99), "{p99}");
    }
}
