//! `faultline image` as a user runs it: a directory in, an ext2 image out,
//! and clear errors. No QEMU needed.

use std::fs;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("faultline runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_directory_becomes_an_ext2_image() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("include")).unwrap();
    fs::write(src.join("main.c"), "int main(void) { return 0; }\n").unwrap();
    fs::write(src.join("include/a.h"), vec![b'x'; 100_000]).unwrap();
    let img = tmp.path().join("files.img");
    let img_s = img.to_str().unwrap();
    let out = faultline(&["image", src.to_str().unwrap(), img_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 files, 2 directories, 98 KiB of data"),
        "{}",
        stderr(&out)
    );
    let bytes = fs::read(&img).unwrap();
    assert_eq!(&bytes[1080..1082], &[0x53, 0xef], "ext2 magic");
    assert_eq!(bytes.len() % (1 << 20), 0, "whole MiB");

    // A second run must not overwrite the first image.
    let out = faultline(&["image", src.to_str().unwrap(), img_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[test]
fn bad_arguments_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("x.img");
    let img_s = img.to_str().unwrap();
    for (args, says) in [
        (
            vec!["image", "/no/such/dir", img_s],
            "/no/such/dir: not a directory",
        ),
        (
            vec!["image", "--size", "banana", ".", img_s],
            "--size banana",
        ),
        (vec!["image", "."], "<OUTPUT>"),
    ] {
        let out = faultline(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert!(!img.exists());
}
