//! Asynchronous events: what the device reports about an object outside any completion (a QP
//! it stopped on its own), read from the context's event queue (`ids::device`
//! `METHOD_GET_ASYNC_EVENT`), whose descriptor is readable while events wait.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

wire_enum! {
    /// `enum ibv_event_type` / the kernel's `enum ib_event_type` (the events this device
    /// raises; the numbers are upstream's, checked against libibverbs' header).
    pub enum AsyncEventType: u32 {
        /// `IBV_EVENT_QP_FATAL`: the device could not go on with the QP (its doorbell record
        /// held an index it cannot honour); the QP is in ERR.
        QpFatal = 1,
        /// `IBV_EVENT_QP_REQ_ERR`: the QP, as a responder, received a request it cannot
        /// take (a SEND with no receive queue); the QP is in ERR.
        QpRequestError = 2,
        /// `IBV_EVENT_QP_ACCESS_ERR`: the QP, as a responder, refused an RDMA request on its
        /// regions (key, PD, bounds or rights); the QP is in ERR.
        QpAccessError = 3,
        /// `IBV_EVENT_DEVICE_FATAL`: the device is gone (its daemon exited or was killed);
        /// every later call fails with `EIO`. Raised by the provider, which sees the daemon's
        /// socket close, not by the device.
        DeviceFatal = 8,
    }
}

/// One event (`struct ib_uverbs_async_event_desc`, its reserved word naming the object).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AsyncEventDesc {
    /// The user handle the object was created with.
    pub element: u64,
    /// `AsyncEventType`.
    pub event_type: u32,
    /// The object's device number (a QP number).
    pub number: u32,
}
assert_layout!(AsyncEventDesc, 16; element @ 0, event_type @ 8, number @ 12);
