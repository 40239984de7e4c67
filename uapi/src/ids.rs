//! Object, method and attribute ids.
//!
//! Standard ids come from the kernel's `rdma/ib_user_ioctl_cmds.h` (checked by a test against
//! the header). Ids this driver adds live in the driver namespace: bit 12 set
//! (`UVERBS_ID_NS_MASK`), exactly as mlx5 adds its DEVX methods to core objects.

/// `UVERBS_ID_NS_MASK`.
pub const UVERBS_ID_NS_MASK: u16 = 0xF000;
/// `UVERBS_ID_NS_SHIFT`.
pub const UVERBS_ID_NS_SHIFT: u16 = 12;
/// First id of the driver namespace (`1 << UVERBS_ID_NS_SHIFT`).
pub const UVERBS_ID_DRIVER_NS: u16 = 1 << UVERBS_ID_NS_SHIFT;

/// `enum rdma_driver_id`: an out-of-tree driver registers as `RDMA_DRIVER_UNKNOWN`.
pub const RDMA_DRIVER_UNKNOWN: u32 = 0;
/// The driver id accelverbs devices report and callers must put in `IoctlHdr::driver_id`.
pub const ACCEL_DRIVER_ID: u32 = RDMA_DRIVER_UNKNOWN;

/// `enum uverbs_default_objects`.
pub mod object {
    pub const DEVICE: u16 = 0;
    pub const PD: u16 = 1;
    pub const COMP_CHANNEL: u16 = 2;
    pub const CQ: u16 = 3;
    pub const QP: u16 = 4;
    pub const MR: u16 = 7;
    /// Driver object: a compression context, the state of one stream across work requests
    /// (`ids::comp_stream`).
    pub const COMP_STREAM: u16 = super::UVERBS_ID_DRIVER_NS;
    /// Driver object: a crypto key held by the device, named in work requests by number only
    /// (`ids::crypto_key`).
    pub const CRYPTO_KEY: u16 = super::UVERBS_ID_DRIVER_NS + 1;
}

/// Attributes every method may carry: the driver-specific request/response ("udata").
pub mod uhw {
    /// `UVERBS_ATTR_UHW_IN`.
    pub const IN: u16 = super::UVERBS_ID_DRIVER_NS;
    /// `UVERBS_ATTR_UHW_OUT`.
    pub const OUT: u16 = super::UVERBS_ID_DRIVER_NS + 1;
}

/// Methods and attributes on `UVERBS_OBJECT_DEVICE`.
pub mod device {
    use super::UVERBS_ID_DRIVER_NS as NS;
    /// `UVERBS_METHOD_QUERY_PORT`.
    pub const METHOD_QUERY_PORT: u16 = 2;
    /// `UVERBS_METHOD_GET_CONTEXT`.
    pub const METHOD_GET_CONTEXT: u16 = 3;
    /// `UVERBS_ATTR_QUERY_PORT_PORT_NUM` (u8 inline).
    pub const ATTR_QUERY_PORT_PORT_NUM: u16 = 0;
    /// `UVERBS_ATTR_QUERY_PORT_RESP` (`ib_uverbs_query_port_resp_ex`).
    pub const ATTR_QUERY_PORT_RESP: u16 = 1;
    /// `UVERBS_ATTR_GET_CONTEXT_NUM_COMP_VECTORS` (u32 out).
    pub const ATTR_GET_CONTEXT_NUM_COMP_VECTORS: u16 = 0;
    /// `UVERBS_ATTR_GET_CONTEXT_CORE_SUPPORT` (u64 out).
    pub const ATTR_GET_CONTEXT_CORE_SUPPORT: u16 = 1;

    /// Driver method: the accelerator's capabilities (`caps::DeviceCaps`).
    pub const METHOD_QUERY_DEVICE: u16 = NS;
    pub const ATTR_QUERY_DEVICE_RESP: u16 = NS;
    /// Driver method: live object counts on the device (`cmd::ResourceCounts`), like `rdma res`.
    pub const METHOD_QUERY_RESOURCES: u16 = NS + 1;
    pub const ATTR_QUERY_RESOURCES_RESP: u16 = NS;
    /// Driver method: the context's next asynchronous event (`async_event::AsyncEventDesc`),
    /// `EAGAIN` if none waits (upstream reads them from the context's async event file).
    pub const METHOD_GET_ASYNC_EVENT: u16 = NS + 2;
    pub const ATTR_GET_ASYNC_EVENT_DESC: u16 = NS;
    /// Driver method: the descriptor (s32 out) that is readable while the context's
    /// asynchronous events wait, to poll or epoll on.
    pub const METHOD_ASYNC_EVENT_FD: u16 = NS + 3;
    pub const ATTR_ASYNC_EVENT_FD: u16 = NS;
    /// Driver method: every open file of the device (each client of a daemon) with its live
    /// objects and memory (`cmd::FileStats`), for `accel devinfo --stats`. Needs no context.
    pub const METHOD_QUERY_FILES: u16 = NS + 4;
    /// u32 out: how many files are open.
    pub const ATTR_QUERY_FILES_COUNT: u16 = NS;
    /// Out: as many `cmd::FileStats` as fit, the caller's own first.
    pub const ATTR_QUERY_FILES_LIST: u16 = NS + 1;
}

/// Methods and attributes on `UVERBS_OBJECT_PD`.
pub mod pd {
    use super::UVERBS_ID_DRIVER_NS as NS;
    /// `UVERBS_METHOD_PD_DESTROY`.
    pub const METHOD_DESTROY: u16 = 0;
    /// `UVERBS_ATTR_DESTROY_PD_HANDLE`.
    pub const ATTR_DESTROY_HANDLE: u16 = 0;
    /// Driver method: upstream allocates PDs only through the write() path.
    pub const METHOD_ALLOC: u16 = NS;
    pub const ATTR_ALLOC_HANDLE: u16 = NS;
}

/// Methods and attributes on `UVERBS_OBJECT_MR`.
pub mod mr {
    use super::UVERBS_ID_DRIVER_NS as NS;
    /// `UVERBS_METHOD_MR_DESTROY`.
    pub const METHOD_DESTROY: u16 = 1;
    /// `UVERBS_ATTR_DESTROY_MR_HANDLE`.
    pub const ATTR_DESTROY_HANDLE: u16 = 0;
    /// `UVERBS_METHOD_ADVISE_MR`: prefetch pages of on-demand regions (`ibv_advise_mr`).
    pub const METHOD_ADVISE: u16 = 2;
    /// `UVERBS_ATTR_ADVISE_MR_PD_HANDLE`.
    pub const ATTR_ADVISE_PD_HANDLE: u16 = 0;
    /// `UVERBS_ATTR_ADVISE_MR_ADVICE` (u32, `verbs::advise`).
    pub const ATTR_ADVISE_ADVICE: u16 = 1;
    /// `UVERBS_ATTR_ADVISE_MR_FLAGS` (u32, `verbs::advise::FLAG_FLUSH`).
    pub const ATTR_ADVISE_FLAGS: u16 = 2;
    /// `UVERBS_ATTR_ADVISE_MR_SGE_LIST` (`ib_uverbs_sge` array: `wqe::Sge` has its layout).
    pub const ATTR_ADVISE_SGE_LIST: u16 = 3;
    /// Driver method: register user memory (upstream's reg_mr is a write() command in 6.1).
    pub const METHOD_REG: u16 = NS;
    pub const ATTR_REG_HANDLE: u16 = NS;
    pub const ATTR_REG_PD_HANDLE: u16 = NS + 1;
    pub const ATTR_REG_ADDR: u16 = NS + 2;
    pub const ATTR_REG_LENGTH: u16 = NS + 3;
    pub const ATTR_REG_ACCESS: u16 = NS + 4;
    pub const ATTR_REG_RESP_LKEY: u16 = NS + 5;
    pub const ATTR_REG_RESP_RKEY: u16 = NS + 6;
}

/// Methods and attributes on `UVERBS_OBJECT_COMP_CHANNEL` (all driver methods: upstream has
/// only the write() path for completion channels).
pub mod comp_channel {
    use super::UVERBS_ID_DRIVER_NS as NS;
    pub const METHOD_ALLOC: u16 = NS;
    pub const METHOD_DESTROY: u16 = NS + 1;
    /// Dequeue the next completion event: the `user_handle` of the CQ that fired.
    pub const METHOD_GET_EVENT: u16 = NS + 2;
    pub const ATTR_HANDLE: u16 = NS;
    /// s32 out: the pollable file descriptor.
    pub const ATTR_ALLOC_FD: u16 = NS + 1;
    /// u64 out: the CQ's user handle.
    pub const ATTR_GET_EVENT_CQ_USER_HANDLE: u16 = NS + 1;
}

/// Methods and attributes on `UVERBS_OBJECT_CQ`.
pub mod cq {
    use super::UVERBS_ID_DRIVER_NS as NS;
    /// `UVERBS_METHOD_CQ_CREATE`.
    pub const METHOD_CREATE: u16 = 0;
    /// `UVERBS_METHOD_CQ_DESTROY`.
    pub const METHOD_DESTROY: u16 = 1;
    /// `enum uverbs_attrs_create_cq_cmd_attr_ids`.
    pub const ATTR_CREATE_HANDLE: u16 = 0;
    pub const ATTR_CREATE_CQE: u16 = 1;
    pub const ATTR_CREATE_USER_HANDLE: u16 = 2;
    pub const ATTR_CREATE_COMP_CHANNEL: u16 = 3;
    pub const ATTR_CREATE_COMP_VECTOR: u16 = 4;
    pub const ATTR_CREATE_FLAGS: u16 = 5;
    pub const ATTR_CREATE_RESP_CQE: u16 = 6;
    /// `enum uverbs_attrs_destroy_cq_cmd_attr_ids`.
    pub const ATTR_DESTROY_HANDLE: u16 = 0;
    pub const ATTR_DESTROY_RESP: u16 = 1;
    /// Driver method: arm the CQ for one completion event (`ibv_req_notify_cq`).
    pub const METHOD_REQ_NOTIFY: u16 = NS;
    pub const ATTR_REQ_NOTIFY_HANDLE: u16 = NS;
    /// u32 inline: nonzero = solicited completions only.
    pub const ATTR_REQ_NOTIFY_SOLICITED_ONLY: u16 = NS + 1;
}

/// Methods and attributes on `UVERBS_OBJECT_QP`.
pub mod qp {
    use super::UVERBS_ID_DRIVER_NS as NS;
    /// `UVERBS_METHOD_QP_CREATE`.
    pub const METHOD_CREATE: u16 = 0;
    /// `UVERBS_METHOD_QP_DESTROY`.
    pub const METHOD_DESTROY: u16 = 1;
    /// `enum uverbs_attrs_create_qp_cmd_attr_ids`.
    pub const ATTR_CREATE_HANDLE: u16 = 0;
    pub const ATTR_CREATE_PD_HANDLE: u16 = 2;
    pub const ATTR_CREATE_SEND_CQ_HANDLE: u16 = 4;
    pub const ATTR_CREATE_RECV_CQ_HANDLE: u16 = 5;
    pub const ATTR_CREATE_USER_HANDLE: u16 = 7;
    pub const ATTR_CREATE_CAP: u16 = 8;
    pub const ATTR_CREATE_TYPE: u16 = 9;
    pub const ATTR_CREATE_FLAGS: u16 = 10;
    pub const ATTR_CREATE_RESP_CAP: u16 = 13;
    pub const ATTR_CREATE_RESP_QP_NUM: u16 = 14;
    /// `enum uverbs_attrs_destroy_qp_cmd_attr_ids`.
    pub const ATTR_DESTROY_HANDLE: u16 = 0;
    pub const ATTR_DESTROY_RESP: u16 = 1;
    /// Driver method: state transition (upstream: write() MODIFY_QP).
    pub const METHOD_MODIFY: u16 = NS;
    /// Driver method: read back the state, including device-initiated moves to ERR.
    pub const METHOD_QUERY: u16 = NS + 1;
    pub const ATTR_HANDLE: u16 = NS;
    /// u32 inline: the requested `QpState`.
    pub const ATTR_MODIFY_STATE: u16 = NS + 1;
    /// u32 inline, optional: the state the caller believes the QP is in (`IBV_QP_CUR_STATE`).
    pub const ATTR_MODIFY_CUR_STATE: u16 = NS + 2;
    /// u32 inline, optional, only with INIT → RTR: the QP that answers this one's SENDs and
    /// RDMA (`IBV_QP_DEST_QPN`); any live QP of the device, possibly this one.
    pub const ATTR_MODIFY_DEST_QPN: u16 = NS + 3;
    /// u32 out: the current `QpState`.
    pub const ATTR_QUERY_RESP_STATE: u16 = NS + 1;
}

/// Methods and attributes on the driver's `object::COMP_STREAM`.
pub mod comp_stream {
    use super::UVERBS_ID_DRIVER_NS as NS;
    pub const METHOD_CREATE: u16 = NS;
    pub const METHOD_DESTROY: u16 = NS + 1;
    /// The stream (new on create, destroyed on destroy).
    pub const ATTR_HANDLE: u16 = NS;
    pub const ATTR_CREATE_PD_HANDLE: u16 = NS + 1;
    /// u32 inline: `compress::Format`.
    pub const ATTR_CREATE_FORMAT: u16 = NS + 2;
    /// u32 inline: `compress::StreamDirection`.
    pub const ATTR_CREATE_DIRECTION: u16 = NS + 3;
    /// u32 inline: the level as a two's-complement `i8` (zero for decompression).
    pub const ATTR_CREATE_LEVEL: u16 = NS + 4;
    /// u32 out: the device number work requests name it by (`CompressParams::stream`).
    pub const ATTR_CREATE_RESP_NUMBER: u16 = NS + 5;
}

/// Methods and attributes on the driver's `object::CRYPTO_KEY`.
pub mod crypto_key {
    use super::UVERBS_ID_DRIVER_NS as NS;
    pub const METHOD_CREATE: u16 = NS;
    pub const METHOD_DESTROY: u16 = NS + 1;
    /// The key (new on create, destroyed on destroy).
    pub const ATTR_HANDLE: u16 = NS;
    pub const ATTR_CREATE_PD_HANDLE: u16 = NS + 1;
    /// u32 inline: `crypto::KeyAlgorithm`.
    pub const ATTR_CREATE_ALGORITHM: u16 = NS + 2;
    /// Input bytes: the key material (`crypto::KeyAlgorithm::material_lengths`). Read once,
    /// into memory the device zeroes when it is done with it.
    pub const ATTR_CREATE_MATERIAL: u16 = NS + 3;
    /// u32 out: the device number work requests name it by.
    pub const ATTR_CREATE_RESP_NUMBER: u16 = NS + 4;
    /// Optional: a key-encryption key (an `AesKeyWrap*` key of the same PD). With it, MATERIAL
    /// is the key wrapped with padding (RFC 5649) under that key, and plaintext key material
    /// never crosses the ABI.
    pub const ATTR_CREATE_WRAPPING_KEY: u16 = NS + 5;
}
