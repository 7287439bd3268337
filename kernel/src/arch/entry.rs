//! Entering and leaving ring 3 (Linux arch/x86/entry/entry_64.S).
//!
//! System calls use `int 0x80` (the IDT gate has DPL 3 so user code may
//! raise it), not `syscall`/`sysret`. Why: the CPU then does everything
//! an exception does, and nothing more: it switches to the task's kernel
//! stack from the TSS (RSP0) and pushes an `iretq` frame, so one return
//! path (`iretq`) serves system calls, faults and a new process's first
//! entry alike. `syscall` would need three MSRs, `swapgs` and a per-CPU
//! area to find the kernel stack, all for speed a teaching kernel under
//! TCG does not notice. xv6 (x86) made the same choice with `int 64`;
//! 32-bit Linux still answers `int 0x80`.
//!
//! The ABI is Linux's x86_64 one: number in `rax`; arguments in `rdi`,
//! `rsi`, `rdx`, `r10`, `r8`, `r9`; result (or `-errno`) in `rax`.

use core::arch::global_asm;

/// Everything a ring-3 context is: the general registers our stub saved
/// and the frame the CPU pushed (Linux `struct pt_regs`, same order of
/// the hardware part).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// RFLAGS bit 9: interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;

global_asm!(
    // The CPU pushed ss, rsp, rflags, cs, rip (40 bytes, on a 16-byte
    // aligned RSP0): 15 pushes more make rsp 16-byte aligned for the call.
    ".global faultline_syscall_entry",
    "faultline_syscall_entry:",
    "    push rax",
    "    push rbx",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // The ABI wants the direction flag clear in Rust code (`rep movs` and
    // `rep stos` count up); ring 3 may have set it. Its RFLAGS are saved
    // in the frame and come back with `iretq`.
    "    cld",
    "    mov rdi, rsp",
    "    call {trap}",
    "    mov rdi, rax",
    // rdi = a TrapFrame to resume (the one above, or a new process's).
    ".global faultline_return_to_user",
    "faultline_return_to_user:",
    "    mov rsp, rdi",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rbx",
    "    pop rax",
    "    iretq",
    trap = sym syscall_trap,
);

unsafe extern "C" {
    /// The `int 0x80` gate's handler (address only; never called from Rust).
    pub fn faultline_syscall_entry();
    fn faultline_return_to_user(frame: *const TrapFrame) -> !;
}

/// Called by the entry stub with the saved context; returns the context
/// to resume (the stub passes it to the return path).
extern "C" fn syscall_trap(frame: &mut TrapFrame) -> *const TrapFrame {
    crate::proc::syscall::do_syscall(frame);
    frame
}

/// Leaves the kernel for ring 3 with the registers of `frame` (a new
/// process's first entry, or a forked child's copy of its parent's).
/// The stack pointer moves to `frame` itself, which `iretq` then leaves.
///
/// # Safety
/// `frame` must hold ring-3 selectors, a canonical user RIP and RSP, and
/// the current address space must be the one the frame belongs to. The
/// caller's frames are abandoned: they must own nothing that needs
/// dropping.
pub unsafe fn return_to_user(frame: &TrapFrame) -> ! {
    // SAFETY: guaranteed by the caller; the stub loads the registers from
    // the frame and `iretq`s with its last five words.
    unsafe { faultline_return_to_user(frame) }
}
