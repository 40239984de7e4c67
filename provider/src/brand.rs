//! Which context a CQ, PD or completion channel belongs to, in its type.
//!
//! Objects are known to the driver by handle numbers that are per context, so an object of one
//! context must never be given to another. Objects of contexts opened with
//! [`crate::Device::open`] are [`Unbranded`]: the provider checks at run time and answers
//! [`crate::Error::WrongContext`]. A context opened with [`crate::Device::open_branded`] lives
//! inside a closure that gives it a brand of its own, an invariant lifetime no other context
//! shares, so mixing objects of two branded contexts does not compile (the `GhostCell`
//! technique). Branding costs nothing at run time; C callers (the rdma-core plugin) use
//! unbranded contexts.

use std::marker::PhantomData;

/// The brand of contexts checked at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unbranded;

/// The brand of one context opened with [`crate::Device::open_branded`]: `'id` is unique to
/// it, and invariant, so the compiler never unifies two of them.
#[derive(Debug, Clone, Copy)]
pub struct Brand<'id>(PhantomData<fn(&'id ()) -> &'id ()>);
