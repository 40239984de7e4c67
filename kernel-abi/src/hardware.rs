//! The services the driver needs from its host: the RDMA core (user memory) and the hardware
//! (the engines). `rxe-sim` implements both in user space; a kernel module would implement
//! them over `ib_umem_get` and the device's registers.

use alloc::sync::Arc;

use accelverbs_uapi::async_event::AsyncEventDesc;
use accelverbs_uapi::cmd::ExecPolicy;
use accelverbs_uapi::compress::{Format, StreamDirection};
use accelverbs_uapi::crypto::KeyAlgorithm;
use accelverbs_uapi::verbs::QpState;

use crate::Errno;

/// Reaches user memory by copying it, each access resolving the process's mapping as it is at
/// that moment (on-demand paging, and memory of another process): an address that is not
/// mapped with the access asked for is an error, never a crash.
pub trait UserCopy: Send + Sync + core::fmt::Debug {
    /// Reads `dst.len()` bytes at `addr`.
    fn read(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno>;
    /// Writes `src` at `addr`.
    fn write(&self, addr: u64, src: &[u8]) -> Result<(), Errno>;
    /// Faults `[addr, addr + len)` in ahead of use, for writing if `writable` (`advise_mr`).
    fn prefetch(&self, addr: u64, len: u64, writable: bool) -> Result<(), Errno>;
}

/// How the device reaches a range of user memory.
#[derive(Debug, Clone)]
pub enum Reach {
    /// At this address, for as long as the range's value lives: pinned memory.
    Direct(*mut u8),
    /// Through copies at access time: on-demand paging, or a process the device cannot map.
    Copy(Arc<dyn UserCopy>),
}

/// User memory the device may access for as long as this value lives (an `ib_umem`): pinned,
/// or reached on demand.
///
/// # Safety
/// Unless [`PinnedMemory::reach`] says `Copy`, the device dereferences
/// [`PinnedMemory::dma_addr`]: an implementation must return an address through which the
/// device may access `len()` bytes for as long as the value lives.
pub unsafe trait PinnedMemory: Send + Sync + core::fmt::Debug {
    /// User virtual address of the first byte.
    fn addr(&self) -> u64;
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Whether the range is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Address the device uses to reach the first byte (pinned memory).
    fn dma_addr(&self) -> *mut u8;
    /// How the device reaches the range: pinned memory directly.
    fn reach(&self) -> Reach {
        Reach::Direct(self.dma_addr())
    }
}

/// What the RDMA core provides to a driver.
pub trait RdmaCore: Send + Sync {
    /// Pins `len` bytes at `addr` (`ib_umem_get`), charging them to the caller's locked-memory
    /// limit. Fails with `ENOMEM` over the limit and `EFAULT` for unmapped memory.
    fn pin_user_memory(&self, addr: u64, len: u64, writable: bool) -> Result<Arc<dyn PinnedMemory>, Errno>;
    /// The memory of a region: pinned like [`RdmaCore::pin_user_memory`], or with `on_demand`
    /// reached through copies at access time and pinning nothing (`ib_umem_odp_get`; the range
    /// `[0, u64::MAX)` for an implicit region). The device may also reach pinned memory by
    /// copies when it cannot map it. Without on-demand paging, `EOPNOTSUPP`.
    fn map_region(&self, addr: u64, len: u64, writable: bool, on_demand: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        if on_demand {
            return Err(Errno::EOPNOTSUPP);
        }
        self.pin_user_memory(addr, len, writable)
    }
    /// Whether [`RdmaCore::map_region`] takes `on_demand`.
    fn on_demand_paging(&self) -> bool {
        false
    }
    /// Bytes currently pinned through this core.
    fn pinned_bytes(&self) -> u64;
}

/// An MR to install in the device's translation table.
#[derive(Debug)]
pub struct MrSetup {
    pub pdn: u32,
    pub memory: Arc<dyn PinnedMemory>,
    /// `verbs::access` bits, already validated.
    pub access: u32,
}

/// A completion queue to create on the device.
#[derive(Debug)]
pub struct CqSetup<C> {
    /// `2^log_size` CQEs, validated: page aligned, exactly the ring's size.
    pub ring: Arc<dyn PinnedMemory>,
    /// The `CqDoorbellRecord`.
    pub doorbell: Arc<dyn PinnedMemory>,
    pub log_size: u32,
    /// The user context that owns the CQ.
    pub ctx_id: u32,
    /// Returned in completion events.
    pub user_handle: u64,
    pub channel: Option<Arc<C>>,
}

/// A QP to create on the device: a send queue and, optionally, a receive queue.
#[derive(Debug)]
pub struct QpSetup<'a, Q, A> {
    pub pdn: u32,
    /// The user context that owns the QP.
    pub ctx_id: u32,
    /// Where the QP's asynchronous events go (its context's queue), and the handle they name
    /// it by.
    pub async_events: &'a Arc<A>,
    pub user_handle: u64,
    pub send_cq: &'a Arc<Q>,
    /// The receive queue, if any: `2^log_size` entries right after the send queue in `ring`,
    /// completing to `cq`.
    pub recv: Option<RecvQueueSetup<'a, Q>>,
    /// The send queue's entries, followed by the receive queue's.
    pub ring: Arc<dyn PinnedMemory>,
    pub doorbell: Arc<dyn PinnedMemory>,
    pub log_sq_size: u32,
    pub signal_all: bool,
    /// `CreateQpCmd::max_decompress_ratio`.
    pub max_decompress_ratio: u32,
    pub policy: ExecPolicy,
}

/// A QP's receive queue (already validated).
#[derive(Debug)]
pub struct RecvQueueSetup<'a, Q> {
    pub cq: &'a Arc<Q>,
    pub log_size: u32,
}

/// A compression context to create on the device (already validated).
#[derive(Debug, Clone, Copy)]
pub struct CompStreamSetup {
    pub pdn: u32,
    /// The user context that owns it.
    pub ctx_id: u32,
    pub format: Format,
    pub direction: StreamDirection,
    pub level: i8,
}

/// A crypto key to install on the device (already validated). The material is borrowed for
/// the call: the device copies it into memory it zeroes when the key goes.
#[derive(Clone, Copy)]
pub struct CryptoKeySetup<'a> {
    pub pdn: u32,
    /// The user context that owns it.
    pub ctx_id: u32,
    pub algorithm: KeyAlgorithm,
    /// The material, or with `wrapped_by` its RFC 5649 wrapping.
    pub material: &'a [u8],
    /// The number of the key-encryption key (of the same PD) that wrapped `material`; the
    /// device unwraps it and checks what comes out (`EBADMSG` if the wrapping does not
    /// authenticate, `EINVAL` if the key is not one `algorithm` takes).
    pub wrapped_by: Option<u32>,
}

impl core::fmt::Debug for CryptoKeySetup<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the material.
        f.debug_struct("CryptoKeySetup")
            .field("pdn", &self.pdn)
            .field("algorithm", &self.algorithm)
            .field("material_len", &self.material.len())
            .field("wrapped_by", &self.wrapped_by)
            .finish_non_exhaustive()
    }
}

/// The device's engines as the driver programs them.
pub trait Hardware: Send + Sync + Sized + 'static {
    type Cq: HwCq;
    type Qp: HwQp;
    type CompChannel: HwCompChannel;
    type AsyncEvents: HwAsyncEvents;

    /// Engine threads the device runs (0 = inline execution only).
    fn num_engines(&self) -> u32;
    /// Whether the device lets the posting/polling thread execute work (embedded devices).
    fn supports_inline(&self) -> bool;
    /// The opcodes the engines run: bit `n` for opcode `n` (`DeviceCaps::opcodes` and
    /// `opcodes_hi`).
    fn opcodes(&self) -> u128;
    /// The most data SGEs per direction any operation takes (`DeviceCaps::max_sge`).
    fn max_sge(&self) -> u32;
    /// The compression formats the engines run (`DeviceCaps::compress_formats`).
    fn compress_formats(&self) -> u32;
    /// mmap offset and length of the page of engine wake words.
    fn uar_mapping(&self) -> (u64, u64);

    /// Installs an MR; returns its key (lkey = rkey). `ENOMEM` when the table is full.
    fn mr_register(&self, setup: MrSetup) -> Result<u32, Errno>;
    /// Removes an MR and returns only once no engine can still be using it.
    fn mr_deregister(&self, key: u32);
    /// Faults in the pages `sge` names (for writing if `write`), which must lie in an
    /// on-demand region of PD `pdn`: `ENOENT` if no such region has its key, `EFAULT` if the
    /// range is outside it or not mapped. Devices without on-demand paging: `EOPNOTSUPP`.
    fn mr_prefetch(&self, _pdn: u32, _sge: &accelverbs_uapi::wqe::Sge, _write: bool) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn create_comp_channel(&self) -> Result<Self::CompChannel, Errno>;
    /// A user context's queue of asynchronous events.
    fn create_async_events(&self) -> Result<Self::AsyncEvents, Errno>;

    /// Makes a compression context; returns the number WQEs name it by.
    fn create_comp_stream(&self, setup: CompStreamSetup) -> Result<u32, Errno>;
    /// Whether a posted, not yet completed WQE names compression context `number`, or one is
    /// running on it.
    fn comp_stream_busy(&self, number: u32) -> bool;
    /// Removes a compression context: WQEs naming it afterwards fail as naming no context.
    fn destroy_comp_stream(&self, number: u32);
    /// Installs a crypto key; returns the number WQEs name it by.
    fn create_crypto_key(&self, setup: CryptoKeySetup<'_>) -> Result<u32, Errno>;
    /// Whether a posted, not yet completed WQE names key `number`, or one is running with it.
    fn crypto_key_busy(&self, number: u32) -> bool;
    /// Removes a key and zeroes its material: WQEs naming it afterwards fail as naming no key.
    fn destroy_crypto_key(&self, number: u32);
    fn create_cq(&self, setup: CqSetup<Self::CompChannel>) -> Result<Self::Cq, Errno>;
    fn create_qp(&self, setup: QpSetup<'_, Self::Cq, Self::AsyncEvents>) -> Result<Self::Qp, Errno>;

    /// Makes a created CQ reachable (by number) for the device.
    fn activate_cq(&self, cq: &Arc<Self::Cq>);
    /// Forgets a quiesced CQ.
    fn retire_cq(&self, cq: &Self::Cq);
    /// Hands a created QP to the engine that will serve it.
    fn activate_qp(&self, qp: &Arc<Self::Qp>);
    /// Takes a quiesced QP away from its engine.
    fn retire_qp(&self, qp: &Self::Qp);
}

/// A completion queue on the device.
pub trait HwCq: Send + Sync + 'static {
    fn cqn(&self) -> u32;
    /// Arms the CQ for one event; fires at once if completions are already waiting.
    fn request_notify(&self, solicited_only: bool);
    /// Completion events delivered so far.
    fn comp_events_reported(&self) -> u32;
    /// Stops all device access to the ring and doorbell; returns once none is in flight.
    fn quiesce(&self);
}

/// A send queue on the device.
pub trait HwQp: Send + Sync + 'static {
    fn qpn(&self) -> u32;
    /// Byte offset of the serving engine's wake word in the UAR mapping.
    fn uar_wake_offset(&self) -> u32;
    /// The state as the device sees it (the device moves a QP to ERR on a bad WQE).
    fn state(&self) -> QpState;
    /// Moves `from` → `to` if the device still sees `from`; false if it moved meanwhile.
    fn transition(&self, from: QpState, to: QpState) -> bool;
    /// Makes QP `dest_qpn` the responder to this QP's SENDs and RDMA (`IBV_QP_DEST_QPN`).
    /// `EINVAL` if no live QP of the device has that number.
    fn connect(&self, dest_qpn: u32) -> Result<(), Errno>;
    /// Stops all device access to the ring and doorbell, and drops the QP's unread
    /// asynchronous events; returns once no access is in flight.
    fn quiesce(&self);
}

/// A user context's asynchronous events: a pollable descriptor and a queue.
pub trait HwAsyncEvents: Send + Sync + 'static {
    /// The descriptor that is readable while events wait.
    fn fd(&self) -> i32;
    /// Dequeues the next event.
    fn next_event(&self) -> Option<AsyncEventDesc>;
}

/// A completion channel: a pollable descriptor and a queue of fired CQs.
pub trait HwCompChannel: Send + Sync + 'static {
    /// The descriptor that becomes readable when an event is queued.
    fn fd(&self) -> i32;
    /// Dequeues the next event's CQ user handle.
    fn next_event(&self) -> Option<u64>;
}
