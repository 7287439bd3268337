//! virtio-blk (virtio v1.2 §5.2): 4 KiB page reads and writes with many
//! requests in flight, completion by INTx interrupt (polling if the device
//! has no IRQ line), and device errors returned to the caller.
//!
//! A request is a chain of three descriptors: a 16-byte header (type,
//! reserved, sector) the device reads, the data page, and one status byte
//! the device writes. Headers and status bytes live in one page, indexed
//! by the chain's head descriptor.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::virtqueue::{Buffer, SplitQueue};
use super::{mmio_read, VirtioError, VirtioPci, VIRTIO_F_VERSION_1};
use crate::arch::cpu::rdtsc;
use crate::drivers::pci;
use crate::mm::page_alloc::alloc_zeroed_page;
use crate::mm::{phys_to_virt, PAGE_SIZE};

pub const SECTOR_SIZE: u64 = 512;
const VIRTIO_BLK_T_IN: u32 = 0;
const VIRTIO_BLK_T_OUT: u32 = 1;
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
/// Give up waiting after this many TSC cycles (tens of seconds under TCG):
/// a lost completion must end the run with a message, not hang it.
const WAIT_TIMEOUT_CYCLES: u64 = 60_000_000_000;

/// A request type, exposed so tests can send an unsupported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkOp {
    Read,
    Write,
    /// A raw request type (for the error-path test).
    Raw(u32),
}

impl BlkOp {
    fn code(self) -> u32 {
        match self {
            BlkOp::Read => VIRTIO_BLK_T_IN,
            BlkOp::Write => VIRTIO_BLK_T_OUT,
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

/// Only one driver instance may own the device at a time.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// Set by the interrupt handler, cleared by the waiter.
static IRQ_SEEN: AtomicBool = AtomicBool::new(false);
/// Virtual address of the ISR register, for the interrupt handler.
static ISR_VA: AtomicU64 = AtomicU64::new(0);

/// INTx handler: reading ISR acknowledges the interrupt and lowers the
/// (level-triggered) line. Completions are processed by the waiter, not
/// here: interrupt context takes no locks.
fn virtio_blk_interrupt() {
    let isr = ISR_VA.load(Ordering::Relaxed);
    if isr != 0 {
        // SAFETY: ISR_VA is the mapped ISR status register of our device.
        let _ = unsafe { mmio_read::<u8>(isr) };
    }
    IRQ_SEEN.store(true, Ordering::Release);
}

/// One virtio-blk device.
pub struct VirtioBlk {
    dev: VirtioPci,
    queue: SplitQueue,
    capacity_sectors: u64,
    /// Request headers at `head * 16`, status bytes at `STATUS_AREA + head`.
    req_page_pa: u64,
    /// The in-flight request of each head.
    tokens: Vec<Option<InFlight>>,
    /// Heads submitted while plugged, not yet announced to the device.
    unannounced: Vec<u16>,
    /// Completed by the device but held back until their deadline.
    delayed: Vec<(u64, u64, Result<(), BlkError>)>,
    latency: DeviceLatency,
    /// Deadline of the last request (serial devices queue behind it).
    last_deadline: u64,
    in_flight: usize,
    irq: Option<u8>,
    /// While plugged, submissions are not announced (Linux `blk_start_plug`).
    /// Nesting depth of [`Self::plug`]; 0 = requests go out at once.
    plug_depth: u32,
}

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
    /// Finds the first virtio-blk device (modern 1af4:1042 or transitional
    /// 1af4:1001) and brings it up with one queue.
    pub fn probe() -> Result<VirtioBlk, VirtioError> {
        let pci_dev = pci::find(|v, d| v == 0x1af4 && (d == 0x1042 || d == 0x1001))
            .ok_or(VirtioError::NoDevice)?;
        if CLAIMED.swap(true, Ordering::AcqRel) {
            return Err(VirtioError::Busy);
        }
        let dev =
            VirtioPci::new(pci_dev).inspect_err(|_| CLAIMED.store(false, Ordering::Release))?;
        dev.negotiate(VIRTIO_F_VERSION_1, VIRTIO_F_VERSION_1)?;
        let queue = dev.setup_queue(0, QUEUE_SIZE)?;
        // SAFETY: device config starts with `capacity: le64` (in sectors).
        let capacity_sectors = unsafe { mmio_read::<u64>(dev.device_cfg) };
        let line = pci::interrupt_line(&pci_dev);
        let irq = (line > 0 && line < 16 && line != 2).then_some(line);
        if let Some(line) = irq {
            ISR_VA.store(dev.isr, Ordering::Relaxed);
            crate::arch::pic::request_irq(line, virtio_blk_interrupt);
        }
        dev.driver_ok();
        let size = queue.size() as usize;
        Ok(VirtioBlk {
            dev,
            queue,
            capacity_sectors,
            req_page_pa: alloc_zeroed_page().expect("no memory for virtio-blk"),
            tokens: alloc::vec![None; size],
            delayed: Vec::new(),
            latency: DeviceLatency::default(),
            last_deadline: 0,
            in_flight: 0,
            irq,
            plug_depth: 0,
            unannounced: Vec::new(),
        })
    }

    /// Sets the latency model for requests submitted from now on.
    pub fn set_latency(&mut self, latency: DeviceLatency) {
        self.latency = latency;
    }

    pub fn latency(&self) -> DeviceLatency {
        self.latency
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
        let now = rdtsc();
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
        if self.queue.num_free() < DESCS_PER_REQUEST {
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
    pub fn poll(&mut self, mut done: impl FnMut(u64, Result<(), BlkError>)) -> usize {
        while let Some((head, _len)) = self.queue.pop_used() {
            let status_va = phys_to_virt(self.req_page_pa + STATUS_AREA + head as u64);
            // SAFETY: the status byte of this request, written by the device
            // before it published the used entry.
            let status = unsafe { (status_va as *const u8).read_volatile() };
            let req = self.tokens[head as usize]
                .take()
                .expect("completion for a head that is not in flight");
            self.delayed
                .push((req.deadline, req.token, status_to_result(status)));
        }
        let now = rdtsc();
        let mut n = 0;
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 > now {
                i += 1;
                continue;
            }
            let (_, token, result) = self.delayed.swap_remove(i);
            self.in_flight -= 1;
            n += 1;
            done(token, result);
        }
        n
    }

    /// Waits until at least one completion is ready (interrupt, or polling
    /// when there is no IRQ line), then processes all that are. Panics with
    /// a clear message if the device stops answering.
    pub fn wait_and_poll(&mut self, mut done: impl FnMut(u64, Result<(), BlkError>)) -> usize {
        assert!(self.in_flight > 0, "waiting for I/O with nothing in flight");
        // Waiting on a request that never reached the device would hang.
        if !self.unannounced.is_empty() {
            self.announce();
        }
        let start = rdtsc();
        loop {
            let n = self.poll(&mut done);
            if n > 0 {
                return n;
            }
            if rdtsc() - start > WAIT_TIMEOUT_CYCLES {
                panic!(
                    "virtio-blk: no completion for {} in-flight requests",
                    self.in_flight
                );
            }
            self.idle();
        }
    }

    /// Sleeps until the next interrupt, or spins briefly without one (or
    /// while a finished request waits for its modelled deadline, which is
    /// far shorter than the timer tick).
    fn idle(&self) {
        if self.irq.is_none() || !self.delayed.is_empty() {
            core::hint::spin_loop();
            return;
        }
        if !IRQ_SEEN.swap(false, Ordering::AcqRel) {
            // `sti; hlt` atomically: an interrupt that is already pending
            // wakes the hlt, so no completion is missed.
            x86_64::instructions::interrupts::enable_and_hlt();
            x86_64::instructions::interrupts::disable();
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
        CLAIMED.store(false, Ordering::Release);
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
