//! Queue pairs: a send queue of accelerator work requests, and for verbs programs a receive
//! queue that the connected QP's SENDs fill.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use accelverbs_uapi::cmd::{qp_flags, CreateQpCmd, CreateQpResp, ExecPolicy};
use accelverbs_uapi::doorbell::{EngineWakeWord, QpDoorbellRecord};
use accelverbs_uapi::ids::{object, qp, uhw};
use accelverbs_uapi::recv::{RecvWqe, MAX_RECV_SGE, RECV_WQE_SIZE};
use accelverbs_uapi::verbs::{DestroyQpResp, QpCap, QpState, IB_UVERBS_QPT_DRIVER, IB_UVERBS_QPT_RC};
use accelverbs_uapi::wqe::{Wqe, WQE_SIZE};

use crate::context::ContextInner;
use crate::cq::CqInner;
use crate::doorbell::{publish_producer, wake_engine_if_sleeping};
use crate::in_flight::{Borrower, InFlight};
use crate::ioctl::Command;
use crate::mem::PageBuffer;
use crate::pd::PdInner;
use crate::post::lists::ListArea;
use crate::post::{ListWriter, PostBatch, Recv, WorkRequest};
use crate::{Cq, Error, Pd, PostError};
use accelverbs_uapi::cache_hint::prefetch_for_write;
use accelverbs_uapi::shared::SharedU32;

/// Deepest send queue the provider creates: a region counts its requests in flight on one QP
/// in 16 bits (`mr.rs`).
pub(crate) const MAX_DEPTH: u32 = 1 << 15;

/// Process-wide QP serials, which regions record as their current borrower. Never reused: a
/// reused serial could let a new QP into a region an old one still uses.
static NEXT_SERIAL: AtomicU32 = AtomicU32::new(1);

/// How many slots ahead of the one it writes the poster asks for a slot's lines: far enough
/// that the device's core has handed them back by the time the WQE is written there.
const WRITE_AHEAD: u32 = 8;

/// The verbs type a QP is created as. Both run every opcode the device has: the device answers
/// its own RDMA, so an RC QP is connected in loopback and needs no peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QpType {
    /// `IBV_QPT_DRIVER`: driver-defined work, the accelerator QP.
    #[default]
    Driver,
    /// `IBV_QPT_RC`: what a verbs program creates for RDMA_WRITE and RDMA_READ.
    Rc,
}

impl QpType {
    /// The `IB_UVERBS_QPT_*` number CREATE_QP carries.
    fn wire(self) -> u32 {
        match self {
            QpType::Driver => IB_UVERBS_QPT_DRIVER,
            QpType::Rc => IB_UVERBS_QPT_RC,
        }
    }
}

/// QP creation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpInit {
    /// Minimum send-queue depth (rounded up to a power of two).
    pub max_send_wr: u32,
    /// The verbs QP type (default: [`QpType::Driver`]).
    pub qp_type: QpType,
    /// Every WQE completes with a CQE, whatever its signaled flag (`sq_sig_all`).
    pub signal_all: bool,
    /// Most bytes a decompression may produce per input byte (0: no limit but the
    /// destination's size); beyond, it completes with `CqeStatus::OutputLimit`.
    pub max_decompress_ratio: u32,
    /// Minimum receive-queue depth (rounded up to a power of two); 0: no receive queue, as an
    /// accelerator QP needs none.
    pub max_recv_wr: u32,
}

impl QpInit {
    pub fn new(max_send_wr: u32) -> Self {
        Self { max_send_wr, qp_type: QpType::Driver, signal_all: false, max_decompress_ratio: 0, max_recv_wr: 0 }
    }

    /// Gives the QP a receive queue: see [`QpInit::max_recv_wr`].
    pub fn max_recv_wr(mut self, depth: u32) -> Self {
        self.max_recv_wr = depth;
        self
    }

    /// Creates the QP as `qp_type` (see [`QpType`]).
    pub fn qp_type(mut self, qp_type: QpType) -> Self {
        self.qp_type = qp_type;
        self
    }

    pub fn signal_all(mut self, on: bool) -> Self {
        self.signal_all = on;
        self
    }

    /// Guards against decompression bombs: see [`QpInit::max_decompress_ratio`].
    pub fn max_decompress_ratio(mut self, ratio: u32) -> Self {
        self.max_decompress_ratio = ratio;
        self
    }
}

#[derive(Debug)]
struct QpInner {
    ctx: Arc<ContextInner>,
    handle: u32,
    qpn: u32,
    // Let go after the destroy ioctl in `drop`: the device stops using them first.
    ring: PageBuffer,
    /// Also holds the doorbell record.
    in_flight: Arc<InFlight>,
    /// The receive queue's regions, and its CQ (`None`: no receive queue).
    recv: Option<(Arc<InFlight>, Arc<CqInner>)>,
    _pd: Arc<PdInner>,
    cq: Arc<CqInner>,
}

impl Drop for QpInner {
    fn drop(&mut self) {
        let mut resp = DestroyQpResp::default();
        let mut cmd = Command::new(object::QP, qp::METHOD_DESTROY);
        cmd.handle(qp::ATTR_DESTROY_HANDLE, self.handle).output(qp::ATTR_DESTROY_RESP, &mut resp);
        if self.ctx.call(&mut cmd).is_ok() {
            // The device is done with every WQE: nothing it did not run will run.
            self.in_flight.discard(0);
            self.cq.forget_work_queues(self.qpn);
            if let Some((in_flight, cq)) = &self.recv {
                in_flight.discard(0);
                cq.forget_work_queues(self.qpn);
            }
        } else {
            // The device may still read the ring and doorbell and use the regions named in
            // it: keep all of that for the rest of the process rather than free it under it.
            self.ring.leak();
            std::mem::forget(Arc::clone(&self.in_flight));
            std::mem::forget(self.recv.clone());
        }
    }
}

/// A queue pair for accelerator work and RDMA (`ibv_qp` of type `IBV_QPT_DRIVER` or
/// `IBV_QPT_RC`, [`QpInit::qp_type`]). Posting needs `&mut self`: one producer, no lock, no
/// system call while the engine polls.
#[derive(Debug)]
pub struct Qp {
    inner: QpInner,
    qpn: u32,
    /// Process-wide serial (regions lent to this QP record it).
    serial: u32,
    log_size: u32,
    /// The receive queue, if the QP has one.
    rq: Option<RecvRing>,
    /// The QP given to [`Qp::connect`] (0: none).
    dest_qpn: u32,
    /// Free-running count of WQEs published.
    producer: u32,
    /// WQEs written past `producer` but not yet published ([`Qp::stage`]), and the bytes they
    /// move (for the adaptive policy).
    staged: u32,
    staged_bytes: u64,
    /// Slots known free up to `retired_snapshot + capacity`: refreshed only when the ring
    /// looks full, so posting does not pull the device's cache line on every WQE.
    retired_snapshot: u32,
    db_producer: SharedU32,
    db_engine_producer: SharedU32,
    db_consumer: SharedU32,
    wake: SharedU32,
    state: QpState,
    /// SGE lists of gathered requests, made on the first one. Declared after `inner`, so it
    /// is freed only after the device QP was destroyed (nothing reads the lists any more).
    lists: Option<ListArea>,
}

/// The provider's side of a receive queue.
#[derive(Debug)]
struct RecvRing {
    log_size: u32,
    /// The borrower its receives' regions record (see `create_qp_with_recv_cq`).
    serial: u32,
    /// Free-running count of receives published.
    producer: u32,
    db_producer: SharedU32,
}

/// A fresh borrower serial; `ENOSPC` once the process used them all.
fn next_serial() -> Result<u32, Error> {
    NEXT_SERIAL
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
        .map_err(|_| Error::Verbs { op: "create_qp", errno: libc::ENOSPC })
}

impl<B> Pd<B> {
    /// Creates a QP completing to `cq` and brings it to RTS (INIT → RTR → RTS).
    pub fn create_qp(&self, cq: &Cq<B>, init: QpInit) -> Result<Qp, Error> {
        let mut qp = self.create_qp_in_reset(cq, init)?;
        for state in [QpState::Init, QpState::Rtr, QpState::Rts] {
            qp.modify(state)?;
        }
        Ok(qp)
    }

    /// Creates a QP and leaves it in RESET. `cq` must belong to the PD's context; it also
    /// takes the receive queue's completions, if the QP has one.
    pub fn create_qp_in_reset(&self, cq: &Cq<B>, init: QpInit) -> Result<Qp, Error> {
        self.create_qp_with_recv_cq(cq, cq, init)
    }

    /// Creates a QP in RESET whose receive queue ([`QpInit::max_recv_wr`]) completes to
    /// `recv_cq` rather than `send_cq`. Both must belong to the PD's context.
    pub fn create_qp_with_recv_cq(&self, send_cq: &Cq<B>, recv_cq: &Cq<B>, init: QpInit) -> Result<Qp, Error> {
        let (cq, ctx) = (send_cq, &self.inner.ctx);
        // The driver knows objects by handle numbers, which are per context: a CQ of another
        // context would be taken for whatever object bears its number here.
        if !Arc::ptr_eq(&cq.inner.ctx, ctx) || !Arc::ptr_eq(&recv_cq.inner.ctx, ctx) {
            return Err(Error::WrongContext { op: "create_qp", object: "CQ" });
        }
        let invalid = || Error::Verbs { op: "create_qp", errno: libc::EINVAL };
        let depth = init.max_send_wr.max(1).checked_next_power_of_two().filter(|&d| d <= MAX_DEPTH).ok_or_else(invalid)?;
        let log_size = depth.trailing_zeros();
        let log_rq_size = match init.max_recv_wr {
            0 => None,
            n => Some(n.checked_next_power_of_two().filter(|&d| d <= MAX_DEPTH).ok_or_else(invalid)?.trailing_zeros()),
        };
        let serial = next_serial()?;
        // A receive queue borrows regions under a serial of its own: its receives are written
        // by the sending QP's pass, not this QP's, so nothing else of this QP may touch them
        // meanwhile either.
        let recv_serial = log_rq_size.map(|_| next_serial()).transpose()?;
        // The receive queue's entries follow the send queue's in the same buffer.
        let rq_bytes = log_rq_size.map_or(0, |log| RECV_WQE_SIZE << log);
        let shared = ctx.channel.shared_memory();
        let ring = PageBuffer::for_device((WQE_SIZE << log_size) + rq_bytes, "send and receive queues", shared.clone())?;
        let doorbell = Arc::new(PageBuffer::for_device(std::mem::size_of::<QpDoorbellRecord>(), "QP doorbell record", shared)?);
        let request = CreateQpCmd {
            sq_addr: ring.addr(),
            db_addr: doorbell.addr(),
            log_sq_size: log_size,
            flags: if init.signal_all { qp_flags::SIGNAL_ALL } else { 0 },
            max_decompress_ratio: init.max_decompress_ratio,
            log_rq_size: log_rq_size.unwrap_or(0),
        };
        let cap = QpCap {
            max_send_wr: init.max_send_wr,
            max_send_sge: 1,
            max_recv_wr: init.max_recv_wr,
            max_recv_sge: if log_rq_size.is_some() { MAX_RECV_SGE } else { 0 },
            ..QpCap::default()
        };
        let (mut resp, mut granted, mut qpn) = (CreateQpResp::default(), QpCap::default(), 0u32);
        let mut cmd = Command::new(object::QP, qp::METHOD_CREATE);
        let h = cmd.new_object(qp::ATTR_CREATE_HANDLE);
        cmd.handle(qp::ATTR_CREATE_PD_HANDLE, self.inner.handle)
            .handle(qp::ATTR_CREATE_SEND_CQ_HANDLE, cq.inner.handle)
            .handle(qp::ATTR_CREATE_RECV_CQ_HANDLE, recv_cq.inner.handle)
            .input_u64(qp::ATTR_CREATE_USER_HANDLE, u64::from(serial))
            .input(qp::ATTR_CREATE_CAP, &cap)
            .input_u32(qp::ATTR_CREATE_TYPE, init.qp_type.wire())
            .input(uhw::IN, &request)
            .output(uhw::OUT, &mut resp)
            .output(qp::ATTR_CREATE_RESP_CAP, &mut granted)
            .output(qp::ATTR_CREATE_RESP_QP_NUM, &mut qpn);
        ctx.run("create_qp", &mut cmd)?;
        let handle = cmd.new_handle(h);
        let recv = log_rq_size.map(|log| {
            let in_flight =
                Arc::new(InFlight::new(1 << log, Arc::clone(&doorbell), std::mem::offset_of!(QpDoorbellRecord, rq_consumer)));
            recv_cq.inner.add_work_queue(qpn, &in_flight);
            (in_flight, Arc::clone(&recv_cq.inner))
        });
        let in_flight = Arc::new(InFlight::new(1 << log_size, doorbell, std::mem::offset_of!(QpDoorbellRecord, sq_consumer)));
        cq.inner.add_work_queue(qpn, &in_flight);
        // From here on, dropping `inner` destroys the device QP before its memory goes.
        let inner = QpInner {
            ctx: Arc::clone(ctx),
            handle,
            qpn,
            ring,
            in_flight,
            recv,
            _pd: Arc::clone(&self.inner),
            cq: Arc::clone(&cq.inner),
        };
        let wake_offset = resp.uar_wake_offset as usize;
        if wake_offset + std::mem::size_of::<EngineWakeWord>() > ctx.uar_len {
            return Err(Error::Protocol { op: "create_qp", detail: "wake word outside the UAR page" });
        }
        let db = inner.in_flight.doorbell().as_ptr();
        // SAFETY: the doorbell buffer is page aligned and owned by `in_flight`, which the QP
        // holds; the wake word lies inside the UAR mapping (checked above), which the context
        // keeps.
        let (db_producer, db_engine_producer, db_consumer, db_rq_producer, wake) = unsafe {
            (
                SharedU32::new(db.add(std::mem::offset_of!(QpDoorbellRecord, sq_producer))),
                SharedU32::new(db.add(std::mem::offset_of!(QpDoorbellRecord, engine_producer))),
                SharedU32::new(db.add(std::mem::offset_of!(QpDoorbellRecord, sq_consumer))),
                SharedU32::new(db.add(std::mem::offset_of!(QpDoorbellRecord, rq_producer))),
                SharedU32::new(ctx.uar.as_ptr().add(wake_offset)),
            )
        };
        let rq = log_rq_size.zip(recv_serial).map(|(log_size, serial)| RecvRing {
            log_size,
            serial,
            producer: 0,
            db_producer: db_rq_producer,
        });
        Ok(Qp {
            inner,
            qpn,
            serial,
            log_size,
            rq,
            dest_qpn: 0,
            producer: 0,
            staged: 0,
            staged_bytes: 0,
            retired_snapshot: 0,
            db_producer,
            db_engine_producer,
            db_consumer,
            wake,
            state: QpState::Reset,
            lists: None,
        })
    }
}

impl Qp {
    pub fn qpn(&self) -> u32 {
        self.qpn
    }

    /// Send-queue depth.
    pub fn capacity(&self) -> u32 {
        1 << self.log_size
    }

    /// Slots free for posting now (WQEs the device finished count as free).
    pub fn free_slots(&self) -> u32 {
        let retired = self.inner.in_flight.retire();
        self.capacity().saturating_sub(self.producer.wrapping_sub(retired))
    }

    /// `ibv_modify_qp` to `state`. Moving to RESET rewinds the rings.
    pub fn modify(&mut self, state: QpState) -> Result<(), Error> {
        self.modify_to(state, None)
    }

    /// INIT → RTR with `dest_qpn` as the responder to this QP's SENDs and RDMA
    /// (`IBV_QP_DEST_QPN`): any live QP of the device, possibly this one, which answers only
    /// once it is connected back (`EINVAL` for a number no live QP has).
    pub fn connect(&mut self, dest_qpn: u32) -> Result<(), Error> {
        self.modify_to(QpState::Rtr, Some(dest_qpn))
    }

    /// The QP given to [`Qp::connect`] (0: none; RESET forgets it).
    pub fn dest_qpn(&self) -> u32 {
        self.dest_qpn
    }

    /// Receive-queue depth (0: none).
    pub fn recv_capacity(&self) -> u32 {
        self.rq.as_ref().map_or(0, |rq| 1 << rq.log_size)
    }

    fn modify_to(&mut self, state: QpState, dest_qpn: Option<u32>) -> Result<(), Error> {
        let mut cmd = Command::new(object::QP, qp::METHOD_MODIFY);
        cmd.handle(qp::ATTR_HANDLE, self.inner.handle).input_u32(qp::ATTR_MODIFY_STATE, state as u32);
        if let Some(dest) = dest_qpn {
            cmd.input_u32(qp::ATTR_MODIFY_DEST_QPN, dest);
        }
        self.inner.ctx.run("modify_qp", &mut cmd)?;
        if let Some(dest) = dest_qpn {
            self.dest_qpn = dest;
        }
        if state == QpState::Reset {
            self.dest_qpn = 0;
            if let (Some(rq), Some((in_flight, _))) = (&mut self.rq, &self.inner.recv) {
                in_flight.discard(0);
                rq.producer = 0;
                publish_producer(&rq.db_producer, 0);
            }
            // The device dropped every WQE it had not run, and will start again at slot 0;
            // staged ones are dropped with them.
            self.inner.in_flight.discard(0);
            self.producer = 0;
            self.staged = 0;
            self.staged_bytes = 0;
            self.retired_snapshot = 0;
            publish_producer(&self.db_producer, 0);
            publish_producer(&self.db_engine_producer, 0);
        }
        self.state = state;
        Ok(())
    }

    /// `ibv_query_qp` for the state: includes the device's own moves to ERR.
    pub fn query_state(&self) -> Result<QpState, Error> {
        let mut raw = 0u32;
        let mut cmd = Command::new(object::QP, qp::METHOD_QUERY);
        cmd.handle(qp::ATTR_HANDLE, self.inner.handle).output(qp::ATTR_QUERY_RESP_STATE, &mut raw);
        self.inner.ctx.run("query_qp", &mut cmd)?;
        QpState::try_from(raw).map_err(|_| Error::Protocol { op: "query_qp", detail: "unknown QP state" })
    }

    /// `ibv_post_recv`: queues `recv` for the next SEND from the connected QP. Allowed from
    /// INIT on (a receive must be posted before a SEND can find it); in ERR it completes at
    /// once with a flush status.
    pub fn post_recv(&mut self, recv: Recv<'_>) -> Result<(), PostError> {
        let (Some(rq), Some((in_flight, _))) = (&mut self.rq, &self.inner.recv) else {
            return Err(PostError::NoReceiveQueue);
        };
        if self.state == QpState::Reset {
            return Err(PostError::NotReady(self.state));
        }
        let index = rq.producer;
        if !in_flight.is_free(index) {
            in_flight.retire();
            if !in_flight.is_free(index) {
                return Err(PostError::QueueFull);
            }
        }
        let regions = recv.regions(Borrower::new(rq.serial, &self.inner.ctx))?;
        let mask = (1u32 << rq.log_size) - 1;
        let offset = (WQE_SIZE << self.log_size) + (index & mask) as usize * RECV_WQE_SIZE;
        // SAFETY: the slot is inside the receive queue, which follows the send queue in the
        // ring buffer (index masked to its size), and free: the device consumed it (it
        // retired) and reads it again only after we publish a producer index covering it.
        unsafe { std::ptr::write(self.inner.ring.as_ptr().add(offset).cast::<RecvWqe>(), recv.wqe()) };
        // SAFETY: we are the QP's one poster (`&mut self`), `index` is the next unpublished
        // slot and it is free (checked above).
        unsafe { in_flight.fill(index, regions) };
        rq.producer = index.wrapping_add(1);
        in_flight.publish(rq.producer);
        publish_producer(&rq.db_producer, rq.producer);
        // In ERR (which the device may have entered on its own) nothing will fill it: the
        // device flushes it on its next pass over the QP, which this asks for.
        self.kick();
        Ok(())
    }

    /// Gets the device to make a pass over the QP, per the context's policy.
    fn kick(&self) {
        match self.inner.ctx.policy {
            ExecPolicy::Inline => {
                let _ = self.inner.ctx.channel.drive_qp(self.qpn);
            }
            ExecPolicy::Threads | ExecPolicy::Adaptive => wake_engine_if_sleeping(&self.wake),
        }
    }

    /// Starts a batch: push any number of work requests, published with one doorbell.
    pub fn batch(&mut self) -> PostBatch<'_> {
        PostBatch::new(self)
    }

    /// Posts one work request (a batch of one).
    pub fn post<W: WorkRequest>(&mut self, wr: W) -> Result<(), PostError> {
        let mut batch = self.batch();
        batch.push(wr)?;
        batch.ring();
        Ok(())
    }

    /// Writes `wr` into the next free slot without publishing it: the device sees staged work
    /// only at [`Qp::ring_staged`], all of it with one doorbell. This is a [`PostBatch`] that
    /// can stay open between calls (`ibv_wr_start` … `ibv_wr_complete`); the regions `wr`
    /// names are held from now on, as for a posted request.
    pub fn stage<W: WorkRequest>(&mut self, wr: W) -> Result<(), PostError> {
        self.write_wqe(self.staged, &wr)?;
        self.staged += 1;
        self.staged_bytes += wr.payload_bytes();
        Ok(())
    }

    /// Work requests staged and not yet published.
    pub fn staged(&self) -> u32 {
        self.staged
    }

    /// Publishes every staged work request (one doorbell); nothing if none is staged.
    pub fn ring_staged(&mut self) {
        if self.staged > 0 {
            let (count, bytes) = (self.staged, self.staged_bytes);
            self.staged = 0;
            self.staged_bytes = 0;
            self.publish(count, bytes);
        }
    }

    /// Drops every staged work request unseen by the device (`ibv_wr_abort`) and lets go of
    /// the regions they held.
    pub fn abort_staged(&mut self) {
        for ahead in 0..self.staged {
            // SAFETY: we are the QP's poster (`&mut self`) and the slot lies past the published
            // producer index.
            unsafe { self.inner.in_flight.vacate(self.producer.wrapping_add(ahead)) };
        }
        self.staged = 0;
        self.staged_bytes = 0;
    }

    /// Encodes `wr` into the slot `ahead` places past the published producer index.
    fn write_wqe<W: WorkRequest>(&mut self, ahead: u32, wr: &W) -> Result<(), PostError> {
        if !matches!(self.state, QpState::Rts | QpState::Err) {
            return Err(PostError::NotReady(self.state));
        }
        let index = self.producer.wrapping_add(ahead);
        if index.wrapping_sub(self.retired_snapshot) >= self.capacity() {
            self.retired_snapshot = self.inner.in_flight.retire();
            if !self.inner.in_flight.is_free(index) {
                return Err(PostError::QueueFull);
            }
        }
        if wr.gathers() {
            self.list_area()?;
        }
        let area = self.lists.as_ref().filter(|_| wr.gathers());
        let mask = self.capacity() - 1;
        // SAFETY: the slot is inside the ring (index masked to its size, the ring page aligned,
        // so the slot is aligned for a WQE) and free: the device consumed it (it retired) and
        // reads it again only after we publish a producer index covering it, and nothing else
        // references the ring's bytes. Encoded in place, from zero, with no copy.
        let wqe = unsafe { &mut *self.inner.ring.as_ptr().add((index & mask) as usize * WQE_SIZE).cast::<Wqe>() };
        // A slot the device may still read is left where it is: taking it would make the
        // device fetch it back.
        let later = index.wrapping_add(WRITE_AHEAD);
        if later.wrapping_sub(self.retired_snapshot) < self.capacity() {
            let slot = self.inner.ring.as_ptr().wrapping_add((later & mask) as usize * WQE_SIZE);
            for line in (0..WQE_SIZE).step_by(64) {
                prefetch_for_write(slot.wrapping_add(line));
            }
        }
        // Encoded before any region is held. Were `encode` to panic after `regions`, holds
        // moved from the WQE before would sit in a slot never staged, and a later refused fill
        // of that slot would let them go while that WQE runs. Bytes left in an unstaged slot
        // are harmless: the device never reads them.
        *wqe = Wqe::default();
        wr.encode(wqe, &mut ListWriter { area, index });
        // The regions last of what can fail, so a busy one leaves nothing staged and nothing
        // moved from the WQE staged before (`Borrower::previous`). They are held in the slot
        // itself, which the retirers reach only once it is published.
        let borrower = Borrower::new(self.serial, &self.inner.ctx);
        let in_flight = &self.inner.in_flight;
        // SAFETY: we are the QP's one poster (`&mut self`), `index` is at or past the published
        // count and its slot is free (checked above). The slot before, when `ahead` is not 0, is
        // staged: at or past the published count too; its regions are reached only through the
        // borrower, for the one `regions` call, and then sealed.
        unsafe {
            in_flight.fill_with(index, |held| match ahead {
                0 => wr.regions(borrower, held),
                _ => in_flight.with_staged(index.wrapping_sub(1), |previous| wr.regions(borrower.after(previous), held)),
            })?;
            // The WQE before is final now (nothing takes from it any more): the retirers may
            // look inside. This one is sealed by the next, or when published.
            if ahead > 0 {
                in_flight.seal(index.wrapping_sub(1));
            }
        }
        Ok(())
    }

    /// The QP's SGE-list area, registered on first use.
    fn list_area(&mut self) -> Result<&ListArea, PostError> {
        let area = match self.lists.take() {
            Some(area) => area,
            None => ListArea::new(&self.inner._pd, self.capacity())
                .map_err(|e| PostError::ListArea { errno: e.errno().unwrap_or(libc::ENOMEM) })?,
        };
        Ok(self.lists.insert(area))
    }

    /// Publishes `count` (at least one) written WQEs and gets them executed according to the
    /// policy.
    fn publish(&mut self, count: u32, bytes: u64) {
        debug_assert!(count > 0);
        // SAFETY: we are the QP's one poster (`&mut self`), and the last WQE staged is past
        // the published count; every WQE before it was sealed when the next was written.
        unsafe { self.inner.in_flight.seal(self.producer.wrapping_add(count).wrapping_sub(1)) };
        self.producer = self.producer.wrapping_add(count);
        self.inner.in_flight.publish(self.producer);
        publish_producer(&self.db_producer, self.producer);
        let ctx = &self.inner.ctx;
        match ctx.policy {
            ExecPolicy::Threads => wake_engine_if_sleeping(&self.wake),
            ExecPolicy::Inline => {
                let _ = ctx.channel.drive_qp(self.qpn);
            }
            ExecPolicy::Adaptive => {
                // Small batches run here; the engine only sees what is handed to it (a large
                // batch, or what could not run inline), so the two never race for the QP.
                if bytes <= u64::from(ctx.inline_threshold) {
                    let _ = ctx.channel.drive_qp(self.qpn);
                }
                if self.db_consumer.load(Ordering::Acquire) != self.producer {
                    publish_producer(&self.db_engine_producer, self.producer);
                    wake_engine_if_sleeping(&self.wake);
                }
            }
        }
    }
}

/// Raw access for tests that play a hostile application against the device.
#[cfg(feature = "hostile-test-hooks")]
impl Qp {
    /// The send-queue ring as bytes.
    ///
    /// # Safety
    /// The device reads slots below the published producer index concurrently: write only
    /// while the QP is in RESET, INIT or RTR (it reads nothing then), or only slots at or past
    /// the producer index that nothing has published yet. What is written is then run as the
    /// device finds it, under [`Qp::raw_ring_doorbell`]'s contract.
    pub unsafe fn raw_ring(&mut self) -> &mut [u8] {
        let len = WQE_SIZE << self.log_size;
        // SAFETY: the ring mapping is at least `len` bytes and owned by this QP.
        unsafe { std::slice::from_raw_parts_mut(self.inner.ring.as_ptr(), len) }
    }

    /// Stores `value` as the doorbell's producer index, bypassing all checks, and wakes the
    /// engine.
    ///
    /// # Safety
    /// The device runs whatever the ring holds up to `value`, including old WQEs whose regions
    /// the provider no longer tracks: as for [`crate::Copy::from_sges`], no Rust reference may
    /// be used on memory they name until the QP is reset or destroyed.
    pub unsafe fn raw_ring_doorbell(&mut self, value: u32) {
        publish_producer(&self.db_producer, value);
        match self.inner.ctx.policy {
            ExecPolicy::Inline => {
                let _ = self.inner.ctx.channel.drive_qp(self.qpn);
            }
            _ => wake_engine_if_sleeping(&self.wake),
        }
    }

    /// The provider's producer index.
    pub fn raw_producer(&self) -> u32 {
        self.producer
    }

    /// Sets the provider's producer index (to resynchronise after `raw_ring_doorbell`).
    ///
    /// # Safety
    /// `value` must be at most one ring ahead of the last reset or of what the device consumed,
    /// as a real producer index would be.
    pub unsafe fn raw_set_producer(&mut self, value: u32) {
        self.producer = value;
        self.inner.in_flight.publish(value);
        self.retired_snapshot = self.inner.in_flight.retire();
    }
}

#[cfg(all(test, feature = "embedded"))]
mod tests;
