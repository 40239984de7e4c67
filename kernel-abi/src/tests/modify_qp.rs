//! MODIFY_QP and QUERY_QP against the device's view of the state.

use std::sync::Arc;

use accelverbs_uapi::verbs::QpState::{self, Init, Reset, Rtr, Rts};

use super::fixture::{Base, H};
use crate::objects::{Cq, Qp};
use crate::Errno;

/// A QP moved along `path` from RESET.
fn qp_in(b: &Base, cq: &Arc<Cq<H>>, path: &[QpState]) -> Arc<Qp<H>> {
    let qp = b.qp(cq);
    for &s in path {
        qp.modify(s, None, None).unwrap_or_else(|e| panic!("-> {s:?}: {e}"));
    }
    qp
}

#[test]
fn new_qp_is_in_reset_and_walks_to_rts() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.qp(&cq);
    assert_eq!(qp.state(), Reset);
    for next in [Init, Rtr, Rts] {
        assert_eq!(qp.modify(next, None, None), Ok(()));
        assert_eq!(qp.state(), next);
    }
}

#[test]
fn disallowed_transition_is_einval_and_keeps_the_state() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.qp(&cq);
    assert_eq!(qp.modify(Rts, None, None), Err(Errno::EINVAL));
    assert_eq!(qp.state(), Reset);
    let qp = qp_in(&b, &cq, &[Init, Rtr, Rts]);
    assert_eq!(qp.modify(Init, None, None), Err(Errno::EINVAL));
    assert_eq!(qp.state(), Rts);
}

#[test]
fn cur_state_other_than_the_devices_is_einval() {
    let b = Base::new();
    let cq = b.cq();
    let qp = qp_in(&b, &cq, &[Init]);
    assert_eq!(qp.modify(Rtr, Some(Reset), None), Err(Errno::EINVAL));
    assert_eq!(qp.state(), Init);
    assert_eq!(qp.modify(Rtr, Some(Init), None), Ok(()));
    assert_eq!(qp.state(), Rtr);
}

#[test]
fn device_error_during_modify_is_seen_by_the_retry() {
    let b = Base::new();
    let cq = b.cq();

    // RTR -> RTS loses to the device's move to ERR; ERR -> RTS is not allowed.
    let qp = qp_in(&b, &cq, &[Init, Rtr]);
    qp.hw().error_before_next_transition();
    assert_eq!(qp.modify(Rts, None, None), Err(Errno::EINVAL));
    assert_eq!(qp.state(), QpState::Err);

    // A move to ERR (or RESET) still succeeds from the fresh state.
    for target in [QpState::Err, Reset] {
        let qp = qp_in(&b, &cq, &[Init, Rtr]);
        qp.hw().error_before_next_transition();
        assert_eq!(qp.modify(target, None, None), Ok(()), "-> {target:?}");
        assert_eq!(qp.state(), target);
    }
}

#[test]
fn dest_qpn_is_taken_with_init_to_rtr_only() {
    let b = Base::new();
    let cq = b.cq();
    let qp = qp_in(&b, &cq, &[Init]);
    // The device refuses a number it does not know (the mock: 0); the QP stays in INIT.
    assert_eq!(qp.modify(Rtr, None, Some(0)), Err(Errno::EINVAL));
    assert_eq!(qp.state(), Init);
    assert_eq!(qp.modify(Rtr, None, Some(7)), Ok(()));
    assert_eq!(qp.hw().connected_to(), 7);
    assert_eq!(qp.modify(Rts, None, Some(9)), Err(Errno::EINVAL), "RTR -> RTS takes no DEST_QPN");
    assert_eq!((qp.state(), qp.hw().connected_to()), (Rtr, 7));
    let fresh = qp_in(&b, &cq, &[]);
    assert_eq!(fresh.modify(Init, None, Some(7)), Err(Errno::EINVAL), "RESET -> INIT takes no DEST_QPN");
    assert_eq!(fresh.state(), Reset);
}
