//! The result report: one line on serial that the host parses.
//!
//! ```text
//! FAULTLINE-RESULT {"status":"ok","config":{...},"vmstat":{...},
//!   "elapsed_cycles":N,"integrity":{"checked_pages":N,"corrupt_pages":0,
//!   "leaks":{"frames":0,...},"killed_tasks":[{"task":..,"signal":"SIGBUS","address":N,"slot":N}]},
//!   "meminfo":{...},"files":{...}|null,"trace":{...}|null,"user":{...}|null,"memcg":{...},"swap":{...},"fault_latency":{...},
//!   "calibration":{...},"sched":{...}}
//! ```
//!
//! A run that cannot finish prints `FAULTLINE-ERROR <message>` and then
//! the counters it reached, with the kind of failure as its status:
//!
//! ```text
//! FAULTLINE-PARTIAL {"status":"oom","elapsed_cycles":N,"vmstat":{...}}
//! ```
//!
//! The host takes its exit status and the lab its run status from that
//! kind (src/exit.rs), never from the message's words.

use core::fmt::{self, Write};

use crate::knobs::{Config, KnobKind, KnobValue, KNOBS};
use crate::mm::fault_latency::FAULT_KIND_NAMES;
use crate::workload::measured::Measured;
use crate::workload::WorkloadResult;

/// Prefix of the result line.
pub const RESULT_PREFIX: &str = "FAULTLINE-RESULT ";
/// Prefix of an error line (bad configuration, impossible request).
pub const ERROR_PREFIX: &str = "FAULTLINE-ERROR ";
/// Prefix of the line after an error line: the counters reached.
pub const PARTIAL_PREFIX: &str = "FAULTLINE-PARTIAL ";

/// What kind of failure an error line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A knob the kernel refused (`config: ...`).
    Config,
    /// A workload input refused (a size that does not fit, a damaged
    /// trace, a missing disk).
    Input,
    /// The memory cgroup found no page even after reclaim (Linux would
    /// run the memcg OOM killer; we end the run).
    Oom,
    /// The measured phase passed `run.budget_mcycles`.
    Budget,
    /// A disk read or write failed while the workload ran.
    Io,
    /// A swap read failed outside a killable section (SIGBUS).
    BusError,
    /// A disk kept requests past its timeout.
    Hung,
}

impl ErrorKind {
    /// The status word of the partial result (and of a lab run).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Input => "input",
            ErrorKind::Oom => "oom",
            ErrorKind::Budget => "budget",
            ErrorKind::Io => "io_error",
            ErrorKind::BusError => "bus_error",
            ErrorKind::Hung => "hung",
        }
    }
}

/// A JSON string literal with the necessary escapes.
struct JsonStr<'a>(&'a str);

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// Writes `{"k":v,...}` from (name, value) pairs.
fn write_object<I, V>(out: &mut impl Write, items: I) -> fmt::Result
where
    I: IntoIterator<Item = (&'static str, V)>,
    V: fmt::Display,
{
    out.write_char('{')?;
    for (i, (k, v)) in items.into_iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(out, "{}:{v}", JsonStr(k))?;
    }
    out.write_char('}')
}

/// A knob value as JSON: numbers stay numbers, words become strings.
struct JsonKnob(KnobValue);

impl fmt::Display for JsonKnob {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            KnobValue::Number(n) => write!(f, "{n}"),
            KnobValue::Word(w) => write!(f, "{}", JsonStr(w)),
        }
    }
}

/// Renders the whole result line (without the trailing newline).
pub fn render(config: &Config, result: &WorkloadResult, out: &mut impl Write) -> fmt::Result {
    out.write_str(RESULT_PREFIX)?;
    write!(out, "{{\"status\":{},\"config\":", JsonStr(result.status()))?;
    let no_limit = |k: &str| {
        KNOBS
            .iter()
            .any(|s| s.name == k && matches!(s.kind, KnobKind::SizeOrMax { .. }))
    };
    write_object(
        out,
        config.iter().map(|(k, v)| match v {
            KnobValue::Number(u64::MAX) if no_limit(k) => (k, JsonKnob(KnobValue::Word("max"))),
            v => (k, JsonKnob(v)),
        }),
    )?;
    out.write_str(",\"vmstat\":")?;
    let m = result
        .measured
        .as_ref()
        .expect("workload::run captures the figures");
    write_object(out, m.vmstat)?;
    write!(out, ",\"elapsed_cycles\":{}", result.elapsed_cycles)?;
    write!(
        out,
        ",\"integrity\":{{\"checked_pages\":{},\"corrupt_pages\":{},\"leaks\":",
        result.checked_pages, result.corrupt_pages
    )?;
    write_object(out, result.leaks.named())?;
    write!(
        out,
        ",\"swap_read_errors\":{},\"swap_write_errors\":{},\"nr_killed\":{},\"killed_tasks\":[",
        result.swap_io_errors.0, result.swap_io_errors.1, result.nr_killed
    )?;
    for (i, k) in result.killed_tasks.iter().flatten().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(
            out,
            "{{\"task\":{},\"signal\":{},\"address\":{},\"slot\":{}}}",
            JsonStr(k.task()),
            JsonStr(k.signal),
            k.address,
            k.slot
        )?;
    }
    out.write_str("]}")?;
    out.write_str(",\"meminfo\":")?;
    write_object(
        out,
        [
            ("totalram_pages", result.totalram_pages),
            ("leaked_pages", result.leaked_pages),
        ],
    )?;
    render_files(result, out)?;
    render_trace(result, out)?;
    render_user(result, out)?;
    render_mm(m, out)?;
    let c = &result.calibration;
    out.write_str(",\"calibration\":")?;
    write_object(
        out,
        [
            ("page_copy_cycles", c.page_copy_cycles),
            ("lz4_compress_cycles", c.lz4_compress_cycles),
            ("lz4_decompress_cycles", c.lz4_decompress_cycles),
            (
                "zstd_measured_compress_cycles",
                c.zstd_measured_compress_cycles,
            ),
            (
                "zstd_measured_decompress_cycles",
                c.zstd_measured_decompress_cycles,
            ),
            ("zstd_compress_scale_1024ths", c.zstd_compress_scale),
            ("zstd_decompress_scale_1024ths", c.zstd_decompress_scale),
            ("device_read_cycles", c.device_read_cycles),
            ("device_write_cycles", c.device_write_cycles),
        ],
    )?;
    let s = crate::sched::stats();
    out.write_str(",\"sched\":")?;
    write_object(
        out,
        [
            ("tasks", s.tasks),
            ("context_switches", s.context_switches),
            ("preemptions", s.preemptions),
            ("io_sleeps", s.io_sleeps),
            ("idle_cycles", s.idle_cycles),
        ],
    )?;
    out.write_char('}')
}

/// `"user"`: the ring-3 programs (one line per program, `pass` or
/// `fail`), the processes they made, the kills, and the highest swap
/// count (`null` for kernel workloads).
fn render_user(result: &WorkloadResult, out: &mut impl Write) -> fmt::Result {
    let Some(u) = &result.user else {
        return out.write_str(",\"user\":null");
    };
    out.write_str(",\"user\":{\"programs\":[")?;
    for (i, f) in u.programs.iter().flatten().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        let (code, signal) = match f.status {
            crate::proc::ExitStatus::Exited(c) => (Some(c), None),
            crate::proc::ExitStatus::Killed(s) => (None, Some(crate::proc::signal_name(s))),
        };
        write!(
            out,
            "{{\"name\":{},\"pid\":{},\"result\":{},\"exit_code\":",
            JsonStr(f.name),
            f.pid,
            JsonStr(if crate::workload::user::passed(f) {
                "pass"
            } else {
                "fail"
            })
        )?;
        match code {
            Some(c) => write!(out, "{c}")?,
            None => out.write_str("null")?,
        }
        out.write_str(",\"signal\":")?;
        match signal {
            Some(s) => write!(out, "{}", JsonStr(s))?,
            None => out.write_str("null")?,
        }
        out.write_char('}')?;
    }
    write!(
        out,
        "],\"nr_programs\":{},\"nr_failed\":{},\"forks\":{},\"max_processes\":{},\"peak_swap_count\":{},\"nr_killed\":{},\"killed\":[",
        u.nr_programs, u.nr_failed, u.procs.forks, u.procs.max_alive, u.peak_swap_count, u.procs.nr_kills
    )?;
    for (i, k) in u.procs.kills.iter().flatten().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(
            out,
            "{{\"name\":{},\"pid\":{},\"signal\":{},\"address\":{},\"rip\":{}}}",
            JsonStr(k.name),
            k.pid,
            JsonStr(crate::proc::signal_name(k.signal)),
            k.address,
            k.rip
        )?;
    }
    out.write_str("]}")
}

/// The memory cgroup, swap, zswap and fault-latency parts of the result.
fn render_mm(m: &Measured, out: &mut impl Write) -> fmt::Result {
    // `null` when there is no limit (memcg.max=max).
    let max = match m.memcg_max_pages {
        u64::MAX => None,
        n => Some(n),
    };
    out.write_str(",\"memcg\":{\"max_pages\":")?;
    match max {
        Some(n) => write!(out, "{n}")?,
        None => out.write_str("null")?,
    }
    let [ia, aa, ifl, af] = m.lru_pages;
    write!(
        out,
        ",\"peak_pages\":{},\"file_pages\":{},\"file_dirty\":{},\"file_writeback\":{},\"inactive_anon\":{ia},\"active_anon\":{aa},\"inactive_file\":{ifl},\"active_file\":{af}}}",
        m.memcg_peak_pages, m.memcg_file_pages, m.memcg_file_dirty, m.memcg_file_writeback
    )?;
    write!(
        out,
        ",\"swap\":{{\"device\":{},\"slots\":{},\"used_slots\":{},\"peak_used_slots\":{},\"full_cycles\":{},\"host_late_completions\":{}}}",
        JsonStr(m.swap_device),
        m.swap_slots,
        m.swap_used_slots,
        m.swap_peak_used_slots,
        m.swap_full_cycles,
        crate::drivers::virtio::blk::late_completions()
    )?;
    render_zswap(m, out)?;
    out.write_str(",\"fault_latency\":{")?;
    for (i, (name, h)) in FAULT_KIND_NAMES
        .iter()
        .zip(m.latency.kinds.iter())
        .enumerate()
    {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(out, "{}:", JsonStr(name))?;
        write_object(
            out,
            [
                ("count", h.count()),
                ("mean_cycles", h.mean()),
                ("p50_cycles", h.percentile(50)),
                ("p99_cycles", h.percentile(99)),
            ],
        )?;
    }
    out.write_char('}')
}

/// What `workload=trace` replayed, or `null` for other workloads.
fn render_trace(result: &WorkloadResult, out: &mut impl Write) -> fmt::Result {
    out.write_str(",\"trace\":")?;
    let Some(t) = &result.trace else {
        return out.write_str("null");
    };
    write_object(
        out,
        [
            ("traces", t.traces),
            ("records", t.records),
            ("pages", t.pages),
            ("regions", t.regions),
            ("span_pages", t.span_pages),
            ("light_verify", t.light),
        ],
    )
}

/// The files disk's survey, or `null` without one.
fn render_files(result: &WorkloadResult, out: &mut impl Write) -> fmt::Result {
    out.write_str(",\"files\":")?;
    let Some(f) = &result.files else {
        return out.write_str("null");
    };
    write_object(
        out,
        [
            ("disk_bytes", f.disk_bytes),
            ("block_size", f.block_size),
            ("files", f.files),
            ("dirs", f.dirs),
            ("other", f.other),
            ("bytes", f.bytes),
            ("page_reads", f.page_reads),
            ("objects_disk_bytes", f.objects_disk_bytes),
        ],
    )
}

/// zswap figures of the measured phase; the ratio is over every page
/// stored.
fn render_zswap(m: &Measured, out: &mut impl Write) -> fmt::Result {
    let z = &m.zswap;
    let [(c_cycles, c_calls), (d_cycles, d_calls)] = m.zcomp;
    out.write_str(",\"zswap\":")?;
    write_object(
        out,
        [
            ("pool_pages", m.zswap_pool_pages),
            (
                "zswap_stored_incompressible_pages",
                m.zswap_stored_incompressible_pages,
            ),
            ("incompressible_stores", z.incompressible_stores),
            ("cgroup_limit_hit", z.cgroup_limit_hit),
            ("reject_cgroup_limit", z.reject_cgroup_limit),
            ("pool_pages_peak", z.pool_pages_peak),
            ("stored_pages_peak", z.stored_pages_peak),
            ("stored_bytes_in", z.stored_in_bytes),
            ("stored_bytes_out", z.stored_out_bytes),
            ("pool_limit_hit", z.pool_limit_hit),
            ("reject_compress_poor", z.reject_compress_poor),
            ("reject_alloc_fail", z.reject_alloc_fail),
            ("written_back_pages", z.written_back_pages),
            ("compress_calls", c_calls),
            ("compress_cycles", c_cycles),
            ("decompress_calls", d_calls),
            ("decompress_cycles", d_cycles),
        ],
    )?;
    let ratio = if z.stored_out_bytes == 0 {
        0.0
    } else {
        z.stored_in_bytes as f64 / z.stored_out_bytes as f64
    };
    write!(out, ",\"zswap_compression_ratio\":{ratio:.2}")?;
    write!(out, ",\"zswap_compressor\":{}", JsonStr(m.zswap_compressor))
}

/// Adapter so that `render` can print straight to the serial console.
struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::print!("{s}");
        Ok(())
    }
}

/// Prints the result line.
pub fn emit(config: &Config, result: &WorkloadResult) {
    render(config, result, &mut Serial).expect("serial output cannot fail");
    crate::println!();
}

/// Prints an error line, then the counters the run reached.
pub fn emit_error(kind: ErrorKind, message: fmt::Arguments) {
    crate::println!("{ERROR_PREFIX}{message}");
    render_partial(kind, &mut Serial).expect("serial output cannot fail");
    crate::println!();
}

/// Renders the partial result: the kind, the clock since the measured
/// phase began (0 before it) and the vmstat counters (reset when it
/// began). Lock-free (atomics only), so an OOM or bus error found inside
/// the fault handler can report it.
fn render_partial(kind: ErrorKind, out: &mut impl Write) -> fmt::Result {
    out.write_str(PARTIAL_PREFIX)?;
    write!(
        out,
        "{{\"status\":{},\"elapsed_cycles\":{},\"vmstat\":",
        JsonStr(kind.name()),
        crate::sched::budget::elapsed()
    )?;
    write_object(out, crate::mm::vmstat::snapshot())?;
    out.write_char('}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test_case]
    fn a_partial_result_names_its_kind_and_counters() {
        let mut s = String::new();
        render_partial(ErrorKind::Oom, &mut s).unwrap();
        assert!(
            s.starts_with("FAULTLINE-PARTIAL {\"status\":\"oom\",\"elapsed_cycles\":"),
            "{s}"
        );
        assert!(s.contains("\"vmstat\":{\"pgfault\":"), "{s}");
        assert!(s.ends_with("}}"), "{s}");
    }
}
