//! Just enough of ELF64 to load a static program (Linux fs/binfmt_elf.c
//! `load_elf_binary`: the header, then every `PT_LOAD` program header).
//!
//! The programs are our own (built from `user/` and embedded), but the
//! parser trusts nothing: every offset and size is checked against the
//! file before it is used, and a bad file is an error naming the field.

use alloc::vec::Vec;
use core::fmt;

/// One `PT_LOAD` segment: `file_size` bytes at `offset` in the file go
/// to `vaddr`; the rest up to `mem_size` is zero (`.bss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub offset: u64,
    pub file_size: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

/// A parsed program: its entry point and segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub entry: u64,
    pub segments: Vec<Segment>,
}

/// What is wrong with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the structure read at `offset`.
    Truncated {
        what: &'static str,
        offset: u64,
    },
    /// A header field does not have a value we load.
    Unsupported {
        field: &'static str,
        value: u64,
    },
    /// A segment's bytes are not all inside the file, or its addresses
    /// wrap or leave user space.
    BadSegment {
        index: usize,
    },
    NoSegments,
    /// The entry point is not inside an executable segment.
    BadEntry(u64),
    /// The segments add up to more than [`MAX_IMAGE_BYTES`].
    TooLarge(u64),
}

/// Most memory a program's segments may ask for (exec copies them in up
/// front): 64 MiB, plenty for our programs, and refused before any page
/// is allocated.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ElfError::Truncated { what, offset } => {
                write!(f, "truncated: no room for the {what} at offset {offset:#x}")
            }
            ElfError::Unsupported { field, value } => {
                write!(f, "unsupported {field} {value:#x}")
            }
            ElfError::BadSegment { index } => {
                write!(
                    f,
                    "program header {index}: segment outside the file or user space"
                )
            }
            ElfError::NoSegments => write!(f, "no PT_LOAD segment"),
            ElfError::BadEntry(e) => {
                write!(f, "e_entry {e:#x} is not inside an executable segment")
            }
            ElfError::TooLarge(n) => write!(
                f,
                "segments of {n} bytes in all, more than the {MAX_IMAGE_BYTES} a program may have"
            ),
        }
    }
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// End of the lower half (user addresses).
const USER_END: u64 = 0x0000_8000_0000_0000;

fn bytes<'a>(
    file: &'a [u8],
    offset: u64,
    len: u64,
    what: &'static str,
) -> Result<&'a [u8], ElfError> {
    let end = offset.checked_add(len);
    match end {
        Some(end) if end <= file.len() as u64 => Ok(&file[offset as usize..end as usize]),
        _ => Err(ElfError::Truncated { what, offset }),
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

fn expect(field: &'static str, value: u64, want: u64) -> Result<(), ElfError> {
    if value == want {
        Ok(())
    } else {
        Err(ElfError::Unsupported { field, value })
    }
}

/// Parses a static x86_64 executable.
pub fn parse(file: &[u8]) -> Result<Program, ElfError> {
    let h = bytes(file, 0, 64, "ELF header")?;
    expect("magic", u32_at(h, 0) as u64, 0x464c_457f)?;
    expect("class (64-bit)", h[4] as u64, 2)?;
    expect("data (little-endian)", h[5] as u64, 1)?;
    expect("e_type (ET_EXEC)", u16_at(h, 16) as u64, 2)?;
    expect("e_machine (x86_64)", u16_at(h, 18) as u64, 62)?;
    expect("e_phentsize", u16_at(h, 54) as u64, 56)?;
    let entry = u64_at(h, 24);
    let phoff = u64_at(h, 32);
    let phnum = u16_at(h, 56) as u64;
    let table = bytes(file, phoff, phnum * 56, "program headers")?;
    let mut segments = Vec::new();
    for (index, ph) in table.as_chunks::<56>().0.iter().enumerate() {
        if u32_at(ph, 0) != PT_LOAD {
            continue;
        }
        let flags = u32_at(ph, 4);
        let seg = Segment {
            offset: u64_at(ph, 8),
            vaddr: u64_at(ph, 16),
            file_size: u64_at(ph, 32),
            mem_size: u64_at(ph, 40),
            readable: flags & PF_R != 0,
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        };
        let in_file = seg
            .offset
            .checked_add(seg.file_size)
            .is_some_and(|e| e <= file.len() as u64);
        let in_user = seg
            .vaddr
            .checked_add(seg.mem_size)
            .is_some_and(|e| e <= USER_END);
        if !in_file || !in_user || seg.file_size > seg.mem_size {
            return Err(ElfError::BadSegment { index });
        }
        if seg.mem_size > 0 {
            segments.push(seg);
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoSegments);
    }
    // Each mem_size is below 2^47 (checked above), so the sum cannot wrap.
    let total: u64 = segments.iter().map(|s| s.mem_size).sum();
    if total > MAX_IMAGE_BYTES {
        return Err(ElfError::TooLarge(total));
    }
    let runs = |s: &&Segment| s.executable && s.vaddr <= entry && entry - s.vaddr < s.mem_size;
    if !segments.iter().any(|s| runs(&s)) {
        return Err(ElfError::BadEntry(entry));
    }
    Ok(Program { entry, segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid header with one PT_LOAD of `len` bytes at 0x400000.
    fn tiny(len: u64) -> Vec<u8> {
        let mut f = alloc::vec![0u8; 64 + 56 + len as usize];
        f[0..4].copy_from_slice(&[0x7f, b'E', b'L', b'F']);
        f[4] = 2;
        f[5] = 1;
        f[16] = 2;
        f[18] = 62;
        f[24..32].copy_from_slice(&0x400000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54] = 56;
        f[56] = 1;
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 4..ph + 8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        f[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes());
        f[ph + 16..ph + 24].copy_from_slice(&0x400000u64.to_le_bytes());
        f[ph + 32..ph + 40].copy_from_slice(&len.to_le_bytes());
        f[ph + 40..ph + 48].copy_from_slice(&len.to_le_bytes());
        f
    }

    #[test_case]
    fn a_tiny_program_parses() {
        let p = parse(&tiny(16)).unwrap();
        assert_eq!(p.entry, 0x400000);
        assert_eq!(p.segments.len(), 1);
        assert!(p.segments[0].executable && !p.segments[0].writable);
    }

    #[test_case]
    fn damaged_files_name_what_is_wrong() {
        assert!(matches!(
            parse(&[0x7f, b'E']),
            Err(ElfError::Truncated {
                what: "ELF header",
                ..
            })
        ));
        let mut f = tiny(16);
        f[18] = 3;
        assert_eq!(
            parse(&f),
            Err(ElfError::Unsupported {
                field: "e_machine (x86_64)",
                value: 3
            })
        );
        let mut f = tiny(16);
        f[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse(&f), Err(ElfError::BadSegment { index: 0 }));
        let mut f = tiny(16);
        f[56] = 200; // more program headers than the file holds
        assert!(matches!(parse(&f), Err(ElfError::Truncated { .. })));
        let mut f = tiny(16);
        f[24..32].copy_from_slice(&0xdead_0000u64.to_le_bytes());
        assert_eq!(parse(&f), Err(ElfError::BadEntry(0xdead_0000)));
        let mut f = tiny(16);
        f[64 + 40..64 + 48].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert_eq!(parse(&f), Err(ElfError::TooLarge(1 << 40)));
    }
}
