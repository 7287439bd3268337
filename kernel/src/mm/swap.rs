//! Swap entries and how they live in a non-present PTE (Linux:
//! include/linux/swapops.h and arch/x86/include/asm/pgtable_64.h).
//!
//! x86_64 layout we use (present bit 0 is always clear):
//!
//! ```text
//!  63                               14 13     9 8   4 3   1 0
//! |      swap offset (slot)          |  type  | 0  |X|  0 |0|
//! ```
//!
//! `X` is bit 3 (`_PAGE_PWT`), which Linux uses as `_PAGE_SWP_EXCLUSIVE`:
//! the page was exclusively owned when it was unmapped, so swap-in may map
//! it writable at once. Linux also stores the offset inverted (an L1TF
//! mitigation); we do not. Slot 0 is the swap header and never used, so a
//! swap PTE is never zero (zero means "none").

use super::pgtable::Pte;

const SWP_TYPE_FIRST_BIT: u32 = 9;
const SWP_TYPE_BITS: u32 = 5;
const SWP_OFFSET_FIRST_BIT: u32 = 14;
const _PAGE_SWP_EXCLUSIVE: u64 = 1 << 3;

/// Linux `swp_entry_t`: a swap device (type) and a slot in it (offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SwapEntry {
    pub swap_type: u8,
    pub offset: u32,
}

impl SwapEntry {
    pub const fn new(offset: u32) -> SwapEntry {
        SwapEntry {
            swap_type: 0,
            offset,
        }
    }
}

/// Linux `swp_entry_to_pte` (+ `pte_swp_mkexclusive`).
pub fn swp_entry_to_pte(entry: SwapEntry, is_exclusive: bool) -> Pte {
    // LAB 2 BEGIN swp_entry_to_pte
    // LAB 2 STANDIN: let _ = (entry, is_exclusive);
    // LAB 2 STANDIN: unreachable!("lab 2 stand-in: nothing is swapped out before lab 2")
    debug_assert!(entry.offset != 0, "slot 0 is the swap header");
    let mut raw = ((entry.swap_type as u64) & ((1 << SWP_TYPE_BITS) - 1)) << SWP_TYPE_FIRST_BIT;
    raw |= (entry.offset as u64) << SWP_OFFSET_FIRST_BIT;
    if is_exclusive {
        raw |= _PAGE_SWP_EXCLUSIVE;
    }
    Pte::from_raw(raw)
    // LAB 2 END swp_entry_to_pte
}

/// Linux `pte_to_swp_entry` + `pte_swp_exclusive`; `None` if the PTE is
/// none or present.
pub fn pte_to_swp_entry(pte: Pte) -> Option<(SwapEntry, bool)> {
    // LAB 2 BEGIN pte_to_swp_entry
    // LAB 2 STANDIN: // Nothing is swapped out before lab 2: no PTE holds a swap entry.
    // LAB 2 STANDIN: let _ = pte;
    // LAB 2 STANDIN: None
    if !pte.is_software() {
        return None;
    }
    let raw = pte.raw();
    let swap_type = ((raw >> SWP_TYPE_FIRST_BIT) & ((1 << SWP_TYPE_BITS) - 1)) as u8;
    let offset = (raw >> SWP_OFFSET_FIRST_BIT) as u32;
    Some((
        SwapEntry { swap_type, offset },
        raw & _PAGE_SWP_EXCLUSIVE != 0,
    ))
    // LAB 2 END pte_to_swp_entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test_case]
    fn swap_pte_round_trip() {
        for (offset, excl) in [(1u32, true), (511, false), (0x00ff_ffff, true)] {
            let pte = swp_entry_to_pte(SwapEntry::new(offset), excl);
            assert!(!pte.is_present() && !pte.is_none());
            assert_eq!(pte_to_swp_entry(pte), Some((SwapEntry::new(offset), excl)));
        }
    }

    #[test_case]
    fn none_and_present_are_not_swap() {
        assert_eq!(pte_to_swp_entry(Pte::NONE), None);
        assert_eq!(pte_to_swp_entry(Pte::new(0x5000, 0)), None);
    }
}
