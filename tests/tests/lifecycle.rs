//! Object lifetimes as the kernel enforces them: parents in use cannot be destroyed, closing a
//! file destroys everything it created, limits answer with errnos.

use accelverbs::uapi::cmd::ResourceCounts;
use accelverbs::uapi::verbs::access;
use accelverbs::uapi::wqe::Opcode;
use accelverbs::{Access, ContextOptions, Device, Error, ExecPolicy, Nop, QpInit, QpState, SimConfig};
use accelverbs_tests::raw::RawFile;
use accelverbs_tests::{device, poll_n};

const EBUSY: i32 = libc::EBUSY;

#[test]
fn destroying_a_parent_in_use_is_ebusy() {
    let dev = device(1);
    let mut f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    let (mr, _) = f.reg_mr(pd, 8192, access::LOCAL_WRITE).unwrap();
    let cq = f.create_cq(16).unwrap();
    let qp = f.create_qp(pd, cq, 16).unwrap();

    assert_eq!(f.destroy_pd(pd), Err(EBUSY), "PD with an MR and a QP");
    assert_eq!(f.destroy_cq(cq), Err(EBUSY), "CQ with a QP");
    f.destroy_qp(qp).unwrap();
    f.destroy_cq(cq).unwrap();
    assert_eq!(f.destroy_pd(pd), Err(EBUSY), "PD with an MR");
    f.destroy_mr(mr).unwrap();
    f.destroy_pd(pd).unwrap();
    // Gone handles are ENOENT, as an IDR lookup miss is.
    assert_eq!(f.destroy_pd(pd), Err(libc::ENOENT));
    assert_eq!(f.destroy_qp(qp), Err(libc::ENOENT));
}

#[test]
fn a_handle_of_the_wrong_type_is_einval() {
    let dev = device(1);
    let mut f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    let cq = f.create_cq(16).unwrap();
    // The CQ's handle where a PD is expected, and the reverse.
    assert_eq!(f.create_qp(cq, cq, 16), Err(libc::EINVAL));
    assert_eq!(f.destroy_cq(pd), Err(libc::EINVAL));
}

#[test]
fn closing_a_file_with_live_objects_frees_everything() {
    let dev = device(2);
    let observer = RawFile::new(dev.open_channel().unwrap());
    let baseline = observer.resource_counts();
    assert_eq!(baseline, ResourceCounts::default());
    {
        let mut f = RawFile::new(dev.open_channel().unwrap());
        f.get_context().unwrap();
        let pd = f.alloc_pd().unwrap();
        let pd2 = f.alloc_pd().unwrap();
        f.reg_mr(pd, 1 << 20, access::LOCAL_WRITE).unwrap();
        f.reg_mr(pd2, 4096, 0).unwrap();
        let cq = f.create_cq(64).unwrap();
        f.create_qp(pd, cq, 32).unwrap();
        f.create_qp(pd2, cq, 8).unwrap();
        let live = observer.resource_counts();
        assert_eq!((live.contexts, live.pds, live.mrs, live.cqs, live.qps), (1, 2, 2, 1, 2));
        assert!(live.pinned_bytes >= (1 << 20) + 4096);
        // Dropping the file is closing it, with everything still alive.
    }
    // Destroy releases pins at once (not when an engine lets go of the QP): exact, no waiting.
    assert_eq!(observer.resource_counts(), baseline);
}

#[test]
fn dropping_a_context_after_traffic_leaves_nothing_behind() {
    for policy in [ExecPolicy::Threads, ExecPolicy::Inline, ExecPolicy::Adaptive] {
        let dev = device(1);
        let observer = RawFile::new(dev.open_channel().unwrap());
        {
            let ctx = dev.open_with(ContextOptions { policy, ..ContextOptions::default() }).unwrap();
            let pd = ctx.alloc_pd().unwrap();
            let channel = ctx.create_comp_channel().unwrap();
            let mut cq = ctx.create_cq(32, Some(&channel)).unwrap();
            let mut qp = pd.create_qp(&cq, QpInit::new(16)).unwrap();
            let _mr = pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
            for i in 0..100 {
                qp.post(Nop::new(i)).unwrap();
                poll_n(&mut cq, 1);
            }
            let live = observer.resource_counts();
            assert_eq!((live.contexts, live.pds, live.mrs, live.cqs, live.qps, live.comp_channels), (1, 1, 1, 1, 1, 1));
        }
        assert_eq!(observer.resource_counts(), ResourceCounts::default(), "{policy:?}");
    }
}

fn errno<T>(r: Result<T, Error>) -> Option<i32> {
    r.err().and_then(|e| e.errno())
}

#[test]
fn limits_answer_with_the_kernels_errnos() {
    let mut config = SimConfig { engines: 1, ..SimConfig::default() };
    config.limits.max_pd = 2;
    config.limits.max_qp_wr = 64;
    config.limits.max_cqe = 128;
    config.memlock_limit = Some(1 << 20);
    let dev = Device::embedded(config);
    let ctx = dev.open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let _pd2 = ctx.alloc_pd().unwrap();
    assert_eq!(errno(ctx.alloc_pd()), Some(libc::ENOMEM), "third PD over max_pd = 2");
    assert_eq!(errno(ctx.create_cq(129, None)), Some(libc::EINVAL), "CQ over max_cqe");
    let cq = ctx.create_cq(16, None).unwrap();
    assert_eq!(errno(pd.create_qp(&cq, QpInit::new(65))), Some(libc::EINVAL), "QP over max_qp_wr");
    assert_eq!(errno(pd.alloc_mr(2 << 20, Access::LOCAL_WRITE)), Some(libc::ENOMEM), "pinning over the locked-memory limit");
    assert_eq!(errno(pd.alloc_mr(4096, Access::REMOTE_WRITE)), Some(libc::EINVAL), "remote write without local write");
    assert_eq!(
        errno(pd.alloc_mr(4096, Access::from_bits(1 << 20))),
        Some(libc::EOPNOTSUPP),
        "an access bit verbs does not define"
    );
    assert_eq!(errno(pd.reg_mr(Vec::new(), Access::empty())), Some(libc::EINVAL), "zero-length MR");
    // The failures left nothing pinned: a 1 MiB budget still fits most of a MiB.
    let _ok = pd.alloc_mr(900 << 10, Access::LOCAL_WRITE).unwrap();
}

#[test]
fn registering_unmapped_memory_is_efault() {
    let dev = device(1);
    let f = RawFile::new(dev.open_channel().unwrap());
    f.get_context().unwrap();
    let pd = f.alloc_pd().unwrap();
    let mut cmd = accelverbs::ioctl::Command::new(accelverbs::uapi::ids::object::MR, accelverbs::uapi::ids::mr::METHOD_REG);
    let (mut lkey, mut rkey) = (0u32, 0u32);
    cmd.new_object(accelverbs::uapi::ids::mr::ATTR_REG_HANDLE);
    cmd.handle(accelverbs::uapi::ids::mr::ATTR_REG_PD_HANDLE, pd)
        .input_u64(accelverbs::uapi::ids::mr::ATTR_REG_ADDR, 0x1000)
        .input_u64(accelverbs::uapi::ids::mr::ATTR_REG_LENGTH, 4096)
        .input_u32(accelverbs::uapi::ids::mr::ATTR_REG_ACCESS, 0)
        .output(accelverbs::uapi::ids::mr::ATTR_REG_RESP_LKEY, &mut lkey)
        .output(accelverbs::uapi::ids::mr::ATTR_REG_RESP_RKEY, &mut rkey);
    assert_eq!(f.call(&mut cmd), Err(libc::EFAULT));
}

#[test]
fn qp_state_machine() {
    let dev = device(1);
    let ctx = dev.open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let mut cq = ctx.create_cq(16, None).unwrap();
    let mut qp = pd.create_qp_in_reset(&cq, QpInit::new(8)).unwrap();
    assert_eq!(qp.query_state().unwrap(), QpState::Reset);
    let einval = |r: Result<(), Error>| r.err().and_then(|e| e.errno()) == Some(libc::EINVAL);
    assert!(einval(qp.modify(QpState::Rts)), "RESET → RTS skips INIT and RTR");
    assert!(einval(qp.modify(QpState::Rtr)), "RESET → RTR skips INIT");
    assert!(einval(qp.modify(QpState::Sqd)), "SQD is not supported");
    qp.modify(QpState::Init).unwrap();
    assert_eq!(qp.post(Nop::new(1)), Err(accelverbs::PostError::NotReady(QpState::Init)));
    assert!(einval(qp.modify(QpState::Rts)), "INIT → RTS skips RTR");
    qp.modify(QpState::Rtr).unwrap();
    assert_eq!(qp.post(Nop::new(1)), Err(accelverbs::PostError::NotReady(QpState::Rtr)));
    qp.modify(QpState::Rts).unwrap();
    qp.post(Nop::new(1)).unwrap();
    assert!(poll_n(&mut cq, 1)[0].is_success());
    // Forcing ERR flushes later work; RESET brings it back.
    qp.modify(QpState::Err).unwrap();
    assert_eq!(qp.query_state().unwrap(), QpState::Err);
    assert!(einval(qp.modify(QpState::Rts)), "ERR → RTS needs a reset");
    qp.post(Nop::new(2)).unwrap();
    assert_eq!(poll_n(&mut cq, 1)[0].status, accelverbs::CqeStatus::WorkRequestFlushed);
    for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
        qp.modify(s).unwrap();
    }
    qp.post(Nop::new(3)).unwrap();
    assert_eq!(poll_n(&mut cq, 1)[0].wr_id, 3);
}

#[test]
fn device_and_port_queries() {
    let ctx = device(3).open().unwrap();
    let caps = ctx.query_device().unwrap();
    assert_eq!(caps.num_engines, 3);
    let ops = Opcode::ALL;
    assert_eq!(caps.opcode_mask(), ops.iter().fold(0u128, |m, &op| m | 1 << op as u8), "{ops:?}");
    assert!(ops.iter().all(|&op| caps.runs(op)));
    assert_eq!(caps.max_sge, accelverbs::MAX_LIST_ENTRIES);
    assert!(caps.max_qp_wr.is_power_of_two() && caps.max_cqe.is_power_of_two());
    let port = ctx.query_port(1).unwrap();
    assert_eq!(port.legacy_resp.state, accelverbs::uapi::verbs::port_state::ACTIVE);
    assert_eq!(port.legacy_resp.gid_tbl_len, 1, "one GID, made from the node GUID");
    assert_ne!(caps.node_guid, 0);
    assert_eq!(ctx.query_port(2).err().and_then(|e| e.errno()), Some(libc::EINVAL));
}
