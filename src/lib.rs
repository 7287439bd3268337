//! Host side of faultline: build the kernel, boot it in QEMU with a
//! configuration, read its result line; and drive the kernel's own tests.
//!
//! The binary (`src/main.rs`) is the `faultline` command; the host tests in
//! `tests/` use this library to boot kernels.

pub mod bench;
pub mod cargo;
pub mod chart;
pub mod cli;
pub mod compressors;
pub mod course;
pub mod exit;
pub mod fault;
pub mod knob_list;
pub mod ktest;
pub mod lab;
pub mod provenance;
pub mod result;
pub mod run;
pub mod soak;
pub mod timeline;
pub mod trace;

/// Parses `512M`, `1G`, `4096K`, `1048576` into bytes (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, scale) = match text.chars().last()?.to_ascii_uppercase() {
        'K' => (&text[..text.len() - 1], 1u64 << 10),
        'M' => (&text[..text.len() - 1], 1 << 20),
        'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("banana"), None);
        assert_eq!(parse_size("M"), None);
    }
}
