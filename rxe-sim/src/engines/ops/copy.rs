//! COPY: a DMA memcpy between two registered ranges (`mlx5dv_wr_memcpy`).

use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{in_place, no_params_or_aux, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::{Resolved, Use};

#[derive(Debug)]
pub struct Copy;

impl Operation for Copy {
    fn opcode(&self) -> Opcode {
        Opcode::Copy
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        no_params_or_aux(wqe)?;
        let from = ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read);
        let from = in_place(&from)?;
        let to = ctx.mrs.resolve(&wqe.dst, ctx.pdn, Use::Write);
        copy_resolved(from, in_place(&to)?, Failure::length(VendorError::DestinationTooSmall))
    }
}

/// Copies all of `from` to the start of `to`, or fails with `too_small` if it does not fit:
/// COPY, and the RDMA operations once their two sides are resolved.
pub(super) fn copy_resolved(from: &Resolved, to: &Resolved, too_small: Failure) -> Result<Done, Failure> {
    if to.len < from.len {
        return Err(too_small);
    }
    // SAFETY: both ranges were resolved inside live, pinned MRs of the QP's PD (bounds checked
    // with overflow-safe arithmetic) and the pass's view of the MR table (which the `Resolved`s
    // borrow) keeps the MRs registered until the copy ends: deregistration waits for it. They may overlap (same MR), hence
    // `copy`, not `copy_nonoverlapping`.
    unsafe { std::ptr::copy(from.ptr, to.ptr, from.len) };
    Ok(Done::ok(from.len as u32, 0))
}
