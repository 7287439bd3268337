//! The kernel heap (Linux: kmalloc / the slab allocators), a
//! `linked_list_allocator` over a fixed range mapped at boot by
//! [`super::init`]. It holds kernel metadata (VMAs, vectors, strings);
//! workload pages never live here, they are whole frames.

use linked_list_allocator::LockedHeap;

use super::KERNEL_HEAP_START;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hands the heap range (`size` bytes from `KERNEL_HEAP_START`) to the
/// allocator. Call once, after the switch to the kernel page tables.
pub fn init(size: u64) {
    // SAFETY: [KERNEL_HEAP_START, +size) is mapped writable by
    // `build_kernel_page_table` (same size), used by nothing else, and
    // `init` runs once.
    unsafe {
        ALLOCATOR
            .lock()
            .init(KERNEL_HEAP_START as *mut u8, size as usize)
    };
}

/// Bytes the heap manages.
pub fn size_bytes() -> usize {
    ALLOCATOR.lock().size()
}

/// Bytes currently allocated on the heap (for leak checks).
pub fn used_bytes() -> usize {
    ALLOCATOR.lock().used()
}
