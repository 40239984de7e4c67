//! Standard verbs structs and enums that the accelverbs ABI reuses unchanged: their layouts and
//! values come from the kernel's `rdma/ib_user_verbs.h`, `rdma/ib_user_ioctl_verbs.h` and
//! libibverbs' `infiniband/verbs.h`, and a test compares them with those headers.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `enum ib_uverbs_access_flags` (the subset a pinned MR on this device accepts).
pub mod access {
    pub const LOCAL_WRITE: u32 = 1 << 0;
    pub const REMOTE_WRITE: u32 = 1 << 1;
    pub const REMOTE_READ: u32 = 1 << 2;
    /// Accepted as the kernel accepts it on a device without atomics (`atomic_cap` NONE):
    /// programs ask for it by habit (rust-ibverbs always does), and no opcode ever uses it.
    pub const REMOTE_ATOMIC: u32 = 1 << 3;
    /// `IBV_ACCESS_ON_DEMAND`: nothing pinned; the device reaches the pages at access time.
    pub const ON_DEMAND: u32 = 1 << 6;
    /// The flags this device understands today; anything else is `EOPNOTSUPP`.
    pub const SUPPORTED: u32 = LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC;
}

/// `enum ib_uverbs_advise_mr_advice` and `enum ib_uverbs_advise_mr_flag`.
pub mod advise {
    /// Fault the pages in for reading.
    pub const PREFETCH: u32 = 0;
    /// Fault the pages in for writing.
    pub const PREFETCH_WRITE: u32 = 1;
    /// Map only pages already present: never fault.
    pub const PREFETCH_NO_FAULT: u32 = 2;
    /// Return once the prefetch is done (and report its failure), instead of at once.
    pub const FLAG_FLUSH: u32 = 1 << 0;
}

/// `IB_UVERBS_QPT_RC`: a reliable-connected QP, what a verbs program creates. The device
/// answers its own RDMA (loopback), so an RC QP runs the same opcodes as a DRIVER QP.
pub const IB_UVERBS_QPT_RC: u32 = 2;
/// `IB_UVERBS_QPT_DRIVER`: the QP type for driver-defined work, used for accelerator QPs.
pub const IB_UVERBS_QPT_DRIVER: u32 = 0xFF;

wire_enum! {
    /// `enum ibv_qp_state` / the kernel's `enum ib_qp_state`.
    pub enum QpState: u32 {
        Reset = 0,
        Init = 1,
        Rtr = 2,
        Rts = 3,
        Sqd = 4,
        Sqe = 5,
        Err = 6,
    }
}

/// `struct ib_uverbs_qp_cap`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct QpCap {
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline_data: u32,
}
assert_layout!(QpCap, 20; max_send_wr @ 0, max_recv_wr @ 4, max_send_sge @ 8,
    max_recv_sge @ 12, max_inline_data @ 16);

/// `struct ib_uverbs_query_port_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct QueryPortResp {
    pub port_cap_flags: u32,
    pub max_msg_sz: u32,
    pub bad_pkey_cntr: u32,
    pub qkey_viol_cntr: u32,
    pub gid_tbl_len: u32,
    pub pkey_tbl_len: u16,
    pub lid: u16,
    pub sm_lid: u16,
    pub state: u8,
    pub max_mtu: u8,
    pub active_mtu: u8,
    pub lmc: u8,
    pub max_vl_num: u8,
    pub sm_sl: u8,
    pub subnet_timeout: u8,
    pub init_type_reply: u8,
    pub active_width: u8,
    pub active_speed: u8,
    pub phys_state: u8,
    pub link_layer: u8,
    pub flags: u8,
    pub reserved: u8,
}
assert_layout!(QueryPortResp, 40; port_cap_flags @ 0, gid_tbl_len @ 16, pkey_tbl_len @ 20,
    state @ 26, max_mtu @ 27, active_mtu @ 28, phys_state @ 36, link_layer @ 37);

/// `struct ib_uverbs_query_port_resp_ex`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct QueryPortRespEx {
    pub legacy_resp: QueryPortResp,
    pub port_cap_flags2: u16,
    pub reserved: [u8; 6],
}
assert_layout!(QueryPortRespEx, 48; legacy_resp @ 0, port_cap_flags2 @ 40, reserved @ 42);

/// `enum ib_port_state` values used in `QueryPortResp::state`.
pub mod port_state {
    pub const DOWN: u8 = 1;
    pub const ACTIVE: u8 = 4;
}

/// `IB_LINK_LAYER_UNSPECIFIED`: an accelerator has no wire.
pub const LINK_LAYER_UNSPECIFIED: u8 = 0;

/// `struct ib_uverbs_destroy_cq_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DestroyCqResp {
    pub comp_events_reported: u32,
    pub async_events_reported: u32,
}
assert_layout!(DestroyCqResp, 8; comp_events_reported @ 0, async_events_reported @ 4);

/// `struct ib_uverbs_destroy_qp_resp`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DestroyQpResp {
    pub events_reported: u32,
}
assert_layout!(DestroyQpResp, 4; events_reported @ 0);
