//! The application as an adversary: garbage written straight into the send queue, producer
//! indices beyond the ring or moved backwards. The device must answer with error completions
//! or a QP in ERR — never a panic, never a write outside a registered region.

use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe, WQE_SIZE};
use accelverbs::uapi::zerocopy::IntoBytes;
use accelverbs::{Access, CqeStatus, ExecPolicy, Nop, QpState, WorkCompletion};
use accelverbs_tests::{pattern, poll_n, Traffic};
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

fn reset_to_rts(t: &mut Traffic) {
    for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
        t.qp.modify(s).unwrap();
    }
}

/// Marks the end of a round: posted after the hostile WQEs, it completes after all of them
/// (one QP completes in order; in ERR it completes as a flush, which always reports).
const MARKER: u64 = u64::MAX;

/// Posts the marker and collects every completion up to and including it.
fn drain_through_marker(t: &mut Traffic) -> Vec<WorkCompletion> {
    t.qp.post(Nop::new(MARKER)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut wc = [WorkCompletion::default(); 64];
    loop {
        let got = t.cq.poll(&mut wc);
        out.extend_from_slice(&wc[..got]);
        if out.last().is_some_and(|w| w.wr_id == MARKER) {
            out.pop();
            return out;
        }
        assert!(Instant::now() < deadline, "the device never reached the marker");
        std::thread::yield_now();
    }
}

#[test]
fn garbage_wqes_fail_cleanly_and_never_write_outside_an_mr() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let mut t = Traffic::new(engines, policy, 128);
        // [guard | registered | guard], all zero; only the middle page may ever change.
        let mut arena = vec![0u8; 3 * PAGE];
        let middle = arena.as_mut_ptr().wrapping_add(PAGE);
        let middle_addr = middle as u64;
        let mut src = t.mr(PAGE, Access::empty());
        src.as_mut_slice().unwrap().copy_from_slice(&pattern(5, PAGE));
        // SAFETY: `arena` is neither touched nor freed until `dst` is dropped and the QP reset,
        // after which the device can no longer reach it.
        let dst = unsafe { t.base.pd.reg_mr_raw(middle, PAGE, Access::LOCAL_WRITE) }.unwrap();
        let keys = [src.lkey(), dst.lkey(), 0, 0xFFFF_FFFF, dst.lkey() ^ 1];
        let (mut errors, mut successes) = (0, 0);
        for round in 0..40u64 {
            let noise = pattern(round + 1, 64 * WQE_SIZE);
            // SAFETY: hostile test; the device must cope with anything written here.
            let ring = unsafe { t.qp.raw_ring() };
            let n = 1 + (noise[0] as u32 % 64);
            for i in 0..n as usize {
                let slot = &mut ring[i * WQE_SIZE..(i + 1) * WQE_SIZE];
                let r = &noise[i * WQE_SIZE..(i + 1) * WQE_SIZE];
                if round % 2 == 0 {
                    // Pure noise.
                    slot.copy_from_slice(r);
                } else {
                    // Well-formed COPYs with hostile SGEs: keys from the list, addresses
                    // around (and across) the registered page, arbitrary lengths.
                    let word = |k: usize| u64::from_le_bytes(r[k * 8..k * 8 + 8].try_into().unwrap());
                    // Mostly plausible (so copies run and the guards mean something), sometimes
                    // the wrong key or an address across the page boundaries.
                    let key = |w: u64, right: u32| if w % 10 < 7 { right } else { keys[(w % 5) as usize] };
                    let dst_addr = |w: u64| {
                        if w % 10 < 7 {
                            middle_addr + (w >> 8) % PAGE as u64
                        } else {
                            middle_addr.wrapping_add((w >> 8) % (3 * PAGE as u64)).wrapping_sub(PAGE as u64)
                        }
                    };
                    let mut wqe = Wqe::default();
                    wqe.ctrl.wr_id = round << 32 | i as u64;
                    wqe.ctrl.opcode = Opcode::Copy as u8;
                    wqe.ctrl.flags = flags::SIGNALED;
                    wqe.src = Sge {
                        addr: src.addr() + word(1) % PAGE as u64,
                        length: (word(2) % (PAGE as u64 + 512)) as u32 / 4,
                        lkey: key(word(3), src.lkey()),
                    };
                    wqe.dst = Sge {
                        addr: dst_addr(word(4)),
                        length: (word(5) % (PAGE as u64 + 512)) as u32,
                        lkey: key(word(6), dst.lkey()),
                    };
                    slot.copy_from_slice(wqe.as_bytes());
                }
            }
            // SAFETY: the hostile WQEs name only `src` (read), `dst` (whose memory is not
            // looked at until the end) and unregistered memory the device must refuse; the
            // producer is at most one ring past the reset.
            unsafe {
                t.qp.raw_ring_doorbell(n);
                t.qp.raw_set_producer(n);
            }
            let wcs = drain_through_marker(&mut t);
            if round % 2 == 1 {
                // Every structured WQE is signaled, so each one reports (success, error or flush).
                assert_eq!(wcs.len(), n as usize, "round {round}: completions lost or invented");
            } else {
                assert!(wcs.len() <= n as usize, "round {round}: more completions than WQEs");
            }
            successes += wcs.iter().filter(|w| w.is_success()).count();
            if let Some(first_error) = wcs.iter().position(|w| !w.is_success()) {
                errors += 1;
                assert_ne!(wcs[first_error].status, CqeStatus::WorkRequestFlushed);
                assert!(
                    wcs[first_error + 1..].iter().all(|w| w.status == CqeStatus::WorkRequestFlushed),
                    "after an error only flushes"
                );
                assert_eq!(t.qp.query_state().unwrap(), QpState::Err);
            }
            reset_to_rts(&mut t);
        }
        drop(dst);
        assert!(errors > 0, "garbage never produced an error completion");
        assert!(successes > 0, "no hostile-but-valid copy ran, so the guards prove nothing");
        assert!(arena[PAGE..2 * PAGE].iter().any(|&b| b != 0), "no copy reached the registered page");
        assert!(arena[..PAGE].iter().all(|&b| b == 0), "device wrote below the MR");
        assert!(arena[2 * PAGE..].iter().all(|&b| b == 0), "device wrote above the MR");
        // The QP still works after all that.
        t.qp.post(Nop::new(1)).unwrap();
        assert!(poll_n(&mut t.cq, 1)[0].is_success());
    }
}

#[test]
fn producer_index_beyond_the_ring_stops_the_qp() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let mut t = Traffic::new(engines, policy, 16);
        let cap = t.qp.capacity();
        for bogus in [cap + 1, u32::MAX / 2, u32::MAX] {
            // SAFETY: the ring holds only NOPs from earlier rounds (or nothing): no memory.
            unsafe { t.qp.raw_ring_doorbell(bogus) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while t.qp.query_state().unwrap() != QpState::Err {
                assert!(Instant::now() < deadline, "QP stayed in RTS after producer {bogus}");
                std::thread::yield_now();
            }
            let mut wc = [WorkCompletion::default(); 4];
            assert_eq!(t.cq.poll(&mut wc), 0, "no WQE may be executed from an untrusted ring");
            reset_to_rts(&mut t);
            t.qp.post(Nop::new(3)).unwrap();
            assert!(poll_n(&mut t.cq, 1)[0].is_success());
        }
    }
}

#[test]
fn producer_index_moved_backwards_stops_the_qp() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (0, ExecPolicy::Inline)] {
        let mut t = Traffic::new(engines, policy, 16);
        for i in 0..6 {
            t.qp.post(Nop::new(i)).unwrap();
        }
        assert_eq!(poll_n(&mut t.cq, 6).len(), 6);
        let p = t.qp.raw_producer();
        // SAFETY: the ring holds only NOPs, which name no memory.
        unsafe { t.qp.raw_ring_doorbell(p - 2) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.qp.query_state().unwrap() != QpState::Err {
            assert!(Instant::now() < deadline, "QP stayed in RTS after the producer went backwards");
            std::thread::yield_now();
        }
        reset_to_rts(&mut t);
        t.qp.post(Nop::new(9)).unwrap();
        assert_eq!(poll_n(&mut t.cq, 1)[0].wr_id, 9);
    }
}
