//! Work completions as the application sees them.

use accelverbs_uapi::compress;
use accelverbs_uapi::cqe::{self, Cqe, CqeStatus, VendorError};

/// One completion (`ibv_wc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkCompletion {
    pub wr_id: u64,
    pub status: CqeStatus,
    /// Which check failed, when `status` is an error.
    pub vendor_err: VendorError,
    /// The opcode byte of the WQE this completes, or `uapi::recv::OPCODE_RECV` for a receive.
    pub opcode: u8,
    /// Bytes produced.
    pub byte_len: u32,
    pub qp_num: u32,
    /// Operation-specific result (checksums); zero for NOP and COPY.
    pub result: u64,
    /// `cqe::flags` bits.
    pub flags: u8,
}

impl Default for WorkCompletion {
    fn default() -> Self {
        Self {
            wr_id: 0,
            status: CqeStatus::Success,
            vendor_err: VendorError::None,
            opcode: 0,
            byte_len: 0,
            qp_num: 0,
            result: 0,
            flags: 0,
        }
    }
}

impl WorkCompletion {
    pub fn is_success(&self) -> bool {
        self.status == CqeStatus::Success
    }

    /// Whether this completes a receive ([`crate::Recv`]) rather than a send-queue request.
    pub fn is_receive(&self) -> bool {
        self.opcode == accelverbs_uapi::recv::OPCODE_RECV
    }

    /// A receive's sender: the QP number the SEND came from.
    pub fn source_qp(&self) -> Option<u32> {
        (self.is_receive() && self.is_success()).then_some(self.result as u32)
    }

    #[inline] // into `Cq::poll_ring`, generic and so instantiated in the application's crate
    pub(crate) fn from_cqe(cqe: &Cqe) -> Self {
        // Almost every completion is a success without a vendor code: decoded without the
        // two table lookups.
        let (status, vendor_err) = if cqe.status == CqeStatus::Success as u8 && cqe.vendor_err == VendorError::None as u8 {
            (CqeStatus::Success, VendorError::None)
        } else {
            // A value this provider does not know is still an error, never a success.
            (
                CqeStatus::try_from(cqe.status).unwrap_or(CqeStatus::GeneralError),
                VendorError::try_from(cqe.vendor_err).unwrap_or(VendorError::None),
            )
        };
        Self {
            wr_id: cqe.wr_id,
            status,
            vendor_err,
            opcode: cqe.opcode,
            byte_len: cqe.byte_len,
            qp_num: cqe.qp_num,
            result: cqe.result,
            flags: cqe.flags,
        }
    }

    /// Compression: input bytes the request consumed.
    pub fn consumed(&self) -> u32 {
        compress::result::consumed(self.result)
    }

    /// Compression: the format's checksum (CRC-32 for deflate and gzip, Adler-32 for zlib,
    /// the frame's content checksum for zstd and LZ4; 0 where none is known).
    pub fn checksum(&self) -> u32 {
        compress::result::checksum(self.result)
    }

    /// Compression: the stream is complete.
    pub fn end_of_stream(&self) -> bool {
        self.flags & cqe::flags::END_OF_STREAM != 0
    }
}
