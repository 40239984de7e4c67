//! Receive queues on the soft device: the consumer side of a QP's receive ring, filled by the
//! SENDs of the QP connected to it.
//!
//! Like the send queue, the ring and its producer index are user memory: the device reads the
//! producer index under its own lock, refuses one behind its consumer or more than a ring
//! ahead, and copies each entry out before looking at it. The entries live in the QP's ring
//! pin, after the send queue; the QP's gate and `quiesce` cover them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use accelverbs_uapi::cqe::{Cqe, CqeStatus};
use accelverbs_uapi::recv::{RecvWqe, OPCODE_RECV, RECV_WQE_SIZE};

use crate::hw::cq::SoftCq;
use crate::hw::shared::SharedU32;

/// A receive queue: its ring, doorbell words and CQ.
#[derive(Debug)]
pub struct ReceiveQueue {
    ring: *const u8,
    log_size: u32,
    producer: SharedU32,
    consumer_out: SharedU32,
    pub(crate) cq: Arc<SoftCq>,
    qpn: u32,
    /// Held while a SEND fills an entry or entries are flushed, and taken by the QP's
    /// `quiesce` to wait those out.
    private: Mutex<Private>,
    /// Mirror of `!Private::backlog.is_empty()` for lock-free "any work?" checks.
    has_backlog: AtomicBool,
    /// The producer index was seen out of range: nothing is consumed until RESET, so the
    /// lock-free check stops reporting work that can never be done.
    faulted: AtomicBool,
}

/// Device-private receive-queue state.
#[derive(Debug, Default)]
struct Private {
    consumer: u32,
    /// Completions of consumed receives that did not fit in the CQ (other queues share it).
    backlog: Vec<Cqe>,
}

// SAFETY: `ring` and the doorbell words point into memory pinned by the owning QP until its
// `quiesce`, and are reached only under `private` with the QP's gate open (the caller checks,
// `quiesce` closes the gate before taking the lock); entries are only copied out, the words
// only accessed atomically.
unsafe impl Send for ReceiveQueue {}
// SAFETY: as above; the mutable state is behind `private`.
unsafe impl Sync for ReceiveQueue {}

/// The receive queue's lock, held while a SEND or a flush uses the ring.
pub struct Claim<'a> {
    queue: &'a ReceiveQueue,
    private: MutexGuard<'a, Private>,
}

/// What the producer index says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// This many receives wait.
    Entries(u32),
    /// The index went backwards or ran more than a ring ahead: the ring cannot be trusted.
    OutOfRange,
}

impl ReceiveQueue {
    /// A receive queue of `2^log_size` entries at `ring`, its indices at `producer` and
    /// `consumer_out`.
    ///
    /// # Safety
    /// `ring` must be valid for reads of `RECV_WQE_SIZE << log_size` bytes, and the two words
    /// for atomic access, until the owning QP's `quiesce` returns.
    pub unsafe fn new(
        ring: *const u8,
        log_size: u32,
        producer: SharedU32,
        consumer_out: SharedU32,
        cq: Arc<SoftCq>,
        qpn: u32,
    ) -> Self {
        Self {
            ring,
            log_size,
            producer,
            consumer_out,
            cq,
            qpn,
            private: Mutex::new(Private::default()),
            has_backlog: AtomicBool::new(false),
            faulted: AtomicBool::new(false),
        }
    }

    /// Takes the lock. The caller checks the QP's gate while holding it.
    pub fn claim(&self) -> Claim<'_> {
        Claim { queue: self, private: self.private.lock().unwrap_or_else(|e| e.into_inner()) }
    }

    /// Lock-free hint: are receives posted and not yet consumed? The caller looks through
    /// the QP's gate.
    pub fn looks_posted(&self) -> bool {
        let consumer = self.consumer_out.load(Ordering::Acquire);
        !self.faulted.load(Ordering::Acquire) && self.producer.load(Ordering::Acquire) != consumer
    }

    /// Are completions held back for want of CQ room?
    pub fn has_backlog(&self) -> bool {
        self.has_backlog.load(Ordering::Acquire)
    }
}

impl Claim<'_> {
    /// How many receives wait, per the (untrusted) producer index.
    pub fn posted(&self) -> Posted {
        let pending = self.queue.producer.load(Ordering::Acquire).wrapping_sub(self.private.consumer);
        if pending > 1 << self.queue.log_size || self.queue.faulted.load(Ordering::Acquire) {
            self.queue.faulted.store(true, Ordering::Release);
            return Posted::OutOfRange;
        }
        Posted::Entries(pending)
    }

    /// A copy of the oldest waiting entry; the caller checked `posted` first.
    pub fn front(&self) -> RecvWqe {
        let mask = (1u32 << self.queue.log_size) - 1;
        let offset = (self.private.consumer & mask) as usize * RECV_WQE_SIZE;
        // SAFETY: the slot lies inside the ring (index masked to its size), which stays pinned
        // while the QP's gate is open (checked by the claimer under this lock). It is copied
        // out with a volatile read before any field is looked at.
        unsafe { std::ptr::read_volatile(self.queue.ring.add(offset).cast::<RecvWqe>()) }
    }

    /// Posts completions a full CQ held back, if it now has room for all of them; returns
    /// how many it posted.
    pub fn flush_backlog(&mut self) -> usize {
        let held = self.private.backlog.len();
        if held == 0 || !self.queue.cq.try_post(&self.private.backlog) {
            return 0;
        }
        self.private.backlog.clear();
        self.queue.has_backlog.store(false, Ordering::Release);
        held
    }

    /// Consumes the front entry with completion `cqe`. The index is published first: the
    /// entry's slot and the memory it named are the application's again, and a poller that
    /// sees the CQE sees the index past it. A CQ that filled up meanwhile (other queues share
    /// it) gets the CQE later, from the backlog.
    pub fn complete_front(&mut self, mut cqe: Cqe) {
        cqe.qp_num = self.queue.qpn;
        cqe.wqe_counter = self.private.consumer as u16;
        cqe.opcode = OPCODE_RECV;
        self.private.consumer = self.private.consumer.wrapping_add(1);
        self.queue.consumer_out.store(self.private.consumer, Ordering::Release);
        if !self.private.backlog.is_empty() || !self.queue.cq.try_post(&[cqe]) {
            self.private.backlog.push(cqe);
            self.queue.has_backlog.store(true, Ordering::Release);
        }
    }

    /// Whether the CQ has room for one more receive completion now.
    pub fn cq_has_room(&self) -> bool {
        self.private.backlog.is_empty() && self.queue.cq.free_slots() > 0
    }

    /// Completes every waiting receive with a flush status (the QP is in ERR), as far as the
    /// CQ has room (the rest wait for the next pass); returns how many.
    pub fn flush(&mut self) -> usize {
        if !self.private.backlog.is_empty() {
            return 0;
        }
        let Posted::Entries(waiting) = self.posted() else { return 0 };
        let count = waiting.min(self.queue.cq.free_slots());
        for _ in 0..count {
            let wqe = self.front();
            self.complete_front(Cqe { wr_id: wqe.wr_id, status: CqeStatus::WorkRequestFlushed as u8, ..Cqe::default() });
        }
        count as usize
    }

    /// Back to an empty queue at index 0 (RESET): nothing waits, nothing is held back.
    pub fn rewind(&mut self) {
        *self.private = Private::default();
        self.queue.has_backlog.store(false, Ordering::Release);
        self.queue.faulted.store(false, Ordering::Release);
        self.queue.consumer_out.store(0, Ordering::Release);
    }
}
