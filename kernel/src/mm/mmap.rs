//! Mapping and unmapping anonymous memory for user processes (Linux
//! mm/mmap.c and mm/vma.c: `do_mmap`, `get_unmapped_area`, `do_munmap`,
//! `brk`). Only private anonymous mappings exist here.

use super::mm_types::{zap_page_range, VmFlags, TASK_SIZE};
use super::state::MmState;
use super::{page_align_up, PAGE_SIZE};

/// Where `mmap` without an address starts looking (bottom-up; Linux's
/// default layout is top-down from below the stack, which changes
/// nothing that matters here).
pub const MMAP_BASE: u64 = 0x0000_1000_0000_0000;
/// The user stack's top, and its size (a fixed VMA: no stack growth).
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_f000;
pub const STACK_SIZE: u64 = 256 << 10;
/// Where `mmap` stops looking: below the stack.
const MMAP_END: u64 = STACK_TOP - STACK_SIZE;

/// Most VMAs an address space may have (Linux `DEFAULT_MAX_MAP_COUNT`,
/// `vm.max_map_count`): `mmap` and a splitting `munmap` fail with
/// `ENOMEM` beyond it, so a program cannot grow the kernel heap without
/// bound.
pub const MAX_MAP_COUNT: usize = 65530;

/// Why a mapping call failed, as the `errno` it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmapErrno {
    /// `EINVAL`: unaligned, empty, or outside user space.
    Inval,
    /// `ENOMEM`: no room in the address space (or a `brk` collision).
    NoMem,
}

/// Linux `do_mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS)`: a new
/// VMA of `len` bytes (rounded up to pages) at the lowest free address.
pub fn do_mmap_anon(
    st: &mut MmState,
    mm: usize,
    len: u64,
    flags: VmFlags,
) -> Result<u64, MmapErrno> {
    if len == 0 || len > MMAP_END - MMAP_BASE {
        return Err(MmapErrno::Inval);
    }
    let len = page_align_up(len);
    let mm = st.mm_mut(mm);
    if mm.map_count() >= MAX_MAP_COUNT {
        return Err(MmapErrno::NoMem);
    }
    let addr = mm
        .get_unmapped_area(MMAP_BASE, len, MMAP_END)
        .ok_or(MmapErrno::NoMem)?;
    mm.mmap_anon(addr, len, flags)
        .map_err(|_| MmapErrno::NoMem)?;
    Ok(addr)
}

/// Linux `do_munmap`: unmap `[start, start + len)`, splitting VMAs at the
/// edges. Unmapping a hole is not an error.
pub fn do_munmap(st: &mut MmState, mm: usize, start: u64, len: u64) -> Result<(), MmapErrno> {
    let end = user_range(start, len)?;
    // A hole inside one VMA splits it in two: one more VMA.
    if st.mm(mm).map_count() >= MAX_MAP_COUNT {
        return Err(MmapErrno::NoMem);
    }
    zap_page_range(st, mm, start, end);
    st.mm_mut(mm).remove_vma_range(start, end);
    Ok(())
}

/// `[start, start + len)` rounded out to pages, if it is a valid user
/// range with a page-aligned start (Linux `EINVAL` otherwise).
pub fn user_range(start: u64, len: u64) -> Result<u64, MmapErrno> {
    if !start.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(MmapErrno::Inval);
    }
    let end = start
        .checked_add(page_align_up(len))
        .filter(|&e| e <= TASK_SIZE)
        .ok_or(MmapErrno::Inval)?;
    Ok(end)
}

/// Linux `brk`: move the end of the heap, which starts at `start` (the
/// first page after the program's data) and now ends at `cur`. Growing
/// adds or extends the heap VMA if nothing is in the way; shrinking drops
/// the pages above the new end. Returns the new end; on failure the old
/// one, as Linux's `brk` does. If the program unmapped part of its heap,
/// `brk` fails rather than guess (Linux checks the VMA it finds too).
pub fn do_brk(st: &mut MmState, mm: usize, start: u64, cur: u64, want: u64) -> u64 {
    if want < start || want > MMAP_BASE {
        return cur;
    }
    let (old_end, new_end) = (page_align_up(cur), page_align_up(want));
    let heap_intact = old_end == start
        || st
            .mm(mm)
            .find_vma(start)
            .is_some_and(|v| v.vm_start == start && v.vm_end == old_end);
    if !heap_intact {
        return cur;
    }
    if new_end < old_end {
        zap_page_range(st, mm, new_end, old_end);
        let m = st.mm_mut(mm);
        if new_end == start {
            m.remove_vma_range(start, old_end);
        } else {
            m.set_vma_end(start, new_end);
        }
        return want;
    }
    if new_end == old_end {
        return want;
    }
    let m = st.mm_mut(mm);
    let free = m.get_unmapped_area(old_end, new_end - old_end, new_end) == Some(old_end);
    if !free {
        return cur;
    }
    if old_end == start {
        if m.mmap_anon(start, new_end - start, VmFlags::ANON_RW)
            .is_err()
        {
            return cur;
        }
    } else {
        m.set_vma_end(start, new_end);
    }
    want
}
