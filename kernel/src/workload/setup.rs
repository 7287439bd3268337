//! Before a workload runs: apply the mm knobs (memory limit, readahead and
//! zswap policy, swap device, latency model), turn swap on, check that the
//! machine has the memory the run needs, and measure the cost units the
//! report uses.

use alloc::format;

use super::{fill_page_pct, WorkloadError};
use crate::drivers::virtio::blk::DeviceLatency;
use crate::knobs::Config;
use crate::mm::fault_latency::FaultLatency;
use crate::mm::map_around::MapAroundMode;
use crate::mm::state::{with_mm_state, SwapPolicy};
use crate::mm::swap_state::ReadaheadMode;
use crate::mm::swapfile::{self, DeviceChoice, SwapDevice};
use crate::mm::zcomp::Compressor;
use crate::mm::zswap::page_bytes;
use crate::mm::{page_alloc, vmstat, zcomp, PAGE_SIZE};

/// Frames kept free for page tables and kernel metadata beyond the
/// memory cgroup's limit.
const RESERVE_PAGES: u64 = 2048;

/// Words that are random in the calibration page: a fixed, typical page,
/// so the cost unit does not move with `workload.random_pct`.
const CALIBRATION_RANDOM_PCT: u64 = 25;

/// Cost units measured in the same run: absolute cycles under TCG depend
/// on the host, ratios to these do much less.
#[derive(Debug, Clone, Copy, Default)]
pub struct Calibration {
    /// Cycles to copy one 4 KiB page.
    pub page_copy_cycles: u64,
    /// Median cycles to lz4-compress / decompress one typical page.
    pub lz4_compress_cycles: u64,
    pub lz4_decompress_cycles: u64,
    /// The same for our zstd as it really runs (before the cost model).
    pub zstd_measured_compress_cycles: u64,
    pub zstd_measured_decompress_cycles: u64,
    /// zstd's cost model: cycles charged per measured cycle, in 1/1024ths.
    pub zstd_compress_scale: u64,
    pub zstd_decompress_scale: u64,
    /// The latency model in force, in cycles.
    pub device_read_cycles: u64,
    pub device_write_cycles: u64,
    /// ... and whether the device serves one request at a time.
    pub device_is_serial: bool,
}

impl Calibration {
    /// The latency model of the swap disk, which the files disk shares:
    /// `swapdev.profile` describes the machine's one storage device (the
    /// seed's build read its tree from the disk it swapped to).
    pub fn device_latency(&self) -> DeviceLatency {
        DeviceLatency {
            read_cycles: self.device_read_cycles,
            write_cycles: self.device_write_cycles,
            is_serial: self.device_is_serial,
        }
    }
}

/// `swapdev.profile` in units of one lz4 page decompress (about 1 us on
/// hardware): (read, write, one-at-a-time). NVMe QD1 reads take 20-70 us,
/// SATA SSDs 100-200 us, disks 5-10 ms (the reference's anchor table).
fn profile_units(profile: &str) -> (u64, u64, bool) {
    match profile {
        "nvme" => (50, 20, false),
        "sata" => (150, 80, false),
        "hdd" => (5000, 5000, true),
        _ => (0, 0, false),
    }
}

/// Measures (compress, decompress) cycles on a typical page with lz4 and
/// with zstd (the latter as our zstd really costs, before the model's
/// scale: see `zcomp::calibrate_zstd_cost`).
fn measure_compressors() -> [(u64, u64); 2] {
    let Ok(pa) = page_alloc::alloc_page() else {
        return [(0, 0); 2];
    };
    // SAFETY: the frame was just allocated for us; the direct map maps it.
    unsafe { fill_page_pct(crate::mm::phys_to_virt(pa), 0xca1b, CALIBRATION_RANDOM_PCT) };
    // SAFETY: the frame was just allocated for us.
    let page = unsafe { page_bytes(pa) };
    let costs = [
        zcomp::measure(Compressor::Lz4, page),
        zcomp::measure(Compressor::Zstd, page),
    ];
    page_alloc::free_page(pa);
    costs
}

fn policy_of(config: &Config) -> SwapPolicy {
    let readahead = match config.word("swap.readahead") {
        "vma" => ReadaheadMode::Vma,
        "cluster" => ReadaheadMode::Cluster,
        _ => ReadaheadMode::Off,
    };
    SwapPolicy {
        readahead,
        page_cluster: config.number("vm.page_cluster") as u32,
        zswap_bypass: config.flag("swap.zswap_bypass"),
        ra_skip_zswap: config.flag("swap.ra_skip_zswap"),
        map_around: match config.word("swap.map_around") {
            "cached" => MapAroundMode::Cached,
            "zswap-sync" => MapAroundMode::ZswapSync,
            "io-complete" => MapAroundMode::IoComplete,
            _ => MapAroundMode::Off,
        },
        map_around_old: config.flag("swap.map_around_old"),
        map_around_skip_writeback: config.flag("swap.map_around_skip_writeback"),
        reclaim_fifo: config.flag("vm.reclaim_fifo"),
    }
}

/// Checks that RAM can hold the cgroup's limit (or, with no limit, the
/// whole footprint): only the cgroup reclaims.
fn check_memory(config: &Config, max_pages: u64) -> Result<(), WorkloadError> {
    let footprint = config.number("workload.size").div_ceil(PAGE_SIZE);
    let needed = footprint.min(max_pages) + RESERVE_PAGES;
    let free = page_alloc::nr_free_pages() as u64;
    if needed <= free {
        return Ok(());
    }
    let what = if max_pages == u64::MAX {
        "workload.size"
    } else {
        "memcg.max"
    };
    Err(WorkloadError::input(format!(
        "{what} needs {needed} pages (with {RESERVE_PAGES} for the kernel) but only {free} are free; \
         lower it or give the machine more memory (--mem)"
    )))
}

/// Applies every mm knob and turns swap on. Returns the cost units.
pub fn setup_mm(config: &Config) -> Result<Calibration, WorkloadError> {
    let max = config.number("memcg.max");
    let max_pages = if max == u64::MAX {
        u64::MAX
    } else {
        max / PAGE_SIZE
    };
    check_memory(config, max_pages)?;
    super::set_random_pct(config.number("workload.random_pct"));
    if config.flag("sched.deterministic") {
        crate::sched::set_deterministic();
    }
    let choice = match config.word("swap.device") {
        "zram" => DeviceChoice::Zram {
            disksize: config.number("zram.disksize"),
        },
        _ => DeviceChoice::Virtio,
    };
    let swap = swapfile::swapon(choice);
    let [(lz4_compress_cycles, lz4_decompress_cycles), zstd] = measure_compressors();
    let (zstd_compress_scale, zstd_decompress_scale) =
        zcomp::calibrate_zstd_cost((lz4_compress_cycles, lz4_decompress_cycles), zstd);
    let (read_units, write_units, is_serial) = profile_units(config.word("swapdev.profile"));
    let read_units = Some(config.number("swapdev.read_latency_us"))
        .filter(|&v| v > 0)
        .unwrap_or(read_units);
    let write_units = Some(config.number("swapdev.write_latency_us"))
        .filter(|&v| v > 0)
        .unwrap_or(write_units);
    let latency = DeviceLatency {
        read_cycles: read_units * lz4_decompress_cycles,
        write_cycles: write_units * lz4_decompress_cycles,
        is_serial,
    };
    let total_pages = page_alloc::totalram_pages() as u64;
    with_mm_state(|st| {
        st.memcg.max_pages = max_pages;
        st.memcg.peak_pages = st.memcg.usage_pages;
        let zswap_max = config.number("memcg.zswap_max");
        st.memcg.zswap_max_pages = if zswap_max == u64::MAX {
            u64::MAX
        } else {
            zswap_max / PAGE_SIZE
        };
        st.memcg.zswap_writeback = config.flag("memcg.zswap_writeback");
        st.policy = policy_of(config);
        st.swappiness = config.number("vm.swappiness");
        st.latency = FaultLatency::new();
        if let Some(swap) = st.swap.as_mut() {
            let z = &mut swap.zswap;
            z.enabled = config.flag("zswap.enabled");
            z.shrinker_enabled = config.flag("zswap.shrinker");
            z.compressor = match config.word("zswap.compressor") {
                "zstd" => Compressor::Zstd,
                _ => Compressor::Lz4,
            };
            z.max_pool_pages = total_pages * config.number("zswap.max_pool_percent") / 100;
            z.accept_thr_pages =
                z.max_pool_pages * config.number("zswap.accept_threshold_percent") / 100;
            z.stats = Default::default();
            swap.reset_stats();
            if let SwapDevice::Virtio(b) = swap.device() {
                b.set_latency(latency);
                b.set_timeout_ms(config.number("swapdev.timeout_ms"));
            }
        }
    });
    match swap {
        Ok(slots) => crate::println!(
            "swap: {}, {slots} slots of 4 KiB",
            config.word("swap.device")
        ),
        Err(e) => crate::println!("swap: none ({e:?}); pages over memcg.max cannot be reclaimed"),
    }
    vmstat::reset();
    zcomp::reset_totals();
    crate::mm::timeline::start(config.number("timeline.interval_mcycles"));
    crate::sched::budget::start(
        crate::sched::clock::sched_clock(),
        config.number("run.budget_mcycles"),
    );
    Ok(Calibration {
        page_copy_cycles: super::measure_page_copy_cycles(),
        lz4_compress_cycles,
        lz4_decompress_cycles,
        zstd_measured_compress_cycles: zstd.0,
        zstd_measured_decompress_cycles: zstd.1,
        zstd_compress_scale,
        zstd_decompress_scale,
        device_read_cycles: latency.read_cycles,
        device_write_cycles: latency.write_cycles,
        device_is_serial: latency.is_serial,
    })
}
