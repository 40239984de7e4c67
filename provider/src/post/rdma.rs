//! RDMA_WRITE and RDMA_READ between regions of the device (it is its own fabric): a COPY whose
//! remote side is named by the region's rkey and checked for remote access.

use accelverbs_uapi::wqe::{Opcode, Sge, Wqe};

use super::{completion_options, sealed, Copy, ListWriter};
use crate::in_flight::{Borrower, Regions};
use crate::{MrSlice, MrSliceMut, PostError};

/// Writes `local` into `remote`, a range of a region with [`crate::Access::REMOTE_WRITE`]
/// (`IBV_WR_RDMA_WRITE`). `remote` must be at least as long. The remote side is a region of
/// this context, named by its rkey and resolved in the PD of the QP this one is connected to
/// ([`crate::Qp::connect`]; its own if never connected), and held until completion like a
/// COPY's destination; a failed remote check completes with
/// [`crate::CqeStatus::RemoteAccessError`].
#[derive(Debug)]
pub struct RdmaWrite<'a>(Copy<'a>);

/// Reads `remote`, a range of a region with [`crate::Access::REMOTE_READ`], into `local`
/// (`IBV_WR_RDMA_READ`). `local` must be at least as long. The remote side is held like a
/// COPY's source; see [`RdmaWrite`] for how it is named and checked.
#[derive(Debug)]
pub struct RdmaRead<'a>(Copy<'a>);

impl<'a> RdmaWrite<'a> {
    /// Signaled by default.
    pub fn new(wr_id: u64, local: MrSlice<'a>, remote: MrSliceMut<'a>) -> Self {
        let rkey = remote.mr.rkey();
        Self(Copy::new(wr_id, local, remote).with_dst_key(rkey))
    }

    /// An RDMA write of SGEs exactly as given (`dst.lkey` carries the rkey).
    ///
    /// # Safety
    /// As [`Copy::from_sges`].
    pub unsafe fn from_sges(wr_id: u64, src: Sge, dst: Sge) -> RdmaWrite<'static> {
        // SAFETY: the caller's contract is `Copy::from_sges`'s.
        RdmaWrite(unsafe { Copy::from_sges(wr_id, src, dst) })
    }
}

impl<'a> RdmaRead<'a> {
    /// Signaled by default.
    pub fn new(wr_id: u64, remote: MrSlice<'a>, local: MrSliceMut<'a>) -> Self {
        let rkey = remote.mr.rkey();
        Self(Copy::new(wr_id, remote, local).with_src_key(rkey))
    }

    /// An RDMA read of SGEs exactly as given (`src.lkey` carries the rkey).
    ///
    /// # Safety
    /// As [`Copy::from_sges`].
    pub unsafe fn from_sges(wr_id: u64, src: Sge, dst: Sge) -> RdmaRead<'static> {
        // SAFETY: the caller's contract is `Copy::from_sges`'s.
        RdmaRead(unsafe { Copy::from_sges(wr_id, src, dst) })
    }
}

completion_options!(RdmaWrite<'a>, flags: 0.flags);
completion_options!(RdmaRead<'a>, flags: 0.flags);

macro_rules! encode_as {
    ($wr:ident, $opcode:expr) => {
        impl sealed::Encode for $wr<'_> {
            fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
                self.0.encode(wqe, lists);
                wqe.ctrl.opcode = $opcode as u8;
            }

            fn payload_bytes(&self) -> u64 {
                self.0.payload_bytes()
            }

            fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
                self.0.regions(qp, held)
            }
        }
    };
}
encode_as!(RdmaWrite, Opcode::RdmaWrite);
encode_as!(RdmaRead, Opcode::RdmaRead);
