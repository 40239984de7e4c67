//! SEND: delivers the local `src` into the next receive of the QP this one was connected to at
//! RTR (a QP of this device: it is its own fabric). The receiving side is the peer QP's
//! business ([`Responder`]); this side checks its own range and reports what happened to the
//! message the way an RC requester does.

use accelverbs_uapi::cqe::{CqeStatus, VendorError};
use accelverbs_uapi::wqe::{flags, Opcode, Wqe};

use super::{no_params_or_aux, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::{MrView, Resolved, Use};

/// Who answers a QP's SENDs and RDMA.
#[derive(Clone, Copy)]
pub enum Peer<'a> {
    /// Not connected (an accelerator QP, or an RC QP given no `dest_qp_num`): the device
    /// answers RDMA itself, in the posting QP's PD; a SEND reaches nobody.
    Itself,
    /// The QP given at RTR.
    Connected(&'a dyn Responder),
    /// The QP given at RTR is gone.
    Gone,
}

impl Peer<'_> {
    /// The PD an RDMA request's rkey is resolved in, for a QP `qpn` in PD `own_pdn`.
    pub fn rkey_pdn(&self, qpn: u32, own_pdn: u32) -> Result<u32, Failure> {
        match self {
            Peer::Itself => Ok(own_pdn),
            Peer::Connected(responder) => responder.rdma_pdn(qpn),
            Peer::Gone => Err(Failure::not_connected()),
        }
    }

    /// Tells a connected responder it refused an RDMA request on its regions.
    pub fn access_refused(&self) {
        if let Peer::Connected(responder) = self {
            responder.refuse_access();
        }
    }
}

/// The receiving QP, as a SEND or an RDMA request of its connected QP sees it.
pub trait Responder {
    /// Places `len` bytes from `from` (`None` for an empty message) into the next posted
    /// receive and completes it, as a solicited completion if `solicited` (the SEND's
    /// `IBV_SEND_SOLICITED`: it wakes a receive CQ armed for solicited completions only). The failure is the sender's status: `RetryExceeded` when the
    /// receiver is gone or not ready, `ReceiverNotReady` when nothing is posted,
    /// `RemoteInvalidRequest` / `RemoteOperationError` when the receive refused the message
    /// (the receiver then completes it with the local status itself).
    /// `mrs` is the sender's pass's view of the device's MR table, where the receive resolves.
    fn deliver(
        &self,
        mrs: &MrView<'_>,
        from: Option<&Resolved<'_>>,
        len: u32,
        sender_qpn: u32,
        solicited: bool,
    ) -> Result<(), Failure>;
    /// The PD RDMA from QP `requester_qpn` resolves its rkeys in; `RetryExceeded` unless this
    /// QP is ready and connected back to the requester (as an RC responder drops packets of
    /// any other QP).
    fn rdma_pdn(&self, requester_qpn: u32) -> Result<u32, Failure>;
    /// An RDMA request failed a check on this QP's side (key, PD, bounds, rights): it stops,
    /// with an access-error event, as an RC responder does.
    fn refuse_access(&self);
}

impl Failure {
    /// The SEND reached no receiver.
    pub fn not_connected() -> Self {
        Self { status: CqeStatus::RetryExceeded, vendor: VendorError::NotConnected, fatal: true }
    }
    /// The receiver had nothing posted (or no room to complete it).
    pub fn receiver_not_ready() -> Self {
        Self { status: CqeStatus::ReceiverNotReady, vendor: VendorError::NoReceivePosted, fatal: true }
    }
}

#[derive(Debug)]
pub struct Send;

impl Operation for Send {
    fn opcode(&self) -> Opcode {
        Opcode::Send
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        if wqe.dst != Default::default() {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        no_params_or_aux(wqe)?;
        let len = wqe.src.length;
        // An empty message names no memory, so no key is checked (as for RDMA).
        let from = match len {
            0 => None,
            _ => Some(ctx.mrs.resolve(&wqe.src, ctx.pdn, Use::Read).map_err(Failure::protection)?),
        };
        let Peer::Connected(peer) = ctx.peer else { return Err(Failure::not_connected()) };
        peer.deliver(ctx.mrs, from.as_ref(), len, ctx.qpn, wqe.ctrl.flags & flags::SOLICITED != 0)?;
        Ok(Done::ok(len, 0))
    }
}
