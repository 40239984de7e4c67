//! A mock RDMA core and mock hardware: plain data that records what the driver asked of them.
//!
//! Nothing here touches memory at the addresses it is given; a pin is a record and a byte count.

use std::boxed::Box;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use accelverbs_uapi::async_event::AsyncEventDesc;
use accelverbs_uapi::cmd::ExecPolicy;
use accelverbs_uapi::verbs::QpState;

use accelverbs_uapi::crypto::KeyAlgorithm;

use crate::{
    CompStreamSetup, CqSetup, CryptoKeySetup, Errno, Hardware, HwAsyncEvents, HwCompChannel, HwCq, HwQp, MrSetup, PinnedMemory,
    QpSetup, RdmaCore,
};

/// Locks `m` even if a failed assertion poisoned it, so that drops running while a test
/// unwinds record their calls instead of aborting the test binary.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One successful `pin_user_memory` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub addr: u64,
    pub len: u64,
    pub writable: bool,
}

/// Makes pins fail: every pin (`addr: None`) or only those starting at `addr`.
#[derive(Debug, Clone, Copy)]
struct Failure {
    addr: Option<u64>,
    errno: Errno,
}

#[derive(Debug, Default)]
struct CoreState {
    pins: Mutex<Vec<Pin>>,
    pinned_bytes: AtomicU64,
    failure: Mutex<Option<Failure>>,
    /// Regions mapped on demand so far (nothing pinned for them).
    on_demand: Mutex<Vec<Pin>>,
    pages_on_demand: core::sync::atomic::AtomicBool,
}

/// The RDMA core. A handle: the test keeps one clone, the driver owns another.
#[derive(Debug, Clone, Default)]
pub struct MockCore(Arc<CoreState>);

impl MockCore {
    /// Every later pin fails with `errno`.
    pub fn fail_pins(&self, errno: Errno) {
        *lock(&self.0.failure) = Some(Failure { addr: None, errno });
    }

    /// Later pins starting at `addr` fail with `errno`; others succeed.
    pub fn fail_pin_at(&self, addr: u64, errno: Errno) {
        *lock(&self.0.failure) = Some(Failure { addr: Some(addr), errno });
    }

    /// From now on, regions may be mapped on demand.
    pub fn page_on_demand(&self) {
        self.0.pages_on_demand.store(true, Ordering::Relaxed);
    }

    /// Every region mapped on demand so far.
    pub fn on_demand(&self) -> Vec<Pin> {
        lock(&self.0.on_demand).clone()
    }

    /// Every successful pin so far, in order, including those since released.
    pub fn pins(&self) -> Vec<Pin> {
        lock(&self.0.pins).clone()
    }
}

impl RdmaCore for MockCore {
    fn pin_user_memory(&self, addr: u64, len: u64, writable: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        if let Some(f) = *lock(&self.0.failure) {
            if f.addr.is_none() || f.addr == Some(addr) {
                return Err(f.errno);
            }
        }
        let pin = Pin { addr, len, writable };
        lock(&self.0.pins).push(pin);
        self.0.pinned_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(Arc::new(MockPin { pin, core: Arc::clone(&self.0) }))
    }

    fn pinned_bytes(&self) -> u64 {
        self.0.pinned_bytes.load(Ordering::Relaxed)
    }

    fn map_region(&self, addr: u64, len: u64, writable: bool, on_demand: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        if !on_demand {
            return self.pin_user_memory(addr, len, writable);
        }
        let pin = Pin { addr, len, writable };
        lock(&self.0.on_demand).push(pin);
        // Nothing pinned: a region that gives back nothing when dropped.
        Ok(Arc::new(MockPin { pin: Pin { len: 0, ..pin }, core: Arc::clone(&self.0) }))
    }

    fn on_demand_paging(&self) -> bool {
        self.0.pages_on_demand.load(Ordering::Relaxed)
    }
}

/// Pinned memory: gives its bytes back to the core when dropped.
#[derive(Debug)]
struct MockPin {
    pin: Pin,
    core: Arc<CoreState>,
}

// SAFETY: nothing in the driver's tests dereferences the address; no device runs.
unsafe impl PinnedMemory for MockPin {
    fn addr(&self) -> u64 {
        self.pin.addr
    }
    fn len(&self) -> u64 {
        self.pin.len
    }
    fn dma_addr(&self) -> *mut u8 {
        core::ptr::null_mut()
    }
}

impl Drop for MockPin {
    fn drop(&mut self) {
        self.core.pinned_bytes.fetch_sub(self.pin.len, Ordering::Relaxed);
    }
}

/// A call the driver made on the hardware or on one of its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    MrRegister(u32),
    MrDeregister(u32),
    ActivateCq(u32),
    QuiesceCq(u32),
    RetireCq(u32),
    ActivateQp(u32),
    QuiesceQp(u32),
    RetireQp(u32),
    CreateStream(u32),
    DestroyStream(u32),
}

/// What the hardware's translation table holds for one MR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledMr {
    pub pdn: u32,
    pub access: u32,
    pub addr: u64,
    pub len: u64,
}

type Observer = Box<dyn Fn(Event) + Send + Sync>;

/// The hardware's call log, shared with its queues (which see `quiesce`).
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    observer: Mutex<Option<Observer>>,
}

impl Recorder {
    fn record(&self, event: Event) {
        lock(&self.events).push(event);
        if let Some(observe) = &*lock(&self.observer) {
            observe(event);
        }
    }
}

/// An installed key: number, algorithm, material, busy.
pub type MockKey = (u32, KeyAlgorithm, Vec<u8>, bool);

/// The hardware: numbers objects from 1 and keeps MRs in a list.
pub struct MockHardware {
    engines: u32,
    inline: bool,
    recorder: Arc<Recorder>,
    mrs: Mutex<Vec<(u32, MrSetup)>>,
    /// Compression contexts the device holds, and whether the device reports each busy.
    streams: Mutex<Vec<(u32, CompStreamSetup, bool)>>,
    pub keys: Mutex<Vec<MockKey>>,
    next_id: AtomicU32,
}

impl MockHardware {
    pub fn new(engines: u32, inline: bool) -> Self {
        Self {
            engines,
            inline,
            recorder: Arc::default(),
            mrs: Mutex::default(),
            streams: Mutex::default(),
            keys: Mutex::default(),
            next_id: AtomicU32::new(1),
        }
    }

    /// The compression contexts installed, as (number, setup).
    pub fn streams(&self) -> Vec<(u32, CompStreamSetup)> {
        lock(&self.streams).iter().map(|&(n, s, _)| (n, s)).collect()
    }

    /// Makes the device report stream `number` as named by queued work (or not).
    pub fn set_stream_busy(&self, number: u32, busy: bool) {
        for stream in lock(&self.streams).iter_mut().filter(|s| s.0 == number) {
            stream.2 = busy;
        }
    }

    /// Every call so far, in order.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.recorder.events).clone()
    }

    /// Runs `f` at each later call, as it happens (to look at the driver's state at that moment).
    pub fn on_event(&self, f: impl Fn(Event) + Send + Sync + 'static) {
        *lock(&self.recorder.observer) = Some(Box::new(f));
    }

    /// The installed MR with `key`, if any.
    pub fn mr(&self, key: u32) -> Option<InstalledMr> {
        let mrs = lock(&self.mrs);
        let (_, s) = mrs.iter().find(|(k, _)| *k == key)?;
        Some(InstalledMr { pdn: s.pdn, access: s.access, addr: s.memory.addr(), len: s.memory.len() })
    }

    fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

impl Hardware for MockHardware {
    type Cq = MockCq;
    type Qp = MockQp;
    type CompChannel = MockCompChannel;
    type AsyncEvents = MockAsyncEvents;

    fn num_engines(&self) -> u32 {
        self.engines
    }
    fn supports_inline(&self) -> bool {
        self.inline
    }
    fn opcodes(&self) -> u128 {
        0b11
    }
    fn max_sge(&self) -> u32 {
        1
    }
    fn compress_formats(&self) -> u32 {
        0
    }
    fn uar_mapping(&self) -> (u64, u64) {
        (0, 4096)
    }

    fn mr_register(&self, setup: MrSetup) -> Result<u32, Errno> {
        let key = self.next_id();
        lock(&self.mrs).push((key, setup));
        self.recorder.record(Event::MrRegister(key));
        Ok(key)
    }

    fn mr_deregister(&self, key: u32) {
        lock(&self.mrs).retain(|(k, _)| *k != key);
        self.recorder.record(Event::MrDeregister(key));
    }

    fn create_async_events(&self) -> Result<MockAsyncEvents, Errno> {
        Ok(MockAsyncEvents)
    }

    fn create_comp_channel(&self) -> Result<MockCompChannel, Errno> {
        Ok(MockCompChannel)
    }

    fn create_comp_stream(&self, setup: CompStreamSetup) -> Result<u32, Errno> {
        let number = self.next_id();
        lock(&self.streams).push((number, setup, false));
        self.recorder.record(Event::CreateStream(number));
        Ok(number)
    }

    fn comp_stream_busy(&self, number: u32) -> bool {
        lock(&self.streams).iter().any(|s| s.0 == number && s.2)
    }

    fn destroy_comp_stream(&self, number: u32) {
        lock(&self.streams).retain(|s| s.0 != number);
        self.recorder.record(Event::DestroyStream(number));
    }

    fn create_crypto_key(&self, setup: CryptoKeySetup<'_>) -> Result<u32, Errno> {
        let number = self.next_id();
        lock(&self.keys).push((number, setup.algorithm, setup.material.to_vec(), false));
        Ok(number)
    }

    fn crypto_key_busy(&self, number: u32) -> bool {
        lock(&self.keys).iter().any(|k| k.0 == number && k.3)
    }

    fn destroy_crypto_key(&self, number: u32) {
        lock(&self.keys).retain(|k| k.0 != number);
    }

    fn create_cq(&self, setup: CqSetup<MockCompChannel>) -> Result<MockCq, Errno> {
        Ok(MockCq { cqn: self.next_id(), setup, recorder: Arc::clone(&self.recorder) })
    }

    fn create_qp(&self, setup: QpSetup<'_, MockCq, MockAsyncEvents>) -> Result<MockQp, Errno> {
        Ok(MockQp {
            qpn: self.next_id(),
            policy: setup.policy,
            send_cq: Arc::clone(setup.send_cq),
            _ring: setup.ring,
            _doorbell: setup.doorbell,
            state: AtomicU32::new(QpState::Reset as u32),
            fail_next_transition: AtomicBool::new(false),
            dest_qpn: AtomicU32::new(0),
            recorder: Arc::clone(&self.recorder),
        })
    }

    fn activate_cq(&self, cq: &Arc<MockCq>) {
        self.recorder.record(Event::ActivateCq(cq.cqn));
    }
    fn retire_cq(&self, cq: &MockCq) {
        self.recorder.record(Event::RetireCq(cq.cqn));
    }
    fn activate_qp(&self, qp: &Arc<MockQp>) {
        self.recorder.record(Event::ActivateQp(qp.qpn));
    }
    fn retire_qp(&self, qp: &MockQp) {
        self.recorder.record(Event::RetireQp(qp.qpn));
    }
}

/// A CQ: holds what the driver set up, including its pins.
pub struct MockCq {
    cqn: u32,
    pub setup: CqSetup<MockCompChannel>,
    recorder: Arc<Recorder>,
}

impl HwCq for MockCq {
    fn cqn(&self) -> u32 {
        self.cqn
    }
    fn request_notify(&self, _solicited_only: bool) {}
    fn comp_events_reported(&self) -> u32 {
        0
    }
    fn quiesce(&self) {
        self.recorder.record(Event::QuiesceCq(self.cqn));
    }
}

/// A QP: holds its pins and send CQ as a device would, and its state in an atomic.
pub struct MockQp {
    qpn: u32,
    pub policy: ExecPolicy,
    pub send_cq: Arc<MockCq>,
    _ring: Arc<dyn PinnedMemory>,
    _doorbell: Arc<dyn PinnedMemory>,
    state: AtomicU32,
    fail_next_transition: AtomicBool,
    dest_qpn: AtomicU32,
    recorder: Arc<Recorder>,
}

impl MockQp {
    /// The QP number given to the last `connect` (0: none).
    pub fn connected_to(&self) -> u32 {
        self.dest_qpn.load(Ordering::Relaxed)
    }

    /// The next `transition` finds that the device moved the QP to ERR just before it.
    pub fn error_before_next_transition(&self) {
        self.fail_next_transition.store(true, Ordering::Relaxed);
    }
}

impl HwQp for MockQp {
    fn qpn(&self) -> u32 {
        self.qpn
    }
    fn uar_wake_offset(&self) -> u32 {
        0
    }
    fn state(&self) -> QpState {
        QpState::try_from(self.state.load(Ordering::Acquire)).unwrap()
    }
    fn transition(&self, from: QpState, to: QpState) -> bool {
        if self.fail_next_transition.swap(false, Ordering::Relaxed) {
            self.state.store(QpState::Err as u32, Ordering::Release);
        }
        self.state.compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
    fn connect(&self, dest_qpn: u32) -> Result<(), Errno> {
        // The mock has no QP directory: any number but 0 is taken as a QP of this context.
        if dest_qpn == 0 {
            return Err(Errno::EINVAL);
        }
        self.dest_qpn.store(dest_qpn, Ordering::Relaxed);
        Ok(())
    }
    fn quiesce(&self) {
        self.recorder.record(Event::QuiesceQp(self.qpn));
    }
}

/// An async event queue that never has an event.
pub struct MockAsyncEvents;

impl HwAsyncEvents for MockAsyncEvents {
    fn fd(&self) -> i32 {
        -1
    }
    fn next_event(&self) -> Option<AsyncEventDesc> {
        None
    }
}

/// A completion channel that never has an event.
pub struct MockCompChannel;

impl HwCompChannel for MockCompChannel {
    fn fd(&self) -> i32 {
        -1
    }
    fn next_event(&self) -> Option<u64> {
        None
    }
}
