//! CREATE_CQ: size and alignment rules, what is pinned, and failures that leave nothing behind.

use std::sync::Arc;

use super::fixture::{cq_request, Base, CQ_DB, CQ_RING, H, LIMITS};
use super::mock::Pin;
use crate::objects::CqRequest;
use crate::Errno;

/// The errno of a CREATE_CQ from [`cq_request`] changed by `change`, after checking it pinned
/// nothing and counted nothing.
fn refused(b: &Base, change: impl FnOnce(&mut CqRequest<'_, H>)) -> Errno {
    let mut req = cq_request();
    change(&mut req);
    let errno = b.ctx.create_cq(req).expect_err("refused");
    assert!(b.core.pins().is_empty(), "a refused CQ pins nothing");
    assert_eq!(b.driver.resources().cqs, 0);
    errno
}

/// `log2(LIMITS.max_cqe)`.
fn log_max_cqe() -> u32 {
    LIMITS.max_cqe.trailing_zeros()
}

#[test]
fn valid_cq_pins_its_ring_and_doorbell_writable_and_grants_the_ring_size() {
    let b = Base::new();
    let (cq, resp, entries) = b.ctx.create_cq(CqRequest { cqe: 10, ..cq_request() }).unwrap();
    assert_eq!(entries, 16);
    assert_eq!(resp.cqn, cq.cqn());
    assert_eq!(
        b.core.pins(),
        [Pin { addr: CQ_RING, len: 16 * 32, writable: true }, Pin { addr: CQ_DB, len: 64, writable: true }]
    );
    let hw = &cq.hw().setup;
    assert_eq!((hw.log_size, hw.user_handle, hw.ctx_id), (4, 7, b.ctx.id()));
    assert!(hw.channel.is_none());
    assert_eq!(b.driver.resources().cqs, 1);
}

#[test]
fn largest_cq_is_accepted() {
    let b = Base::new();
    let mut req = cq_request();
    req.cqe = LIMITS.max_cqe;
    req.cmd.log_size = log_max_cqe();
    let (_cq, _, entries) = b.ctx.create_cq(req).unwrap();
    assert_eq!(entries, LIMITS.max_cqe);
}

#[test]
fn zero_cqe_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, |r| r.cqe = 0), Errno::EINVAL);
}

#[test]
fn cqe_over_max_cqe_is_einval() {
    let b = Base::new();
    assert_eq!(
        refused(&b, |r| {
            r.cqe = LIMITS.max_cqe + 1;
            r.cmd.log_size = log_max_cqe() + 1;
        }),
        Errno::EINVAL
    );
    assert_eq!(refused(&b, |r| r.cqe = u32::MAX), Errno::EINVAL);
}

#[test]
fn ring_over_max_cqe_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, |r| r.cmd.log_size = log_max_cqe() + 1), Errno::EINVAL);
}

#[test]
fn log_size_not_covering_cqe_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, |r| r.cqe = 17), Errno::EINVAL);
    assert_eq!(refused(&b, |r| r.cmd.log_size = 3), Errno::EINVAL);
}

#[test]
fn huge_log_size_is_einval() {
    let b = Base::new();
    for log_size in [63, 64, 65, u32::MAX] {
        assert_eq!(refused(&b, |r| r.cmd.log_size = log_size), Errno::EINVAL, "log_size {log_size}");
    }
}

#[test]
fn misaligned_ring_is_einval() {
    let b = Base::new();
    for offset in [1, 64, 2048] {
        assert_eq!(refused(&b, |r| r.cmd.ring_addr = CQ_RING + offset), Errno::EINVAL, "ring + {offset}");
    }
}

#[test]
fn misaligned_doorbell_is_einval() {
    let b = Base::new();
    for offset in [1, 8, 32] {
        assert_eq!(refused(&b, |r| r.cmd.db_addr = CQ_DB + offset), Errno::EINVAL, "doorbell + {offset}");
    }
}

#[test]
fn nonzero_reserved_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, |r| r.cmd.reserved = 1), Errno::EINVAL);
}

#[test]
fn comp_vector_other_than_zero_is_einval() {
    let b = Base::new();
    assert_eq!(refused(&b, |r| r.comp_vector = 1), Errno::EINVAL);
}

#[test]
fn create_flags_are_eopnotsupp() {
    let b = Base::new();
    for flags in [1, 1 << 31] {
        assert_eq!(refused(&b, |r| r.flags = flags), Errno::EOPNOTSUPP, "flags {flags:#x}");
    }
}

#[test]
fn failing_doorbell_pin_releases_the_ring_and_counts_nothing() {
    let b = Base::new();
    b.core.fail_pin_at(CQ_DB, Errno::EFAULT);
    assert_eq!(b.ctx.create_cq(cq_request()).err(), Some(Errno::EFAULT));
    assert_eq!(b.core.pins(), [Pin { addr: CQ_RING, len: 16 * 32, writable: true }], "the ring was pinned");
    assert_eq!(b.driver.resources().pinned_bytes, 0, "and released");
    assert_eq!(b.driver.resources().cqs, 0);
    assert!(b.hw().events().is_empty(), "nothing activated");
}

#[test]
fn channel_reaches_the_hardware_and_allows_arming() {
    let b = Base::new();
    let channel = b.ctx.create_comp_channel().unwrap();
    let plain = b.cq();
    let armed = b.ctx.create_cq(CqRequest { channel: Some(&channel), ..cq_request() }).unwrap().0;
    assert!(Arc::ptr_eq(armed.hw().setup.channel.as_ref().unwrap(), &channel.hw));
    assert_eq!(plain.request_notify(false), Err(Errno::EINVAL), "no channel to report to");
    assert_eq!(armed.request_notify(false), Ok(()));
    assert_eq!(channel.get_event(), Err(Errno::EAGAIN));
}
