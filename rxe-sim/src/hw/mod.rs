//! The soft device's "hardware": MR table, CQs, QPs, completion channels and engines, behind
//! the `Hardware` trait the driver programs.

pub mod async_events;
pub mod comp_channel;
pub mod cq;
pub mod crypto_key_table;
pub mod event_queue;
pub mod gate;
pub mod gcm_key;
#[rustfmt::skip]
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]
mod ipsec_mb_sys;
mod key_slots;
pub mod mr_table;
pub mod notify;
pub mod qp;
pub mod receive_queue;
pub mod shared;
pub mod stream_table;
pub mod xts_key;

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use accelverbs_kernel_abi::{CompStreamSetup, CqSetup, CryptoKeySetup, Errno, Hardware, HwCq, HwQp, Limits, MrSetup, QpSetup};
use accelverbs_uapi::cmd::ExecPolicy;
use accelverbs_uapi::compress::Format;
use accelverbs_uapi::doorbell::EngineWakeWord;

use crate::engines::Engines;
use async_events::SoftAsyncEvents;
use comp_channel::SoftCompChannel;
use cq::SoftCq;
use crypto_key_table::CryptoKeyTable;
use mr_table::MrTable;
use qp::{QpDirectory, SoftQp, SoftQpSetup};
use shared::SharedU32;
use stream_table::StreamTable;

/// The page of engine wake words the provider maps (the device's "UAR"). It is a sealed memfd,
/// so a process outside this one (a daemon's client) can map the same page.
#[derive(Debug)]
pub struct UarPage {
    base: *mut u8,
    memfd: OwnedFd,
}

/// Bytes in the UAR mapping.
pub const UAR_SIZE: usize = 4096;
/// Most engines one UAR page has wake words for.
pub const MAX_ENGINES: usize = UAR_SIZE / std::mem::size_of::<EngineWakeWord>();

// SAFETY: the page is a mapping owned by this value; all access to it is atomic.
unsafe impl Send for UarPage {}
// SAFETY: as above.
unsafe impl Sync for UarPage {}

impl UarPage {
    fn new() -> Self {
        let memfd = crate::daemon::sealed_memfd(c"accelsim-uar", UAR_SIZE)
            .unwrap_or_else(|e| panic!("creating the UAR page failed: {e}"));
        // SAFETY: maps the whole of a memfd we own, which its seals keep this size; no existing
        // memory is affected.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), UAR_SIZE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, memfd.as_raw_fd(), 0)
        };
        assert!(base != libc::MAP_FAILED, "mmap of the UAR page failed: {}", std::io::Error::last_os_error());
        Self { base: base.cast(), memfd }
    }

    /// The memfd behind the page, for a process outside this one to map.
    pub fn memfd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    fn wake_word(&self, engine: usize) -> SharedU32 {
        assert!(engine < MAX_ENGINES);
        // SAFETY: `engine` indexes a 64-byte aligned EngineWakeWord inside the page, which
        // lives as long as the device (engines are stopped before it is unmapped).
        unsafe { SharedU32::new(self.base.add(engine * std::mem::size_of::<EngineWakeWord>())) }
    }
}

impl Drop for UarPage {
    fn drop(&mut self) {
        // SAFETY: unmaps the page mapped in `new`; nothing references it any more.
        unsafe { libc::munmap(self.base.cast(), UAR_SIZE) };
    }
}

/// The soft device's hardware.
#[derive(Debug)]
pub struct SoftHardware {
    pub(crate) mrs: Arc<MrTable>,
    pub(crate) streams: Arc<StreamTable>,
    pub(crate) crypto_keys: Arc<CryptoKeyTable>,
    // Field order matters for drop: engines stop before the UAR page goes away.
    pub(crate) engines: Engines,
    pub(crate) uar: UarPage,
    next_cqn: AtomicU32,
    next_qpn: AtomicU32,
    next_engine: AtomicUsize,
    inline_allowed: bool,
    pub(crate) qps: Arc<QpDirectory>,
    pub(crate) cqs: RwLock<HashMap<u32, Weak<SoftCq>>>,
}

impl SoftHardware {
    pub fn new(num_engines: usize, limits: &Limits, spin: Duration, inline_allowed: bool) -> Self {
        let num_engines = num_engines.min(MAX_ENGINES);
        // With no engine thread, inline execution is the only way work can run.
        let inline_allowed = inline_allowed || num_engines == 0;
        let uar = UarPage::new();
        let engines = Engines::start((0..num_engines).map(|i| uar.wake_word(i)).collect(), spin);
        Self {
            mrs: Arc::new(MrTable::new(limits.max_mr)),
            streams: Arc::new(StreamTable::new(limits.max_comp_streams)),
            crypto_keys: Arc::new(CryptoKeyTable::new(limits.max_crypto_keys)),
            engines,
            uar,
            next_cqn: AtomicU32::new(1),
            next_qpn: AtomicU32::new(1),
            next_engine: AtomicUsize::new(0),
            inline_allowed,
            qps: Arc::new(RwLock::new(HashMap::new())),
            cqs: RwLock::new(HashMap::new()),
        }
    }

    pub fn qp(&self, qpn: u32) -> Option<Arc<SoftQp>> {
        self.qps.read().unwrap_or_else(|e| e.into_inner()).get(&qpn).and_then(Weak::upgrade)
    }

    pub fn cq(&self, cqn: u32) -> Option<Arc<SoftCq>> {
        self.cqs.read().unwrap_or_else(|e| e.into_inner()).get(&cqn).and_then(Weak::upgrade)
    }
}

impl Hardware for SoftHardware {
    type Cq = SoftCq;
    type Qp = SoftQp;
    type CompChannel = SoftCompChannel;
    type AsyncEvents = SoftAsyncEvents;

    fn num_engines(&self) -> u32 {
        self.engines.len() as u32
    }

    fn opcodes(&self) -> u128 {
        crate::engines::ops::opcode_mask()
    }

    fn max_sge(&self) -> u32 {
        crate::engines::ops::max_sge()
    }

    fn compress_formats(&self) -> u32 {
        Format::ALL.iter().fold(0, |mask, &f| mask | 1 << f as u8)
    }

    fn supports_inline(&self) -> bool {
        self.inline_allowed
    }

    fn uar_mapping(&self) -> (u64, u64) {
        (0, UAR_SIZE as u64)
    }

    fn mr_register(&self, setup: MrSetup) -> Result<u32, Errno> {
        self.mrs.register(setup)
    }

    fn mr_deregister(&self, key: u32) {
        self.mrs.deregister(key)
    }

    fn mr_prefetch(&self, pdn: u32, sge: &accelverbs_uapi::wqe::Sge, write: bool) -> Result<(), Errno> {
        self.mrs.prefetch(pdn, sge, write)
    }

    fn create_comp_channel(&self) -> Result<SoftCompChannel, Errno> {
        SoftCompChannel::new()
    }

    fn create_async_events(&self) -> Result<SoftAsyncEvents, Errno> {
        SoftAsyncEvents::new()
    }

    fn create_comp_stream(&self, setup: CompStreamSetup) -> Result<u32, Errno> {
        self.streams.create(setup)
    }

    fn comp_stream_busy(&self, number: u32) -> bool {
        let Some(pdn) = self.streams.pdn(number) else { return false };
        if self.streams.running(number) {
            return true;
        }
        // Queued work naming it can only sit on QPs of its PD (others would be refused).
        let qps: Vec<_> = self.qps.read().unwrap_or_else(|e| e.into_inner()).values().filter_map(Weak::upgrade).collect();
        qps.iter().filter(|qp| qp.pdn() == pdn).any(|qp| qp.pending_names_stream(number))
    }

    fn destroy_comp_stream(&self, number: u32) {
        self.streams.destroy(number)
    }

    fn create_crypto_key(&self, setup: CryptoKeySetup<'_>) -> Result<u32, Errno> {
        self.crypto_keys.create(setup)
    }

    fn crypto_key_busy(&self, number: u32) -> bool {
        let Some(pdn) = self.crypto_keys.pdn(number) else { return false };
        // A pass that used it holds it until the pass ends.
        if self.crypto_keys.in_use(number) {
            return true;
        }
        // Queued work naming it can only sit on QPs of its PD (others would be refused).
        let qps: Vec<_> = self.qps.read().unwrap_or_else(|e| e.into_inner()).values().filter_map(Weak::upgrade).collect();
        qps.iter().any(|qp| qp.pdn() == pdn && qp.pending_names_crypto_key(number))
    }

    fn destroy_crypto_key(&self, number: u32) {
        self.crypto_keys.destroy(number)
    }

    fn create_cq(&self, setup: CqSetup<SoftCompChannel>) -> Result<SoftCq, Errno> {
        let cqn = self.next_cqn.fetch_add(1, Ordering::Relaxed);
        Ok(SoftCq::new(cqn, setup.ctx_id, setup.ring, setup.doorbell, setup.log_size, setup.user_handle, setup.channel))
    }

    fn create_qp(&self, setup: QpSetup<'_, SoftCq, SoftAsyncEvents>) -> Result<SoftQp, Errno> {
        let qpn = self.next_qpn.fetch_add(1, Ordering::Relaxed);
        let engine = match setup.policy {
            ExecPolicy::Inline => None,
            ExecPolicy::Threads | ExecPolicy::Adaptive if self.engines.is_empty() => None,
            ExecPolicy::Threads | ExecPolicy::Adaptive => {
                Some(self.next_engine.fetch_add(1, Ordering::Relaxed) % self.engines.len())
            }
        };
        let uar_wake_offset = (engine.unwrap_or(0) * std::mem::size_of::<EngineWakeWord>()) as u32;
        Ok(SoftQp::new(SoftQpSetup {
            qpn,
            pdn: setup.pdn,
            ctx_id: setup.ctx_id,
            ring: setup.ring,
            doorbell: setup.doorbell,
            log_size: setup.log_sq_size,
            signal_all: setup.signal_all,
            max_ratio: setup.max_decompress_ratio,
            handoff: setup.policy == ExecPolicy::Adaptive,
            cq: Arc::clone(setup.send_cq),
            recv: setup.recv.map(|r| (Arc::clone(r.cq), r.log_size)),
            async_events: Arc::clone(setup.async_events),
            user_handle: setup.user_handle,
            directory: Arc::clone(&self.qps),
            mrs: Arc::clone(&self.mrs),
            streams: Arc::clone(&self.streams),
            crypto_keys: Arc::clone(&self.crypto_keys),
            engine,
            uar_wake_offset,
        }))
    }

    fn activate_cq(&self, cq: &Arc<SoftCq>) {
        self.cqs.write().unwrap_or_else(|e| e.into_inner()).insert(cq.cqn(), Arc::downgrade(cq));
    }

    fn retire_cq(&self, cq: &SoftCq) {
        self.cqs.write().unwrap_or_else(|e| e.into_inner()).remove(&cq.cqn());
    }

    fn activate_qp(&self, qp: &Arc<SoftQp>) {
        self.qps.write().unwrap_or_else(|e| e.into_inner()).insert(qp.qpn(), Arc::downgrade(qp));
        qp.cq.qps.write().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(qp));
        // Inline execution drives a CQ's QPs when it is polled: a receive CQ of its own must
        // reach the QP too (to flush receives in ERR, to post completions held back).
        if let Some(rq) = qp.rq.as_ref().filter(|rq| !Arc::ptr_eq(&rq.cq, &qp.cq)) {
            rq.cq.qps.write().unwrap_or_else(|e| e.into_inner()).push(Arc::clone(qp));
        }
        if let Some(e) = qp.engine {
            self.engines.get(e).attach(Arc::clone(qp));
        }
    }

    fn retire_qp(&self, qp: &SoftQp) {
        if let Some(e) = qp.engine {
            self.engines.get(e).detach(qp.qpn());
        }
        qp.cq.qps.write().unwrap_or_else(|e| e.into_inner()).retain(|q| q.qpn() != qp.qpn());
        if let Some(rq) = &qp.rq {
            rq.cq.qps.write().unwrap_or_else(|e| e.into_inner()).retain(|q| q.qpn() != qp.qpn());
        }
        self.qps.write().unwrap_or_else(|e| e.into_inner()).remove(&qp.qpn());
    }
}
