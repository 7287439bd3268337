//! The trace disk: a read-only virtio-blk disk (serial
//! [`TRACES_SERIAL`]) holding the traces of `faultline run --trace`, which
//! `workload=trace` streams chunk by chunk, so a trace of any length
//! replays in a bounded heap. Layout (written by `src/trace/disk.rs`):
//!
//! ```text
//! offset 0    "FLTDISK1", u32 count (1..=64), u32 0
//! offset 16   per trace: u64 offset, u64 length
//! ```
//!
//! Its requests are not swap I/O: they go around the swap and page-cache
//! code (no counter sees them) and have no modelled latency, and waiting
//! for the host is stolen time (see `VirtioBlk::poll`), so reading a trace
//! costs the measured run only the instructions that submit and copy.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use spin::Mutex;

use crate::drivers::virtio::blk::{BlkOp, VirtioBlk, TRACES_SERIAL};
use crate::mm::page_alloc::{alloc_page, free_page};
use crate::mm::{phys_to_virt, PAGE_SIZE};

const DISK_MAGIC: &[u8; 8] = b"FLTDISK1";
/// At most this many traces (tasks).
pub const MAX_TRACES: usize = 64;
/// Pages read per batch (requests in flight together).
const BATCH_PAGES: usize = 32;

struct TraceDisk {
    blk: VirtioBlk,
    /// Bounce frames, one per request of a batch.
    bounce: Vec<u64>,
    /// (offset, length) of each trace.
    dir: Vec<(u64, u64)>,
}

static DISK: Mutex<Option<TraceDisk>> = Mutex::new(None);

/// Finds the trace disk and reads its directory; returns how many traces
/// it holds, or `Ok(0)` when the host attached none.
pub fn open() -> Result<usize, String> {
    let blk = match VirtioBlk::probe_serial(TRACES_SERIAL) {
        Ok(blk) => blk,
        Err(_) => return Ok(0),
    };
    let mut bounce = Vec::with_capacity(BATCH_PAGES);
    for _ in 0..BATCH_PAGES {
        match alloc_page() {
            Ok(pa) => bounce.push(pa),
            Err(_) => {
                bounce.into_iter().for_each(free_page);
                return Err("no memory for the trace disk's bounce pages".into());
            }
        }
    }
    *DISK.lock() = Some(TraceDisk {
        blk,
        bounce,
        dir: Vec::new(),
    });
    let dir = read_directory().inspect_err(|_| close())?;
    let n = dir.len();
    DISK.lock().as_mut().expect("just opened").dir = dir;
    Ok(n)
}

/// Releases the disk and its bounce pages.
pub fn close() {
    if let Some(d) = DISK.lock().take() {
        d.bounce.into_iter().for_each(free_page);
    }
}

fn read_directory() -> Result<Vec<(u64, u64)>, String> {
    let size = with_disk(|d| d.blk.capacity_bytes())?;
    let mut head = [0u8; 16];
    read_at(0, &mut head)?;
    if &head[..8] != DISK_MAGIC {
        return Err("trace disk offset 0: expected the magic \"FLTDISK1\"".into());
    }
    let n = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    if n == 0 || n > MAX_TRACES {
        return Err(format!(
            "trace disk offset 8: expected 1 to {MAX_TRACES} traces, found {n}"
        ));
    }
    let mut table = alloc::vec![0u8; 16 * n];
    read_at(16, &mut table)?;
    let mut dir = Vec::with_capacity(n);
    for (i, e) in table.as_chunks::<16>().0.iter().enumerate() {
        let off = u64::from_le_bytes(e[..8].try_into().expect("8"));
        let len = u64::from_le_bytes(e[8..].try_into().expect("8"));
        if off < PAGE_SIZE || off.checked_add(len).is_none_or(|end| end > size) {
            return Err(format!(
                "trace disk offset {}: expected trace {i} inside the {size}-byte disk, after its first page, found offset {off} length {len}",
                16 + 16 * i
            ));
        }
        dir.push((off, len));
    }
    Ok(dir)
}

fn with_disk<T>(f: impl FnOnce(&mut TraceDisk) -> T) -> Result<T, String> {
    DISK.lock()
        .as_mut()
        .map(f)
        .ok_or_else(|| "no trace disk: faultline run --trace FILE attaches one".into())
}

/// Offset and length of trace `i` on the disk.
pub fn trace_extent(i: usize) -> Option<(u64, u64)> {
    DISK.lock().as_ref()?.dir.get(i).copied()
}

/// Reads `buf.len()` bytes at disk offset `offset`, up to
/// [`BATCH_PAGES`] page requests in flight at a time.
pub fn read_at(offset: u64, buf: &mut [u8]) -> Result<(), String> {
    with_disk(|d| d.read_at(offset, buf))?
}

impl TraceDisk {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), String> {
        let size = self.blk.capacity_bytes();
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= size)
            .ok_or_else(|| {
                format!(
                    "trace disk: a read at {offset} of {} bytes passes its end ({size})",
                    buf.len()
                )
            })?;
        let first = offset - offset % PAGE_SIZE;
        let mut page = first;
        while page < end {
            let n = (end - page).div_ceil(PAGE_SIZE).min(BATCH_PAGES as u64) as usize;
            let mut failed = None;
            for k in 0..n {
                let pos = page + k as u64 * PAGE_SIZE;
                // The queue holds a whole batch: see `BATCH_PAGES`.
                self.blk
                    .submit(BlkOp::Read, pos, self.bounce[k], k as u64)
                    .map_err(|_| "trace disk: its queue is shorter than a batch")?;
            }
            while self.blk.in_flight() > 0 {
                self.blk.wait_and_poll(|token, r| {
                    if r.is_err() {
                        failed = Some(page + token * PAGE_SIZE);
                    }
                });
            }
            if let Some(pos) = failed {
                return Err(format!("trace disk: read error at offset {pos}"));
            }
            for (k, &pa) in self.bounce[..n].iter().enumerate() {
                let pos = page + k as u64 * PAGE_SIZE;
                let lo = pos.max(offset);
                let hi = (pos + PAGE_SIZE).min(end);
                // SAFETY: our bounce frame, filled by the completed read.
                let src = unsafe {
                    core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, PAGE_SIZE as usize)
                };
                buf[(lo - offset) as usize..(hi - offset) as usize]
                    .copy_from_slice(&src[(lo - pos) as usize..(hi - pos) as usize]);
            }
            page += n as u64 * PAGE_SIZE;
        }
        Ok(())
    }
}
