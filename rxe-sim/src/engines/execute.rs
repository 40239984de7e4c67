//! Executes one WQE that has already been copied out of the ring. Nothing here trusts the WQE:
//! the opcode must be in the operation table, unknown flags and nonzero reserved control bytes
//! are refused; the operation then checks its own parameters and SGEs.

use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::{flags as wqe_flags, Wqe};

pub use super::ops::{Done, ExecContext, Failure};

/// Runs `wqe` for a QP whose context is `ctx`.
pub fn execute(wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
    let ctrl = &wqe.ctrl;
    let op = super::ops::find(ctrl.opcode).ok_or(Failure::malformed(VendorError::BadOpcode))?;
    if ctrl.flags & !wqe_flags::KNOWN != 0 || ctrl.op_mod != 0 || ctrl.reserved0 != 0 || ctrl.reserved1 != 0 {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    let result = op.run(wqe, ctx);
    // A destination reached by copies is written back as the operation's values drop, which
    // can fault if its page went away meanwhile: the request then fails as its access would
    // have.
    if ctx.mrs.take_write_back_failure() {
        return Err(Failure::protection(VendorError::PageFault));
    }
    result
}
