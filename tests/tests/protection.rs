//! Each protection failure completes its WR with the exact status and check, moves the QP to
//! ERR, flushes every later WR, and writes nothing.

use accelverbs::{Access, Copy, CqeStatus, ExecPolicy, Nop, QpState, Sge, VendorError};
use accelverbs_tests::{assert_no_more, poll_n, Traffic};

const LEN: usize = 4096;

/// Posts `bad` then three NOPs; checks the error, the QP state, the flushes, and that the
/// destination was not touched.
fn expect_failure(t: &mut Traffic, bad: Copy, status: CqeStatus, vendor: VendorError, untouched: &[u8]) {
    let mut batch = t.qp.batch();
    batch.push(bad).unwrap();
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
    assert!(untouched.iter().all(|&b| b == 0), "a failed WR wrote memory");
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
        let src = t.mr(LEN, Access::empty());
        let mut dst = t.mr(LEN, Access::LOCAL_WRITE);
        let bogus = Sge { lkey: 0xDEAD_0001, ..src.sge(0, 64) };
        expect_failure(
            &mut t,
            Copy::new(1, bogus, dst.sge(0, 64)),
            CqeStatus::LocalProtectionError,
            VendorError::KeyUnknown,
            &[],
        );
        let zero_key = Sge { lkey: 0, ..src.sge(0, 64) };
        expect_failure(
            &mut t,
            Copy::new(1, zero_key, dst.sge(0, 64)),
            CqeStatus::LocalProtectionError,
            VendorError::KeyUnknown,
            &[],
        );
        assert!(dst.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn sge_outside_the_mr() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = t.mr(LEN, Access::empty());
        let mut dst = t.mr(LEN, Access::LOCAL_WRITE);
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
            expect_failure(&mut t, Copy::new(1, s, d), CqeStatus::LocalProtectionError, VendorError::OutOfBounds, &[]);
        }
        assert!(dst.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn write_into_an_mr_without_local_write() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let mut src = t.mr(LEN, Access::empty());
        src.as_mut_slice().fill(0x11);
        let mut read_only = t.mr(LEN, Access::empty());
        expect_failure(
            &mut t,
            Copy::new(1, src.sge(0, 64), read_only.sge(0, 64)),
            CqeStatus::LocalProtectionError,
            VendorError::AccessDenied,
            &[],
        );
        assert!(read_only.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn lkey_from_another_pd() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let other_pd = t.base.ctx.alloc_pd().unwrap();
        let src = t.mr(LEN, Access::empty());
        let mut foreign = other_pd.alloc_mr(LEN, Access::LOCAL_WRITE).unwrap();
        expect_failure(
            &mut t,
            Copy::new(1, src.sge(0, 64), foreign.sge(0, 64)),
            CqeStatus::LocalProtectionError,
            VendorError::PdMismatch,
            &[],
        );
        assert!(foreign.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn stale_key_after_dereg_and_rereg() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = t.mr(LEN, Access::empty());
        let old = t.mr(LEN, Access::LOCAL_WRITE);
        let stale = old.sge(0, 64);
        drop(old);
        // Deregistered, slot not reused yet: the key names nothing.
        expect_failure(
            &mut t,
            Copy::new(1, src.sge(0, 64), stale),
            CqeStatus::LocalProtectionError,
            VendorError::KeyUnknown,
            &[],
        );
        // Re-registration reuses the slot with a new variant byte: the old key is stale.
        let mut new = t.mr(LEN, Access::LOCAL_WRITE);
        assert_ne!(new.lkey(), stale.lkey);
        assert_eq!(new.lkey() >> 8, stale.lkey >> 8, "the slot should be reused");
        let stale_into_new = Sge { addr: new.addr(), ..stale };
        expect_failure(
            &mut t,
            Copy::new(1, src.sge(0, 64), stale_into_new),
            CqeStatus::LocalProtectionError,
            VendorError::KeyStale,
            &[],
        );
        assert!(new.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn destination_shorter_than_source() {
    for (e, p) in policies() {
        let mut t = Traffic::new(e, p, 8);
        let src = t.mr(LEN, Access::empty());
        let mut dst = t.mr(LEN, Access::LOCAL_WRITE);
        expect_failure(
            &mut t,
            Copy::new(1, src.sge(0, 128), dst.sge(0, 127)),
            CqeStatus::LocalLengthError,
            VendorError::DestinationTooSmall,
            &[],
        );
        assert!(dst.as_mut_slice().iter().all(|&b| b == 0));
    }
}

#[test]
fn work_posted_after_the_error_is_flushed_not_run() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    let mut src = t.mr(LEN, Access::empty());
    src.as_mut_slice().fill(0x77);
    let mut dst = t.mr(LEN, Access::LOCAL_WRITE);
    t.qp.post(Copy::new(1, Sge { lkey: 0x4242_4201, ..src.sge(0, 8) }, dst.sge(0, 8))).unwrap();
    assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::LocalProtectionError);
    // A valid copy posted later must not run.
    t.qp.post(Copy::new(2, src.sge(0, 64), dst.sge(0, 64))).unwrap();
    let wc = poll_n(&mut t.cq, 1)[0];
    assert_eq!((wc.wr_id, wc.status), (2, CqeStatus::WorkRequestFlushed));
    assert!(dst.as_mut_slice().iter().all(|&b| b == 0));
}
