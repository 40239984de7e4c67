//! Each protection failure completes its WR with the exact status and check, moves the QP to
//! ERR, flushes every later WR, and writes nothing.

use accelverbs::{Access, Copy, CqeStatus, ExecPolicy, MemoryRegion, Nop, QpState, Sge, VendorError};
use accelverbs_tests::{assert_no_more, poll_n, Traffic};

const LEN: usize = 4096;

/// A source region full of a nonzero byte, so a copy that wrongly ran would show.
fn filled_source(t: &Traffic) -> MemoryRegion {
    let mut src = t.mr(LEN, Access::empty());
    src.as_mut_slice().unwrap().fill(0x11);
    src
}

/// Posts a COPY of the raw SGEs `src` → `dst` then three NOPs; checks the error, the QP state,
/// the flushes, and that `untouched` (the region `dst` aims at) is still all zero.
fn expect_failure(t: &mut Traffic, src: Sge, dst: Sge, status: CqeStatus, vendor: VendorError, untouched: &MemoryRegion) {
    let mut batch = t.qp.batch();
    // SAFETY: no reference to the regions these SGEs name is used until the completions are
    // polled below.
    batch.push(unsafe { Copy::from_sges(1, src, dst) }).unwrap();
    for i in 0..3 {
        batch.push(Nop::new(100 + i)).unwrap();
    }
    batch.ring();
    let wcs = poll_n(&mut t.cq, 4);
    assert_eq!((wcs[0].wr_id, wcs[0].status, wcs[0].vendor_err), (1, status, vendor), "{:?}", wcs[0]);
    for (i, w) in wcs[1..].iter().enumerate() {
        assert_eq!((w.wr_id, w.status), (100 + i as u64, CqeStatus::WorkRequestFlushed));
    }
    assert_no_more(&mut t.cq);
    assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
    assert!(untouched.as_slice().unwrap().iter().all(|&b| b == 0), "a failed WR wrote memory");
    // Reset brings the QP back into service.
    for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
        t.qp.modify(s).unwrap();
    }
    t.qp.post(Nop::new(7)).unwrap();
    assert!(poll_n(&mut t.cq, 1)[0].is_success());
}

fn policies() -> [(usize, ExecPolicy); 2] {
    [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)]
}

#[test]
fn wrong_lkey() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = filled_source(&t);
        let dst = t.mr(LEN, Access::LOCAL_WRITE);
        let (unknown, err) = (CqeStatus::LocalProtectionError, VendorError::KeyUnknown);
        for lkey in [0xDEAD_0001, 0] {
            expect_failure(&mut t, Sge { lkey, ..src.sge(0, 64) }, dst.sge(0, 64), unknown, err, &dst);
        }
    }
}

#[test]
fn sge_outside_the_mr() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = filled_source(&t);
        let dst = t.mr(LEN, Access::LOCAL_WRITE);
        let cases = [
            // One byte past the end.
            (src.sge(1, LEN as u32), dst.sge(0, LEN as u32)),
            // Starts before the MR.
            (Sge { addr: src.addr() - 1, ..src.sge(0, 16) }, dst.sge(0, 16)),
            // Destination runs off the end.
            (src.sge(0, 16), dst.sge(LEN - 8, 16)),
            // Address + length wraps around 2^64.
            (Sge { addr: u64::MAX - 4, ..src.sge(0, 16) }, dst.sge(0, 16)),
        ];
        for (s, d) in cases {
            expect_failure(&mut t, s, d, CqeStatus::LocalProtectionError, VendorError::OutOfBounds, &dst);
        }
    }
}

#[test]
fn write_into_an_mr_without_local_write() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = filled_source(&t);
        let read_only = t.mr(LEN, Access::empty());
        let (status, vendor) = (CqeStatus::LocalProtectionError, VendorError::AccessDenied);
        expect_failure(&mut t, src.sge(0, 64), read_only.sge(0, 64), status, vendor, &read_only);
    }
}

#[test]
fn lkey_from_another_pd() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let other_pd = t.base.ctx.alloc_pd().unwrap();
        let src = filled_source(&t);
        let foreign = other_pd.alloc_mr(LEN, Access::LOCAL_WRITE).unwrap();
        let (status, vendor) = (CqeStatus::LocalProtectionError, VendorError::PdMismatch);
        expect_failure(&mut t, src.sge(0, 64), foreign.sge(0, 64), status, vendor, &foreign);
    }
}

#[test]
fn stale_key_after_dereg_and_rereg() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = filled_source(&t);
        let old = t.mr(LEN, Access::LOCAL_WRITE);
        let bystander = t.mr(LEN, Access::LOCAL_WRITE);
        let stale = old.sge(0, 64);
        drop(old);
        // Deregistered, slot not reused yet: the key names nothing.
        let (status, vendor) = (CqeStatus::LocalProtectionError, VendorError::KeyUnknown);
        expect_failure(&mut t, src.sge(0, 64), stale, status, vendor, &bystander);
        // Re-registration reuses the slot with a new variant byte: the old key is stale.
        let new = t.mr(LEN, Access::LOCAL_WRITE);
        assert_ne!(new.lkey(), stale.lkey);
        assert_eq!(new.lkey() >> 8, stale.lkey >> 8, "the slot should be reused");
        let stale_into_new = Sge { addr: new.addr(), ..stale };
        let (status, vendor) = (CqeStatus::LocalProtectionError, VendorError::KeyStale);
        expect_failure(&mut t, src.sge(0, 64), stale_into_new, status, vendor, &new);
    }
}

/// Defect: the key's 8-bit variant wrapped, so after 256 re-registrations of one slot an old
/// lkey named the newest MR of the same PD. No key is issued twice now.
#[test]
fn a_key_kept_across_300_reregistrations_stays_dead() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
    let src = filled_source(&t);
    let first = t.mr(LEN, Access::LOCAL_WRITE);
    let kept = first.sge(0, 64);
    drop(first);
    let mut issued = std::collections::HashSet::from([kept.lkey]);
    for _ in 0..300 {
        let mr = t.mr(LEN, Access::LOCAL_WRITE);
        assert!(issued.insert(mr.lkey()), "lkey {:#x} issued twice", mr.lkey());
    }
    let newest = t.mr(LEN, Access::LOCAL_WRITE);
    let aimed_at_newest = Sge { addr: newest.addr(), ..kept };
    let wc = {
        // SAFETY: `newest` is not looked at until the completion is polled.
        t.qp.post(unsafe { Copy::from_sges(1, src.sge(0, 64), aimed_at_newest) }).unwrap();
        poll_n(&mut t.cq, 1)[0]
    };
    assert_eq!(wc.status, CqeStatus::LocalProtectionError);
    assert!(matches!(wc.vendor_err, VendorError::KeyStale | VendorError::KeyUnknown), "{wc:?}");
    assert!(newest.as_slice().unwrap().iter().all(|&b| b == 0), "an old key wrote the newest MR");
}

#[test]
fn destination_shorter_than_source() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = filled_source(&t);
        let dst = t.mr(LEN, Access::LOCAL_WRITE);
        let (status, vendor) = (CqeStatus::LocalLengthError, VendorError::DestinationTooSmall);
        expect_failure(&mut t, src.sge(0, 128), dst.sge(0, 127), status, vendor, &dst);
    }
}

#[test]
fn work_posted_after_the_error_is_flushed_not_run() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let src = filled_source(&t);
    let mut dst = t.mr(LEN, Access::LOCAL_WRITE);
    let bad = Sge { lkey: 0x4242_4201, ..src.sge(0, 8) };
    // SAFETY: `dst` is not looked at until the completion is polled.
    t.qp.post(unsafe { Copy::from_sges(1, bad, dst.sge(0, 8)) }).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::LocalProtectionError);
    // A valid copy posted later must not run.
    t.qp.post(Copy::new(2, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.wr_id, wc.status), (2, CqeStatus::WorkRequestFlushed));
    assert!(dst.as_slice().unwrap().iter().all(|&b| b == 0));
}
