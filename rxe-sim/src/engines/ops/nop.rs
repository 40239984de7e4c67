//! NOP: completes without touching memory.

use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{nothing_but_ctrl, Done, ExecContext, Failure, Operation};

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
        nothing_but_ctrl(wqe)?;
        Ok(Done::ok(0, 0))
    }
}
