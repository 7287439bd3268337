//! What can go wrong reading an image, each case naming where.

use alloc::string::String;
use core::fmt;

/// Why an image could not be read. Every variant names where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ext2Error {
    /// The device holds fewer bytes than a read needed.
    Io { offset: u64, len: usize, size: u64 },
    /// The device reported an error for the read at `offset`.
    DeviceError { offset: u64 },
    /// A field holds a value that no valid ext2 image has.
    Corrupt {
        field: &'static str,
        offset: u64,
        value: u64,
        why: &'static str,
    },
    /// A valid ext2 (or ext3/4) feature this reader does not implement.
    Unsupported {
        field: &'static str,
        offset: u64,
        value: u64,
        why: &'static str,
    },
    /// An inode number outside `1..=s_inodes_count`.
    NoSuchInode { ino: u32, count: u32 },
    /// A path component that is not in its directory.
    NotFound { path: String },
    /// A path component, or an inode read as a directory, that is not one.
    NotADirectory { path: String },
    /// A directory reached twice in a walk: a corrupt image linked it
    /// into its own subtree (or twice).
    DirectoryLoop { ino: u32 },
    /// A file too big to read whole into memory.
    TooLarge { ino: u32, size: u64, limit: u64 },
}

impl fmt::Display for Ext2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ext2Error::Io { offset, len, size } => write!(
                f,
                "ext2: read of {len} bytes at byte {offset} is past the end of the {size}-byte image"
            ),
            Ext2Error::DeviceError { offset } => {
                write!(f, "ext2: the disk reported an error reading byte {offset}")
            }
            Ext2Error::Corrupt {
                field,
                offset,
                value,
                why,
            } => write!(
                f,
                "ext2: corrupt image: {field} at byte {offset} is {value} ({why})"
            ),
            Ext2Error::Unsupported {
                field,
                offset,
                value,
                why,
            } => write!(
                f,
                "ext2: unsupported image: {field} at byte {offset} is {value:#x} ({why})"
            ),
            Ext2Error::NoSuchInode { ino, count } => {
                write!(f, "ext2: inode {ino} does not exist (the image has 1..={count})")
            }
            Ext2Error::NotFound { path } => write!(f, "ext2: {path}: no such file or directory"),
            Ext2Error::NotADirectory { path } => write!(f, "ext2: {path}: not a directory"),
            Ext2Error::DirectoryLoop { ino } => write!(
                f,
                "ext2: directory inode {ino} is linked twice: a loop, in a corrupt image"
            ),
            Ext2Error::TooLarge { ino, size, limit } => write!(
                f,
                "ext2: inode {ino} claims {size} bytes, more than the {limit}-byte image could hold"
            ),
        }
    }
}
