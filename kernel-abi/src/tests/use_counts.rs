//! A parent that children still use cannot be destroyed (`EBUSY`), and can once they are gone.

use super::fixture::{cq_request, qp_request, Base, CQ_DB, SQ_DB};
use crate::objects::{CqRequest, QpRequest};
use crate::Errno;

#[test]
fn pd_with_a_live_mr_is_busy_until_the_mr_drops() {
    let b = Base::new();
    assert_eq!(b.pd.check_destroy(), Ok(()));
    let mr = b.pd.reg_mr(0x1000, 4096, 0).unwrap();
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY));
    drop(mr);
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn pd_with_a_live_qp_is_busy_until_the_qp_drops() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.qp(&cq);
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY));
    drop(qp);
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn pd_stays_busy_until_its_last_child_drops() {
    let b = Base::new();
    let cq = b.cq();
    let first_mr = b.pd.reg_mr(0x1000, 4096, 0).unwrap();
    let qp = b.qp(&cq);
    let last_mr = b.pd.reg_mr(0x2000, 4096, 0).unwrap();
    drop(first_mr);
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY), "a QP and an MR left");
    drop(qp);
    assert_eq!(b.pd.check_destroy(), Err(Errno::EBUSY), "an MR left");
    drop(last_mr);
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn cq_used_by_a_qp_is_busy_until_the_qp_drops() {
    let b = Base::new();
    let cq = b.cq();
    assert_eq!(cq.check_destroy(), Ok(()));
    let qp = b.qp(&cq);
    assert_eq!(cq.check_destroy(), Err(Errno::EBUSY));
    drop(qp);
    assert_eq!(cq.check_destroy(), Ok(()));
}

#[test]
fn cq_named_also_as_recv_cq_is_released_once() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.pd.create_qp(QpRequest { recv_cq: Some(&cq), ..qp_request(&cq) }).unwrap().0;
    assert_eq!(cq.check_destroy(), Err(Errno::EBUSY));
    drop(qp);
    assert_eq!(cq.check_destroy(), Ok(()));
}

#[test]
fn comp_channel_used_by_a_cq_is_busy_until_every_cq_drops() {
    let b = Base::new();
    let channel = b.ctx.create_comp_channel().unwrap();
    assert_eq!(channel.check_destroy(), Ok(()));
    let first = b.ctx.create_cq(CqRequest { channel: Some(&channel), ..cq_request() }).unwrap().0;
    let second = b.ctx.create_cq(CqRequest { channel: Some(&channel), ..cq_request() }).unwrap().0;
    assert_eq!(channel.check_destroy(), Err(Errno::EBUSY));
    drop(first);
    assert_eq!(channel.check_destroy(), Err(Errno::EBUSY));
    drop(second);
    assert_eq!(channel.check_destroy(), Ok(()));
}

#[test]
fn failed_creates_leave_no_parent_busy() {
    let b = Base::new();
    let channel = b.ctx.create_comp_channel().unwrap();
    let cq = b.cq();

    b.core.fail_pin_at(CQ_DB, Errno::EFAULT);
    let refused = b.ctx.create_cq(CqRequest { channel: Some(&channel), ..cq_request() });
    assert_eq!(refused.err(), Some(Errno::EFAULT));
    assert_eq!(channel.check_destroy(), Ok(()));

    b.core.fail_pin_at(SQ_DB, Errno::EFAULT);
    assert_eq!(b.pd.create_qp(qp_request(&cq)).err(), Some(Errno::EFAULT));
    assert_eq!(b.pd.check_destroy(), Ok(()));
    assert_eq!(cq.check_destroy(), Ok(()));

    b.core.fail_pins(Errno::EFAULT);
    assert_eq!(b.pd.reg_mr(0x1000, 4096, 0).err(), Some(Errno::EFAULT));
    assert_eq!(b.pd.check_destroy(), Ok(()));
}
