//! Races that must stay harmless: objects dropped in any order with work in flight, errors
//! forced while posting, many posters on a tiny CQ, two threads destroying one handle. Each
//! runs `stress_rounds` rounds; `tests/soak.sh` runs them long in release builds.

use std::sync::Barrier;

use accelverbs::{Access, Copy, CqeStatus, ExecPolicy, Nop, QpInit, QpState, Sge, WorkCompletion};
use accelverbs_tests::raw::RawFile;
use accelverbs_tests::{device, pattern, poll_n, stress_rounds, Base};

const POLICIES: [(usize, ExecPolicy); 3] = [(1, ExecPolicy::Threads), (2, ExecPolicy::Threads), (1, ExecPolicy::Adaptive)];

/// Every object of a context dropped, in a different order each round, while 1 MiB copies run.
#[test]
fn dropping_everything_mid_copy_in_any_order() {
    const LEN: usize = 1 << 20;
    for (engines, policy) in POLICIES {
        for round in 0..stress_rounds(8) {
            let b = Base::new(engines, policy);
            let cq = b.ctx.create_cq(16, None).unwrap();
            let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
            let src = b.pd.reg_mr(pattern(round, LEN), Access::empty()).unwrap();
            let mut dst = b.pd.alloc_mr(LEN, Access::LOCAL_WRITE).unwrap();
            for i in 0..4 {
                qp.post(Copy::new(i, src.slice(0, LEN as u32), dst.slice_mut(0, LEN as u32))).unwrap();
            }
            let Base { device, ctx, pd } = b;
            match round % 4 {
                0 => drop((dst, src, qp, cq, pd, ctx, device)),
                1 => drop((qp, cq, ctx, pd, device, src, dst)),
                2 => drop((ctx, device, pd, cq, dst, src, qp)),
                _ => {
                    std::mem::forget(qp);
                    drop((src, dst, cq, pd, ctx, device));
                }
            }
        }
    }
}

/// A poster that keeps forcing its QP into ERR with a bad request, then resets it: every
/// completion is a success, the error, or a flush after it, in that order.
#[test]
fn errors_forced_while_posting() {
    for (engines, policy) in POLICIES {
        let b = Base::new(engines, policy);
        let mut cq = b.ctx.create_cq(64, None).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(32)).unwrap();
        let src = b.pd.reg_mr(pattern(1, 4096), Access::empty()).unwrap();
        let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        for round in 0..stress_rounds(40) {
            let bad_at = round % 8;
            let mut batch = qp.batch();
            for i in 0..8 {
                if i == bad_at {
                    let bad = Sge { lkey: 0xBAD0_0001, ..src.sge(0, 64) };
                    // SAFETY: `dst` is not read until the completions are polled.
                    batch.push(unsafe { Copy::from_sges(i, bad, dst.sge(0, 64)) }).unwrap();
                } else {
                    batch.push(Copy::new(i, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
                }
            }
            batch.ring();
            let wcs = poll_n(&mut cq, 8);
            for (i, w) in wcs.iter().enumerate() {
                let want = match (i as u64).cmp(&bad_at) {
                    std::cmp::Ordering::Less => CqeStatus::Success,
                    std::cmp::Ordering::Equal => CqeStatus::LocalProtectionError,
                    std::cmp::Ordering::Greater => CqeStatus::WorkRequestFlushed,
                };
                assert_eq!((w.wr_id, w.status), (i as u64, want), "round {round} ({policy:?})");
            }
            assert_eq!(qp.query_state().unwrap(), QpState::Err);
            for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
                qp.modify(s).unwrap();
            }
        }
        assert_eq!(dst.as_slice().unwrap()[..64], src.as_slice().unwrap()[..64]);
    }
}

/// Four threads posting to four QPs that share a two-entry CQ: the device holds work back
/// while the CQ is full, and every completion arrives exactly once.
#[test]
fn four_posters_on_a_two_entry_cq() {
    const PER_THREAD: u64 = 500;
    for (engines, policy) in POLICIES {
        let b = Base::new(engines, policy);
        let mut cq = b.ctx.create_cq(2, None).unwrap();
        let total = 4 * stress_rounds(PER_THREAD);
        std::thread::scope(|s| {
            // Each poster hands its QP back through its join handle, kept until every
            // completion is in: destroying a QP discards the work it still has.
            let mut posters = Vec::new();
            for thread in 0..4u64 {
                let mut qp = b.pd.create_qp(&cq, QpInit::new(4)).unwrap();
                posters.push(s.spawn(move || {
                    let mut i = 0;
                    while i < total / 4 {
                        match qp.post(Nop::new(thread << 32 | i)) {
                            Ok(()) => i += 1,
                            Err(accelverbs::PostError::QueueFull) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    qp
                }));
            }
            let mut seen = std::collections::HashSet::new();
            let mut wc = [WorkCompletion::default(); 2];
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while (seen.len() as u64) < total {
                let n = cq.poll(&mut wc);
                for w in &wc[..n] {
                    assert!(w.is_success(), "{w:?}");
                    assert!(seen.insert(w.wr_id), "completion {:#x} twice", w.wr_id);
                }
                assert!(std::time::Instant::now() < deadline, "{policy:?}: stuck at {} of {total}", seen.len());
            }
            for poster in posters {
                drop(poster.join().unwrap());
            }
        });
    }
}

/// QPs on two engines filling one CQ: a pass that finds the CQ full keeps its completions
/// back, and whatever it completes after them (an engine publishes as it goes) waits behind
/// them, so each QP's completions still arrive in the order it posted.
#[test]
fn each_qps_completions_stay_in_order_on_a_full_shared_cq() {
    const QPS: u64 = 4;
    let b = Base::new(2, ExecPolicy::Threads);
    let mut cq = b.ctx.create_cq(32, None).unwrap();
    let per_qp = stress_rounds(20_000);
    std::thread::scope(|s| {
        let mut posters = Vec::new();
        for qp_index in 0..QPS {
            let mut qp = b.pd.create_qp(&cq, QpInit::new(64)).unwrap();
            posters.push(s.spawn(move || {
                let mut i = 0;
                while i < per_qp {
                    // Batches of up to 64, so engine passes run long enough to publish midway.
                    let mut batch = qp.batch();
                    while i < per_qp {
                        match batch.push(Nop::new(qp_index << 32 | i)) {
                            Ok(()) => i += 1,
                            Err(accelverbs::PostError::QueueFull) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    batch.ring();
                    std::thread::yield_now();
                }
                qp
            }));
        }
        let mut next = [0u64; QPS as usize];
        let mut wc = [WorkCompletion::default(); 8];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while next.iter().any(|&n| n < per_qp) {
            let n = cq.poll(&mut wc);
            for w in &wc[..n] {
                assert!(w.is_success(), "{w:?}");
                let (qp_index, i) = ((w.wr_id >> 32) as usize, w.wr_id & 0xFFFF_FFFF);
                assert_eq!(i, next[qp_index], "QP {qp_index}: completion {i} where {} was next", next[qp_index]);
                next[qp_index] += 1;
            }
            assert!(std::time::Instant::now() < deadline, "stuck at {next:?} of {per_qp} each");
        }
        for poster in posters {
            drop(poster.join().unwrap());
        }
    });
}

/// Two threads destroying the same handle at once: one succeeds, the other is told ENOENT.
#[test]
fn two_threads_destroy_one_handle() {
    let dev = device(1);
    let mut f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    for _ in 0..stress_rounds(100) {
        let (mr, _) = f.reg_mr(pd, 4096, 0).unwrap();
        let cq = f.create_cq(16).unwrap();
        let start = Barrier::new(2);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        (f.destroy_mr(mr), f.destroy_cq(cq))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for pick in [|r: &(Result<(), i32>, Result<(), i32>)| r.0, |r: &(Result<(), i32>, Result<(), i32>)| r.1] {
            let mut outcomes: Vec<_> = results.iter().map(pick).collect();
            outcomes.sort();
            assert_eq!(outcomes, [Ok(()), Err(libc::ENOENT)]);
        }
    }
}
