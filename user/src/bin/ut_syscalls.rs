//! usertests: system calls copy user memory that is swapped out (the copy
//! faults it back in) and refuse memory that is not there (`EFAULT`),
//! and bad arguments get their errno, never a kernel failure.

#![no_std]
#![no_main]

use user::*;

entry!(main);

use uapi::errno::{EBADF, EFAULT, EINVAL, ENOSYS};
use uapi::mman::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};

const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;

fn main() -> i32 {
    // write() from a buffer that is swapped out: the kernel's copy
    // faults every page back in.
    let r = Region::map(4);
    let text = b"ut_syscalls: this line was swapped out when write() copied it\n";
    // SAFETY: page 0 of our own mapping holds the text.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), r.page(0) as *mut u8, text.len()) };
    r.pageout();
    ensure!(
        matches!(pte(r.addr(0)), Pte::Swap { .. }),
        "the buffer is not swapped out"
    );
    let majors = vmstat("pgmajfault") + vmstat("pgfault_swapcache");
    // SAFETY: the slice is inside our mapping.
    let buf = unsafe { core::slice::from_raw_parts(r.page(0) as *const u8, text.len()) };
    ensure!(
        write(1, buf) == text.len() as i64,
        "write from a swapped-out buffer"
    );
    ensure!(
        vmstat("pgmajfault") + vmstat("pgfault_swapcache") > majors,
        "the copy did not fault the buffer in"
    );
    // Memory that is not there: EFAULT, and nothing printed.
    // SAFETY: the kernel checks the pointers; nothing here dereferences them.
    unsafe {
        ensure!(
            syscall5(nr::WRITE, 1, 0x1000, 8, 0, 0) == -EFAULT,
            "write from 0x1000"
        );
        ensure!(
            syscall5(nr::WRITE, 1, 0xffff_8880_0000_0000, 8, 0, 0) == -EFAULT,
            "write from a kernel address"
        );
        // 8 bytes in the mapping, 8 beyond it: the kernel copies in
        // chunks and refuses a chunk it cannot read whole.
        let straddle = r.addr(3) + PAGE_SIZE as u64 - 8;
        ensure!(
            syscall5(nr::WRITE, 1, straddle, 16, 0, 0) == -EFAULT,
            "write running off the end of a mapping"
        );
        ensure!(
            syscall5(nr::WRITE, 1, u64::MAX - 3, 8, 0, 0) == -EFAULT,
            "write that wraps"
        );
        ensure!(
            syscall5(nr::WRITE, 7, r.addr(0), 1, 0, 0) == -EBADF,
            "write to fd 7"
        );
        ensure!(
            syscall5(nr::FAULTLINE_PTE, 0xffff_8880_0000_0000, 0, 0, 0, 0) == -EINVAL,
            "faultline_pte of a kernel address"
        );
        ensure!(
            syscall5(9999, 0, 0, 0, 0, 0) == -ENOSYS,
            "an unknown system call: ENOSYS"
        );
    }
    // wait4 writing its status to memory that is not there.
    if fork() == 0 {
        exit(0);
    }
    // SAFETY: as above.
    let r4 = unsafe { syscall5(nr::WAIT4, -1i64 as u64, 0x1000, 0, 0, 0) };
    ensure!(r4 == -EFAULT, "wait4 with a bad status pointer: {r4}");
    // The child was reaped (Linux reaps it too before the copy fails).
    ensure!(wait().err() == Some(-ECHILD), "no child left");
    // mmap, munmap, madvise, brk with bad arguments.
    // SAFETY: as above.
    unsafe {
        ensure!(
            syscall5(nr::MMAP, 0, 4096, RW, 0x01, u64::MAX) == -EINVAL,
            "MAP_SHARED"
        );
        ensure!(
            syscall5(nr::MMAP, 0, 0, RW, ANON, u64::MAX) == -EINVAL,
            "mmap of 0 bytes"
        );
        ensure!(
            syscall5(nr::MMAP, 0, 4096, RW | PROT_EXEC, ANON, u64::MAX) == -EINVAL,
            "PROT_EXEC"
        );
        ensure!(
            syscall5(nr::MMAP, 0, u64::MAX, RW, ANON, u64::MAX) == -EINVAL,
            "huge mmap"
        );
    }
    ensure!(munmap(r.addr(0) + 1, 4096) == -EINVAL, "unaligned munmap");
    ensure!(
        munmap(0xffff_8880_0000_0000, 4096) == -EINVAL,
        "munmap of the kernel"
    );
    ensure!(madvise(r.addr(0), 4096, 12345) == -EINVAL, "unknown advice");
    ensure!(
        madvise(r.addr(0) + 8, 4096, MADV_DONTNEED) == -EINVAL,
        "unaligned madvise"
    );
    // brk: a heap the program cut a hole in is left alone.
    let start = brk(0);
    let p = PAGE_SIZE as u64;
    ensure!(brk(start + 4 * p) == start + 4 * p, "brk grow");
    ensure!(munmap(start + p, PAGE_SIZE) == 0, "a hole in the heap");
    ensure!(
        brk(start + 2 * p) == start + 4 * p,
        "brk over a hole must fail"
    );
    ensure!(
        brk(start + 8 * p) == start + 4 * p,
        "brk over a hole must fail"
    );
    ensure!(
        brk(start - p) == start + 4 * p,
        "brk below the heap must fail"
    );
    failures()
}
