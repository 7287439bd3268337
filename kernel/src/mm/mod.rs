//! Memory management, one file per concept, named after Linux's mm/.
//!
//! Virtual memory layout (the same addresses Linux uses on x86_64, see
//! Documentation/arch/x86/x86_64/mm.rst):
//!
//! | range                         | what                                     |
//! |-------------------------------|------------------------------------------|
//! | `0000_0000_0000_0000`–`0000_7fff_ffff_ffff` | workload address spaces (per [`mm_types::MmStruct`]); a user program's text at `0x40_0000`, its `mmap`s from [`mmap::MMAP_BASE`], its stack below [`mmap::STACK_TOP`] |
//! | `ffff_8880_0000_0000`–        | direct map of all RAM ([`PAGE_OFFSET`])   |
//! | `ffff_c900_0000_0000`–        | kernel heap ([`KERNEL_HEAP_START`], [`kernel_heap_size`]) |
//! | `ffff_c900_8000_0000`–        | kernel stack, guard page below it         |
//! | `ffff_c900_c000_0000`–        | device registers ([`ioremap`])           |
//! | `ffff_fe00_0000_0000`–`ffff_ff7f_ffff_ffff` | bootloader's own mappings (gone after boot) |
//! | `ffff_ffff_8000_0000`–        | kernel image (`__START_KERNEL_map`)       |

pub mod cow;
pub mod fault_latency;
pub mod filemap;
pub mod filemap_write;
pub mod heap;
pub mod init;
pub mod ioremap;
pub mod lru;
pub mod madvise;
pub mod map_around;
pub mod memcontrol;
pub mod memory;
pub mod mm_types;
pub mod mmap;
pub mod page;
pub mod page_alloc;
pub mod page_io;
pub mod page_writeback;
pub mod pgtable;
pub mod readahead;
pub mod rmap;
pub mod slab;
pub mod state;
pub mod swap;
pub mod swap_state;
pub mod swapfile;
pub mod timeline;
pub mod vmscan;
pub mod vmstat;
pub mod workingset;
pub mod zcomp;
pub mod zpool;
pub mod zswap;

pub use crate::arch::paging::{PAGE_SHIFT, PAGE_SIZE};

/// Base of the direct map: physical address `pa` is visible at
/// `PAGE_OFFSET + pa` (Linux `page_offset_base` without KASLR).
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// Start of the kernel heap (in Linux's vmalloc area).
pub const KERNEL_HEAP_START: u64 = 0xffff_c900_0000_0000;
/// Bounds of the kernel heap size, which is 1/16 of RAM in between
/// (metadata only: page contents live in whole frames, not on the heap).
/// The metadata grows with the swap area (about 9 bytes per slot: a 4G
/// swap disk takes 9 MiB) and with zswap's entries and LRU (a full-scale
/// lab run keeps hundreds of thousands); 64 MiB ran out at full scale
/// with a 4G disk (a failed 8 MiB allocation), so a 3G guest gets 192.
pub const KERNEL_HEAP_MIN: u64 = 4 << 20;
pub const KERNEL_HEAP_MAX: u64 = 256 << 20;

/// The kernel heap size for a machine whose RAM ends at `ram_end`.
pub const fn kernel_heap_size(ram_end: u64) -> u64 {
    let size = page_align_down(ram_end / 16);
    if size < KERNEL_HEAP_MIN {
        KERNEL_HEAP_MIN
    } else if size > KERNEL_HEAP_MAX {
        KERNEL_HEAP_MAX
    } else {
        size
    }
}
/// The kernel stack's guard page; the stack itself starts one page above.
pub const KERNEL_STACK_GUARD: u64 = 0xffff_c900_8000_0000;
/// Size of the kernel stack (excluding the guard page).
pub const KERNEL_STACK_SIZE: u64 = 256 << 10;

/// Linux `__va` / `phys_to_virt`: where physical address `pa` is mapped.
#[inline]
pub const fn phys_to_virt(pa: u64) -> u64 {
    PAGE_OFFSET + pa
}

/// Linux `__pa` for direct-map addresses.
#[inline]
pub fn virt_to_phys(va: u64) -> u64 {
    debug_assert!(va >= PAGE_OFFSET, "{va:#x} is not in the direct map");
    va - PAGE_OFFSET
}

/// Rounds `x` down to a page boundary.
#[inline]
pub const fn page_align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Rounds `x` up to a page boundary.
#[inline]
pub const fn page_align_up(x: u64) -> u64 {
    (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Returned when no physical frame is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfMemory;
