//! The `ibv_wr_*` interface of an extended QP (`ibv_qp_ex`): `ibv_wr_start`, one builder call
//! per request (`ibv_wr_send`, `ibv_wr_rdma_write`, `ibv_wr_rdma_read`) followed by its SGE
//! (`ibv_wr_set_sge`, `ibv_wr_set_sge_list`), then `ibv_wr_complete`, which publishes the
//! whole sequence with one doorbell, or `ibv_wr_abort`. As in rdma-core's providers, an error
//! in the sequence is reported by `ibv_wr_complete`, and then nothing of it is posted.

use std::ffi::c_int;

use accelverbs::uapi::wqe::Sge;
use accelverbs::RawWqe;

use crate::ffi::guard;
use crate::post::{post_errno, set_local, verbs_wqe};
use crate::qp::PluginQp;
use crate::send_queue::Queue;
use crate::sys;

/// The send operations an extended QP may ask for.
pub const SUPPORTED_SEND_OPS: u64 =
    (sys::IBV_QP_EX_WITH_SEND | sys::IBV_QP_EX_WITH_RDMA_WRITE | sys::IBV_QP_EX_WITH_RDMA_READ) as u64;

/// Installs the builders in `qpx`.
pub fn install(qpx: &mut sys::ibv_qp_ex) {
    qpx.wr_start = Some(wr_start);
    qpx.wr_complete = Some(wr_complete);
    qpx.wr_abort = Some(wr_abort);
    qpx.wr_send = Some(wr_send);
    qpx.wr_rdma_write = Some(wr_rdma_write);
    qpx.wr_rdma_read = Some(wr_rdma_read);
    qpx.wr_set_sge = Some(wr_set_sge);
    qpx.wr_set_sge_list = Some(wr_set_sge_list);
}

/// The QP behind `qpx`.
///
/// # Safety
/// `qpx` is an extended QP of this provider.
unsafe fn plugin<'a>(qpx: *mut sys::ibv_qp_ex) -> &'a PluginQp {
    // SAFETY: `ibv_qp_ex` starts with `ibv_qp`, which starts `PluginQp` (caller's contract).
    unsafe { PluginQp::from_ibv(qpx.cast()) }
}

/// The queue, if this thread is inside a `wr_start` … `wr_complete` sequence on the QP; a
/// builder called outside one does nothing (and `wr_complete` reports `EINVAL`).
///
/// # Safety
/// `qpx` is an extended QP of this provider.
unsafe fn queue<'a>(qpx: *mut sys::ibv_qp_ex) -> Option<&'a mut Queue> {
    // SAFETY: the caller's contract.
    unsafe { plugin(qpx) }.sq.in_sequence()
}

/// Stages the request being built, if any; the first failure is kept for `wr_complete`.
pub(crate) fn stage_building(queue: &mut Queue) {
    if let Some(wqe) = queue.building.take() {
        // SAFETY: the verbs contract: memory a request names stays registered and untouched
        // by the application until its completion.
        if let Err(e) = queue.qp.stage(unsafe { RawWqe::new(wqe) }) {
            fail(queue, post_errno(e));
        }
    }
}

pub(crate) fn fail(queue: &mut Queue, errno: c_int) {
    if queue.error == 0 {
        queue.error = errno;
    }
}

unsafe extern "C" fn wr_start(qpx: *mut sys::ibv_qp_ex) {
    guard("wr_start", (), || {
        // SAFETY: libibverbs passes an extended QP of this provider.
        let sq = &unsafe { plugin(qpx) }.sq;
        let fresh = sq.begin_sequence();
        let Some(queue) = sq.in_sequence() else { return };
        if fresh {
            queue.building = None;
            queue.error = 0;
        } else {
            // A second `wr_start` inside this thread's sequence: the sequence fails.
            fail(queue, libc::EINVAL);
        }
    })
}

/// Begins a verbs request (SEND or RDMA) from the QP's `wr_id` and `wr_flags`.
///
/// # Safety
/// As [`queue`].
unsafe fn begin_verbs(qpx: *mut sys::ibv_qp_ex, opcode: sys::ibv_wr_opcode, rkey: u32, remote_addr: u64) {
    // SAFETY: the caller's contract; the application sets `wr_id` and `wr_flags` before the
    // builder call.
    let (queue, wr_id, wr_flags) = unsafe { (queue(qpx), (*qpx).wr_id, (*qpx).wr_flags) };
    let Some(queue) = queue else { return };
    stage_building(queue);
    match verbs_wqe(opcode, wr_id, wr_flags, rkey, remote_addr) {
        Ok(wqe) => queue.building = Some(wqe),
        Err(errno) => fail(queue, errno),
    }
}

unsafe extern "C" fn wr_send(qpx: *mut sys::ibv_qp_ex) {
    // SAFETY: libibverbs passes the QP of a `wr_start` sequence.
    guard("wr_send", (), || unsafe { begin_verbs(qpx, sys::IBV_WR_SEND, 0, 0) })
}

unsafe extern "C" fn wr_rdma_write(qpx: *mut sys::ibv_qp_ex, rkey: u32, remote_addr: u64) {
    // SAFETY: libibverbs passes the QP of a `wr_start` sequence.
    guard("wr_rdma_write", (), || unsafe { begin_verbs(qpx, sys::IBV_WR_RDMA_WRITE, rkey, remote_addr) })
}

unsafe extern "C" fn wr_rdma_read(qpx: *mut sys::ibv_qp_ex, rkey: u32, remote_addr: u64) {
    // SAFETY: libibverbs passes the QP of a `wr_start` sequence.
    guard("wr_rdma_read", (), || unsafe { begin_verbs(qpx, sys::IBV_WR_RDMA_READ, rkey, remote_addr) })
}

/// Sets the local SGE of the request being built (`EINVAL` at completion if none is).
///
/// # Safety
/// As [`queue`].
unsafe fn set_sge(qpx: *mut sys::ibv_qp_ex, local: Sge) {
    // SAFETY: the caller's contract.
    let Some(queue) = (unsafe { queue(qpx) }) else { return };
    match queue.building.as_mut() {
        Some(wqe) => set_local(wqe, local),
        None => fail(queue, libc::EINVAL),
    }
}

unsafe extern "C" fn wr_set_sge(qpx: *mut sys::ibv_qp_ex, lkey: u32, addr: u64, length: u32) {
    // SAFETY: libibverbs passes the QP of a `wr_start` sequence.
    guard("wr_set_sge", (), || unsafe { set_sge(qpx, Sge { addr, length, lkey }) })
}

unsafe extern "C" fn wr_set_sge_list(qpx: *mut sys::ibv_qp_ex, num_sge: usize, sg_list: *const sys::ibv_sge) {
    guard("wr_set_sge_list", (), || match num_sge {
        // SAFETY: libibverbs passes the QP of a `wr_start` sequence.
        0 => unsafe { set_sge(qpx, Sge::default()) },
        1 => {
            // SAFETY: the application's list has `num_sge` entries.
            let sge = unsafe { &*sg_list };
            // SAFETY: as above.
            unsafe { set_sge(qpx, Sge { addr: sge.addr, length: sge.length, lkey: sge.lkey }) }
        }
        // One SGE per side (max_sge is 1).
        _ => {
            // SAFETY: as above.
            if let Some(queue) = unsafe { queue(qpx) } {
                fail(queue, libc::EINVAL);
            }
        }
    })
}

unsafe extern "C" fn wr_complete(qpx: *mut sys::ibv_qp_ex) -> c_int {
    guard("wr_complete", libc::EIO, || {
        // SAFETY: libibverbs passes an extended QP of this provider.
        let sq = &unsafe { plugin(qpx) }.sq;
        let Some(queue) = sq.in_sequence() else { return libc::EINVAL };
        stage_building(queue);
        let error = queue.error;
        if error != 0 {
            queue.qp.abort_staged();
        } else {
            queue.qp.ring_staged();
        }
        // SAFETY: this thread's sequence ends here; `queue` is not used past this point.
        unsafe { sq.end_sequence() };
        error
    })
}

unsafe extern "C" fn wr_abort(qpx: *mut sys::ibv_qp_ex) {
    guard("wr_abort", (), || {
        // SAFETY: libibverbs passes an extended QP of this provider.
        let sq = &unsafe { plugin(qpx) }.sq;
        let Some(queue) = sq.in_sequence() else { return };
        queue.building = None;
        queue.qp.abort_staged();
        // SAFETY: this thread's sequence ends here; `queue` is not used past this point.
        unsafe { sq.end_sequence() };
    })
}
