//! System calls (Linux arch/x86/entry/syscall_64.c `do_syscall_64` and
//! the `sys_*` functions it reaches).
//!
//! The numbers and the register convention are Linux x86_64's (the
//! `uapi` crate holds them for both sides), so a program's `write(1, buf,
//! n)` is what it would be on Linux. Three calls of our own (numbers from
//! 1000) let a program look at the mm it runs on, as Linux's selftests
//! read /proc/vmstat and /proc/self/pagemap:
//! `faultline_vmstat(name)`, `faultline_pte(addr)` and
//! `faultline_report(checked, corrupt)` (pages a program verified).

use core::sync::atomic::{AtomicU64, Ordering};

use uapi::errno::{EBADF, EFAULT, EINVAL, ENOMEM, ENOSYS};
use uapi::mman::{MADV_DONTNEED, MADV_PAGEOUT, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use uapi::nr;
use uapi::pte::Pte;

use super::uaccess::{copy_from_user, copy_to_user};
use super::{do_exit, do_fork, do_wait, heap_bounds, set_brk, ExitStatus};
use crate::arch::entry::TrapFrame;
use crate::mm::madvise::{madvise_dontneed, madvise_pageout};
use crate::mm::mm_types::VmFlags;
use crate::mm::mmap::{do_brk, do_mmap_anon, do_munmap, user_range, MmapErrno};
use crate::mm::state::with_mm_state;

/// Pages user programs verified, and found wrong (`faultline_report`).
static USER_CHECKED: AtomicU64 = AtomicU64::new(0);
static USER_CORRUPT: AtomicU64 = AtomicU64::new(0);

/// The pages programs reported since the last call: (checked, corrupt).
pub fn take_user_tally() -> (u64, u64) {
    (
        USER_CHECKED.swap(0, Ordering::Relaxed),
        USER_CORRUPT.swap(0, Ordering::Relaxed),
    )
}

/// Entered from `int 0x80` with the caller's registers; leaves the result
/// in `rax`. The way back to ring 3 is a preemption point (Linux
/// `exit_to_user_mode_loop`).
pub fn do_syscall(frame: &mut TrapFrame) {
    let ret = dispatch(frame);
    frame.rax = ret as u64;
    crate::sched::cond_resched();
}

fn dispatch(frame: &TrapFrame) -> i64 {
    let a = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8];
    match frame.rax {
        nr::WRITE => sys_write(a[0], a[1], a[2]),
        nr::MMAP => sys_mmap(a[1], a[2], a[3], a[4]),
        nr::MUNMAP => errno_of(with_mm_state(|st| do_munmap(st, user_mm(), a[0], a[1]))),
        nr::BRK => sys_brk(a[0]),
        nr::SCHED_YIELD => {
            crate::sched::yield_now();
            0
        }
        nr::MADVISE => sys_madvise(a[0], a[1], a[2]),
        nr::GETPID => crate::sched::current_pid() as i64,
        nr::FORK => do_fork(frame),
        nr::EXIT | nr::EXIT_GROUP => do_exit(ExitStatus::Exited(a[0] as u8)),
        nr::WAIT4 => sys_wait4(a[0] as i64, a[1]),
        nr::FAULTLINE_VMSTAT => sys_vmstat(a[0], a[1]),
        nr::FAULTLINE_PTE => sys_pte(a[0]),
        nr::FAULTLINE_REPORT => {
            USER_CHECKED.fetch_add(a[0], Ordering::Relaxed);
            USER_CORRUPT.fetch_add(a[1], Ordering::Relaxed);
            0
        }
        _ => -ENOSYS,
    }
}

/// The calling process's address space: a system call runs in it.
fn user_mm() -> usize {
    crate::mm::state::current_mm_id().expect("a system call runs in its process's address space")
}

fn errno_of(r: Result<(), MmapErrno>) -> i64 {
    match r {
        Ok(()) => 0,
        Err(MmapErrno::Inval) => -EINVAL,
        Err(MmapErrno::NoMem) => -ENOMEM,
    }
}

/// Linux `write` to the console (fds 1 and 2 only), copied in chunks of
/// 256 bytes: a chunk that is not all readable ends the write, which
/// returns what it wrote before, or `-EFAULT` if that is nothing (as a
/// tty's write does on Linux).
fn sys_write(fd: u64, buf: u64, len: u64) -> i64 {
    if fd != 1 && fd != 2 {
        return -EBADF;
    }
    let mm = user_mm();
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len() as u64) as usize;
        if copy_from_user(mm, &mut chunk[..n], buf + done).is_err() {
            return if done > 0 { done as i64 } else { -EFAULT };
        }
        for piece in chunk[..n].utf8_chunks() {
            crate::print!("{}", piece.valid());
            if !piece.invalid().is_empty() {
                crate::print!("\u{fffd}");
            }
        }
        done += n as u64;
    }
    len as i64
}

/// Linux `mmap` for `MAP_PRIVATE | MAP_ANONYMOUS` with `PROT_READ` and
/// maybe `PROT_WRITE`; the address hint is ignored and `MAP_FIXED`,
/// files, `PROT_NONE` and `PROT_EXEC` are refused (`-EINVAL`).
fn sys_mmap(len: u64, prot: u64, flags: u64, fd: u64) -> i64 {
    let anon = flags & (MAP_PRIVATE | MAP_ANONYMOUS) == MAP_PRIVATE | MAP_ANONYMOUS;
    let known = flags & !(MAP_PRIVATE | MAP_ANONYMOUS) == 0;
    let known_prot = PROT_READ | PROT_WRITE;
    if !anon || !known || fd as i64 != -1 || prot & PROT_READ == 0 || prot & !known_prot != 0 {
        return -EINVAL;
    }
    let vm_flags = if prot & PROT_WRITE != 0 {
        VmFlags::ANON_RW
    } else {
        VmFlags::VM_READ
    };
    match with_mm_state(|st| do_mmap_anon(st, user_mm(), len, vm_flags)) {
        Ok(addr) => addr as i64,
        Err(e) => errno_of(Err(e)),
    }
}

/// Linux `brk`: returns the new end of the heap (the old one on failure).
fn sys_brk(want: u64) -> i64 {
    let (start, cur) = heap_bounds();
    if want == 0 {
        return cur as i64;
    }
    let mm = user_mm();
    let new = with_mm_state(|st| do_brk(st, mm, start, cur, want));
    set_brk(new);
    new as i64
}

fn sys_madvise(addr: u64, len: u64, advice: u64) -> i64 {
    let end = match user_range(addr, len) {
        Ok(end) => end,
        Err(e) => return errno_of(Err(e)),
    };
    let mm = user_mm();
    match advice {
        MADV_DONTNEED => with_mm_state(|st| madvise_dontneed(st, mm, addr, end)),
        MADV_PAGEOUT => {
            with_mm_state(|st| madvise_pageout(st, mm, addr, end));
        }
        _ => return -EINVAL,
    }
    0
}

/// Linux `wait4(-1, &status, 0, NULL)`; other pids and options `-EINVAL`.
fn sys_wait4(pid: i64, status_ptr: u64) -> i64 {
    if pid != -1 {
        return -EINVAL;
    }
    match do_wait() {
        Ok((child, status)) => {
            if status_ptr != 0
                && copy_to_user(user_mm(), status_ptr, &status.to_le_bytes()).is_err()
            {
                return -EFAULT;
            }
            child as i64
        }
        Err(e) => e,
    }
}

/// `faultline_vmstat(name, len)`: a vmstat counter by its /proc/vmstat
/// name, or one of `memcg_usage`, `memcg_max`, `memcg_peak` (pages) and
/// `swap_peak_count`. `-EINVAL` for an unknown name.
fn sys_vmstat(name: u64, len: u64) -> i64 {
    let mut buf = [0u8; 64];
    if len > buf.len() as u64 {
        return -EINVAL;
    }
    let buf = &mut buf[..len as usize];
    if copy_from_user(user_mm(), buf, name).is_err() {
        return -EFAULT;
    }
    let Ok(name) = core::str::from_utf8(buf) else {
        return -EINVAL;
    };
    let special = with_mm_state(|st| match name {
        "memcg_usage" => Some(crate::mm::memcontrol::memcg_usage(st)),
        "memcg_max" => Some(st.memcg.max_pages),
        "memcg_peak" => Some(st.memcg.peak_pages),
        "swap_peak_count" => Some(st.swap.as_ref().map_or(0, |s| s.peak_count as u64)),
        _ => None,
    });
    if let Some(v) = special {
        return v.min(i64::MAX as u64) as i64;
    }
    crate::mm::vmstat::snapshot()
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(-EINVAL, |(_, v)| *v as i64)
}

/// `faultline_pte(addr)`: what the calling process's PTE for `addr`
/// holds, packed as [`uapi::pte`] says; `-EINVAL` for a kernel address.
fn sys_pte(addr: u64) -> i64 {
    if addr >= crate::mm::mm_types::TASK_SIZE {
        return -EINVAL;
    }
    let mm = user_mm();
    let pte = with_mm_state(|st| {
        let pte = st.mm(mm).pgtable().get_pte(addr & !0xfff);
        let Some(pte) = pte.filter(|p| !p.is_none()) else {
            return Pte::None;
        };
        if pte.is_present() {
            let pfn = crate::mm::page::pa_to_pfn(pte.pa());
            return Pte::Present {
                writable: pte.is_writable(),
                mapcount: st.mem_map.get(pfn).mapcount as u64,
                pfn: pfn as u64,
            };
        }
        match crate::mm::swap::pte_to_swp_entry(pte) {
            Some((entry, exclusive)) => Pte::Swap {
                exclusive,
                swap_count: st.swap.as_ref().map_or(0, |s| s.swap_count(entry)) as u64,
                slot: entry.offset as u64,
            },
            None => Pte::None,
        }
    });
    pte.encode() as i64
}
