//! SEND and receives: a message from one QP into a receive posted on the QP it was connected
//! to at RTR ([`crate::Qp::connect`]), on this device (loopback, as the device is its own
//! fabric).

use std::sync::Arc;

use accelverbs_uapi::recv::RecvWqe;
use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};

use super::{completion_options, sealed, ListWriter};
use crate::in_flight::{Borrower, DeviceAccess, RegionUse, Regions};
use crate::mr::MrShared;
use crate::{MrSlice, MrSliceMut, PostError};

/// Sends `src` to the connected QP (`IBV_WR_SEND`), which completes its oldest posted
/// [`Recv`] with the bytes. There is no retry: a receiver with nothing posted completes this
/// with [`crate::CqeStatus::ReceiverNotReady`], one that is gone or not connected with
/// [`crate::CqeStatus::RetryExceeded`].
#[derive(Debug)]
pub struct Send<'a> {
    wr_id: u64,
    src: Sge,
    flags: u8,
    region: Option<&'a Arc<MrShared>>,
}

impl<'a> Send<'a> {
    /// Signaled by default.
    pub fn new(wr_id: u64, src: MrSlice<'a>) -> Self {
        Self { wr_id, src: src.sge, flags: flags::SIGNALED, region: Some(src.mr) }
    }

    /// A SEND of an SGE exactly as given (any key, any address; a zero length names nothing).
    ///
    /// # Safety
    /// Until this request completes, no mutable Rust reference may exist to memory `src`
    /// names, and that memory must stay registered.
    pub unsafe fn from_sge(wr_id: u64, src: Sge) -> Send<'static> {
        Send { wr_id, src, flags: flags::SIGNALED, region: None }
    }
}

completion_options!(Send<'a>);

impl sealed::Encode for Send<'_> {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = Opcode::Send as u8;
        wqe.ctrl.flags = self.flags;
        wqe.src = self.src;
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.src.length)
    }

    fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        if let Some(mr) = self.region {
            held.put(Regions::one(RegionUse::new(mr, qp, DeviceAccess::Read)?));
        }
        Ok(())
    }
}

/// A receive (`ibv_post_recv`): where the next SEND from the connected QP lands. Its
/// completion ([`crate::WorkCompletion::is_receive`]) says how many bytes arrived; the region
/// is the device's to write until then.
#[derive(Debug)]
pub struct Recv<'a> {
    pub(crate) wr_id: u64,
    pub(crate) dst: Sge,
    region: Option<&'a Arc<MrShared>>,
}

impl<'a> Recv<'a> {
    pub fn new(wr_id: u64, dst: MrSliceMut<'a>) -> Self {
        Self { wr_id, dst: dst.sge, region: Some(dst.mr) }
    }

    /// A receive into an SGE exactly as given (any key, any address; a zero length takes only
    /// empty messages).
    ///
    /// # Safety
    /// Until this receive completes, no Rust reference may exist to memory `dst` names, and
    /// that memory must stay registered.
    pub unsafe fn from_sge(wr_id: u64, dst: Sge) -> Recv<'static> {
        Recv { wr_id, dst, region: None }
    }

    pub(crate) fn wqe(&self) -> RecvWqe {
        RecvWqe { wr_id: self.wr_id, sge: self.dst, reserved: [0; 8] }
    }

    pub(crate) fn regions(&self, qp: Borrower<'_>) -> Result<Regions, PostError> {
        Ok(match self.region {
            Some(mr) => Regions::one(RegionUse::new(mr, qp, DeviceAccess::Write)?),
            None => Regions::default(),
        })
    }
}
