//! COPY and NOP through the whole path: provider → ioctl → driver → rings → engine → CQ.

use std::collections::HashMap;
use std::sync::mpsc;

use accelverbs::{Access, Copy, CqeStatus, Error, ExecPolicy, MemoryRegion, Nop, QpInit, WorkCompletion};
use accelverbs_tests::{assert_no_more, pattern, poll_n, Traffic};

/// Every way the device can run work: one or two engine threads, inline, adaptive.
fn setups() -> Vec<(usize, ExecPolicy)> {
    vec![
        (1, ExecPolicy::Threads),
        (2, ExecPolicy::Threads),
        (0, ExecPolicy::Inline),
        (1, ExecPolicy::Inline),
        (1, ExecPolicy::Adaptive),
    ]
}

#[test]
fn copies_of_every_size_and_offset_are_byte_exact() {
    const SIZES: [usize; 5] = [0, 1, 4096, 1 << 20, 16 << 20];
    const OFFSETS: [(usize, usize); 3] = [(0, 0), (1, 3), (4095, 7)];
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let mut t = Traffic::new(engines, policy, 8);
        for size in SIZES {
            let mut src = t.mr(size + 8192, Access::empty());
            let mut dst = t.mr(size + 8192, Access::LOCAL_WRITE);
            let payload = pattern(size as u64, size + 8192);
            src.as_mut_slice().unwrap().copy_from_slice(&payload);
            for (i, &(so, d_off)) in OFFSETS.iter().enumerate() {
                dst.as_mut_slice().unwrap().fill(0xA5);
                t.qp.post(Copy::new(i as u64, src.slice(so, size as u32), dst.slice_mut(d_off, size as u32))).unwrap();
                let wc = poll_n(&mut t.cq, 1)[0];
                assert_eq!(
                    (wc.wr_id, wc.status, wc.byte_len),
                    (i as u64, CqeStatus::Success, size as u32),
                    "size {size} {policy:?}"
                );
                let d = dst.as_slice().unwrap();
                assert_eq!(&d[d_off..d_off + size], &payload[so..so + size], "size {size} offsets {so}/{d_off}");
                assert!(d[..d_off].iter().chain(&d[d_off + size..]).all(|&b| b == 0xA5), "bytes outside the destination changed");
            }
        }
    }
}

#[test]
fn overlapping_copy_inside_one_mr_behaves_like_memmove() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 4);
    let mut mr = t.mr(8192, Access::LOCAL_WRITE);
    let data = pattern(9, 8192);
    mr.as_mut_slice().unwrap().copy_from_slice(&data);
    t.qp.post(Copy::within(1, &mut mr, 0, 100, 6000)).unwrap();
    assert!(poll_n(&mut t.cq, 1)[0].is_success());
    let mut expect = data.clone();
    expect.copy_within(0..6000, 100);
    assert_eq!(mr.as_slice().unwrap(), &expect[..]);
}

/// Posts `total` work requests keeping at most `depth` outstanding; checks every wr_id
/// completes exactly once and in posting order (one QP completes in order).
fn run_at_depth(t: &mut Traffic, total: u64, depth: u32, mut copy: Option<(&MemoryRegion, &mut MemoryRegion)>) {
    let mut next = 0u64;
    let mut expected = 0u64;
    let mut wc = [WorkCompletion::default(); 64];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while expected < total {
        let room = depth as u64 - (next - expected);
        if room > 0 && next < total {
            let n = room.min(total - next);
            let mut batch = t.qp.batch();
            for _ in 0..n {
                let r = match copy.as_mut() {
                    Some((s, d)) => batch.push(Copy::new(next, s.slice(0, 64), d.slice_mut(((next % 64) * 64) as usize, 64))),
                    None => batch.push(Nop::new(next)),
                };
                r.unwrap();
                next += 1;
            }
            batch.ring();
        }
        let got = t.cq.poll(&mut wc);
        for w in &wc[..got] {
            assert_eq!(w.status, CqeStatus::Success, "{w:?}");
            assert_eq!(w.wr_id, expected, "completion out of order or duplicated");
            expected += 1;
        }
        assert!(std::time::Instant::now() < deadline, "stalled at {expected}/{total}");
    }
    assert_no_more(&mut t.cq);
}

#[test]
fn thousands_of_work_requests_at_every_queue_depth() {
    for (engines, policy) in setups() {
        for depth in [1u32, 4, 32, 128] {
            let mut t = Traffic::new(engines, policy, 128);
            run_at_depth(&mut t, 3000, depth, None);
            let src = t.mr(64, Access::empty());
            let mut dst = t.mr(64 * 64, Access::LOCAL_WRITE);
            run_at_depth(&mut t, 2000, depth, Some((&src, &mut dst)));
        }
    }
}

#[test]
fn several_qps_on_several_threads_share_one_cq() {
    const THREADS: u32 = 4;
    const PER_THREAD: u64 = 2500;
    for (engines, policy) in [(2, ExecPolicy::Threads), (1, ExecPolicy::Adaptive), (0, ExecPolicy::Inline)] {
        let t = Traffic::new(engines, policy, 8);
        let mut cq = t.base.ctx.create_cq(64, None).unwrap();
        let (tx, rx) = mpsc::channel();
        let mut qpns = Vec::new();
        std::thread::scope(|s| {
            for thread in 0..THREADS {
                let mut qp = t.base.pd.create_qp(&cq, QpInit::new(32)).unwrap();
                qpns.push(qp.qpn());
                let src = t.base.pd.alloc_mr(256, Access::empty()).unwrap();
                let mut dst = t.base.pd.alloc_mr(256, Access::LOCAL_WRITE).unwrap();
                let tx = tx.clone();
                s.spawn(move || {
                    let mut i = 0;
                    while i < PER_THREAD {
                        let wr_id = u64::from(thread) << 32 | i;
                        let r = if i % 2 == 0 {
                            qp.post(Nop::new(wr_id))
                        } else {
                            qp.post(Copy::new(wr_id, src.slice(0, 256), dst.slice_mut(0, 256)))
                        };
                        match r {
                            Ok(()) => i += 1,
                            Err(accelverbs::PostError::QueueFull) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    // Hand the QP and MRs to the main thread, which drops them after polling.
                    tx.send((qp, src, dst)).unwrap();
                });
            }
            drop(tx);
            let wcs = poll_n(&mut cq, (THREADS as u64 * PER_THREAD) as usize);
            let mut seen: HashMap<(u32, u64), u32> = HashMap::new();
            for w in &wcs {
                assert!(w.is_success(), "{w:?}");
                *seen.entry((w.qp_num, w.wr_id)).or_default() += 1;
            }
            assert_eq!(seen.len(), wcs.len(), "a completion was duplicated");
            for thread in 0..THREADS {
                for i in 0..PER_THREAD {
                    let key = (qpns[thread as usize], u64::from(thread) << 32 | i);
                    assert_eq!(seen.get(&key), Some(&1), "lost completion {key:?} ({policy:?})");
                }
            }
            assert_no_more(&mut cq);
            let qps: Vec<_> = rx.iter().collect();
            assert_eq!(qps.len(), THREADS as usize);
        });
    }
}

#[test]
fn unsignaled_requests_complete_silently_and_free_their_slots() {
    for (engines, policy) in setups() {
        let mut t = Traffic::new(engines, policy, 16);
        // 10 rounds of 15 unsignaled + 1 signaled: the ring (16) is reused 10 times.
        for round in 0..10u64 {
            let mut batch = t.qp.batch();
            for i in 0..15 {
                batch.push(Nop::new(round * 100 + i).signaled(false)).unwrap();
            }
            batch.push(Nop::new(round * 100 + 99)).unwrap();
            batch.ring();
            let wc = poll_n(&mut t.cq, 1)[0];
            assert_eq!(wc.wr_id, round * 100 + 99);
            assert_no_more(&mut t.cq);
        }
    }
}

#[test]
fn a_full_cq_holds_work_back_instead_of_losing_completions() {
    for (engines, policy) in setups() {
        let t = Traffic::new(engines, policy, 4);
        let mut small_cq = t.base.ctx.create_cq(4, None).unwrap();
        let mut qp = t.base.pd.create_qp(&small_cq, QpInit::new(64)).unwrap();
        let mut batch = qp.batch();
        for i in 0..64 {
            batch.push(Nop::new(i)).unwrap();
        }
        batch.ring();
        // The device runs 4 (what the CQ holds) and holds the rest back until we poll.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while qp.free_slots() < 4 {
            assert!(std::time::Instant::now() < deadline, "{policy:?}: the device never ran the first four");
            std::thread::yield_now();
        }
        assert_eq!(qp.free_slots(), 4, "{policy:?}: ran more than the CQ can hold");
        let wcs = poll_n(&mut small_cq, 64);
        let ids: Vec<u64> = wcs.iter().map(|w| w.wr_id).collect();
        assert_eq!(ids, (0..64).collect::<Vec<_>>());
    }
}

#[test]
fn a_full_send_queue_refuses_more_posts() {
    let t = Traffic::new(0, ExecPolicy::Inline, 4);
    let cq = t.base.ctx.create_cq(64, None).unwrap();
    let mut qp = t.base.pd.create_qp_in_reset(&cq, QpInit::new(4)).unwrap();
    assert_eq!(qp.post(Nop::new(0)), Err(accelverbs::PostError::NotReady(accelverbs::QpState::Reset)));
    for s in [accelverbs::QpState::Init, accelverbs::QpState::Rtr, accelverbs::QpState::Rts] {
        qp.modify(s).unwrap();
    }
    // With inline execution every post runs at once, so the queue never fills; a batch does.
    let mut batch = qp.batch();
    for i in 0..4 {
        batch.push(Nop::new(i)).unwrap();
    }
    assert_eq!(batch.push(Nop::new(4)), Err(accelverbs::PostError::QueueFull));
    batch.ring();
}

#[test]
fn inline_and_adaptive_run_small_batches_on_the_posting_thread() {
    if accelverbs_tests::embedded_only("runs work inline, which a client of the daemon cannot") {
        return;
    }
    for policy in [ExecPolicy::Inline, ExecPolicy::Adaptive] {
        let mut t = Traffic::new(1, policy, 16);
        let src = t.mr(1 << 20, Access::empty());
        let mut dst = t.mr(1 << 20, Access::LOCAL_WRITE);
        let mut wc = [WorkCompletion::default(); 4];
        for i in 0..200 {
            t.qp.post(Copy::new(i, src.slice(0, 4096), dst.slice_mut(0, 4096))).unwrap();
            // Done before `post` returned: no engine was involved, nothing to wait for.
            assert_eq!(t.cq.poll(&mut wc), 1, "{policy:?}: WR {i} was not run inline");
            assert!(wc[0].is_success());
        }
        // Above the adaptive threshold (16 KiB) the work goes to the engine and still completes.
        t.qp.post(Copy::new(999, src.slice(0, 1 << 20), dst.slice_mut(0, 1 << 20))).unwrap();
        assert_eq!(poll_n(&mut t.cq, 1)[0].wr_id, 999);
    }
}

#[test]
fn staged_requests_run_only_when_rung_and_an_abort_lets_their_regions_go() {
    // Inline execution runs work only when the application posts or polls, so "not run" is
    // observable: polling finds nothing while the requests are only staged.
    let mut t = Traffic::new(0, ExecPolicy::Inline, 8);
    let src = t.base.pd.reg_mr(b"staged bytes".to_vec(), Access::empty()).unwrap();
    let mut dst = t.base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();

    t.qp.stage(Copy::new(1, src.slice(0, 12), dst.slice_mut(0, 12))).unwrap();
    t.qp.stage(Nop::new(2)).unwrap();
    assert_eq!(t.qp.staged(), 2);
    assert!(matches!(dst.as_mut_slice(), Err(Error::InFlight { .. })), "a staged request holds its regions");
    assert_no_more(&mut t.cq);
    t.qp.abort_staged();
    assert_eq!(t.qp.staged(), 0);
    assert_eq!(dst.as_mut_slice().unwrap()[..12], [0; 12], "an aborted copy never ran and lets its region go");
    assert_no_more(&mut t.cq);

    t.qp.stage(Copy::new(3, src.slice(0, 12), dst.slice_mut(0, 12))).unwrap();
    t.qp.stage(Nop::new(4)).unwrap();
    t.qp.ring_staged();
    let done: Vec<u64> = poll_n(&mut t.cq, 2).iter().map(|wc| wc.wr_id).collect();
    assert_eq!(done, [3, 4], "the slots of the aborted requests are reused in order");
    assert_eq!(&dst.as_slice().unwrap()[..12], b"staged bytes");
}
