//! CREATE_QP: the type (DRIVER or RC), capability and ring rules of a QP (a send queue, and
//! a receive queue behind it for verbs programs), what is pinned, and failures that leave
//! nothing behind.

use std::sync::Arc;

use accelverbs_uapi::cmd::qp_flags;
use accelverbs_uapi::verbs::{QpCap, IB_UVERBS_QPT_RC};

use super::fixture::{cq_request, qp_request, Base, H, LIMITS, SQ_DB, SQ_RING};
use super::mock::{Event, Pin};
use crate::objects::{Cq, QpRequest};
use crate::Errno;

/// The errno of a CREATE_QP from [`qp_request`] changed by `change`, after checking it pinned
/// nothing, counted nothing and left its parents unused.
fn refused<'a>(b: &Base, cq: &'a Arc<Cq<H>>, change: impl FnOnce(&mut QpRequest<'a, H>)) -> Errno {
    let pins = b.core.pins().len();
    let mut req = qp_request(cq);
    change(&mut req);
    let errno = b.pd.create_qp(req).expect_err("refused");
    assert_eq!(b.core.pins().len(), pins, "a refused QP pins nothing");
    assert_eq!(b.driver.resources().qps, 0);
    assert_eq!(b.pd.check_destroy(), Ok(()));
    assert_eq!(cq.check_destroy(), Ok(()));
    errno
}

/// `log2(LIMITS.max_qp_wr)`.
fn log_max_qp_wr() -> u32 {
    LIMITS.max_qp_wr.trailing_zeros()
}

#[test]
fn valid_qp_pins_its_ring_read_only_and_its_doorbell_writable() {
    let b = Base::new();
    let cq = b.cq();
    let cq_pins = b.core.pins().len();
    let mut req = qp_request(&cq);
    req.cap.max_send_wr = 5;
    let (qp, resp, granted) = b.pd.create_qp(req).unwrap();
    assert_eq!(granted, QpCap { max_send_wr: 8, max_send_sge: 1, ..QpCap::default() });
    assert_eq!(resp.qpn, qp.qpn());
    assert_eq!(
        b.core.pins()[cq_pins..],
        [Pin { addr: SQ_RING, len: 8 * 128, writable: false }, Pin { addr: SQ_DB, len: 128, writable: true }]
    );
    assert!(Arc::ptr_eq(&qp.hw().send_cq, cq.hw()), "completes to the send CQ");
    assert_eq!(b.driver.resources().qps, 1);
}

#[test]
fn deepest_queue_is_accepted() {
    let b = Base::new();
    let cq = b.cq();
    let mut req = qp_request(&cq);
    req.cap.max_send_wr = LIMITS.max_qp_wr;
    req.cmd.log_sq_size = log_max_qp_wr();
    assert_eq!(b.pd.create_qp(req).unwrap().2.max_send_wr, LIMITS.max_qp_wr);
}

#[test]
fn qp_type_other_than_driver_or_rc_is_eopnotsupp() {
    let b = Base::new();
    let cq = b.cq();
    // IB_UVERBS_QPT_UC, UD, RAW_PACKET, XRC_INI, XRC_TGT, and no type at all.
    for qp_type in [3, 4, 8, 9, 10, 0] {
        assert_eq!(refused(&b, &cq, |r| r.qp_type = qp_type), Errno::EOPNOTSUPP, "qp_type {qp_type}");
    }
}

#[test]
fn an_rc_qp_is_created_under_the_same_rules() {
    let b = Base::new();
    let cq = b.cq();
    let (qp, _, granted) = b.pd.create_qp(QpRequest { qp_type: IB_UVERBS_QPT_RC, ..qp_request(&cq) }).unwrap();
    assert_eq!(granted, QpCap { max_send_wr: 8, max_send_sge: 1, ..QpCap::default() });
    drop(qp);
    // A receive queue needs a CQ to complete to, whatever the type.
    let with_receive_queue = |r: &mut QpRequest<'_, H>| {
        r.qp_type = IB_UVERBS_QPT_RC;
        r.cap.max_recv_wr = 1;
    };
    assert_eq!(refused(&b, &cq, with_receive_queue), Errno::EINVAL);
}

#[test]
fn create_flags_are_eopnotsupp() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(refused(&b, &cq, |r| r.create_flags = 1), Errno::EOPNOTSUPP);
}

#[test]
fn max_send_wr_zero_or_over_max_qp_wr_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(refused(&b, &cq, |r| r.cap.max_send_wr = 0), Errno::EINVAL);
    assert_eq!(
        refused(&b, &cq, |r| {
            r.cap.max_send_wr = LIMITS.max_qp_wr + 1;
            r.cmd.log_sq_size = log_max_qp_wr() + 1;
        }),
        Errno::EINVAL
    );
}

#[test]
fn ring_not_covering_max_send_wr_or_over_max_qp_wr_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(refused(&b, &cq, |r| r.cap.max_send_wr = 9), Errno::EINVAL);
    assert_eq!(refused(&b, &cq, |r| r.cmd.log_sq_size = log_max_qp_wr() + 1), Errno::EINVAL);
    for log in [63, 64, u32::MAX] {
        assert_eq!(refused(&b, &cq, |r| r.cmd.log_sq_size = log), Errno::EINVAL, "log_sq_size {log}");
    }
}

#[test]
fn a_receive_queue_is_pinned_with_the_send_queue_and_holds_its_cq() {
    let b = Base::new();
    let cq = b.cq();
    let recv_cq = b.ctx.create_cq(cq_request()).unwrap().0;
    let pins = b.core.pins().len();
    let mut req = QpRequest { qp_type: IB_UVERBS_QPT_RC, recv_cq: Some(&recv_cq), ..qp_request(&cq) };
    req.cap.max_recv_wr = 3;
    req.cap.max_recv_sge = 1;
    req.cmd.log_rq_size = 2;
    let (qp, _, granted) = b.pd.create_qp(req).unwrap();
    assert_eq!(granted, QpCap { max_send_wr: 8, max_send_sge: 1, max_recv_wr: 4, max_recv_sge: 1, ..QpCap::default() });
    assert_eq!(b.core.pins()[pins], Pin { addr: SQ_RING, len: 8 * 128 + 4 * 32, writable: false });
    assert_eq!(recv_cq.check_destroy(), Err(Errno::EBUSY), "the receive queue completes to it");
    drop(qp);
    assert_eq!(recv_cq.check_destroy(), Ok(()));
}

#[test]
fn receive_queue_rules_are_einval() {
    let b = Base::new();
    let cq = b.cq();
    let with_rq = |max_recv_wr: u32, log_rq_size: u32| {
        move |r: &mut QpRequest<'_, H>| {
            r.cap.max_recv_wr = max_recv_wr;
            r.cmd.log_rq_size = log_rq_size;
        }
    };
    // No receive queue: no SGEs, no size, no CQ of its own.
    assert_eq!(refused(&b, &cq, |r| r.cap.max_recv_sge = 1), Errno::EINVAL);
    assert_eq!(refused(&b, &cq, with_rq(0, 2)), Errno::EINVAL);
    // A receive queue: a recv CQ, a ring covering max_recv_wr, at most max_qp_wr, one SGE.
    assert_eq!(refused(&b, &cq, with_rq(4, 2)), Errno::EINVAL, "no recv CQ");
    let in_cq = |change: &dyn Fn(&mut QpRequest<'_, H>)| {
        refused(&b, &cq, |r| {
            r.recv_cq = Some(&cq);
            change(r);
        })
    };
    assert_eq!(in_cq(&with_rq(5, 2)), Errno::EINVAL);
    assert_eq!(in_cq(&with_rq(LIMITS.max_qp_wr + 1, log_max_qp_wr() + 1)), Errno::EINVAL);
    assert_eq!(in_cq(&with_rq(1, 64)), Errno::EINVAL);
    assert_eq!(
        in_cq(&|r| {
            with_rq(1, 0)(r);
            r.cap.max_recv_sge = 2;
        }),
        Errno::EINVAL
    );
}

#[test]
fn more_than_one_send_sge_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(refused(&b, &cq, |r| r.cap.max_send_sge = 2), Errno::EINVAL);
    let mut no_sge = qp_request(&cq);
    no_sge.cap.max_send_sge = 0;
    assert!(b.pd.create_qp(no_sge).is_ok(), "zero SGEs is within the limit");
}

#[test]
fn inline_data_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(refused(&b, &cq, |r| r.cap.max_inline_data = 1), Errno::EINVAL);
}

#[test]
fn unknown_cmd_flags_are_einval() {
    let b = Base::new();
    let cq = b.cq();
    for flags in [1 << 1, 1 << 31, qp_flags::SIGNAL_ALL | 1 << 1] {
        assert_eq!(refused(&b, &cq, |r| r.cmd.flags = flags), Errno::EINVAL, "flags {flags:#x}");
    }
    let mut signal_all = qp_request(&cq);
    signal_all.cmd.flags = qp_flags::SIGNAL_ALL;
    assert!(b.pd.create_qp(signal_all).is_ok());
}

#[test]
fn misaligned_ring_or_doorbell_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    for offset in [1, 64, 2048] {
        assert_eq!(refused(&b, &cq, |r| r.cmd.sq_addr = SQ_RING + offset), Errno::EINVAL, "ring + {offset}");
    }
    for offset in [1, 8, 32] {
        assert_eq!(refused(&b, &cq, |r| r.cmd.db_addr = SQ_DB + offset), Errno::EINVAL, "doorbell + {offset}");
    }
}

#[test]
fn without_a_receive_queue_a_recv_cq_is_held_unused() {
    let b = Base::new();
    let cq = b.cq();
    let other = b.ctx.create_cq(cq_request()).unwrap().0;
    let (qp, _, granted) = b.pd.create_qp(QpRequest { recv_cq: Some(&other), ..qp_request(&cq) }).unwrap();
    assert_eq!((granted.max_recv_wr, granted.max_recv_sge), (0, 0));
    assert_eq!(other.check_destroy(), Err(Errno::EBUSY), "named by a QP, as the kernel holds it");
    drop(qp);
    assert_eq!(other.check_destroy(), Ok(()));
    assert!(b.pd.create_qp(QpRequest { recv_cq: Some(&cq), ..qp_request(&cq) }).is_ok());
}

#[test]
fn failing_doorbell_pin_releases_the_ring_and_counts_nothing() {
    let b = Base::new();
    let cq = b.cq();
    let before = b.driver.resources();
    b.core.fail_pin_at(SQ_DB, Errno::EFAULT);
    assert_eq!(b.pd.create_qp(qp_request(&cq)).err(), Some(Errno::EFAULT));
    assert_eq!(b.core.pins().last(), Some(&Pin { addr: SQ_RING, len: 8 * 128, writable: false }), "the ring was pinned");
    assert_eq!(b.driver.resources(), before, "and released, with no QP counted");
    assert_eq!(b.pd.check_destroy(), Ok(()));
    assert_eq!(cq.check_destroy(), Ok(()));
    assert!(!b.hw().events().iter().any(|e| matches!(e, Event::ActivateQp(_))), "nothing activated");
}
