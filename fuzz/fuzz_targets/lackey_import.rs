//! The lackey import (`faultline trace import`): any log gives a trace
//! file or an error, and the file decodes.
#![no_main]

use std::sync::OnceLock;

use faultline::trace::{decode, import, ImportOptions};
use libfuzzer_sys::fuzz_target;

fn out_path() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fuzz_target!(|data: &[u8]| {
    let out = out_path().join("t.fltrace");
    let opts = ImportOptions {
        max_records: 1 << 16,
        ..ImportOptions::default()
    };
    if import(data, &out, opts).is_ok() {
        let bytes = std::fs::read(&out).expect("the output exists");
        decode(&bytes).expect("an imported trace decodes");
    }
});
