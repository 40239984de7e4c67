//! NOP: completes without touching memory; measures the queue itself.

use accelverbs_uapi::wqe::{flags, Opcode, Wqe};

use super::{completion_options, sealed, ListWriter};

/// A no-op work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nop {
    wr_id: u64,
    flags: u8,
}

impl Nop {
    /// Signaled by default.
    pub fn new(wr_id: u64) -> Self {
        Self { wr_id, flags: flags::SIGNALED }
    }
}

completion_options!(Nop);

impl sealed::Encode for Nop {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = Opcode::Nop as u8;
        wqe.ctrl.flags = self.flags;
    }
}
