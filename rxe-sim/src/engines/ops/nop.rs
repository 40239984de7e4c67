//! NOP: completes without touching memory.

use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{is_zero_sge, no_params_or_aux, Done, ExecContext, Failure, Operation};

#[derive(Debug)]
pub struct Nop;

impl Operation for Nop {
    fn opcode(&self) -> Opcode {
        Opcode::Nop
    }

    fn max_sge(&self) -> u32 {
        0
    }

    fn run(&self, wqe: &Wqe, _ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        no_params_or_aux(wqe)?;
        if !is_zero_sge(&wqe.src) || !is_zero_sge(&wqe.dst) {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        Ok(Done::ok(0, 0))
    }
}
