//! Directories: a file of variable-length entries (inode, record length,
//! name length, file type, name) that never cross a block; and path
//! lookup over them (Linux `fs/ext2/dir.c`, `ext2_readdir`,
//! `ext2_find_entry`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::{le16, le32, BlockDevice, Ext2, Ext2Error, FileKind, Inode, ROOT_INO};

/// One directory entry (`struct ext2_dir_entry_2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u32,
    pub name: String,
    pub kind: FileKind,
}

impl<D: BlockDevice> Ext2<D> {
    /// The entries of a directory, `.` and `..` included (a linear walk,
    /// as Linux `ext2_readdir` does).
    pub fn read_dir(&mut self, dir: &Inode) -> Result<Vec<DirEntry>, Ext2Error> {
        if dir.kind() != FileKind::Directory {
            return Err(Ext2Error::NotADirectory {
                path: format!("inode {}", dir.ino),
            });
        }
        if dir.size > self.dev.size() {
            return Err(Ext2Error::TooLarge {
                ino: dir.ino,
                size: dir.size,
                limit: self.dev.size(),
            });
        }
        let mut block = vec![0u8; self.block_size as usize];
        let mut entries = Vec::new();
        for i in 0..dir.size.div_ceil(self.block_size) {
            let Some(b) = self.bmap(dir, i)? else {
                return Err(Ext2Error::Corrupt {
                    field: "i_block",
                    offset: self.inode_offset(dir.ino)? + 40,
                    value: i,
                    why: "a hole in a directory: directories have none",
                });
            };
            let disk = b * self.block_size;
            self.dev.read_at(disk, &mut block)?;
            self.parse_dir_block(&block, disk, &mut entries)?;
        }
        Ok(entries)
    }

    /// Entries of one directory block; `disk` is its byte offset in the
    /// image, for errors.
    fn parse_dir_block(
        &self,
        block: &[u8],
        disk: u64,
        out: &mut Vec<DirEntry>,
    ) -> Result<(), Ext2Error> {
        let mut pos = 0;
        while pos < block.len() {
            // `at` is the field's place in the entry: 0 inode, 4 rec_len,
            // 6 name_len.
            let bad = |field, at: usize, value: usize, why| Ext2Error::Corrupt {
                field,
                offset: disk + (pos + at) as u64,
                value: value as u64,
                why,
            };
            if pos + 8 > block.len() {
                return Err(bad("rec_len", 4, 0, "a directory entry crosses its block"));
            }
            let ino = le32(block, pos);
            let rec_len = le16(block, pos + 4) as usize;
            let name_len = if self.has_filetype {
                block[pos + 6] as usize
            } else {
                le16(block, pos + 6) as usize
            };
            // rec_len >= 8 is what makes this loop end.
            if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > block.len() {
                return Err(bad(
                    "rec_len",
                    4,
                    rec_len,
                    "entries are 4-aligned, >= 8 bytes, inside a block",
                ));
            }
            if 8 + name_len > rec_len {
                return Err(bad("name_len", 6, name_len, "the name runs past its entry"));
            }
            if ino > self.inodes_count {
                return Err(bad("inode", 0, ino as usize, "past s_inodes_count"));
            }
            if ino != 0 {
                let name = String::from_utf8_lossy(&block[pos + 8..pos + 8 + name_len]).to_string();
                let kind = if self.has_filetype {
                    FileKind::from_dirent_type(block[pos + 7])
                } else {
                    FileKind::Other
                };
                out.push(DirEntry { ino, name, kind });
            }
            pos += rec_len;
        }
        Ok(())
    }

    /// The inode a path names, from the root (`/` or empty is the root;
    /// `.` and `..` work as in any directory). Symbolic links are not
    /// followed.
    pub fn lookup(&mut self, path: &str) -> Result<Inode, Ext2Error> {
        let mut inode = self.read_inode(ROOT_INO)?;
        let mut walked = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if inode.kind() != FileKind::Directory {
                return Err(Ext2Error::NotADirectory { path: walked });
            }
            walked.push('/');
            walked.push_str(part);
            let entries = self.read_dir(&inode)?;
            let Some(e) = entries.iter().find(|e| e.name == part) else {
                return Err(Ext2Error::NotFound { path: walked });
            };
            inode = self.read_inode(e.ino)?;
        }
        Ok(inode)
    }
}
