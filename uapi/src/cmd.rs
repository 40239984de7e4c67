//! Driver-specific request/response data: the UHW_IN/UHW_OUT payloads of standard methods and
//! the responses of driver methods.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

wire_enum! {
    /// Who runs a context's work requests (GET_CONTEXT UHW_IN `exec_policy`).
    pub enum ExecPolicy: u32 {
        /// Engine threads consume the rings; posting only writes memory.
        Threads = 0,
        /// The thread that posts or polls runs the work itself; no engine thread is involved.
        Inline = 1,
        /// Batches up to `inline_threshold` bytes run inline; larger ones go to engine threads.
        Adaptive = 2,
    }
}

/// UHW_IN of `UVERBS_METHOD_GET_CONTEXT`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetContextCmd {
    /// `ExecPolicy`.
    pub exec_policy: u32,
    /// For `Adaptive`: a batch moving at most this many bytes runs inline.
    pub inline_threshold: u32,
}
assert_layout!(GetContextCmd, 8; exec_policy @ 0, inline_threshold @ 4);

/// UHW_OUT of `UVERBS_METHOD_GET_CONTEXT`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetContextResp {
    /// The policy in force (the device may refuse inline execution and answer `Threads`).
    pub exec_policy: u32,
    pub inline_threshold: u32,
    /// Bytes per send-queue entry (`wqe::WQE_SIZE`).
    pub wqe_size: u32,
    /// Bytes per completion-queue entry (`cqe::CQE_SIZE`).
    pub cqe_size: u32,
    /// mmap offset and length of the page of engine wake words ("UAR").
    pub uar_mmap_offset: u64,
    pub uar_mmap_length: u64,
}
assert_layout!(GetContextResp, 32; exec_policy @ 0, wqe_size @ 8, cqe_size @ 12,
    uar_mmap_offset @ 16, uar_mmap_length @ 24);

/// UHW_IN of `UVERBS_METHOD_CQ_CREATE`: where the provider put the ring and doorbell record.
/// Both are pinned by the driver for the CQ's lifetime.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateCqCmd {
    /// Start of `2^log_size` CQEs, page aligned.
    pub ring_addr: u64,
    /// A `doorbell::CqDoorbellRecord`, 64-byte aligned.
    pub db_addr: u64,
    pub log_size: u32,
    pub reserved: u32,
}
assert_layout!(CreateCqCmd, 24; ring_addr @ 0, db_addr @ 8, log_size @ 16, reserved @ 20);

/// UHW_OUT of `UVERBS_METHOD_CQ_CREATE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateCqResp {
    pub cqn: u32,
    pub reserved: u32,
}
assert_layout!(CreateCqResp, 8; cqn @ 0);

/// `CreateQpCmd::flags` bits.
pub mod qp_flags {
    /// Every WQE produces a CQE, whatever its SIGNALED flag (`sq_sig_all`).
    pub const SIGNAL_ALL: u32 = 1 << 0;
}

/// UHW_IN of `UVERBS_METHOD_QP_CREATE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateQpCmd {
    /// Start of `2^log_sq_size` WQEs, page aligned.
    pub sq_addr: u64,
    /// A `doorbell::QpDoorbellRecord`, 64-byte aligned.
    pub db_addr: u64,
    pub log_sq_size: u32,
    /// `qp_flags::*`.
    pub flags: u32,
    /// Decompression bomb guard: the most bytes a DECOMPRESS on this QP may produce per byte
    /// of its input (its completion says `OutputLimit` beyond). 0: only the destination's size
    /// bounds it.
    pub max_decompress_ratio: u32,
    /// With `QpCap::max_recv_wr > 0`: the receive queue holds `2^log_rq_size` entries of
    /// `recv::RECV_WQE_SIZE` bytes, starting right after the send queue
    /// (`sq_addr + 2^log_sq_size * WQE_SIZE`). Zero without a receive queue.
    pub log_rq_size: u32,
}
assert_layout!(CreateQpCmd, 32; sq_addr @ 0, db_addr @ 8, log_sq_size @ 16, flags @ 20,
    max_decompress_ratio @ 24, log_rq_size @ 28);

/// UHW_OUT of `UVERBS_METHOD_QP_CREATE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateQpResp {
    pub qpn: u32,
    /// Byte offset, inside the UAR mapping, of the wake word of the engine serving this QP.
    pub uar_wake_offset: u32,
}
assert_layout!(CreateQpResp, 8; qpn @ 0, uar_wake_offset @ 4);

/// Response of the driver method QUERY_RESOURCES: live objects on the whole device.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ResourceCounts {
    pub contexts: u32,
    pub pds: u32,
    pub mrs: u32,
    pub cqs: u32,
    pub qps: u32,
    pub comp_channels: u32,
    /// Compression contexts (streams).
    pub comp_streams: u32,
    /// Crypto keys.
    pub crypto_keys: u32,
    /// Bytes of user memory currently pinned by MRs and rings.
    pub pinned_bytes: u64,
}
assert_layout!(ResourceCounts, 40; contexts @ 0, comp_channels @ 20, comp_streams @ 24, crypto_keys @ 28, pinned_bytes @ 32);

/// One open file of the device in QUERY_FILES: who opened it, what it holds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FileStats {
    /// The process behind the file (`SO_PEERCRED` of a daemon client).
    pub pid: u32,
    pub uid: u32,
    /// Its live objects (`contexts` is 0 or 1) and the bytes it has pinned.
    pub objects: ResourceCounts,
    /// The most it may pin (`RLIMIT_MEMLOCK`; `u64::MAX` for no limit).
    pub memlock_limit: u64,
    /// Bytes of memory it shares with the device by mapping (daemon clients).
    pub shared_bytes: u64,
}
assert_layout!(FileStats, 64; pid @ 0, uid @ 4, objects @ 8, memlock_limit @ 48, shared_bytes @ 56);
