//! Dropping an object stops the device's access before its parents are released: quiesce and
//! retire (or deregister) first, then the use counts and pins go.

use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::fixture::{cq_request, Base};
use super::mock::{lock, Event};
use crate::objects::CqRequest;
use crate::Errno;

/// An event and the destroy checks of two parents at the moment it happened.
type Seen = (Event, Result<(), Errno>, Result<(), Errno>);

/// Records each later event with the checks of two parents; returns a snapshot of the record.
/// The checks hold weak references (a parent that is gone is not busy), so no cycle keeps
/// objects alive.
fn watch_parents(
    b: &Base,
    first: impl Fn() -> Result<(), Errno> + Send + Sync + 'static,
    second: impl Fn() -> Result<(), Errno> + Send + Sync + 'static,
) -> impl Fn() -> Vec<Seen> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    b.hw().on_event(move |e| lock(&log).push((e, first(), second())));
    move || lock(&seen).clone()
}

#[test]
fn dropping_a_qp_quiesces_and_retires_it_before_releasing_pd_and_cq() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.qp(&cq);
    let qpn = qp.qpn();
    let (pd, cq_ref) = (Arc::downgrade(&b.pd), Arc::downgrade(&cq));
    let seen = watch_parents(
        &b,
        move || pd.upgrade().map_or(Ok(()), |pd| pd.check_destroy()),
        move || cq_ref.upgrade().map_or(Ok(()), |cq| cq.check_destroy()),
    );

    drop(qp);

    let busy = Err(Errno::EBUSY);
    assert_eq!(seen(), [(Event::QuiesceQp(qpn), busy, busy), (Event::RetireQp(qpn), busy, busy)]);
    assert_eq!(b.pd.check_destroy(), Ok(()));
    assert_eq!(cq.check_destroy(), Ok(()));
}

#[test]
fn dropping_a_cq_quiesces_and_retires_it_before_releasing_its_channel() {
    let b = Base::new();
    let channel = b.ctx.create_comp_channel().unwrap();
    let cq = b.ctx.create_cq(CqRequest { channel: Some(&channel), ..cq_request() }).unwrap().0;
    let cqn = cq.cqn();
    let ch = Arc::downgrade(&channel);
    let seen = watch_parents(&b, move || ch.upgrade().map_or(Ok(()), |c| c.check_destroy()), || Ok(()));

    drop(cq);

    let busy = Err(Errno::EBUSY);
    assert_eq!(seen(), [(Event::QuiesceCq(cqn), busy, Ok(())), (Event::RetireCq(cqn), busy, Ok(()))]);
    assert_eq!(channel.check_destroy(), Ok(()));
}

#[test]
fn dropping_an_mr_deregisters_it_before_releasing_the_pd() {
    let b = Base::new();
    let mr = b.pd.reg_mr(0x1000, 4096, 0).unwrap();
    let key = mr.lkey();
    let pd = Arc::downgrade(&b.pd);
    let seen = watch_parents(&b, move || pd.upgrade().map_or(Ok(()), |pd| pd.check_destroy()), || Ok(()));

    drop(mr);

    assert_eq!(seen(), [(Event::MrDeregister(key), Err(Errno::EBUSY), Ok(()))]);
    assert_eq!(b.hw().mr(key), None);
    assert_eq!(b.pd.check_destroy(), Ok(()));
}

#[test]
fn every_object_is_activated_once_and_retired_once() {
    let b = Base::new();
    let cq = b.cq();
    let qp = b.qp(&cq);
    let mr = b.pd.reg_mr(0x1000, 4096, 0).unwrap();
    let (cqn, qpn, key) = (cq.cqn(), qp.qpn(), mr.lkey());
    assert_eq!(b.hw().events(), [Event::ActivateCq(cqn), Event::ActivateQp(qpn), Event::MrRegister(key)]);

    drop((mr, qp, cq));

    assert_eq!(
        b.hw().events()[3..],
        [Event::MrDeregister(key), Event::QuiesceQp(qpn), Event::RetireQp(qpn), Event::QuiesceCq(cqn), Event::RetireCq(cqn)]
    );
}

#[test]
fn pins_are_released_when_their_objects_drop() {
    let b = Base::new();
    let pinned = || b.driver.resources().pinned_bytes;
    let (cq_bytes, sq_bytes, mr_bytes) = (16 * 32 + 64, 8 * 128 + 128, 3 * 4096);
    let cq = b.cq();
    assert_eq!(pinned(), cq_bytes);
    let qp = b.qp(&cq);
    assert_eq!(pinned(), cq_bytes + sq_bytes);
    let mr = b.pd.reg_mr(0x1000, mr_bytes, 0).unwrap();
    assert_eq!(pinned(), cq_bytes + sq_bytes + mr_bytes);

    drop(mr);
    assert_eq!(pinned(), cq_bytes + sq_bytes);
    drop(qp);
    assert_eq!(pinned(), cq_bytes);
    drop(cq);
    assert_eq!(pinned(), 0);
}
