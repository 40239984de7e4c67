//! Doorbell records and wake words: the only places the provider and the device exchange
//! indices. Each index sits on its own 64-byte cache line so the producer's stores do not
//! bounce the consumer's line. All fields are accessed with atomics; the structs exist to fix
//! the layout.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Cache-line size the records are laid out for.
pub const CACHE_LINE: usize = 64;

/// One per QP, in user memory pinned by the driver.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct QpDoorbellRecord {
    /// Free-running count of WQEs posted. Written by the provider with release ordering after
    /// the WQEs themselves; the device reads it, and never trusts it.
    pub sq_producer: u32,
    /// For QPs of an adaptive context: how far engine threads may consume. Work between it and
    /// `sq_producer` is left to the poster, which runs it inline. Ignored otherwise.
    pub engine_producer: u32,
    /// Free-running count of receive WQEs posted (QPs with a receive queue); written like
    /// `sq_producer`, never trusted.
    pub rq_producer: u32,
    pub reserved0: [u8; 52],
    /// Free-running count of WQEs the device is done with: copied out of the ring *and*
    /// executed, every access to the memory they name finished. The device publishes it with
    /// release ordering, before the WQEs' CQEs. The provider reuses slots below it and lets go
    /// of the regions their WQEs named, so publishing it any earlier would let the application
    /// free or touch memory the device is still using. Written by the device; the provider only
    /// reads it.
    pub sq_consumer: u32,
    /// Free-running count of receive WQEs the device is done with (filled by a SEND, or
    /// flushed), published before their CQEs. Written by the device.
    pub rq_consumer: u32,
    pub reserved1: [u8; 56],
}
assert_layout!(QpDoorbellRecord, 128; sq_producer @ 0, engine_producer @ 4, rq_producer @ 8,
    sq_consumer @ 64, rq_consumer @ 68);

/// One per CQ, in user memory pinned by the driver.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CqDoorbellRecord {
    /// Free-running count of CQEs the provider has consumed; the device will not overwrite an
    /// entry at or above `consumer + ring size`.
    pub consumer: u32,
    pub reserved: [u8; 60],
}
assert_layout!(CqDoorbellRecord, 64; consumer @ 0);

/// One per engine in the device's UAR page, which the provider maps read-write.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EngineWakeWord {
    /// Nonzero while the engine sleeps (futex word). A poster that sees it nonzero after
    /// publishing its producer index clears it and wakes the engine.
    pub sleeping: u32,
    pub reserved: [u8; 60],
}
assert_layout!(EngineWakeWord, 64; sleeping @ 0);
