//! virtio-blk (virtio v1.2 §5.2): 4 KiB page reads and writes with many
//! requests in flight, completion by INTx interrupt (polling if the device
//! has no IRQ line), and device errors returned to the caller.
//!
//! A request is a chain of three descriptors: a 16-byte header (type,
//! reserved, sector) the device reads, the data page, and one status byte
//! the device writes. Headers and status bytes live in one page, indexed
//! by the chain's head descriptor.
//!
//! Several disks: each is known by its serial (`VIRTIO_BLK_T_GET_ID`, what
//! Linux shows as `/dev/disk/by-id/virtio-<serial>`). The host names the
//! file-system disk [`FILES_SERIAL`] and the disk object files are
//! written to [`OBJECTS_SERIAL`]; the swap disk is any other, so swap can
//! never be set up on a user's files.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::virtqueue::{Buffer, SplitQueue};
use super::{mmio_read, VirtioError, VirtioPci, VIRTIO_F_VERSION_1};
use crate::arch::cpu::rdtsc;
use crate::drivers::pci;
use crate::mm::page_alloc::{alloc_zeroed_page, free_page};
use crate::mm::{phys_to_virt, PAGE_SIZE};
use crate::sched::clock::{sched_clock, skip_to, stolen};

pub const SECTOR_SIZE: u64 = 512;
const VIRTIO_BLK_T_IN: u32 = 0;
const VIRTIO_BLK_T_OUT: u32 = 1;
const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Bytes of a serial (`VIRTIO_BLK_ID_BYTES`); NUL-terminated only if shorter.
const VIRTIO_BLK_ID_BYTES: usize = 20;
/// Serial of the disk that holds the workload's files (`faultline run
/// --files`); the host sets it with `-device virtio-blk-pci,serial=...`.
pub const FILES_SERIAL: &str = "faultline-files";
/// Serial of the writable scratch disk the build's object files go to
/// (attached with a files disk; see `crate::fs::objects`).
pub const OBJECTS_SERIAL: &str = "faultline-objects";
/// Serial of the read-only trace disk (`faultline run --trace`): the traces
/// `workload=trace` streams (`crate::workload::trace_disk`). Never swap.
pub const TRACES_SERIAL: &str = "faultline-traces";
/// Disks one kernel can drive at once.
const MAX_DEVICES: usize = 4;
const VIRTIO_BLK_S_OK: u8 = 0;
const VIRTIO_BLK_S_IOERR: u8 = 1;
const VIRTIO_BLK_S_UNSUPP: u8 = 2;
/// Our status byte before the device answers (not a valid status).
const STATUS_PENDING: u8 = 0xff;
/// Descriptors per request.
const DESCS_PER_REQUEST: u16 = 3;
/// Queue entries we ask for (headers + statuses must fit in one page).
const QUEUE_SIZE: u16 = 128;
const STATUS_AREA: u64 = QUEUE_SIZE as u64 * 16;
/// Give up waiting after this many TSC cycles (tens of seconds under TCG)
/// even if no tick counts the time (interrupts off): a lost completion
/// must end the run with a message, not hang it.
const WAIT_TIMEOUT_CYCLES: u64 = 60_000_000_000;
/// How long a disk may keep a request before the wait gives up, in ticks
/// (ms), unless [`VirtioBlk::set_timeout_ms`] says otherwise (the swap
/// disk: `swapdev.timeout_ms`). Linux's NVMe and SCSI default, 30 s.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// A wait for the host that gives up after `timeout_ms` of ticks or
/// [`WAIT_TIMEOUT_CYCLES`], whichever comes first.
struct Patience {
    tsc: u64,
    jiffies: u64,
    timeout_ms: u64,
}

impl Patience {
    fn start(timeout_ms: u64) -> Patience {
        Patience {
            tsc: rdtsc(),
            jiffies: crate::arch::pit::jiffies(),
            timeout_ms,
        }
    }

    fn is_over(&self) -> bool {
        crate::arch::pit::jiffies() - self.jiffies >= self.timeout_ms
            || rdtsc() - self.tsc > WAIT_TIMEOUT_CYCLES
    }
}

/// A request type, exposed so tests can send an unsupported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkOp {
    Read,
    Write,
    /// The device's serial, written into the data page.
    GetId,
    /// A raw request type (for the error-path test).
    Raw(u32),
}

impl BlkOp {
    fn code(self) -> u32 {
        match self {
            BlkOp::Read => VIRTIO_BLK_T_IN,
            BlkOp::Write => VIRTIO_BLK_T_OUT,
            BlkOp::GetId => VIRTIO_BLK_T_GET_ID,
            BlkOp::Raw(t) => t,
        }
    }
}

/// A failed request, as the device reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkError {
    /// `VIRTIO_BLK_S_IOERR`.
    IoError,
    /// `VIRTIO_BLK_S_UNSUPP`.
    Unsupported,
    /// Any other status byte.
    BadStatus(u8),
}

/// The latency model: each request completes no earlier than its submit
/// time plus this many TSC cycles. Under QEMU TCG a read of the host file
/// is nearly free while CPU work is emulated 10-50x slower, so without a
/// model a disk looks cheaper than decompression, the opposite of real
/// hardware. Deep-queue devices (NVMe, SATA NCQ) overlap requests; a disk
/// (`is_serial`) serves one at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceLatency {
    pub read_cycles: u64,
    pub write_cycles: u64,
    pub is_serial: bool,
}

/// The queue has no room for another request: process completions first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A disk being driven: its PCI function and, once read, its serial.
#[derive(Clone, Copy)]
struct Slot {
    dev: pci::PciDevice,
    serial: [u8; VIRTIO_BLK_ID_BYTES],
    serial_len: usize,
}

/// The disks being driven, one driver instance per disk at a time.
static SLOTS: spin::Mutex<[Option<Slot>; MAX_DEVICES]> = spin::Mutex::new([None; MAX_DEVICES]);

/// Takes a free slot for `dev`, or fails if a driver already has it.
fn claim(dev: pci::PciDevice) -> Result<usize, VirtioError> {
    let mut slots = SLOTS.lock();
    if slots.iter().flatten().any(|s| s.dev == dev) {
        return Err(VirtioError::Busy);
    }
    let free = slots
        .iter()
        .position(Option::is_none)
        .ok_or(VirtioError::Busy)?;
    slots[free] = Some(Slot {
        dev,
        serial: [0; VIRTIO_BLK_ID_BYTES],
        serial_len: 0,
    });
    Ok(free)
}

/// The serial of `dev` if a driver holds it (so a probe can tell a busy
/// disk it wants from one it would have skipped anyway).
fn held_serial(dev: pci::PciDevice) -> Option<String> {
    let slots = SLOTS.lock();
    let s = slots.iter().flatten().find(|s| s.dev == dev)?;
    Some(String::from_utf8_lossy(&s.serial[..s.serial_len]).into_owned())
}

fn release(slot: usize) {
    ISR_VA[slot].store(0, Ordering::Release);
    SLOTS.lock()[slot] = None;
}

/// Completions the host delivered after their modelled deadline had
/// passed: then host timing, not the model, decided when they ended.
static LATE_COMPLETIONS: AtomicU64 = AtomicU64::new(0);

/// How many completions came after their modelled deadline (see above).
pub fn late_completions() -> u64 {
    LATE_COMPLETIONS.load(Ordering::Relaxed)
}

/// Per slot: set by the interrupt handler, cleared by the waiter.
static IRQ_SEEN: [AtomicBool; MAX_DEVICES] = [const { AtomicBool::new(false) }; MAX_DEVICES];
/// Per slot: virtual address of the ISR register (0 = slot unused).
static ISR_VA: [AtomicU64; MAX_DEVICES] = [const { AtomicU64::new(0) }; MAX_DEVICES];

/// INTx handler, for every line a disk uses: reading a device's ISR
/// acknowledges its interrupt and lowers its (level-triggered) line; a
/// non-zero value says the interrupt was its. Completions are processed
/// by the waiter, not here: interrupt context takes no locks.
fn virtio_blk_interrupt() {
    for (isr_va, seen) in ISR_VA.iter().zip(&IRQ_SEEN) {
        let isr = isr_va.load(Ordering::Relaxed);
        // SAFETY: a non-zero ISR_VA is the mapped ISR status register of
        // a device we drive.
        if isr != 0 && unsafe { mmio_read::<u8>(isr) } != 0 {
            seen.store(true, Ordering::Release);
        }
    }
}

/// One virtio-blk device.
pub struct VirtioBlk {
    dev: VirtioPci,
    /// Our index in `SLOTS`, `ISR_VA` and `IRQ_SEEN`.
    slot: usize,
    /// From `VIRTIO_BLK_T_GET_ID` (empty if the host set none).
    serial: String,
    queue: SplitQueue,
    capacity_sectors: u64,
    /// Request headers at `head * 16`, status bytes at `STATUS_AREA + head`.
    req_page_pa: u64,
    /// The in-flight request of each head.
    tokens: Vec<Option<InFlight>>,
    /// Heads submitted while plugged, not yet announced to the device.
    unannounced: Vec<u16>,
    /// Completed by the device but held back until their deadline.
    delayed: Vec<Completion>,
    /// Scratch list for [`Self::poll`], allocated once: no allocation may
    /// happen in stolen time, or the heap's layout (and so the cost of
    /// later allocations) would depend on host timing.
    expired: Vec<Completion>,
    latency: DeviceLatency,
    /// Deadline of the last request (serial devices queue behind it).
    last_deadline: u64,
    in_flight: usize,
    irq: Option<u8>,
    /// While plugged, submissions are not announced (Linux `blk_start_plug`).
    /// Nesting depth of [`Self::plug`]; 0 = requests go out at once.
    plug_depth: u32,
    /// How long a request may take before a wait gives up (see [`Patience`]).
    timeout_ms: u64,
}

/// A request the device finished: (deadline, token, result).
type Completion = (u64, u64, Result<(), BlkError>);

/// One request on its way through the device.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    token: u64,
    /// Modelled service time in cycles.
    cost: u64,
    /// When it may complete (TSC); set when announced to the device.
    deadline: u64,
}

impl VirtioBlk {
    /// Finds the swap disk: the first virtio-blk device (modern 1af4:1042
    /// or transitional 1af4:1001) whose serial is none of [`FILES_SERIAL`],
    /// [`OBJECTS_SERIAL`] and [`TRACES_SERIAL`], and brings it up with one
    /// queue.
    pub fn probe() -> Result<VirtioBlk, VirtioError> {
        Self::probe_where(|serial| ![FILES_SERIAL, OBJECTS_SERIAL, TRACES_SERIAL].contains(&serial))
    }

    /// Finds the disk whose serial is `serial`.
    pub fn probe_serial(serial: &str) -> Result<VirtioBlk, VirtioError> {
        Self::probe_where(|s| s == serial)
    }

    /// Brings up each free virtio-blk device in slot order until one's
    /// serial satisfies `wanted`; the others are reset and released.
    fn probe_where(wanted: impl Fn(&str) -> bool) -> Result<VirtioBlk, VirtioError> {
        let mut busy = false;
        for pci_dev in pci::find_all(|v, d| v == 0x1af4 && (d == 0x1042 || d == 0x1001)) {
            if let Some(serial) = held_serial(pci_dev) {
                busy |= wanted(&serial);
                continue;
            }
            match Self::bring_up(pci_dev) {
                Ok(blk) if wanted(&blk.serial) => return Ok(blk),
                Ok(_) => {} // dropped: reset and released
                Err(e) => return Err(e),
            }
        }
        Err(if busy {
            VirtioError::Busy
        } else {
            VirtioError::NoDevice
        })
    }

    /// Claims `pci_dev`, negotiates, sets up the queue and reads the serial.
    fn bring_up(pci_dev: pci::PciDevice) -> Result<VirtioBlk, VirtioError> {
        let slot = claim(pci_dev)?;
        let dev = VirtioPci::new(pci_dev).inspect_err(|_| release(slot))?;
        dev.negotiate(VIRTIO_F_VERSION_1, VIRTIO_F_VERSION_1)
            .inspect_err(|_| release(slot))?;
        let queue = dev
            .setup_queue(0, QUEUE_SIZE)
            .inspect_err(|_| release(slot))?;
        // SAFETY: device config starts with `capacity: le64` (in sectors).
        let capacity_sectors = unsafe { mmio_read::<u64>(dev.device_cfg) };
        let line = pci::interrupt_line(&pci_dev);
        let irq = (line > 0 && line < 16 && line != 2).then_some(line);
        if let Some(line) = irq {
            IRQ_SEEN[slot].store(false, Ordering::Relaxed);
            ISR_VA[slot].store(dev.isr, Ordering::Relaxed);
            crate::arch::pic::request_irq(line, virtio_blk_interrupt);
        }
        dev.driver_ok();
        let size = queue.size() as usize;
        let mut blk = VirtioBlk {
            dev,
            slot,
            serial: String::new(),
            queue,
            capacity_sectors,
            req_page_pa: alloc_zeroed_page().expect("no memory for virtio-blk"),
            tokens: alloc::vec![None; size],
            delayed: Vec::with_capacity(size),
            expired: Vec::with_capacity(size),
            latency: DeviceLatency::default(),
            last_deadline: 0,
            in_flight: 0,
            irq,
            plug_depth: 0,
            unannounced: Vec::with_capacity(size),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        };
        blk.serial = blk.read_serial();
        if let Some(s) = SLOTS.lock()[slot].as_mut() {
            let len = blk.serial.len().min(VIRTIO_BLK_ID_BYTES);
            s.serial[..len].copy_from_slice(&blk.serial.as_bytes()[..len]);
            s.serial_len = len;
        }
        Ok(blk)
    }

    /// `VIRTIO_BLK_T_GET_ID`, answered at once (no latency is set yet).
    /// A device that rejects it has no serial.
    fn read_serial(&mut self) -> String {
        let page = alloc_zeroed_page().expect("no memory for virtio-blk");
        let mut ok = false;
        self.submit(BlkOp::GetId, 0, page, 0)
            .expect("an empty queue");
        self.wait_and_poll(|_, r| ok = r.is_ok());
        // SAFETY: our page, written by the device and now ours again.
        let id = unsafe {
            core::slice::from_raw_parts(phys_to_virt(page) as *const u8, VIRTIO_BLK_ID_BYTES)
        };
        let len = id
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(VIRTIO_BLK_ID_BYTES);
        let serial = if ok {
            String::from_utf8_lossy(&id[..len]).into_owned()
        } else {
            String::new()
        };
        free_page(page);
        serial
    }

    /// The serial the host gave this disk.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Sets how long a wait for this disk may last before the run ends
    /// with a report that the device hangs.
    pub fn set_timeout_ms(&mut self, ms: u64) {
        self.timeout_ms = ms;
    }

    /// Ends the run: the device kept requests past the timeout. Linux has
    /// no such limit for swap I/O (a task waits in D state; the hung-task
    /// watchdog warns after 120 s); an experiment wants an answer instead.
    fn hung(&self) -> ! {
        crate::report::emit_error(crate::report::ErrorKind::Hung, format_args!(
            "virtio-blk {}: {} request(s) not completed within {} ms: the device hangs (swapdev.timeout_ms sets the limit for the swap disk)",
            self.serial, self.in_flight, self.timeout_ms
        ));
        crate::testing::fail_run()
    }

    /// Sets the latency model for requests submitted from now on.
    pub fn set_latency(&mut self, latency: DeviceLatency) {
        self.latency = latency;
    }

    /// Size of the disk in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_sectors * SECTOR_SIZE
    }

    /// Requests submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The legacy IRQ line in use, if any (else completions are polled).
    pub fn irq(&self) -> Option<u8> {
        self.irq
    }

    pub fn pci(&self) -> &pci::PciDevice {
        &self.dev.pci
    }

    /// Linux `blk_start_plug`: hold requests until the matching
    /// [`Self::unplug`]. Plugs nest (reclaim may run inside a readahead
    /// batch); the outermost unplug sends the batch.
    pub fn plug(&mut self) {
        self.plug_depth += 1;
    }

    /// Linux `blk_finish_plug`: send everything submitted while plugged.
    pub fn unplug(&mut self) {
        self.plug_depth = self.plug_depth.saturating_sub(1);
        if self.plug_depth == 0 && !self.unannounced.is_empty() {
            self.announce();
        }
    }

    /// Publishes the queued requests to the device and notifies it. Their
    /// modelled service starts now: a plugged batch reaches the device
    /// together, as a real one does at `blk_finish_plug`, so it also
    /// completes together.
    fn announce(&mut self) {
        self.queue.publish();
        let now = sched_clock();
        for head in self.unannounced.drain(..) {
            let req = self.tokens[head as usize].as_mut().expect("queued request");
            req.deadline = if self.latency.is_serial {
                now.max(self.last_deadline) + req.cost
            } else {
                now + req.cost
            };
            self.last_deadline = req.deadline;
        }
        self.queue.notify();
    }

    /// Submits one page-sized request at byte offset `pos` of the disk.
    /// `token` comes back with the completion. Does not wait.
    pub fn submit(
        &mut self,
        op: BlkOp,
        pos: u64,
        page_pa: u64,
        token: u64,
    ) -> Result<(), QueueFull> {
        // Counted by requests in flight, not by free descriptors: those come
        // back when the host finishes, at moments only the host knows.
        if (self.in_flight + 1) * DESCS_PER_REQUEST as usize > self.queue.size() as usize {
            return Err(QueueFull);
        }
        let head = self.peek_head();
        let hdr_pa = self.req_page_pa + head as u64 * 16;
        let status_pa = self.req_page_pa + STATUS_AREA + head as u64;
        // SAFETY: the request page is ours; entry `head` is unused because
        // descriptor `head` is free. Layout: type u32, reserved u32, sector u64.
        unsafe {
            let hdr = phys_to_virt(hdr_pa) as *mut u32;
            hdr.write_volatile(op.code());
            hdr.add(1).write_volatile(0);
            (hdr.add(2) as *mut u64).write_volatile(pos / SECTOR_SIZE);
            (phys_to_virt(status_pa) as *mut u8).write_volatile(STATUS_PENDING);
        }
        let data = Buffer {
            pa: page_pa,
            len: PAGE_SIZE as u32,
            is_device_writable: op != BlkOp::Write,
        };
        let chain = [
            Buffer {
                pa: hdr_pa,
                len: 16,
                is_device_writable: false,
            },
            data,
            Buffer {
                pa: status_pa,
                len: 1,
                is_device_writable: true,
            },
        ];
        let got = self
            .queue
            .add_chain(&chain)
            .expect("checked free descriptors");
        debug_assert_eq!(got, head);
        let cost = if op == BlkOp::Write {
            self.latency.write_cycles
        } else {
            self.latency.read_cycles
        };
        self.tokens[head as usize] = Some(InFlight {
            token,
            cost,
            deadline: u64::MAX,
        });
        self.unannounced.push(head);
        self.in_flight += 1;
        if self.plug_depth == 0 {
            self.announce();
        }
        Ok(())
    }

    /// The head the next chain will use.
    fn peek_head(&self) -> u16 {
        self.queue.next_head()
    }

    /// Processes every finished request whose deadline has passed:
    /// `done(token, result)`. Returns how many were processed.
    ///
    /// How many entries the used ring holds, and in which order, depends on
    /// host timing; so draining it and picking the expired requests is
    /// stolen time (see [`crate::sched::clock`]), and the expired ones are
    /// completed in (deadline, token) order.
    pub fn poll(&mut self, mut done: impl FnMut(u64, Result<(), BlkError>)) -> usize {
        let mut expired = core::mem::take(&mut self.expired);
        stolen(|| {
            let now = sched_clock();
            self.drain_used();
            // The model says every request due by now is done: if the
            // host has not delivered one yet, wait for it.
            let patience = Patience::start(self.timeout_ms);
            while self.host_is_late() {
                if patience.is_over() {
                    self.hung();
                }
                self.idle();
                self.drain_used();
            }
            expired.clear();
            let mut i = 0;
            while i < self.delayed.len() {
                if self.delayed[i].0 > now {
                    i += 1;
                    continue;
                }
                expired.push(self.delayed.swap_remove(i));
            }
            expired.sort_unstable_by_key(|&(deadline, token, _)| (deadline, token));
        });
        for &(_, token, result) in &expired {
            self.in_flight -= 1;
            done(token, result);
        }
        let n = expired.len();
        self.expired = expired;
        n
    }

    /// Moves what the device finished from the used ring to `delayed`.
    fn drain_used(&mut self) {
        while let Some((head, _len)) = self.queue.pop_used() {
            let status_va = phys_to_virt(self.req_page_pa + STATUS_AREA + head as u64);
            // SAFETY: the status byte of this request, written by the device
            // before it published the used entry.
            let status = unsafe { (status_va as *const u8).read_volatile() };
            let req = self.tokens[head as usize]
                .take()
                .expect("completion for a head that is not in flight");
            // A device without a latency model (the trace disk) is never
            // late: only a model can be.
            if req.cost > 0 && sched_clock() > req.deadline {
                LATE_COMPLETIONS.fetch_add(1, Ordering::Relaxed);
            }
            self.delayed
                .push((req.deadline, req.token, status_to_result(status)));
        }
    }

    /// The earliest deadline of the requests in flight.
    fn next_deadline(&self) -> u64 {
        let pending = self.tokens.iter().flatten().map(|r| r.deadline);
        let delayed = self.delayed.iter().map(|d| d.0);
        pending.chain(delayed).min().unwrap_or(0)
    }

    /// Has a request passed its deadline without the host delivering it?
    /// Then waiting for it is the host's delay, not the model's.
    fn host_is_late(&self) -> bool {
        let now = sched_clock();
        self.tokens
            .iter()
            .flatten()
            .any(|r| r.deadline != u64::MAX && r.deadline <= now)
    }

    /// Waits until at least one completion is ready, then processes all
    /// that are. Panics with a clear message if the device stops answering.
    ///
    /// Nothing else can run while we wait here (the caller holds the mm
    /// lock, or is the idle task), so instead of spinning until the next
    /// modelled deadline the clock jumps to it, as a tickless idle CPU
    /// sleeps until its next event. Only if the host is late do we really
    /// wait (interrupt, or polling when there is no IRQ line), as stolen
    /// time.
    pub fn wait_and_poll(&mut self, mut done: impl FnMut(u64, Result<(), BlkError>)) -> usize {
        assert!(self.in_flight > 0, "waiting for I/O with nothing in flight");
        // Waiting on a request that never reached the device would hang.
        if !self.unannounced.is_empty() {
            self.announce();
        }
        let patience = Patience::start(self.timeout_ms);
        loop {
            let n = self.poll(&mut done);
            if n > 0 {
                return n;
            }
            if patience.is_over() {
                self.hung();
            }
            // Nothing is due yet (`poll` waited for the host if it was late).
            let next = stolen(|| self.next_deadline());
            skip_to(next);
        }
    }

    /// [`Self::wait_and_poll`] over several disks (the swap disk and the
    /// files disk): waits until one of them completes a request, then
    /// processes what is ready on all of them. The clock jumps to the
    /// earliest modelled deadline among them.
    pub fn wait_and_poll_any(
        devs: &mut [&mut VirtioBlk],
        mut done: impl FnMut(u64, Result<(), BlkError>),
    ) -> usize {
        assert!(
            devs.iter().any(|d| d.in_flight > 0),
            "waiting for I/O with nothing in flight"
        );
        for dev in devs.iter_mut() {
            if !dev.unannounced.is_empty() {
                dev.announce();
            }
        }
        let timeout_ms = devs
            .iter()
            .map(|d| d.timeout_ms)
            .max()
            .unwrap_or(DEFAULT_TIMEOUT_MS);
        let patience = Patience::start(timeout_ms);
        loop {
            let n: usize = devs.iter_mut().map(|d| d.poll(&mut done)).sum();
            if n > 0 {
                return n;
            }
            if patience.is_over() {
                let late = devs.iter().find(|d| d.in_flight > 0).unwrap_or(&devs[0]);
                late.hung();
            }
            let next = stolen(|| {
                devs.iter()
                    .filter(|d| d.in_flight > 0)
                    .map(|d| d.next_deadline())
                    .min()
                    .unwrap_or(0)
            });
            skip_to(next);
        }
    }

    /// Waits for the host (stolen time): sleeps until the next interrupt,
    /// or spins briefly without an IRQ line. Sleeping matters under QEMU:
    /// a spinning CPU can keep the host's I/O thread from running.
    fn idle(&self) {
        if self.irq.is_none() {
            core::hint::spin_loop();
            return;
        }
        use x86_64::instructions::interrupts;
        // A task may wait with interrupts on: turn them off for the check,
        // so an interrupt cannot slip in between the check and the `hlt`.
        let were_enabled = interrupts::are_enabled();
        interrupts::disable();
        if !IRQ_SEEN[self.slot].swap(false, Ordering::AcqRel) {
            // `sti; hlt` atomically: an interrupt that is already pending
            // wakes the hlt, so no completion is missed.
            interrupts::enable_and_hlt();
            interrupts::disable();
        }
        if were_enabled {
            interrupts::enable();
        }
    }
}

impl Drop for VirtioBlk {
    /// Waits for what is in flight, resets the device and releases it, so
    /// that it can be probed again.
    fn drop(&mut self) {
        while self.in_flight > 0 {
            self.wait_and_poll(|_, _| {});
        }
        self.dev.set_status(0);
        release(self.slot);
        free_page(self.req_page_pa);
    }
}

fn status_to_result(status: u8) -> Result<(), BlkError> {
    match status {
        VIRTIO_BLK_S_OK => Ok(()),
        VIRTIO_BLK_S_IOERR => Err(BlkError::IoError),
        VIRTIO_BLK_S_UNSUPP => Err(BlkError::Unsupported),
        other => Err(BlkError::BadStatus(other)),
    }
}
