//! An engine with receives to flush (the QP in ERR) and no room in their CQ sleeps in short
//! steps, as for a full send CQ, instead of spinning on work it cannot do until the application
//! polls. Its own test binary: it reads the engine threads' states and CPU time in /proc.

use std::time::{Duration, Instant};

use accelverbs::{Access, ExecPolicy, QpInit, QpState, QpType, Recv};
use accelverbs_tests::engine_threads::engine_cpu_ticks;
use accelverbs_tests::Base;

fn engine_states() -> Vec<char> {
    let mut states = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("accelsim-eng") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some(state) = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()) {
            states.push(state);
        }
    }
    states
}

fn wait_for_engine_sleep(what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let states = engine_states();
        if states == ['S'] {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the engine never went to sleep (states {states:?})");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_engine_sleeps_while_receives_to_flush_wait_for_cq_room() {
    if accelverbs_tests::embedded_only("watches the engine thread of an in-process device") {
        return;
    }
    let base = Base::new(1, ExecPolicy::Threads);
    let send_cq = base.ctx.create_cq(8, None).unwrap();
    let recv_cq = base.ctx.create_cq(2, None).unwrap();
    let init = QpInit::new(4).qp_type(QpType::Rc).max_recv_wr(8);
    let mut b = base.pd.create_qp_with_recv_cq(&send_cq, &recv_cq, init).unwrap();
    b.modify(QpState::Init).unwrap();
    let mut regions: Vec<_> = (0..8).map(|_| base.pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap()).collect();
    for (i, r) in regions.iter_mut().enumerate() {
        b.post_recv(Recv::new(i as u64, r.slice_mut(0, 64))).unwrap();
    }
    wait_for_engine_sleep("idle");
    b.modify(QpState::Err).unwrap();
    // Two flushed completions fill the CQ; six receives wait for room.
    let before = engine_cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = engine_cpu_ticks() - before;
    // A spinning engine burns about 100 ticks a second; a sleeping one next to none.
    assert!(used < 20, "the engine burned {used} clock ticks in 1 s while the receive CQ was full");
    wait_for_engine_sleep("receives waiting for CQ room");
    // Room again: the rest is flushed.
    let mut cq = recv_cq;
    let flushed = accelverbs_tests::poll_n(&mut cq, 8);
    assert!(flushed.iter().all(|wc| wc.status == accelverbs::CqeStatus::WorkRequestFlushed && wc.is_receive()));
}
