//! The read-only ext2 reader on an image the host made with `mke2fs -d`
//! (`boot/src/ext2_image.rs` writes the tree; it arrives here through fw_cfg).
//! Then the same image corrupted field by field: every corruption must be
//! an error naming the field and its byte offset, never a panic. Last, the
//! image as a read-only virtio-blk disk, found by its serial.

#![no_std]
#![no_main]
#![feature(custom_test_frameworks)]
#![test_runner(kernel::testing::test_runner)]
#![reexport_test_harness_main = "test_main"]

extern crate alloc;

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use kernel::drivers::fw_cfg;
use kernel::drivers::virtio::blk::{BlkError, BlkOp, VirtioBlk, FILES_SERIAL};
use kernel::drivers::virtio::VirtioError;
use kernel::fs::bdev::DiskReader;
use kernel::fs::ext2::{BlockDevice, Ext2, Ext2Error, FileKind, MemDisk};

kernel::test_kernel!(test_main);

/// Where the host puts the images (`EXT2_FIXTURES` in
/// `boot/src/ext2_image.rs`), with their block sizes.
const FIXTURES: [(&str, u64); 2] = [
    ("opt/faultline/ext2-1k", 1024),
    ("opt/faultline/ext2-4k", 4096),
];
/// These three match `boot/src/ext2_image.rs`.
const BIG_LEN: usize = 300_000;
const MANY_FILES: usize = 300;
fn big_byte(i: usize) -> u8 {
    ((i / 1024) as u8).wrapping_mul(31) ^ (i as u8)
}

static IMAGES: [spin::Once<Vec<u8>>; 2] = [spin::Once::new(), spin::Once::new()];

/// Fixture `i`, read from fw_cfg once. Missing is a failure, not a skip.
fn image(i: usize) -> &'static [u8] {
    let name = FIXTURES[i].0;
    IMAGES[i].call_once(|| {
        fw_cfg::read_file(name)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no fw_cfg file {name}: boot this kernel with cargo test"))
    })
}

type Fs = Ext2<MemDisk<&'static [u8]>>;

/// Runs `check` on each fixture image, mounted, with its fw_cfg name.
fn each_image(mut check: impl FnMut(&str, usize, Fs)) {
    for (i, (name, block_size)) in FIXTURES.iter().enumerate() {
        let fs = Ext2::mount(MemDisk(image(i))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fs.block_size(), *block_size, "{name}");
        check(name, i, fs);
    }
}

/// Mounts a copy of image `i` with `corrupt` applied to it.
fn mount_corrupted(
    i: usize,
    corrupt: impl FnOnce(&mut Vec<u8>),
) -> Result<Ext2<MemDisk<Vec<u8>>>, Ext2Error> {
    let mut copy = image(i).to_vec();
    corrupt(&mut copy);
    Ext2::mount(MemDisk(copy))
}

fn put32(b: &mut [u8], at: u64, v: u32) {
    b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
}

/// `err` is `Corrupt` (or `Unsupported`) for `field` at byte `offset`,
/// and its message says both.
fn assert_names(err: Ext2Error, field: &str, offset: u64) {
    let msg = format!("{err}");
    match err {
        Ext2Error::Corrupt {
            field: f,
            offset: o,
            ..
        }
        | Ext2Error::Unsupported {
            field: f,
            offset: o,
            ..
        } => {
            assert_eq!((f, o), (field, offset), "{msg}");
        }
        other => panic!("expected {field} at {offset}, got {other:?}"),
    }
    assert!(
        msg.contains(field) && msg.contains(&format!("byte {offset}")),
        "{msg}"
    );
}

#[test_case]
fn the_root_lists_every_file_with_its_kind() {
    each_image(|img, _, mut fs| {
        let root = fs.lookup("/").unwrap();
        let entries = fs.read_dir(&root).unwrap();
        for (name, kind) in [
            (".", FileKind::Directory),
            ("..", FileKind::Directory),
            ("lost+found", FileKind::Directory),
            ("hello.txt", FileKind::Regular),
            ("include", FileKind::Directory),
            ("big.bin", FileKind::Regular),
            ("empty", FileKind::Regular),
            ("many", FileKind::Directory),
        ] {
            let e = entries.iter().find(|e| e.name == name);
            assert_eq!(
                e.map(|e| e.kind),
                Some(kind),
                "{img}: {name} in {entries:?}"
            );
        }
        assert_eq!(entries.len(), 8, "{img}: {entries:?}");
    });
}

#[test_case]
fn small_and_nested_files_read_back() {
    each_image(|img, _, mut fs| {
        let hello = fs.lookup("/hello.txt").unwrap();
        assert_eq!(fs.read_file(&hello).unwrap(), b"hello from ext2\n", "{img}");
        let mm = fs.lookup("include/linux/mm.h").unwrap();
        let text = fs.read_file(&mm).unwrap();
        assert!(text.starts_with(b"#define PAGE_SHIFT 12\n"), "{img}");
        // `..` is an ordinary entry, so it resolves like any other.
        let again = fs.lookup("/include/linux/../../hello.txt").unwrap();
        assert_eq!(again.ino, hello.ino, "{img}");
        let empty = fs.lookup("/empty").unwrap();
        assert_eq!(empty.size, 0, "{img}");
        assert!(fs.read_file(&empty).unwrap().is_empty(), "{img}");
    });
}

#[test_case]
fn a_big_file_reads_through_its_indirect_blocks() {
    each_image(|img, _, mut fs| {
        let big = fs.lookup("/big.bin").unwrap();
        assert_eq!(big.size, BIG_LEN as u64, "{img}");
        // Block 12 is the first behind the single indirect block. At 1 KiB
        // block 268 (12 + 256) is the first behind the double one.
        assert!(fs.bmap(&big, 12).unwrap().is_some(), "{img}");
        if fs.block_size() == 1024 {
            assert!(fs.bmap(&big, 268).unwrap().is_some(), "{img}");
        }
        let data = fs.read_file(&big).unwrap();
        let wrong = (0..BIG_LEN).find(|&i| data[i] != big_byte(i));
        assert_eq!(wrong, None, "{img}: first wrong byte of big.bin");
        // A read across a block boundary, and one running past the end.
        let mut buf = [0u8; 100];
        let at = fs.block_size() - 20;
        assert_eq!(fs.read_at(&big, at, &mut buf).unwrap(), 100);
        let k = at as usize;
        assert!(
            buf.iter().enumerate().all(|(j, &b)| b == big_byte(k + j)),
            "{img}"
        );
        assert_eq!(fs.read_at(&big, BIG_LEN as u64 - 10, &mut buf).unwrap(), 10);
        assert_eq!(fs.read_at(&big, BIG_LEN as u64, &mut buf).unwrap(), 0);
    });
}

#[test_case]
fn a_directory_of_several_blocks_lists_every_entry() {
    each_image(|img, _, mut fs| {
        let many = fs.lookup("/many").unwrap();
        assert!(many.size > fs.block_size(), "{img}: many/ fits one block");
        let entries = fs.read_dir(&many).unwrap();
        assert_eq!(entries.len(), MANY_FILES + 2, "{img}: with . and ..");
        for i in 0..MANY_FILES {
            let file = fs.lookup(&format!("/many/file-{i:03}")).unwrap();
            assert_eq!(
                (file.kind(), file.size),
                (FileKind::Regular, 0),
                "{img} file-{i:03}"
            );
        }
    });
}

#[test_case]
fn missing_paths_and_files_used_as_directories_are_errors() {
    each_image(|img, _, mut fs| {
        let e = fs.lookup("/include/nope.h").unwrap_err();
        assert_eq!(
            e,
            Ext2Error::NotFound {
                path: "/include/nope.h".into()
            },
            "{img}"
        );
        let e = fs.lookup("/hello.txt/x").unwrap_err();
        assert_eq!(
            e,
            Ext2Error::NotADirectory {
                path: "/hello.txt".into()
            },
            "{img}"
        );
        let hello = fs.lookup("/hello.txt").unwrap();
        assert!(matches!(
            fs.read_dir(&hello),
            Err(Ext2Error::NotADirectory { .. })
        ));
        assert!(matches!(
            fs.read_inode(0),
            Err(Ext2Error::NoSuchInode { ino: 0, .. })
        ));
    });
}

#[test_case]
fn a_corrupt_superblock_is_refused_naming_the_field() {
    let cases: [(&str, u64, u32); 6] = [
        ("s_magic", 1080, 0x1234),
        ("s_log_block_size", 1048, 20),
        ("s_blocks_count", 1028, 1 << 30),
        ("s_inode_size", 1112, 100),
        ("s_blocks_per_group", 1056, 0),
        ("s_inodes_count", 1024, 7),
    ];
    for (i, (img, _)) in FIXTURES.iter().enumerate() {
        for (field, offset, value) in cases {
            let err = mount_corrupted(i, |b| {
                if field == "s_magic" || field == "s_inode_size" {
                    b[offset as usize..offset as usize + 2]
                        .copy_from_slice(&(value as u16).to_le_bytes());
                } else {
                    put32(b, offset, value);
                }
            })
            .err()
            .unwrap_or_else(|| panic!("{img}: {field} = {value} mounted"));
            assert_names(err, field, offset);
        }
        // ext4's extents: a real feature, named and refused.
        let err = mount_corrupted(i, |b| put32(b, 1120, 0x42)).err().unwrap();
        assert_names(err, "s_feature_incompat", 1120);
        // An image cut in half claims more blocks than it has.
        let err = mount_corrupted(i, |b| b.truncate(b.len() / 2))
            .err()
            .unwrap();
        assert_names(err, "s_blocks_count", 1028);
    }
}

#[test_case]
fn corrupt_inodes_and_directories_are_errors_not_panics() {
    each_image(|_, i, mut fs| {
        let bs = fs.block_size();
        let big = fs.lookup("/big.bin").unwrap();
        let big_at = fs.inode_offset(big.ino).unwrap();
        let hello = fs.lookup("/hello.txt").unwrap();
        let hello_at = fs.inode_offset(hello.ino).unwrap();
        let many = fs.lookup("/many").unwrap();
        let many_block = fs.bmap(&many, 0).unwrap().unwrap() * bs;
        let blocks = fs.blocks_count() as u32;

        // A direct pointer past the image, in i_block[3].
        let mut bad = mount_corrupted(i, |b| put32(b, big_at + 40 + 12, blocks + 5)).unwrap();
        let inode = bad.read_inode(big.ino).unwrap();
        assert_names(
            bad.read_file(&inode).unwrap_err(),
            "block pointer",
            big_at + 52,
        );

        // The first pointer inside the single indirect block (i_block[12]).
        let raw = &image(i)[(big_at + 40 + 48) as usize..][..4];
        let table = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as u64 * bs;
        assert!(table != 0, "big.bin has a single indirect block");
        let mut bad = mount_corrupted(i, |b| put32(b, table, u32::MAX)).unwrap();
        let inode = bad.read_inode(big.ino).unwrap();
        assert_names(bad.read_file(&inode).unwrap_err(), "block pointer", table);

        // A size no pointer tree can map, and one merely larger than the image.
        let mut bad = mount_corrupted(i, |b| {
            put32(b, hello_at + 4, u32::MAX);
            put32(b, hello_at + 108, u32::MAX);
        })
        .unwrap();
        assert_names(
            bad.read_inode(hello.ino).unwrap_err(),
            "i_size",
            hello_at + 4,
        );
        let mut bad = mount_corrupted(i, |b| put32(b, hello_at + 4, 64 << 20)).unwrap();
        let inode = bad.read_inode(hello.ino).unwrap();
        assert!(matches!(
            bad.read_file(&inode),
            Err(Ext2Error::TooLarge { .. })
        ));

        // A directory entry whose rec_len is 0 would loop forever if trusted.
        let rec_len_at = many_block + 4;
        let mut bad = mount_corrupted(i, |b| {
            b[rec_len_at as usize..][..2].copy_from_slice(&[0, 0])
        })
        .unwrap();
        let dir = bad.read_inode(many.ino).unwrap();
        assert_names(bad.read_dir(&dir).unwrap_err(), "rec_len", rec_len_at);
    });
}

/// The 4 KiB image is also attached as a read-only virtio-blk disk with
/// the files serial, as `faultline run --files` attaches one.
fn files_disk() -> DiskReader {
    let blk =
        VirtioBlk::probe_serial(FILES_SERIAL).unwrap_or_else(|e| panic!("no files disk: {e:?}"));
    assert_eq!(blk.serial(), FILES_SERIAL);
    DiskReader::new(blk)
}

#[test_case]
fn the_files_disk_reads_like_its_image() {
    let mut disk = files_disk();
    let want = image(1);
    assert_eq!(disk.size(), want.len() as u64);
    // Unaligned pieces, crossing pages, through the one-page cache.
    let mut got = vec![0u8; want.len()];
    for (k, chunk) in got.chunks_mut(3000).enumerate() {
        disk.read_at(k as u64 * 3000, chunk).unwrap();
    }
    assert!(got == want, "the disk and the fw_cfg copy differ");
    assert_eq!(disk.reads, want.len() as u64 / 4096, "each page read once");
    let e = disk
        .read_at(want.len() as u64 - 1, &mut [0u8; 2])
        .unwrap_err();
    assert!(matches!(e, Ext2Error::Io { .. }), "{e:?}");

    let mut fs = Ext2::mount(disk).unwrap();
    let big = fs.lookup("/big.bin").unwrap();
    let data = fs.read_file(&big).unwrap();
    assert_eq!((0..BIG_LEN).find(|&i| data[i] != big_byte(i)), None);
}

#[test_case]
fn swap_never_takes_the_files_disk() {
    let swap = VirtioBlk::probe().unwrap();
    assert_eq!(swap.serial(), "faultline-swap");
    // With the swap disk taken, looking for another swap disk must not
    // fall back to the files disk.
    assert!(matches!(VirtioBlk::probe(), Err(VirtioError::Busy)));
    drop(swap);
    // And the files disk is read-only: a write is refused by the device.
    let mut files = VirtioBlk::probe_serial(FILES_SERIAL).unwrap();
    let page = kernel::mm::page_alloc::alloc_zeroed_page().unwrap();
    let mut result = Ok(());
    files.submit(BlkOp::Write, 0, page, 1).unwrap();
    while files.in_flight() > 0 {
        files.wait_and_poll(|_, r| result = r);
    }
    assert_eq!(result, Err(BlkError::IoError), "a write to the files disk");
    kernel::mm::page_alloc::free_page(page);
}
