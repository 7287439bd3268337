//! Global descriptor table and task-state segment.
//!
//! Long mode barely uses segmentation, but the CPU still needs code and
//! data segments for ring 0 and ring 3 (their DPL is what makes user mode
//! user mode), and the TSS is how the CPU finds a *known-good stack*:
//! - RSP0: the kernel stack an interrupt, exception or `int 0x80` from
//!   ring 3 switches to. It is the running task's own, set at every
//!   context switch ([`set_kernel_stack`]), as Linux sets
//!   `cpu_tss_rw.x86_tss.sp0` in `__switch_to`.
//! - IST 0: the double-fault handler's own stack, so a kernel stack
//!   overflow (a fault on the guard page) ends in a readable report
//!   instead of a triple fault.

use core::cell::UnsafeCell;

use spin::Lazy;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const DOUBLE_FAULT_STACK_SIZE: usize = 16 * 4096;

/// The double-fault stack lives in the kernel image (.bss), so it stays
/// mapped when we switch to our own page tables.
#[repr(align(16))]
struct IstStack(#[allow(dead_code)] [u8; DOUBLE_FAULT_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; DOUBLE_FAULT_STACK_SIZE]);

/// The TSS, written by [`set_kernel_stack`] while the CPU reads it.
struct Tss(UnsafeCell<TaskStateSegment>);
// SAFETY: one CPU; RSP0 is written only with interrupts off (in the
// scheduler), and the CPU reads it only on a ring 3 → ring 0 entry.
unsafe impl Sync for Tss {}

static TSS: Lazy<Tss> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    // Only the address is taken; the CPU alone uses the memory, as a stack.
    let start = VirtAddr::from_ptr(core::ptr::addr_of!(DOUBLE_FAULT_STACK));
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] =
        start + DOUBLE_FAULT_STACK_SIZE as u64;
    Tss(UnsafeCell::new(tss))
});

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    user_code: SegmentSelector,
    user_data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    // Data before code, the order `sysret` would need (Linux's GDT has it
    // too), though we enter with `int 0x80` and leave with `iretq`.
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    // SAFETY: the TSS is 'static and lives in the UnsafeCell for good.
    let tss = gdt.append(unsafe { Descriptor::tss_segment_unchecked(TSS.0.get()) });
    let sel = Selectors {
        code,
        data,
        user_code,
        user_data,
        tss,
    };
    (gdt, sel)
});

/// The ring-3 code and data (stack) selectors, RPL 3, for `iretq`.
pub fn user_selectors() -> (u16, u16) {
    (GDT.1.user_code.0, GDT.1.user_data.0)
}

/// Sets RSP0: where the CPU puts the stack on the next entry from ring 3.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: see `Tss`; a plain store to a field the CPU reads later.
    unsafe { (*TSS.0.get()).privilege_stack_table[0] = VirtAddr::new(top) };
}

/// Loads the GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    GDT.0.load();
    let sel = &GDT.1;
    // SAFETY: the selectors come from the GDT just loaded, which is
    // 'static; the code selector is a valid 64-bit code segment.
    unsafe {
        CS::set_reg(sel.code);
        DS::set_reg(sel.data);
        ES::set_reg(sel.data);
        SS::set_reg(sel.data);
        load_tss(sel.tss);
    }
}
