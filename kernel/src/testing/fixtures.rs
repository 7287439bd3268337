//! Helpers the swap test kernels share: an address space whose pages carry
//! known patterns, and ways to push them out and look at their PTEs.

use crate::mm::madvise::madvise_pageout;
use crate::mm::mm_types::{new_anon_mm, switch_mm, MmHandle};
use crate::mm::page::{Page, Pfn};
use crate::mm::pgtable::Pte;
use crate::mm::state::{with_mm_state, SwapPolicy};
use crate::mm::swap::{pte_to_swp_entry, SwapEntry};
use crate::mm::swapfile::{swapon, DeviceChoice};
use crate::mm::vmscan::shrink_all_memory;
use crate::mm::PAGE_SIZE;
use crate::workload::{fill_page, set_random_pct, verify_page};

/// An address space of `pages` pages at `base`, current while it lives.
/// Page `p` holds the pattern of tag `p` once written.
pub struct TestMm {
    pub mm: MmHandle,
    pub base: u64,
    pub pages: u64,
}

/// A `TestMm` is also its address space handle (`id`, `rss_anon`).
impl core::ops::Deref for TestMm {
    type Target = MmHandle;

    fn deref(&self) -> &MmHandle {
        &self.mm
    }
}

impl TestMm {
    /// Creates the address space and makes it current.
    pub fn new(name: &str, base: u64, pages: u64) -> TestMm {
        let mm = new_anon_mm(name, base, pages * PAGE_SIZE).expect("test address space");
        switch_mm(Some(&mm));
        TestMm { mm, base, pages }
    }

    /// [`Self::new`], every page written, then everything reclaimed.
    pub fn swapped_out(name: &str, base: u64, pages: u64) -> TestMm {
        let t = TestMm::new(name, base, pages);
        for p in 0..pages {
            t.write(p, p);
        }
        swap_out_all();
        t
    }

    /// [`Self::new`], every page written, then every page paged out with
    /// `MADV_PAGEOUT`'s path (`reclaim_pages`): swap-out without the LRU
    /// policy, so lab 2's tests do not run lab 3's code.
    pub fn paged_out(name: &str, base: u64, pages: u64) -> TestMm {
        let t = TestMm::new(name, base, pages);
        for p in 0..pages {
            t.write(p, p);
        }
        t.pageout();
        t
    }

    /// `MADV_PAGEOUT` over the whole address space.
    pub fn pageout(&self) {
        let end = self.base + self.pages * PAGE_SIZE;
        with_mm_state(|st| madvise_pageout(st, self.mm.id(), self.base, end));
    }

    pub fn va(&self, page: u64) -> u64 {
        self.base + page * PAGE_SIZE
    }

    /// Writes the pattern of `tag` into `page` (faulting it in).
    pub fn write(&self, page: u64, tag: u64) {
        // SAFETY: the page is inside this address space's VMA, and the
        // address space is current (see `new`).
        unsafe { fill_page(self.va(page), tag) };
    }

    /// Checks that `page` holds the pattern of `tag` (faulting it in).
    pub fn holds(&self, page: u64, tag: u64) -> bool {
        // SAFETY: as in `write`.
        unsafe { verify_page(self.va(page), tag) }
    }

    /// Asserts that `page` holds its own pattern (tag = page number).
    pub fn touch(&self, page: u64) {
        assert!(self.holds(page, page), "page {page} corrupt");
    }

    pub fn pte(&self, page: u64) -> Pte {
        with_mm_state(|st| {
            st.mm(self.mm.id())
                .pgtable()
                .get_pte(self.va(page))
                .unwrap_or(Pte::NONE)
        })
    }

    /// The swap entry in `page`'s PTE (panics if it is not swapped out).
    pub fn entry(&self, page: u64) -> SwapEntry {
        pte_to_swp_entry(self.pte(page)).expect("swapped out").0
    }

    /// Is `page` swapped out with its data in the swap cache?
    pub fn is_cached(&self, page: u64) -> bool {
        let Some((e, _)) = pte_to_swp_entry(self.pte(page)) else {
            return false;
        };
        with_mm_state(|st| st.swap.as_ref().expect("swap").cache_lookup(e).is_some())
    }
}

/// A copy of the descriptor of frame `pfn`.
pub fn page_of(pfn: Pfn) -> Page {
    with_mm_state(|st| *st.mem_map.get(pfn))
}

/// Reclaims everything that can be reclaimed.
pub fn swap_out_all() {
    with_mm_state(shrink_all_memory);
}

/// Turns the virtio swap disk on and sets a policy, with no memory limit,
/// no zswap limit, writeback allowed, zswap off, and the default page
/// content.
pub fn virtio_swap(policy: SwapPolicy) {
    swapon(DeviceChoice::Virtio).expect("the host attaches a swap disk");
    set_random_pct(25);
    with_mm_state(|st| {
        st.policy = policy;
        st.memcg.max_pages = u64::MAX;
        st.memcg.zswap_max_pages = u64::MAX;
        st.memcg.zswap_writeback = true;
        st.swap.as_mut().expect("swap").zswap.enabled = false;
    });
}

/// xorshift64: the same sequence for the same seed on every machine (the
/// hidden lab tests draw their secret sizes and orders from it).
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The virtio swap disk with readahead off (`page_cluster` 0): every
/// swap-in is one major fault and one read.
pub fn virtio_swap_no_readahead() {
    virtio_swap(SwapPolicy {
        readahead: crate::mm::swap_state::ReadaheadMode::Off,
        page_cluster: 0,
        ..SwapPolicy::default()
    });
}
