//! The lab's build tree: a synthetic source tree for `workload=compile`
//! to read through the page cache, shaped by an experiment's `"files"`
//! (how many sources and headers, and their mean sizes), made into an
//! ext2 image once and kept under `target/faultline/trees/`.
//!
//! Its contents are C-like lines that name the file and the line, so a
//! page read from the wrong place is visible with `cat`; the kernel
//! verifies every page it reads again against what it read the first time.
//!
//! A user's own tree goes in with `faultline image DIR OUT` and
//! `faultline lab ... --files OUT` (or `faultline run --files OUT`): the
//! compile model takes files ending in `.h` as headers and every other
//! regular file as a source.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cargo::workspace_root;

/// The tree an experiment asks for at one scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSpec {
    pub sources: u64,
    pub source_bytes: u64,
    pub headers: u64,
    pub header_bytes: u64,
}

impl TreeSpec {
    /// Reads `{"sources": N, "source_bytes": B, "headers": N,
    /// "header_bytes": B}`; `what` names it in errors.
    pub fn from_json(v: &Value, what: &str) -> Result<TreeSpec, String> {
        let field = |key: &str| -> Result<u64, String> {
            let n = v[key]
                .as_u64()
                .ok_or_else(|| format!("{what}.{key}: expected a whole number"))?;
            if n == 0 || n > 1 << 30 {
                return Err(format!("{what}.{key}: {n} is out of range 1..=2^30"));
            }
            Ok(n)
        };
        let spec = TreeSpec {
            sources: field("sources")?,
            source_bytes: field("source_bytes")?,
            headers: field("headers")?,
            header_bytes: field("header_bytes")?,
        };
        let total = spec.sources * spec.source_bytes + spec.headers * spec.header_bytes;
        if total > 8 << 30 {
            return Err(format!(
                "{what}: {} MiB of files is more than the 8 GiB a tree may hold",
                total >> 20
            ));
        }
        Ok(spec)
    }

    /// A name that changes with every field (the image's file name).
    fn name(&self) -> String {
        format!(
            "tree-s{}x{}-h{}x{}",
            self.sources, self.source_bytes, self.headers, self.header_bytes
        )
    }
}

/// Size of file `i` of a kind whose mean is `mean`: spread evenly over
/// 50-150 % of the mean by a hash of `i` (files differ; the mean holds).
fn file_size(i: u64, mean: u64, salt: u64) -> u64 {
    let h = (i ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    (mean * (50 + h % 101) / 100).max(1)
}

/// `len` bytes of C-like lines naming `path`.
fn contents(path: &str, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize + 64);
    let mut line = 0u64;
    while (out.len() as u64) < len {
        line += 1;
        out.extend_from_slice(format!("/* {path} line {line} */ int x{line};\n").as_bytes());
    }
    out.truncate(len as usize);
    out
}

/// Writes the tree into `dir`: `include/gNN/hNNNNN.h` and
/// `src/dNN/fNNNNN.c`, 64 directories of each.
pub fn write_tree(dir: &Path, spec: &TreeSpec) -> Result<(), String> {
    let kinds = [
        (
            "include",
            "g",
            "h",
            "h",
            spec.headers,
            spec.header_bytes,
            0x4ead,
        ),
        ("src", "d", "f", "c", spec.sources, spec.source_bytes, 0x5c),
    ];
    for (top, dprefix, fprefix, ext, count, mean, salt) in kinds {
        for i in 0..count {
            let sub = format!("{top}/{dprefix}{:02}", i % 64);
            let rel = format!("{sub}/{fprefix}{i:05}.{ext}");
            fs::create_dir_all(dir.join(&sub)).map_err(|e| format!("{sub}: {e}"))?;
            fs::write(dir.join(&rel), contents(&rel, file_size(i, mean, salt)))
                .map_err(|e| format!("{rel}: {e}"))?;
        }
    }
    Ok(())
}

/// The image of `spec`'s tree, made on first use and kept.
pub fn tree_image(spec: &TreeSpec) -> Result<PathBuf, String> {
    let dir = workspace_root().join("target/faultline/trees");
    let image = dir.join(format!("{}.img", spec.name()));
    if image.exists() {
        return Ok(image);
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let work = dir.join(format!("{}.d", spec.name()));
    let _ = fs::remove_dir_all(&work);
    write_tree(&work, spec)?;
    // Made under a temporary name, so an interrupted build leaves no
    // image that looks finished.
    let partial = dir.join(format!("{}.partial", spec.name()));
    let _ = fs::remove_file(&partial);
    let summary = boot::ext2_image::image_from_dir(&work, &partial, None)?;
    fs::rename(&partial, &image).map_err(|e| format!("{}: {e}", image.display()))?;
    let _ = fs::remove_dir_all(&work);
    eprintln!("lab: build tree: {summary}");
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_their_mean_and_spread() {
        let n = 10_000;
        let sizes: Vec<u64> = (0..n).map(|i| file_size(i, 1000, 7)).collect();
        let mean = sizes.iter().sum::<u64>() / n;
        assert!((950..=1050).contains(&mean), "mean {mean}");
        assert!(sizes.iter().all(|&s| (500..=1500).contains(&s)));
    }

    #[test]
    fn contents_have_the_asked_length_and_name_the_file() {
        let c = contents("include/g01/h00001.h", 100);
        assert_eq!(c.len(), 100);
        assert!(c.starts_with(b"/* include/g01/h00001.h line 1 */"));
    }

    #[test]
    fn a_bad_spec_names_its_field() {
        let v: Value = serde_json::from_str(
            r#"{"sources": 1, "source_bytes": 0, "headers": 1, "header_bytes": 1}"#,
        )
        .unwrap();
        let e = TreeSpec::from_json(&v, "files.mini").unwrap_err();
        assert!(e.contains("files.mini.source_bytes"), "{e}");
    }
}
