//! Completion channels: arm a CQ, sleep on the channel's descriptor, wake on completion.

use std::os::fd::AsRawFd;
use std::time::Duration;

use accelverbs::{ExecPolicy, Nop, QpInit};
use accelverbs_tests::{poll_n, Base};

fn readable(fd: i32, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, alive across the call.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) == 1 }
}

#[test]
fn an_armed_cq_wakes_its_channel_once() {
    for (engines, policy) in [(1, ExecPolicy::Threads), (1, ExecPolicy::Adaptive)] {
        let b = Base::new(engines, policy);
        let channel = b.ctx.create_comp_channel().unwrap();
        let mut cq = b.ctx.create_cq(16, Some(&channel)).unwrap();
        let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();

        // Not armed: a completion raises no event.
        qp.post(Nop::new(1)).unwrap();
        poll_n(&mut cq, 1);
        assert_eq!(channel.get_event(Some(Duration::from_millis(30))).unwrap(), None);

        // Armed: the next completion makes the descriptor readable and names this CQ.
        cq.req_notify(false).unwrap();
        assert!(!readable(channel.as_raw_fd(), 0));
        let waiter = std::thread::spawn({
            let channel = channel.clone();
            move || channel.get_event(Some(Duration::from_secs(10))).unwrap()
        });
        std::thread::sleep(Duration::from_millis(20));
        qp.post(Nop::new(2)).unwrap();
        assert_eq!(waiter.join().unwrap(), Some(cq.id()));
        assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 2);

        // One event per arm: further completions stay quiet until re-armed.
        qp.post(Nop::new(3)).unwrap();
        poll_n(&mut cq, 1);
        assert_eq!(channel.get_event(Some(Duration::from_millis(30))).unwrap(), None);
    }
}

#[test]
fn arming_with_completions_already_waiting_fires_at_once() {
    if accelverbs_tests::embedded_only("needs its request run inline, before the CQ is armed") {
        return;
    }
    // Inline and no engine: the completion is in the CQ when `post` returns, and nothing else
    // can produce another, so only arming itself can make the descriptor readable.
    let b = Base::new(0, ExecPolicy::Inline);
    let channel = b.ctx.create_comp_channel().unwrap();
    let mut cq = b.ctx.create_cq(16, Some(&channel)).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    qp.post(Nop::new(1)).unwrap();
    assert!(!readable(channel.as_raw_fd(), 0));
    cq.req_notify(false).unwrap();
    assert!(readable(channel.as_raw_fd(), 0), "arming over a waiting completion must fire at once");
    assert_eq!(channel.get_event(Some(Duration::ZERO)).unwrap(), Some(cq.id()));
    assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 1);
}

/// Defect 10: events of a destroyed CQ were still delivered (the kernel purges them).
#[test]
fn a_destroyed_cq_reports_no_more_events() {
    let b = Base::new(1, ExecPolicy::Threads);
    let channel = b.ctx.create_comp_channel().unwrap();
    let cq = b.ctx.create_cq(16, Some(&channel)).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    cq.req_notify(false).unwrap();
    qp.post(Nop::new(1)).unwrap();
    assert!(readable(channel.as_raw_fd(), 10_000), "the armed CQ never fired");
    drop(qp);
    drop(cq);
    assert!(!readable(channel.as_raw_fd(), 0), "the channel still reports a destroyed CQ");
    assert_eq!(channel.get_event(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn solicited_only_waits_for_a_solicited_completion() {
    let b = Base::new(1, ExecPolicy::Threads);
    let channel = b.ctx.create_comp_channel().unwrap();
    let mut cq = b.ctx.create_cq(16, Some(&channel)).unwrap();
    let mut qp = b.pd.create_qp(&cq, QpInit::new(8)).unwrap();
    cq.req_notify(true).unwrap();
    qp.post(Nop::new(1)).unwrap();
    poll_n(&mut cq, 1);
    assert_eq!(channel.get_event(Some(Duration::from_millis(30))).unwrap(), None);
    qp.post(Nop::new(2).solicited()).unwrap();
    assert_eq!(channel.get_event(Some(Duration::from_secs(10))).unwrap(), Some(cq.id()));
    poll_n(&mut cq, 1);
}

#[test]
fn two_cqs_on_one_channel_are_told_apart() {
    let b = Base::new(1, ExecPolicy::Threads);
    let channel = b.ctx.create_comp_channel().unwrap();
    let mut cq_a = b.ctx.create_cq(16, Some(&channel)).unwrap();
    let mut cq_b = b.ctx.create_cq(16, Some(&channel)).unwrap();
    let mut qp_b = b.pd.create_qp(&cq_b, QpInit::new(8)).unwrap();
    cq_a.req_notify(false).unwrap();
    cq_b.req_notify(false).unwrap();
    qp_b.post(Nop::new(1)).unwrap();
    assert_eq!(channel.get_event(Some(Duration::from_secs(10))).unwrap(), Some(cq_b.id()));
    assert_eq!(channel.get_event(Some(Duration::from_millis(30))).unwrap(), None);
    poll_n(&mut cq_b, 1);
    let mut wc = [accelverbs::WorkCompletion::default(); 1];
    assert_eq!(cq_a.poll(&mut wc), 0);
}

#[test]
fn req_notify_without_a_channel_is_einval() {
    let b = Base::new(1, ExecPolicy::Threads);
    let cq = b.ctx.create_cq(16, None).unwrap();
    assert_eq!(cq.req_notify(false).err().and_then(|e| e.errno()), Some(libc::EINVAL));
}
