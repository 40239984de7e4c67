/*
 * Plain verbs against an accelverbs device, as any libibverbs program would drive an RDMA
 * NIC: open the device, a PD, two registered buffers, a CQ, an RC QP connected to itself
 * (the device is its own responder), then RDMA_WRITE one buffer into the other and RDMA_READ
 * it back, checking the bytes. Completions are awaited on a completion channel: the first by
 * poll(2) on its descriptor, the second by a blocking ibv_get_cq_event. Nothing here knows the
 * device is not a NIC.
 *
 *   cc rdma_loopback.c -libverbs -o rdma_loopback && accel-run ./rdma_loopback
 */
#include <infiniband/verbs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN 4096

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/*
 * Waits for the armed CQ's events on `channel` (the first wait with poll(2) if `use_poll`)
 * until the completion `wr_id` arrives, and checks it. As in any verbs program, each event is
 * acked and the CQ re-armed before polling, and an event may find nothing new to poll (arming
 * while a completion waits raises an event at once): then the wait goes on.
 */
static int complete(struct ibv_comp_channel *channel, struct ibv_cq *cq, int use_poll, uint64_t wr_id,
		    enum ibv_wc_opcode opcode)
{
	struct ibv_cq *event_cq;
	void *event_context;
	struct ibv_wc wc;
	int n = 0;

	for (int events = 0; n == 0; events++) {
		if (events == 100) {
			fprintf(stderr, "100 events without the completion\n");
			return 1;
		}
		if (use_poll && events == 0) {
			struct pollfd pfd = { .fd = channel->fd, .events = POLLIN };
			if (poll(&pfd, 1, 10000) != 1)
				return fail("poll on the completion channel");
		}
		if (ibv_get_cq_event(channel, &event_cq, &event_context))
			return fail("ibv_get_cq_event");
		if (event_cq != cq || event_context != cq->cq_context) {
			fprintf(stderr, "the event names another CQ\n");
			return 1;
		}
		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0))
			return fail("ibv_req_notify_cq");
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return fail("ibv_poll_cq");
	}
	if (wc.status != IBV_WC_SUCCESS || wc.wr_id != wr_id || wc.opcode != opcode || wc.byte_len != LEN) {
		fprintf(stderr, "completion %llu: %s, opcode %d, %u bytes\n", (unsigned long long)wc.wr_id,
			ibv_wc_status_str(wc.status), wc.opcode, wc.byte_len);
		return 1;
	}
	return 0;
}

static int to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ,
	};
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return fail("modify_qp INIT");
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = IBV_MTU_4096;
	attr.dest_qp_num = qp->qp_num; /* loopback */
	attr.max_dest_rd_atomic = 1;
	attr.min_rnr_timer = 12;
	attr.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return fail("modify_qp RTR");
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				  IBV_QP_MAX_QP_RD_ATOMIC))
		return fail("modify_qp RTS");
	return 0;
}

int main(void)
{
	static int init_done; /* any address: the CQ's user context */
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct ibv_context *ctx = ibv_open_device(list[0]);
	if (!ctx)
		return fail("ibv_open_device");
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	if (!pd)
		return fail("ibv_alloc_pd");

	char *local = aligned_alloc(4096, LEN), *remote = aligned_alloc(4096, LEN), *back = aligned_alloc(4096, LEN);
	for (int i = 0; i < LEN; i++)
		local[i] = (char)(i * 7 + 3);
	memset(remote, 0, LEN);
	memset(back, 0, LEN);
	struct ibv_mr *local_mr = ibv_reg_mr(pd, local, LEN, IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *remote_mr =
		ibv_reg_mr(pd, remote, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	struct ibv_mr *back_mr = ibv_reg_mr(pd, back, LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!local_mr || !remote_mr || !back_mr)
		return fail("ibv_reg_mr");

	struct ibv_comp_channel *channel = ibv_create_comp_channel(ctx);
	if (!channel)
		return fail("ibv_create_comp_channel");
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, &init_done, channel, 0);
	if (!cq)
		return fail("ibv_create_cq");
	if (ibv_req_notify_cq(cq, 0))
		return fail("ibv_req_notify_cq");
	struct ibv_qp_init_attr init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 }, /* no receive queue: RDMA only */
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &init);
	if (!qp)
		return fail("ibv_create_qp");
	if (to_rts(qp))
		return 1;

	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = LEN, .lkey = local_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE };
	wr.wr.rdma.remote_addr = (uintptr_t)remote;
	wr.wr.rdma.rkey = remote_mr->rkey;
	struct ibv_send_wr *bad;
	if (ibv_post_send(qp, &wr, &bad))
		return fail("ibv_post_send RDMA_WRITE");
	if (complete(channel, cq, 1, 1, IBV_WC_RDMA_WRITE))
		return 1;
	if (memcmp(local, remote, LEN)) {
		fprintf(stderr, "RDMA_WRITE: the remote buffer differs\n");
		return 1;
	}

	sge = (struct ibv_sge){ .addr = (uintptr_t)back, .length = LEN, .lkey = back_mr->lkey };
	wr.wr_id = 2;
	wr.opcode = IBV_WR_RDMA_READ;
	if (ibv_post_send(qp, &wr, &bad))
		return fail("ibv_post_send RDMA_READ");
	if (complete(channel, cq, 0, 2, IBV_WC_RDMA_READ))
		return 1;
	if (memcmp(local, back, LEN)) {
		fprintf(stderr, "RDMA_READ: the bytes read back differ\n");
		return 1;
	}

	if (ibv_destroy_qp(qp) || ibv_destroy_cq(cq) || ibv_destroy_comp_channel(channel) || ibv_dereg_mr(local_mr) ||
	    ibv_dereg_mr(remote_mr) || ibv_dereg_mr(back_mr) || ibv_dealloc_pd(pd) || ibv_close_device(ctx))
		return fail("teardown");
	ibv_free_device_list(list);
	printf("rdma_loopback: RDMA_WRITE and RDMA_READ of %d bytes verified\n", LEN);
	return 0;
}
