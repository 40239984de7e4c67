//! A WQE exactly as the caller built it, for bindings that translate another API's work
//! requests into the ring's format themselves (the rdma-core plugin's `ibv_post_send`).

use accelverbs_uapi::wqe::Wqe;

use super::{sealed, ListWriter};

/// A work request given as its ring entry. The provider tracks none of the memory it names.
#[derive(Debug, Clone, Copy)]
pub struct RawWqe {
    wqe: Wqe,
}

impl RawWqe {
    /// # Safety
    /// Every range the WQE names (its SGEs, and the SGE lists they point at) must be memory
    /// registered under [`crate::Pd::reg_mr_raw`]'s contract and used that way until the
    /// request completes: no Rust reference to bytes the device may write, nor a mutable one
    /// to bytes it may read.
    pub unsafe fn new(wqe: Wqe) -> Self {
        Self { wqe }
    }
}

impl sealed::Encode for RawWqe {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        *wqe = self.wqe;
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.wqe.src.length)
    }
}
