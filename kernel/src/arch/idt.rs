//! Interrupt descriptor table: every CPU exception gets a handler that prints
//! a readable report (vector, name, error code, RIP, and CR2 for page faults)
//! and ends the run with a failure code. Nothing silently triple-faults.
//!
//! The page fault (#PF, vector 14) is special: it is how demand paging
//! works, so its handler hands the fault to [`super::fault::do_page_fault`],
//! which resolves it or reports a segmentation fault.

use core::fmt;

use spin::{Lazy, Mutex};
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

use super::gdt::DOUBLE_FAULT_IST_INDEX;
use crate::println;

/// What a fatal CPU exception looked like.
#[derive(Debug, Clone, Copy)]
pub struct ExceptionReport {
    pub vector: u8,
    pub name: &'static str,
    pub error_code: Option<u64>,
    pub rip: u64,
    pub rsp: u64,
    /// The faulting address, for page faults.
    pub cr2: Option<u64>,
}

impl fmt::Display for ExceptionReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "EXCEPTION: {} (vector {})", self.name, self.vector)?;
        if let Some(code) = self.error_code {
            write!(f, " error_code={code:#x}")?;
        }
        write!(f, " RIP={:#x} RSP={:#x}", self.rip, self.rsp)?;
        if let Some(cr2) = self.cr2 {
            write!(f, " CR2={cr2:#x}")?;
        }
        Ok(())
    }
}

/// A test can take over fatal exceptions (e.g. to check that a stack
/// overflow ends in a double fault). It must not return.
pub type FatalHook = fn(&ExceptionReport) -> !;
static FATAL_HOOK: Mutex<Option<FatalHook>> = Mutex::new(None);

/// Installs a hook that receives every fatal exception report.
pub fn set_fatal_hook(hook: FatalHook) {
    *FATAL_HOOK.lock() = Some(hook);
}

/// Prints the report and ends the run as a failure (or calls the test hook).
pub fn fatal_exception(report: &ExceptionReport) -> ! {
    // try_lock: the hook lock must never deadlock an exception path.
    let hook = FATAL_HOOK.try_lock().and_then(|h| *h);
    if let Some(hook) = hook {
        hook(report);
    }
    println!("{report}");
    crate::testing::fail_run()
}

fn report(
    vector: u8,
    name: &'static str,
    frame: &InterruptStackFrame,
    code: Option<u64>,
) -> ExceptionReport {
    ExceptionReport {
        vector,
        name,
        error_code: code,
        rip: frame.instruction_pointer.as_u64(),
        rsp: frame.stack_pointer.as_u64(),
        cr2: None,
    }
}

/// An exception raised by a user program kills the program with Linux's
/// signal for it (`do_trap`, `exc_general_protection`, `exc_invalid_op`);
/// the same exception in the kernel is fatal to the run.
fn user_exception(frame: &InterruptStackFrame, vector: u8, name: &'static str) {
    if frame.code_segment.rpl() != x86_64::PrivilegeLevel::Ring3 {
        return;
    }
    let signal = match vector {
        0 | 16 | 19 => crate::proc::SIGFPE,
        6 => crate::proc::SIGILL,
        _ => crate::proc::SIGSEGV,
    };
    let rip = frame.instruction_pointer.as_u64();
    crate::proc::force_sig(signal, rip, rip, format_args!("{name}"));
}

/// Generates a handler for an exception without an error code.
macro_rules! fatal_handler {
    ($fn_name:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $fn_name(frame: InterruptStackFrame) {
            user_exception(&frame, $vector, $name);
            fatal_exception(&report($vector, $name, &frame, None));
        }
    };
}

/// Generates a handler for an exception that pushes an error code.
macro_rules! fatal_handler_err {
    ($fn_name:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $fn_name(frame: InterruptStackFrame, code: u64) {
            user_exception(&frame, $vector, $name);
            fatal_exception(&report($vector, $name, &frame, Some(code)));
        }
    };
}

fatal_handler!(divide_error, 0, "#DE divide error");
fatal_handler!(debug, 1, "#DB debug");
fatal_handler!(nmi, 2, "NMI non-maskable interrupt");
fatal_handler!(overflow, 4, "#OF overflow");
fatal_handler!(bound_range, 5, "#BR bound range exceeded");
fatal_handler!(invalid_opcode, 6, "#UD invalid opcode");
fatal_handler!(device_not_available, 7, "#NM device not available");
fatal_handler_err!(invalid_tss, 10, "#TS invalid TSS");
fatal_handler_err!(segment_not_present, 11, "#NP segment not present");
fatal_handler_err!(stack_segment, 12, "#SS stack-segment fault");
fatal_handler_err!(general_protection, 13, "#GP general protection");
fatal_handler!(x87_floating_point, 16, "#MF x87 floating point");
fatal_handler_err!(alignment_check, 17, "#AC alignment check");
fatal_handler!(simd_floating_point, 19, "#XM SIMD floating point");
fatal_handler!(virtualization, 20, "#VE virtualization");
fatal_handler_err!(control_protection, 21, "#CP control protection");
fatal_handler!(hv_injection, 28, "#HV hypervisor injection");
fatal_handler_err!(vmm_communication, 29, "#VC VMM communication");
fatal_handler_err!(security, 30, "#SX security");

/// #BP is not fatal: `int3` prints where it happened and continues.
extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    println!(
        "breakpoint (#BP, vector 3) at RIP={:#x}",
        frame.instruction_pointer.as_u64()
    );
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    fatal_exception(&report(18, "#MC machine check", &frame, None))
}

/// Runs on its own IST stack, so it works even when the kernel stack
/// overflowed into its guard page.
extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    fatal_exception(&report(8, "#DF double fault", &frame, Some(code)))
}

extern "x86-interrupt" fn page_fault(frame: InterruptStackFrame, code: PageFaultErrorCode) {
    super::fault::do_page_fault(&frame, code);
}

/// Generates the stub for one PIC line: vector `PIC_VECTOR_BASE + line`.
/// An interrupt that came from ring 3 ends with a preemption point (Linux
/// `irqentry_exit_to_user_mode` → `schedule` when `TIF_NEED_RESCHED`): it
/// is how the timer tick takes the CPU from a user program, which never
/// calls `cond_resched` itself. The EOI was sent before.
macro_rules! irq_stub {
    ($fn_name:ident, $line:expr) => {
        extern "x86-interrupt" fn $fn_name(frame: InterruptStackFrame) {
            super::pic::handle_irq($line);
            if frame.code_segment.rpl() == x86_64::PrivilegeLevel::Ring3 {
                crate::sched::cond_resched();
            }
        }
    };
}

irq_stub!(irq0, 0);
irq_stub!(irq1, 1);
irq_stub!(irq2, 2);
irq_stub!(irq3, 3);
irq_stub!(irq4, 4);
irq_stub!(irq5, 5);
irq_stub!(irq6, 6);
irq_stub!(irq7, 7);
irq_stub!(irq8, 8);
irq_stub!(irq9, 9);
irq_stub!(irq10, 10);
irq_stub!(irq11, 11);
irq_stub!(irq12, 12);
irq_stub!(irq13, 13);
irq_stub!(irq14, 14);
irq_stub!(irq15, 15);

const IRQ_STUBS: [extern "x86-interrupt" fn(InterruptStackFrame); 16] = [
    irq0, irq1, irq2, irq3, irq4, irq5, irq6, irq7, irq8, irq9, irq10, irq11, irq12, irq13, irq14,
    irq15,
];

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    for (line, stub) in IRQ_STUBS.iter().enumerate() {
        idt[super::pic::PIC_VECTOR_BASE + line as u8].set_handler_fn(*stub);
    }
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.non_maskable_interrupt.set_handler_fn(nmi);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded.set_handler_fn(bound_range);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    // SAFETY: the IST index refers to the stack set up in the TSS by
    // `gdt::init`, which is called before `idt::init`.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(DOUBLE_FAULT_IST_INDEX);
    }
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment);
    idt.general_protection_fault
        .set_handler_fn(general_protection);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.machine_check.set_handler_fn(machine_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception.set_handler_fn(hv_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
    // SAFETY: the stub saves every register, calls the system-call
    // dispatcher and returns with `iretq`; DPL 3 lets ring 3 raise it.
    unsafe {
        let entry = super::entry::faultline_syscall_entry as *const () as u64;
        idt[SYSCALL_VECTOR]
            .set_handler_addr(x86_64::VirtAddr::new(entry))
            .set_privilege_level(x86_64::PrivilegeLevel::Ring3);
    }
    idt
});

/// The system-call vector (`int 0x80`, see [`super::entry`]).
pub const SYSCALL_VECTOR: u8 = 0x80;

/// Loads the IDT. Call after [`super::gdt::init`].
pub fn init() {
    IDT.load();
}
