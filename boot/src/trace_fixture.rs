//! The fixture of the `trace` test kernel (`kernel/tests/trace.rs`).

use std::path::Path;

use tracefile::{Layout, PageTrace, WRITE_BIT};

use crate::QemuConfig;

/// Attaches the `trace` test kernel's fixture: a generated trace of three regions
/// (a dense one, one with holes, one 5 GiB away) and 200,000 records in
/// four chunks, on a trace disk; its figures (`records pages regions
/// checksum`, see `kernel/tests/trace.rs`) as `opt/faultline/trace-fixture`.
pub fn attach(name: &str, elf: &Path, config: &mut QemuConfig) -> Result<(), String> {
    if name != "trace" {
        return Ok(());
    }
    let mut recorded: Vec<u64> = (0x400..0x464).collect();
    recorded.extend((0..200).map(|k| 0x10_0000 + 3 * k));
    recorded.extend((0..50).map(|k| 0x14_0000 + 0x3f0 + k));
    let layout = Layout::kept(&recorded, 1 << 30).map_err(|e| e.to_string())?;
    let n = recorded.len() as u32;
    let records: Vec<u32> = (0..200_000u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761) >> 7) % n) | if i % 5 == 0 { WRITE_BIT } else { 0 }
        })
        .collect();
    let sum = records.iter().enumerate().fold(0u64, |s, (i, &r)| {
        s.wrapping_mul(31).wrapping_add(r as u64 ^ i as u64)
    });
    let figures = format!("{} {n} {} {sum}\n", records.len(), layout.regions.len());
    let t = PageTrace { layout, records };
    let file = elf.with_extension("fixture.fltrace");
    std::fs::write(&file, tracefile::encode(&t)).map_err(|e| e.to_string())?;
    let disk = elf.with_extension("traces.img");
    tracefile::disk::create_trace_disk(&[&file], &disk)?;
    let fig = elf.with_extension("trace-fixture.txt");
    std::fs::write(&fig, figures).map_err(|e| e.to_string())?;
    config.traces_disk = Some(disk);
    config
        .fw_cfg_files
        .push(("opt/faultline/trace-fixture".into(), fig));
    Ok(())
}
