//! ext2 images for the kernel, made with the standard tool: `mke2fs -d DIR`
//! copies a directory tree into a fresh file system (e2fsprogs 1.43 and
//! later). The kernel reads them with its own read-only reader
//! (`kernel/src/fs/ext2/`).
//!
//! Also the fixture tree that the kernel's `ext2` test kernel reads: its
//! contents are fixed here and checked there, so the two must agree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::QemuConfig;

/// `mke2fs` options that make plain ext2 with no feature our reader lacks:
/// `-t ext2` (no journal, no extents), `-q` (quiet), `-F` (the target is a
/// regular file), `-E root_owner` (owned by root, not by whoever ran it).
const MKE2FS_BASE: [&str; 5] = ["-q", "-F", "-t", "ext2", "-E"];

/// Makes `image`, `size_bytes` long, holding a copy of `dir`, with
/// `block_size`-byte blocks and room for `inodes` files.
pub fn make_image(
    dir: &Path,
    image: &Path,
    size_bytes: u64,
    block_size: u32,
    inodes: u32,
) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    if ![1024, 2048, 4096].contains(&block_size) {
        return Err(format!("block size {block_size}: use 1024, 2048 or 4096"));
    }
    if !size_bytes.is_multiple_of(block_size as u64) || size_bytes < 64 * block_size as u64 {
        return Err(format!(
            "image size {size_bytes}: a multiple of the {block_size}-byte block, at least 64 blocks"
        ));
    }
    let blocks = (size_bytes / block_size as u64).to_string();
    let out = Command::new(mke2fs())
        .args(MKE2FS_BASE)
        .arg("root_owner=0:0")
        .args(["-b", &block_size.to_string(), "-N", &inodes.to_string()])
        .arg("-d")
        .arg(dir)
        .arg(image)
        .arg(&blocks)
        .output()
        .map_err(|e| {
            format!(
                "cannot run mke2fs ({e}): install e2fsprogs (Debian: apt-get install e2fsprogs)"
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "mke2fs -d {} {} failed ({}): {}",
            dir.display(),
            image.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// `mke2fs` lives in /sbin or /usr/sbin, which a non-root PATH may lack.
fn mke2fs() -> String {
    for dir in ["/usr/sbin", "/sbin"] {
        let path = format!("{dir}/mke2fs");
        if Path::new(&path).exists() {
            return path;
        }
    }
    "mke2fs".into()
}

/// Block size of user images: a page, as the page cache will read them.
const USER_BLOCK_SIZE: u64 = 4096;

/// What a directory tree holds, to size its image.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeSize {
    pub files: u64,
    pub dirs: u64,
    /// Symbolic links, devices, FIFOs: copied by mke2fs, never read.
    pub other: u64,
    pub bytes: u64,
    /// Blocks of `USER_BLOCK_SIZE` the files' data fill.
    pub data_blocks: u64,
}

impl TreeSize {
    fn inodes(&self) -> u64 {
        self.files + self.dirs + self.other
    }

    /// Data and directory blocks, one indirect block per 1024 data blocks,
    /// 1/8 spare, the inode table (256 bytes per inode) and 1 MiB for the
    /// superblock copies, bitmaps and reserved blocks; rounded up to 1 MiB.
    fn image_bytes(&self) -> u64 {
        let blocks = self.data_blocks + self.dirs + self.data_blocks / 1024 + 1;
        let bytes = blocks * USER_BLOCK_SIZE * 9 / 8 + self.inodes() * 2 * 256 + (1 << 20);
        bytes.div_ceil(1 << 20) << 20
    }
}

/// Counts what `dir` holds, without following symbolic links.
pub fn measure_tree(dir: &Path) -> Result<TreeSize, String> {
    let mut size = TreeSize {
        dirs: 1,
        ..TreeSize::default()
    };
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                size.dirs += 1;
                todo.push(entry.path());
            } else if meta.is_file() {
                size.files += 1;
                size.bytes += meta.len();
                size.data_blocks += meta.len().div_ceil(USER_BLOCK_SIZE);
            } else {
                size.other += 1;
            }
        }
    }
    Ok(size)
}

/// `faultline image DIR OUTPUT [--size SIZE]`: an ext2 image with 4 KiB
/// blocks holding a copy of `dir`, sized to fit it unless `size` says
/// otherwise. Never overwrites: an existing `output` is an error. Returns
/// a one-line summary.
pub fn image_from_dir(dir: &Path, output: &Path, size: Option<u64>) -> Result<String, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    if output.exists() {
        return Err(format!(
            "{}: already exists; remove it or choose another name (faultline never overwrites an image)",
            output.display()
        ));
    }
    let tree = measure_tree(dir)?;
    let bytes = size.unwrap_or_else(|| tree.image_bytes());
    let inodes = tree.inodes() + tree.inodes() / 4 + 64;
    let inodes =
        u32::try_from(inodes).map_err(|_| format!("{} files: too many for ext2", tree.inodes()))?;
    let bytes = bytes.div_ceil(USER_BLOCK_SIZE) * USER_BLOCK_SIZE;
    if let Err(e) = make_image(dir, output, bytes, USER_BLOCK_SIZE as u32, inodes) {
        // mke2fs may leave a half-written image behind: it must not look
        // like a good one.
        let _ = fs::remove_file(output);
        let hint = if size.is_some() {
            format!(
                "\n(the files need about {} MiB: leave out --size to fit them)",
                tree.image_bytes() >> 20
            )
        } else {
            String::new()
        };
        return Err(format!("{e}{hint}"));
    }
    Ok(format!(
        "{} files, {} directories, {} KiB of data -> {} ({} MiB ext2, 4 KiB blocks)",
        tree.files,
        tree.dirs,
        tree.bytes.div_ceil(1024),
        output.display(),
        bytes >> 20
    ))
}

/// Byte `i` of the fixture's `big.bin`. The same formula is in
/// `kernel/tests/ext2.rs`; the block number in it catches a block read
/// from the wrong place.
pub fn fixture_big_byte(i: usize) -> u8 {
    ((i / 1024) as u8).wrapping_mul(31) ^ (i as u8)
}

/// Size of `big.bin`: past the 12 direct and 256 single-indirect 1 KiB
/// blocks, so reading it walks the double-indirect tree too.
pub const FIXTURE_BIG_LEN: usize = 300_000;

/// Empty files in the fixture's `many/` directory: their entries (16 bytes
/// each) fill more than one directory block at 1 and at 4 KiB.
pub const FIXTURE_MANY_FILES: usize = 300;

/// Writes the fixture tree the `ext2` test kernel checks.
pub fn write_fixture_tree(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir.join("include/linux"))?;
    fs::create_dir_all(dir.join("many"))?;
    fs::write(dir.join("hello.txt"), "hello from ext2\n")?;
    fs::write(
        dir.join("include/linux/mm.h"),
        "#define PAGE_SHIFT 12\n#define PAGE_SIZE (1UL << PAGE_SHIFT)\n",
    )?;
    fs::write(dir.join("empty"), "")?;
    let big: Vec<u8> = (0..FIXTURE_BIG_LEN).map(fixture_big_byte).collect();
    fs::write(dir.join("big.bin"), big)?;
    for i in 0..FIXTURE_MANY_FILES {
        fs::write(dir.join(format!("many/file-{i:03}")), "")?;
    }
    Ok(())
}

/// The fixture tree in two images: 1 KiB blocks (512 KiB; `big.bin`
/// reaches the double-indirect tree) and 4 KiB blocks (1 MiB; the block
/// size of user images, where block 0 holds the superblock). The names are
/// the fw_cfg names the test kernel reads them under.
pub const EXT2_FIXTURES: [(&str, u32, u64); 2] = [
    ("opt/faultline/ext2-1k", 1024, 512 << 10),
    ("opt/faultline/ext2-4k", 4096, 1 << 20),
];

/// Makes the fixture images next to `stem` (`<stem>.ext2-1k.img`, ...)
/// from a fresh tree in `<stem>.ext2.d`; returns (fw_cfg name, image).
pub fn make_fixture_images(stem: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let work = stem.with_extension("ext2.d");
    let _ = fs::remove_dir_all(&work);
    write_fixture_tree(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut out = Vec::new();
    for (name, block, bytes) in EXT2_FIXTURES {
        let image = stem.with_extension(format!("ext2-{}k.img", block / 1024));
        make_image(&work, &image, bytes, block, 400)?;
        out.push((name.to_string(), image));
    }
    Ok(out)
}

/// The test kernels that read the ext2 fixtures (`kernel/tests/ext2.rs`,
/// and the page cache's `kernel/tests/filemap.rs`).
pub const EXT2_TEST_KERNELS: [&str; 2] = ["ext2", "filemap"];

/// The test kernels' objects disk (sparse).
const TEST_OBJECTS_DISK_BYTES: u64 = 16 << 20;

/// Gives the test kernel `name` (its ELF at `elf`) the files it reads:
/// the ext2 images of the kernels in [`EXT2_TEST_KERNELS`] (through fw_cfg,
/// and the 4 KiB one as a files disk too, with an objects disk), and the
/// `trace` kernel's trace disk ([`crate::trace_fixture`]). Both ways of booting
/// test kernels (`cargo test` through `src/ktest.rs`, `cargo ktest`
/// through this crate's runner) call this, so they boot the same thing.
pub fn attach_test_fixtures(name: &str, elf: &Path, config: &mut QemuConfig) -> Result<(), String> {
    crate::trace_fixture::attach(name, elf, config)?;
    if EXT2_TEST_KERNELS.contains(&name) {
        let images = make_fixture_images(elf)?;
        // The 4 KiB image also as a disk, as `faultline run --files` attaches
        // one, with an objects disk beside it.
        config.files_disk = Some(images[1].1.clone());
        let objects = elf.with_extension("objects.img");
        crate::qemu::create_sparse_disk(&objects, TEST_OBJECTS_DISK_BYTES, "objects disk")?;
        config.objects_disk = Some(objects);
        config.fw_cfg_files.extend(images);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_images_are_ext2_of_the_asked_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let images = make_fixture_images(&tmp.path().join("k")).unwrap();
        assert_eq!(images.len(), EXT2_FIXTURES.len());
        for ((name, path), (want, block, size)) in images.iter().zip(EXT2_FIXTURES) {
            assert_eq!(name, want);
            let bytes = fs::read(path).unwrap();
            assert_eq!(bytes.len() as u64, size);
            assert_eq!(&bytes[1080..1082], &[0x53, 0xef], "ext2 magic at byte 1080");
            let log = u32::from_le_bytes(bytes[1048..1052].try_into().unwrap());
            assert_eq!(1024 << log, block);
            // s_feature_incompat: filetype only, which is all the kernel reads.
            let incompat = u32::from_le_bytes(bytes[1120..1124].try_into().unwrap());
            assert_eq!(incompat, 0x2, "incompat features {incompat:#x}");
        }
    }

    #[test]
    fn a_user_tree_fits_its_image_and_nothing_is_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("src");
        write_fixture_tree(&tree).unwrap();
        let size = measure_tree(&tree).unwrap();
        // hello, mm.h, empty, big.bin and 300 empty files; root, include,
        // include/linux and many.
        assert_eq!((size.files, size.dirs, size.other), (304, 4, 0));
        let out = tmp.path().join("files.img");
        let summary = image_from_dir(&tree, &out, None).unwrap();
        assert!(summary.contains("304 files, 4 directories"), "{summary}");
        let bytes = fs::read(&out).unwrap();
        assert_eq!(&bytes[1080..1082], &[0x53, 0xef]);
        assert_eq!(bytes.len() as u64, size.image_bytes());
        let err = image_from_dir(&tree, &out, None).unwrap_err();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(fs::read(&out).unwrap(), bytes, "the old image is untouched");
    }

    #[test]
    fn a_size_too_small_leaves_no_image_and_says_what_fits() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("src");
        write_fixture_tree(&tree).unwrap();
        let out = tmp.path().join("small.img");
        let err = image_from_dir(&tree, &out, Some(256 << 10)).unwrap_err();
        assert!(err.contains("leave out --size"), "{err}");
        assert!(!out.exists(), "a failed image is removed");
    }

    #[test]
    fn bad_requests_are_refused_before_mke2fs_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("x.img");
        let err = make_image(&tmp.path().join("nope"), &image, 1 << 20, 1024, 64).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        let err = make_image(tmp.path(), &image, 1 << 20, 1000, 64).unwrap_err();
        assert!(err.contains("block size 1000"), "{err}");
        let err = make_image(tmp.path(), &image, 1000, 1024, 64).unwrap_err();
        assert!(err.contains("image size 1000"), "{err}");
        assert!(!image.exists());
    }
}
