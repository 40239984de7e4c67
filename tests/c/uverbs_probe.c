/*
 * Reads the uverbs ABI facts accelverbs relies on out of the real headers: the kernel's uapi
 * (rdma/ headers, from linux-libc-dev) and libibverbs' verbs.h (libibverbs-dev). The Rust test
 * compares each entry with the value accelverbs-uapi declares, so a typo on either side fails.
 */
#include <stddef.h>
#include <rdma/rdma_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>
#include <infiniband/verbs.h>

struct probe_entry {
	const char *name;
	unsigned long long value;
};

#define V(x) { #x, (unsigned long long)(x) }
#define SIZE(t) { "sizeof " #t, sizeof(struct t) }
#define OFF(t, f) { "offsetof " #t "." #f, offsetof(struct t, f) }

const struct probe_entry accel_probe[] = {
	/* ioctl framing */
	V(RDMA_IOCTL_MAGIC), V(RDMA_VERBS_IOCTL),
	V(UVERBS_ATTR_F_MANDATORY), V(UVERBS_ATTR_F_VALID_OUTPUT),
	SIZE(ib_uverbs_ioctl_hdr),
	OFF(ib_uverbs_ioctl_hdr, length), OFF(ib_uverbs_ioctl_hdr, object_id),
	OFF(ib_uverbs_ioctl_hdr, method_id), OFF(ib_uverbs_ioctl_hdr, num_attrs),
	OFF(ib_uverbs_ioctl_hdr, reserved1), OFF(ib_uverbs_ioctl_hdr, driver_id),
	OFF(ib_uverbs_ioctl_hdr, reserved2), OFF(ib_uverbs_ioctl_hdr, attrs),
	SIZE(ib_uverbs_attr),
	OFF(ib_uverbs_attr, attr_id), OFF(ib_uverbs_attr, len), OFF(ib_uverbs_attr, flags),
	OFF(ib_uverbs_attr, attr_data), OFF(ib_uverbs_attr, data),
	/* namespaces */
	V(UVERBS_ID_NS_MASK), V(UVERBS_ID_NS_SHIFT), V(UVERBS_ATTR_UHW_IN), V(UVERBS_ATTR_UHW_OUT),
	V(RDMA_DRIVER_UNKNOWN),
	/* objects */
	V(UVERBS_OBJECT_DEVICE), V(UVERBS_OBJECT_PD), V(UVERBS_OBJECT_COMP_CHANNEL),
	V(UVERBS_OBJECT_CQ), V(UVERBS_OBJECT_QP), V(UVERBS_OBJECT_MR),
	/* device methods */
	V(UVERBS_METHOD_QUERY_PORT), V(UVERBS_METHOD_GET_CONTEXT),
	V(UVERBS_ATTR_QUERY_PORT_PORT_NUM), V(UVERBS_ATTR_QUERY_PORT_RESP),
	V(UVERBS_ATTR_GET_CONTEXT_NUM_COMP_VECTORS), V(UVERBS_ATTR_GET_CONTEXT_CORE_SUPPORT),
	/* PD, MR */
	V(UVERBS_METHOD_PD_DESTROY), V(UVERBS_ATTR_DESTROY_PD_HANDLE),
	V(UVERBS_METHOD_MR_DESTROY), V(UVERBS_ATTR_DESTROY_MR_HANDLE),
	V(UVERBS_METHOD_ADVISE_MR), V(UVERBS_ATTR_ADVISE_MR_PD_HANDLE), V(UVERBS_ATTR_ADVISE_MR_ADVICE),
	V(UVERBS_ATTR_ADVISE_MR_FLAGS), V(UVERBS_ATTR_ADVISE_MR_SGE_LIST),
	V(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH), V(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE),
	V(IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT), V(IB_UVERBS_ADVISE_MR_FLAG_FLUSH),
	SIZE(ib_uverbs_sge), OFF(ib_uverbs_sge, length), OFF(ib_uverbs_sge, lkey),
	/* CQ */
	V(UVERBS_METHOD_CQ_CREATE), V(UVERBS_METHOD_CQ_DESTROY),
	V(UVERBS_ATTR_CREATE_CQ_HANDLE), V(UVERBS_ATTR_CREATE_CQ_CQE),
	V(UVERBS_ATTR_CREATE_CQ_USER_HANDLE), V(UVERBS_ATTR_CREATE_CQ_COMP_CHANNEL),
	V(UVERBS_ATTR_CREATE_CQ_COMP_VECTOR), V(UVERBS_ATTR_CREATE_CQ_FLAGS),
	V(UVERBS_ATTR_CREATE_CQ_RESP_CQE),
	V(UVERBS_ATTR_DESTROY_CQ_HANDLE), V(UVERBS_ATTR_DESTROY_CQ_RESP),
	/* QP */
	V(UVERBS_METHOD_QP_CREATE), V(UVERBS_METHOD_QP_DESTROY),
	V(UVERBS_ATTR_CREATE_QP_HANDLE), V(UVERBS_ATTR_CREATE_QP_PD_HANDLE),
	V(UVERBS_ATTR_CREATE_QP_SEND_CQ_HANDLE), V(UVERBS_ATTR_CREATE_QP_RECV_CQ_HANDLE),
	V(UVERBS_ATTR_CREATE_QP_USER_HANDLE), V(UVERBS_ATTR_CREATE_QP_CAP),
	V(UVERBS_ATTR_CREATE_QP_TYPE), V(UVERBS_ATTR_CREATE_QP_FLAGS),
	V(UVERBS_ATTR_CREATE_QP_RESP_CAP), V(UVERBS_ATTR_CREATE_QP_RESP_QP_NUM),
	V(UVERBS_ATTR_DESTROY_QP_HANDLE), V(UVERBS_ATTR_DESTROY_QP_RESP),
	V(IB_UVERBS_QPT_RC), V(IB_UVERBS_QPT_DRIVER),
	/* access flags */
	V(IB_UVERBS_ACCESS_LOCAL_WRITE), V(IB_UVERBS_ACCESS_REMOTE_WRITE),
	V(IB_UVERBS_ACCESS_REMOTE_READ), V(IB_UVERBS_ACCESS_REMOTE_ATOMIC), V(IB_UVERBS_ACCESS_ON_DEMAND),
	/* structs */
	SIZE(ib_uverbs_qp_cap),
	OFF(ib_uverbs_qp_cap, max_send_wr), OFF(ib_uverbs_qp_cap, max_recv_wr),
	OFF(ib_uverbs_qp_cap, max_send_sge), OFF(ib_uverbs_qp_cap, max_recv_sge),
	OFF(ib_uverbs_qp_cap, max_inline_data),
	SIZE(ib_uverbs_query_port_resp),
	OFF(ib_uverbs_query_port_resp, port_cap_flags), OFF(ib_uverbs_query_port_resp, gid_tbl_len),
	OFF(ib_uverbs_query_port_resp, pkey_tbl_len), OFF(ib_uverbs_query_port_resp, state),
	OFF(ib_uverbs_query_port_resp, max_mtu), OFF(ib_uverbs_query_port_resp, active_mtu),
	OFF(ib_uverbs_query_port_resp, phys_state), OFF(ib_uverbs_query_port_resp, link_layer),
	SIZE(ib_uverbs_query_port_resp_ex),
	OFF(ib_uverbs_query_port_resp_ex, legacy_resp), OFF(ib_uverbs_query_port_resp_ex, port_cap_flags2),
	OFF(ib_uverbs_query_port_resp_ex, reserved),
	SIZE(ib_uverbs_destroy_cq_resp),
	OFF(ib_uverbs_destroy_cq_resp, comp_events_reported), OFF(ib_uverbs_destroy_cq_resp, async_events_reported),
	SIZE(ib_uverbs_destroy_qp_resp),
	/* libibverbs enums the wire reuses */
	V(IBV_QPS_RESET), V(IBV_QPS_INIT), V(IBV_QPS_RTR), V(IBV_QPS_RTS), V(IBV_QPS_SQD),
	V(IBV_QPS_SQE), V(IBV_QPS_ERR),
	V(IBV_WC_SUCCESS), V(IBV_WC_LOC_LEN_ERR), V(IBV_WC_LOC_QP_OP_ERR), V(IBV_WC_LOC_PROT_ERR),
	V(IBV_WC_WR_FLUSH_ERR), V(IBV_WC_REM_INV_REQ_ERR), V(IBV_WC_REM_ACCESS_ERR),
	V(IBV_WC_REM_OP_ERR), V(IBV_WC_RETRY_EXC_ERR), V(IBV_WC_RNR_RETRY_EXC_ERR), V(IBV_WC_GENERAL_ERR),
	V(IBV_WC_RECV),
	V(IBV_QPT_RC), V(IBV_QPT_DRIVER),
	V(IBV_EVENT_QP_FATAL), V(IBV_EVENT_QP_REQ_ERR), V(IBV_EVENT_QP_ACCESS_ERR), V(IBV_EVENT_DEVICE_FATAL),
};

const unsigned long accel_probe_len = sizeof(accel_probe) / sizeof(accel_probe[0]);
