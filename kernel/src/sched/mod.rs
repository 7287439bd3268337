//! A round-robin scheduler for kernel tasks (Linux kernel/sched/, reduced
//! to what one CPU and a swap experiment need).
//!
//! A task is a kernel thread with its own stack and, usually, its own
//! address space (its `mm`, loaded into CR3 when it runs). The workloads
//! run as tasks through [`run_tasks`]; while they run, the boot context is
//! the idle task. A user process ([`crate::proc`]) is a task that enters
//! ring 3 from its first context ([`run_user_tasks`], [`spawn_user`]);
//! its kernel stack is where the CPU lands on a system call or fault
//! (the TSS's RSP0, set at each switch). The timer tick preempts it on
//! the way back to ring 3; a process waiting for a child is `Blocked`
//! until [`wake_pid`].
//!
//! A task stops running for one of three reasons:
//! - **Its time slice ended.** The timer tick ([`scheduler_tick`], from the
//!   PIT at [`HZ`]) sets `NEED_RESCHED`; the task gives way at its next
//!   preemption point, [`cond_resched`], which the workloads call between
//!   two memory accesses. Linux preempts a user task on the return from
//!   the timer interrupt; our workloads run in ring 0, so the point between
//!   two accesses plays that role (Linux `cond_resched` in PREEMPT_NONE
//!   kernel code is the same idea).
//! - **It must wait for swap I/O.** A fault that finds its page locked
//!   under a read gives up the mm lock and returns (Linux
//!   `VM_FAULT_RETRY`), sleeps in [`sleep_on_page`] and runs the fault
//!   again when woken; meanwhile other tasks compute. This is how readahead
//!   I/O overlaps with computation.
//! - **It exited.**
//!
//! Wakeups: Linux completes I/O in the interrupt handler (`end_swap_bio_read`
//! unlocks the folio and wakes its waiters). Our interrupt handlers take no
//! locks, so completions are processed whenever the scheduler runs, and a
//! woken task joins the tail of the run queue (no wakeup preemption). When
//! nothing is runnable the idle task waits for the next completion.
//!
//! Deterministic mode (`sched.deterministic=1`, which `faultline run
//! --deterministic` and the lab set together with QEMU `-icount`): tasks
//! run with interrupts off, because an interrupt lands at a moment the host
//! chooses and would shift everything after it. The slice is then checked
//! against [`clock`] at each preemption point instead of being ended by
//! the tick, and interrupts are taken only while the CPU sleeps waiting
//! for a late host (stolen time). Runs are then reproducible.
//!
//! Simplifications: one CPU, no priorities or fairness accounting (plain
//! round robin, like xv6), no preemption inside the kernel proper: the mm
//! lock is never held across a context switch (checked).

pub mod budget;
pub mod clock;
pub mod signal;
mod switch;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use crate::arch::entry::{return_to_user, TrapFrame};
use crate::mm::mm_types::load_mm;
use crate::mm::page::{flags, Pfn};
use crate::mm::page_io::{poll_completions, wait_for_io};
use crate::mm::state::{mm_state_is_locked, with_mm_state};
use clock::sched_clock;

/// Timer ticks per second; one tick is one time slice.
pub const HZ: u32 = 1000;
/// The slice in deterministic mode: one tick of `-icount shift=0` time,
/// where the TSC counts one cycle per nanosecond.
const SLICE_CYCLES: u64 = 1_000_000_000 / HZ as u64;
/// Kernel stack of a task. The fault path (reclaim, compression) runs on
/// it; 64 KiB leaves a wide margin.
const STACK_BYTES: usize = 64 << 10;
/// Written at the bottom of every task stack and checked at each switch,
/// so an overflow is reported instead of silently corrupting the heap.
const STACK_CANARY: u64 = 0x5ac0_5ac0_dead_beef;
/// Index of the idle task (the boot context) in the task table.
const IDLE: usize = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Runnable,
    /// Waiting for the read into this page to finish.
    /// Until the page's `flags` bit (`LOCKED` or `WRITEBACK`) clears.
    Sleeping(Pfn, u16),
    /// Waiting for [`wake_pid`] (a process in `wait` for its children).
    Blocked,
    Dead,
}

/// Linux `struct task_struct`, reduced.
struct Task {
    name: String,
    state: State,
    /// Saved stack pointer while the task is not running.
    rsp: u64,
    /// Empty for the idle task, which runs on the boot stack.
    stack: Vec<u64>,
    /// Address space id (Linux `task->mm`); `None` = kernel page tables.
    mm: Option<usize>,
    /// When it was last woken (clock), to tell run-queue wait from sleep.
    woken_at: u64,
    /// Where the innermost killable section saved its stack pointer (0 =
    /// none): see [`signal`].
    kill_point: usize,
    entry: Option<Box<dyn FnOnce() + Send>>,
    /// The user process this task runs (0: a kernel task), see
    /// [`crate::proc`].
    pid: u32,
    /// A user task's first ring-3 context, taken by [`user_task_entry`].
    user_frame: Option<TrapFrame>,
}

/// Linux `struct rq`, reduced: all tasks, the runnable ones in FIFO order.
struct RunQueue {
    /// Boxed so that a task's `rsp` stays put while the table grows.
    tasks: Vec<Option<Box<Task>>>,
    queue: VecDeque<usize>,
    current: usize,
}

static RQ: Mutex<Option<RunQueue>> = Mutex::new(None);
/// Set by the timer tick: the running task's slice is over.
static NEED_RESCHED: AtomicBool = AtomicBool::new(false);
/// The running context is a task that may sleep (not the idle task).
static IN_TASK: AtomicBool = AtomicBool::new(false);
/// `sched.deterministic`: tasks run with interrupts off, slices by [`clock`].
static DETERMINISTIC: AtomicBool = AtomicBool::new(false);
/// Deterministic mode: when the running task's slice ends.
static SLICE_END: AtomicU64 = AtomicU64::new(0);

/// Turns deterministic mode on (see the module comment).
pub fn set_deterministic() {
    DETERMINISTIC.store(true, Ordering::Relaxed);
}

/// Is deterministic mode on?
pub fn is_deterministic() -> bool {
    DETERMINISTIC.load(Ordering::Relaxed)
}

/// Scheduler statistics of the last [`run_tasks`] (Linux: `ctxt` in
/// /proc/stat, and iowait time).
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedStats {
    pub tasks: u64,
    pub context_switches: u64,
    /// Slices that ended at a preemption point.
    pub preemptions: u64,
    /// Sleeps on a page under read I/O.
    pub io_sleeps: u64,
    /// TSC cycles the idle task spent waiting with every task asleep.
    pub idle_cycles: u64,
}

static SWITCHES: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
static IO_SLEEPS: AtomicU64 = AtomicU64::new(0);
static IDLE_CYCLES: AtomicU64 = AtomicU64::new(0);
static NR_TASKS: AtomicU64 = AtomicU64::new(0);

/// Figures of the last [`run_tasks`].
pub fn stats() -> SchedStats {
    SchedStats {
        tasks: NR_TASKS.load(Ordering::Relaxed),
        context_switches: SWITCHES.load(Ordering::Relaxed),
        preemptions: PREEMPTIONS.load(Ordering::Relaxed),
        io_sleeps: IO_SLEEPS.load(Ordering::Relaxed),
        idle_cycles: IDLE_CYCLES.load(Ordering::Relaxed),
    }
}

/// Linux `scheduler_tick`, called by the timer interrupt: end the slice.
pub fn scheduler_tick() {
    NEED_RESCHED.store(true, Ordering::Relaxed);
}

/// Is the caller a task that may sleep? The fault path sleeps only then;
/// outside [`run_tasks`] (boot, unit tests) it waits for I/O in place.
pub fn in_task() -> bool {
    IN_TASK.load(Ordering::Relaxed)
}

/// Linux `cond_resched`: give way if the time slice is over. Cheap enough
/// to call between every two memory accesses.
#[inline]
pub fn cond_resched() {
    let slice_over = if is_deterministic() {
        sched_clock() >= SLICE_END.load(Ordering::Relaxed)
    } else {
        NEED_RESCHED.load(Ordering::Relaxed)
    };
    if slice_over && in_task() {
        PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
        schedule();
    }
}

/// Records that the running task now uses address space `mm` (called by
/// `switch_mm`), so that it is loaded again when the task next runs.
pub fn set_current_mm(mm: Option<usize>) {
    if let Some(rq) = RQ.lock().as_mut() {
        if let Some(task) = rq.tasks[rq.current].as_mut() {
            task.mm = mm;
        }
    }
}

/// The kill point outside [`run_tasks`] (boot, unit tests).
static BOOT_KILL_POINT: AtomicUsize = AtomicUsize::new(0);

/// Sets the running task's kill point (see [`signal`]); returns the old one.
fn set_kill_point(point: usize) -> usize {
    let mut guard = RQ.lock();
    match guard.as_mut() {
        Some(rq) => {
            let task = rq.tasks[rq.current].as_mut().expect("current task");
            core::mem::replace(&mut task.kill_point, point)
        }
        None => BOOT_KILL_POINT.swap(point, Ordering::Relaxed),
    }
}

/// The running task's kill point (0 = not in a killable section).
fn kill_point() -> usize {
    match RQ.lock().as_ref() {
        Some(rq) => {
            rq.tasks[rq.current]
                .as_ref()
                .expect("current task")
                .kill_point
        }
        None => BOOT_KILL_POINT.load(Ordering::Relaxed),
    }
}

/// Linux `folio_wait_locked` after `VM_FAULT_RETRY`: sleep until the read
/// into `pfn` has completed. The caller holds no mm lock. Returns how long
/// the task waited in the run queue after it was woken.
pub fn sleep_on_page(pfn: Pfn) -> u64 {
    sleep_on_page_bit(pfn, flags::LOCKED)
}

/// Linux `folio_wait_writeback`, for a task: sleep until the write of
/// `pfn` has completed. The caller holds no mm lock.
pub fn sleep_on_writeback(pfn: Pfn) -> u64 {
    sleep_on_page_bit(pfn, flags::WRITEBACK)
}

/// Sleeps until page flag `bit` of `pfn` is clear.
fn sleep_on_page_bit(pfn: Pfn, bit: u16) -> u64 {
    {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("sleep outside run_tasks");
        let task = rq.tasks[rq.current].as_mut().expect("current task");
        task.state = State::Sleeping(pfn, bit);
        task.woken_at = u64::MAX;
    }
    IO_SLEEPS.fetch_add(1, Ordering::Relaxed);
    schedule();
    let woken_at = {
        let guard = RQ.lock();
        let rq = guard.as_ref().expect("run queue");
        rq.tasks[rq.current]
            .as_ref()
            .expect("current task")
            .woken_at
    };
    sched_clock().saturating_sub(woken_at)
}

/// Processes finished I/O and wakes the tasks whose page is unlocked
/// (Linux: `end_swap_bio_read` → `folio_unlock` → `wake_up_page`).
///
/// A woken task goes to the *front* of the run queue, ahead of tasks that
/// used their slice, in the order they were woken. This models what
/// Linux's fair scheduler (EEVDF since 6.6) does for a task that slept on
/// I/O: `place_entity` puts it back with the lag it had, which a task that
/// mostly sleeps keeps non-negative, so it is eligible with an early
/// deadline and is picked soon (`check_preempt_wakeup_fair` may even
/// preempt the current task; we let the current task finish its slice or
/// sleep first). Without this a woken fault waited behind every other job
/// (up to ~15 ms with 16), long enough for reclaim to take its clean page
/// again and cost a second read.
///
/// Returns whether the caller of `schedule` itself was woken (it then
/// queues itself at the front too).
fn wake_sleepers(rq: &mut RunQueue) -> bool {
    let mut current_woken = false;
    with_mm_state(|st| {
        poll_completions(st);
        let mut woken = 0;
        for i in 0..rq.tasks.len() {
            let Some(task) = rq.tasks[i].as_mut() else {
                continue;
            };
            if let State::Sleeping(pfn, bit) = task.state {
                if !st.mem_map.get(pfn).test(bit) {
                    task.state = State::Runnable;
                    task.woken_at = sched_clock();
                    // The caller of `schedule` queues itself if runnable.
                    if i != rq.current {
                        rq.queue.insert(woken, i);
                        woken += 1;
                    } else {
                        current_woken = true;
                    }
                }
            }
        }
    });
    current_woken
}

/// Linux `schedule`: run the next runnable task (round robin), or the idle
/// task if there is none. Returns when the caller is chosen again.
fn schedule() {
    assert!(
        !mm_state_is_locked(),
        "schedule() with the mm lock held: the next task could not fault"
    );
    let now = sched_clock();
    budget::check(now);
    crate::mm::timeline::tick(now, || RQ.lock().as_ref().map_or(0, |rq| rq.queue.len()));
    let (prev_rsp, next_rsp, next_mm, next_is_task) = {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("schedule outside run_tasks");
        let prev_woken = wake_sleepers(rq);
        let prev = rq.current;
        let prev_task = rq.tasks[prev].as_mut().expect("current task");
        if prev != IDLE && prev_task.state == State::Runnable {
            if prev_woken {
                rq.queue.push_front(prev);
            } else {
                rq.queue.push_back(prev);
            }
        }
        if let Some(bottom) = prev_task.stack.first() {
            assert!(
                *bottom == STACK_CANARY,
                "task {} overflowed its {STACK_BYTES}-byte kernel stack",
                prev_task.name
            );
        }
        let next = rq.queue.pop_front().unwrap_or(IDLE);
        NEED_RESCHED.store(false, Ordering::Relaxed);
        SLICE_END.store(sched_clock() + SLICE_CYCLES, Ordering::Relaxed);
        if next == prev {
            return;
        }
        rq.current = next;
        let prev_rsp = &mut rq.tasks[prev].as_mut().expect("prev").rsp as *mut u64;
        let next_task = rq.tasks[next].as_ref().expect("next task");
        if let Some(top) = stack_top(&next_task.stack) {
            // An entry from ring 3 lands on the next task's own stack.
            crate::arch::gdt::set_kernel_stack(top);
        }
        (prev_rsp, next_task.rsp, next_task.mm, next != IDLE)
    };
    load_mm(next_mm);
    IN_TASK.store(next_is_task, Ordering::Relaxed);
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `prev_rsp` points into the previous task's box, which lives
    // until that task is reaped, and only dead tasks (never running) are
    // reaped; `next_rsp` was saved by the switch away from the next task
    // or laid out by `prepare_stack`.
    unsafe { switch::switch_to(prev_rsp, next_rsp) };
    // Running again: the scheduler that resumed us set IN_TASK for us.
}

/// First code of every task: run its body, then exit.
extern "C" fn task_entry() -> ! {
    let entry = {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("task outside run_tasks");
        rq.tasks[rq.current].as_mut().expect("current").entry.take()
    };
    // Tasks run with interrupts on, so that the tick can end their slice
    // (not in deterministic mode: there the clock ends it).
    if !is_deterministic() {
        x86_64::instructions::interrupts::enable();
    }
    (entry.expect("task entry runs once"))();
    exit_current()
}

/// The 16-byte aligned top of a task stack (`None` for the idle task).
fn stack_top(stack: &[u64]) -> Option<u64> {
    let end = stack.as_ptr_range().end as u64;
    (!stack.is_empty()).then_some(end & !15)
}

/// First code of a user task: enter ring 3 with its first context.
extern "C" fn user_task_entry() -> ! {
    let frame = {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("task outside run_tasks");
        let task = rq.tasks[rq.current].as_mut().expect("current");
        task.user_frame.take().expect("a user task's first context")
    };
    // SAFETY: `spawn_user`'s caller built the frame for this task's
    // address space, which the scheduler loaded; this frame owns nothing.
    unsafe { return_to_user(&frame) }
}

/// Linux `do_exit`: the task is done; the idle task frees its stack.
pub fn exit_current() -> ! {
    {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("exit outside run_tasks");
        rq.tasks[rq.current].as_mut().expect("current").state = State::Dead;
    }
    schedule();
    unreachable!("a dead task was scheduled again");
}

/// Adds a task that will run `entry` (Linux `kernel_thread`).
fn spawn(rq: &mut RunQueue, name: String, entry: Box<dyn FnOnce() + Send>) {
    push_task(rq, name, task_entry, |t| t.entry = Some(entry));
}

/// What a user task starts with: its process, address space and first
/// ring-3 context (see [`crate::proc`]).
pub struct UserStart {
    pub name: String,
    pub pid: u32,
    pub mm: usize,
    pub frame: TrapFrame,
}

/// Adds a task that enters ring 3 with `start.frame` in address space
/// `start.mm` (Linux: `copy_thread` sets a new task's return to user
/// mode via `ret_from_fork`).
fn spawn_user_in(rq: &mut RunQueue, start: UserStart) {
    push_task(rq, start.name, user_task_entry, |t| {
        t.mm = Some(start.mm);
        t.pid = start.pid;
        t.user_frame = Some(start.frame);
    });
}

/// Adds a user task while tasks run (fork's child).
pub fn spawn_user(start: UserStart) {
    NR_TASKS.fetch_add(1, Ordering::Relaxed);
    let mut guard = RQ.lock();
    spawn_user_in(guard.as_mut().expect("fork outside run_tasks"), start);
}

fn push_task(
    rq: &mut RunQueue,
    name: String,
    entry: extern "C" fn() -> !,
    init: impl FnOnce(&mut Task),
) {
    let mut stack = alloc::vec![0u64; STACK_BYTES / 8];
    stack[0] = STACK_CANARY;
    let rsp = switch::prepare_stack(&mut stack, entry);
    let mut task = Box::new(Task {
        name,
        state: State::Runnable,
        rsp,
        stack,
        mm: None,
        woken_at: 0,
        kill_point: 0,
        entry: None,
        pid: 0,
        user_frame: None,
    });
    init(&mut task);
    rq.tasks.push(Some(task));
    rq.queue.push_back(rq.tasks.len() - 1);
}

/// The user process the running task is (0: a kernel task, or none).
pub fn current_pid() -> u32 {
    RQ.lock()
        .as_ref()
        .and_then(|rq| rq.tasks[rq.current].as_ref().map(|t| t.pid))
        .unwrap_or(0)
}

/// Linux `sched_yield`: to the back of the run queue.
pub fn yield_now() {
    if in_task() {
        schedule();
    }
}

/// Sleeps until [`wake_pid`] names this task's process. The caller
/// checked its condition with nothing in between that could switch.
pub fn block_current() {
    {
        let mut guard = RQ.lock();
        let rq = guard.as_mut().expect("block outside run_tasks");
        rq.tasks[rq.current].as_mut().expect("current").state = State::Blocked;
    }
    schedule();
}

/// Makes the task of process `pid` runnable if it is blocked.
pub fn wake_pid(pid: u32) {
    let mut guard = RQ.lock();
    let Some(rq) = guard.as_mut() else {
        return;
    };
    let found = rq.tasks.iter().position(|t| {
        t.as_ref()
            .is_some_and(|t| t.pid == pid && t.state == State::Blocked)
    });
    if let Some(i) = found {
        rq.tasks[i].as_mut().expect("task").state = State::Runnable;
        rq.queue.push_back(i);
    }
}

/// Frees dead tasks; returns how many are still alive (idle excluded).
fn reap(rq: &mut RunQueue) -> usize {
    for slot in rq.tasks.iter_mut().skip(1) {
        if slot.as_ref().is_some_and(|t| t.state == State::Dead) {
            *slot = None;
        }
    }
    rq.tasks.iter().skip(1).filter(|t| t.is_some()).count()
}

/// What a task runs; its result comes back from [`run_tasks`].
pub type TaskBody<T> = Box<dyn FnOnce() -> T + Send>;

/// Runs every `(name, body)` as a task, interleaved, until all have
/// exited; returns their results in the same order. The caller becomes
/// the idle task meanwhile.
pub fn run_tasks<T: Send + 'static>(bodies: Vec<(String, TaskBody<T>)>) -> Vec<T> {
    reset_stats();
    let n = bodies.len();
    let results: Arc<Mutex<Vec<Option<T>>>> = Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let out = results.clone();
    run_queue(n, move |rq| {
        for (i, (name, body)) in bodies.into_iter().enumerate() {
            let out = out.clone();
            spawn(
                rq,
                name,
                Box::new(move || {
                    let r = body();
                    out.lock()[i] = Some(r);
                }),
            );
        }
    });
    let mut results = results.lock();
    results
        .iter_mut()
        .map(|r| r.take().expect("every task stored its result"))
        .collect()
}

/// Starts the figures of [`stats`] afresh ([`run_tasks`] does it for
/// every run; user programs run one after another and count together).
pub fn reset_stats() {
    for c in [&SWITCHES, &PREEMPTIONS, &IO_SLEEPS, &IDLE_CYCLES, &NR_TASKS] {
        c.store(0, Ordering::Relaxed);
    }
}

/// Runs user tasks (and every task they fork) until all have exited. The
/// figures of [`stats`] add up over calls (see [`reset_stats`]).
pub fn run_user_tasks(starts: Vec<UserStart>) {
    let n = starts.len();
    run_queue(n, move |rq| {
        for start in starts {
            spawn_user_in(rq, start);
        }
    });
}

/// Sets up a run queue with `spawn_all`, runs it to the end as the idle
/// task, and takes it down.
fn run_queue(n: usize, spawn_all: impl FnOnce(&mut RunQueue)) {
    {
        let mut guard = RQ.lock();
        assert!(guard.is_none(), "run_tasks is not reentrant");
        let idle = Box::new(Task {
            name: "idle".into(),
            state: State::Runnable,
            rsp: 0,
            stack: Vec::new(),
            mm: crate::mm::state::current_mm_id(),
            woken_at: 0,
            kill_point: 0,
            entry: None,
            pid: 0,
            user_frame: None,
        });
        let mut rq = RunQueue {
            tasks: alloc::vec![Some(idle)],
            queue: VecDeque::new(),
            current: IDLE,
        };
        spawn_all(&mut rq);
        *guard = Some(rq);
    }
    NR_TASKS.fetch_add(n as u64, Ordering::Relaxed);
    idle_loop();
    let rq = RQ.lock().take().expect("run queue");
    load_mm(rq.tasks[IDLE].as_ref().expect("idle").mm);
}

/// Linux `do_idle`: run tasks; when every live task sleeps, wait for the
/// next I/O completion. Returns when all tasks have exited.
fn idle_loop() {
    loop {
        // Runs tasks until none is runnable (`schedule` woke every sleeper
        // it could just before it chose the idle task).
        schedule();
        if RQ.lock().as_mut().map_or(0, reap) == 0 {
            return;
        }
        let start = sched_clock();
        let waited = with_mm_state(wait_for_io);
        assert!(
            waited,
            "every task sleeps on a page but no I/O is in flight"
        );
        IDLE_CYCLES.fetch_add(sched_clock() - start, Ordering::Relaxed);
    }
}
