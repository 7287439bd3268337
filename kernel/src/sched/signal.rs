//! Killing one task on a fatal fault (Linux: `force_sig_fault(SIGBUS,
//! BUS_ADRERR, ...)` from `do_sigbus` in arch/x86/mm/fault.c, then the
//! signal's default action, `do_exit`).
//!
//! In Linux the faulting task is in user mode: the kernel queues SIGBUS,
//! returns to user mode, delivers the signal, and the task exits; its user
//! stack and heap simply disappear with its `mm`. Our workloads run in
//! ring 0, so "the user part" of a task is a *killable section*: a closure
//! run through [`killable`] that touches the task's address space. A fatal
//! fault inside it abandons the section's stack frames and makes
//! [`killable`] return `Err(Killed)`; the task then exits as Linux's would,
//! dropping its address space (slots and pages freed by `exit_mmap`).
//!
//! The rule that makes this safe: **a killable section owns nothing that
//! needs dropping** (no heap allocation, no lock guard) while it touches
//! user memory; it borrows its state from the task, which outlives it.
//! Abandoned frames run no destructors, so anything they owned would leak;
//! the run's leak check (heap bytes included) would report it.
//!
//! A second rule, for what the section writes to its task's state: the
//! compiler does not know that an access to user memory can end the
//! section. Through a `&mut` it may keep a counter in a register for the
//! whole section and store it once at the end, which a kill skips. State
//! that must be right after a kill (the counts of pages checked and found
//! corrupt) is written out with [`publish`] before the next access, as a
//! signal handler's data would be.
//!
//! The mechanism is a setjmp/longjmp pair in assembly, in the style of the
//! context switch ([`super::switch`]): [`faultline_call_killable`] saves the
//! callee-saved registers and RFLAGS, records the stack pointer, and calls
//! the section; [`faultline_kill_return`] restores that stack pointer and
//! returns from the same call a second way. From Rust's point of view the
//! call returns once, either way.

use core::arch::global_asm;

use spin::Mutex;

global_asm!(
    // rdi = where to store the saved stack pointer, rsi = section, rdx = its argument.
    ".global faultline_call_killable",
    "faultline_call_killable:",
    "    pushfq",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rdi], rsp",
    // Entry rsp was 8 mod 16; seven pushes make it 0 mod 16, as `call` wants.
    "    mov rdi, rdx",
    "    call rsi",
    "    xor eax, eax",
    "2:",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    popfq",
    "    ret",
    // rdi = the stack pointer saved above: return 1 from that call.
    ".global faultline_kill_return",
    "faultline_kill_return:",
    "    mov rsp, rdi",
    "    mov eax, 1",
    "    jmp 2b",
);

unsafe extern "C" {
    fn faultline_call_killable(
        saved_rsp: *mut u64,
        section: extern "C" fn(*mut u8),
        arg: *mut u8,
    ) -> u64;
    fn faultline_kill_return(saved_rsp: u64) -> !;
}

/// A killable section ended by a fatal fault; see [`KilledTask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed;

/// Bytes of a task name kept in a [`KilledTask`].
const NAME_BYTES: usize = 24;

/// One task killed by a fatal fault, as the run's result lists it. No heap:
/// the record is made in the fault handler, whose frame is abandoned, and
/// the leak check counts heap bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KilledTask {
    name: [u8; NAME_BYTES],
    name_len: usize,
    /// Linux's signal and code: `SIGBUS` / `BUS_ADRERR`.
    pub signal: &'static str,
    /// The faulting address.
    pub address: u64,
    /// The swap slot whose read failed.
    pub slot: u64,
}

impl KilledTask {
    /// The task (its address space's name, cut to 24 bytes).
    pub fn task(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

/// Kills listed in the result; more are counted only.
pub const MAX_KILLED: usize = 64;

/// Tasks killed since the last [`take_killed`]: the first [`MAX_KILLED`],
/// and how many in all.
static KILLED: Mutex<([Option<KilledTask>; MAX_KILLED], usize)> =
    Mutex::new(([None; MAX_KILLED], 0));

/// Writes `state` out to memory now (a volatile store of its current
/// value, which the compiler may neither drop nor delay): what it holds
/// survives a kill at the next access (see the module comment).
#[inline(always)]
pub fn publish<T: Copy>(state: &mut T) {
    // SAFETY: `state` is a valid, exclusive reference; storing its own
    // value changes nothing but forces the store to happen here.
    unsafe { core::ptr::write_volatile(state, *state) }
}

/// Runs `section` so that a fatal fault inside it kills the task: then
/// `Err(Killed)` is returned and the section's frames are gone (see the
/// module comment for what the section may own).
pub fn killable<F: FnOnce() -> R, R>(section: F) -> Result<R, Killed> {
    struct Frame<F, R> {
        section: Option<F>,
        result: Option<R>,
    }
    extern "C" fn run<F: FnOnce() -> R, R>(arg: *mut u8) {
        // SAFETY: `arg` is the `Frame` below, alive for the whole call.
        let frame = unsafe { &mut *(arg as *mut Frame<F, R>) };
        let section = frame.section.take().expect("runs once");
        frame.result = Some(section());
    }
    let mut frame = Frame {
        section: Some(section),
        result: None,
    };
    let mut saved_rsp = 0u64;
    let outer = super::set_kill_point(&mut saved_rsp as *mut u64 as usize);
    // SAFETY: the assembly keeps the callee-saved registers and RFLAGS
    // and returns normally; `saved_rsp` and `frame` live in this frame,
    // below which the section's frames are pushed, so a kill return lands
    // here with both intact.
    let arg = &mut frame as *mut Frame<F, R> as *mut u8;
    let was_killed = unsafe { faultline_call_killable(&mut saved_rsp, run::<F, R>, arg) };
    super::set_kill_point(outer);
    match was_killed {
        0 => Ok(frame.result.take().expect("section returned")),
        _ => Err(Killed),
    }
}

/// Linux `force_sig_fault(SIGBUS, BUS_ADRERR)` + the default action: if
/// the running task is inside a killable section, record the kill, print
/// one report line, and end the section (never returns). Otherwise
/// returns, and the caller ends the run as before.
///
/// The caller must hold no lock and own nothing that needs dropping: its
/// frame is abandoned too.
pub fn force_sig_bus(address: u64, slot: u64) {
    let point = super::kill_point();
    if point == 0 {
        return;
    }
    let mut killed = KilledTask {
        name: [0; NAME_BYTES],
        name_len: 0,
        signal: "SIGBUS",
        address,
        slot,
    };
    if let Some(id) = crate::mm::state::current_mm_id() {
        crate::mm::state::with_mm_state(|st| {
            let name = st.mm(id).name().as_bytes();
            killed.name_len = name.len().min(NAME_BYTES);
            killed.name[..killed.name_len].copy_from_slice(&name[..killed.name_len]);
        });
    }
    crate::println!(
        "faultline: task {} killed by SIGBUS (BUS_ADRERR) at {address:#x}: swap slot {slot} could not be read",
        killed.task(),
    );
    {
        let mut list = KILLED.lock();
        let n = list.1;
        if let Some(entry) = list.0.get_mut(n) {
            *entry = Some(killed);
        }
        list.1 += 1;
    }
    // SAFETY: `point` is the `saved_rsp` of a `killable` frame that is
    // still on this task's stack (set_kill_point is undone when it
    // returns), and `faultline_call_killable` stored the stack pointer
    // there before running the section we are inside.
    unsafe { faultline_kill_return(*(point as *const u64)) }
}

/// The tasks killed since the last call (the first [`MAX_KILLED`], oldest
/// first) and how many in all.
pub fn take_killed() -> ([Option<KilledTask>; MAX_KILLED], usize) {
    core::mem::replace(&mut *KILLED.lock(), ([None; MAX_KILLED], 0))
}
