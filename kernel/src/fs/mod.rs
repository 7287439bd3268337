//! File systems. Only one so far: a read-only ext2 reader ([`ext2`]) over
//! a memory image or a virtio-blk disk ([`bdev`]), the first piece of a
//! page cache for file pages (the build's sources and headers will live in
//! an ext2 image that `faultline image` makes with `mke2fs -d`).
//!
//! Today a run only surveys the files disk, if the host attached one
//! (`faultline run --files IMAGE`): it walks every directory and reports
//! what it found, without reading file data. No workload reads files yet.

pub mod bdev;
pub mod ext2;

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec;

use crate::drivers::virtio::blk::{VirtioBlk, FILES_SERIAL};
use crate::drivers::virtio::VirtioError;
use bdev::DiskReader;
use ext2::{BlockDevice, Ext2, FileKind, ROOT_INO};

/// What the files disk holds, as the walk found it.
#[derive(Debug, Clone, Default)]
pub struct FilesSummary {
    pub disk_bytes: u64,
    pub block_size: u64,
    pub files: u64,
    /// Directories, the root included.
    pub dirs: u64,
    /// Symbolic links, devices, FIFOs: counted, not followed.
    pub other: u64,
    /// Bytes in regular files.
    pub bytes: u64,
    /// Page reads the walk sent to the disk.
    pub page_reads: u64,
}

/// Mounts the files disk, if there is one, and walks its tree. A disk that
/// is there but unreadable is an error naming the field and offset.
pub fn survey_files_disk() -> Result<Option<FilesSummary>, String> {
    let blk = match VirtioBlk::probe_serial(FILES_SERIAL) {
        Ok(blk) => blk,
        Err(VirtioError::NoDevice) => return Ok(None),
        Err(e) => return Err(format!("files disk: {e:?}")),
    };
    // No latency model is set on this disk: the survey happens before any
    // measured phase and costs no modelled time. Reads that a workload
    // waits for will need one, as the swap disk has (`swapdev.profile`).
    let disk_bytes = blk.capacity_bytes();
    let mut fs = Ext2::mount(DiskReader::new(blk)).map_err(|e| format!("files disk: {e}"))?;
    let mut summary = walk(&mut fs).map_err(|e| format!("files disk: {e}"))?;
    summary.disk_bytes = disk_bytes;
    summary.block_size = fs.block_size();
    summary.page_reads = fs.device().reads;
    Ok(Some(summary))
}

/// Counts everything under the root. A directory reached twice (a corrupt
/// image can link one into its own subtree) is an error, not a loop.
fn walk<D: BlockDevice>(fs: &mut Ext2<D>) -> Result<FilesSummary, ext2::Ext2Error> {
    let mut s = FilesSummary {
        dirs: 1,
        ..FilesSummary::default()
    };
    let mut seen = BTreeSet::from([ROOT_INO]);
    let mut todo = vec![ROOT_INO];
    while let Some(ino) = todo.pop() {
        let dir = fs.read_inode(ino)?;
        for e in fs.read_dir(&dir)? {
            if e.name == "." || e.name == ".." {
                continue;
            }
            let inode = fs.read_inode(e.ino)?;
            match inode.kind() {
                FileKind::Directory => {
                    if !seen.insert(e.ino) {
                        return Err(ext2::Ext2Error::DirectoryLoop { ino: e.ino });
                    }
                    s.dirs += 1;
                    todo.push(e.ino);
                }
                FileKind::Regular => {
                    s.files += 1;
                    s.bytes += inode.size;
                }
                _ => s.other += 1,
            }
        }
    }
    Ok(s)
}
