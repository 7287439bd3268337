//! A read-only ext2 reader: the image a host makes with
//! `mke2fs -t ext2 -d DIR IMAGE SIZE`, read block by block.
//!
//! ext2 in one paragraph (Linux `fs/ext2/`, and "The Second Extended File
//! System" by Dave Poirier): the disk is an array of blocks (1-64 KiB). The
//! superblock sits at byte 1024 and says how big the blocks are and how
//! they are cut into *block groups*. After the superblock's block comes the
//! group descriptor table: for each group, where its inode table starts.
//! An inode (numbered from 1; the root directory is inode 2) holds a file's
//! type, size and 15 block pointers: 12 direct, then a single, a double and
//! a triple indirect block of further pointers. A pointer of 0 is a hole
//! that reads as zeros. A directory is a file of variable-length entries
//! (inode, record length, name), which never cross a block.
//!
//! What we leave out, on purpose: writing; the journal, extents and
//! 64-bit block numbers (ext3/ext4: an image that needs them is refused
//! with the feature bits named); hashed directory indexes (`dir_index`
//! keeps a linear layout that this reader walks, as old kernels do);
//! following symbolic links. Every value read from the image is checked
//! before it is used as an offset, a loop bound or an allocation size, so a
//! corrupt image gives an [`Ext2Error`] naming the field and its byte
//! offset, never a panic or a huge allocation.

mod dir;
mod error;

pub use dir::DirEntry;
pub use error::Ext2Error;

use alloc::vec;
use alloc::vec::Vec;

/// The superblock's place on every ext2 disk, whatever the block size.
const SUPERBLOCK_OFFSET: u64 = 1024;
const EXT2_MAGIC: u16 = 0xef53;
/// Inode of the root directory (`EXT2_ROOT_INO`).
pub const ROOT_INO: u32 = 2;
/// `EXT2_FEATURE_INCOMPAT_FILETYPE`: directory entries carry the file type.
const INCOMPAT_FILETYPE: u32 = 0x0002;
/// `EXT2_FEATURE_RO_COMPAT_LARGE_FILE`: `i_size_high` holds size bits 32-63.
const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
/// Direct block pointers in an inode (`EXT2_NDIR_BLOCKS`).
const NDIR_BLOCKS: u64 = 12;
/// Size of a group descriptor without the 64-bit feature.
const GROUP_DESC_SIZE: u64 = 32;

/// Where the bytes come from: the image in memory, or (later) a disk.
pub trait BlockDevice {
    /// Bytes on the device.
    fn size(&self) -> u64;
    /// Fills `buf` from byte `offset`; fails if that runs past the end.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error>;
}

/// An image held in memory (a `Vec<u8>`, or a borrowed `&[u8]`).
pub struct MemDisk<T: AsRef<[u8]>>(pub T);

impl<T: AsRef<[u8]>> BlockDevice for MemDisk<T> {
    fn size(&self) -> u64 {
        self.0.as_ref().len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Ext2Error> {
        let bytes = self.0.as_ref();
        let size = bytes.len() as u64;
        let end = offset.checked_add(buf.len() as u64);
        match end {
            Some(end) if end <= size => {
                buf.copy_from_slice(&bytes[offset as usize..end as usize]);
                Ok(())
            }
            _ => Err(Ext2Error::Io {
                offset,
                len: buf.len(),
                size,
            }),
        }
    }
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    /// Devices, FIFOs, sockets: listed, never read.
    Other,
}

impl FileKind {
    /// From the type bits of `i_mode` (`S_IFMT`).
    fn from_mode(mode: u16) -> Self {
        match mode & 0xf000 {
            0x8000 => FileKind::Regular,
            0x4000 => FileKind::Directory,
            0xa000 => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }

    /// From a directory entry's `file_type` byte (`EXT2_FT_*`).
    fn from_dirent_type(t: u8) -> Self {
        match t {
            1 => FileKind::Regular,
            2 => FileKind::Directory,
            7 => FileKind::Symlink,
            _ => FileKind::Other,
        }
    }
}

/// The parts of an on-disk inode (`struct ext2_inode`) we use.
#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u32,
    pub mode: u16,
    pub size: u64,
    pub links: u16,
    /// `i_block`: 12 direct pointers, then single, double, triple indirect.
    block: [u32; 15],
}

impl Inode {
    pub fn kind(&self) -> FileKind {
        FileKind::from_mode(self.mode)
    }
}

/// A mounted image: the checked superblock and each group's inode table.
pub struct Ext2<D: BlockDevice> {
    dev: D,
    block_size: u64,
    blocks_count: u64,
    inodes_count: u32,
    inodes_per_group: u32,
    inode_size: u64,
    has_filetype: bool,
    large_file: bool,
    /// First block of each group's inode table (`bg_inode_table`).
    inode_tables: Vec<u64>,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A superblock field that failed a check: where it is and why.
fn bad_sb(field: &'static str, at: usize, value: u64, why: &'static str) -> Ext2Error {
    Ext2Error::Corrupt {
        field,
        offset: SUPERBLOCK_OFFSET + at as u64,
        value,
        why,
    }
}

impl<D: BlockDevice> Ext2<D> {
    /// Reads and checks the superblock and the group descriptors (Linux
    /// `ext2_fill_super`, minus everything a writer needs).
    pub fn mount(mut dev: D) -> Result<Self, Ext2Error> {
        let mut sb = [0u8; 1024];
        dev.read_at(SUPERBLOCK_OFFSET, &mut sb)?;
        let magic = le16(&sb, 56);
        if magic != EXT2_MAGIC {
            return Err(bad_sb(
                "s_magic",
                56,
                magic.into(),
                "ext2 has 0xef53 = 61267 here",
            ));
        }
        let log = le32(&sb, 24);
        if log > 6 {
            return Err(bad_sb(
                "s_log_block_size",
                24,
                log.into(),
                "blocks are 1-64 KiB",
            ));
        }
        let block_size = 1024u64 << log;
        let rev = le32(&sb, 76);
        if rev > 1 {
            return Err(Ext2Error::Unsupported {
                field: "s_rev_level",
                offset: SUPERBLOCK_OFFSET + 76,
                value: rev.into(),
                why: "only revisions 0 and 1 exist",
            });
        }
        let incompat = if rev == 0 { 0 } else { le32(&sb, 96) };
        if incompat & !INCOMPAT_FILETYPE != 0 {
            return Err(Ext2Error::Unsupported {
                field: "s_feature_incompat",
                offset: SUPERBLOCK_OFFSET + 96,
                value: incompat.into(),
                why: "only filetype (0x2) is read here: make the image with mke2fs -t ext2",
            });
        }
        let inode_size = if rev == 0 { 128 } else { le16(&sb, 88) as u64 };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > block_size {
            return Err(bad_sb(
                "s_inode_size",
                88,
                inode_size,
                "a power of two from 128 to the block size",
            ));
        }
        let blocks_count = le32(&sb, 4) as u64;
        if blocks_count.saturating_mul(block_size) > dev.size() {
            return Err(bad_sb(
                "s_blocks_count",
                4,
                blocks_count,
                "more blocks than the image holds",
            ));
        }
        // With 1 KiB blocks block 0 holds the boot sector and the
        // superblock is block 1; with bigger blocks both are in block 0.
        let first_data_block = le32(&sb, 20) as u64;
        if first_data_block != u64::from(block_size == 1024) {
            return Err(bad_sb(
                "s_first_data_block",
                20,
                first_data_block,
                "1 with 1 KiB blocks, else 0",
            ));
        }
        if blocks_count <= first_data_block + 2 {
            return Err(bad_sb(
                "s_blocks_count",
                4,
                blocks_count,
                "too few blocks for a superblock and group descriptors",
            ));
        }
        // A group's bitmaps are one block each, so no group is bigger
        // than the bits in a block.
        let per_group_max = 8 * block_size;
        let blocks_per_group = le32(&sb, 32) as u64;
        if blocks_per_group == 0 || blocks_per_group > per_group_max {
            return Err(bad_sb(
                "s_blocks_per_group",
                32,
                blocks_per_group,
                "1 to 8 x the block size",
            ));
        }
        let inodes_per_group = le32(&sb, 40);
        if inodes_per_group == 0 || inodes_per_group as u64 > per_group_max {
            return Err(bad_sb(
                "s_inodes_per_group",
                40,
                inodes_per_group.into(),
                "1 to 8 x the block size",
            ));
        }
        let groups = (blocks_count - first_data_block).div_ceil(blocks_per_group);
        let inodes_count = le32(&sb, 0);
        if inodes_count as u64 != groups * inodes_per_group as u64 {
            return Err(bad_sb(
                "s_inodes_count",
                0,
                inodes_count.into(),
                "not s_inodes_per_group x the number of groups",
            ));
        }
        let mut fs = Ext2 {
            dev,
            block_size,
            blocks_count,
            inodes_count,
            inodes_per_group,
            inode_size,
            has_filetype: incompat & INCOMPAT_FILETYPE != 0,
            large_file: rev == 1 && le32(&sb, 100) & RO_COMPAT_LARGE_FILE != 0,
            inode_tables: Vec::new(),
        };
        fs.read_group_descriptors(first_data_block + 1, groups)?;
        Ok(fs)
    }

    /// Reads `bg_inode_table` of every group from the table at `gdt_block`
    /// and checks that each table lies inside the image.
    fn read_group_descriptors(&mut self, gdt_block: u64, groups: u64) -> Result<(), Ext2Error> {
        let table_blocks =
            (self.inodes_per_group as u64 * self.inode_size).div_ceil(self.block_size);
        // `groups` <= `blocks_count`, which the image's size bounded.
        let mut table = vec![0u8; (groups * GROUP_DESC_SIZE) as usize];
        let base = gdt_block * self.block_size;
        self.dev.read_at(base, &mut table)?;
        for g in 0..groups as usize {
            let at = g * GROUP_DESC_SIZE as usize + 8;
            let start = le32(&table, at) as u64;
            if start == 0 || start + table_blocks > self.blocks_count {
                return Err(Ext2Error::Corrupt {
                    field: "bg_inode_table",
                    offset: base + at as u64,
                    value: start,
                    why: "the inode table runs past the last block",
                });
            }
            self.inode_tables.push(start);
        }
        Ok(())
    }

    /// The device the image is read from.
    /// Unmounts: gives the device back.
    pub fn into_device(self) -> D {
        self.dev
    }

    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    pub fn blocks_count(&self) -> u64 {
        self.blocks_count
    }

    /// Byte offset of inode `ino` in the image (for tests that corrupt it).
    pub fn inode_offset(&self, ino: u32) -> Result<u64, Ext2Error> {
        if ino == 0 || ino > self.inodes_count {
            return Err(Ext2Error::NoSuchInode {
                ino,
                count: self.inodes_count,
            });
        }
        let group = ((ino - 1) / self.inodes_per_group) as usize;
        let index = ((ino - 1) % self.inodes_per_group) as u64;
        Ok(self.inode_tables[group] * self.block_size + index * self.inode_size)
    }

    /// Reads inode `ino` (Linux `ext2_iget`).
    pub fn read_inode(&mut self, ino: u32) -> Result<Inode, Ext2Error> {
        let offset = self.inode_offset(ino)?;
        let mut raw = [0u8; 128];
        self.dev.read_at(offset, &mut raw)?;
        let mode = le16(&raw, 0);
        let mut size = le32(&raw, 4) as u64;
        if self.large_file && FileKind::from_mode(mode) == FileKind::Regular {
            size |= (le32(&raw, 108) as u64) << 32;
        }
        let mut block = [0u32; 15];
        for (i, b) in block.iter_mut().enumerate() {
            *b = le32(&raw, 40 + 4 * i);
        }
        if size > self.max_file_size() {
            return Err(Ext2Error::Corrupt {
                field: "i_size",
                offset: offset + 4,
                value: size,
                why: "more than 15 block pointers can map",
            });
        }
        Ok(Inode {
            ino,
            mode,
            size,
            links: le16(&raw, 26),
            block,
        })
    }

    /// Bytes the 12 direct and 3 indirect pointers can reach.
    fn max_file_size(&self) -> u64 {
        let p = self.block_size / 4;
        (NDIR_BLOCKS + p + p * p + p * p * p).saturating_mul(self.block_size)
    }

    /// The disk block holding block `index` of the file, `None` for a hole
    /// (Linux `ext2_get_block` without allocation).
    pub fn bmap(&mut self, inode: &Inode, index: u64) -> Result<Option<u64>, Ext2Error> {
        let p = self.block_size / 4;
        let i_block = self.inode_offset(inode.ino)? + 40;
        if index < NDIR_BLOCKS {
            let at = i_block + 4 * index;
            return self.check_pointer(at, inode.block[index as usize]);
        }
        // Which indirect tree, and the pointer indexes down it.
        let mut rest = index - NDIR_BLOCKS;
        let (root, depth) = if rest < p {
            (12, 1)
        } else if rest - p < p * p {
            rest -= p;
            (13, 2)
        } else {
            rest -= p + p * p;
            (14, 3)
        };
        let mut block = self.check_pointer(i_block + 4 * root as u64, inode.block[root])?;
        for level in (0..depth).rev() {
            let Some(table) = block else {
                return Ok(None);
            };
            let at = table * self.block_size + (rest / p.pow(level)) % p * 4;
            let mut raw = [0u8; 4];
            self.dev.read_at(at, &mut raw)?;
            block = self.check_pointer(at, u32::from_le_bytes(raw))?;
        }
        Ok(block)
    }

    /// A block pointer (stored at byte `at`) is a hole (0) or a block
    /// inside the image.
    fn check_pointer(&self, at: u64, block: u32) -> Result<Option<u64>, Ext2Error> {
        match block as u64 {
            0 => Ok(None),
            b if b < self.blocks_count => Ok(Some(b)),
            b => Err(Ext2Error::Corrupt {
                field: "block pointer",
                offset: at,
                value: b,
                why: "past the last block of the image",
            }),
        }
    }

    /// Reads up to `buf.len()` bytes of the file from byte `offset`;
    /// returns how many (0 at or past the end). Holes read as zeros.
    pub fn read_at(
        &mut self,
        inode: &Inode,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Ext2Error> {
        if offset >= inode.size {
            return Ok(0);
        }
        let len = buf.len().min((inode.size - offset) as usize);
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let in_block = (pos % self.block_size) as usize;
            let n = (self.block_size as usize - in_block).min(len - done);
            let out = &mut buf[done..done + n];
            match self.bmap(inode, pos / self.block_size)? {
                Some(b) => self
                    .dev
                    .read_at(b * self.block_size + in_block as u64, out)?,
                None => out.fill(0),
            }
            done += n;
        }
        Ok(len)
    }

    /// The whole file, refusing sizes larger than the image itself.
    pub fn read_file(&mut self, inode: &Inode) -> Result<Vec<u8>, Ext2Error> {
        let limit = self.dev.size();
        if inode.size > limit {
            return Err(Ext2Error::TooLarge {
                ino: inode.ino,
                size: inode.size,
                limit,
            });
        }
        let mut data = vec![0u8; inode.size as usize];
        self.read_at(inode, 0, &mut data)?;
        Ok(data)
    }
}
