//! COPY: a DMA memcpy between two registered regions (`mlx5dv_wr_memcpy`).

use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};

use super::{completion_options, WorkRequest};

/// Copies `src.length` bytes from `src` to `dst`; `dst` must be at least as long and in an MR
/// with local write access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    wr_id: u64,
    src: Sge,
    dst: Sge,
    flags: u8,
}

impl Copy {
    /// Signaled by default.
    pub fn new(wr_id: u64, src: Sge, dst: Sge) -> Self {
        Self { wr_id, src, dst, flags: flags::SIGNALED }
    }
}

completion_options!(Copy);

impl WorkRequest for Copy {
    fn encode(&self, wqe: &mut Wqe) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = Opcode::Copy as u8;
        wqe.ctrl.flags = self.flags;
        wqe.src = self.src;
        wqe.dst = self.dst;
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.src.length)
    }
}
