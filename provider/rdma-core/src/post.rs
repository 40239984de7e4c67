//! `ibv_post_send`: each `ibv_send_wr` becomes one WQE, staged on the QP; the list is published
//! with one doorbell. `ibv_post_recv`: each `ibv_recv_wr` becomes one receive of the QP's
//! receive queue, which SENDs from the QP connected to it fill.

use std::ffi::c_int;

use accelverbs::uapi::recv::OPCODE_RECV;
use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe};
use accelverbs::{PostError, RawWqe, Recv};

use crate::ffi::guard;
use crate::qp::PluginQp;
use crate::sys;

/// Posts `wr` and the requests chained after it. On failure, `bad_wr` names the first request
/// not posted; those before it were posted (and will complete).
pub unsafe extern "C" fn post_send(qp: *mut sys::ibv_qp, wr: *mut sys::ibv_send_wr, bad_wr: *mut *mut sys::ibv_send_wr) -> c_int {
    guard("post_send", libc::EIO, || {
        // SAFETY: libibverbs passes a QP of this provider.
        let plugin = unsafe { PluginQp::from_ibv(qp) };
        let mut queue = match plugin.sq.lock() {
            Ok(queue) => queue,
            Err(errno) => {
                if !bad_wr.is_null() {
                    // SAFETY: the application's out-pointer.
                    unsafe { *bad_wr = wr };
                }
                return errno;
            }
        };
        let qp = &mut queue.qp;
        let mut current = wr;
        let mut failed = 0;
        while !current.is_null() {
            // SAFETY: the application's list of requests, valid for the call.
            let request = unsafe { &*current };
            let staged = translate(request).and_then(|wqe| {
                // SAFETY: the verbs contract: memory a request names stays registered and
                // untouched by the application until its completion.
                qp.stage(unsafe { RawWqe::new(wqe) }).map_err(post_errno)
            });
            if let Err(errno) = staged {
                failed = errno;
                break;
            }
            current = request.next;
        }
        qp.ring_staged();
        if failed != 0 && !bad_wr.is_null() {
            // SAFETY: the application's out-pointer.
            unsafe { *bad_wr = current };
        }
        failed
    })
}

/// The errno verbs programs expect for a request the queue did not take.
pub fn post_errno(e: PostError) -> c_int {
    match e {
        PostError::QueueFull => libc::ENOMEM,
        _ => libc::EINVAL,
    }
}

/// The one SGE of a request (none: an empty one); `EINVAL` for more (`max_sge` is 1).
///
/// # Safety
/// `sg_list` has `num_sge` entries.
unsafe fn single_sge(num_sge: c_int, sg_list: *const sys::ibv_sge) -> Result<Sge, c_int> {
    match num_sge {
        0 => Ok(Sge::default()),
        1 => {
            // SAFETY: the caller's contract.
            let sge = unsafe { &*sg_list };
            Ok(Sge { addr: sge.addr, length: sge.length, lkey: sge.lkey })
        }
        _ => Err(libc::EINVAL),
    }
}

/// One `ibv_send_wr` as a WQE; `EINVAL` for what the device does not do.
fn translate(wr: &sys::ibv_send_wr) -> Result<Wqe, c_int> {
    // SAFETY: the application's scatter/gather list has `num_sge` entries.
    let local = unsafe { single_sge(wr.num_sge, wr.sg_list) }?;
    // SAFETY: the `rdma` member is the one RDMA opcodes use; it is plain data either way.
    let rdma = unsafe { wr.wr.rdma };
    let mut wqe = verbs_wqe(wr.opcode, wr.wr_id, wr.send_flags, rdma.rkey, rdma.remote_addr)?;
    set_local(&mut wqe, local);
    Ok(wqe)
}

/// The WQE of a verbs opcode (`IBV_WR_SEND`, `IBV_WR_RDMA_WRITE`, `IBV_WR_RDMA_READ`), naming
/// the remote range of an RDMA one, its local SGE still empty; `EINVAL` for another opcode or
/// for send flags the device does not honour.
pub fn verbs_wqe(opcode: sys::ibv_wr_opcode, wr_id: u64, send_flags: u32, rkey: u32, remote_addr: u64) -> Result<Wqe, c_int> {
    let mut wqe = base_wqe(wr_id, send_flags)?;
    let remote = Sge { addr: remote_addr, length: 0, lkey: rkey };
    match opcode {
        sys::IBV_WR_SEND => wqe.ctrl.opcode = Opcode::Send as u8,
        sys::IBV_WR_RDMA_WRITE => {
            wqe.ctrl.opcode = Opcode::RdmaWrite as u8;
            wqe.dst = remote;
        }
        sys::IBV_WR_RDMA_READ => {
            wqe.ctrl.opcode = Opcode::RdmaRead as u8;
            wqe.src = remote;
        }
        _ => return Err(libc::EINVAL),
    }
    Ok(wqe)
}

/// A WQE with the request's id and flags, opcode and SGEs still zero; `EINVAL` for send flags
/// the device does not honour (inline data, checksum offload: `max_inline_data` is 0).
pub fn base_wqe(wr_id: u64, send_flags: u32) -> Result<Wqe, c_int> {
    let known = sys::IBV_SEND_FENCE | sys::IBV_SEND_SIGNALED | sys::IBV_SEND_SOLICITED;
    if send_flags & !known != 0 {
        return Err(libc::EINVAL);
    }
    let mut wqe = Wqe::default();
    wqe.ctrl.wr_id = wr_id;
    wqe.ctrl.flags = flag_if(send_flags, sys::IBV_SEND_SIGNALED, flags::SIGNALED)
        | flag_if(send_flags, sys::IBV_SEND_SOLICITED, flags::SOLICITED)
        | flag_if(send_flags, sys::IBV_SEND_FENCE, flags::FENCE);
    Ok(wqe)
}

/// Sets the local side of a verbs WQE; an RDMA one's remote range has the same length.
pub fn set_local(wqe: &mut Wqe, local: Sge) {
    match Opcode::try_from(wqe.ctrl.opcode) {
        Ok(Opcode::RdmaRead) => {
            wqe.dst = local;
            wqe.src.length = local.length;
        }
        Ok(Opcode::RdmaWrite) => {
            wqe.src = local;
            wqe.dst.length = local.length;
        }
        _ => wqe.src = local,
    }
}

fn flag_if(bits: u32, verbs_flag: u32, wqe_flag: u8) -> u8 {
    if bits & verbs_flag != 0 {
        wqe_flag
    } else {
        0
    }
}

/// The `ibv_wc_opcode` of a completion of device opcode `opcode`: SEND, RDMA and receives
/// keep their verbs opcode; the accelerator operations report `IBV_WC_DRIVER1` (acceldv.h
/// tells them apart).
pub fn wc_opcode(opcode: u8) -> sys::ibv_wc_opcode {
    if opcode == OPCODE_RECV {
        return sys::IBV_WC_RECV;
    }
    match Opcode::try_from(opcode) {
        Ok(Opcode::Send) => sys::IBV_WC_SEND,
        Ok(Opcode::RdmaWrite) => sys::IBV_WC_RDMA_WRITE,
        Ok(Opcode::RdmaRead) => sys::IBV_WC_RDMA_READ,
        _ => sys::IBV_WC_DRIVER1,
    }
}

/// Posts `wr` and the receives chained after it to the QP's receive queue. On failure,
/// `bad_wr` names the first one not posted; those before it were posted.
pub unsafe extern "C" fn post_recv(qp: *mut sys::ibv_qp, wr: *mut sys::ibv_recv_wr, bad_wr: *mut *mut sys::ibv_recv_wr) -> c_int {
    guard("post_recv", libc::EIO, || {
        // SAFETY: libibverbs passes a QP of this provider.
        let plugin = unsafe { PluginQp::from_ibv(qp) };
        let mut current = wr;
        let failed = plugin.sq.for_receive(|queue| loop {
            if current.is_null() {
                break 0;
            }
            // SAFETY: the application's list of receives, valid for the call.
            let request = unsafe { &*current };
            // SAFETY: the application's scatter/gather list has `num_sge` entries.
            let posted = unsafe { single_sge(request.num_sge, request.sg_list) }.and_then(|sge| {
                // SAFETY: the verbs contract: memory a receive names stays registered and
                // untouched by the application until its completion.
                queue.qp.post_recv(unsafe { Recv::from_sge(request.wr_id, sge) }).map_err(post_errno)
            });
            if let Err(errno) = posted {
                break errno;
            }
            current = request.next;
        });
        if failed != 0 && !bad_wr.is_null() {
            // SAFETY: the application's out-pointer.
            unsafe { *bad_wr = current };
        }
        failed
    })
}
