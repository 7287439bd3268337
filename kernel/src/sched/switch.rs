//! The context switch (Linux `__switch_to_asm` in arch/x86/entry/entry_64.S):
//! save the callee-saved registers and RFLAGS on the old stack, store its
//! stack pointer, load the new one, restore the same registers from it.
//!
//! Everything else a task needs is already on its stack (the caller-saved
//! registers were saved by the compiler around the call), and the kernel
//! uses no SSE/x87 state (the target is soft-float), so there is nothing
//! more to save. RFLAGS is saved so that each task keeps its own interrupt
//! flag: a task that blocked inside the page-fault handler (interrupts off)
//! resumes with interrupts off, one preempted in its workload loop resumes
//! with them on.

use core::arch::global_asm;

global_asm!(
    ".global faultline_switch_to",
    "faultline_switch_to:",
    "    pushfq",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rdi], rsp",
    "    mov rsp, rsi",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    popfq",
    "    ret",
);

unsafe extern "C" {
    /// Saves the current context, storing its stack pointer to `*prev_rsp`,
    /// and resumes the context whose stack pointer is `next_rsp`.
    fn faultline_switch_to(prev_rsp: *mut u64, next_rsp: u64);
}

/// Words [`switch_to`] pops from a new stack before `ret`: r15, r14, r13,
/// r12, rbx, rbp, rflags.
const SAVED_WORDS: usize = 7;
/// RFLAGS of a new task: only the always-one bit 1. Interrupts start off;
/// the task's entry function turns them on.
const INITIAL_RFLAGS: u64 = 0x2;

/// Lays out a new stack so that the first [`switch_to`] to it "returns"
/// into `entry` with a correctly aligned stack. Returns the initial stack
/// pointer.
pub fn prepare_stack(stack: &mut [u64], entry: extern "C" fn() -> !) -> u64 {
    // The heap gives 8-byte alignment: drop the last word if needed so
    // that the top is 16-byte aligned.
    let mut top = stack.len();
    if (stack.as_ptr() as usize + top * 8) % 16 != 0 {
        top -= 1;
    }
    // The System V ABI wants `rsp + 8` 16-byte aligned at a function's
    // first instruction, as if `call` had pushed a return address: the
    // word at `top - 1` plays that (never used) return address.
    stack[top - 1] = 0;
    stack[top - 2] = entry as usize as u64;
    stack[top - 3] = INITIAL_RFLAGS;
    for w in &mut stack[top - 2 - SAVED_WORDS..top - 3] {
        *w = 0;
    }
    &stack[top - 2 - SAVED_WORDS] as *const u64 as u64
}

/// Switches from the running context to the one saved at `next_rsp`.
///
/// # Safety
/// `prev_rsp` must be where the running task's saved stack pointer lives
/// until it is resumed; `next_rsp` must come from [`prepare_stack`] or
/// from an earlier switch away from a task that is still alive.
pub unsafe fn switch_to(prev_rsp: *mut u64, next_rsp: u64) {
    // SAFETY: guaranteed by the caller; the assembly above keeps the ABI's
    // callee-saved registers and returns normally when switched back to.
    unsafe { faultline_switch_to(prev_rsp, next_rsp) }
}
