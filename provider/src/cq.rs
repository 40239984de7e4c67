//! Completion queues: polled by reading CQEs straight from the shared ring.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use accelverbs_uapi::cmd::{CreateCqCmd, CreateCqResp, ExecPolicy};
use accelverbs_uapi::cqe::{owner_bit_for, Cqe, CQE_OWNER_OFFSET, CQE_SIZE};
use accelverbs_uapi::doorbell::CqDoorbellRecord;
use accelverbs_uapi::ids::{cq, object, uhw};
use accelverbs_uapi::verbs::DestroyCqResp;

use crate::brand::Unbranded;
use crate::comp_channel::ChannelInner;
use crate::context::ContextInner;
use crate::in_flight::InFlight;
use crate::ioctl::Command;
use crate::mem::PageBuffer;
use crate::{CompletionChannel, Context, Error, WorkCompletion};
use accelverbs_uapi::shared::SharedU32;

#[derive(Debug)]
pub(crate) struct CqInner {
    pub ctx: Arc<ContextInner>,
    pub handle: u32,
    pub cqn: u32,
    user_handle: u64,
    ring: PageBuffer,
    doorbell: PageBuffer,
    log_size: u32,
    _channel: Option<Arc<ChannelInner>>,
    /// The work queues (send and receive) completing here, by QP number, so polling can retire
    /// what the device finished.
    work_queues: Mutex<Vec<(u32, Arc<InFlight>)>>,
    /// Bumped on every change of `work_queues`, so the poller re-reads it only then.
    work_queues_generation: AtomicU64,
}

impl CqInner {
    pub(crate) fn add_work_queue(&self, qpn: u32, in_flight: &Arc<InFlight>) {
        self.work_queues.lock().unwrap_or_else(|e| e.into_inner()).push((qpn, Arc::clone(in_flight)));
        self.work_queues_generation.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn forget_work_queues(&self, qpn: u32) {
        self.work_queues.lock().unwrap_or_else(|e| e.into_inner()).retain(|(n, _)| *n != qpn);
        self.work_queues_generation.fetch_add(1, Ordering::Release);
    }
}

impl Drop for CqInner {
    fn drop(&mut self) {
        let mut resp = DestroyCqResp::default();
        let mut cmd = Command::new(object::CQ, cq::METHOD_DESTROY);
        cmd.handle(cq::ATTR_DESTROY_HANDLE, self.handle).output(cq::ATTR_DESTROY_RESP, &mut resp);
        // QPs hold this CQ alive, so the driver has no reason to answer EBUSY; if it refuses
        // anyway, it may still write the ring: keep the memory rather than free it under it.
        if self.ctx.call(&mut cmd).is_err() {
            self.ring.leak();
            self.doorbell.leak();
        }
    }
}

/// A completion queue (`ibv_cq`). Polling needs `&mut self`: one poller at a time, no lock.
/// QPs completing here keep the device CQ alive even if this handle is dropped first.
#[derive(Debug)]
pub struct Cq<B = Unbranded> {
    pub(crate) inner: Arc<CqInner>,
    consumer: u32,
    /// The context's policy is inline: an empty poll runs the device first. Kept here, beside
    /// the consumer index, so an empty poll reads no line of the heap that another thread may
    /// be writing (its context's line cost NOP polling through an engine a cache miss each).
    runs_inline: bool,
    db_consumer: SharedU32,
    /// This poller's copy of `inner.work_queues`, as of `work_queues_seen`.
    work_queues: Vec<(u32, Arc<InFlight>)>,
    work_queues_seen: u64,
    brand: PhantomData<B>,
}

/// User handles returned by completion events; unique in the process.
static NEXT_CQ_ID: AtomicU64 = AtomicU64::new(1);

impl<B> Context<B> {
    /// `ibv_create_cq` with room for at least `cqe` completions, reporting to `channel` when
    /// armed.
    pub fn create_cq(&self, cqe: u32, channel: Option<&CompletionChannel<B>>) -> Result<Cq<B>, Error> {
        if channel.is_some_and(|c| !Arc::ptr_eq(&c.inner.ctx, &self.inner)) {
            return Err(Error::WrongContext { op: "create_cq", object: "completion channel" });
        }
        let log_size =
            cqe.max(1).checked_next_power_of_two().ok_or(Error::Verbs { op: "create_cq", errno: libc::EINVAL })?.trailing_zeros();
        let shared = self.inner.channel.shared_memory();
        let ring = PageBuffer::for_device(CQE_SIZE << log_size, "CQ ring", shared.clone())?;
        let doorbell = PageBuffer::for_device(std::mem::size_of::<CqDoorbellRecord>(), "CQ doorbell record", shared)?;
        let request = CreateCqCmd { ring_addr: ring.addr(), db_addr: doorbell.addr(), log_size, reserved: 0 };
        let user_handle = NEXT_CQ_ID.fetch_add(1, Ordering::Relaxed);
        let (mut resp, mut granted) = (CreateCqResp::default(), 0u32);
        let mut cmd = Command::new(object::CQ, cq::METHOD_CREATE);
        let h = cmd.new_object(cq::ATTR_CREATE_HANDLE);
        cmd.input_u32(cq::ATTR_CREATE_CQE, cqe)
            .input_u64(cq::ATTR_CREATE_USER_HANDLE, user_handle)
            .input_u32(cq::ATTR_CREATE_COMP_VECTOR, 0)
            .input(uhw::IN, &request)
            .output(uhw::OUT, &mut resp)
            .output(cq::ATTR_CREATE_RESP_CQE, &mut granted);
        if let Some(c) = channel {
            cmd.handle(cq::ATTR_CREATE_COMP_CHANNEL, c.inner.handle);
        }
        self.inner.run("create_cq", &mut cmd)?;
        let handle = cmd.new_handle(h);
        // SAFETY: the doorbell buffer is page aligned and outlives `Cq` via `inner`.
        let db_consumer = unsafe { SharedU32::new(doorbell.as_ptr().add(std::mem::offset_of!(CqDoorbellRecord, consumer))) };
        let inner = Arc::new(CqInner {
            ctx: Arc::clone(&self.inner),
            handle,
            cqn: resp.cqn,
            user_handle,
            ring,
            doorbell,
            log_size,
            _channel: channel.map(|c| Arc::clone(&c.inner)),
            work_queues: Mutex::new(Vec::new()),
            work_queues_generation: AtomicU64::new(0),
        });
        let runs_inline = self.inner.policy == ExecPolicy::Inline;
        Ok(Cq { inner, consumer: 0, runs_inline, db_consumer, work_queues: Vec::new(), work_queues_seen: 0, brand: PhantomData })
    }
}

impl<B> Cq<B> {
    /// The value a completion event returns for this CQ.
    pub fn id(&self) -> u64 {
        self.inner.user_handle
    }

    /// Number of entries.
    pub fn capacity(&self) -> u32 {
        1 << self.inner.log_size
    }

    /// `ibv_poll_cq`: fills `wc` from the front with up to `wc.len()` completions and returns
    /// how many. With inline execution, runs pending work first if nothing is ready.
    pub fn poll(&mut self, wc: &mut [WorkCompletion]) -> usize {
        let n = self.poll_ring(wc);
        if n == 0 && self.runs_inline {
            let _ = self.inner.ctx.channel.drive_cq(self.inner.cqn);
            return self.poll_ring(wc);
        }
        n
    }

    fn poll_ring(&mut self, wc: &mut [WorkCompletion]) -> usize {
        let log_size = self.inner.log_size;
        let mask = (1u32 << log_size) - 1;
        let ring = self.inner.ring.as_ptr();
        let mut n = 0;
        for out in wc.iter_mut() {
            let index = self.consumer;
            // SAFETY: the slot is inside the ring (index masked to its size).
            let slot = unsafe { ring.add((index & mask) as usize * CQE_SIZE) };
            // SAFETY: the owner byte is inside the slot; AtomicU8 has alignment 1. Acquire pairs
            // with the device's release store, so the body read below is complete.
            let owner = unsafe { AtomicU8::from_ptr(slot.add(CQE_OWNER_OFFSET)) }.load(Ordering::Acquire);
            if owner != owner_bit_for(index, log_size) {
                break;
            }
            // SAFETY: a published CQE is not rewritten until we advance the consumer index, and
            // the slot is 8-byte aligned (the ring is page aligned, CQE_SIZE a multiple of 8).
            let cqe = unsafe { read_cqe(slot) };
            *out = WorkCompletion::from_cqe(&cqe);
            self.consumer = index.wrapping_add(1);
            n += 1;
        }
        if n > 0 {
            // Release: our reads of those slots happen before the device may reuse them.
            self.db_consumer.store(self.consumer, Ordering::Release);
            self.retire_work_queues(&wc[..n]);
        }
        n
    }

    /// Lets go of the regions of every WQE the completing QPs finished, so the application can
    /// touch their bytes as soon as it holds the completion. A visible CQE implies the device
    /// published its consumer index past that WQE (it does so first).
    fn retire_work_queues(&mut self, done: &[WorkCompletion]) {
        let generation = self.inner.work_queues_generation.load(Ordering::Acquire);
        if generation != self.work_queues_seen {
            self.work_queues = self.inner.work_queues.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.work_queues_seen = generation;
        }
        let mut last = None;
        for wc in done {
            if last == Some(wc.qp_num) {
                continue;
            }
            last = Some(wc.qp_num);
            // A QP's send and receive queues may both complete here.
            for (_, in_flight) in self.work_queues.iter().filter(|(qpn, _)| *qpn == wc.qp_num) {
                in_flight.retire();
            }
        }
    }

    /// `ibv_req_notify_cq`: one event on the CQ's completion channel at the next completion
    /// (or at once if completions are already waiting). `solicited_only`: only for WQEs posted
    /// with the solicited flag, or errors.
    pub fn req_notify(&self, solicited_only: bool) -> Result<(), Error> {
        let mut cmd = Command::new(object::CQ, cq::METHOD_REQ_NOTIFY);
        cmd.handle(cq::ATTR_REQ_NOTIFY_HANDLE, self.inner.handle)
            .input_u32(cq::ATTR_REQ_NOTIFY_SOLICITED_ONLY, u32::from(solicited_only));
        self.inner.ctx.run("req_notify_cq", &mut cmd)
    }
}

/// Copies the CQE at `slot` out of the ring a machine word at a time (a volatile load of the
/// struct compiles to a load per field).
///
/// # Safety
/// `slot` is 8-byte aligned and readable for `CQE_SIZE` bytes, which nothing writes meanwhile.
#[inline] // into `poll_ring`, which is generic: instantiated in the application's crate
unsafe fn read_cqe(slot: *const u8) -> Cqe {
    let words = slot.cast::<u64>();
    let mut copy = [0u64; CQE_SIZE / 8];
    for (i, word) in copy.iter_mut().enumerate() {
        // SAFETY: word `i` lies inside the slot (caller's contract).
        *word = unsafe { std::ptr::read_volatile(words.add(i)) };
    }
    zerocopy::transmute!(copy)
}
