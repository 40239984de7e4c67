//! Posting work requests: typed builders encode WQEs straight into the ring; a batch publishes
//! them with one doorbell.

mod compress;
mod copy;
mod crypto;
mod digest;
pub(crate) mod lists;
mod nop;
mod raw;
mod rdma;
mod send;
mod side;

pub use compress::{Compress, Decompress};
pub use copy::Copy;
pub use crypto::{CompressEncrypt, Decrypt, DecryptDecompress, Encrypt, TAG_LEN};
pub use digest::{Digest, DIGEST_LEN, DIGEST_STATE_LEN, SHA256_BLOCK};
pub use nop::Nop;
pub use raw::{RawGatherWqe, RawWqe};
pub use rdma::{RdmaRead, RdmaWrite};
pub use send::{Recv, Send};

use accelverbs_uapi::compress::MAX_LIST_ENTRIES;
use accelverbs_uapi::wqe::{Sge, Wqe};

use lists::{ListArea, ListSide};

use crate::in_flight::{Borrower, Regions};

/// The completion options every work-request builder offers, on its `flags` byte (or, for a
/// builder wrapping another, on the field path given after `flags:`).
macro_rules! completion_options {
    ($wr:ident $(<$lt:lifetime>)?) => {
        completion_options!($wr $(<$lt>)?, flags: flags);
    };
    ($wr:ident $(<$lt:lifetime>)?, flags: $($flags:tt).+) => {
        impl$(<$lt>)? $wr$(<$lt>)? {
            /// Whether a successful completion produces a CQE (default: yes). Errors always do.
            pub fn signaled(mut self, on: bool) -> Self {
                use accelverbs_uapi::wqe::flags::SIGNALED;
                let flags = &mut self.$($flags).+;
                *flags = if on { *flags | SIGNALED } else { *flags & !SIGNALED };
                self
            }

            /// Wakes a CQ armed for solicited completions only.
            pub fn solicited(mut self) -> Self {
                self.$($flags).+ |= accelverbs_uapi::wqe::flags::SOLICITED;
                self
            }
        }
    };
}
use completion_options;

use crate::{PostError, Qp};

pub(crate) mod sealed {
    use super::*;

    /// What the provider needs from a work request. Not implementable outside the crate: a
    /// request that named memory without declaring it in `regions` would let the device write
    /// bytes safe code is reading.
    pub trait Encode {
        /// Fills `wqe`, which arrives zeroed; SGE lists go through `lists`. Called before
        /// `regions`, which refuses what the device cannot take (a side's entry count), so it
        /// must not panic on any request, valid or not.
        fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>);
        /// Whether `encode` places SGE lists (the QP then makes sure it has a list area).
        fn gathers(&self) -> bool {
            false
        }
        /// Bytes the request moves, for the adaptive execution policy.
        fn payload_bytes(&self) -> u64 {
            0
        }
        /// Lends the regions the device will touch to the QP until the request retires, holding
        /// them in `held` (the WQE's slot, vacant on entry); `RegionBusy` if another QP has one,
        /// `WrongContext` for a region of another context. On an error the caller lets go of
        /// whatever `held` then holds, so nothing may have been taken from the WQE staged
        /// before ([`Borrower::previous`]) by then.
        fn regions(&self, _borrower: Borrower<'_>, _held: &mut Regions) -> Result<(), PostError> {
            Ok(())
        }
    }
}

/// Where the WQE being written puts its SGE lists.
#[derive(Debug)]
pub struct ListWriter<'a> {
    pub(crate) area: Option<&'a ListArea>,
    pub(crate) index: u32,
}

impl ListWriter<'_> {
    /// Writes `entries` as the WQE's `side` list; the SGE naming it.
    pub(crate) fn place(&mut self, side: ListSide, entries: &[Sge]) -> Sge {
        match self.area {
            // SAFETY: a writer is made by the QP's poster for the WQE it is writing into a
            // free slot (`Qp::write_wqe`); the list fits (checked here).
            Some(area) if entries.len() <= MAX_LIST_ENTRIES as usize => unsafe { area.place(self.index, side, entries) },
            // No list area (`gathers()` said no lists): the zeroed SGE, which the device
            // refuses. More entries than a list holds: the same, and `regions`, which runs
            // after `encode`, refuses the request (`SgeCount`) before it is staged.
            _ => Sge::default(),
        }
    }
}

/// A work request that can be posted on a [`Qp`]: one of this crate's builders.
pub trait WorkRequest: sealed::Encode {}

impl<T: sealed::Encode> WorkRequest for T {}

/// WQEs written to the ring but not yet published: [`Qp::stage`] under a borrow that publishes
/// once, on [`ring`] or on drop, so a batch of any size costs one doorbell.
///
/// [`ring`]: PostBatch::ring
#[must_use = "a batch is published when rung or dropped; bind it and push work requests"]
#[derive(Debug)]
pub struct PostBatch<'q> {
    qp: &'q mut Qp,
}

impl<'q> PostBatch<'q> {
    pub(crate) fn new(qp: &'q mut Qp) -> Self {
        Self { qp }
    }

    /// Writes one WQE into the next ring slot.
    pub fn push<W: WorkRequest>(&mut self, wr: W) -> Result<(), PostError> {
        self.qp.stage(wr)
    }

    /// WQEs in the batch (with any the QP had staged before it began).
    pub fn len(&self) -> u32 {
        self.qp.staged()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes the batch (one doorbell).
    pub fn ring(self) {}
}

impl Drop for PostBatch<'_> {
    fn drop(&mut self) {
        self.qp.ring_staged();
    }
}
