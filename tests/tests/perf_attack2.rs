//! Review of 59c258f, 8681673, 6bc491a, 6eb003a: an engine publishes a pass's completions 16
//! WQEs at a time (`SoftQp::process`), while the pass's MR and key views still hold what they
//! looked up and while completions held back for a full CQ wait in the QP's backlog.

use accelverbs::{
    Access, ContextOptions, Copy, CqeStatus, Device, Encrypt, ExecPolicy, KeyAlgorithm, Nop, QpInit, QpState, QpType, Recv, Send,
    Sge, SimConfig,
};
use accelverbs_tests::{pattern, poll_n, Traffic};

/// WQEs an engine runs before it publishes (rxe-sim `ENGINE_PUBLISH_EVERY`).
const PUBLISH_EVERY: u64 = 16;
/// Each of the tail's copies: long enough that the pass is still running when the
/// application acts on the first completions (48 of them: tens of milliseconds).
const TAIL_COPY: u32 = 8 << 20;

/// Posts, in one doorbell, `PUBLISH_EVERY` AES-GCM encryptions with `key` (wr_id 0..16), then
/// 48 long copies (wr_id 16..64): one engine pass of 64 WQEs that publishes the encryptions'
/// completions after the 16th and then runs for a long time.
fn encrypt_then_copy_for_long(t: &mut Traffic, key: &accelverbs::CryptoKey) -> Vec<accelverbs::MemoryRegion> {
    let input = t.base.pd.reg_mr(pattern(1, 4096), Access::empty()).unwrap();
    let mut output = t.mr(4096, Access::LOCAL_WRITE);
    let mut tag = t.mr(16, Access::LOCAL_WRITE);
    let src = t.base.pd.reg_mr(pattern(2, TAIL_COPY as usize), Access::empty()).unwrap();
    let mut dst = t.mr(TAIL_COPY as usize, Access::LOCAL_WRITE);
    {
        let mut batch = t.qp.batch();
        for i in 0..PUBLISH_EVERY {
            batch
                .push(Encrypt::new(i, key, [7; 12], input.slice(0, 4096), output.slice_mut(0, 4096), tag.slice_mut(0, 16)))
                .unwrap();
        }
        for i in PUBLISH_EVERY..64 {
            batch.push(Copy::new(i, src.slice(0, TAIL_COPY), dst.slice_mut(0, TAIL_COPY))).unwrap();
        }
        batch.ring();
    }
    vec![input, output, tag, src, dst]
}

/// Finding 1 (8681673). The 16 requests naming the key have run and completed, and no posted
/// request names it: `try_destroy` must succeed (its contract: `EBUSY` only while a posted
/// request naming it has not run). But the pass's key view still holds the key while the
/// pass runs the copies, and `crypto_key_busy` counts that hold: `EBUSY`. Before 8681673 the
/// view let go before any completion of the pass was published.
#[test]
fn a_key_whose_requests_all_completed_can_be_destroyed_while_the_pass_goes_on() {
    let mut t = Traffic::new(1, ExecPolicy::Threads, 64);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &pattern(3, 32)).unwrap();
    let _regions = encrypt_then_copy_for_long(&mut t, &key);
    let encrypted = poll_n(&mut t.cq, PUBLISH_EVERY as usize);
    assert!(encrypted.iter().all(|wc| wc.status == CqeStatus::Success && wc.wr_id < PUBLISH_EVERY), "{encrypted:?}");
    let destroyed = key.try_destroy();
    let copies = poll_n(&mut t.cq, 48);
    assert!(copies.iter().all(|wc| wc.status == CqeStatus::Success), "{copies:?}");
    destroyed.expect("every request naming the key completed: destroying it is not EBUSY");
}

/// Finding 1, as an application meets it: it drops the key once posted (the provider destroys
/// it when the last request holding it retires). The retirement comes with the 16th
/// completion, mid-pass; the device refuses the destroy (the pass's view holds the key), the
/// provider leaves the key to the context's close: its material stays on the device and its
/// slot is lost, so with room for one key, no other key can be created.
#[test]
fn a_dropped_key_is_destroyed_when_its_requests_complete_mid_pass() {
    let mut config = SimConfig { engines: 1, ..SimConfig::default() };
    config.limits.max_crypto_keys = 1;
    let device = Device::embedded(config);
    let ctx = device.open_with(ContextOptions { policy: ExecPolicy::Threads, ..ContextOptions::default() }).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let cq = ctx.create_cq(128, None).unwrap();
    let qp = pd.create_qp(&cq, QpInit::new(64)).unwrap();
    let mut t = Traffic { base: accelverbs_tests::Base { device, ctx, pd }, cq, qp };
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &pattern(3, 32)).unwrap();
    let _regions = encrypt_then_copy_for_long(&mut t, &key);
    drop(key);
    let done = poll_n(&mut t.cq, 64);
    assert!(done.iter().all(|wc| wc.status == CqeStatus::Success), "{done:?}");
    t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &pattern(4, 32)).expect("the dropped key's slot is free again");
}

/// Finding 2 (8681673). A send queue completes in order. A QP connected to itself delivers each
/// SEND's receive completion to the same CQ during the pass, so the CQ fills while the pass
/// runs: 8 completions already there, then a pass of 16 SENDs and 8 NOPs (room for all 24 at
/// its start). At the 16th WQE the 16 receive completions leave 8 free slots: the 16 SEND
/// completions go to the QP's backlog. The pass goes on, and at its end the 8 NOP completions
/// fit: they are posted before the SENDs' (which the next pass posts from the backlog).
/// Deterministic: the application polls only once the pass has published every WQE.
#[test]
fn send_queue_completions_stay_in_order_when_the_cq_fills_mid_pass() {
    let base = accelverbs_tests::Base::new(1, ExecPolicy::Threads);
    let mut cq = base.ctx.create_cq(32, None).unwrap();
    assert_eq!(cq.capacity(), 32);
    let init = QpInit::new(32).qp_type(QpType::Rc).max_recv_wr(16);
    let mut qp = base.pd.create_qp_with_recv_cq(&cq, &cq, init).unwrap();
    qp.modify(QpState::Init).unwrap();
    qp.connect(qp.qpn()).unwrap();
    qp.modify(QpState::Rts).unwrap();
    for i in 0..16 {
        // SAFETY: zero-length receives name no memory.
        unsafe { qp.post_recv(Recv::from_sge(1000 + i, Sge { addr: 0, length: 0, lkey: 0 })).unwrap() };
    }
    // 8 completions left in the CQ: the engine's pass over them posts their CQEs before it lets
    // go of the QP, and the next pass (below) starts only after that.
    {
        let mut batch = qp.batch();
        for i in 0..8 {
            batch.push(Nop::new(500 + i)).unwrap();
        }
        batch.ring();
    }
    while qp.free_slots() != 32 {
        std::hint::spin_loop();
    }
    {
        let mut batch = qp.batch();
        for i in 0..16 {
            // SAFETY: a zero-length SEND names no memory.
            unsafe { batch.push(Send::from_sge(i, Sge::default())).unwrap() };
        }
        for i in 16..24 {
            batch.push(Nop::new(i)).unwrap();
        }
        batch.ring();
    }
    // Not a poll before the pass has published all 24 (a poll would make room in the CQ).
    while qp.free_slots() != 32 {
        std::hint::spin_loop();
    }
    let all = poll_n(&mut cq, 8 + 16 + 24);
    let sends: Vec<u64> = all.iter().filter(|wc| !wc.is_receive() && wc.wr_id < 500).map(|wc| wc.wr_id).collect();
    assert!(all.iter().all(|wc| wc.status == CqeStatus::Success), "{all:?}");
    assert_eq!(sends, (0..24).collect::<Vec<u64>>(), "send-queue completions out of order");
}
