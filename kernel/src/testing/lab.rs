//! The lab-test protocol: how a graded test kernel tells the grader what
//! each test did (`faultline grade`, see `labs/README.md`).
//!
//! Course graders that regex the console break when a student's debug
//! print lands in the middle of a verdict, and can be fooled by a print
//! that looks like one. So the verdicts travel on their own channel: the
//! debug console at port 0xe9 (QEMU `isa-debugcon`), which the host
//! writes to a file of its own. COM1 stays free for whatever the code
//! under test prints. One record per line, fields separated by tabs:
//!
//! ```text
//! start  NAME
//! pass   NAME  INSTR
//! panic  NAME  INSTR  FILE:LINE  MESSAGE
//! limit  NAME  INSTR  LIMIT
//! done
//! ```
//!
//! `INSTR` is the run's clock (`sched_clock`) over the test: guest
//! instructions under `--deterministic` (QEMU `-icount shift=0`), which
//! the grader always uses, so a limit holds the same on every machine.
//!
//! A panic ends the boot (no unwinding in a kernel); so does a test over
//! its limit. The grader then boots again with every test already
//! reported in `skip=` lines, so one crashing or looping test costs only
//! its own points. The limit is enforced from the timer tick, which the
//! runner lets in while a test runs (both interrupt handlers only touch
//! atomics, so they are safe anywhere); a test that loops with
//! interrupts off is caught by the host's wall-time safety net instead.
//!
//! The runner reads its settings from fw_cfg `opt/faultline/labtest`:
//! `skip=NAME` (repeatable), `limit=INSTR` (default per test),
//! `limit.NAME=INSTR` and `seed=N` (the secret input of a hidden run).
//! Without that file the test kernel runs as a plain `cargo test` one.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;
use x86_64::instructions::port::Port;

use crate::sched::clock::sched_clock;

/// The fw_cfg file with the grader's settings.
const SETTINGS_FILE: &str = "opt/faultline/labtest";

/// `isa-debugcon`'s port.
const PROTOCOL_PORT: u16 = 0xe9;

/// Settings from the grader.
#[derive(Debug, Default)]
pub struct Settings {
    pub skip: Vec<String>,
    pub default_limit: Option<u64>,
    pub limits: Vec<(String, u64)>,
    pub seed: Option<u64>,
}

impl Settings {
    /// Parses `key=value` lines; an unknown key is an error naming it.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let mut s = Settings::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || alloc::format!("{SETTINGS_FILE}: line {}: `{line}`", n + 1);
            let (key, value) = line.split_once('=').ok_or_else(bad)?;
            let number = || value.parse::<u64>().map_err(|_| bad());
            match key {
                "skip" => s.skip.push(String::from(value)),
                "limit" => s.default_limit = Some(number()?),
                "seed" => s.seed = Some(number()?),
                _ => match key.strip_prefix("limit.") {
                    Some(name) => s.limits.push((String::from(name), number()?)),
                    None => return Err(alloc::format!("{}: unknown key `{key}`", bad())),
                },
            }
        }
        Ok(s)
    }

    fn limit_of(&self, name: &str) -> Option<u64> {
        self.limits
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, l)| l)
            .or(self.default_limit)
    }
}

static ACTIVE: AtomicBool = AtomicBool::new(false);
static SETTINGS: Mutex<Option<Settings>> = Mutex::new(None);
/// The running test: its name (for the panic handler) and clock values.
static CURRENT: Mutex<Option<&'static str>> = Mutex::new(None);
static STARTED_AT: AtomicU64 = AtomicU64::new(0);
/// Clock value past which the running test is over its limit.
static DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Reads the grader's settings, if there are any. A malformed file ends
/// the run with the reason (the grader wrote it, so it is a bug there).
pub fn init() {
    let text = match crate::drivers::fw_cfg::read_text_file(SETTINGS_FILE) {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(e) => panic!("cannot read {SETTINGS_FILE}: {e}"),
    };
    let settings = Settings::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    *SETTINGS.lock() = Some(settings);
    ACTIVE.store(true, Ordering::Relaxed);
}

/// Is a grader driving this boot?
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The seed a test should use for its inputs: the grader's secret one,
/// or `public` (the value in the handout) without one.
pub fn seed_or(public: u64) -> u64 {
    SETTINGS
        .lock()
        .as_ref()
        .and_then(|s| s.seed)
        .unwrap_or(public)
}

/// The test's short name: its function name without the module path.
pub fn short_name(type_name: &'static str) -> &'static str {
    type_name.rsplit("::").next().unwrap_or(type_name)
}

/// Was the test reported in an earlier boot?
pub fn should_skip(name: &str) -> bool {
    SETTINGS
        .lock()
        .as_ref()
        .is_some_and(|s| s.skip.iter().any(|n| n == name))
}

/// Writes one protocol record: its fields separated by tabs, with any
/// tab or newline inside a field made a space, so a record is one line.
fn record(fields: &[&dyn fmt::Display]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            write_raw("\t");
        }
        let _ = write!(FieldWriter, "{field}");
    }
    write_raw("\n");
}

fn write_raw(s: &str) {
    for b in s.bytes() {
        let mut port = Port::<u8>::new(PROTOCOL_PORT);
        // SAFETY: 0xe9 is QEMU's debug console (or nothing, which ignores
        // the write); writing a byte there has no other effect.
        unsafe { port.write(b) };
    }
}

/// Writes a field, escaping the record's separators.
struct FieldWriter;

impl Write for FieldWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split(['\n', '\t']).enumerate() {
            if i > 0 {
                write_raw(" ");
            }
            write_raw(part);
        }
        Ok(())
    }
}

/// Before a test: record it, arm its limit, and let the timer tick in.
pub fn begin(name: &'static str) {
    *CURRENT.lock() = Some(name);
    record(&[&"start", &name]);
    let limit = SETTINGS
        .lock()
        .as_ref()
        .and_then(|s| s.limit_of(name))
        .unwrap_or(u64::MAX);
    LIMIT.store(limit, Ordering::Relaxed);
    let now = sched_clock();
    STARTED_AT.store(now, Ordering::Relaxed);
    DEADLINE.store(now.saturating_add(limit), Ordering::Relaxed);
    x86_64::instructions::interrupts::enable();
}

/// After a test that returned: it passed.
pub fn end(name: &'static str) {
    x86_64::instructions::interrupts::disable();
    DEADLINE.store(u64::MAX, Ordering::Relaxed);
    let used = sched_clock().saturating_sub(STARTED_AT.load(Ordering::Relaxed));
    record(&[&"pass", &name, &used]);
    *CURRENT.lock() = None;
}

/// After the last test.
pub fn all_done() {
    record(&[&"done"]);
}

/// From the panic handler: the running test panicked.
pub fn on_panic(info: &core::panic::PanicInfo) {
    if !is_active() {
        return;
    }
    x86_64::instructions::interrupts::disable();
    // `try_lock`: the panic may have come from inside the lock's holder.
    let name = CURRENT
        .try_lock()
        .and_then(|c| *c)
        .unwrap_or("(between tests)");
    let used = sched_clock().saturating_sub(STARTED_AT.load(Ordering::Relaxed));
    let location = info
        .location()
        .map(|l| alloc::format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    record(&[&"panic", &name, &used, &location, &info.message()]);
}

/// From the timer tick: end the boot if the running test is over its
/// limit. Lock-free (it may interrupt any code): atomics and port writes.
pub fn tick() {
    if !is_active() {
        return;
    }
    let now = sched_clock();
    let deadline = DEADLINE.load(Ordering::Relaxed);
    if now <= deadline {
        return;
    }
    DEADLINE.store(u64::MAX, Ordering::Relaxed);
    let used = now.saturating_sub(STARTED_AT.load(Ordering::Relaxed));
    let limit = LIMIT.load(Ordering::Relaxed);
    // The name cannot be taken from CURRENT without a lock: the host knows
    // which test started last.
    record(&[&"limit", &"-", &used, &limit]);
    crate::arch::qemu::exit_qemu(crate::arch::qemu::ExitCode::Failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn settings_parse_and_refuse_unknown_keys() {
        let s = Settings::parse("skip=a\nskip=b\nlimit=100\nlimit.c=7\nseed=9\n").unwrap();
        assert_eq!(s.skip, ["a", "b"]);
        assert_eq!(s.limit_of("c"), Some(7));
        assert_eq!(s.limit_of("a"), Some(100));
        assert_eq!(s.seed, Some(9));
        let e = Settings::parse("limt=5").unwrap_err();
        assert!(e.contains("unknown key `limt`"), "{e}");
        assert!(Settings::parse("limit=x").unwrap_err().contains("line 1"));
    }

    #[test_case]
    fn short_names_drop_the_module_path() {
        assert_eq!(short_name("lab2::tests::swap_out"), "swap_out");
        assert_eq!(short_name("plain"), "plain");
    }
}
