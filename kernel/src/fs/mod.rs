//! File systems. Only one so far: a read-only ext2 reader ([`ext2`]) over
//! a memory image or a virtio-blk disk ([`bdev`]), which feeds the page
//! cache ([`crate::mm::filemap`]): the build's sources and headers live in
//! an ext2 image that `faultline image` makes with `mke2fs -d`.
//!
//! When the host attached a files disk (`faultline run --files IMAGE`),
//! [`mount_files_disk`] walks every directory, opens every regular file
//! for the page cache (its inode and block map are read now, once: the
//! metadata a warm dentry and inode cache would hold), and hands the disk
//! to the page cache, which reads file *data* from it asynchronously,
//! under the same latency model as the swap disk. The build writes its
//! object files to a second, writable disk ([`objects`]).

pub mod bdev;
pub mod ext2;
pub mod objects;

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::drivers::virtio::blk::{DeviceLatency, VirtioBlk, FILES_SERIAL};
use crate::drivers::virtio::VirtioError;
use crate::mm::filemap::{AddressSpace, FileBacking};
use crate::mm::state::with_mm_state;
use crate::mm::PAGE_SIZE;
use bdev::DiskReader;
use ext2::{BlockDevice, Ext2, Ext2Error, FileKind, Inode, ROOT_INO};

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
    /// Size of the objects disk (0: none, object files are not written).
    pub objects_disk_bytes: u64,
}

/// Mounts the files disk, if there is one, walks its tree, opens every
/// regular file for the page cache and gives the disk (with `latency`) to
/// the page cache. A disk that is there but unreadable is an error naming
/// the field and offset.
pub fn mount_files_disk(latency: DeviceLatency) -> Result<Option<FilesSummary>, String> {
    let blk = match VirtioBlk::probe_serial(FILES_SERIAL) {
        Ok(blk) => blk,
        Err(VirtioError::NoDevice) => return Ok(None),
        Err(e) => return Err(format!("files disk: {e:?}")),
    };
    let disk_bytes = blk.capacity_bytes();
    let mut fs = Ext2::mount(DiskReader::new(blk)).map_err(|e| format!("files disk: {e}"))?;
    let (mut summary, regular) = walk(&mut fs).map_err(|e| format!("files disk: {e}"))?;
    let mut files = Vec::with_capacity(regular.len());
    for (path, ino) in regular {
        let file = fs
            .read_inode(ino)
            .and_then(|inode| open_inode(&mut fs, path, &inode))
            .map_err(|e| format!("files disk: {e}"))?;
        files.push(file);
    }
    summary.disk_bytes = disk_bytes;
    summary.block_size = fs.block_size();
    summary.page_reads = fs.device().reads;
    let mut blk = fs.into_device().into_inner();
    blk.set_latency(latency);
    install_page_cache(files, FileBacking::Disk(alloc::boxed::Box::new(blk)));
    summary.objects_disk_bytes = objects::mount_objects_disk(latency)?.unwrap_or(0);
    Ok(Some(summary))
}

/// Makes `files` the page cache's files, read from `backing` (replacing
/// any earlier set, which must have no page cached).
pub fn install_page_cache(files: Vec<AddressSpace>, backing: FileBacking) {
    with_mm_state(|st| {
        let pc = &mut st.page_cache;
        assert_eq!(pc.nrpages(), 0, "replacing files that have cached pages");
        pc.files = files;
        pc.backing = Some(backing);
    });
}

/// Opens each of `paths` (regular files) as a page-cache file.
pub fn open_files<D: BlockDevice>(
    fs: &mut Ext2<D>,
    paths: &[String],
) -> Result<Vec<AddressSpace>, Ext2Error> {
    paths
        .iter()
        .map(|path| {
            let inode = fs.lookup(path)?;
            open_inode(fs, path.clone(), &inode)
        })
        .collect()
}

/// The page-cache file of `inode`, found at `path`.
fn open_inode<D: BlockDevice>(
    fs: &mut Ext2<D>,
    path: String,
    inode: &Inode,
) -> Result<AddressSpace, Ext2Error> {
    let blocks = page_map(fs, inode)?;
    Ok(AddressSpace::new(path, inode.size, blocks))
}

/// Where each page of a file is on the disk (a byte offset; `None` for a
/// hole). The page cache reads one block per page, so it needs 4 KiB
/// blocks, which `faultline image` makes; another block size is refused
/// (with smaller blocks a page could be part hole, part data).
pub fn page_map<D: BlockDevice>(
    fs: &mut Ext2<D>,
    inode: &Inode,
) -> Result<Vec<Option<u64>>, Ext2Error> {
    let bs = fs.block_size();
    if bs != PAGE_SIZE {
        return Err(Ext2Error::Unsupported {
            field: "s_log_block_size",
            offset: 1024 + 24,
            value: bs,
            why:
                "the page cache reads one 4 KiB block per page: make the image with faultline image",
        });
    }
    (0..inode.size.div_ceil(PAGE_SIZE))
        .map(|page| Ok(fs.bmap(inode, page)?.map(|block| block * bs)))
        .collect()
}

/// Counts everything under the root, and lists the regular files' paths.
/// A directory reached twice (a corrupt image can link one into its own
/// subtree) is an error, not a loop.
fn walk<D: BlockDevice>(fs: &mut Ext2<D>) -> Result<(FilesSummary, Vec<(String, u32)>), Ext2Error> {
    let mut s = FilesSummary {
        dirs: 1,
        ..FilesSummary::default()
    };
    let mut regular = Vec::new();
    let mut seen = BTreeSet::from([ROOT_INO]);
    let mut todo = vec![(ROOT_INO, String::new())];
    while let Some((ino, dir_path)) = todo.pop() {
        let dir = fs.read_inode(ino)?;
        for e in fs.read_dir(&dir)? {
            if e.name == "." || e.name == ".." {
                continue;
            }
            let path = format!("{dir_path}/{}", e.name);
            let inode = fs.read_inode(e.ino)?;
            match inode.kind() {
                FileKind::Directory => {
                    if !seen.insert(e.ino) {
                        return Err(Ext2Error::DirectoryLoop { ino: e.ino });
                    }
                    s.dirs += 1;
                    todo.push((e.ino, path));
                }
                FileKind::Regular => {
                    s.files += 1;
                    s.bytes += inode.size;
                    regular.push((path, e.ino));
                }
                _ => s.other += 1,
            }
        }
    }
    regular.sort();
    Ok((s, regular))
}
