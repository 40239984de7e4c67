//! The uapi crate's upstream numbers and layouts, compared with the real headers (the kernel's
//! rdma uapi and libibverbs' verbs.h) through a C probe compiled against them.

use std::mem::{offset_of, size_of};

use accelverbs::uapi::async_event::AsyncEventType;
use accelverbs::uapi::cqe::CqeStatus;
use accelverbs::uapi::ids::{self, cq, device, mr, object, pd, qp, uhw};
use accelverbs::uapi::ioctl::{self, IoctlAttr, IoctlHdr};
use accelverbs::uapi::verbs::{
    self, access, advise, DestroyCqResp, DestroyQpResp, QpCap, QpState, QueryPortResp, QueryPortRespEx,
};
use accelverbs::uapi::wqe::Sge;
use accelverbs_tests::headers::probed;

fn ours() -> Vec<(&'static str, u64)> {
    let u = |v: u16| u64::from(v);
    vec![
        ("RDMA_IOCTL_MAGIC", u64::from(ioctl::RDMA_IOCTL_MAGIC)),
        ("RDMA_VERBS_IOCTL", u64::from(ioctl::RDMA_VERBS_IOCTL)),
        ("UVERBS_ATTR_F_MANDATORY", u(ioctl::UVERBS_ATTR_F_MANDATORY)),
        ("UVERBS_ATTR_F_VALID_OUTPUT", u(ioctl::UVERBS_ATTR_F_VALID_OUTPUT)),
        ("sizeof ib_uverbs_ioctl_hdr", size_of::<IoctlHdr>() as u64),
        ("offsetof ib_uverbs_ioctl_hdr.length", offset_of!(IoctlHdr, length) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.object_id", offset_of!(IoctlHdr, object_id) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.method_id", offset_of!(IoctlHdr, method_id) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.num_attrs", offset_of!(IoctlHdr, num_attrs) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.reserved1", offset_of!(IoctlHdr, reserved1) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.driver_id", offset_of!(IoctlHdr, driver_id) as u64),
        ("offsetof ib_uverbs_ioctl_hdr.reserved2", offset_of!(IoctlHdr, reserved2) as u64),
        // The attribute array starts right after the fixed header.
        ("offsetof ib_uverbs_ioctl_hdr.attrs", size_of::<IoctlHdr>() as u64),
        ("sizeof ib_uverbs_attr", size_of::<IoctlAttr>() as u64),
        ("offsetof ib_uverbs_attr.attr_id", offset_of!(IoctlAttr, attr_id) as u64),
        ("offsetof ib_uverbs_attr.len", offset_of!(IoctlAttr, len) as u64),
        ("offsetof ib_uverbs_attr.flags", offset_of!(IoctlAttr, flags) as u64),
        ("offsetof ib_uverbs_attr.attr_data", offset_of!(IoctlAttr, attr_data) as u64),
        ("offsetof ib_uverbs_attr.data", offset_of!(IoctlAttr, data) as u64),
        ("UVERBS_ID_NS_MASK", u(ids::UVERBS_ID_NS_MASK)),
        ("UVERBS_ID_NS_SHIFT", u(ids::UVERBS_ID_NS_SHIFT)),
        ("UVERBS_ATTR_UHW_IN", u(uhw::IN)),
        ("UVERBS_ATTR_UHW_OUT", u(uhw::OUT)),
        ("RDMA_DRIVER_UNKNOWN", u64::from(ids::RDMA_DRIVER_UNKNOWN)),
        ("UVERBS_OBJECT_DEVICE", u(object::DEVICE)),
        ("UVERBS_OBJECT_PD", u(object::PD)),
        ("UVERBS_OBJECT_COMP_CHANNEL", u(object::COMP_CHANNEL)),
        ("UVERBS_OBJECT_CQ", u(object::CQ)),
        ("UVERBS_OBJECT_QP", u(object::QP)),
        ("UVERBS_OBJECT_MR", u(object::MR)),
        ("UVERBS_METHOD_QUERY_PORT", u(device::METHOD_QUERY_PORT)),
        ("UVERBS_METHOD_GET_CONTEXT", u(device::METHOD_GET_CONTEXT)),
        ("UVERBS_ATTR_QUERY_PORT_PORT_NUM", u(device::ATTR_QUERY_PORT_PORT_NUM)),
        ("UVERBS_ATTR_QUERY_PORT_RESP", u(device::ATTR_QUERY_PORT_RESP)),
        ("UVERBS_ATTR_GET_CONTEXT_NUM_COMP_VECTORS", u(device::ATTR_GET_CONTEXT_NUM_COMP_VECTORS)),
        ("UVERBS_ATTR_GET_CONTEXT_CORE_SUPPORT", u(device::ATTR_GET_CONTEXT_CORE_SUPPORT)),
        ("UVERBS_METHOD_PD_DESTROY", u(pd::METHOD_DESTROY)),
        ("UVERBS_ATTR_DESTROY_PD_HANDLE", u(pd::ATTR_DESTROY_HANDLE)),
        ("UVERBS_METHOD_MR_DESTROY", u(mr::METHOD_DESTROY)),
        ("UVERBS_ATTR_DESTROY_MR_HANDLE", u(mr::ATTR_DESTROY_HANDLE)),
        ("UVERBS_METHOD_ADVISE_MR", u(mr::METHOD_ADVISE)),
        ("UVERBS_ATTR_ADVISE_MR_PD_HANDLE", u(mr::ATTR_ADVISE_PD_HANDLE)),
        ("UVERBS_ATTR_ADVISE_MR_ADVICE", u(mr::ATTR_ADVISE_ADVICE)),
        ("UVERBS_ATTR_ADVISE_MR_FLAGS", u(mr::ATTR_ADVISE_FLAGS)),
        ("UVERBS_ATTR_ADVISE_MR_SGE_LIST", u(mr::ATTR_ADVISE_SGE_LIST)),
        ("IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH", u64::from(advise::PREFETCH)),
        ("IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE", u64::from(advise::PREFETCH_WRITE)),
        ("IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT", u64::from(advise::PREFETCH_NO_FAULT)),
        ("IB_UVERBS_ADVISE_MR_FLAG_FLUSH", u64::from(advise::FLAG_FLUSH)),
        ("sizeof ib_uverbs_sge", size_of::<Sge>() as u64),
        ("offsetof ib_uverbs_sge.length", offset_of!(Sge, length) as u64),
        ("offsetof ib_uverbs_sge.lkey", offset_of!(Sge, lkey) as u64),
        ("UVERBS_METHOD_CQ_CREATE", u(cq::METHOD_CREATE)),
        ("UVERBS_METHOD_CQ_DESTROY", u(cq::METHOD_DESTROY)),
        ("UVERBS_ATTR_CREATE_CQ_HANDLE", u(cq::ATTR_CREATE_HANDLE)),
        ("UVERBS_ATTR_CREATE_CQ_CQE", u(cq::ATTR_CREATE_CQE)),
        ("UVERBS_ATTR_CREATE_CQ_USER_HANDLE", u(cq::ATTR_CREATE_USER_HANDLE)),
        ("UVERBS_ATTR_CREATE_CQ_COMP_CHANNEL", u(cq::ATTR_CREATE_COMP_CHANNEL)),
        ("UVERBS_ATTR_CREATE_CQ_COMP_VECTOR", u(cq::ATTR_CREATE_COMP_VECTOR)),
        ("UVERBS_ATTR_CREATE_CQ_FLAGS", u(cq::ATTR_CREATE_FLAGS)),
        ("UVERBS_ATTR_CREATE_CQ_RESP_CQE", u(cq::ATTR_CREATE_RESP_CQE)),
        ("UVERBS_ATTR_DESTROY_CQ_HANDLE", u(cq::ATTR_DESTROY_HANDLE)),
        ("UVERBS_ATTR_DESTROY_CQ_RESP", u(cq::ATTR_DESTROY_RESP)),
        ("UVERBS_METHOD_QP_CREATE", u(qp::METHOD_CREATE)),
        ("UVERBS_METHOD_QP_DESTROY", u(qp::METHOD_DESTROY)),
        ("UVERBS_ATTR_CREATE_QP_HANDLE", u(qp::ATTR_CREATE_HANDLE)),
        ("UVERBS_ATTR_CREATE_QP_PD_HANDLE", u(qp::ATTR_CREATE_PD_HANDLE)),
        ("UVERBS_ATTR_CREATE_QP_SEND_CQ_HANDLE", u(qp::ATTR_CREATE_SEND_CQ_HANDLE)),
        ("UVERBS_ATTR_CREATE_QP_RECV_CQ_HANDLE", u(qp::ATTR_CREATE_RECV_CQ_HANDLE)),
        ("UVERBS_ATTR_CREATE_QP_USER_HANDLE", u(qp::ATTR_CREATE_USER_HANDLE)),
        ("UVERBS_ATTR_CREATE_QP_CAP", u(qp::ATTR_CREATE_CAP)),
        ("UVERBS_ATTR_CREATE_QP_TYPE", u(qp::ATTR_CREATE_TYPE)),
        ("UVERBS_ATTR_CREATE_QP_FLAGS", u(qp::ATTR_CREATE_FLAGS)),
        ("UVERBS_ATTR_CREATE_QP_RESP_CAP", u(qp::ATTR_CREATE_RESP_CAP)),
        ("UVERBS_ATTR_CREATE_QP_RESP_QP_NUM", u(qp::ATTR_CREATE_RESP_QP_NUM)),
        ("UVERBS_ATTR_DESTROY_QP_HANDLE", u(qp::ATTR_DESTROY_HANDLE)),
        ("UVERBS_ATTR_DESTROY_QP_RESP", u(qp::ATTR_DESTROY_RESP)),
        ("IB_UVERBS_QPT_RC", u64::from(verbs::IB_UVERBS_QPT_RC)),
        ("IB_UVERBS_QPT_DRIVER", u64::from(verbs::IB_UVERBS_QPT_DRIVER)),
        ("IB_UVERBS_ACCESS_LOCAL_WRITE", u64::from(access::LOCAL_WRITE)),
        ("IB_UVERBS_ACCESS_REMOTE_WRITE", u64::from(access::REMOTE_WRITE)),
        ("IB_UVERBS_ACCESS_REMOTE_READ", u64::from(access::REMOTE_READ)),
        ("IB_UVERBS_ACCESS_REMOTE_ATOMIC", u64::from(access::REMOTE_ATOMIC)),
        ("IB_UVERBS_ACCESS_ON_DEMAND", u64::from(access::ON_DEMAND)),
        ("sizeof ib_uverbs_qp_cap", size_of::<QpCap>() as u64),
        ("offsetof ib_uverbs_qp_cap.max_send_wr", offset_of!(QpCap, max_send_wr) as u64),
        ("offsetof ib_uverbs_qp_cap.max_recv_wr", offset_of!(QpCap, max_recv_wr) as u64),
        ("offsetof ib_uverbs_qp_cap.max_send_sge", offset_of!(QpCap, max_send_sge) as u64),
        ("offsetof ib_uverbs_qp_cap.max_recv_sge", offset_of!(QpCap, max_recv_sge) as u64),
        ("offsetof ib_uverbs_qp_cap.max_inline_data", offset_of!(QpCap, max_inline_data) as u64),
        ("sizeof ib_uverbs_query_port_resp", size_of::<QueryPortResp>() as u64),
        ("offsetof ib_uverbs_query_port_resp.port_cap_flags", offset_of!(QueryPortResp, port_cap_flags) as u64),
        ("offsetof ib_uverbs_query_port_resp.gid_tbl_len", offset_of!(QueryPortResp, gid_tbl_len) as u64),
        ("offsetof ib_uverbs_query_port_resp.pkey_tbl_len", offset_of!(QueryPortResp, pkey_tbl_len) as u64),
        ("offsetof ib_uverbs_query_port_resp.state", offset_of!(QueryPortResp, state) as u64),
        ("offsetof ib_uverbs_query_port_resp.max_mtu", offset_of!(QueryPortResp, max_mtu) as u64),
        ("offsetof ib_uverbs_query_port_resp.active_mtu", offset_of!(QueryPortResp, active_mtu) as u64),
        ("offsetof ib_uverbs_query_port_resp.phys_state", offset_of!(QueryPortResp, phys_state) as u64),
        ("offsetof ib_uverbs_query_port_resp.link_layer", offset_of!(QueryPortResp, link_layer) as u64),
        ("sizeof ib_uverbs_query_port_resp_ex", size_of::<QueryPortRespEx>() as u64),
        ("offsetof ib_uverbs_query_port_resp_ex.legacy_resp", offset_of!(QueryPortRespEx, legacy_resp) as u64),
        ("offsetof ib_uverbs_query_port_resp_ex.port_cap_flags2", offset_of!(QueryPortRespEx, port_cap_flags2) as u64),
        ("offsetof ib_uverbs_query_port_resp_ex.reserved", offset_of!(QueryPortRespEx, reserved) as u64),
        ("sizeof ib_uverbs_destroy_cq_resp", size_of::<DestroyCqResp>() as u64),
        ("offsetof ib_uverbs_destroy_cq_resp.comp_events_reported", offset_of!(DestroyCqResp, comp_events_reported) as u64),
        ("offsetof ib_uverbs_destroy_cq_resp.async_events_reported", offset_of!(DestroyCqResp, async_events_reported) as u64),
        ("sizeof ib_uverbs_destroy_qp_resp", size_of::<DestroyQpResp>() as u64),
        ("IBV_EVENT_QP_FATAL", AsyncEventType::QpFatal as u64),
        ("IBV_EVENT_QP_REQ_ERR", AsyncEventType::QpRequestError as u64),
        ("IBV_EVENT_QP_ACCESS_ERR", AsyncEventType::QpAccessError as u64),
        ("IBV_EVENT_DEVICE_FATAL", AsyncEventType::DeviceFatal as u64),
        ("IBV_QPS_RESET", QpState::Reset as u64),
        ("IBV_QPS_INIT", QpState::Init as u64),
        ("IBV_QPS_RTR", QpState::Rtr as u64),
        ("IBV_QPS_RTS", QpState::Rts as u64),
        ("IBV_QPS_SQD", QpState::Sqd as u64),
        ("IBV_QPS_SQE", QpState::Sqe as u64),
        ("IBV_QPS_ERR", QpState::Err as u64),
        ("IBV_WC_SUCCESS", CqeStatus::Success as u64),
        ("IBV_WC_LOC_LEN_ERR", CqeStatus::LocalLengthError as u64),
        ("IBV_WC_LOC_QP_OP_ERR", CqeStatus::LocalQpOperationError as u64),
        ("IBV_WC_LOC_PROT_ERR", CqeStatus::LocalProtectionError as u64),
        ("IBV_WC_WR_FLUSH_ERR", CqeStatus::WorkRequestFlushed as u64),
        ("IBV_WC_REM_INV_REQ_ERR", CqeStatus::RemoteInvalidRequest as u64),
        ("IBV_WC_REM_ACCESS_ERR", CqeStatus::RemoteAccessError as u64),
        ("IBV_WC_REM_OP_ERR", CqeStatus::RemoteOperationError as u64),
        ("IBV_WC_RETRY_EXC_ERR", CqeStatus::RetryExceeded as u64),
        ("IBV_WC_RNR_RETRY_EXC_ERR", CqeStatus::ReceiverNotReady as u64),
        ("IBV_WC_RECV", u64::from(accelverbs::uapi::recv::OPCODE_RECV)),
        ("IBV_WC_GENERAL_ERR", CqeStatus::GeneralError as u64),
        ("IBV_QPT_RC", u64::from(verbs::IB_UVERBS_QPT_RC)),
        ("IBV_QPT_DRIVER", u64::from(verbs::IB_UVERBS_QPT_DRIVER)),
    ]
}

#[test]
fn every_upstream_number_matches_the_headers() {
    let headers = probed();
    let ours = ours();
    let mut mismatches = Vec::new();
    for (name, value) in &ours {
        match headers.get(*name) {
            Some(h) if h == value => {}
            Some(h) => mismatches.push(format!("{name}: headers say {h:#x}, uapi says {value:#x}")),
            None => mismatches.push(format!("{name}: not probed")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Every probed fact is checked by some line above.
    let unchecked: Vec<_> = headers.keys().filter(|k| !ours.iter().any(|(n, _)| n == k)).collect();
    assert!(unchecked.is_empty(), "probed but not compared: {unchecked:?}");
}

#[test]
fn driver_namespace_ids_carry_the_namespace_bit() {
    for id in [
        pd::METHOD_ALLOC,
        mr::METHOD_REG,
        cq::METHOD_REQ_NOTIFY,
        qp::METHOD_MODIFY,
        qp::METHOD_QUERY,
        device::METHOD_QUERY_DEVICE,
    ] {
        assert_eq!(id & ids::UVERBS_ID_NS_MASK, ids::UVERBS_ID_DRIVER_NS, "{id:#x}");
    }
}
