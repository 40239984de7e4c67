//! Work completions as the application sees them.

use accelverbs_uapi::cqe::{Cqe, CqeStatus, VendorError};

/// One completion (`ibv_wc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkCompletion {
    pub wr_id: u64,
    pub status: CqeStatus,
    /// Which check failed, when `status` is an error.
    pub vendor_err: VendorError,
    /// The opcode byte of the WQE this completes.
    pub opcode: u8,
    /// Bytes produced.
    pub byte_len: u32,
    pub qp_num: u32,
    /// Operation-specific result (checksums); zero for NOP and COPY.
    pub result: u64,
}

impl Default for WorkCompletion {
    fn default() -> Self {
        Self { wr_id: 0, status: CqeStatus::Success, vendor_err: VendorError::None, opcode: 0, byte_len: 0, qp_num: 0, result: 0 }
    }
}

impl WorkCompletion {
    pub fn is_success(&self) -> bool {
        self.status == CqeStatus::Success
    }

    pub(crate) fn from_cqe(cqe: &Cqe) -> Self {
        Self {
            wr_id: cqe.wr_id,
            // A value this provider does not know is still an error, never a success.
            status: CqeStatus::try_from(cqe.status).unwrap_or(CqeStatus::GeneralError),
            vendor_err: VendorError::try_from(cqe.vendor_err).unwrap_or(VendorError::None),
            opcode: cqe.opcode,
            byte_len: cqe.byte_len,
            qp_num: cqe.qp_num,
            result: cqe.result,
        }
    }
}
