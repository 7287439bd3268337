//! User processes: programs in ring 3 with their own address space,
//! created by exec or fork, ended by exit or a fatal signal, reaped by
//! wait (Linux kernel/fork.c, kernel/exit.c; xv6 proc.c).
//!
//! A process is one scheduler task ([`crate::sched`]) plus an entry in
//! the process table here: its pid, parent, address space, heap bounds
//! and, once it has exited, its wait status (a zombie until its parent
//! waits). Processes started by the kernel (a workload's programs) have
//! parent 0; their status goes to [`take_finished`] instead.
//!
//! Simplifications: one thread per process; no signals beyond the fatal
//! ones a fault raises (SIGSEGV, SIGBUS, SIGILL, SIGFPE, and the memcg
//! OOM kill), which end the process at once; orphans are re-parented to
//! the kernel (Linux: to init) and reaped by it; the process limit
//! `user.max_procs` plays the cgroup's `pids.max`.

pub mod elf;
pub mod exec;
pub mod programs;
pub mod syscall;
pub mod uaccess;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use crate::arch::entry::TrapFrame;
use crate::mm::cow::dup_mm;
use crate::mm::mm_types::{switch_mm, MmHandle};
use crate::sched::{self, UserStart};

pub use uapi::errno;
pub use uapi::signal::{name as signal_name, SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGSEGV};

/// Linux's wait status: exit code in bits 8..16, or the signal in 0..7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u8),
    Killed(u8),
}

impl ExitStatus {
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => uapi::wait::exited(code),
            ExitStatus::Killed(sig) => uapi::wait::killed(sig),
        }
    }
}

/// Linux `struct task_struct`, the process part.
struct Process {
    pid: u32,
    ppid: u32,
    name: &'static str,
    /// `None` once it has exited.
    mm: Option<MmHandle>,
    brk_start: u64,
    brk: u64,
    /// Set when it exits; it is a zombie until its parent waits.
    status: Option<ExitStatus>,
    /// Started by the kernel (not forked): its end is reported.
    is_program: bool,
}

/// A process started by the kernel that has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    pub name: &'static str,
    pub pid: u32,
    pub status: ExitStatus,
}

/// A process a fault killed (the run reports each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillReport {
    pub name: &'static str,
    pub pid: u32,
    pub signal: u8,
    pub address: u64,
    pub rip: u64,
}

/// Kill reports kept for the result (more are counted only).
pub const MAX_KILL_REPORTS: usize = 16;

struct Table {
    procs: Vec<Process>,
    finished: Vec<Finished>,
    kills: [Option<KillReport>; MAX_KILL_REPORTS],
    nr_kills: usize,
    forks: u64,
    max_alive: usize,
}

impl Table {
    const fn new() -> Table {
        Table {
            procs: Vec::new(),
            finished: Vec::new(),
            kills: [None; MAX_KILL_REPORTS],
            nr_kills: 0,
            forks: 0,
            max_alive: 0,
        }
    }
}

static TABLE: Mutex<Table> = Mutex::new(Table::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);
/// `user.max_procs`: processes alive at once (Linux cgroup `pids.max`).
static MAX_PROCS: AtomicU32 = AtomicU32::new(64);

/// Sets the process limit (from the knobs).
pub fn set_max_procs(n: u32) {
    MAX_PROCS.store(n, Ordering::Relaxed);
}

fn alloc_pid() -> u32 {
    NEXT_PID.fetch_add(1, Ordering::Relaxed)
}

/// Adds a process to the table; `Err` at the process limit, which counts
/// zombies too (as `pids.max` does until they are reaped), so a parent
/// that never waits cannot grow the table without bound.
fn add(p: Process) -> Result<(), Process> {
    let mut t = TABLE.lock();
    if t.procs.len() >= MAX_PROCS.load(Ordering::Relaxed) as usize {
        return Err(p);
    }
    t.procs.push(p);
    t.max_alive = t.max_alive.max(t.procs.len());
    Ok(())
}

/// Loads program `name` as a new process of the kernel's, ready to run.
pub fn spawn_program(name: &'static str) -> Result<UserStart, alloc::string::String> {
    let image = exec::load(name)?;
    let pid = alloc_pid();
    let start = UserStart {
        name: name.into(),
        pid,
        mm: image.mm.id(),
        frame: image.frame,
    };
    add(Process {
        pid,
        ppid: 0,
        name,
        mm: Some(image.mm),
        brk_start: image.brk_start,
        brk: image.brk_start,
        status: None,
        is_program: true,
    })
    .map_err(|_| alloc::string::String::from("process limit reached"))?;
    Ok(start)
}

/// Runs `f` on the calling process's entry.
fn with_current<R>(f: impl FnOnce(&mut Process) -> R) -> R {
    let pid = sched::current_pid();
    let mut t = TABLE.lock();
    let p = t
        .procs
        .iter_mut()
        .find(|p| p.pid == pid)
        .expect("a system call from a process not in the table");
    f(p)
}

/// The calling process's heap bounds `(brk_start, brk)`.
pub fn heap_bounds() -> (u64, u64) {
    with_current(|p| (p.brk_start, p.brk))
}

pub fn set_brk(brk: u64) {
    with_current(|p| p.brk = brk);
}

/// Linux `fork` (`kernel_clone` → `copy_process` → `dup_mm`): a child
/// with a copy-on-write copy of the caller's address space, which
/// resumes from the same system call with 0 in `rax`. Returns the
/// child's pid, or `-EAGAIN` at the process limit, `-ENOMEM` without
/// page-table memory.
pub fn do_fork(frame: &TrapFrame) -> i64 {
    let (ppid, mm, name, brk_start, brk) = with_current(|p| {
        (
            p.pid,
            p.mm.as_ref().unwrap().id(),
            p.name,
            p.brk_start,
            p.brk,
        )
    });
    let alive = TABLE
        .lock()
        .procs
        .iter()
        .filter(|p| p.status.is_none())
        .count();
    if alive >= MAX_PROCS.load(Ordering::Relaxed) as usize {
        return -errno::EAGAIN;
    }
    let Ok(child_mm) = dup_mm(mm, name) else {
        return -errno::ENOMEM;
    };
    let pid = alloc_pid();
    let child_id = child_mm.id();
    let child = Process {
        pid,
        ppid,
        name,
        mm: Some(child_mm),
        brk_start,
        brk,
        status: None,
        is_program: false,
    };
    if let Err(child) = add(child) {
        drop(child);
        return -errno::EAGAIN;
    }
    TABLE.lock().forks += 1;
    let mut child_frame = *frame;
    child_frame.rax = 0;
    sched::spawn_user(UserStart {
        name: name.into(),
        pid,
        mm: child_id,
        frame: child_frame,
    });
    pid as i64
}

/// Linux `do_exit`: the address space goes (every page and swap entry
/// released), children are handed to the kernel, the parent is woken,
/// and the task ends. Never returns; the caller's frames are abandoned,
/// so they must own nothing that needs dropping.
pub fn do_exit(status: ExitStatus) -> ! {
    let pid = sched::current_pid();
    let ppid = {
        let mut t = TABLE.lock();
        for child in t.procs.iter_mut().filter(|c| c.ppid == pid) {
            child.ppid = 0;
        }
        let p = t
            .procs
            .iter_mut()
            .find(|p| p.pid == pid)
            .expect("exiting process");
        p.status = Some(status);
        p.ppid
    };
    switch_mm(None);
    // Out of the table's lock: exit_mmap takes the mm lock.
    let mm = with_current(|p| p.mm.take());
    drop(mm);
    reap_kernel_children();
    if ppid != 0 {
        sched::wake_pid(ppid);
    }
    sched::exit_current()
}

/// The kernel reaps its children (the programs it started, and orphans)
/// as soon as they exit; a program's end is reported.
fn reap_kernel_children() {
    let mut t = TABLE.lock();
    let mut i = 0;
    while i < t.procs.len() {
        let p = &t.procs[i];
        match p.status {
            Some(status) if p.ppid == 0 => {
                let done = Finished {
                    name: p.name,
                    pid: p.pid,
                    status,
                };
                if p.is_program {
                    t.finished.push(done);
                }
                t.procs.swap_remove(i);
            }
            _ => i += 1,
        }
    }
}

/// Linux `wait4(-1, ...)`: reaps one exited child, sleeping until one
/// exits. Returns (pid, wait status), or `-ECHILD` without children.
pub fn do_wait() -> Result<(u32, i32), i64> {
    let pid = sched::current_pid();
    loop {
        {
            let mut t = TABLE.lock();
            if !t.procs.iter().any(|p| p.ppid == pid) {
                return Err(-errno::ECHILD);
            }
            if let Some(i) = t
                .procs
                .iter()
                .position(|p| p.ppid == pid && p.status.is_some())
            {
                let z = t.procs.swap_remove(i);
                return Ok((z.pid, z.status.expect("zombie").wait_status()));
            }
        }
        sched::block_current();
    }
}

/// Linux `force_sig_fault` + the default action for a fatal signal: one
/// line on the console, the kill recorded, and the process exits.
pub fn force_sig(signal: u8, address: u64, rip: u64, why: core::fmt::Arguments) -> ! {
    let pid = sched::current_pid();
    let name = with_current(|p| p.name);
    crate::println!(
        "faultline: process {name} (pid {pid}) killed by {} at {address:#x} (rip {rip:#x}): {why}",
        signal_name(signal)
    );
    {
        let mut t = TABLE.lock();
        let n = t.nr_kills;
        if let Some(slot) = t.kills.get_mut(n) {
            *slot = Some(KillReport {
                name,
                pid,
                signal,
                address,
                rip,
            });
        }
        t.nr_kills += 1;
    }
    do_exit(ExitStatus::Killed(signal))
}

/// Is the running task a user process?
pub fn in_process() -> bool {
    sched::current_pid() != 0
}

/// What the processes of a run did, for the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    pub forks: u64,
    /// Most processes in the table at once (zombies included).
    pub max_alive: usize,
    pub kills: [Option<KillReport>; MAX_KILL_REPORTS],
    pub nr_kills: usize,
}

/// The kernel's finished processes since the last call.
pub fn take_finished() -> Vec<Finished> {
    core::mem::take(&mut TABLE.lock().finished)
}

/// Figures since the last call, and the table emptied of its capacity
/// (so the leak check's heap figure is back at its baseline). Every
/// process must have ended.
pub fn take_stats() -> ProcStats {
    let mut t = TABLE.lock();
    assert!(
        t.procs.is_empty(),
        "processes left in the table: {}",
        t.procs.len()
    );
    let stats = ProcStats {
        forks: t.forks,
        max_alive: t.max_alive,
        kills: t.kills,
        nr_kills: t.nr_kills,
    };
    *t = Table::new();
    stats
}
