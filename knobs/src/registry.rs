//! The registry: every boot-time knob, its type, default, valid values
//! and one line of help. Adding a knob means adding one entry here (and
//! reading it where it matters); the parser, the error messages and the
//! result report follow from this table.

use super::{KnobKind, KnobSpec, GIB, KIB};

include!(concat!(env!("OUT_DIR"), "/user_programs.rs"));

/// A knob that is off (`0`) or on (`1`).
const BOOL: KnobKind = KnobKind::Enum(&["0", "1"]);

/// Every knob the kernel understands.
pub static KNOBS: &[KnobSpec] = &[
    KnobSpec {
        name: "workload",
        kind: KnobKind::Enum(&["smoke", "thrash", "trace", "compile", "user", "usertests"]),
        default: "smoke",
        help: "what to run; user: the ring-3 program user.program (user/src/bin/NAME.rs), which may fork; usertests: every usertests program (user/src/bin/ut_*.rs), one after another, each a pass or a fail; smoke: touch workload.size bytes once, write and verify; thrash: workload.tasks address spaces access workload.size bytes in workload.pattern order, verifying every read; trace: replay the traces passed with faultline run --trace, one task each, workload.passes times; compile: workload.jobs slots (make -j) run workload.jobs x workload.passes compile-like jobs (read sources and headers, load, parse, optimize, codegen, debug info, write the object file, exit), then a link that reads every object back",
    },
    KnobSpec {
        name: "workload.size",
        kind: KnobKind::Size { min: 4 * KIB, max: 64 * GIB },
        default: "64M",
        help: "bytes of anonymous memory the workload touches (K/M/G suffix)",
    },
    KnobSpec {
        name: "workload.seed",
        kind: KnobKind::U64 { min: 0, max: u64::MAX },
        default: "1",
        help: "seed of the page patterns and of random access orders",
    },
    KnobSpec {
        name: "workload.tasks",
        kind: KnobKind::U64 { min: 1, max: 64 },
        default: "4",
        help: "thrash: number of tasks, each with its own address space and an equal share of workload.size",
    },
    KnobSpec {
        name: "workload.jobs",
        kind: KnobKind::U64 { min: 1, max: 64 },
        default: "16",
        help: "compile: parallel job slots, like make -jN (the seed built with -j16)",
    },
    KnobSpec {
        name: "workload.scale",
        kind: KnobKind::U64 { min: 1, max: 64 },
        default: "1",
        help: "compile: size of the build; a job's peak footprint is scale x 4 MiB (1 = lab scale mini, 20 = full, the seed's 768M/1G limits)",
    },
    KnobSpec {
        name: "workload.size_spread",
        kind: KnobKind::U64 { min: 0, max: 90 },
        default: "60",
        help: "compile: job footprints are drawn uniformly within +/- this percent of scale x 4 MiB (translation units differ)",
    },
    KnobSpec {
        name: "workload.function_pages",
        kind: KnobKind::U64 { min: 1, max: 512 },
        default: "4",
        help: "compile: codegen and debug info walk the IR one function at a time, runs of this many heap pages from random starts (the runs readahead likes)",
    },
    KnobSpec {
        name: "workload.optimize_rounds",
        kind: KnobKind::U64 { min: 0, max: 64 },
        default: "4",
        help: "compile: optimize makes this many pointer-chasing accesses per heap page (80% in the newest quarter, 30% writes): the scattered faults where readahead guesses wrong",
    },
    KnobSpec {
        name: "workload.zero_pct",
        kind: KnobKind::U64 { min: 0, max: 100 },
        default: "10",
        help: "compile: percent of heap pages that hold zero-filled structures (cleared tables, bitmaps); reclaim records them in the swap zero map, not in zswap (Linux reports 10-20% of swapped pages zero-filled)",
    },
    KnobSpec {
        name: "workload.headers",
        kind: KnobKind::U64 { min: 0, max: 100_000 },
        default: "32",
        help: "compile, with a files disk: headers each job reads through the page cache besides its source (files ending in .h are headers); a Linux 6.12 x86_64 mm/slub.o reads 663, so 32 at scale 1 (1/20 of the seed's build)",
    },
    KnobSpec {
        name: "workload.hot_headers",
        kind: KnobKind::U64 { min: 0, max: 100_000 },
        default: "5",
        help: "compile, with a files disk: of workload.headers, how many every job reads (the first in path order), the rest being drawn per job; 6.12's near-empty kernel/sys_ni.o still reads 106, the floor every file includes, so 5 at scale 1",
    },
    KnobSpec {
        name: "workload.pattern",
        kind: KnobKind::Enum(&["seq", "random", "stride", "hot", "runs"]),
        default: "seq",
        help: "thrash: access order; seq: sequential passes; random: uniform; stride: every workload.stride-th page (smoke too: it then touches only those); hot: 80% of accesses to a hot set of workload.hot_pct% of the pages; runs: sequential runs of about workload.run_pages pages from random starts",
    },
    KnobSpec {
        name: "workload.run_pages",
        kind: KnobKind::U64 { min: 1, max: 4096 },
        default: "16",
        help: "thrash, pattern runs: mean run length in pages (uniform in 1..=2x)",
    },
    KnobSpec {
        name: "workload.passes",
        kind: KnobKind::U64 { min: 1, max: 1000 },
        default: "3",
        help: "thrash: accesses per task = passes x the task's pages; trace: replays of each trace; compile: jobs each slot runs one after the other",
    },
    KnobSpec {
        name: "workload.trace_records",
        kind: KnobKind::U64 { min: 0, max: u64::MAX },
        default: "0",
        help: "trace: replay only the first N records of each trace in each pass (0 = all of them)",
    },
    KnobSpec {
        name: "workload.write_pct",
        kind: KnobKind::U64 { min: 0, max: 100 },
        default: "25",
        help: "thrash: percent of accesses to an already written page that write it again (the rest only read and verify)",
    },
    KnobSpec {
        name: "workload.stride",
        kind: KnobKind::U64 { min: 1, max: 4096 },
        default: "16",
        help: "thrash and smoke, pattern stride: distance in pages between consecutive accesses",
    },
    KnobSpec {
        name: "workload.hot_pct",
        kind: KnobKind::U64 { min: 1, max: 100 },
        default: "20",
        help: "thrash, pattern hot: size of the hot set in percent of each task's pages",
    },
    KnobSpec {
        name: "user.program",
        kind: KnobKind::Enum(USER_PROGRAMS),
        default: "hello",
        help: "workload=user: the program to run (user/src/bin/NAME.rs, embedded in the kernel)",
    },
    KnobSpec {
        name: "user.max_procs",
        kind: KnobKind::U64 { min: 1, max: 128 },
        default: "64",
        help: "user processes alive at once (Linux: the cgroup's pids.max); fork fails with EAGAIN beyond it",
    },
    KnobSpec {
        name: "memcg.max",
        kind: KnobKind::SizeOrMax { min: 1 << 20, max: 64 * GIB },
        default: "max",
        help: "memory limit of the workload's cgroup (Linux memory.max): over it, direct reclaim swaps pages out; max = no limit",
    },
    KnobSpec {
        name: "memcg.zswap_max",
        kind: KnobKind::SizeOrMax { min: 0, max: 64 * GIB },
        default: "max",
        help: "the cgroup's zswap limit (Linux memory.zswap.max), compared with its compressed bytes; a store over it first writes back one cold entry (shrink_memcg) and is rejected to the disk if that fails; max = no limit, 0 = no zswap",
    },
    KnobSpec {
        name: "memcg.zswap_writeback",
        kind: BOOL,
        default: "1",
        help: "Linux memory.zswap.writeback: 1 = pages may reach the swap device (zswap writeback, and pages zswap refused; incompressible pages are stored in zswap as-is, Linux 6.18); 0 = never: incompressible pages are rejected and, like anything zswap refuses, stay in RAM (reclaim activates them)",
    },
    KnobSpec {
        name: "vm.page_cluster",
        kind: KnobKind::U64 { min: 0, max: 31 },
        default: "3",
        help: "Linux vm.page-cluster: readahead window of at most 2^n pages (VMA mode caps it at 2^5); 0 disables readahead",
    },
    KnobSpec {
        name: "vm.reclaim_fifo",
        kind: BOOL,
        default: "0",
        help: "not in Linux: 1 = reclaim ignores the accessed bits and takes pages first in, first out (no second trip, no activation by reference): lab 3's reference policy, and its stand-in before lab 3",
    },
    KnobSpec {
        name: "vm.swappiness",
        kind: KnobKind::U64 { min: 0, max: 200 },
        default: "60",
        help: "Linux vm.swappiness (the memory cgroup's): how reclaim weighs anon against file pages; 100 = equal I/O cost, 0 = file pages only, 200 = anon as cheap as it gets",
    },
    KnobSpec {
        name: "swap.readahead",
        kind: KnobKind::Enum(&["vma", "cluster", "off"]),
        default: "vma",
        help: "swap readahead: vma = by virtual address (Linux default), cluster = by swap offset, off = the faulting page only",
    },
    KnobSpec {
        name: "workload.verify",
        kind: KnobKind::Enum(&["light", "full"]),
        default: "light",
        help: "trace: light: a write bumps a version in a 16-byte header at the start of the page (page identity, task, version), every read checks that header, and every page's full content is checked once the replay ends; full: every write fills the whole page and every read checks all of it (about 100x slower per record)",
    },
    KnobSpec {
        name: "workload.random_pct",
        kind: KnobKind::U64 { min: 1, max: 100 },
        default: "25",
        help: "page content: percent of each page's 64-bit words that are pseudo-random; the rest repeat a short phrase, so lz4 shrinks a page to roughly this percent",
    },
    KnobSpec {
        name: "zswap.enabled",
        kind: BOOL,
        default: "0",
        help: "compress reclaimed pages into a RAM pool (zswap.compressor) before any disk write; swap-in decompresses (Linux zswap)",
    },
    KnobSpec {
        name: "zswap.compressor",
        kind: KnobKind::Enum(&["lz4", "zstd"]),
        default: "lz4",
        help: "zswap's compressor (Linux /sys/module/zswap/parameters/compressor); the seed ran zstd; zram always uses lz4",
    },
    KnobSpec {
        name: "zswap.max_pool_percent",
        kind: KnobKind::U64 { min: 1, max: 100 },
        default: "20",
        help: "zswap pool limit in percent of the RAM the kernel manages; when reached, stores are rejected and the oldest entries are written back to disk",
    },
    KnobSpec {
        name: "zswap.accept_threshold_percent",
        kind: KnobKind::U64 { min: 1, max: 100 },
        default: "90",
        help: "after hitting the limit, zswap accepts pages again once the pool is below this percent of the limit",
    },
    KnobSpec {
        name: "zswap.shrinker",
        kind: BOOL,
        default: "0",
        help: "proactive writeback of cold zswap entries to disk during reclaim (Linux zswap shrinker; the seed ran with it off)",
    },
    KnobSpec {
        name: "run.budget_mcycles",
        kind: KnobKind::U64 { min: 0, max: 1_000_000_000 },
        default: "0",
        help: "end the run with a report (exit status 4) when its measured phase passes this many million cycles of the run's clock: guest instructions under --deterministic, so the same limit on every machine (0: no budget; labs set it per scale with budget_mcycles)",
    },
    KnobSpec {
        name: "timeline.interval_mcycles",
        kind: KnobKind::U64 { min: 0, max: 1_000_000 },
        default: "0",
        help: "sample the counters (vmstat, memcg usage, zswap pool, swap slots in use, run-queue length) every this many million cycles of the run's clock during the measured phase, for faultline run --timeline (0: off; at most 512 samples, the interval doubles when they would be more)",
    },
    KnobSpec {
        name: "sched.deterministic",
        kind: BOOL,
        default: "0",
        help: "no interrupts: time slices by the clock, the disk polled; with QEMU -icount (faultline run --deterministic, the lab) runs are reproducible",
    },
    KnobSpec {
        name: "swap.zswap_bypass",
        kind: BOOL,
        default: "0",
        help: "the seed's patch: a fault whose entry is in zswap swaps in synchronously with no readahead",
    },
    KnobSpec {
        name: "swap.ra_skip_zswap",
        kind: BOOL,
        default: "0",
        help: "keep readahead, but skip window slots that live in zswap, so disk-backed neighbours are still prefetched",
    },
    KnobSpec {
        name: "swap.map_around",
        kind: KnobKind::Enum(&["off", "cached", "zswap-sync", "io-complete"]),
        default: "off",
        help: "map readahead neighbours without their own fault; cached: the seed's PoC (neighbours already uptodate in the swap cache, 2^page_cluster window); zswap-sync: neighbours this fault loaded from zswap; io-complete: also disk neighbours, when their read completes",
    },
    KnobSpec {
        name: "swap.map_around_old",
        kind: BOOL,
        default: "0",
        help: "1: map-around maps neighbours with the accessed bit clear, so unused ones age out and show up as swap_map_around_wasted; 0 (the PoC): young, as mk_pte(page, vma->vm_page_prot) is on x86",
    },
    KnobSpec {
        name: "swap.map_around_skip_writeback",
        kind: BOOL,
        default: "0",
        help: "1: map-around skips neighbours under writeback; 0 (the PoC): maps them, read-only only on a SWP_STABLE_WRITES device (ours is not)",
    },
    KnobSpec {
        name: "swap.device",
        kind: KnobKind::Enum(&["virtio", "zram"]),
        default: "virtio",
        help: "swap device: the virtio-blk disk, or zram, an in-RAM lz4 device with synchronous I/O (no readahead, slot freed at swap-in)",
    },
    KnobSpec {
        name: "zram.disksize",
        kind: KnobKind::Size { min: 1 << 20, max: 64 * GIB },
        default: "1G",
        help: "swap.device=zram: size of the zram device (slots = disksize / 4K); memory is used only for stored pages",
    },
    KnobSpec {
        name: "swapdev.profile",
        kind: KnobKind::Enum(&["none", "nvme", "sata", "hdd"]),
        default: "nvme",
        help: "latency model of the virtio swap disk, in units of one lz4 page decompress measured at boot: nvme = 50 read / 20 write, sata = 150 / 80, hdd = 5000 / 5000 (one at a time), none = as fast as QEMU",
    },
    KnobSpec {
        name: "swapdev.read_latency_us",
        kind: KnobKind::U64 { min: 0, max: 1_000_000 },
        default: "0",
        help: "override the profile's read latency (1 us = one lz4 page decompress, about 1 us on hardware); 0 = use the profile",
    },
    KnobSpec {
        name: "swapdev.write_latency_us",
        kind: KnobKind::U64 { min: 0, max: 1_000_000 },
        default: "0",
        help: "override the profile's write latency, like swapdev.read_latency_us; 0 = use the profile",
    },
    KnobSpec {
        name: "swapdev.timeout_ms",
        kind: KnobKind::U64 { min: 10, max: 3_600_000 },
        default: "30000",
        help: "end the run with a report when the swap disk keeps a request this long in host time (a hung device; faultline run --fault hang); Linux waits forever, its hung-task watchdog warns after 120 s",
    },
];
