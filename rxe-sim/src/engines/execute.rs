//! Executes one WQE that has already been copied out of the ring. Nothing here trusts the WQE:
//! unknown opcodes and flags, nonzero reserved bytes, and every SGE are checked first.

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::wqe::{flags as wqe_flags, Opcode, Sge, Wqe};

use crate::hw::mr_table::{MrTable, Use};

/// A WQE that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub byte_len: u32,
    pub result: u64,
}

/// A WQE that failed: the CQE status and which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub status: CqeStatus,
    pub vendor: VendorError,
}

impl Failure {
    fn malformed(vendor: VendorError) -> Self {
        Self { status: CqeStatus::LocalQpOperationError, vendor }
    }
    fn protection(vendor: VendorError) -> Self {
        Self { status: CqeStatus::LocalProtectionError, vendor }
    }
}

fn is_zero_sge(sge: &Sge) -> bool {
    *sge == Sge::default()
}

/// Runs `wqe` for a QP in protection domain `pdn`.
pub fn execute(wqe: &Wqe, pdn: u32, mrs: &MrTable) -> Result<Done, Failure> {
    let ctrl = &wqe.ctrl;
    let opcode = Opcode::try_from(ctrl.opcode).map_err(|_| Failure::malformed(VendorError::BadOpcode))?;
    if ctrl.flags & !wqe_flags::KNOWN != 0
        || ctrl.op_mod != 0
        || ctrl.reserved0 != 0
        || ctrl.reserved1 != 0
        || wqe.params.iter().any(|&b| b != 0)
        || !wqe.aux.iter().all(is_zero_sge)
    {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    match opcode {
        Opcode::Nop => {
            if !is_zero_sge(&wqe.src) || !is_zero_sge(&wqe.dst) {
                return Err(Failure::malformed(VendorError::ReservedNonzero));
            }
            Ok(Done { byte_len: 0, result: 0 })
        }
        Opcode::Copy => copy(&wqe.src, &wqe.dst, pdn, mrs),
    }
}

fn copy(src: &Sge, dst: &Sge, pdn: u32, mrs: &MrTable) -> Result<Done, Failure> {
    let from = mrs.resolve(src, pdn, Use::Read).map_err(Failure::protection)?;
    let to = mrs.resolve(dst, pdn, Use::Write).map_err(Failure::protection)?;
    if to.len < from.len {
        return Err(Failure { status: CqeStatus::LocalLengthError, vendor: VendorError::DestinationTooSmall });
    }
    // SAFETY: both ranges were resolved inside live, pinned MRs of this PD (bounds checked with
    // overflow-safe arithmetic) and the MR entries are held until the copy ends, so
    // deregistration waits for us. They may overlap (same MR), hence `copy`, not
    // `copy_nonoverlapping`.
    unsafe { std::ptr::copy(from.ptr, to.ptr, from.len) };
    Ok(Done { byte_len: from.len as u32, result: 0 })
}
