//! The architecture-independent fault handler (Linux mm/memory.c):
//! `handle_mm_fault` → `handle_pte_fault` → `do_anonymous_page`.
//!
//! Later issues add `do_swap_page` for non-present PTEs that hold a swap
//! entry; today such a PTE cannot exist, so finding one is a bug.

use core::fmt;

use super::mm_types::{current_mm, MmStruct, Vma};
use super::page_align_down;
use super::page_alloc::alloc_zeroed_page;
use super::pgtable::{anon_pte_flags, MapError};
use super::vmstat::{count_vm_event, VmEvent};

/// What the hardware told us about the access (Linux `FAULT_FLAG_*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultFlags {
    pub is_write: bool,
    /// The page was present: a protection fault, not a missing page.
    pub is_present: bool,
    pub is_instruction_fetch: bool,
}

/// Why a fault could not be resolved (Linux: `VM_FAULT_SIGSEGV`,
/// `VM_FAULT_OOM`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// No address space is current.
    NoMm,
    /// No VMA covers the address (Linux `bad_area`).
    NoVma,
    /// The VMA does not allow this access (Linux `access_error`).
    AccessError,
    /// No frame for the page or a page table (Linux `VM_FAULT_OOM`).
    OutOfMemory,
    /// A non-present PTE holds a value we do not know how to handle.
    UnknownPte(u64),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FaultError::NoMm => write!(f, "no address space is current"),
            FaultError::NoVma => write!(f, "address is not inside any VMA"),
            FaultError::AccessError => write!(f, "access not allowed by the VMA"),
            FaultError::OutOfMemory => write!(f, "out of memory"),
            FaultError::UnknownPte(v) => write!(f, "unknown non-present PTE value {v:#x}"),
        }
    }
}

/// Linux `handle_mm_fault`: resolve a fault at `address` in the current
/// address space.
pub fn handle_mm_fault(address: u64, flags: FaultFlags) -> Result<(), FaultError> {
    let mm = current_mm().ok_or(FaultError::NoMm)?;
    // Like taking mmap_lock. The workload never holds it while touching
    // its memory, so failing to get it means a kernel bug, not contention.
    let mut mm = mm
        .try_lock()
        .expect("page fault while the faulting mm is locked");
    let vma = mm.find_vma(address).ok_or(FaultError::NoVma)?;
    access_error(&vma, flags)?;
    handle_pte_fault(&mut mm, &vma, page_align_down(address), flags)?;
    count_vm_event(VmEvent::PgFault);
    Ok(())
}

/// Linux `access_error` (arch/x86/mm/fault.c): is this access allowed?
/// Anonymous memory is never executable here.
fn access_error(vma: &Vma, flags: FaultFlags) -> Result<(), FaultError> {
    if flags.is_instruction_fetch || (flags.is_write && !vma.is_writable()) {
        return Err(FaultError::AccessError);
    }
    Ok(())
}

/// Linux `handle_pte_fault`: dispatch on what the PTE holds.
fn handle_pte_fault(
    mm: &mut MmStruct,
    vma: &Vma,
    address: u64,
    flags: FaultFlags,
) -> Result<(), FaultError> {
    let pte = mm.pgtable().get_pte(address);
    match pte {
        None => do_anonymous_page(mm, vma, address),
        Some(p) if p.is_none() => do_anonymous_page(mm, vma, address),
        Some(p) if p.is_software() => Err(FaultError::UnknownPte(p.raw())),
        // Present: another path already mapped it (Linux would update the
        // accessed/dirty bits here). A write to a read-only page of a
        // writable VMA would be `do_wp_page`; we have no COW yet.
        Some(p) if flags.is_write && !p.is_writable() => Err(FaultError::AccessError),
        Some(_) => Ok(()),
    }
}

/// Linux `do_anonymous_page`: map a freshly zeroed frame.
fn do_anonymous_page(mm: &mut MmStruct, vma: &Vma, address: u64) -> Result<(), FaultError> {
    let pa = alloc_zeroed_page().map_err(|_| FaultError::OutOfMemory)?;
    let flags = anon_pte_flags(vma.is_writable());
    match mm.pgtable_mut().map_page(address, pa, flags) {
        Ok(()) => {
            mm.rss_anon += 1;
            Ok(())
        }
        Err(e) => {
            super::page_alloc::free_page(pa);
            match e {
                MapError::OutOfMemory => Err(FaultError::OutOfMemory),
                other => panic!("do_anonymous_page({address:#x}): {other:?}"),
            }
        }
    }
}
