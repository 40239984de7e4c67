//! SEND and receive between QPs of the device (it is its own fabric): the bytes land in the
//! oldest posted receive, both sides complete, and every way a SEND can fail gives the
//! RC status on each side, stops the QPs it should, and loses no receive.

use accelverbs::uapi::recv::OPCODE_RECV;
use accelverbs::uapi::wqe::Opcode;
use accelverbs::{
    Access, Copy, Cq, CqeStatus, ExecPolicy, MemoryRegion, PostError, Qp, QpInit, QpState, QpType, Recv, Send, Sge, VendorError,
    WorkCompletion,
};
use accelverbs_tests::{assert_no_more, pattern, poll_n, Base};

const LEN: u32 = 4096;

/// An RC QP with a receive queue, connected to `dest` (or to itself) and in RTS.
fn rc_qp(base: &Base, send_cq: &Cq, recv_cq: &Cq, dest: Option<u32>) -> Qp {
    let init = QpInit::new(8).qp_type(QpType::Rc).max_recv_wr(4);
    let mut qp = base.pd.create_qp_with_recv_cq(send_cq, recv_cq, init).unwrap();
    qp.modify(QpState::Init).unwrap();
    qp.connect(dest.unwrap_or(qp.qpn())).unwrap();
    qp.modify(QpState::Rts).unwrap();
    qp
}

/// Two connected QPs, each completing sends and receives to CQs of their own.
struct Pair {
    base: Base,
    a_send: Cq,
    b_recv: Cq,
    a: Qp,
    b: Qp,
}

impl Pair {
    fn new(policy: ExecPolicy) -> Self {
        let base = Base::new(1, policy);
        let (a_send, b_recv) = (base.ctx.create_cq(16, None).unwrap(), base.ctx.create_cq(16, None).unwrap());
        let b_send = base.ctx.create_cq(16, None).unwrap();
        // B first, so A can name it; then B is connected back to A.
        let init = QpInit::new(8).qp_type(QpType::Rc).max_recv_wr(4);
        let mut b = base.pd.create_qp_with_recv_cq(&b_send, &b_recv, init).unwrap();
        let a = rc_qp(&base, &a_send, &a_send, Some(b.qpn()));
        b.modify(QpState::Init).unwrap();
        b.connect(a.qpn()).unwrap();
        b.modify(QpState::Rts).unwrap();
        Self { base, a_send, b_recv, a, b }
    }

    fn mr(&self, len: u32) -> MemoryRegion {
        self.base.pd.alloc_mr(len as usize, Access::LOCAL_WRITE).unwrap()
    }
}

fn one(cq: &mut Cq) -> WorkCompletion {
    poll_n(cq, 1)[0]
}

#[test]
fn a_send_lands_in_the_oldest_receive_and_both_sides_complete() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads, ExecPolicy::Adaptive] {
        let mut p = Pair::new(policy);
        let data = pattern(3, LEN as usize);
        let src = p.base.pd.reg_mr(data.clone(), Access::empty()).unwrap();
        let (mut first, mut second) = (p.mr(LEN), p.mr(LEN));
        p.b.post_recv(Recv::new(10, first.slice_mut(0, LEN))).unwrap();
        p.b.post_recv(Recv::new(11, second.slice_mut(0, LEN))).unwrap();

        p.a.post(Send::new(1, src.slice(0, LEN))).unwrap();
        let sent = one(&mut p.a_send);
        assert_eq!((sent.status, sent.wr_id, sent.opcode, sent.byte_len), (CqeStatus::Success, 1, Opcode::Send as u8, LEN));
        let got = one(&mut p.b_recv);
        assert_eq!((got.status, got.wr_id, got.opcode, got.byte_len), (CqeStatus::Success, 10, OPCODE_RECV, LEN));
        assert_eq!((got.qp_num, got.source_qp()), (p.b.qpn(), Some(p.a.qpn())));
        assert!(got.is_receive() && !sent.is_receive());
        assert_eq!(first.as_slice().unwrap(), &data[..], "{policy:?}");
        // The second receive is still posted: its region stays the device's.
        assert!(second.as_slice().is_err(), "a posted receive's region is not readable");

        // A shorter message into the second: byte_len says how much arrived.
        p.a.post(Send::new(2, src.slice(100, 10))).unwrap();
        assert_eq!(one(&mut p.a_send).status, CqeStatus::Success);
        let got = one(&mut p.b_recv);
        assert_eq!((got.wr_id, got.byte_len), (11, 10));
        assert_eq!(&second.as_slice().unwrap()[..10], &data[100..110]);
        assert_eq!(p.b.query_state().unwrap(), QpState::Rts);
    }
}

#[test]
fn a_qp_connected_to_itself_receives_its_own_sends() {
    let base = Base::new(0, ExecPolicy::Inline);
    let mut cq = base.ctx.create_cq(16, None).unwrap();
    let mut qp = rc_qp(&base, &cq, &cq, None);
    assert_eq!(qp.dest_qpn(), qp.qpn());
    let mut region = base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    region.as_mut_slice().unwrap()[..8].copy_from_slice(b"loopback");
    // As rust-ibverbs' example: receive into the second half, send the first.
    let (recv, send) = (region.sge(32, 32), region.sge(0, 8));
    // SAFETY: no reference to the region is used until both complete (polled below).
    unsafe {
        qp.post_recv(Recv::from_sge(2, recv)).unwrap();
        qp.post(Send::from_sge(1, send)).unwrap();
    }
    let mut wcs = poll_n(&mut cq, 2);
    wcs.sort_by_key(|wc| wc.wr_id);
    assert_eq!((wcs[0].wr_id, wcs[0].status, wcs[0].is_receive()), (1, CqeStatus::Success, false));
    assert_eq!((wcs[1].wr_id, wcs[1].status, wcs[1].byte_len, wcs[1].source_qp()), (2, CqeStatus::Success, 8, Some(qp.qpn())));
    assert_eq!(&region.as_slice().unwrap()[32..40], b"loopback");
}

#[test]
fn an_empty_send_consumes_a_receive_without_touching_memory() {
    let mut p = Pair::new(ExecPolicy::Inline);
    // SAFETY: zero-length SGEs name no memory.
    unsafe {
        p.b.post_recv(Recv::from_sge(5, Sge { addr: 0, length: 0, lkey: 0xdead })).unwrap();
        p.a.post(Send::from_sge(6, Sge::default())).unwrap();
    }
    assert_eq!(one(&mut p.a_send).status, CqeStatus::Success);
    let got = one(&mut p.b_recv);
    assert_eq!((got.wr_id, got.status, got.byte_len), (5, CqeStatus::Success, 0));
}

#[test]
fn no_receive_posted_is_receiver_not_ready_and_stops_only_the_sender() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let src = p.mr(64);
    p.a.post(Send::new(1, src.slice(0, 64))).unwrap();
    let wc = one(&mut p.a_send);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::ReceiverNotReady, VendorError::NoReceivePosted));
    assert_eq!(p.a.query_state().unwrap(), QpState::Err);
    assert_eq!(p.b.query_state().unwrap(), QpState::Rts);
    assert_no_more(&mut p.b_recv);
}

#[test]
fn a_receive_too_short_fails_both_sides_and_both_stop() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let src = p.mr(64);
    let mut small = p.mr(64);
    let mut spare = p.mr(64);
    p.b.post_recv(Recv::new(7, small.slice_mut(0, 16))).unwrap();
    p.b.post_recv(Recv::new(8, spare.slice_mut(0, 64))).unwrap();
    p.a.post(Send::new(1, src.slice(0, 64))).unwrap();
    let sent = one(&mut p.a_send);
    assert_eq!((sent.status, sent.vendor_err), (CqeStatus::RemoteInvalidRequest, VendorError::DestinationTooSmall));
    // The receiver completes the short receive with a length error, then flushes the rest.
    let got = poll_n(&mut p.b_recv, 2);
    assert_eq!((got[0].wr_id, got[0].status), (7, CqeStatus::LocalLengthError));
    assert_eq!((got[1].wr_id, got[1].status), (8, CqeStatus::WorkRequestFlushed));
    assert_eq!((p.a.query_state().unwrap(), p.b.query_state().unwrap()), (QpState::Err, QpState::Err));
    assert_eq!(small.as_slice().unwrap(), &[0u8; 64][..], "nothing was written");
}

#[test]
fn a_receive_into_a_region_without_local_write_is_a_remote_operation_error() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let src = p.mr(64);
    let read_only = p.base.pd.alloc_mr(64, Access::empty()).unwrap();
    // SAFETY: the device refuses to write the region (no LOCAL_WRITE); nothing else uses it.
    unsafe { p.b.post_recv(Recv::from_sge(3, read_only.sge(0, 64))).unwrap() };
    p.a.post(Send::new(1, src.slice(0, 64))).unwrap();
    let sent = one(&mut p.a_send);
    assert_eq!((sent.status, sent.vendor_err), (CqeStatus::RemoteOperationError, VendorError::AccessDenied));
    let got = one(&mut p.b_recv);
    assert_eq!((got.wr_id, got.status, got.vendor_err), (3, CqeStatus::LocalProtectionError, VendorError::AccessDenied));
    assert_eq!(p.b.query_state().unwrap(), QpState::Err);
}

#[test]
fn a_send_with_a_bad_local_key_is_a_local_protection_error_and_reaches_nobody() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let mut dst = p.mr(64);
    p.b.post_recv(Recv::new(3, dst.slice_mut(0, 64))).unwrap();
    // SAFETY: the key names no region; the device refuses it before reading anything.
    unsafe { p.a.post(Send::from_sge(1, Sge { addr: 0x1000, length: 64, lkey: 0x00ff_ff00 })).unwrap() };
    let sent = one(&mut p.a_send);
    assert_eq!(sent.status, CqeStatus::LocalProtectionError);
    assert_no_more(&mut p.b_recv);
    assert_eq!(p.b.query_state().unwrap(), QpState::Rts);
}

#[test]
fn sending_to_a_destroyed_or_unconnected_qp_is_retry_exceeded() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let src = p.mr(64);
    drop(p.b);
    p.a.post(Send::new(1, src.slice(0, 64))).unwrap();
    let wc = one(&mut p.a_send);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RetryExceeded, VendorError::NotConnected));

    // A driver QP brought up without `connect` has nobody to send to.
    let base = Base::new(0, ExecPolicy::Inline);
    let mut cq = base.ctx.create_cq(4, None).unwrap();
    let mut qp = base.pd.create_qp(&cq, QpInit::new(4)).unwrap();
    let src = base.pd.alloc_mr(8, Access::empty()).unwrap();
    qp.post(Send::new(2, src.slice(0, 8))).unwrap();
    assert_eq!(one(&mut cq).status, CqeStatus::RetryExceeded);
}

#[test]
fn a_qp_without_a_receive_queue_refuses_receives_and_sends_to_it() {
    let base = Base::new(0, ExecPolicy::Inline);
    let (mut cq, rx_cq) = (base.ctx.create_cq(8, None).unwrap(), base.ctx.create_cq(8, None).unwrap());
    let mut plain = base.pd.create_qp_in_reset(&rx_cq, QpInit::new(4).qp_type(QpType::Rc)).unwrap();
    let mut region = base.pd.alloc_mr(8, Access::LOCAL_WRITE).unwrap();
    assert_eq!(plain.post_recv(Recv::new(1, region.slice_mut(0, 8))).unwrap_err(), PostError::NoReceiveQueue);
    plain.modify(QpState::Init).unwrap();
    let mut sender = rc_qp(&base, &cq, &cq, Some(plain.qpn()));
    sender.post(Send::new(2, region.slice(0, 8))).unwrap();
    let wc = one(&mut cq);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RetryExceeded, VendorError::NotConnected), "INIT takes nothing");
    // Connected back, in RTR: it answers, with an invalid-request NAK.
    let mut sender = base.pd.create_qp_in_reset(&cq, QpInit::new(4).qp_type(QpType::Rc)).unwrap();
    sender.modify(QpState::Init).unwrap();
    plain.connect(sender.qpn()).unwrap();
    sender.connect(plain.qpn()).unwrap();
    sender.modify(QpState::Rts).unwrap();
    sender.post(Send::new(3, region.slice(0, 8))).unwrap();
    let wc = one(&mut cq);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RemoteInvalidRequest, VendorError::BadOpcode), "RTR, no queue");
}

/// An RC QP with a one-entry receive queue in a context of its own on `device`.
struct Lone {
    _ctx: accelverbs::Context,
    pd: accelverbs::Pd,
    cq: Cq,
    qp: Qp,
}

fn lone(device: &accelverbs::Device) -> Lone {
    let ctx = device.open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let cq = ctx.create_cq(8, None).unwrap();
    let mut qp = pd.create_qp_in_reset(&cq, QpInit::new(4).qp_type(QpType::Rc).max_recv_wr(1)).unwrap();
    qp.modify(QpState::Init).unwrap();
    Lone { _ctx: ctx, pd, cq, qp }
}

#[test]
fn qps_of_two_contexts_connect_and_a_third_is_dropped() {
    let base = Base::new(0, ExecPolicy::Inline);
    let (mut a, mut b, mut c) = (lone(&base.device), lone(&base.device), lone(&base.device));
    for dest in [0, u32::MAX] {
        assert_eq!(a.qp.connect(dest).unwrap_err().errno(), Some(libc::EINVAL), "dest {dest}");
        assert_eq!(a.qp.query_state().unwrap(), QpState::Init);
    }
    let (a_qpn, b_qpn) = (a.qp.qpn(), b.qp.qpn());
    for (side, dest) in [(&mut a, b_qpn), (&mut b, a_qpn), (&mut c, b_qpn)] {
        side.qp.connect(dest).unwrap();
        side.qp.modify(QpState::Rts).unwrap();
    }
    let mut inbox = b.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let inbox_rkey = inbox.rkey();
    let inbox_sge = inbox.sge(0, 64);
    b.qp.post_recv(Recv::new(1, inbox.slice_mut(0, 64))).unwrap();
    let a_data = a.pd.reg_mr(pattern(1, 64), Access::empty()).unwrap();
    a.qp.post(Send::new(2, a_data.slice(0, 64))).unwrap();
    assert_eq!(one(&mut a.cq).status, CqeStatus::Success);
    let got = one(&mut b.cq);
    assert_eq!((got.wr_id, got.source_qp()), (1, Some(a_qpn)));

    // C named B, but B is connected to A: B drops what C sends, SEND or RDMA.
    let c_data = c.pd.reg_mr(pattern(2, 64), Access::empty()).unwrap();
    b.qp.post_recv(Recv::new(3, inbox.slice_mut(0, 64))).unwrap();
    c.qp.post(Send::new(4, c_data.slice(0, 64))).unwrap();
    assert_eq!((one(&mut c.cq).status, c.qp.query_state().unwrap()), (CqeStatus::RetryExceeded, QpState::Err));
    assert_no_more(&mut b.cq);
    let mut c = lone(&base.device);
    c.qp.connect(b_qpn).unwrap();
    c.qp.modify(QpState::Rts).unwrap();
    let c_data = c.pd.reg_mr(pattern(2, 64), Access::empty()).unwrap();
    let write = Sge { lkey: inbox_rkey, ..inbox_sge };
    // SAFETY: the device refuses the request (B drops it); nothing is written.
    unsafe { c.qp.post(accelverbs::RdmaWrite::from_sges(5, c_data.sge(0, 64), write)).unwrap() };
    assert_eq!(one(&mut c.cq).status, CqeStatus::RetryExceeded);
}

#[test]
fn rdma_on_a_connected_qp_resolves_rkeys_in_the_peers_pd() {
    let base = Base::new(0, ExecPolicy::Inline);
    let (mut a, mut b) = (lone(&base.device), lone(&base.device));
    let (a_qpn, b_qpn) = (a.qp.qpn(), b.qp.qpn());
    for (side, dest) in [(&mut a, b_qpn), (&mut b, a_qpn)] {
        side.qp.connect(dest).unwrap();
        side.qp.modify(QpState::Rts).unwrap();
    }
    let target = b.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let source = a.pd.reg_mr(pattern(4, 64), Access::empty()).unwrap();
    let remote = Sge { lkey: target.rkey(), ..target.sge(0, 64) };
    // SAFETY: `target` is read only after the completion is polled.
    unsafe { a.qp.post(accelverbs::RdmaWrite::from_sges(1, source.sge(0, 64), remote)).unwrap() };
    assert_eq!(one(&mut a.cq).status, CqeStatus::Success);
    assert_eq!(target.as_slice().unwrap(), &pattern(4, 64)[..]);

    // A's own region is not on the other side of the connection.
    let own = a.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let remote = Sge { lkey: own.rkey(), ..own.sge(0, 64) };
    // SAFETY: refused by the device (another PD's key), nothing is written.
    unsafe { a.qp.post(accelverbs::RdmaWrite::from_sges(2, source.sge(0, 64), remote)).unwrap() };
    let wc = one(&mut a.cq);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RemoteAccessError, VendorError::PdMismatch));
}

#[test]
fn receives_posted_in_error_are_flushed_and_reset_rewinds_them() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
        let mut p = Pair::new(policy);
        let mut buf = p.mr(64);
        p.b.post_recv(Recv::new(1, buf.slice_mut(0, 64))).unwrap();
        p.b.modify(QpState::Err).unwrap();
        assert_eq!(one(&mut p.b_recv).status, CqeStatus::WorkRequestFlushed);
        p.b.post_recv(Recv::new(2, buf.slice_mut(0, 64))).unwrap();
        let wc = one(&mut p.b_recv);
        assert_eq!((wc.wr_id, wc.status, wc.opcode), (2, CqeStatus::WorkRequestFlushed, OPCODE_RECV));
        assert!(buf.as_slice().is_ok(), "a flushed receive gives its region back");

        // RESET forgets the peer and the ring; the QP comes back and works.
        p.b.modify(QpState::Reset).unwrap();
        assert_eq!(p.b.dest_qpn(), 0);
        p.b.modify(QpState::Init).unwrap();
        p.b.post_recv(Recv::new(3, buf.slice_mut(0, 64))).unwrap();
        p.b.connect(p.a.qpn()).unwrap();
        p.b.modify(QpState::Rts).unwrap();
        let src = p.base.pd.reg_mr(pattern(9, 64), Access::empty()).unwrap();
        p.a.post(Send::new(4, src.slice(0, 64))).unwrap();
        assert_eq!(one(&mut p.a_send).status, CqeStatus::Success);
        assert_eq!(one(&mut p.b_recv).wr_id, 3);
        assert_eq!(buf.as_slice().unwrap(), &pattern(9, 64)[..], "{policy:?}");
    }
}

#[test]
fn a_full_receive_queue_says_so_until_a_receive_completes() {
    let mut p = Pair::new(ExecPolicy::Inline);
    let mut bufs: Vec<_> = (0..5).map(|_| p.mr(8)).collect();
    let (first, rest) = bufs.split_at_mut(1);
    for (i, b) in rest.iter_mut().enumerate() {
        p.b.post_recv(Recv::new(i as u64, b.slice_mut(0, 8))).unwrap();
    }
    assert_eq!(p.b.recv_capacity(), 4);
    assert_eq!(p.b.post_recv(Recv::new(9, first[0].slice_mut(0, 8))).unwrap_err(), PostError::QueueFull);
    let src = p.mr(8);
    p.a.post(Send::new(1, src.slice(0, 8))).unwrap();
    assert_eq!(one(&mut p.b_recv).wr_id, 0);
    p.b.post_recv(Recv::new(9, first[0].slice_mut(0, 8))).unwrap();
}

#[test]
fn destroying_the_receiver_while_sends_run_never_writes_its_freed_memory() {
    // A stream of SENDs races the receiver's destroy: each completes with success or
    // RetryExceeded/flush, and nothing is written after destroy returns (the receive
    // regions are freed right after).
    for round in 0..accelverbs_tests::stress_rounds(20) {
        let mut p = Pair::new(ExecPolicy::Threads);
        let src = p.mr(256);
        let mut dsts: Vec<_> = (0..4).map(|_| p.mr(256)).collect();
        for (i, d) in dsts.iter_mut().enumerate() {
            p.b.post_recv(Recv::new(i as u64, d.slice_mut(0, 256))).unwrap();
        }
        for i in 0..4 {
            p.a.post(Send::new(i, src.slice(0, 256))).unwrap();
        }
        drop(p.b);
        drop(dsts);
        let wcs = poll_n(&mut p.a_send, 4);
        for wc in &wcs {
            assert!(
                matches!(
                    wc.status,
                    CqeStatus::Success | CqeStatus::RetryExceeded | CqeStatus::WorkRequestFlushed | CqeStatus::ReceiverNotReady
                ),
                "round {round}: {wc:?}"
            );
        }
    }
}

#[test]
fn a_posted_receives_region_is_lent_to_nothing_else_not_even_its_own_qp() {
    // The sender's pass writes a receive's region, so while it is posted no request of any
    // QP may touch it: another device thread would read or write the same bytes.
    let mut p = Pair::new(ExecPolicy::Threads);
    let (mut inbox, mut other) = (p.mr(64), p.mr(64));
    p.b.post_recv(Recv::new(1, inbox.slice_mut(0, 64))).unwrap();
    let busy = Err(PostError::RegionBusy);
    assert_eq!(p.b.post(Copy::new(2, inbox.slice(0, 64), other.slice_mut(0, 64))), busy, "its own QP reading it");
    assert_eq!(p.b.post(Copy::new(3, other.slice(0, 64), inbox.slice_mut(0, 64))), busy, "its own QP writing it");
    assert_eq!(p.b.post(Send::new(4, inbox.slice(0, 64))), busy, "its own QP sending from it");
    assert_eq!(p.a.post(Send::new(5, inbox.slice(0, 64))), busy, "the sender sending from it");
    // Another receive into it is fine: the queue's receives are filled one at a time.
    p.b.post_recv(Recv::new(6, inbox.slice_mut(0, 64))).unwrap();
    let data = p.base.pd.reg_mr(pattern(5, 64), Access::empty()).unwrap();
    for wr_id in [7, 8] {
        p.a.post(Send::new(wr_id, data.slice(0, 64))).unwrap();
        assert_eq!(one(&mut p.a_send).status, CqeStatus::Success);
    }
    assert_eq!(poll_n(&mut p.b_recv, 2).iter().map(|wc| wc.wr_id).collect::<Vec<_>>(), [1, 6]);
    // Both completed: the region is free for anything again.
    assert_eq!(inbox.as_slice().unwrap(), &pattern(5, 64)[..]);
    p.b.post(Copy::new(9, inbox.slice(0, 64), other.slice_mut(0, 64))).unwrap();
}

#[test]
fn an_rdma_write_checks_its_local_source_before_the_responder() {
    // As SEND does, and in the order data moves: a bad local key is the requester's own error
    // even when the responder is gone.
    let mut p = Pair::new(ExecPolicy::Inline);
    let target = p.base.pd.alloc_mr(64, Access::LOCAL_WRITE | Access::REMOTE_WRITE).unwrap();
    let remote = Sge { lkey: target.rkey(), ..target.sge(0, 64) };
    drop(p.b);
    let bad_local = Sge { addr: 0x1000, length: 64, lkey: 0x00ff_ff00 };
    // SAFETY: the local key names nothing: nothing is read or written.
    unsafe { p.a.post(accelverbs::RdmaWrite::from_sges(1, bad_local, remote)).unwrap() };
    let wc = one(&mut p.a_send);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalProtectionError, VendorError::KeyUnknown));
}
