//! The contract between the accelverbs provider (user space) and the accelverbs driver.
//!
//! Everything here is shared memory or ioctl payload: fixed-width fields, explicit padding,
//! no `bool`/`usize`/pointer/enum fields, and a compile-time size and offset assertion next to
//! each struct. Wire enums are `#[repr]` enums whose `TryFrom` rejects unknown values.
//! Upstream numbers (ioctl framing, standard object/method/attribute ids, verbs enums) are
//! checked against the kernel's own headers by `tests/tests/uapi_vs_kernel_headers.rs`.
//!
//! See `docs/ABI.md` for the prose version with diagrams.
#![no_std]

#[cfg(feature = "transport")]
extern crate std;

#[macro_use]
mod layout;

pub mod async_event;
pub mod cache_hint;
pub mod caps;
pub mod cmd;
pub mod compress;
pub mod cqe;
pub mod crypto;
pub mod daemon;
pub mod doorbell;
pub mod ids;
pub mod ioctl;
pub mod recv;
pub mod shared;
pub mod verbs;
pub mod wake;
pub mod wqe;

pub use zerocopy;

/// Error returned by the `TryFrom` impls of wire enums: the raw value is not defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue(pub u32);

#[cfg(test)]
mod tests;
