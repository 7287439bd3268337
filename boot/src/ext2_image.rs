//! ext2 images for the kernel, made with the standard tool: `mke2fs -d DIR`
//! copies a directory tree into a fresh file system (e2fsprogs 1.43 and
//! later). The kernel reads them with its own read-only reader
//! (`kernel/src/fs/ext2.rs`).
//!
//! Also the fixture tree that the kernel's `ext2` test kernel reads: its
//! contents are fixed here and checked there, so the two must agree.

use std::fs;
use std::path::Path;
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

/// Byte `i` of the fixture's `big.bin`. The same formula is in
/// `kernel/tests/ext2.rs`; the block number in it catches a block read
/// from the wrong place.
pub fn fixture_big_byte(i: usize) -> u8 {
    ((i / 1024) as u8).wrapping_mul(31) ^ (i as u8)
}

/// Size of `big.bin`: past the 12 direct and 256 single-indirect 1 KiB
/// blocks, so reading it walks the double-indirect tree too.
pub const FIXTURE_BIG_LEN: usize = 300_000;

/// Files in the fixture's `many/` directory: more entries than one 1 KiB
/// directory block holds.
pub const FIXTURE_MANY_FILES: usize = 100;

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
        fs::write(dir.join(format!("many/file-{i:03}")), format!("{i}\n"))?;
    }
    Ok(())
}

/// Makes the fixture image (512 KiB, 1 KiB blocks) at `image`, from a
/// fresh tree in `work` (removed first if present).
pub fn make_fixture_image(work: &Path, image: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(work);
    write_fixture_tree(work).map_err(|e| format!("{}: {e}", work.display()))?;
    make_image(work, image, 512 << 10, 1024, 256)
}

/// The test kernel that reads an ext2 image (`kernel/tests/ext2.rs`), and
/// the fw_cfg name it finds the image under.
pub const EXT2_TEST_KERNEL: &str = "ext2";
pub const EXT2_FIXTURE_FW_CFG: &str = "opt/faultline/ext2-fixture";

/// Gives the test kernel `name` (its ELF at `elf`) the files it reads:
/// today only the `ext2` kernel's image. Both ways of booting test kernels
/// (`cargo test` through `src/ktest.rs`, `cargo ktest` through this
/// crate's runner) call this, so they boot the same thing.
pub fn attach_test_fixtures(name: &str, elf: &Path, config: &mut QemuConfig) -> Result<(), String> {
    if name == EXT2_TEST_KERNEL {
        let image = elf.with_extension("ext2.img");
        make_fixture_image(&elf.with_extension("ext2.d"), &image)?;
        config
            .fw_cfg_files
            .push((EXT2_FIXTURE_FW_CFG.into(), image));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_image_is_ext2_of_the_asked_size() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("fixture.img");
        make_fixture_image(&tmp.path().join("tree"), &image).unwrap();
        let bytes = fs::read(&image).unwrap();
        assert_eq!(bytes.len(), 512 << 10);
        assert_eq!(&bytes[1080..1082], &[0x53, 0xef], "ext2 magic at byte 1080");
        // s_feature_incompat: filetype only, which is all the kernel reads.
        let incompat = u32::from_le_bytes(bytes[1120..1124].try_into().unwrap());
        assert_eq!(incompat, 0x2, "incompat features {incompat:#x}");
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
