//! GET_CONTEXT: the execution policy the device grants, and the response.

use accelverbs_uapi::cmd::{ExecPolicy, GetContextCmd};

use super::fixture::{cq_request, driver_on, qp_request};
use super::mock::MockHardware;
use crate::Errno;

fn cmd(policy: ExecPolicy) -> GetContextCmd {
    GetContextCmd { exec_policy: policy as u32, inline_threshold: 4096 }
}

/// The policy granted for `requested` on hardware with `engines` engines and inline support.
fn granted(engines: u32, inline: bool, requested: ExecPolicy) -> ExecPolicy {
    let (driver, _core) = driver_on(MockHardware::new(engines, inline));
    let (ctx, resp) = driver.alloc_ucontext(cmd(requested)).unwrap();
    assert_eq!(resp.exec_policy, ctx.policy() as u32, "the response states the policy in force");
    ctx.policy()
}

#[test]
fn capable_hardware_grants_what_is_asked() {
    for p in [ExecPolicy::Threads, ExecPolicy::Inline, ExecPolicy::Adaptive] {
        assert_eq!(granted(2, true, p), p);
    }
}

#[test]
fn inline_on_hardware_without_inline_falls_back_to_threads() {
    assert_eq!(granted(2, false, ExecPolicy::Inline), ExecPolicy::Threads);
    assert_eq!(granted(2, false, ExecPolicy::Adaptive), ExecPolicy::Threads);
    assert_eq!(granted(2, false, ExecPolicy::Threads), ExecPolicy::Threads);
}

#[test]
fn threads_on_hardware_without_engines_falls_back_to_inline() {
    assert_eq!(granted(0, true, ExecPolicy::Threads), ExecPolicy::Inline);
    assert_eq!(granted(0, true, ExecPolicy::Adaptive), ExecPolicy::Inline);
    assert_eq!(granted(0, true, ExecPolicy::Inline), ExecPolicy::Inline);
}

#[test]
fn unknown_policy_is_einval_and_opens_no_context() {
    let (driver, _core) = driver_on(MockHardware::new(1, true));
    for policy in [3, u32::MAX] {
        let cmd = GetContextCmd { exec_policy: policy, inline_threshold: 0 };
        assert_eq!(driver.alloc_ucontext(cmd).err(), Some(Errno::EINVAL), "policy {policy}");
    }
    assert_eq!(driver.resources().contexts, 0);
}

#[test]
fn response_reports_sizes_mapping_and_threshold() {
    let (driver, _core) = driver_on(MockHardware::new(1, true));
    let (_ctx, resp) = driver.alloc_ucontext(cmd(ExecPolicy::Adaptive)).unwrap();
    assert_eq!((resp.wqe_size, resp.cqe_size), (128, 32));
    assert_eq!((resp.uar_mmap_offset, resp.uar_mmap_length), (0, 4096));
    assert_eq!(resp.inline_threshold, 4096);
    assert_eq!(driver.resources().contexts, 1);
}

#[test]
fn granted_policy_reaches_the_hardware_qp() {
    for (engines, inline, requested, granted) in
        [(2, false, ExecPolicy::Inline, ExecPolicy::Threads), (0, true, ExecPolicy::Threads, ExecPolicy::Inline)]
    {
        let (driver, _core) = driver_on(MockHardware::new(engines, inline));
        let ctx = driver.alloc_ucontext(cmd(requested)).unwrap().0;
        let pd = ctx.alloc_pd().unwrap();
        let cq = ctx.create_cq(cq_request()).unwrap().0;
        let qp = pd.create_qp(qp_request(&cq)).unwrap().0;
        assert_eq!(qp.hw().policy, granted, "{requested:?} on {engines} engines, inline {inline}");
    }
}
