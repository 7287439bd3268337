//! The kernel heap (Linux: kmalloc / the slab allocators): size-class
//! freelists ([`super::slab`]) over a `linked_list_allocator` heap on a
//! fixed range mapped at boot by [`super::init`]. It holds kernel metadata
//! (VMAs, B-tree nodes, vectors, strings, zstd's work buffers); workload
//! pages never live here, they are whole frames.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};

use spin::Mutex;

use super::slab::Kmalloc;
use super::KERNEL_HEAP_START;

/// The global allocator: one lock around [`Kmalloc`]. Nothing allocates
/// in an interrupt handler, so the lock is never taken re-entrantly.
struct KernelHeap(Mutex<Kmalloc>);

// SAFETY: `alloc` returns memory of at least `layout.size()` bytes aligned
// to `layout.align()` (the class rules in `slab.rs`, or the linked list
// itself), or null; `dealloc` hands back exactly what `alloc` gave for the
// same layout, under the lock.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .alloc(layout)
            .map_or(null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc`
            // with this layout and is freed once.
            unsafe { self.0.lock().dealloc(p, layout) };
        }
    }
}

#[global_allocator]
static ALLOCATOR: KernelHeap = KernelHeap(Mutex::new(Kmalloc::empty()));

/// Hands the heap range (`size` bytes from `KERNEL_HEAP_START`) to the
/// allocator. Call once, after the switch to the kernel page tables.
pub fn init(size: u64) {
    // SAFETY: [KERNEL_HEAP_START, +size) is mapped writable by
    // `build_kernel_page_table` (same size), used by nothing else, and
    // `init` runs once.
    unsafe {
        ALLOCATOR
            .0
            .lock()
            .init(KERNEL_HEAP_START as *mut u8, size as usize)
    };
}

/// Bytes the heap manages.
pub fn size_bytes() -> usize {
    ALLOCATOR.0.lock().size()
}

/// Bytes of live objects on the heap (for leak checks; an object on a
/// size-class freelist is not live).
pub fn used_bytes() -> usize {
    ALLOCATOR.0.lock().used()
}
