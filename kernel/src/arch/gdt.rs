//! Global descriptor table and task-state segment.
//!
//! Long mode barely uses segmentation, but the CPU still needs a code
//! segment, and the TSS is how an exception gets a *known-good stack*: the
//! double-fault handler runs on its own interrupt stack (IST entry 0), so a
//! kernel stack overflow (a fault on the guard page) ends in a readable
//! report instead of a triple fault.

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

static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    // Only the address is taken; the CPU alone uses the memory, as a stack.
    let start = VirtAddr::from_ptr(core::ptr::addr_of!(DOUBLE_FAULT_STACK));
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] =
        start + DOUBLE_FAULT_STACK_SIZE as u64;
    tss
});

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(&TSS));
    (gdt, Selectors { code, data, tss })
});

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
