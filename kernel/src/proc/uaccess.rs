//! Copying to and from user memory (Linux `copy_from_user` /
//! `copy_to_user`, arch/x86/lib/usercopy_64.c).
//!
//! The copy runs in the process's own address space, so a page that is
//! swapped out, or never touched, simply faults in on the way: the page
//! fault handler resolves a kernel-mode fault on a user address exactly
//! as it resolves the program's own (and may sleep on the read).
//!
//! What Linux does with an exception table (a fault on an address no VMA
//! covers returns `-EFAULT` from the copy) we do before copying: the
//! whole range must lie in VMAs that allow the access ([`access_ok`]).
//! That check cannot go stale during the copy, because a process has one
//! thread and only it changes its VMAs. A fault the fault path cannot
//! serve (memcg OOM, a swap read error) kills the process, as it would
//! had the program touched the page itself.

use crate::mm::mm_types::TASK_SIZE;

/// The range is not (all) mapped with the access asked for: `-EFAULT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Efault;
use crate::mm::page_align_down;
use crate::mm::state::with_mm_state;

/// Linux `access_ok` plus the VMA check: may the calling process's
/// `[addr, addr + len)` be read (and written, with `write`)?
pub fn access_ok(mm: usize, addr: u64, len: u64, write: bool) -> bool {
    let Some(end) = addr.checked_add(len).filter(|&e| e <= TASK_SIZE) else {
        return false;
    };
    if len == 0 {
        return true;
    }
    with_mm_state(|st| {
        let mut va = page_align_down(addr);
        while va < end {
            match st.find_vma(mm, va) {
                Some(v) if !write || v.is_writable() => va = v.vm_end,
                _ => return false,
            }
        }
        true
    })
}

/// Copies `dst.len()` bytes from user address `src` of address space
/// `mm` (current). `Err(Efault)` if the range is not readable.
pub fn copy_from_user(mm: usize, dst: &mut [u8], src: u64) -> Result<(), Efault> {
    if !access_ok(mm, src, dst.len() as u64, false) {
        return Err(Efault);
    }
    if dst.is_empty() {
        return Ok(()); // a user pointer may be null when nothing is copied
    }
    // SAFETY: the range is inside readable VMAs of the current address
    // space (a missing page faults in, see the module) and cannot overlap
    // the kernel buffer `dst`.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
    Ok(())
}

/// Copies `src` to user address `dst` of address space `mm` (current).
/// `Err(Efault)` if the range is not writable.
pub fn copy_to_user(mm: usize, dst: u64, src: &[u8]) -> Result<(), Efault> {
    if !access_ok(mm, dst, src.len() as u64, true) {
        return Err(Efault);
    }
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: as in `copy_from_user`, with writable VMAs.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
    Ok(())
}
