//! The driver's objects. Each child holds an `Arc` to its parents and a use count on them, so a
//! parent cannot go away under a child: destroying a PD, CQ or completion channel that is still
//! in use fails with `EBUSY`, as `uverbs_free_pd`/`ib_destroy_cq_user` do.

mod comp_channel;
mod comp_stream;
mod cq;
mod crypto_key;
mod mr;
mod pd;
mod qp;
mod ucontext;

use core::sync::atomic::{AtomicU32, Ordering};

pub use comp_channel::CompChannel;
pub use comp_stream::CompStream;
pub use cq::{Cq, CqRequest};
pub use crypto_key::CryptoKey;
pub use mr::Mr;
pub use pd::Pd;
pub use qp::{Qp, QpRequest};
pub use ucontext::Ucontext;

use crate::Errno;

/// How many children reference an object (the kernel's `usecnt`).
#[derive(Debug, Default)]
pub(crate) struct UseCount(AtomicU32);

impl UseCount {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
    /// `EBUSY` while any child is alive.
    pub fn check_unused(&self) -> Result<(), Errno> {
        if self.get() == 0 {
            Ok(())
        } else {
            Err(Errno::EBUSY)
        }
    }
}

/// Whether a user address is aligned to `align` (a power of two).
pub(crate) fn is_aligned(addr: u64, align: u64) -> bool {
    addr & (align - 1) == 0
}
