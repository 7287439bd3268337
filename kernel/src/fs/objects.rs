//! The objects disk: where a build's object files are written.
//!
//! What we chose and why. The build's inputs are an ext2 image the user
//! made (`faultline image`), attached read-only so that a run can never
//! change a user's files. Outputs go to a second, writable disk: a sparse
//! scratch file the host makes for each run (`faultline run --objects
//! SIZE`, made whenever there is a files disk) and deletes after it. It
//! holds no file system, only file data: each new file gets the next
//! contiguous run of pages (a bump allocator; a build never deletes an
//! object during a run), and the file's name, size and place live in
//! memory, in its page-cache `AddressSpace`. Writing ext2 (block and
//! inode bitmaps, directories, indirect blocks) would add a large piece
//! of file-system code that changes nothing the memory cgroup sees:
//! what matters for reclaim is that object pages are dirty in the page
//! cache, charged to the cgroup, written back by the flushers, dropped
//! once clean, and read back from the disk by the link if they were.

use alloc::format;
use alloc::string::String;

use crate::drivers::virtio::blk::{DeviceLatency, VirtioBlk, OBJECTS_SERIAL};
use crate::drivers::virtio::VirtioError;
use crate::mm::filemap::{AddressSpace, ObjectStore};
use crate::mm::state::with_mm_state;
use crate::mm::PAGE_SIZE;

/// Finds the objects disk, if the host attached one, and gives it (with
/// the swap disk's `latency`) to the page cache. Returns its size. Once
/// mounted it stays (a later call returns its size).
pub fn mount_objects_disk(latency: DeviceLatency) -> Result<Option<u64>, String> {
    if let Some(capacity) = with_mm_state(|st| st.page_cache.objects.as_ref().map(|o| o.capacity)) {
        return Ok(Some(capacity));
    }
    let mut blk = match VirtioBlk::probe_serial(OBJECTS_SERIAL) {
        Ok(blk) => blk,
        Err(VirtioError::NoDevice) => return Ok(None),
        Err(e) => return Err(format!("objects disk: {e:?}")),
    };
    blk.set_latency(latency);
    let capacity = blk.capacity_bytes() / PAGE_SIZE * PAGE_SIZE;
    install_objects_disk(blk, capacity);
    Ok(Some(capacity))
}

/// Gives `blk` to the page cache as the objects disk, `capacity` bytes
/// of it free (replacing any earlier one, whose files must be gone).
pub fn install_objects_disk(blk: VirtioBlk, capacity: u64) {
    with_mm_state(|st| {
        st.page_cache.objects = Some(ObjectStore {
            disk: alloc::boxed::Box::new(blk),
            next_free: 0,
            capacity,
        });
    });
}

/// Is there an objects disk to create files on?
pub fn have_objects_disk() -> bool {
    with_mm_state(|st| st.page_cache.objects.is_some())
}

/// Creates an empty file `name` of `size` bytes on the objects disk and
/// returns its page-cache id. Its pages read as zeros until written.
pub fn create_object(name: String, size: u64) -> Result<u16, String> {
    with_mm_state(|st| {
        let pc = &mut st.page_cache;
        let id = u16::try_from(pc.files.len())
            .map_err(|_| format!("cannot create {name}: 65536 files are the page cache's limit"))?;
        let store = pc
            .objects
            .as_mut()
            .ok_or_else(|| format!("cannot create {name}: no objects disk"))?;
        let bytes = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let free = store.capacity - store.next_free;
        if bytes > free {
            return Err(format!(
                "objects disk full: {name} needs {bytes} bytes, {free} of {} are free (faultline run --objects SIZE)",
                store.capacity
            ));
        }
        let base = store.next_free;
        store.next_free += bytes;
        pc.files.push(AddressSpace::new_object(name, size, base));
        Ok(id)
    })
}
