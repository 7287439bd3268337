//! The `faultline` command line (clap derive): every subcommand, its
//! options and its help. `src/main.rs` carries the commands out.
//!
//! `--set key=value` is checked against the knob registry (the `knobs`
//! crate the kernel parses with) as clap parses it, so a typo is refused
//! in milliseconds, before anything is built or booted.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run the faultline kernel under QEMU and show its swap counters.
#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "Run the faultline teaching kernel under QEMU: the Linux swap-in fault path, its counters and experiments",
    long_about = "Run the faultline teaching kernel under QEMU: the Linux swap-in fault path, its counters and experiments.\n\n\
./run-qemu.sh with no arguments runs `faultline lab seed --scale mini`: the seed thread's table from our own runs.\n\
The serial log goes to stderr, results to stdout.",
    after_help = crate::exit::HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot the kernel once with the given knobs and print its result
    #[command(after_help = crate::exit::HELP)]
    Run(RunArgs),
    /// Run an experiment (memory limits x policies x repetitions) and print seed-shaped tables; `lab list` lists them
    #[command(after_help = LAB_HELP)]
    Lab(LabArgs),
    /// Measure the fault path's cost (fault costs, zswap, trace replay speed, compressors)
    Bench(BenchArgs),
    /// Page traces: import a valgrind lackey log
    Trace(TraceArgs),
    /// Make an ext2 image (4 KiB blocks, mke2fs -d) of a directory, for --files
    Image(ImageArgs),
    /// List every boot-time knob: name, type, default, valid values, help
    Knobs(KnobsArgs),
    /// The fault matrix: 88 runs with QEMU blkdebug under the swap disk, each checked against Linux's behaviour
    Fault(FaultArgs),
    /// Run workloads under injected swap faults for N minutes, checking every run
    Soak(SoakArgs),
    /// OS-course labs: make a student tree of a lab, or check every lab (teachers)
    Course(CourseArgs),
    /// Grade a lab in this tree: build its tests, boot them deterministically, print points and `Score: N/M`
    Grade(GradeArgs),
    /// Print a shell completion script (e.g. `faultline completions bash > /etc/bash_completion.d/faultline`)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// A `--set key=value`, checked against the knob registry on its own (the
/// combination is checked again once all are known).
fn knob(text: &str) -> Result<String, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "expected key=value, got '{text}' (faultline knobs lists the keys)"
        ));
    };
    // One knob per --set: the kernel's parser also splits on ';' and
    // newlines, which would let one --set carry several.
    if text.contains([';', '\n', '\r']) {
        return Err(format!("one key=value per --set, got '{text}'"));
    }
    let canonical = format!("{}={}", key.trim(), value.trim());
    knobs::Config::parse(&canonical).map_err(|e| e.to_string())?;
    Ok(canonical)
}

/// A size such as 512M: at least `min` bytes, or 0 when `zero_ok`.
fn size_at_least(text: &str, min: u64, zero_ok: bool) -> Result<u64, String> {
    let bytes = crate::parse_size(text)
        .ok_or_else(|| format!("expected a size like 512M or 1G, got '{text}'"))?;
    if (bytes == 0 && zero_ok) || bytes >= min {
        Ok(bytes)
    } else if zero_ok {
        Err(format!(
            "expected 0 or a size of at least {}",
            crate::result::human_size(min)
        ))
    } else {
        Err(format!(
            "expected a size of at least {}",
            crate::result::human_size(min)
        ))
    }
}

fn guest_ram(text: &str) -> Result<u64, String> {
    size_at_least(text, 64 << 20, false)
}

fn disk(text: &str) -> Result<u64, String> {
    size_at_least(text, 1 << 20, true)
}

fn lab_swap(text: &str) -> Result<u64, String> {
    size_at_least(text, 1 << 20, false)
}

fn positive(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a whole number above 0, got '{text}'"))
}

fn fault_spec(text: &str) -> Result<crate::fault::Fault, String> {
    crate::fault::Fault::parse(text)
}

/// The number of CPUs, the default of every `--jobs`.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Knobs, shared by every command that boots.
#[derive(Debug, Args, Clone, Default)]
pub struct KnobArgs {
    /// A boot-time knob (repeatable; `faultline knobs` lists them). Unknown knobs and bad values are refused before anything is built or booted
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = knob)]
    pub knobs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// Print exactly one JSON object (the kernel's result, with provenance) on stdout
    #[arg(long)]
    pub json: bool,
    /// Guest RAM
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = guest_ram)]
    pub mem: u64,
    /// Swap disk (virtio-blk), a sparse file; 0 = none
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = disk)]
    pub swap: u64,
    /// Kill QEMU after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Reproducible run: QEMU -icount shift=0 (the TSC counts guest instructions) and sched.deterministic=1; host load then changes nothing
    #[arg(long)]
    pub deterministic: bool,
    /// auto: KVM when usable and not --deterministic, else TCG. Under KVM the clock is the host's TSC and the guest's lz4 runs at hardware speed, so cycle figures and calibration change (README, --accel)
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: Accel,
    /// Start halted with a gdb stub on :1234 (prints the gdb command)
    #[arg(long)]
    pub gdb: bool,
    /// Attach the swap disk as a transitional virtio device (1af4:1001) instead of a modern-only one (1af4:1042)
    #[arg(long)]
    pub virtio_transitional: bool,
    /// A page trace for workload=trace (repeatable: one task each)
    #[arg(long, value_name = "FILE")]
    pub trace: Vec<PathBuf>,
    /// An ext2 image (faultline image) attached read-only as the files disk
    #[arg(long, value_name = "IMAGE")]
    pub files: Option<PathBuf>,
    /// With --files: the sparse scratch disk workload=compile writes its object files to; 0 = none
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = disk, requires = "files")]
    pub objects: u64,
    /// Make the swap disk fail (QEMU blkdebug): read|write, then :all (default), :nth=N, :every=N or :slot=N, and :once (with all or slot=N); or hang. Examples: read:slot=100:once, write:every=10, write, hang
    #[arg(long, value_name = "SPEC", value_parser = fault_spec, conflicts_with = "blkdebug")]
    pub fault: Option<crate::fault::Fault>,
    /// Your own blkdebug rule file under the swap disk
    #[arg(long, value_name = "RULES")]
    pub blkdebug: Option<PathBuf>,
    /// Sample the counters every MCYCLES million cycles of the run's clock (default 100) and write timeline.csv and timeline.svg to --out
    #[arg(long, value_name = "MCYCLES", num_args = 0..=1, default_missing_value = "100",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub timeline: Option<u64>,
    /// Where --timeline writes its files
    #[arg(long, value_name = "DIR", default_value = ".", requires = "timeline")]
    pub out: PathBuf,
}

pub const LAB_HELP: &str = "\
Runs experiments/NAME.json: its memory limits x policies, N repetitions each,
J QEMU instances at once, every run deterministic (-icount), repetition k with
workload.seed=k. Prints seed-shaped tables (medians, min-max, per-seed paired
deltas and how many seeds agree in sign) and writes results.jsonl (one line
per run as it finishes), results.json, results.csv and SVG charts to DIR.

A run that fails (memcg OOM, a kernel error, a timeout) is kept with its
status and the counters it reached; the lab goes on and exits 1 at the end.
--resume DIR skips the runs whose results DIR's results.jsonl already holds.

Many machines: --plan FILE writes one self-contained command per run (each
writes one JSON file); run them with GNU parallel or a Slurm array, then
--collect DIR builds the same tables and files from them (docs/many-machines.md).

lab compare DIR_A DIR_B: per cell and metric, both medians, the delta and a
significance mark (paired t-test across seeds with 5 or more of them).";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: Option<LabCommand>,
    /// The experiment: experiments/NAME.json (`faultline lab list`), or a path to your own FILE.json
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Knobs added to every run (after the experiment's, so they win), e.g. to compare two settings with lab compare
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// Workload size: mini (minutes) or full (the seed's scale)
    #[arg(long, default_value = "mini")]
    pub scale: String,
    /// Repetitions of each cell (workload.seed=1..N)
    #[arg(long, default_value = "3", value_parser = positive)]
    pub reps: usize,
    /// QEMU instances at once (default: the number of CPUs)
    #[arg(long, value_parser = positive)]
    pub jobs: Option<usize>,
    /// Results directory (default lab-results/NAME-SCALE)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print results.json on stdout
    #[arg(long)]
    pub json: bool,
    /// Per-run wall-time limit instead of the experiment's (a safety net: runs are deterministic)
    #[arg(long, value_name = "SECS", value_parser = positive)]
    pub timeout: Option<usize>,
    /// Swap disk size instead of the experiment's
    #[arg(long, value_name = "SIZE", value_parser = lab_swap)]
    pub swap: Option<u64>,
    /// Run only these policies, the first named being the reference
    #[arg(long, value_name = "P1,P2,...")]
    pub policies: Option<String>,
    /// An image of your own build tree (faultline image DIR IMAGE)
    #[arg(long, value_name = "IMAGE")]
    pub files: Option<PathBuf>,
    /// A trace to add as a row (trace experiments; repeatable)
    #[arg(long, value_name = "FILE")]
    pub trace: Vec<PathBuf>,
    /// Skip the runs DIR/results.jsonl already holds (DIR: the --out of the interrupted lab; results go there too unless --out is given). With every run done, this redraws the tables and charts
    #[arg(long, value_name = "DIR", conflicts_with_all = ["plan", "collect"])]
    pub resume: Option<PathBuf>,
    /// Write one command per run to FILE instead of running (for GNU parallel or Slurm)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["collect", "jobs", "json"])]
    pub plan: Option<PathBuf>,
    /// Build the tables and files from the per-run JSON files a --plan wrote into DIR (the runs' settings are the plan's)
    #[arg(long, value_name = "DIR", conflicts_with_all = ["knobs", "jobs", "timeout", "swap", "files", "trace", "policies", "reps"])]
    pub collect: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CourseArgs {
    #[command(subcommand)]
    pub command: CourseCommand,
}

#[derive(Debug, Subcommand)]
pub enum CourseCommand {
    /// Write a fresh repository for students of lab N: lab N's code cut to todo!(), earlier labs solved, later labs stand-ins, no teacher material
    Student {
        /// The lab (2 or lab2)
        #[arg(long, value_parser = crate::course::parse_lab)]
        lab: u32,
        /// A new or empty directory
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// For each lab: full marks twice with identical JSON, the student tree builds and scores 0 and passes the earlier labs, regions match the handout
    Check {
        /// Only this lab (CI checks one per run)
        #[arg(long, value_parser = crate::course::parse_lab)]
        lab: Option<u32>,
        /// Write the solution's instruction counts into labs/labN.json (reference_instr)
        #[arg(long)]
        record: bool,
        /// Also run each lab's experiment (faultline lab labN, one seed) and compare it with the figures in labs/teacher/answers-labN.md (minutes per lab)
        #[arg(long)]
        experiments: bool,
        /// Show cargo's output and every boot
        #[arg(long)]
        verbose: bool,
    },
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// The lab: lab2 or 2
    #[arg(value_parser = crate::course::parse_lab)]
    pub lab: u32,
    /// Print the result as JSON (score, max_score, tests with name, score, max_score, visibility, output)
    #[arg(long)]
    pub json: bool,
    /// A secret seed for the tests' inputs (teachers; tests use the handout's seed without it)
    #[arg(long)]
    pub seed: Option<u64>,
    /// A solution tree whose hidden tests (kernel/tests/*_hidden.rs) are added for this grading (teachers)
    #[arg(long, value_name = "DIR")]
    pub teacher: Option<PathBuf>,
    /// Grade every subdirectory of DIR (a submission each: a tree or just its editable files) in a fresh tree from this one (teachers; needs --csv)
    #[arg(long, value_name = "DIR", requires = "csv", conflicts_with = "json")]
    pub batch: Option<PathBuf>,
    /// Where --batch writes its CSV (submission, score, max_score, one column per test, ignored_changes, error)
    #[arg(long, value_name = "FILE", requires = "batch")]
    pub csv: Option<PathBuf>,
    /// Show cargo's output and every boot
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// List the experiments
    List,
    /// Compare two result directories: per cell and metric, both medians, the delta and a significance mark
    Compare {
        /// The reference (e.g. lab-results/seed-mini of one build)
        a: PathBuf,
        /// The one compared with it
        b: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchCommand,
}

/// What every bench that boots takes.
#[derive(Debug, Args)]
pub struct BenchRunArgs {
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// Guest RAM
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = guest_ram)]
    pub mem: u64,
    /// Per-run timeout
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Count the clock in guest instructions (-icount): stable across hosts, the clock to compute ratios in
    #[arg(long)]
    pub deterministic: bool,
    /// Print the runs' results as one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Clock cycles per major fault and per swap-cache-hit fault, at a 16 MiB and a 256 MiB footprint with memcg.max = 1/3 of it
    Faults(BenchRunArgs),
    /// Clock cycles per zswap swap-in fault next to one bare lz4 page decompress, measured in the same run
    Zswap(BenchRunArgs),
    /// Records/s of one deterministic replay of TRACE, in the guest clock and over the whole run's wall time
    Trace {
        /// The trace file
        trace: PathBuf,
        #[command(flatten)]
        run: BenchRunArgs,
    },
    /// lz4, the kernel's zstd (ruzstd) and libzstd on the workloads' own page contents, on the host
    Compressors,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(subcommand)]
    pub command: TraceCommand,
}

/// How QEMU runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    /// KVM when /dev/kvm is usable and the run is not --deterministic, else TCG
    Auto,
    /// Hardware virtualisation: real lz4 speed, host-speed TSC; not reproducible
    Kvm,
    /// QEMU's emulator (the only one -icount works with)
    Tcg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Codec {
    Zstd,
    Lz4,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Layout {
    Kept,
    Dense,
}

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// A valgrind lackey log (streamed, any length) -> a page trace (format: src/trace.rs)
    Import {
        /// Keep the first N records
        #[arg(long, alias = "max-accesses", value_name = "N", value_parser = positive)]
        max_records: Option<usize>,
        /// kept: the address-space layout, regions cut at holes of --gap; dense: pages renumbered from 0
        #[arg(long, value_enum, default_value = "kept")]
        layout: Layout,
        /// With --layout kept: the smallest hole that starts a new region
        #[arg(long, value_name = "SIZE", default_value = "1G")]
        gap: String,
        /// Chunk codec: zstd (small files) or lz4
        #[arg(long, value_enum, default_value = "zstd")]
        codec: Codec,
        /// The lackey log, or - for stdin
        input: String,
        /// The trace file to write
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Image size (default: sized to fit DIR)
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,
    /// The directory to copy
    pub dir: PathBuf,
    /// The image to write (never overwritten)
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct KnobsArgs {
    /// One JSON array of {name, type, default, values, min, max, help}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Runs at once (default: the number of CPUs)
    #[arg(long, value_parser = positive)]
    pub jobs: Option<usize>,
    /// Only the cells whose name contains TEXT (e.g. 'write every')
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Per-run timeout
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long
    #[arg(long, default_value = "60", value_parser = positive)]
    pub minutes: usize,
    /// Runs at once (default: the number of CPUs)
    #[arg(long, value_parser = positive)]
    pub jobs: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lab_takes_options_before_and_after_the_name() {
        for args in [
            ["faultline", "lab", "--scale", "full", "seed"],
            ["faultline", "lab", "seed", "--scale=full", "--reps=2"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Lab(lab) = cli.command else {
                panic!("not lab")
            };
            assert_eq!(lab.name.as_deref(), Some("seed"));
            assert_eq!(lab.scale, "full");
        }
    }

    #[test]
    fn bad_knobs_name_the_knob() {
        let e = Cli::try_parse_from(["faultline", "run", "--set", "memcg.max=12Q"]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("memcg.max"), "{text}");
        assert_eq!(e.exit_code(), 2);
    }
}
