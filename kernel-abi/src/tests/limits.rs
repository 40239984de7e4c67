//! Each object count stops at its limit with `ENOMEM`, a refused object charges nothing, and
//! the counts return to zero when the objects drop.

use std::vec::Vec;

use accelverbs_uapi::cmd::{ExecPolicy, GetContextCmd, ResourceCounts};

use super::fixture::{context, cq_request, driver, qp_request, Base, H, LIMITS};
use crate::{Driver, Errno};

/// From none, creates `max` objects, checks the next one is refused with `ENOMEM` without
/// changing any count or pinning anything, then drops them all and checks the count is back
/// to zero and one can be created again.
pub(super) fn fill_refuse_release<T>(
    driver: &Driver<H>,
    max: u32,
    live: fn(&ResourceCounts) -> u32,
    mut create: impl FnMut() -> Result<T, Errno>,
) {
    assert_eq!(live(&driver.resources()), 0);
    let objects: Vec<T> = (0..max).map(|i| create().unwrap_or_else(|e| panic!("object {i} of {max}: {e}"))).collect();
    assert_eq!(live(&driver.resources()), max);

    let full = driver.resources();
    assert_eq!(create().err(), Some(Errno::ENOMEM), "object {} of {max}", max + 1);
    assert_eq!(driver.resources(), full, "a refused object is not counted and pins nothing");

    drop(objects);
    assert_eq!(live(&driver.resources()), 0);
    if let Err(e) = create() {
        panic!("after release: {e}");
    }
}

#[test]
fn contexts_stop_at_max_contexts() {
    let (driver, _core) = driver();
    let cmd = GetContextCmd { exec_policy: ExecPolicy::Threads as u32, inline_threshold: 0 };
    fill_refuse_release(&driver, LIMITS.max_contexts, |r| r.contexts, || driver.alloc_ucontext(cmd));
    assert_eq!(driver.resources(), ResourceCounts::default());
}

#[test]
fn pds_stop_at_max_pd() {
    let (driver, _core) = driver();
    let ctx = context(&driver);
    fill_refuse_release(&driver, LIMITS.max_pd, |r| r.pds, || ctx.alloc_pd());
    drop(ctx);
    assert_eq!(driver.resources(), ResourceCounts::default());
}

#[test]
fn mrs_stop_at_max_mr() {
    let b = Base::new();
    fill_refuse_release(&b.driver, LIMITS.max_mr, |r| r.mrs, || b.pd.reg_mr(0x1000, 4096, 0));
    assert_eq!(b.driver.resources().pinned_bytes, 0);
}

#[test]
fn cqs_stop_at_max_cq() {
    let b = Base::new();
    fill_refuse_release(&b.driver, LIMITS.max_cq, |r| r.cqs, || b.ctx.create_cq(cq_request()));
    assert_eq!(b.driver.resources().pinned_bytes, 0);
}

#[test]
fn qps_stop_at_max_qp() {
    let b = Base::new();
    let cq = b.cq();
    let cq_bytes = b.driver.resources().pinned_bytes;
    fill_refuse_release(&b.driver, LIMITS.max_qp, |r| r.qps, || b.pd.create_qp(qp_request(&cq)));
    assert_eq!(b.driver.resources().pinned_bytes, cq_bytes);
}

#[test]
fn comp_channels_stop_at_max_comp_channels() {
    let b = Base::new();
    fill_refuse_release(&b.driver, LIMITS.max_comp_channels, |r| r.comp_channels, || b.ctx.create_comp_channel());
}

#[test]
fn every_count_returns_to_zero_whatever_the_drop_order() {
    let b = Base::new();
    let channel = b.ctx.create_comp_channel().unwrap();
    let cq = b.ctx.create_cq(crate::objects::CqRequest { channel: Some(&channel), ..cq_request() }).unwrap().0;
    let qp = b.qp(&cq);
    let mr = b.pd.reg_mr(0x1000, 4096, 0).unwrap();
    let live = b.driver.resources();
    assert_eq!((live.contexts, live.pds, live.mrs, live.cqs, live.qps, live.comp_channels), (1, 1, 1, 1, 1, 1));
    assert_eq!(live.pinned_bytes, (16 * 32 + 64) + (8 * 128 + 128) + 4096);

    // Parents first: children keep them alive until the children go.
    let Base { core: _core, driver, ctx, pd } = b;
    drop((ctx, pd, channel, cq));
    assert_eq!(driver.resources().qps, 1);
    drop((qp, mr));
    assert_eq!(driver.resources(), ResourceCounts::default());
}
