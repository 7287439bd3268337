//! `faultline knobs [--json]`: every boot-time knob from the registry the
//! kernel itself parses with (`knobs/src/registry.rs`), and the Markdown
//! reference `docs/knobs.md` generated from it.

use serde_json::{json, Value};

/// The values a knob accepts, as one line of text.
pub fn values(kind: knobs::KnobKind) -> String {
    match kind {
        knobs::KnobKind::Enum(words) => words.join("|"),
        knobs::KnobKind::Size { min, max } => format!("size {min}..={max} (K, M, G)"),
        knobs::KnobKind::U64 { min, max } => format!("number {min}..={max}"),
        knobs::KnobKind::SizeOrMax { min, max } => {
            format!("size {min}..={max} (K, M, G) or max")
        }
    }
}

/// One knob as JSON: name, type, default, values (words) or min/max, help.
fn knob_json(k: &knobs::KnobSpec) -> Value {
    let (kind, words, range) = match k.kind {
        knobs::KnobKind::Enum(w) => ("enum", Some(w), None),
        knobs::KnobKind::Size { min, max } => ("size", None, Some((min, max))),
        knobs::KnobKind::U64 { min, max } => ("number", None, Some((min, max))),
        knobs::KnobKind::SizeOrMax { min, max } => ("size_or_max", None, Some((min, max))),
    };
    json!({
        "name": k.name,
        "type": kind,
        "default": k.default,
        "values": words,
        "min": range.map(|r| r.0),
        "max": range.map(|r| r.1),
        "help": k.help,
    })
}

/// Prints the list on stdout.
pub fn print(as_json: bool) {
    if as_json {
        let all: Vec<Value> = knobs::KNOBS.iter().map(knob_json).collect();
        println!("{}", Value::Array(all));
        return;
    }
    for k in knobs::KNOBS {
        println!(
            "{}={}\n    {}\n    {}",
            k.name,
            k.default,
            values(k.kind),
            k.help
        );
    }
}

/// `docs/knobs.md`: a table of every knob (a test keeps the file equal to
/// this, so the reference cannot drift from the registry).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Knobs\n\n\
         Generated from the registry (`knobs/src/registry.rs`) by `faultline knobs`;\n\
         a test fails when this file and the registry differ (regenerate with\n\
         `FAULTLINE_BLESS=1 cargo test --lib knob_list`). Give them as\n\
         `faultline run --set KEY=VALUE`; the host checks them before it builds or\n\
         boots anything. Sizes take K, M or G (binary units).\n\n\
         | knob | default | values | what it does |\n|---|---|---|---|\n",
    );
    for k in knobs::KNOBS {
        // The programs change whenever someone adds one: the reference
        // says where they are rather than list them (`faultline knobs`
        // lists them), so adding a program needs no regeneration.
        let values = if matches!(k.kind, knobs::KnobKind::Enum(w) if w == knobs::USER_PROGRAMS) {
            "a program in user/src/bin/ (`faultline knobs` lists them)".to_string()
        } else {
            values(k.kind).replace('|', "\\|")
        };
        s += &format!(
            "| `{}` | `{}` | {} | {} |\n",
            k.name,
            k.default,
            values,
            k.help.replace('|', "\\|")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_knob_with_its_range() {
        let all: Vec<Value> = knobs::KNOBS.iter().map(knob_json).collect();
        assert_eq!(all.len(), knobs::KNOBS.len());
        let swappiness = all.iter().find(|k| k["name"] == "vm.swappiness").unwrap();
        assert_eq!(swappiness["type"], "number");
        assert_eq!(swappiness["default"], "60");
        assert_eq!(swappiness["max"], 200);
    }

    /// `docs/knobs.md` is the registry's (bless with FAULTLINE_BLESS=1).
    #[test]
    fn docs_knobs_md_matches_the_registry() {
        let path = crate::cargo::workspace_root().join("docs/knobs.md");
        let want = markdown();
        if std::env::var_os("FAULTLINE_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/knobs.md differs from the registry: FAULTLINE_BLESS=1 cargo test --lib knob_list"
        );
    }
}
