//! Executes one WQE that has already been copied out of the ring. Nothing here trusts the WQE:
//! the opcode must be in the operation table, unknown flags and nonzero reserved control bytes
//! are refused; the operation then checks its own parameters and SGEs.

use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::{flags as wqe_flags, Wqe};

pub use super::ops::{Done, ExecContext, Failure};

/// Runs `wqe` for a QP whose context is `ctx`.
#[inline]
pub fn execute(wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
    let ctrl = &wqe.ctrl;
    let op = super::ops::find(ctrl.opcode).ok_or(Failure::malformed(VendorError::BadOpcode))?;
    if ctrl.flags & !wqe_flags::KNOWN != 0 || ctrl.op_mod != 0 || ctrl.reserved0 != 0 || ctrl.reserved1 != 0 {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    // Destinations reached by copies go back only for a request that ran; one refused
    // writes nothing and reports its own check. Going back can fault if a page went away
    // meanwhile: the request then fails as its access would have.
    match op.run(wqe, ctx) {
        Ok(done) if ctx.mrs.put_back() => Ok(done),
        Ok(_) => Err(Failure::protection(VendorError::PageFault)),
        Err(failure) => {
            ctx.mrs.discard();
            Err(failure)
        }
    }
}
