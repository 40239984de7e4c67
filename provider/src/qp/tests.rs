//! `Qp::write_wqe` with a work request whose encoding panics. None of ours can; this pins that
//! if one ever did, it would hold nothing, and least of all take a hold from the request
//! staged before it, which then runs with its regions lent.

use std::panic::{catch_unwind, AssertUnwindSafe};

use accelverbs_uapi::wqe::Wqe;

use crate::in_flight::{Borrower, Regions};
use crate::post::sealed::Encode;
use crate::post::ListWriter;
use crate::{Access, ContextOptions, Copy, Device, ExecPolicy, PostError, QpInit, SimConfig};

/// `W`, but its encoding panics.
struct PanicsInEncode<W>(W);

impl<W: Encode> Encode for PanicsInEncode<W> {
    fn encode(&self, _wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        panic!("encoding failed");
    }

    fn regions(&self, borrower: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        self.0.regions(borrower, held)
    }
}

#[test]
#[cfg_attr(miri, ignore = "the embedded device runs threads and maps memory in ways Miri does not model")]
fn a_request_whose_encoding_panics_takes_no_hold_from_the_one_before() {
    // No engine: the first copy stays in flight, unexecuted, for the whole test.
    let device = Device::embedded(SimConfig { engines: 0, ..SimConfig::default() });
    let ctx = device.open_with(ContextOptions { policy: ExecPolicy::Threads, ..ContextOptions::default() }).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let cq = ctx.create_cq(16, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(8)).unwrap();
    let src = pd.alloc_mr(64, Access::empty()).unwrap();
    let mut dst = pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    {
        let mut batch = qp.batch();
        batch.push(Copy::new(1, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
        // The same regions: a batch would move the first copy's holds into this one's slot.
        let second = PanicsInEncode(Copy::new(2, src.slice(0, 64), dst.slice_mut(0, 64)));
        assert!(catch_unwind(AssertUnwindSafe(|| batch.push(second))).is_err());
        // Dropped here, the batch publishes the first copy.
    }
    // A request refused in the slot the panicking one was written to: that slot's holds, if
    // it had any, would be let go here.
    let other = device.open().unwrap();
    let foreign = other.alloc_pd().unwrap().alloc_mr(64, Access::empty()).unwrap();
    assert_eq!(qp.post(Copy::new(3, foreign.slice(0, 64), dst.slice_mut(0, 64))).unwrap_err(), PostError::WrongContext);
    // The first copy has not run: its destination is still lent to the device.
    assert!(dst.as_mut_slice().is_err(), "the first copy's destination was let go while it is in flight");
    assert!(src.as_slice().is_ok(), "a source is shared with the device, not lent away");
}
