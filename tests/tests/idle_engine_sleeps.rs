//! Defect 7: after a producer index beyond the ring the QP went to ERR, but the engine kept
//! finding "work" in it and never slept: one core at 100% until the QP was reset.
//!
//! Its own test binary, so the only engine threads in the process are this test's.

use std::time::{Duration, Instant};

use accelverbs::{ExecPolicy, QpState};
use accelverbs_tests::Traffic;

/// Scheduler states of this process's engine threads, from /proc.
fn engine_states() -> Vec<char> {
    let mut states = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("accelsim-eng") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the parenthesised command name.
        if let Some(state) = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()) {
            states.push(state);
        }
    }
    states
}

/// Waits until the engine thread sleeps, or fails after 10 s of it running.
fn wait_for_engine_sleep(what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The engine names itself once it runs, so it may not be listed at first.
        let states = engine_states();
        if states == ['S'] {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the engine never went to sleep (states {states:?})");
        std::thread::yield_now();
    }
}

#[test]
fn an_engine_sleeps_after_a_doorbell_it_could_not_honour() {
    if accelverbs_tests::embedded_only("watches the engine thread of an in-process device") {
        return;
    }
    let mut t = Traffic::new(1, ExecPolicy::Threads, 16);
    wait_for_engine_sleep("idle");
    let beyond = t.qp.capacity() + 1;
    // SAFETY: the ring holds no WQE naming memory.
    unsafe { t.qp.raw_ring_doorbell(beyond) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.qp.query_state().unwrap() != QpState::Err {
        assert!(Instant::now() < deadline, "the bad doorbell was ignored");
        std::thread::yield_now();
    }
    wait_for_engine_sleep("after the bad doorbell");
}
