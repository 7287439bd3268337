//! The result report: one line on serial that the host parses.
//!
//! ```text
//! FAULTLINE-RESULT {"status":"ok","config":{...},"vmstat":{...},
//!   "elapsed_cycles":N,"integrity":{"checked_pages":N,"corrupt_pages":0},
//!   "meminfo":{...},"memcg":{...},"swap":{...},"fault_latency":{...}}
//! ```
//!
//! A configuration error is reported as `FAULTLINE-ERROR <message>`.

use core::fmt::{self, Write};

use crate::knobs::{Config, KnobValue};
use crate::mm::fault_latency::FAULT_KIND_NAMES;
use crate::mm::state::{with_mm_state, MmState};
use crate::mm::vmstat;
use crate::workload::WorkloadResult;

/// Prefix of the result line.
pub const RESULT_PREFIX: &str = "FAULTLINE-RESULT ";
/// Prefix of an error line (bad configuration, impossible request).
pub const ERROR_PREFIX: &str = "FAULTLINE-ERROR ";

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
    write_object(out, config.iter().map(|(k, v)| (k, JsonKnob(v))))?;
    out.write_str(",\"vmstat\":")?;
    write_object(out, vmstat::snapshot())?;
    write!(out, ",\"elapsed_cycles\":{}", result.elapsed_cycles)?;
    out.write_str(",\"integrity\":")?;
    write_object(
        out,
        [
            ("checked_pages", result.checked_pages),
            ("corrupt_pages", result.corrupt_pages),
        ],
    )?;
    out.write_str(",\"meminfo\":")?;
    write_object(
        out,
        [
            ("totalram_pages", result.totalram_pages),
            ("leaked_pages", result.leaked_pages),
        ],
    )?;
    with_mm_state(|st| render_mm(st, out))?;
    out.write_str(",\"calibration\":")?;
    write_object(out, [("page_copy_cycles", result.page_copy_cycles)])?;
    out.write_char('}')
}

/// The memory cgroup, swap and fault-latency parts of the result.
fn render_mm(st: &MmState, out: &mut impl Write) -> fmt::Result {
    let max = if st.memcg.max_pages == u64::MAX {
        0
    } else {
        st.memcg.max_pages
    };
    out.write_str(",\"memcg\":")?;
    write_object(
        out,
        [("max_pages", max), ("peak_pages", st.memcg.peak_pages)],
    )?;
    let slots = st.swap.as_ref().map_or(0, |s| s.total_slots() as u64);
    out.write_str(",\"swap\":")?;
    write_object(out, [("slots", slots)])?;
    out.write_str(",\"fault_latency\":{")?;
    for (i, (name, h)) in FAULT_KIND_NAMES
        .iter()
        .zip(st.latency.kinds.iter())
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

/// Prints an error line.
pub fn emit_error(message: fmt::Arguments) {
    crate::println!("{ERROR_PREFIX}{message}");
}
