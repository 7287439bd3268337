//! faultline's knobs: the one registry of every policy switch and
//! workload parameter, and its strict parser. `no_std` + `alloc`, shared
//! by the kernel (which reads its configuration with it at boot) and the
//! host (which checks `--set key=value` with it before it builds or boots
//! anything, and lists the knobs: `faultline knobs`).
//!
//! The host passes `key=value` pairs (one per line, or separated by `;`)
//! in the fw_cfg file `opt/faultline/config`. Every knob has a name, a
//! type, a default, a valid range or set of values, and one line of help.
//! To add a knob, add one [`KnobSpec`] to [`KNOBS`]; the parser, the error
//! messages, the result report and the README table all follow from it.
//!
//! Parsing is strict: an unknown key, a malformed or out-of-range value, or
//! a key given twice is an error that names what would have been valid.

#![no_std]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// The type of a knob and what values it accepts.
#[derive(Debug, Clone, Copy)]
pub enum KnobKind {
    /// One of a fixed list of words.
    Enum(&'static [&'static str]),
    /// A byte count, written as a whole number with an optional K, M or G
    /// suffix (binary: 1K = 1024).
    Size { min: u64, max: u64 },
    /// A whole number (decimal, or hex with 0x).
    U64 { min: u64, max: u64 },
    /// A size, or the word `max` for "no limit" (read as `u64::MAX`), like
    /// Linux's `memory.max`.
    SizeOrMax { min: u64, max: u64 },
}

/// One entry of the registry.
#[derive(Debug)]
pub struct KnobSpec {
    pub name: &'static str,
    pub kind: KnobKind,
    pub default: &'static str,
    pub help: &'static str,
}

mod registry;

pub use registry::{KNOBS, USER_PROGRAMS};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A parsed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnobValue {
    Word(&'static str),
    Number(u64),
}

impl fmt::Display for KnobValue {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            KnobValue::Word(w) => f.write_str(w),
            KnobValue::Number(n) => write!(f, "{n}"),
        }
    }
}

/// What went wrong while parsing the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnobError {
    /// A line that is not `key=value`.
    Syntax {
        item: String,
    },
    UnknownKey {
        key: String,
    },
    BadValue {
        key: &'static str,
        value: String,
        expected: String,
    },
    OutOfRange {
        key: &'static str,
        value: String,
        min: u64,
        max: u64,
    },
    Duplicate {
        key: &'static str,
    },
    /// The configuration file could not be read (the kernel: too large
    /// for its heap).
    File {
        why: String,
    },
}

fn valid_keys() -> String {
    KNOBS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for KnobError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            KnobError::Syntax { item } => {
                write!(
                    f,
                    "'{item}' is not key=value; valid knobs: {}",
                    valid_keys()
                )
            }
            KnobError::UnknownKey { key } => {
                write!(f, "unknown knob '{key}'; valid knobs: {}", valid_keys())
            }
            KnobError::BadValue {
                key,
                value,
                expected,
            } => {
                write!(f, "bad value '{value}' for {key}: expected {expected}")
            }
            KnobError::OutOfRange {
                key,
                value,
                min,
                max,
            } => {
                write!(
                    f,
                    "{key}={value} is out of range: valid range is {min}..={max}"
                )
            }
            KnobError::Duplicate { key } => write!(f, "knob {key} is given more than once"),
            KnobError::File { why } => f.write_str(why),
        }
    }
}

/// A complete configuration: one value per registered knob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    values: Vec<KnobValue>,
}

fn index_of(name: &str) -> Option<usize> {
    KNOBS.iter().position(|k| k.name == name)
}

impl Config {
    /// Every knob at its default.
    pub fn defaults() -> Config {
        let values = KNOBS
            .iter()
            .map(|k| parse_value(k, k.default).expect("registry default must parse"))
            .collect();
        Config { values }
    }

    /// Parses `key=value` items separated by newlines or `;`. Blank items
    /// and lines starting with `#` are ignored. Unset knobs keep defaults.
    pub fn parse(text: &str) -> Result<Config, KnobError> {
        let mut config = Config::defaults();
        let mut seen = alloc::vec![false; KNOBS.len()];
        let items = text.split(['\n', ';']).map(str::trim);
        for item in items.filter(|i| !i.is_empty() && !i.starts_with('#')) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(KnobError::Syntax { item: item.into() });
            };
            let (key, value) = (key.trim(), value.trim());
            let i = index_of(key).ok_or_else(|| KnobError::UnknownKey { key: key.into() })?;
            if seen[i] {
                return Err(KnobError::Duplicate { key: KNOBS[i].name });
            }
            seen[i] = true;
            config.values[i] = parse_value(&KNOBS[i], value)?;
        }
        Ok(config)
    }

    fn get(&self, name: &str) -> KnobValue {
        let i = index_of(name).unwrap_or_else(|| panic!("knob {name} is not registered"));
        self.values[i]
    }

    /// The value of a numeric knob (`Size` or `U64`).
    pub fn number(&self, name: &str) -> u64 {
        match self.get(name) {
            KnobValue::Number(n) => n,
            KnobValue::Word(_) => panic!("knob {name} is not numeric"),
        }
    }

    /// The value of an `Enum` knob.
    pub fn word(&self, name: &str) -> &'static str {
        match self.get(name) {
            KnobValue::Word(w) => w,
            KnobValue::Number(_) => panic!("knob {name} is not a word"),
        }
    }

    /// The value of an on/off knob.
    pub fn flag(&self, name: &str) -> bool {
        self.word(name) == "1"
    }

    /// (name, value) for every knob, in registry order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, KnobValue)> + '_ {
        KNOBS
            .iter()
            .zip(self.values.iter())
            .map(|(k, v)| (k.name, *v))
    }
}

fn parse_value(spec: &KnobSpec, text: &str) -> Result<KnobValue, KnobError> {
    let bad = |expected: String| KnobError::BadValue {
        key: spec.name,
        value: text.into(),
        expected,
    };
    let (n, min, max) = match spec.kind {
        KnobKind::Enum(words) => {
            let word = words.iter().find(|w| **w == text);
            let expected = || alloc::format!("one of: {}", words.join(", "));
            return word
                .map(|w| KnobValue::Word(w))
                .ok_or_else(|| bad(expected()));
        }
        KnobKind::Size { min, max } => {
            let expected =
                "a size: a whole number of bytes with an optional K, M or G suffix (e.g. 64M)";
            (
                parse_size(text).ok_or_else(|| bad(expected.to_string()))?,
                min,
                max,
            )
        }
        KnobKind::U64 { min, max } => {
            let expected = "a whole number (decimal, or hex with 0x)";
            (
                parse_u64(text).ok_or_else(|| bad(expected.to_string()))?,
                min,
                max,
            )
        }
        KnobKind::SizeOrMax { .. } if text == "max" => return Ok(KnobValue::Number(u64::MAX)),
        KnobKind::SizeOrMax { min, max } => {
            let expected =
                "max, or a size: a whole number of bytes with an optional K, M or G suffix (e.g. 32M)";
            (
                parse_size(text).ok_or_else(|| bad(expected.to_string()))?,
                min,
                max,
            )
        }
    };
    if n < min || n > max {
        return Err(KnobError::OutOfRange {
            key: spec.name,
            value: text.into(),
            min,
            max,
        });
    }
    Ok(KnobValue::Number(n))
}

/// Parses a decimal or `0x` hex number.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        None => None,
    }
}

/// Parses `123`, `4K`, `64M`, `1G` (binary units, case-insensitive).
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        'B' => 1,
        'K' => KIB,
        'M' => MIB,
        'G' => GIB,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_every_knob() {
        let c = Config::defaults();
        assert_eq!(c.word("workload"), "smoke");
        assert_eq!(c.number("workload.size"), 64 * MIB);
        assert_eq!(c.number("workload.seed"), 1);
        assert_eq!(c.number("memcg.max"), u64::MAX);
        assert_eq!(c.number("vm.page_cluster"), 3);
        assert_eq!(c.word("swap.readahead"), "vma");
        assert_eq!(c.iter().count(), KNOBS.len());
    }

    #[test]
    fn parses_lines_and_semicolons() {
        let c = Config::parse("workload.size=128M\n# comment\n ; workload.seed = 0x10").unwrap();
        assert_eq!(c.number("workload.size"), 128 * MIB);
        assert_eq!(c.number("workload.seed"), 16);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("1G"), Some(GIB));
        assert_eq!(parse_size("banana"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("12T"), None);
        assert_eq!(parse_size("-1M"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }

    #[test]
    fn unknown_key_lists_valid_knobs() {
        let e = Config::parse("no.such.knob=1").unwrap_err();
        assert_eq!(
            e,
            KnobError::UnknownKey {
                key: "no.such.knob".into()
            }
        );
        let msg = e.to_string();
        for k in KNOBS {
            assert!(msg.contains(k.name), "message misses {}: {msg}", k.name);
        }
    }

    #[test]
    fn bad_value_names_the_format() {
        let e = Config::parse("workload.size=banana").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(
            e,
            KnobError::BadValue {
                key: "workload.size",
                ..
            }
        ));
        assert!(msg.contains("K, M or G"), "{msg}");
        let e = Config::parse("workload=compile-everything").unwrap_err();
        assert!(
            e.to_string().contains("one of: smoke, thrash, trace"),
            "{e}"
        );
        let e = Config::parse("swap.readahead=always").unwrap_err();
        assert!(e.to_string().contains("one of: vma, cluster, off"), "{e}");
    }

    #[test]
    fn out_of_range_is_rejected() {
        let e = Config::parse("workload.size=1K").unwrap_err();
        assert!(
            matches!(
                e,
                KnobError::OutOfRange {
                    key: "workload.size",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("valid range"));
    }

    #[test]
    fn memcg_max_takes_a_size_or_max() {
        let c = Config::parse("memcg.max=32M").unwrap();
        assert_eq!(c.number("memcg.max"), 32 * MIB);
        let c = Config::parse("memcg.max=max").unwrap();
        assert_eq!(c.number("memcg.max"), u64::MAX);
        let e = Config::parse("memcg.max=lots").unwrap_err();
        assert!(e.to_string().contains("max, or a size"), "{e}");
        let e = Config::parse("vm.page_cluster=32").unwrap_err();
        assert!(
            matches!(
                e,
                KnobError::OutOfRange {
                    min: 0,
                    max: 31,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn duplicate_is_rejected() {
        let e = Config::parse("workload.seed=1;workload.seed=2").unwrap_err();
        assert_eq!(
            e,
            KnobError::Duplicate {
                key: "workload.seed"
            }
        );
    }

    #[test]
    fn missing_equals_is_a_syntax_error() {
        let e = Config::parse("workload.size").unwrap_err();
        assert!(matches!(e, KnobError::Syntax { .. }));
    }
}
