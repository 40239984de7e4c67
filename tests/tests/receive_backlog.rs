//! A QP that only receives (RTR, as verbs allows) never loses a receive completion: one that
//! loses the race for the last slot of a CQ shared with another QP waits in the receive
//! queue's backlog, and the receiving QP's own passes post it once there is room, although it
//! runs nothing else.

use std::time::{Duration, Instant};

use accelverbs::{Access, CqeStatus, ExecPolicy, Nop, QpInit, QpState, QpType, Recv, Send, WorkCompletion};
use accelverbs_tests::Base;

#[test]
fn a_receive_only_qp_never_loses_a_receive_completion() {
    let base = Base::new(2, ExecPolicy::Threads);
    let mut shared = base.ctx.create_cq(2, None).unwrap(); // B's receives and C's NOPs
    let b_send = base.ctx.create_cq(4, None).unwrap();
    let mut a_cq = base.ctx.create_cq(64, None).unwrap();
    // Engines by creation order: B e0, A e1, C e0.
    let mut b = base.pd.create_qp_with_recv_cq(&b_send, &shared, QpInit::new(4).qp_type(QpType::Rc).max_recv_wr(64)).unwrap();
    let mut a = base.pd.create_qp_in_reset(&a_cq, QpInit::new(16).qp_type(QpType::Rc)).unwrap();
    let mut c = base.pd.create_qp(&shared, QpInit::new(16)).unwrap();
    b.modify(QpState::Init).unwrap();
    b.connect(a.qpn()).unwrap(); // RTR: B only receives
    let b_qpn = b.qpn();
    let bring_up = |a: &mut accelverbs::Qp| {
        a.modify(QpState::Init).unwrap();
        a.connect(b_qpn).unwrap();
        a.modify(QpState::Rts).unwrap();
    };
    bring_up(&mut a);

    let mut regions: Vec<_> = (0..64).map(|_| base.pd.alloc_mr(16, Access::LOCAL_WRITE).unwrap()).collect();
    let src = base.pd.alloc_mr(16, Access::empty()).unwrap();
    let mut next_region = 0usize;
    let (mut sent_ok, mut received_ok, mut nops_posted, mut nops_done) = (0u64, 0u64, 0u64, 0u64);
    let mut wc = [WorkCompletion::default(); 16];
    let deadline = Instant::now() + Duration::from_secs(2 * accelverbs_tests::stress_rounds(1));
    let mut posted_recvs = 0u64;
    while Instant::now() < deadline {
        // Keep receives posted (regions come back as their completions are polled).
        while posted_recvs - received_ok < 8 {
            let r = &mut regions[next_region % 64];
            if r.as_mut_slice().is_err() {
                break;
            }
            match b.post_recv(Recv::new(posted_recvs, r.slice_mut(0, 16))) {
                Ok(()) => {
                    posted_recvs += 1;
                    next_region += 1;
                }
                Err(_) => break,
            }
        }
        // C keeps the shared CQ busy.
        while nops_posted - nops_done < 8 && c.post(Nop::new(1_000_000 + nops_posted)).is_ok() {
            nops_posted += 1;
        }
        let before = (sent_ok, received_ok);
        let _ = a.post(Send::new(7, src.slice(0, 16)));
        // Wait for this SEND's outcome; if it succeeded, its receive completion must follow.
        let wait_until = Instant::now() + Duration::from_millis(3000);
        let mut sender_done = false;
        while Instant::now() < wait_until {
            let n = shared.poll(&mut wc);
            for w in &wc[..n] {
                if w.is_receive() {
                    assert_eq!(w.status, CqeStatus::Success, "{w:?}");
                    received_ok += 1;
                } else {
                    nops_done += 1;
                }
            }
            while nops_posted - nops_done < 8 && c.post(Nop::new(1_000_000 + nops_posted)).is_ok() {
                nops_posted += 1;
            }
            if !sender_done {
                let n = a_cq.poll(&mut wc);
                for w in &wc[..n] {
                    sender_done = true;
                    if w.status == CqeStatus::Success {
                        sent_ok += 1;
                    }
                }
            }
            if sender_done && (sent_ok == before.0 || received_ok > before.1) {
                break;
            }
        }
        assert!(
            !(sent_ok > before.0 && received_ok == before.1),
            "SEND {sent_ok} succeeded but its receive completion did not arrive in 3 s ({received_ok} receives)"
        );
        if a.query_state().unwrap() == QpState::Err {
            loop {
                let n = a_cq.poll(&mut wc);
                if n == 0 {
                    break;
                }
                sent_ok += wc[..n].iter().filter(|w| w.status == CqeStatus::Success).count() as u64;
            }
            a.modify(QpState::Reset).unwrap();
            bring_up(&mut a);
        }
        if sent_ok > received_ok + 2 {
            break;
        }
    }
    // Settle: poll whatever the device still delivers.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        let n = a_cq.poll(&mut wc);
        sent_ok += wc[..n].iter().filter(|w| w.status == CqeStatus::Success).count() as u64;
        let n = shared.poll(&mut wc);
        received_ok += wc[..n].iter().filter(|w| w.is_receive()).count() as u64;
    }
    assert_eq!(sent_ok, received_ok, "receive completions lost (kept in the receive queue's backlog)");
}
