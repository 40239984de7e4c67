//! RDMA_WRITE and RDMA_READ between regions of the device: data moves, and every remote check
//! (access right, key, PD, bounds) refuses with the verbs status, stopping the QP.

use accelverbs::uapi::verbs::IB_UVERBS_QPT_RC;
use accelverbs::{Access, Copy, CqeStatus, ExecPolicy, Nop, QpInit, QpState, QpType, RdmaRead, RdmaWrite, Sge, VendorError};
use accelverbs_tests::raw::RawFile;
use accelverbs_tests::{device, pattern, poll_n, Base, Traffic};

const LEN: usize = 8192;

#[test]
fn rdma_write_then_read_moves_the_bytes_both_ways() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
        let mut t = Traffic::new(1, policy, 8);
        let data = pattern(7, LEN);
        let local = t.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
        let remote_access = Access::LOCAL_WRITE | Access::REMOTE_WRITE | Access::REMOTE_READ;
        let mut remote = t.base.pd.alloc_mr(LEN, remote_access).unwrap();
        let mut back = t.base.pd.alloc_mr(LEN, Access::LOCAL_WRITE).unwrap();

        t.qp.post(RdmaWrite::new(1, local.slice(0, LEN as u32), remote.slice_mut(0, LEN as u32))).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!((wc.status, wc.wr_id, wc.byte_len), (CqeStatus::Success, 1, LEN as u32));
        assert_eq!(remote.as_slice().unwrap(), &data[..]);

        t.qp.post(RdmaRead::new(2, remote.slice(0, LEN as u32), back.slice_mut(0, LEN as u32))).unwrap();
        let wc = poll_n(&mut t.cq, 1)[0];
        assert_eq!((wc.status, wc.wr_id, wc.byte_len), (CqeStatus::Success, 2, LEN as u32));
        assert_eq!(back.as_slice().unwrap(), &data[..]);
    }
}

/// Posts `first` (which must fail with `status`/`vendor`) and a good write after it, which
/// must be flushed: the failure moved the QP to ERR.
fn refused_and_flushed(t: &mut Traffic, first: impl accelverbs::WorkRequest, status: CqeStatus, vendor: VendorError) {
    t.qp.post(first).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (status, vendor), "{wc:?}");
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
    let src = t.base.pd.alloc_mr(64, Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    t.qp.post(RdmaWrite::new(9, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::WorkRequestFlushed);
}

#[test]
fn a_remote_region_without_the_right_refuses_with_a_remote_access_error() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let local = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let mut no_remote_write = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_READ).unwrap();
    let write = RdmaWrite::new(1, local.slice(0, 64), no_remote_write.slice_mut(0, 64));
    refused_and_flushed(&mut t, write, CqeStatus::RemoteAccessError, VendorError::AccessDenied);
    assert_eq!(no_remote_write.as_slice().unwrap(), &[0; 64][..], "nothing was written");

    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let no_remote_read = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let mut into = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let read = RdmaRead::new(1, no_remote_read.slice(0, 64), into.slice_mut(0, 64));
    refused_and_flushed(&mut t, read, CqeStatus::RemoteAccessError, VendorError::AccessDenied);
}

#[test]
fn stale_foreign_and_out_of_bounds_rkeys_are_refused() {
    let all = Access::LOCAL_WRITE | Access::REMOTE_WRITE | Access::REMOTE_READ;
    // Stale: the region was deregistered (its key is never issued again).
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let local = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let gone = t.base.pd.alloc_mr(64, all).unwrap();
    let stale = gone.sge(0, 64);
    drop(gone);
    let _replacement = t.base.pd.alloc_mr(64, all).unwrap();
    // SAFETY: the destination names no live memory; the device refuses it.
    let write = unsafe { RdmaWrite::from_sges(1, local.sge(0, 64), stale) };
    refused_and_flushed(&mut t, write, CqeStatus::RemoteAccessError, VendorError::KeyStale);

    // Another PD's region: its rkey is refused, as an rkey of another responder's PD.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let local = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let other_pd = t.base.ctx.alloc_pd().unwrap();
    let foreign = other_pd.alloc_mr(64, all).unwrap();
    // SAFETY: the device refuses the destination, so nothing writes `foreign`.
    let write = unsafe { RdmaWrite::from_sges(1, local.sge(0, 64), foreign.sge(0, 64)) };
    refused_and_flushed(&mut t, write, CqeStatus::RemoteAccessError, VendorError::PdMismatch);
    assert_eq!(foreign.as_slice().unwrap(), &[0; 64][..]);

    // Past the remote region's end.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let local = t.base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let small = t.base.pd.alloc_mr(4096, all).unwrap();
    let beyond = Sge { length: 4096, ..small.sge(2048, 4096) };
    // SAFETY: the range runs past the region; the device refuses it.
    let read = unsafe { RdmaRead::from_sges(1, beyond, local.sge(0, 4096)) };
    refused_and_flushed(&mut t, read, CqeStatus::RemoteAccessError, VendorError::OutOfBounds);
}

#[test]
fn a_local_failure_keeps_the_local_status() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let remote = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_READ).unwrap();
    let mut read_only = t.base.pd.alloc_mr(64, Access::empty()).unwrap();
    let read = RdmaRead::new(1, remote.slice(0, 64), read_only.slice_mut(0, 64));
    refused_and_flushed(&mut t, read, CqeStatus::LocalProtectionError, VendorError::AccessDenied);
}

#[test]
fn a_zero_length_rdma_write_needs_no_keys() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    // SAFETY: nothing is named: the keys are zero and so are the lengths.
    let empty = unsafe { RdmaWrite::from_sges(5, Sge::default(), Sge::default()) };
    t.qp.post(empty).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.status, wc.wr_id, wc.byte_len), (CqeStatus::Success, 5, 0));
}

#[test]
fn a_write_past_the_remote_range_is_the_remote_sides_refusal() {
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let local = t.base.pd.reg_mr(pattern(3, 64), Access::empty()).unwrap();
    let mut remote = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let write = RdmaWrite::new(1, local.slice(0, 64), remote.slice_mut(0, 32));
    refused_and_flushed(&mut t, write, CqeStatus::RemoteAccessError, VendorError::OutOfBounds);
    assert_eq!(remote.as_slice().unwrap(), &[0; 64][..], "nothing was written");

    // A read into a local range too short for it is the local side's, as for COPY.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let remote = t.base.pd.alloc_mr(64, Access::REMOTE_READ).unwrap();
    let mut local = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let read = RdmaRead::new(1, remote.slice(0, 64), local.slice_mut(0, 32));
    refused_and_flushed(&mut t, read, CqeStatus::LocalLengthError, VendorError::DestinationTooSmall);
}

#[test]
fn an_rc_qp_runs_rdma_and_the_accelerator_opcodes() {
    let base = Base::new(1, ExecPolicy::Threads);
    let mut cq = base.ctx.create_cq(16, None).unwrap();
    let mut qp = base.pd.create_qp(&cq, QpInit::new(8).qp_type(QpType::Rc)).unwrap();
    let data = pattern(11, 4096);
    let local = base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
    let mut remote = base.pd.alloc_mr(4096, Access::LOCAL_WRITE | Access::REMOTE_WRITE | Access::REMOTE_READ).unwrap();
    let mut back = base.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();

    // Unsignaled: its success produces no CQE; the QP's order puts its bytes before the read's.
    qp.post(RdmaWrite::new(1, local.slice(0, 4096), remote.slice_mut(0, 4096)).signaled(false)).unwrap();
    qp.post(RdmaRead::new(2, remote.slice(0, 2048), back.slice_mut(0, 2048)).solicited()).unwrap();
    qp.post(Copy::new(3, remote.slice(2048, 2048), back.slice_mut(2048, 2048))).unwrap();
    qp.post(Nop::new(4)).unwrap();
    let wcs = poll_n(&mut cq, 3);
    let seen: Vec<_> = wcs.iter().map(|wc| (wc.wr_id, wc.status, wc.byte_len)).collect();
    assert_eq!(seen, [(2, CqeStatus::Success, 2048), (3, CqeStatus::Success, 2048), (4, CqeStatus::Success, 0)]);
    assert_eq!(back.as_slice().unwrap(), &data[..]);
}

#[test]
fn a_verbs_program_creates_its_rc_qp_through_the_ioctl() {
    let dev = device(1);
    let mut f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    let cq = f.create_cq(16).unwrap();
    let qp = f.create_qp_of_type(pd, cq, 16, IB_UVERBS_QPT_RC).unwrap();
    assert_eq!(f.resource_counts().qps, 1);
    // UC and UD have no meaning on a device that answers its own RDMA.
    for other in [3, 4] {
        assert_eq!(f.create_qp_of_type(pd, cq, 16, other), Err(libc::EOPNOTSUPP), "qp_type {other}");
    }
    f.destroy_qp(qp).unwrap();
    assert_eq!(f.resource_counts().qps, 0);
}
