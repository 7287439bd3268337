//! System calls: Linux x86_64 numbers and registers (the `uapi` crate,
//! shared with the kernel), entered with `int 0x80` (see the kernel's
//! arch/entry.rs for why not `syscall`).

use core::arch::asm;

pub use uapi::errno::{EAGAIN, ECHILD, ENOMEM};
pub use uapi::mman::{MADV_DONTNEED, MADV_PAGEOUT};
pub use uapi::nr;
pub use uapi::pte::Pte;
pub use uapi::wait::{exit_code, term_signal};

/// Raw system call with up to five arguments; returns `rax`.
///
/// # Safety
/// The arguments must be what call `n` expects (pointers valid for it).
pub unsafe fn syscall5(n: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: the kernel saves and restores every register but rax; the
    // interrupt runs on the kernel stack, not ours.
    unsafe {
        asm!(
            "int 0x80",
            inlateout("rax") n as i64 => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            options(nostack),
        );
    }
    ret
}

fn call(n: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: every wrapper below passes valid arguments for its call.
    unsafe { syscall5(n, a1, a2, a3, 0, 0) }
}

/// `write(fd, buf)`: bytes written or `-errno`.
pub fn write(fd: u64, buf: &[u8]) -> i64 {
    call(nr::WRITE, fd, buf.as_ptr() as u64, buf.len() as u64)
}

/// `_exit(code)` without the page report (use [`crate::exit`]).
pub fn exit_raw(code: i32) -> ! {
    call(nr::EXIT, code as u64, 0, 0);
    unreachable!("exit returned")
}

pub fn getpid() -> i64 {
    call(nr::GETPID, 0, 0, 0)
}

/// `fork()`: the child's pid in the parent, 0 in the child, `-errno`.
pub fn fork() -> i64 {
    call(nr::FORK, 0, 0, 0)
}

/// `wait(&status)`: (pid, status) of a child that exited, or `-errno`.
pub fn wait() -> Result<(i64, i32), i64> {
    let mut status: i32 = 0;
    // SAFETY: `status` is a valid i32 for the kernel to write.
    let r = unsafe {
        syscall5(
            nr::WAIT4,
            -1i64 as u64,
            &mut status as *mut i32 as u64,
            0,
            0,
            0,
        )
    };
    if r < 0 {
        Err(r)
    } else {
        Ok((r, status))
    }
}

pub fn sched_yield() {
    call(nr::SCHED_YIELD, 0, 0, 0);
}

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`.
pub fn mmap_anon(len: usize) -> Result<u64, i64> {
    use uapi::mman::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
    let (prot, flags) = (PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    // SAFETY: no pointer is passed.
    let r = unsafe { syscall5(nr::MMAP, 0, len as u64, prot, flags, -1i64 as u64) };
    if r < 0 {
        Err(r)
    } else {
        Ok(r as u64)
    }
}

pub fn munmap(addr: u64, len: usize) -> i64 {
    call(nr::MUNMAP, addr, len as u64, 0)
}

/// `brk(addr)`: the new end of the heap (`brk(0)` asks for it).
pub fn brk(addr: u64) -> u64 {
    call(nr::BRK, addr, 0, 0) as u64
}

pub fn madvise(addr: u64, len: usize, advice: u64) -> i64 {
    call(nr::MADVISE, addr, len as u64, advice)
}

/// `faultline_vmstat(name)`: a /proc/vmstat counter by name, or
/// `memcg_usage`, `memcg_max`, `memcg_peak`, `swap_peak_count`.
pub fn vmstat(name: &str) -> u64 {
    let r = call(
        nr::FAULTLINE_VMSTAT,
        name.as_ptr() as u64,
        name.len() as u64,
        0,
    );
    assert!(r >= 0, "no counter named {name}");
    r as u64
}

/// The PTE of this process for `addr`.
pub fn pte(addr: u64) -> Pte {
    Pte::decode(call(nr::FAULTLINE_PTE, addr, 0, 0) as u64)
}

/// Adds pages checked (and found corrupt) to the run's figures.
pub fn faultline_report(checked: u64, corrupt: u64) {
    call(nr::FAULTLINE_REPORT, checked, corrupt, 0);
}
