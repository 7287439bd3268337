//! Swap-device faults for `faultline run --fault SPEC`: a short spec turned
//! into a QEMU `blkdebug` rule file (or a hung device).
//!
//! ```text
//! SPEC   = "hang" | KIND [":" WHICH] [":once"]
//! KIND   = "read" | "write"             the request type that fails
//! WHICH  = "all"                        every request (the default)
//!        | "nth=N"                      only the Nth request of KIND (once)
//!        | "every=N"                    every Nth request of KIND
//!        | "slot=N"                     requests that cover swap slot N
//! ```
//!
//! `:once` makes `all` and `slot=N` fire once. Examples: `read:slot=100:once`,
//! `write:every=10`, `write`, `hang`. The rules follow the facts measured on
//! QEMU 7.2 (shared reference `qemu-fault-injection.md`): `iotype` always
//! set, errno 5 (EIO; ENOSPC would pause the VM), one rule per sector
//! (slot N is sector 8N), and a state machine for counting requests.

use std::fmt::Write;

pub mod matrix;

/// The largest N for `nth=` and `every=`: the rule file has about 2N
/// sections, and QEMU parses them all at startup.
pub const MAX_COUNT: u64 = 100_000;

/// Linux's EIO, what a failing device returns.
const EIO: u32 = 5;

/// A parsed `--fault` spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The swap device stops answering.
    Hang,
    Io {
        write: bool,
        which: Which,
        once: bool,
    },
}

/// Which requests of the kind fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    All,
    Nth(u64),
    Every(u64),
    Slot(u64),
}

fn count(key: &str, v: &str, spec: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or_else(|| {
            format!("--fault {spec}: {key}={v}: expected a whole number from 1 to {MAX_COUNT}")
        })
}

impl Fault {
    /// Parses a spec; errors name the part that is wrong and show the form.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        const FORM: &str = "expected hang, or read|write[:all|nth=N|every=N|slot=N][:once], like read:slot=100:once or write:every=10";
        let mut parts = spec.split(':');
        let write = match parts.next() {
            Some("hang") if !spec.contains(':') => return Ok(Fault::Hang),
            Some("read") => false,
            Some("write") => true,
            Some(other) => return Err(format!("--fault {spec}: '{other}': {FORM}")),
            None => return Err(format!("--fault: {FORM}")),
        };
        let (mut which, mut once) = (None, false);
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let next = match (key, value) {
                ("once", "") if !once => {
                    once = true;
                    continue;
                }
                ("all", "") => Which::All,
                ("nth", v) => Which::Nth(count(key, v, spec)?),
                ("every", v) => Which::Every(count(key, v, spec)?),
                ("slot", v) => Which::Slot(v.parse().map_err(|_| {
                    format!("--fault {spec}: slot={v}: expected a slot number (1 or more; 0 is the header)")
                })?),
                _ => return Err(format!("--fault {spec}: '{part}': {FORM}")),
            };
            if which.replace(next).is_some() {
                return Err(format!(
                    "--fault {spec}: give at most one of all, nth=, every=, slot="
                ));
            }
        }
        let which = which.unwrap_or(Which::All);
        if which == Which::Slot(0) {
            return Err(format!(
                "--fault {spec}: slot 0 is the swap header, never read or written by the kernel"
            ));
        }
        if once && matches!(which, Which::Nth(_) | Which::Every(_)) {
            return Err(format!(
                "--fault {spec}: once goes with all or slot=N (nth=N fires once already)"
            ));
        }
        Ok(Fault::Io { write, which, once })
    }

    /// The `blkdebug` rule file for this fault (`None` for [`Fault::Hang`],
    /// which is a different device, not a rule).
    pub fn blkdebug_rules(&self) -> Option<String> {
        let Fault::Io { write, which, once } = *self else {
            return None;
        };
        let mut out = format!("# faultline --fault: {}\n", self.describe());
        let inject = |out: &mut String, state, errno, sector, once| {
            inject_rule(out, write, state, errno, sector, once)
        };
        let set_state = |out: &mut String, from: u64, to: u64| {
            let _ = write!(
                out,
                "\n[set-state]\nevent = \"{}\"\nstate = \"{from}\"\nnew_state = \"{to}\"\n",
                event_iotype(write).0
            );
        };
        match which {
            Which::All => inject(&mut out, None, EIO, None, once),
            Which::Slot(slot) => inject(&mut out, None, EIO, Some(slot * 8), once),
            // Count requests with states 1..N; the rule of state N fires once.
            Which::Nth(n) => {
                for s in 1..n {
                    set_state(&mut out, s, s + 1);
                }
                inject(&mut out, Some(n), EIO, None, true);
            }
            // States cycle 1..N..1. Every state needs a rule (errno 0 is
            // harmless): blkdebug replaces its active rule set only when a
            // rule fires, so a state without one would go on failing.
            Which::Every(n) => {
                for s in 1..=n {
                    set_state(&mut out, s, if s == n { 1 } else { s + 1 });
                    inject(&mut out, Some(s), if s == n { EIO } else { 0 }, None, false);
                }
            }
        }
        Some(out)
    }

    /// One line for reports: what fails.
    pub fn describe(&self) -> String {
        let Fault::Io { write, which, once } = *self else {
            return "the swap device hangs (every request takes ten minutes)".into();
        };
        let kind = if write { "write" } else { "read" };
        let which = match which {
            Which::All => format!("every {kind}"),
            Which::Nth(n) => format!("the {n}th {kind} request"),
            Which::Every(n) => format!("every {n}th {kind} request"),
            Which::Slot(s) => format!("every {kind} of swap slot {s}"),
        };
        let once = if once { ", once" } else { "" };
        format!("{which} fails with EIO{once}")
    }
}

/// blkdebug's event and iotype for a request kind (the reference's rule:
/// always give `iotype`, or a read rule also fails writes).
fn event_iotype(write: bool) -> (&'static str, &'static str) {
    if write {
        ("write_aio", "write")
    } else {
        ("read_aio", "read")
    }
}

/// Appends one `[inject-error]` rule: fail requests of the kind with
/// `errno`, only in `state` and only over `sector` if given, `once` or
/// always.
fn inject_rule(
    out: &mut String,
    write: bool,
    state: Option<u64>,
    errno: u32,
    sector: Option<u64>,
    once: bool,
) {
    let (event, iotype) = event_iotype(write);
    let _ = write!(
        out,
        "\n[inject-error]\nevent = \"{event}\"\niotype = \"{iotype}\"\nerrno = \"{errno}\"\n"
    );
    if let Some(s) = state {
        let _ = writeln!(out, "state = \"{s}\"");
    }
    if let Some(s) = sector {
        let _ = writeln!(out, "sector = \"{s}\"");
    }
    if once {
        out.push_str("once = \"on\"\n");
    }
}

/// A rule file failing every `write` (or read) request that covers one of
/// `slots` (one rule per slot: blkdebug has no ranges), `once` each or
/// always. For the fault matrix's scattered slots.
pub fn blkdebug_rules_for_slots(write: bool, slots: &[u64], once: bool) -> String {
    let iotype = event_iotype(write).1;
    let mut out = format!("# faultline: {iotype} errors on {} slot(s)\n", slots.len());
    for slot in slots {
        inject_rule(&mut out, write, None, EIO, Some(slot * 8), once);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(Fault::parse("hang"), Ok(Fault::Hang));
        assert_eq!(
            Fault::parse("read:slot=100:once"),
            Ok(Fault::Io {
                write: false,
                which: Which::Slot(100),
                once: true
            })
        );
        assert_eq!(
            Fault::parse("write"),
            Ok(Fault::Io {
                write: true,
                which: Which::All,
                once: false
            })
        );
        assert_eq!(
            Fault::parse("write:every=10").unwrap(),
            Fault::Io {
                write: true,
                which: Which::Every(10),
                once: false
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("", "expected hang"),
            ("reed", "'reed'"),
            ("read:every=0", "every=0"),
            ("read:every=x", "every=x"),
            ("read:nth=1000000", "nth=1000000"),
            ("read:slot=0", "slot 0 is the swap header"),
            ("read:slot=-1", "slot=-1"),
            ("read:all:slot=3", "at most one"),
            ("read:every=3:once", "once goes with"),
            ("hang:once", "'hang'"),
            ("write:bogus", "'bogus'"),
        ] {
            let e = Fault::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn rules_set_iotype_and_eio() {
        let r = Fault::parse("read:slot=100:once")
            .unwrap()
            .blkdebug_rules()
            .unwrap();
        assert!(r.contains("event = \"read_aio\"\niotype = \"read\"\nerrno = \"5\""));
        assert!(r.contains("sector = \"800\""));
        assert!(r.contains("once = \"on\""));
        assert_eq!(Fault::Hang.blkdebug_rules(), None);
    }

    #[test]
    fn counting_rules_cycle_through_states() {
        let r = Fault::parse("write:every=3")
            .unwrap()
            .blkdebug_rules()
            .unwrap();
        assert_eq!(r.matches("[set-state]").count(), 3);
        assert_eq!(r.matches("[inject-error]").count(), 3);
        assert!(r.contains("state = \"3\"\nnew_state = \"1\""));
        assert_eq!(r.matches("errno = \"5\"").count(), 1);
        let r = Fault::parse("read:nth=3")
            .unwrap()
            .blkdebug_rules()
            .unwrap();
        assert_eq!(r.matches("[set-state]").count(), 2);
        assert!(r.contains("state = \"3\"\nonce = \"on\""));
    }
}
