//! A hostile user's attack on the posting and retiring path as it stands after fd3e734 (holds
//! written into the WQE's slot in place, moved from WQE to WQE along a batch, and found by the
//! retirers through per-line marks) (helper-24). Each test checks a way safe code could make a
//! region's bytes reachable while the device may still use them, lose or duplicate a
//! completion, or let go of a hold twice or never: a push refused in the middle of a batch that
//! moves holds, a forgotten batch, many laps of mixed batches with errors and flushes, a poller
//! retiring while posters post on QPs sharing its CQ, and objects dropped in every order while
//! requests are in flight.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use accelverbs::{
    Access, Compress, Copy, CqeStatus, ExecPolicy, Format, MemoryRegion, Nop, PostError, QpInit, QpState, WorkCompletion,
};
use accelverbs_tests::{assert_no_more, pattern, poll_n, stress_rounds, Base, Rng};

/// A push refused in the middle of a batch whose requests move one hold along (`RegionBusy`
/// for a region another QP holds, `WrongContext` for one of another context) leaves the holds
/// of the requests staged before it where they were: the request pushed after the refused one
/// takes them over, and they last until it retires.
#[test]
fn a_push_refused_midway_keeps_the_holds_moved_along_the_batch() {
    let b = Base::new(0, ExecPolicy::Inline);
    // A one-entry CQ: each completion waits for the one before to be polled, so what is still
    // held between polls is certain.
    let mut cq = b.ctx.create_cq(1, None).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    let mut other_cq = b.ctx.create_cq(4, None).unwrap();
    let mut other_qp = b.pd.create_qp(&other_cq, QpInit::new(4)).unwrap();
    let elsewhere = Base::new(0, ExecPolicy::Inline);
    let mut foreign = elsewhere.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();

    let src = b.pd.reg_mr(pattern(24, 4096), Access::empty()).unwrap();
    let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let mut busy = b.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();
    let other_src = b.pd.reg_mr(pattern(25, 64), Access::empty()).unwrap();
    // `busy` is lent to the other QP until its CQ is polled.
    other_qp.post(Copy::new(90, other_src.slice(0, 64), busy.slice_mut(0, 64))).unwrap();
    assert!(busy.in_flight());

    let mut batch = qp.batch();
    batch.push(Copy::new(1, src.slice(0, 1024), dst.slice_mut(0, 1024))).unwrap();
    batch.push(Copy::new(2, src.slice(1024, 1024), dst.slice_mut(1024, 1024))).unwrap();
    // Refused: names the regions the WQE before holds, and one it cannot have.
    assert_eq!(batch.push(Copy::new(3, src.slice(0, 64), busy.slice_mut(0, 64))), Err(PostError::RegionBusy));
    assert_eq!(batch.push(Copy::new(4, src.slice(0, 64), foreign.slice_mut(0, 64))), Err(PostError::WrongContext));
    assert_eq!(batch.len(), 2, "a refused push staged nothing");
    batch.push(Copy::new(5, src.slice(2048, 1024), dst.slice_mut(2048, 1024))).unwrap();
    batch.push(Copy::new(6, src.slice(3072, 1024), dst.slice_mut(3072, 1024))).unwrap();
    batch.ring();

    for (i, wr_id) in [1u64, 2, 5].into_iter().enumerate() {
        let wc = poll_n(&mut cq, 1)[0];
        assert_eq!((wc.wr_id, wc.status), (wr_id, CqeStatus::Success), "completion {i}");
        assert!(matches!(dst.as_slice(), Err(accelverbs::Error::InFlight { .. })), "after {wr_id}: the hold left early");
        assert!(src.in_flight(), "after {wr_id}: the source's hold left early");
    }
    assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 6);
    assert_no_more(&mut cq);
    assert!(!dst.in_flight() && !src.in_flight(), "the last request's retirement let go of every hold");
    assert_eq!(dst.as_slice().unwrap(), src.as_slice().unwrap());
    assert!(foreign.as_slice().unwrap().iter().all(|&x| x == 0) && !foreign.in_flight());

    // The refused requests took nothing of the other QP's hold, nor added one.
    assert!(busy.in_flight(), "the other QP's hold went with the refused push");
    assert_eq!(poll_n(&mut other_cq, 1)[0].wr_id, 90);
    assert!(!busy.in_flight());
    assert_eq!(busy.as_mut_slice().unwrap(), other_src.as_slice().unwrap());
    // And the QP posts on with both.
    qp.post(Copy::new(7, src.slice(0, 64), busy.slice_mut(0, 64))).unwrap();
    assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 7);
    assert!(!busy.in_flight());
}

/// A batch mixing requests whose holds are kept inline (up to four regions, moved from the
/// WQE before when it holds them) with gathered ones over five regions (kept in a list, never
/// moved), completed one at a time: after each completion exactly the regions a later request
/// of the batch names are still held, whichever way each hold got there.
#[test]
fn holds_kept_inline_and_in_lists_end_with_the_last_request_naming_them() {
    const INS: usize = 5;
    let b = Base::new(0, ExecPolicy::Inline);
    let mut cq = b.ctx.create_cq(1, None).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    // Regions 0..5 are inputs (and copy destinations), 5 and 6 compression outputs.
    let mut regions: Vec<MemoryRegion> =
        (0..INS + 2).map(|i| b.pd.reg_mr(pattern(40 + i as u64, 4096), Access::LOCAL_WRITE).unwrap()).collect();
    let (out0, out1) = (INS, INS + 1);
    // What each request names, in posting order.
    let mut named: Vec<Vec<usize>> = Vec::new();
    let mut batch = qp.batch();
    let all: Vec<usize> = (0..INS).collect();
    batch.push(gather(&mut regions, INS, 1, &all, out0)).unwrap();
    named.push([all.clone(), vec![out0]].concat());
    for wr_id in [2, 3] {
        let (s, d) = pair(&mut regions, 0, 1);
        batch.push(Copy::new(wr_id, s.slice(512, 64), d.slice_mut(1024, 64))).unwrap();
        named.push(vec![0, 1]);
    }
    batch.push(gather(&mut regions, INS, 4, &all, out1)).unwrap();
    named.push([all.clone(), vec![out1]].concat());
    let (s, d) = pair(&mut regions, 2, out0);
    batch.push(Copy::new(5, s.slice(0, 64), d.slice_mut(4000, 64))).unwrap();
    named.push(vec![2, out0]);
    batch.push(Nop::new(6)).unwrap();
    named.push(Vec::new());
    batch.push(gather(&mut regions, INS, 7, &[0, 0, 1, 1, 2], out1)).unwrap();
    named.push(vec![0, 1, 2, out1]);
    let (s, d) = pair(&mut regions, 1, 3);
    batch.push(Copy::new(8, s.slice(2048, 64), d.slice_mut(2048, 64))).unwrap();
    named.push(vec![1, 3]);
    batch.ring();
    for (k, wr_id) in (1..=8u64).enumerate() {
        let wc = poll_n(&mut cq, 1)[0];
        assert_eq!((wc.wr_id, wc.status), (wr_id, CqeStatus::Success));
        for (r, region) in regions.iter().enumerate() {
            let named_later = named[k + 1..].iter().any(|n| n.contains(&r));
            assert_eq!(region.in_flight(), named_later, "after request {wr_id}: region {r}");
        }
    }
    assert_no_more(&mut cq);
}

/// A COMPRESS gathered from 256 bytes of each of the regions `ins`, into region `out`.
fn gather<'a>(regions: &'a mut [MemoryRegion], inputs: usize, wr_id: u64, ins: &[usize], out: usize) -> Compress<'a> {
    let (input_regions, outputs) = regions.split_at_mut(inputs);
    let src: Vec<_> = ins.iter().map(|&i| input_regions[i].slice(0, 256)).collect();
    Compress::gather(wr_id, Format::Deflate, &src, vec![outputs[out - inputs].slice_mut(0, 4096)])
}

/// `mem::forget` of a batch ends its borrow of the QP without publishing it: the staged
/// requests keep their holds (the device has not seen them, but may once they are published),
/// and they are let go exactly once whichever way the staged requests end: published by a
/// later post, aborted, dropped by RESET, or dropped with the QP.
#[test]
fn a_forgotten_batch_keeps_its_holds_until_its_requests_end() {
    for end in ["post", "abort", "reset", "drop"] {
        let b = Base::new(0, ExecPolicy::Inline);
        let mut cq = b.ctx.create_cq(16, None).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(4)).unwrap();
        let src = b.pd.reg_mr(pattern(7, 4096), Access::empty()).unwrap();
        let mut dst = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
        let mut batch = qp.batch();
        batch.push(Copy::new(1, src.slice(0, 2048), dst.slice_mut(0, 2048))).unwrap();
        batch.push(Copy::new(2, src.slice(2048, 2048), dst.slice_mut(2048, 2048))).unwrap();
        std::mem::forget(batch);
        assert_eq!(qp.staged(), 2);
        assert!(dst.as_slice().is_err() && src.in_flight(), "{end}: a forgotten batch's holds went");
        match end {
            "post" => {
                qp.post(Nop::new(3)).unwrap();
                let ids: Vec<u64> = poll_n(&mut cq, 3).iter().map(|wc| wc.wr_id).collect();
                assert_eq!(ids, [1, 2, 3]);
                assert_eq!(dst.as_slice().unwrap(), src.as_slice().unwrap());
            }
            "abort" => {
                qp.abort_staged();
                qp.post(Nop::new(3)).unwrap();
                assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 3, "{end}: an aborted request ran");
                assert!(dst.as_slice().unwrap().iter().all(|&x| x == 0));
            }
            "reset" => {
                for state in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
                    qp.modify(state).unwrap();
                }
                assert_eq!(qp.staged(), 0);
                qp.post(Nop::new(3)).unwrap();
                assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 3, "{end}: a request staged before RESET ran");
            }
            _ => drop(qp),
        }
        assert_no_more(&mut cq);
        assert!(!dst.in_flight() && !src.in_flight(), "{end}: a hold was kept");
        dst.as_mut_slice().unwrap().fill(1);
        if end == "post" {
            // Let go once, not twice: a second hold on the region counts from zero again.
            let mut qp = b.pd.create_qp(&cq, QpInit::new(4)).unwrap();
            qp.post(Copy::new(4, src.slice(0, 8), dst.slice_mut(0, 8))).unwrap();
            assert!(dst.in_flight(), "a hold let go twice underflowed the count");
            assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 4);
            assert!(!dst.in_flight());
        }
    }
}

/// A request of the laps test, as the model sees it.
#[derive(Debug, Clone, Copy)]
enum Planned {
    Nop,
    /// `len` bytes from region `src` at `from` to region `dst` at `to`.
    Copy {
        src: usize,
        from: usize,
        dst: usize,
        to: usize,
        len: usize,
    },
    /// A copy whose source lies past its region's end: a protection error.
    OutOfBounds {
        src: usize,
        dst: usize,
    },
}

/// Two regions of `regions`, the first shared and the second mutable (`a != b`).
fn pair(regions: &mut [MemoryRegion], a: usize, b: usize) -> (&MemoryRegion, &mut MemoryRegion) {
    assert_ne!(a, b);
    if a < b {
        let (low, high) = regions.split_at_mut(b);
        (&low[a], &mut high[0])
    } else {
        let (low, high) = regions.split_at_mut(a);
        (&high[0], &mut low[b])
    }
}

/// Thousands of batches over an 8-slot ring (hundreds of laps): NOPs and copies among six
/// regions, each signaled or not, some batches all unsignaled, some with a request that fails
/// (a protection error) so the rest of the batch is flushed and the QP is reset. After every
/// batch is rung, each region it names is held; after its completions are polled nothing is;
/// every signaled or failed request completes exactly once, in order, with the status the
/// model expects; and every region's bytes equal the model's at the end of each batch that
/// completed.
#[test]
fn laps_of_mixed_batches_complete_and_let_go_exactly_once() {
    const REGIONS: usize = 6;
    const LEN: usize = 512;
    let b = Base::new(0, ExecPolicy::Inline);
    let mut cq = b.ctx.create_cq(64, None).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    let mut regions: Vec<MemoryRegion> =
        (0..REGIONS).map(|i| b.pd.reg_mr(pattern(i as u64 + 1, LEN), Access::LOCAL_WRITE).unwrap()).collect();
    let mut model: Vec<Vec<u8>> = (0..REGIONS).map(|i| pattern(i as u64 + 1, LEN)).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut wr_id = 0u64;
    // Regions held by all-unsignaled batches not retired yet (a later poll retires them).
    let mut carried: Vec<usize> = Vec::new();
    let (mut errors, mut flushed, mut silent) = (0, 0, 0);
    for round in 0..stress_rounds(3000) {
        let len = 1 + rng.below(8) as usize;
        let all_unsignaled = rng.below(6) == 0;
        let fail_at = (rng.below(5) == 0).then(|| rng.below(len as u64) as usize);
        let mut expected: Vec<(u64, CqeStatus)> = Vec::new();
        let mut named: Vec<usize> = Vec::new();
        let mut planned: Vec<Planned> = Vec::new();
        let mut failed = false;
        let mut batch = qp.batch();
        for i in 0..len {
            wr_id += 1;
            let signaled = !all_unsignaled && rng.below(3) != 0;
            let src = rng.below(REGIONS as u64) as usize;
            let dst = (src + 1 + rng.below(REGIONS as u64 - 1) as usize) % REGIONS;
            let plan = if fail_at == Some(i) {
                Planned::OutOfBounds { src, dst }
            } else if rng.below(4) == 0 {
                Planned::Nop
            } else {
                let len = 1 + rng.below(LEN as u64 / 2) as usize;
                let from = rng.below((LEN - len) as u64 + 1) as usize;
                let to = rng.below((LEN - len) as u64 + 1) as usize;
                Planned::Copy { src, from, dst, to, len }
            };
            // A full ring waits for the device: on the daemon channel an all-unsignaled batch
            // before, which nothing polls for, may still be running when this one is pushed.
            let deadline = Instant::now() + Duration::from_secs(10);
            let pushed = loop {
                let pushed = match plan {
                    Planned::Nop => batch.push(Nop::new(wr_id).signaled(signaled)),
                    Planned::Copy { src, from, dst, to, len } => {
                        let (s, d) = pair(&mut regions, src, dst);
                        batch.push(Copy::new(wr_id, s.slice(from, len as u32), d.slice_mut(to, len as u32)).signaled(signaled))
                    }
                    Planned::OutOfBounds { src, dst } => {
                        let (s, d) = pair(&mut regions, src, dst);
                        batch.push(Copy::new(wr_id, s.slice(LEN - 8, 64), d.slice_mut(0, 64)).signaled(signaled))
                    }
                };
                match pushed {
                    Err(PostError::QueueFull) if Instant::now() < deadline => std::thread::yield_now(),
                    pushed => break pushed,
                }
            };
            pushed.unwrap_or_else(|e| panic!("round {round}: push {i}: {e:?}"));
            if let Planned::Copy { src, dst, .. } | Planned::OutOfBounds { src, dst } = plan {
                named.extend([src, dst]);
            }
            planned.push(plan);
            if failed {
                expected.push((wr_id, CqeStatus::WorkRequestFlushed));
            } else if let Planned::OutOfBounds { .. } = plan {
                failed = true;
                expected.push((wr_id, CqeStatus::LocalProtectionError));
            } else if signaled {
                expected.push((wr_id, CqeStatus::Success));
            }
        }
        batch.ring();
        for &r in &named {
            assert!(regions[r].in_flight(), "round {round}: region {r} let go before its batch completed");
        }
        if expected.is_empty() {
            silent += 1;
            assert_eq!(cq.poll(&mut [WorkCompletion::default(); 4]), 0, "round {round}: a completion of nothing signaled");
            // Nothing retires them until a poll sees a completion (or the ring looks full).
            carried.extend(named);
        } else {
            let got = poll_n(&mut cq, expected.len());
            let got: Vec<(u64, CqeStatus)> = got.iter().map(|wc| (wc.wr_id, wc.status)).collect();
            assert_eq!(got, expected, "round {round}: {planned:?}");
            assert_eq!(cq.poll(&mut [WorkCompletion::default(); 4]), 0, "round {round}: an extra completion");
            // Everything this QP posted ran: the poll retired all of it.
            for (r, region) in regions.iter().enumerate() {
                assert!(!region.in_flight(), "round {round}: region {r} still held after every request completed");
            }
            carried.clear();
        }
        // The model, as far as the batch ran (the rest was flushed).
        for plan in &planned {
            match *plan {
                Planned::Nop => {}
                Planned::Copy { src, from, dst, to, len } => {
                    let bytes = model[src][from..from + len].to_vec();
                    model[dst][to..to + len].copy_from_slice(&bytes);
                }
                Planned::OutOfBounds { .. } => break,
            }
        }
        if carried.is_empty() {
            for (r, region) in regions.iter_mut().enumerate() {
                assert!(region.as_mut_slice().unwrap() == &model[r][..], "round {round}: region {r} differs from the model");
            }
        }
        if failed {
            errors += 1;
            flushed += expected.iter().filter(|e| e.1 == CqeStatus::WorkRequestFlushed).count();
            assert_eq!(qp.query_state().unwrap(), QpState::Err);
            for state in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
                qp.modify(state).unwrap();
            }
            // RESET let go of whatever the unsignaled batches before still held.
            carried.clear();
            for (r, region) in regions.iter().enumerate() {
                assert!(!region.in_flight(), "round {round}: region {r} held across RESET");
            }
        }
    }
    assert!(errors > 100 && flushed > 100 && silent > 100, "errors {errors}, flushed {flushed}, silent {silent}");
}

/// Two posters on two threads post on two QPs completing to one CQ, each double-buffered (a
/// batch on one pair of regions in flight while it posts on the other), so its own retires
/// (its ring looking full) run beside the poller's. The poller retires both QPs as it reads
/// their completions and hands each poster its own: the regions of the batch completed must be
/// usable by then, hold the copied bytes, and no completion is lost or repeated.
#[test]
fn a_poller_retires_while_posters_post_on_qps_sharing_its_cq() {
    for policy in [ExecPolicy::Threads, ExecPolicy::Adaptive, ExecPolicy::Inline] {
        let engines = if policy == ExecPolicy::Inline { 0 } else { 2 };
        let b = Base::new(engines, policy);
        let mut cq = b.ctx.create_cq(256, None).unwrap();
        const POSTERS: usize = 2;
        let rounds = stress_rounds(400);
        let mut qps: Vec<_> = (0..POSTERS).map(|_| b.pd.create_qp(&cq, QpInit::new(8)).unwrap()).collect();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..POSTERS {
            let (tx, rx) = mpsc::channel::<WorkCompletion>();
            senders.push(tx);
            receivers.push(rx);
        }
        let qpns: Vec<u32> = qps.iter().map(|qp| qp.qpn()).collect();
        let expected_total = POSTERS as u64 * rounds * 2;
        std::thread::scope(|s| {
            let pd = &b.pd;
            for (poster, (mut qp, rx)) in qps.drain(..).zip(receivers.drain(..)).enumerate() {
                s.spawn(move || {
                    // Two pairs: [src, dst] for even rounds' batches, another for odd ones.
                    let mut pairs: Vec<(MemoryRegion, MemoryRegion)> = (0..2)
                        .map(|_| (pd.alloc_mr(4096, Access::empty()).unwrap(), pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap()))
                        .collect();
                    let mut pending: Option<(usize, u64, u64)> = None;
                    for round in 0..rounds * 2 {
                        let which = (round % 2) as usize;
                        let seed = (poster as u64) << 32 | round;
                        let (src, dst) = &mut pairs[which];
                        src.as_mut_slice().expect("a source still held when refilled").copy_from_slice(&pattern(seed, 4096));
                        // 1 to 4 copies, only the last signaled: each fills a quarter or more.
                        let n = 1 + (seed % 4) as u32;
                        let piece = 4096 / n;
                        let mut batch = qp.batch();
                        for k in 0..n {
                            let len = if k == n - 1 { 4096 - piece * k } else { piece };
                            let off = (piece * k) as usize;
                            let wr = Copy::new(round, src.slice(off, len), dst.slice_mut(off, len)).signaled(k == n - 1);
                            // Two batches of at most 4 fit the 8 slots: never `QueueFull`.
                            batch.push(wr).unwrap_or_else(|e| panic!("poster {poster}: {e:?}"));
                        }
                        batch.ring();
                        // Wait for the batch before this one (the other pair), then check it.
                        if let Some((was, was_round, was_seed)) = pending.replace((which, round, seed)) {
                            let wc = rx.recv().expect("the poller went");
                            assert_eq!((wc.wr_id, wc.status), (was_round, CqeStatus::Success), "poster {poster}");
                            let (_, dst) = &mut pairs[was];
                            let bytes = dst.as_mut_slice().expect("a destination still held after its completion was polled");
                            assert!(
                                bytes == &pattern(was_seed, 4096)[..],
                                "poster {poster}: round {was_round} copied wrong bytes"
                            );
                            bytes.fill(0);
                        }
                    }
                    let (was, was_round, was_seed) = pending.unwrap();
                    let wc = rx.recv().expect("the poller went");
                    assert_eq!(wc.wr_id, was_round);
                    assert!(pairs[was].1.as_slice().unwrap() == &pattern(was_seed, 4096)[..]);
                    assert!(rx.try_recv().is_err(), "poster {poster}: a completion came twice");
                    drop(qp);
                });
            }
            let cq = &mut cq;
            let senders = &senders;
            let qpns = &qpns;
            s.spawn(move || {
                let mut seen = 0u64;
                let mut wc = [WorkCompletion::default(); 16];
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while seen < expected_total {
                    let n = cq.poll(&mut wc);
                    for done in &wc[..n] {
                        let poster = qpns.iter().position(|&q| q == done.qp_num).expect("a completion of an unknown QP");
                        senders[poster].send(*done).unwrap();
                    }
                    seen += n as u64;
                    if n == 0 {
                        assert!(std::time::Instant::now() < deadline, "{policy:?}: {seen} of {expected_total} completions");
                        std::thread::yield_now();
                    }
                }
            });
        });
        assert_no_more(&mut cq);
    }
}

/// A QP, its CQ, and the two regions a batch of copies in flight names, dropped in each of the
/// 24 orders while an engine runs the batch: nothing crashes, no byte outside the destination
/// changes, and once all are gone the device holds no QP, CQ or region and pins nothing of
/// theirs (nothing leaked, nothing freed twice).
#[test]
fn objects_dropped_in_every_order_while_requests_run() {
    const LEN: usize = 1 << 20;
    let b = Base::new(1, ExecPolicy::Threads);
    let before = b.ctx.device_resources().unwrap();
    let bystander = b.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    let orders = permutations(4);
    assert_eq!(orders.len(), 24);
    for order in &orders {
        let mut cq = Some(b.ctx.create_cq(16, None).unwrap());
        let mut qp = Some(b.pd.create_qp(cq.as_ref().unwrap(), QpInit::new(8)).unwrap());
        let mut src = Some(b.pd.reg_mr(pattern(5, LEN), Access::empty()).unwrap());
        let mut dst = Some(b.pd.alloc_mr(LEN, Access::LOCAL_WRITE).unwrap());
        {
            let (s, d) = (src.as_ref().unwrap(), dst.as_mut().unwrap());
            let mut batch = qp.as_mut().unwrap().batch();
            for k in 0..4 {
                let off = k * LEN / 4;
                batch.push(Copy::new(k as u64, s.slice(off, (LEN / 4) as u32), d.slice_mut(off, (LEN / 4) as u32))).unwrap();
            }
        }
        for &what in order {
            match what {
                0 => drop(qp.take()),
                1 => drop(cq.take()),
                2 => drop(src.take()),
                _ => drop(dst.take()),
            }
        }
    }
    assert!(bystander.as_slice().unwrap().iter().all(|&x| x == 0));
    drop(bystander);
    let after = b.ctx.device_resources().unwrap();
    assert_eq!((after.qps, after.cqs, after.mrs), (before.qps, before.cqs, before.mrs), "an object outlived every handle");
    assert_eq!(after.pinned_bytes, before.pinned_bytes, "memory stayed pinned");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}
