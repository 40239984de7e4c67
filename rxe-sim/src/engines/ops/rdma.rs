//! RDMA_WRITE and RDMA_READ between regions of this device: the remote range is resolved in
//! the same table, by rkey, with remote access rights, in the PD of the QP the posting QP was
//! connected to at RTR (which must be ready and connected back), or in the posting QP's own PD
//! if it was never connected (the device answering itself). A failed check on the remote side
//! completes with `RemoteAccessError`; on the local side, with the local statuses COPY uses.
//! Either stops the QP.

use accelverbs_uapi::cqe::VendorError;
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::copy::copy_resolved;
use super::{no_params_or_aux, Done, ExecContext, Failure, Operation};
use crate::hw::mr_table::Use;

/// Which side of the WQE is the remote one.
#[derive(Debug)]
pub struct Rdma {
    opcode: Opcode,
}

/// `src` local (read), `dst` remote (an rkey with remote-write access).
pub static RDMA_WRITE: Rdma = Rdma { opcode: Opcode::RdmaWrite };
/// `src` remote (an rkey with remote-read access), `dst` local (local write).
pub static RDMA_READ: Rdma = Rdma { opcode: Opcode::RdmaRead };

impl Operation for Rdma {
    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn max_sge(&self) -> u32 {
        1
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        no_params_or_aux(wqe)?;
        // A zero-length transfer moves nothing, so no key is checked (as on the wire, where it
        // carries no data); verbs programs post them with no SGE at all.
        if wqe.src.length == 0 {
            return Ok(Done::ok(0, 0));
        }
        let (mrs, pdn) = (ctx.mrs, ctx.pdn);
        // A remote failure is the responder's too: a connected one stops.
        let refused = |vendor| {
            ctx.peer.access_refused();
            Failure::remote_access(vendor)
        };
        // Checked in the order data moves: a write's local source before the request leaves
        // (so before any responder is reached), a read's remote source before it lands.
        if self.opcode == Opcode::RdmaWrite {
            let from = mrs.resolve(&wqe.src, pdn, Use::Read).map_err(Failure::protection)?;
            let remote_pdn = ctx.peer.rkey_pdn(ctx.qpn, pdn)?;
            let to = mrs.resolve(&wqe.dst, remote_pdn, Use::RemoteWrite).map_err(refused)?;
            // Writing past the remote range is the remote side's refusal.
            if to.len < from.len {
                return Err(refused(VendorError::OutOfBounds));
            }
            let done = copy_resolved(&from, &to, Failure::remote_access(VendorError::OutOfBounds))?;
            // A remote region reached by copies goes back now: a page it cannot write is the
            // responder's refusal (a remote access error), not a local one.
            drop(to);
            if !mrs.put_back() {
                return Err(refused(VendorError::PageFault));
            }
            Ok(done)
        } else {
            let remote_pdn = ctx.peer.rkey_pdn(ctx.qpn, pdn)?;
            let from = mrs.resolve(&wqe.src, remote_pdn, Use::RemoteRead).map_err(refused)?;
            let to = mrs.resolve(&wqe.dst, pdn, Use::Write).map_err(Failure::protection)?;
            copy_resolved(&from, &to, Failure::length(VendorError::DestinationTooSmall))
        }
    }
}
