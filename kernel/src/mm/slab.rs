//! kmalloc size classes (Linux: the `kmalloc-N` caches of
//! mm/slab_common.c, served by SLUB's per-cache freelists), in front of the
//! `linked_list_allocator` heap.
//!
//! Why: a first-fit linked list walks its holes on every allocation, and
//! a kernel that keeps thousands of small objects (B-tree nodes of the
//! swap cache and zswap trees, VMAs) while zstd allocates and frees
//! dozens of buffers per page has thousands of holes. Profiled on the seed
//! lab's thrash run, `allocate_first_fit` was 31 % of all guest time, and
//! because zstd's own cycles are measured (`mm/zcomp.rs`) a fragmented
//! heap also made zstd look dearer as a run went on. Linux's kmalloc takes
//! a free object off a per-size freelist in a few instructions; so do we.
//!
//! The design, and where it is simpler than SLUB:
//! - Requests of at most [`MAX_CLASS`] bytes (alignment at most
//!   [`CLASS_ALIGN`]) are rounded up to a class: powers of two plus the
//!   1.5x steps in between, like Linux's kmalloc-96 and kmalloc-192, so no
//!   more than a third of an object is wasted.
//! - A freed object goes onto its class's freelist (a pointer stored in
//!   the object itself, as SLUB stores its freepointer) and is handed out
//!   again by the next request of that class. An empty freelist takes one
//!   object from the linked list; SLUB instead carves whole slabs (pages)
//!   into objects, and frees a slab when its last object is freed.
//! - Objects stay on the freelists until the linked list cannot satisfy a
//!   request; then every freelist is given back (SLUB's
//!   `kmem_cache_shrink`, here all at once) and the request is retried.
//! - Larger requests go straight to the linked list (Linux sends
//!   kmalloc above 8 KiB to the page allocator).
//!
//! [`Kmalloc::used`] counts the bytes of live objects at their class size,
//! so the leak check (`workload/integrity.rs`) sees an object freed the
//! moment it is freed, whether or not its memory went back to the list.

use core::alloc::Layout;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

/// The largest request served by a size class.
pub const MAX_CLASS: usize = 4096;
/// Every class object is aligned to this (the classes are multiples of it).
pub const CLASS_ALIGN: usize = 16;
/// Object sizes of the classes, ascending.
const CLASSES: [usize; 16] = [
    16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
];

/// A free object: the freelist's link lives in the object itself.
struct FreeObject {
    next: Option<NonNull<FreeObject>>,
}

/// The class serving `layout`, if any.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > MAX_CLASS {
        return None;
    }
    CLASSES.iter().position(|&c| c >= layout.size())
}

/// The layout an object of `class` has in the linked list.
fn class_layout(class: usize) -> Layout {
    // Cannot fail: every class size is a non-zero multiple of the alignment.
    Layout::from_size_align(CLASSES[class], CLASS_ALIGN).expect("class layout")
}

/// The kernel's kmalloc: size-class freelists over a first-fit heap.
pub struct Kmalloc {
    heap: Heap,
    free: [Option<NonNull<FreeObject>>; CLASSES.len()],
    /// Bytes of live objects (class sizes for class objects).
    used: usize,
}

// SAFETY: the freelist pointers point into the heap range this value owns;
// it is only reached through a lock (`heap::ALLOCATOR`), never shared.
unsafe impl Send for Kmalloc {}

impl Kmalloc {
    pub const fn empty() -> Kmalloc {
        Kmalloc {
            heap: Heap::empty(),
            free: [None; CLASSES.len()],
            used: 0,
        }
    }

    /// Takes `[start, start + size)` as the heap.
    ///
    /// # Safety
    /// The range must be mapped writable, used by nothing else, and this
    /// must be called once, before any allocation.
    pub unsafe fn init(&mut self, start: *mut u8, size: usize) {
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.heap.init(start, size) };
    }

    /// Bytes the heap manages.
    pub fn size(&self) -> usize {
        self.heap.size()
    }

    /// Bytes of live objects.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Allocates `layout`; `None` when no memory is left even after the
    /// freelists were given back.
    pub fn alloc(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let (ptr, size) = match class_of(layout) {
            Some(class) => (self.alloc_class(class)?, CLASSES[class]),
            None => (self.alloc_large(layout)?, layout.size()),
        };
        self.used += size;
        Some(ptr)
    }

    /// Frees what [`Kmalloc::alloc`] returned for `layout`.
    ///
    /// # Safety
    /// `ptr` must come from `alloc(layout)` on this heap and not be freed yet.
    pub unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout) {
        match class_of(layout) {
            Some(class) => {
                let obj = ptr.cast::<FreeObject>();
                // SAFETY: the object is ours again, at least 16 bytes and
                // 16-aligned (its class), so it can hold the link.
                unsafe {
                    obj.as_ptr().write(FreeObject {
                        next: self.free[class],
                    })
                };
                self.free[class] = Some(obj);
                self.used -= CLASSES[class];
            }
            None => {
                // SAFETY: the caller's guarantee: allocated with `layout`
                // from the linked list (large requests never use a class).
                unsafe { self.heap.deallocate(ptr, layout) };
                self.used -= layout.size();
            }
        }
    }

    fn alloc_class(&mut self, class: usize) -> Option<NonNull<u8>> {
        if let Some(obj) = self.free[class] {
            // SAFETY: a freelist object holds the link written by
            // `dealloc`, and nobody else uses it while it is free.
            self.free[class] = unsafe { obj.as_ref().next };
            return Some(obj.cast());
        }
        self.alloc_large(class_layout(class))
    }

    /// From the linked list, giving the freelists back first if it is full.
    fn alloc_large(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if let Ok(p) = self.heap.allocate_first_fit(layout) {
            return Some(p);
        }
        if self.shrink() == 0 {
            return None;
        }
        self.heap.allocate_first_fit(layout).ok()
    }

    /// Gives every free class object back to the linked list (Linux:
    /// `kmem_cache_shrink`); returns how many.
    pub fn shrink(&mut self) -> usize {
        let mut n = 0;
        for class in 0..CLASSES.len() {
            while let Some(obj) = self.free[class] {
                // SAFETY: as in `alloc_class`.
                self.free[class] = unsafe { obj.as_ref().next };
                // SAFETY: every class object came from the linked list
                // with `class_layout(class)` (`alloc_class`).
                unsafe { self.heap.deallocate(obj.cast(), class_layout(class)) };
                n += 1;
            }
        }
        n
    }

    /// Free class objects waiting on the freelists.
    pub fn nr_cached(&self) -> usize {
        let mut n = 0;
        for head in self.free {
            let mut cur = head;
            while let Some(obj) = cur {
                n += 1;
                // SAFETY: as in `alloc_class`.
                cur = unsafe { obj.as_ref().next };
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private heap for these tests (the kernel's own is in use).
    fn with_heap(size: usize, f: impl FnOnce(&mut Kmalloc)) {
        let layout = Layout::from_size_align(size, 4096).unwrap();
        let mem = unsafe { alloc::alloc::alloc(layout) };
        assert!(!mem.is_null());
        let mut k = Kmalloc::empty();
        // SAFETY: `mem` is a fresh allocation of `size` bytes, ours alone.
        unsafe { k.init(mem, size) };
        f(&mut k);
        // SAFETY: allocated above with `layout`.
        unsafe { alloc::alloc::dealloc(mem, layout) };
    }

    #[test_case]
    fn requests_round_up_to_their_class() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class_of(l(1, 1)).map(|c| CLASSES[c]), Some(16));
        assert_eq!(class_of(l(80, 8)).map(|c| CLASSES[c]), Some(96));
        assert_eq!(class_of(l(4096, 16)).map(|c| CLASSES[c]), Some(4096));
        assert_eq!(class_of(l(4097, 8)), None);
        assert_eq!(class_of(l(64, 64)), None, "over-aligned goes to the list");
    }

    #[test_case]
    fn a_freed_object_is_reused_and_used_bytes_are_exact() {
        with_heap(64 << 10, |k| {
            let l = Layout::from_size_align(100, 8).unwrap();
            let a = k.alloc(l).unwrap();
            assert_eq!(k.used(), 128);
            unsafe { k.dealloc(a, l) };
            assert_eq!(k.used(), 0, "a freed object counts as free at once");
            assert_eq!(k.nr_cached(), 1);
            let b = k.alloc(Layout::from_size_align(120, 16).unwrap()).unwrap();
            assert_eq!(a, b, "the 128-byte class hands the object out again");
            assert_eq!(k.nr_cached(), 0);
            let big = Layout::from_size_align(10_000, 8).unwrap();
            let c = k.alloc(big).unwrap();
            assert_eq!(k.used(), 128 + 10_000);
            unsafe { k.dealloc(c, big) };
            unsafe { k.dealloc(b, Layout::from_size_align(120, 16).unwrap()) };
            assert_eq!(k.used(), 0);
        });
    }

    #[test_case]
    fn a_full_heap_takes_back_the_freelists() {
        with_heap(64 << 10, |k| {
            // Fill the heap with 1 KiB objects, free them all (they sit on
            // the freelist), then ask for one large block: it must succeed.
            let small = Layout::from_size_align(1000, 8).unwrap();
            let mut objs = alloc::vec::Vec::new();
            while let Some(p) = k.alloc(small) {
                objs.push(p);
            }
            assert!(objs.len() >= 60, "only {} objects fit", objs.len());
            for p in objs {
                unsafe { k.dealloc(p, small) };
            }
            assert_eq!(k.used(), 0);
            let big = Layout::from_size_align(48 << 10, 8).unwrap();
            let p = k.alloc(big).expect("the freelists were not given back");
            assert_eq!(k.nr_cached(), 0);
            unsafe { k.dealloc(p, big) };
        });
    }
}
