//! Lab regions: the solution code a lab asks students to write, marked in
//! place so that student trees are *generated* from the solution and can
//! never drift from it (starter code that drifted, shipped the solution or
//! did not compile is a classic course complaint).
//!
//! A region is a block of whole lines:
//!
//! ```text
//!     // LAB 4 BEGIN swapin_nr_pages
//!     // LAB 4 STANDIN: 1
//!     <the solution>
//!     // LAB 4 END swapin_nr_pages
//! ```
//!
//! For a student tree of lab N ([`cut`]):
//! - a region of an earlier lab keeps its solution (labs are independent:
//!   lab N starts from working earlier labs);
//! - a region of lab N becomes `todo!("lab N: NAME: see labs/labN.md#NAME")`;
//! - a region of a later lab becomes its `STANDIN:` lines: a simple working
//!   stand-in (readahead of one page), so the kernel still boots and the
//!   later lab's solution is not handed out early.
//!
//! The marker lines themselves are dropped. A region should be a whole
//! function body or match arm, so that `todo!()` (which never returns)
//! type-checks in its place.

use std::fmt;

/// One marked region of a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub lab: u32,
    pub name: String,
    /// 1-based line numbers of the BEGIN and END markers.
    pub begin_line: usize,
    pub end_line: usize,
    /// The stand-in's lines (without the `// LAB N STANDIN: ` prefix).
    pub standin: Vec<String>,
    /// The indentation of the BEGIN marker.
    pub indent: String,
}

/// A malformed marker, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for MarkerError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What a marker line says.
enum Marker<'a> {
    Begin(u32, &'a str),
    Standin(u32, &'a str),
    End(u32, &'a str),
}

/// Parses `// LAB N BEGIN name`, `// LAB N STANDIN: code`, `// LAB N END
/// name`; `Ok(None)` for a line that is not a marker.
fn parse_marker(line: &str) -> Result<Option<Marker<'_>>, String> {
    let Some(rest) = line.trim_start().strip_prefix("// LAB ") else {
        return Ok(None);
    };
    let (num, rest) = rest.split_once(' ').ok_or("a marker needs a kind")?;
    let lab: u32 = num
        .parse()
        .map_err(|_| format!("`{num}` is not a lab number"))?;
    if let Some(code) = rest.strip_prefix("STANDIN:") {
        return Ok(Some(Marker::Standin(
            lab,
            code.strip_prefix(' ').unwrap_or(code),
        )));
    }
    let (kind, name) = rest.split_once(' ').ok_or("a marker needs a region name")?;
    let name = name.trim();
    let is_ident = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !is_ident {
        return Err(format!("`{name}` is not a region name (a function's name)"));
    }
    match kind {
        "BEGIN" => Ok(Some(Marker::Begin(lab, name))),
        "END" => Ok(Some(Marker::End(lab, name))),
        _ => Err(format!(
            "unknown marker kind `{kind}` (BEGIN, STANDIN: or END)"
        )),
    }
}

/// Every region of `text`, in order. Regions do not nest; each BEGIN has
/// its END with the same lab and name; STANDIN lines come right after
/// BEGIN.
pub fn parse(text: &str) -> Result<Vec<Region>, MarkerError> {
    let mut regions = Vec::new();
    let mut open: Option<Region> = None;
    let mut in_standin = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let err = |message: String| MarkerError { line: n, message };
        let marker = parse_marker(line).map_err(err)?;
        match (marker, open.as_mut()) {
            (None, Some(_)) => in_standin = false,
            (None, None) => {}
            (Some(Marker::Begin(lab, name)), None) => {
                open = Some(Region {
                    lab,
                    name: name.to_string(),
                    begin_line: n,
                    end_line: 0,
                    standin: Vec::new(),
                    indent: line[..line.len() - line.trim_start().len()].to_string(),
                });
                in_standin = true;
            }
            (Some(Marker::Begin(..)), Some(r)) => {
                return Err(err(format!(
                    "BEGIN inside region `{}` (line {}): regions do not nest",
                    r.name, r.begin_line
                )))
            }
            (Some(Marker::Standin(lab, code)), Some(r)) if lab == r.lab && in_standin => {
                r.standin.push(code.to_string());
            }
            (Some(Marker::Standin(..)), _) => {
                return Err(err(
                    "STANDIN: lines must follow their region's BEGIN, with its lab number".into(),
                ))
            }
            (Some(Marker::End(lab, name)), Some(r)) if lab == r.lab && name == r.name => {
                let mut done = open.take().expect("open");
                done.end_line = n;
                regions.push(done);
            }
            (Some(Marker::End(lab, name)), Some(r)) => {
                return Err(err(format!(
                    "END of lab {lab} `{name}` closes lab {} `{}` (line {})",
                    r.lab, r.name, r.begin_line
                )))
            }
            (Some(Marker::End(_, name)), None) => {
                return Err(err(format!("END of `{name}` without a BEGIN")))
            }
        }
    }
    if let Some(r) = open {
        return Err(MarkerError {
            line: r.begin_line,
            message: format!("region `{}` has no END", r.name),
        });
    }
    Ok(regions)
}

/// The text of a student tree of `lab`: see the module comment. Errors
/// name the region that cannot be cut (a later lab's region without a
/// stand-in).
pub fn cut(text: &str, lab: u32) -> Result<String, MarkerError> {
    let regions = parse(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    let mut next = 0; // index into `lines`
    for r in &regions {
        for line in &lines[next..r.begin_line - 1] {
            out.push_str(line);
            out.push('\n');
        }
        let body = &lines[r.begin_line + r.standin.len()..r.end_line - 1];
        if r.lab < lab {
            for line in body {
                out.push_str(line);
                out.push('\n');
            }
        } else if r.lab == lab {
            out.push_str(&format!(
                "{}todo!(\"lab {lab}: {name}: see labs/lab{lab}.md#{name}\")\n",
                r.indent,
                name = r.name
            ));
        } else {
            if r.standin.is_empty() {
                return Err(MarkerError {
                    line: r.begin_line,
                    message: format!(
                        "lab {} region `{}` has no `// LAB {} STANDIN:` line, so a lab {lab} tree cannot replace it",
                        r.lab, r.name, r.lab
                    ),
                });
            }
            for code in &r.standin {
                out.push_str(&format!("{}{code}\n", r.indent));
            }
        }
        next = r.end_line;
    }
    for line in &lines[next..] {
        out.push_str(line);
        out.push('\n');
    }
    if !text.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "fn a() -> u32 {
    // LAB 2 BEGIN a
    // LAB 2 STANDIN: 0
    40 + 2
    // LAB 2 END a
}
fn b() -> u32 {
    // LAB 4 BEGIN b
    // LAB 4 STANDIN: let x = 1;
    // LAB 4 STANDIN: x
    7
    // LAB 4 END b
}
";

    #[test]
    fn parses_regions_with_their_standins() {
        let r = parse(SRC).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].lab, r[0].name.as_str(), r[0].begin_line, r[0].end_line),
            (2, "a", 2, 5)
        );
        assert_eq!(r[1].standin, ["let x = 1;", "x"]);
        assert_eq!(r[1].indent, "    ");
    }

    #[test]
    fn cuts_earlier_current_and_later_labs() {
        let t = cut(SRC, 4).unwrap();
        assert!(t.contains("    40 + 2\n"), "lab 2 keeps its solution:\n{t}");
        assert!(
            t.contains("    todo!(\"lab 4: b: see labs/lab4.md#b\")\n"),
            "{t}"
        );
        assert!(!t.contains("LAB"), "markers are dropped:\n{t}");
        let t = cut(SRC, 2).unwrap();
        assert!(t.contains("todo!(\"lab 2: a: see labs/lab2.md#a\")"));
        assert!(
            t.contains("    let x = 1;\n    x\n"),
            "lab 4 gets its stand-in:\n{t}"
        );
        assert!(!t.contains("    7\n"), "no later solution leaks:\n{t}");
        let t = cut(SRC, 9).unwrap();
        assert!(t.contains("40 + 2") && t.contains("    7\n"));
    }

    #[test]
    fn malformed_markers_name_their_line() {
        let e = parse("// LAB 2 BEGIN a\n// LAB 2 BEGIN b\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("do not nest"), "{e}");
        let e = parse("x\n// LAB 2 BEGIN a\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "region `a` has no END"));
        let e = parse("// LAB 2 BEGIN a\n// LAB 3 END a\n").unwrap_err();
        assert!(e.message.contains("closes lab 2"), "{e}");
        assert!(parse("// LAB x BEGIN a")
            .unwrap_err()
            .message
            .contains("lab number"));
        assert!(parse("// LAB 2 START a")
            .unwrap_err()
            .message
            .contains("unknown marker"));
        let e = parse("// LAB 2 BEGIN a\nx\n// LAB 2 STANDIN: y\n// LAB 2 END a").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn a_later_region_without_standin_cannot_be_cut() {
        let src = "// LAB 5 BEGIN z\nfoo()\n// LAB 5 END z\n";
        let e = cut(src, 2).unwrap_err();
        assert!(e.message.contains("no `// LAB 5 STANDIN:`"), "{e}");
        assert_eq!(cut(src, 6).unwrap(), "foo()\n");
    }
}
