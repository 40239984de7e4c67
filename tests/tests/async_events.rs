//! Asynchronous events (`ibv_get_async_event`): a QP the device stops on its own is reported
//! to its context, with the verbs event type, once; the descriptor is readable exactly while
//! events wait; a destroyed QP's unread events go with it; another context hears nothing.

use std::time::Duration;

use accelverbs::{
    Access, AsyncEvent, AsyncEventType, Context, Cq, CqeStatus, ExecPolicy, Pd, Qp, QpInit, QpState, QpType, RdmaWrite, Send,
    Sge, VendorError,
};
use accelverbs_tests::{device, poll_n};

/// An RC QP (with a receive queue if `receives`) in INIT, in a context of its own.
struct Side {
    ctx: Context,
    pd: Pd,
    cq: Cq,
    qp: Qp,
}

fn side(dev: &accelverbs::Device, receives: u32) -> Side {
    let ctx = dev.open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let cq = ctx.create_cq(8, None).unwrap();
    let mut qp = pd.create_qp_in_reset(&cq, QpInit::new(4).qp_type(QpType::Rc).max_recv_wr(receives)).unwrap();
    qp.modify(QpState::Init).unwrap();
    Side { ctx, pd, cq, qp }
}

/// Two sides connected to each other, in RTS.
fn pair(dev: &accelverbs::Device, b_receives: u32) -> (Side, Side) {
    let (mut a, mut b) = (side(dev, 1), side(dev, b_receives));
    let (a_qpn, b_qpn) = (a.qp.qpn(), b.qp.qpn());
    for (s, dest) in [(&mut a, b_qpn), (&mut b, a_qpn)] {
        s.qp.connect(dest).unwrap();
        s.qp.modify(QpState::Rts).unwrap();
    }
    (a, b)
}

fn readable(fd: i32) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one valid pollfd without waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
}

const BRIEF: Option<Duration> = Some(Duration::from_millis(50));

/// A's RDMA write into B with a key B never gave: A completes with a remote access error.
fn bad_rdma_write(a: &mut Side) {
    let src = a.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    // SAFETY: the device refuses the key; nothing is written.
    unsafe { a.qp.post(RdmaWrite::from_sges(1, src.sge(0, 64), Sge { addr: 0x1000, length: 64, lkey: 0x00ab_cd00 })).unwrap() };
    let wc = poll_n(&mut a.cq, 1)[0];
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::RemoteAccessError, VendorError::KeyUnknown));
}

#[test]
fn a_responder_refusing_rdma_reports_an_access_error_and_stops() {
    for engines in [0, 1] {
        let dev = device(engines);
        let (mut a, b) = pair(&dev, 1);
        let fd = b.ctx.async_event_fd().unwrap();
        assert!(!readable(fd), "no event yet");
        bad_rdma_write(&mut a);
        assert!(readable(fd), "the event makes the descriptor readable");
        let event = b.ctx.get_async_event(BRIEF).unwrap();
        assert_eq!(event, Some(AsyncEvent { kind: AsyncEventType::QpAccessError, qpn: b.qp.qpn() }));
        assert!(!readable(fd), "one event, read");
        assert_eq!(b.qp.query_state().unwrap(), QpState::Err);
        // The requester's context hears nothing: its QP failed through its completion.
        assert_eq!(a.ctx.get_async_event(BRIEF).unwrap(), None);
    }
}

#[test]
fn a_send_to_a_qp_without_a_receive_queue_reports_a_request_error() {
    let dev = device(0);
    let (mut a, b) = pair(&dev, 0);
    let src = a.pd.alloc_mr(8, Access::empty()).unwrap();
    a.qp.post(Send::new(1, src.slice(0, 8))).unwrap();
    assert_eq!(poll_n(&mut a.cq, 1)[0].status, CqeStatus::RemoteInvalidRequest);
    let event = b.ctx.get_async_event(BRIEF).unwrap();
    assert_eq!(event, Some(AsyncEvent { kind: AsyncEventType::QpRequestError, qpn: b.qp.qpn() }));
    assert_eq!(b.qp.query_state().unwrap(), QpState::Err);
}

#[test]
fn a_doorbell_the_device_cannot_honour_reports_a_fatal_error_once() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let t = accelverbs_tests::Traffic::new(engines, policy, 16);
        let mut qp = t.qp;
        let bogus = qp.capacity() + 1;
        // SAFETY: the ring holds nothing the device could run: it refuses the index.
        unsafe { qp.raw_ring_doorbell(bogus) };
        let event = t.base.ctx.get_async_event(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(event, Some(AsyncEvent { kind: AsyncEventType::QpFatal, qpn: qp.qpn() }), "{policy:?}");
        // Ringing again finds the QP stopped already: no second event.
        // SAFETY: as above.
        unsafe { qp.raw_ring_doorbell(bogus + 1) };
        assert_eq!(t.base.ctx.get_async_event(BRIEF).unwrap(), None);
    }
}

#[test]
fn a_destroyed_qps_unread_events_go_with_it() {
    let dev = device(0);
    let (mut a, b) = pair(&dev, 1);
    bad_rdma_write(&mut a);
    let fd = b.ctx.async_event_fd().unwrap();
    assert!(readable(fd));
    let Side { ctx, qp, .. } = b;
    drop(qp);
    assert!(!readable(fd), "the destroyed QP's event was dropped");
    assert_eq!(ctx.get_async_event(BRIEF).unwrap(), None);
}

#[test]
fn waiting_for_an_event_returns_after_the_timeout() {
    let dev = device(0);
    let ctx = dev.open().unwrap();
    let start = std::time::Instant::now();
    assert_eq!(ctx.get_async_event(Some(Duration::from_millis(30))).unwrap(), None);
    assert!(start.elapsed() >= Duration::from_millis(30));
}
