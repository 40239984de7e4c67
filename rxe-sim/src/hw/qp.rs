//! QPs on the soft device: the consumer side of the WQE ring, and the receive queue SENDs of
//! the connected QP land in (`receive_queue.rs`).
//!
//! The ring and doorbell record are user memory: the device reads the producer index once per
//! pass, rejects an index that is behind its own or more than a ring ahead, copies each WQE out
//! before looking at it, and keeps its own consumer index privately.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use accelverbs_kernel_abi::{Errno, HwQp, PinnedMemory};
use accelverbs_uapi::async_event::AsyncEventType;
use accelverbs_uapi::cqe::{Cqe, CqeStatus, VendorError};
use accelverbs_uapi::doorbell::QpDoorbellRecord;
use accelverbs_uapi::recv::RecvWqe;
use accelverbs_uapi::verbs::QpState;
use accelverbs_uapi::wqe::{flags as wqe_flags, Opcode, Sge, Wqe, WQE_SIZE};
use zerocopy::IntoBytes;

use crate::engines::execute::{execute, ExecContext, Failure};
use crate::engines::ops::{Peer, Responder};
use crate::hw::async_events::SoftAsyncEvents;
use crate::hw::cq::SoftCq;
use crate::hw::crypto_key_table::{CryptoKeyTable, KeyView, SoftKey};
use crate::hw::gate::AccessGate;
use crate::hw::mr_table::{MrEntry, MrTable, MrView, Resolved, Use};
use crate::hw::receive_queue::{Posted, ReceiveQueue};
use crate::hw::shared::SharedU32;
use crate::hw::stream_table::StreamTable;

/// Every live QP of the device by number: where `connect` finds a SEND's receiver.
pub type QpDirectory = RwLock<HashMap<u32, Weak<SoftQp>>>;

/// Most WQEs one pass takes from one QP, so QPs sharing an engine take turns.
pub const PASS_BUDGET: usize = 64;

/// An engine publishes a pass's completions this many WQEs at a time, so the application
/// polls and posts again while the rest of the pass runs (all at the end, the two sides took
/// turns: NOP at QD 32 through an engine ran about 11 M/s, about 16 M/s with this).
const ENGINE_PUBLISH_EVERY: usize = 16;

/// How many WQEs ahead of the one it runs an engine starts loading the ring's lines.
const PREFETCH_AHEAD: u32 = 4;

/// What one pass over a QP achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to do.
    Idle,
    /// Consumed this many WQEs.
    Worked(usize),
    /// Work is waiting for CQ space.
    Blocked,
    /// Another thread is processing this QP right now.
    Busy,
}

/// Who runs a pass over a QP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// An engine thread.
    Engine,
    /// The application's thread, through `drive_qp`/`drive_cq`.
    Inline,
}

/// Device-private QP state, touched only by the thread that holds the lock.
#[derive(Debug, Default)]
struct Private {
    consumer: u32,
    /// Completions produced while the CQ was full.
    backlog: Vec<Cqe>,
    /// The pass's completions, kept between passes so a pass allocates and zeroes nothing.
    pass_cqes: Vec<Cqe>,
    /// The buffers of the pass's table views, kept between passes likewise (empty).
    held_mrs: Vec<(u32, Arc<MrEntry>)>,
    held_keys: Vec<Arc<SoftKey>>,
    /// The receiver of SENDs and RDMA (`connect`); `None` if not connected, or after RESET.
    peer: Option<Weak<SoftQp>>,
}

/// A QP on the soft device.
#[derive(Debug)]
#[repr(align(128))]
pub struct SoftQp {
    qpn: u32,
    pdn: u32,
    pub(crate) ctx_id: u32,
    state: AtomicU32,
    ring: *const u8,
    log_size: u32,
    producer: SharedU32,
    engine_producer: SharedU32,
    consumer_out: SharedU32,
    /// Adaptive context: engines take work only up to `engine_producer`.
    handoff: bool,
    /// Mirror of `Private::consumer` for the engine's lock-free "any work?" check.
    published_consumer: AtomicU32,
    has_backlog: AtomicBool,
    signal_all: bool,
    /// Decompression bomb guard (`ExecContext::max_ratio`).
    max_ratio: u32,
    pub(crate) cq: Arc<SoftCq>,
    /// Where SENDs from the connected QP land, if the QP was created with one.
    pub(crate) rq: Option<ReceiveQueue>,
    /// The QP number given at RTR (0: none): a responder takes SENDs and RDMA from it only.
    dest_qpn: AtomicU32,
    directory: Arc<QpDirectory>,
    mrs: Arc<MrTable>,
    streams: Arc<StreamTable>,
    crypto_keys: Arc<CryptoKeyTable>,
    /// Engine serving this QP (`None`: inline only).
    pub(crate) engine: Option<usize>,
    uar_wake_offset: u32,
    /// Held while processing: the claim that keeps one thread per QP and lets destroy wait.
    private: Mutex<Private>,
    /// Closed by `quiesce`: no lock-free look at the doorbell starts or runs after it.
    gate: AccessGate,
    /// A doorbell the device could not honour moved the QP to ERR; the producer index is
    /// ignored until RESET, so the engine can sleep instead of re-reading it forever.
    doorbell_fault: AtomicBool,
    /// Asynchronous events raised about this QP (`events_reported` of DESTROY).
    pub(crate) fatal_events: AtomicU32,
    /// Its context's asynchronous events, and the handle they name this QP by.
    async_events: Arc<SoftAsyncEvents>,
    user_handle: u64,
    /// The ring and doorbell pins, released by `quiesce`: the QP object may outlive its
    /// destroy (engines drop their copies lazily), its pins must not.
    pins: Mutex<Option<[Arc<dyn PinnedMemory>; 2]>>,
}

// SAFETY: `ring` and the doorbell pointers point into memory the application keeps mapped until
// the QP is destroyed, and the device reaches them only before `quiesce` returns (passes under
// `private`, looks through `gate`); the ring is only read (copied out) and the doorbell only
// accessed atomically.
unsafe impl Send for SoftQp {}
// SAFETY: as above; mutable device state is behind `private` or atomics.
unsafe impl Sync for SoftQp {}

/// Everything `SoftQp::new` needs.
#[derive(Debug)]
pub struct SoftQpSetup {
    pub qpn: u32,
    pub pdn: u32,
    pub ctx_id: u32,
    pub ring: Arc<dyn PinnedMemory>,
    pub doorbell: Arc<dyn PinnedMemory>,
    pub log_size: u32,
    pub signal_all: bool,
    pub max_ratio: u32,
    /// Adaptive context: engines take only what the poster hands them.
    pub handoff: bool,
    pub cq: Arc<SoftCq>,
    /// The receive queue's CQ and `log2` of its entries, which follow the send queue's in
    /// `ring`.
    pub recv: Option<(Arc<SoftCq>, u32)>,
    pub async_events: Arc<SoftAsyncEvents>,
    pub user_handle: u64,
    pub directory: Arc<QpDirectory>,
    pub mrs: Arc<MrTable>,
    pub streams: Arc<StreamTable>,
    pub crypto_keys: Arc<CryptoKeyTable>,
    pub engine: Option<usize>,
    pub uar_wake_offset: u32,
}

impl SoftQp {
    pub fn new(s: SoftQpSetup) -> Self {
        debug_assert!(s.ring.len() >= (WQE_SIZE as u64) << s.log_size);
        debug_assert!(s.doorbell.len() >= std::mem::size_of::<QpDoorbellRecord>() as u64);
        let db = s.doorbell.dma_addr();
        // SAFETY: the driver pinned a whole, 64-byte aligned QpDoorbellRecord at `db`.
        let word = |offset: usize| unsafe { SharedU32::new(db.add(offset)) };
        let producer = word(std::mem::offset_of!(QpDoorbellRecord, sq_producer));
        let engine_producer = word(std::mem::offset_of!(QpDoorbellRecord, engine_producer));
        let consumer_out = word(std::mem::offset_of!(QpDoorbellRecord, sq_consumer));
        let rq = s.recv.map(|(cq, log_size)| {
            let sq_bytes = WQE_SIZE << s.log_size;
            debug_assert!(s.ring.len() >= (sq_bytes + (accelverbs_uapi::recv::RECV_WQE_SIZE << log_size)) as u64);
            // SAFETY: the driver pinned the send queue and the receive queue behind it as one
            // range (`ring`), and the whole doorbell record; the QP keeps both pins until
            // `quiesce`, which takes the receive queue's lock after closing the gate.
            unsafe {
                ReceiveQueue::new(
                    s.ring.dma_addr().add(sq_bytes),
                    log_size,
                    word(std::mem::offset_of!(QpDoorbellRecord, rq_producer)),
                    word(std::mem::offset_of!(QpDoorbellRecord, rq_consumer)),
                    cq,
                    s.qpn,
                )
            }
        });
        Self {
            qpn: s.qpn,
            pdn: s.pdn,
            ctx_id: s.ctx_id,
            state: AtomicU32::new(QpState::Reset as u32),
            ring: s.ring.dma_addr(),
            log_size: s.log_size,
            producer,
            engine_producer,
            consumer_out,
            handoff: s.handoff,
            published_consumer: AtomicU32::new(0),
            has_backlog: AtomicBool::new(false),
            signal_all: s.signal_all,
            max_ratio: s.max_ratio,
            cq: s.cq,
            rq,
            dest_qpn: AtomicU32::new(0),
            directory: s.directory,
            mrs: s.mrs,
            streams: s.streams,
            crypto_keys: s.crypto_keys,
            engine: s.engine,
            uar_wake_offset: s.uar_wake_offset,
            private: Mutex::new(Private::default()),
            gate: AccessGate::default(),
            doorbell_fault: AtomicBool::new(false),
            fatal_events: AtomicU32::new(0),
            async_events: s.async_events,
            user_handle: s.user_handle,
            pins: Mutex::new(Some([s.ring, s.doorbell])),
        }
    }

    fn load_state(&self) -> QpState {
        QpState::try_from(self.state.load(Ordering::Acquire)).unwrap_or(QpState::Err)
    }

    fn processes(state: QpState) -> bool {
        matches!(state, QpState::Rts | QpState::Err)
    }

    /// How many of `pending` posted WQEs `runner` may take. An adaptive QP's engine stops at
    /// `engine_producer`; one behind the consumer (the poster ran that work inline) means none,
    /// one beyond the producer is clamped to it.
    fn allowed(&self, runner: Runner, consumer: u32, pending: u32) -> u32 {
        if runner == Runner::Inline || !self.handoff {
            return pending;
        }
        let handed = self.engine_producer.load(Ordering::Acquire).wrapping_sub(consumer);
        if handed > 1 << self.log_size {
            0
        } else {
            handed.min(pending)
        }
    }

    /// Lock-free hint: might a pass by `runner` find work? It reads the doorbell record, user
    /// memory that stays mapped only until the QP is destroyed, so it looks through the gate
    /// that `quiesce` closes.
    pub fn has_work(&self, runner: Runner) -> bool {
        self.gate.peek(|| self.peek_for_work(runner)).unwrap_or(false)
    }

    /// `has_work` inside the gate.
    fn peek_for_work(&self, runner: Runner) -> bool {
        // Receive completions held back are work in RTR too: a QP that only receives has no
        // other pass to post them.
        if self.rq.as_ref().is_some_and(|rq| self.receives_need_service(rq)) {
            return true;
        }
        if !Self::processes(self.load_state()) {
            return false;
        }
        if self.has_backlog.load(Ordering::Acquire) {
            return true;
        }
        if self.doorbell_fault.load(Ordering::Acquire) {
            return false;
        }
        let consumer = self.published_consumer.load(Ordering::Acquire);
        let pending = self.producer.load(Ordering::Acquire).wrapping_sub(consumer);
        // An out-of-range producer is work too: the pass that sees it stops the QP.
        self.allowed(runner, consumer, pending) != 0 || pending > 1 << self.log_size
    }

    pub fn pdn(&self) -> u32 {
        self.pdn
    }

    /// Whether another thread holds the QP now (a pass, or a look at its pending WQEs): a
    /// pass would find it `Busy`.
    pub fn is_held(&self) -> bool {
        matches!(self.private.try_lock(), Err(std::sync::TryLockError::WouldBlock))
    }

    /// Whether a posted WQE the device has not run yet names compression context `number`.
    /// Waits for a pass in progress; reads the ring like a pass (copied out, never trusted):
    /// a producer index out of range counts as nothing pending.
    pub fn pending_names_stream(&self, number: u32) -> bool {
        self.pending_any(|wqe| crate::engines::compression::names_stream(wqe, number))
    }

    /// Whether a posted WQE not yet run names crypto key `number`.
    pub fn pending_names_crypto_key(&self, number: u32) -> bool {
        self.pending_any(|wqe| crate::engines::crypto::names_key(wqe, number))
    }

    /// Whether a posted WQE not yet run satisfies `test`.
    fn pending_any(&self, test: impl Fn(&Wqe) -> bool) -> bool {
        let private = self.private.lock().unwrap_or_else(|e| e.into_inner());
        if self.gate.is_closed() || !Self::processes(self.load_state()) {
            return false;
        }
        let pending = self.producer.load(Ordering::Acquire).wrapping_sub(private.consumer);
        if pending > 1 << self.log_size {
            return false;
        }
        let mask = (1u32 << self.log_size) - 1;
        (0..pending).any(|i| {
            let index = private.consumer.wrapping_add(i);
            // SAFETY: as in `run_one`: a slot of the pinned ring, read while we hold `private`
            // (destroy takes it before unpinning), copied out before it is looked at.
            let wqe = unsafe { read_wqe(self.ring.add((index & mask) as usize * WQE_SIZE)) };
            test(&wqe)
        })
    }

    /// Moves the QP to ERR from `from`; later WQEs complete with a flush status.
    fn enter_error(&self, from: QpState) {
        let _ = self.state.compare_exchange(from as u32, QpState::Err as u32, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Stops the QP on the device's own initiative (from `from`) and reports `event` to its
    /// context, once: a QP already stopped raises nothing more.
    fn stop(&self, from: QpState, event: AsyncEventType) {
        let stopped = self.state.compare_exchange(from as u32, QpState::Err as u32, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if stopped {
            self.fatal_events.fetch_add(1, Ordering::Relaxed);
            self.async_events.raise(event, self.user_handle, self.qpn);
        }
    }

    /// One pass by `runner`: execute up to `PASS_BUDGET` posted WQEs and complete them. In
    /// stages, as rxe splits requester and completer: hand over completions held back, decide
    /// how many WQEs to take (`window`), run them (`run_window`), then publish (`complete`).
    pub fn process(&self, runner: Runner) -> Progress {
        // An engine looks before taking the lock: an idle QP costs a few loads, and it does not
        // fight the inline poster for the lock of a QP with nothing new. The posting thread
        // just rang the doorbell: it goes straight to the lock.
        if runner == Runner::Engine && !self.has_work(runner) {
            return Progress::Idle;
        }
        let Ok(mut private) = self.private.try_lock() else { return Progress::Busy };
        if self.gate.is_closed() {
            return Progress::Idle;
        }
        let receives = self.service_receives();
        if !self.flush_backlog(&mut private) {
            return Progress::Blocked;
        }
        let take = match self.window(runner, &private) {
            Ok(take) => take,
            // The send queue is idle: the receive queue's outcome is the pass's.
            Err(Progress::Idle) => return receives,
            Err(progress) => return progress,
        };
        if runner == Runner::Engine {
            // The inline poster just read these slots on this very core.
            self.cq.prepare_slots(take as u32);
        }
        let mut cqes = std::mem::take(&mut private.pass_cqes);
        cqes.reserve(PASS_BUDGET);
        self.run_window(runner, take, &mut private, &mut cqes);
        self.complete(&mut private, &cqes);
        cqes.clear();
        private.pass_cqes = cqes;
        Progress::Worked(take)
    }

    /// Runs `take` WQEs from the consumer index, collecting their completions in `cqes`; an
    /// engine publishes them `ENGINE_PUBLISH_EVERY` at a time. The MRs and keys the WQEs name
    /// are looked up through views that hold each until the next publication (deregistration
    /// and key destroy wait for that), in buffers kept between passes.
    fn run_window(&self, runner: Runner, take: usize, private: &mut Private, cqes: &mut Vec<Cqe>) {
        let peer = private.peer.clone();
        let mut tables = Tables {
            mrs: self.mrs.view(std::mem::take(&mut private.held_mrs)),
            crypto_keys: self.crypto_keys.view(std::mem::take(&mut private.held_keys)),
        };
        let mut wqe = Wqe::default();
        for done in 1..=take {
            tables.mrs.yield_to_removals();
            let index = private.consumer;
            private.consumer = index.wrapping_add(1);
            if runner == Runner::Engine && done == 1 {
                for ahead in 1..PREFETCH_AHEAD.min(take as u32) {
                    self.prefetch_wqe(index.wrapping_add(ahead));
                }
            }
            if runner == Runner::Engine && done + (PREFETCH_AHEAD as usize) <= take {
                self.prefetch_wqe(index.wrapping_add(PREFETCH_AHEAD));
            }
            // What every WQE of the pass runs with (a SEND or RDMA adds its responder).
            let pass = ExecContext {
                qpn: self.qpn,
                peer: Peer::Itself,
                pdn: self.pdn,
                mrs: &tables.mrs,
                streams: &self.streams,
                crypto_keys: &tables.crypto_keys,
                max_ratio: self.max_ratio,
            };
            cqes.extend(self.run_one(index, &peer, &pass, &mut wqe));
            if runner == Runner::Engine && done % ENGINE_PUBLISH_EVERY == 0 && done < take {
                // As at the end: an application that sees a completion may destroy a key or
                // deregister an MR at once, and a held key reads as busy. The rest of the
                // window looks up again what it names.
                tables.mrs.let_go();
                tables.crypto_keys.let_go();
                self.complete(private, cqes);
                cqes.clear();
            }
        }
        // Before the last completions, for the same reason.
        private.held_mrs = tables.mrs.into_buffer();
        private.held_keys = tables.crypto_keys.into_buffer();
    }

    /// The receive queue's share of a pass: completions a full CQ held back, and in ERR the
    /// posted receives, flushed. `Worked` with how many completions it posted, `Blocked` when
    /// there were some to post and the CQ had no room (the engine then sleeps in short steps
    /// instead of spinning on work it cannot do), `Idle` when there was nothing to do.
    fn service_receives(&self) -> Progress {
        let Some(rq) = self.rq.as_ref().filter(|rq| self.receives_need_service(rq)) else { return Progress::Idle };
        let mut claim = rq.claim();
        let mut posted = claim.flush_backlog();
        if self.load_state() == QpState::Err {
            posted += claim.flush();
        }
        match posted {
            0 if self.receives_need_service(rq) => Progress::Blocked,
            0 => Progress::Idle,
            n => Progress::Worked(n),
        }
    }

    /// Lock-free hint: completions held back, or (in ERR) receives to flush.
    fn receives_need_service(&self, rq: &ReceiveQueue) -> bool {
        rq.has_backlog() || (self.load_state() == QpState::Err && rq.looks_posted())
    }

    /// Posts the completions a full CQ held back; false while it still cannot take them.
    fn flush_backlog(&self, private: &mut Private) -> bool {
        if private.backlog.is_empty() {
            return true;
        }
        if !self.cq.try_post(&private.backlog) {
            return false;
        }
        private.backlog.clear();
        self.has_backlog.store(false, Ordering::Release);
        true
    }

    /// How many posted WQEs this pass takes: the doorbell's producer index (never trusted: one
    /// behind the consumer or more than a ring ahead stops the QP), what `runner` may take, and
    /// the room the CQ has.
    fn window(&self, runner: Runner, private: &Private) -> Result<usize, Progress> {
        let state = self.load_state();
        if !Self::processes(state) || self.doorbell_fault.load(Ordering::Acquire) {
            return Err(Progress::Idle);
        }
        let producer = self.producer.load(Ordering::Acquire);
        let pending = producer.wrapping_sub(private.consumer);
        if pending == 0 {
            return Err(Progress::Idle);
        }
        if pending > 1 << self.log_size {
            // The producer index went backwards or ran more than a ring ahead: the ring can no
            // longer be trusted. Stop the QP, as hardware does on a doorbell it cannot honour.
            self.stop(state, AsyncEventType::QpFatal);
            self.doorbell_fault.store(true, Ordering::Release);
            return Err(Progress::Idle);
        }
        let allowed = self.allowed(runner, private.consumer, pending);
        if allowed == 0 {
            return Err(Progress::Idle);
        }
        let room = self.cq.free_slots() as usize;
        if room == 0 {
            return Err(Progress::Blocked);
        }
        Ok((allowed as usize).min(PASS_BUDGET).min(room))
    }

    /// Starts loading WQE `index` into this core's cache while the one before it runs: the
    /// application wrote it on another core, and fetching its two lines at the moment it is
    /// read stalled the engine for a large part of a small request.
    fn prefetch_wqe(&self, index: u32) {
        let mask = (1u32 << self.log_size) - 1;
        let slot = self.ring.wrapping_add((index & mask) as usize * WQE_SIZE);
        #[cfg(target_arch = "x86_64")]
        for line in (0..WQE_SIZE).step_by(64) {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: SSE, which the intrinsic needs, is part of x86_64's baseline. A prefetch
            // is a hint: it never faults and changes no load's result; the address lies inside
            // the pinned ring anyway (index masked to its size), as in `run_one`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.wrapping_add(line).cast::<i8>()) };
        }
    }

    /// Copies WQE `index` out of the ring and runs it (or flushes it, in ERR); its CQE, unless
    /// it succeeded unsignaled. A failure the operation calls fatal moves the QP to ERR; a
    /// data-dependent one (its status tells) leaves it in RTS.
    /// `wqe` is the pass's room for the copy.
    fn run_one(&self, index: u32, peer: &Option<Weak<SoftQp>>, pass: &ExecContext<'_>, wqe: &mut Wqe) -> Option<Cqe> {
        let mask = (1u32 << self.log_size) - 1;
        // SAFETY: the slot is inside the pinned ring (index masked to its size, the ring page
        // aligned, so the slot is 16-byte aligned), which stays mapped while we hold `private`
        // (destroy takes it). The WQE is copied out with volatile reads before any field is
        // looked at, so the application rewriting the slot cannot change what we validate.
        unsafe { read_wqe_into(self.ring.add((index & mask) as usize * WQE_SIZE), wqe) };
        let wqe = &*wqe;
        let mut cqe = Cqe {
            wr_id: wqe.ctrl.wr_id,
            qp_num: self.qpn,
            wqe_counter: index as u16,
            opcode: wqe.ctrl.opcode,
            flags: wqe.ctrl.flags & wqe_flags::SOLICITED,
            ..Cqe::default()
        };
        if self.load_state() == QpState::Err {
            cqe.status = CqeStatus::WorkRequestFlushed as u8;
            return Some(cqe);
        }
        // Only SEND and RDMA need their responder: the upgrade is skipped for the others,
        // which run with the pass's context as it is.
        let answered = [Opcode::Send, Opcode::RdmaWrite, Opcode::RdmaRead].iter().any(|&op| op as u8 == wqe.ctrl.opcode);
        let responder = match peer {
            Some(peer) if answered => Some(peer.upgrade()),
            _ => None,
        };
        let with_peer;
        let ctx = match &responder {
            None => pass,
            Some(found) => {
                let peer = match found {
                    Some(qp) => Peer::Connected(&**qp as &dyn Responder),
                    None => Peer::Gone,
                };
                with_peer = ExecContext { peer, ..*pass };
                &with_peer
            }
        };
        match execute(wqe, ctx) {
            Ok(done) => {
                // Any status but success is reported, signaled or not, like an error.
                let signaled = self.signal_all || wqe.ctrl.flags & wqe_flags::SIGNALED != 0;
                if done.status == CqeStatus::Success && !signaled {
                    return None;
                }
                cqe.status = done.status as u8;
                cqe.byte_len = done.byte_len;
                cqe.result = done.result;
                cqe.flags |= done.flags;
            }
            Err(failure) => {
                cqe.status = failure.status as u8;
                cqe.vendor_err = failure.vendor as u8;
                if failure.fatal {
                    self.enter_error(QpState::Rts);
                }
            }
        }
        Some(cqe)
    }

    /// Publishes the pass: the consumer index first, then the CQEs (held back if the CQ filled
    /// up meanwhile, and behind any held back before: a send queue completes in order).
    fn complete(&self, private: &mut Private, cqes: &[Cqe]) {
        // Every WQE below here ran to the end: the application may reuse the slots and the
        // memory they named (the ABI's promise for `sq_consumer`). Published before the CQEs,
        // so a poller that sees a CQE sees the index past it.
        self.consumer_out.store(private.consumer, Ordering::Release);
        self.published_consumer.store(private.consumer, Ordering::Release);
        // An engine publishes a pass in parts: a part the CQ had no room for waits in the
        // backlog, and a later part must not overtake it (a QP's completions keep their order).
        let posted = cqes.is_empty() || (self.flush_backlog(private) && self.cq.try_post(cqes));
        if !posted {
            private.backlog.extend_from_slice(cqes);
            self.has_backlog.store(true, Ordering::Release);
        }
    }
}

impl HwQp for SoftQp {
    fn qpn(&self) -> u32 {
        self.qpn
    }

    fn uar_wake_offset(&self) -> u32 {
        self.uar_wake_offset
    }

    fn state(&self) -> QpState {
        self.load_state()
    }

    fn transition(&self, from: QpState, to: QpState) -> bool {
        if to == QpState::Reset {
            // Reset rewinds the ring: wait out any pass in progress, then clear device state.
            let mut private = self.private.lock().unwrap_or_else(|e| e.into_inner());
            if self.state.compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return false;
            }
            *private = Private::default();
            self.dest_qpn.store(0, Ordering::Release);
            if let Some(rq) = &self.rq {
                rq.claim().rewind();
            }
            self.has_backlog.store(false, Ordering::Release);
            self.doorbell_fault.store(false, Ordering::Release);
            self.published_consumer.store(0, Ordering::Release);
            self.consumer_out.store(0, Ordering::Release);
            return true;
        }
        self.state.compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    fn connect(&self, dest_qpn: u32) -> Result<(), Errno> {
        // Any QP of the device, as on a fabric: what a SEND or RDMA may touch there is decided
        // by that QP's owner (its posted receives, its rkeys, and connecting it back to us).
        let peer = self.directory.read().unwrap_or_else(|e| e.into_inner()).get(&dest_qpn).cloned();
        let peer = peer.filter(|p| p.strong_count() > 0).ok_or(Errno::EINVAL)?;
        self.private.lock().unwrap_or_else(|e| e.into_inner()).peer = Some(peer);
        self.dest_qpn.store(dest_qpn, Ordering::Release);
        Ok(())
    }

    fn quiesce(&self) {
        self.gate.close();
        // Taking the lock waits for a pass in progress; passes after it see the gate closed.
        drop(self.private.lock().unwrap_or_else(|e| e.into_inner()));
        // The same for a SEND of another QP filling our receive queue.
        if let Some(rq) = &self.rq {
            drop(rq.claim());
        }
        // Events raised from here on name a destroyed QP too: nothing raises them any more
        // (passes and responders check the gate), and the unread ones go.
        self.async_events.purge(self.qpn);
        // Nothing reaches the ring or doorbell any more: unpin them now, not whenever the last
        // engine lets go of this object.
        drop(self.pins.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// The receiving side of a SEND: this QP is the connected QP of the sender.
impl Responder for SoftQp {
    fn deliver(
        &self,
        mrs: &MrView<'_>,
        from: Option<&Resolved<'_>>,
        len: u32,
        sender_qpn: u32,
        solicited: bool,
    ) -> Result<(), Failure> {
        // Only from the QP this one was connected to, as an RC responder drops the rest.
        let ready = |state| {
            !self.gate.is_closed()
                && matches!(state, QpState::Rtr | QpState::Rts)
                && self.dest_qpn.load(Ordering::Acquire) == sender_qpn
        };
        // A QP without a receive queue cannot take a SEND: the requester sees an invalid
        // request, as from an RC responder (if it answers at all).
        let Some(rq) = &self.rq else {
            // It stops with a request-error event, raised through the gate as in
            // `refuse_access`.
            let answered = self.gate.peek(|| {
                let state = self.load_state();
                ready(state).then(|| self.stop(state, AsyncEventType::QpRequestError)).is_some()
            });
            return Err(match answered {
                Some(true) => Failure { status: CqeStatus::RemoteInvalidRequest, vendor: VendorError::BadOpcode, fatal: true },
                _ => Failure::not_connected(),
            });
        };
        let mut claim = rq.claim();
        let state = self.load_state();
        // Checked under the lock that `quiesce` takes after closing the gate: the ring and the
        // CQ are still there.
        if !ready(state) {
            return Err(Failure::not_connected());
        }
        claim.flush_backlog();
        if !claim.cq_has_room() {
            return Err(Failure::receiver_not_ready());
        }
        match claim.posted() {
            Posted::OutOfRange => {
                // The receiver's doorbell cannot be trusted: it stops, as for its send queue.
                self.stop(state, AsyncEventType::QpFatal);
                return Err(Failure::not_connected());
            }
            Posted::Entries(0) => return Err(Failure::receiver_not_ready()),
            Posted::Entries(_) => {}
        }
        let recv = claim.front();
        let flags = if solicited { wqe_flags::SOLICITED } else { 0 };
        let mut cqe = Cqe { wr_id: recv.wr_id, result: u64::from(sender_qpn), flags, ..Cqe::default() };
        match self.place(mrs, &recv, from, len) {
            Ok(()) => {
                cqe.byte_len = len;
                claim.complete_front(cqe);
                Ok(())
            }
            Err((local, remote)) => {
                // Both sides complete with an error and stop, as an RC pair does on a NAK.
                cqe.status = local.status as u8;
                cqe.vendor_err = local.vendor as u8;
                claim.complete_front(cqe);
                self.enter_error(state);
                Err(remote)
            }
        }
    }

    fn refuse_access(&self) {
        // Through the gate: `quiesce` closes it before purging this QP's events, so none is
        // raised about a destroyed QP.
        self.gate.peek(|| {
            let state = self.load_state();
            if matches!(state, QpState::Rtr | QpState::Rts) {
                self.stop(state, AsyncEventType::QpAccessError);
            }
        });
    }

    fn rdma_pdn(&self, requester_qpn: u32) -> Result<u32, Failure> {
        let ready = matches!(self.load_state(), QpState::Rtr | QpState::Rts)
            && !self.gate.is_closed()
            && self.dest_qpn.load(Ordering::Acquire) == requester_qpn;
        match ready {
            true => Ok(self.pdn),
            false => Err(Failure::not_connected()),
        }
    }
}

impl SoftQp {
    /// Copies the message into receive `recv`: the receiver's failure and the sender's.
    fn place(&self, mrs: &MrView<'_>, recv: &RecvWqe, from: Option<&Resolved<'_>>, len: u32) -> Result<(), (Failure, Failure)> {
        let remote = |status, vendor| Failure { status, vendor, fatal: true };
        if recv.reserved != [0; 8] {
            let vendor = VendorError::ReservedNonzero;
            return Err((Failure::malformed(vendor), remote(CqeStatus::RemoteOperationError, vendor)));
        }
        if len > recv.sge.length {
            let vendor = VendorError::DestinationTooSmall;
            return Err((Failure::length(vendor), remote(CqeStatus::RemoteInvalidRequest, vendor)));
        }
        let Some(from) = from else { return Ok(()) };
        let sge = Sge { length: len, ..recv.sge };
        let to = mrs
            .resolve(&sge, self.pdn, Use::Write)
            .map_err(|vendor| (Failure::protection(vendor), remote(CqeStatus::RemoteOperationError, vendor)))?;
        // SAFETY: both ranges were resolved inside live, pinned MRs (the sender's in its PD,
        // this one in ours, bounds checked overflow-safe), each `len` bytes, and the pass's
        // view keeps both MRs registered until the copy ends. They may overlap (a QP
        // sending to itself from the region it receives into), hence `copy`.
        unsafe { std::ptr::copy(from.ptr, to.ptr, len as usize) };
        // A receive buffer reached by copies goes back now: its failure is the receiver's,
        // before either completion says the message arrived.
        drop(to);
        if !mrs.put_back() {
            let vendor = VendorError::PageFault;
            return Err((Failure::protection(vendor), remote(CqeStatus::RemoteOperationError, vendor)));
        }
        Ok(())
    }
}

/// The views of the device's tables a pass reads through.
struct Tables<'p> {
    mrs: MrView<'p>,
    crypto_keys: KeyView<'p>,
}

/// Copies the WQE at `slot` out of the ring, a machine word at a time with volatile loads:
/// the application may rewrite the slot meanwhile, and what the device checks must be what it
/// then uses. (A volatile load of the whole struct compiles to a load per field and per byte
/// of `params`: 24 ns per request against 2 ns for this, in `gcm_overhead`'s profile.)
///
/// # Safety
/// `slot` is 16-byte aligned and readable for `WQE_SIZE` bytes.
unsafe fn read_wqe(slot: *const u8) -> Wqe {
    let mut wqe = Wqe::default();
    // SAFETY: the caller's contract.
    unsafe { read_wqe_into(slot, &mut wqe) };
    wqe
}

/// [`read_wqe`] into `wqe`: a pass copies every WQE into one value of its own, so the copy is
/// neither moved nor spilled, and on x86_64 it is 16 bytes a load (a volatile `u128` or
/// `[u64; 2]` is two loads): 20 instructions a WQE against 52.
///
/// # Safety
/// `slot` is 16-byte aligned and readable for `WQE_SIZE` bytes.
unsafe fn read_wqe_into(slot: *const u8, wqe: &mut Wqe) {
    let out = wqe.as_mut_bytes().as_mut_ptr();
    #[cfg(target_arch = "x86_64")]
    for i in 0..WQE_SIZE / 16 {
        use std::arch::x86_64::{__m128i, _mm_storeu_si128};
        // SAFETY: chunk `i` lies inside the slot and is 16-byte aligned (caller's contract);
        // it goes to bytes `16 i ..` of `wqe`, which is `WQE_SIZE` long; SSE2 is part of
        // x86_64's baseline.
        unsafe { _mm_storeu_si128(out.add(i * 16).cast(), std::ptr::read_volatile(slot.cast::<__m128i>().add(i))) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..WQE_SIZE / 8 {
        // SAFETY: word `i` lies inside the slot (caller's contract) and inside `wqe`.
        unsafe { out.add(i * 8).cast::<u64>().write_unaligned(std::ptr::read_volatile(slot.cast::<u64>().add(i))) };
    }
}
