/*
 * The same loopback RDMA through the ibv_wr_* interface of an extended QP: one
 * ibv_wr_start ... ibv_wr_complete sequence posts 8 RDMA_WRITEs (each a slice of one buffer
 * into another) with one doorbell, a second sequence reads them all back, and an aborted
 * sequence posts nothing.
 *
 *   cc wr_batch.c -libverbs -o wr_batch && accel-run ./wr_batch
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICES 8
#define SLICE 512
#define LEN (SLICES * SLICE)

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/* Polls `count` completions, which must be successes of `opcode` in wr_id order from `first`. */
static int drain(struct ibv_cq *cq, int count, uint64_t first, enum ibv_wc_opcode opcode)
{
	struct ibv_wc wc[SLICES];
	int got = 0;
	while (got < count) {
		int n = ibv_poll_cq(cq, count - got, wc);
		if (n < 0)
			return fail("ibv_poll_cq");
		for (int i = 0; i < n; i++, got++) {
			if (wc[i].status != IBV_WC_SUCCESS || wc[i].wr_id != first + got || wc[i].opcode != opcode ||
			    wc[i].byte_len != SLICE) {
				fprintf(stderr, "completion %llu: %s\n", (unsigned long long)wc[i].wr_id,
					ibv_wc_status_str(wc[i].status));
				return 1;
			}
		}
	}
	return 0;
}

/* Polls the one zero-length completion `wr_id`. */
static int drain_zero(struct ibv_cq *cq, uint64_t wr_id)
{
	struct ibv_wc wc;
	int n;
	while ((n = ibv_poll_cq(cq, 1, &wc)) == 0)
		;
	return n != 1 || wc.status != IBV_WC_SUCCESS || wc.wr_id != wr_id;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct ibv_context *ctx = ibv_open_device(list[0]);
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	struct ibv_cq *cq = ctx ? ibv_create_cq(ctx, 2 * SLICES, NULL, NULL, 0) : NULL;
	if (!pd || !cq)
		return fail("setup");
	char *src = aligned_alloc(4096, LEN), *remote = aligned_alloc(4096, LEN), *back = aligned_alloc(4096, LEN);
	for (int i = 0; i < LEN; i++)
		src[i] = (char)(i * 13 + 1);
	memset(remote, 0, LEN);
	memset(back, 0, LEN);
	struct ibv_mr *src_mr = ibv_reg_mr(pd, src, LEN, 0);
	struct ibv_mr *remote_mr =
		ibv_reg_mr(pd, remote, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	struct ibv_mr *back_mr = ibv_reg_mr(pd, back, LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!src_mr || !remote_mr || !back_mr)
		return fail("ibv_reg_mr");

	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 2 * SLICES, .max_send_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_READ,
	};
	struct ibv_qp *qp = ibv_create_qp_ex(ctx, &init);
	if (!qp)
		return fail("ibv_create_qp_ex");
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	if (!qpx) {
		fprintf(stderr, "no extended QP\n");
		return 1;
	}
	enum ibv_qp_state states[] = { IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			return fail("ibv_modify_qp");
	}

	/* An aborted sequence posts nothing: the CQ stays empty and the target untouched. */
	ibv_wr_start(qpx);
	qpx->wr_id = 100;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(qpx, remote_mr->rkey, (uintptr_t)remote);
	ibv_wr_set_sge(qpx, src_mr->lkey, (uintptr_t)src, SLICE);
	ibv_wr_abort(qpx);

	ibv_wr_start(qpx);
	for (int i = 0; i < SLICES; i++) {
		qpx->wr_id = i;
		qpx->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_rdma_write(qpx, remote_mr->rkey, (uintptr_t)remote + i * SLICE);
		ibv_wr_set_sge(qpx, src_mr->lkey, (uintptr_t)src + i * SLICE, SLICE);
	}
	if (ibv_wr_complete(qpx))
		return fail("ibv_wr_complete (writes)");
	if (drain(cq, SLICES, 0, IBV_WC_RDMA_WRITE))
		return 1;

	ibv_wr_start(qpx);
	for (int i = 0; i < SLICES; i++) {
		struct ibv_sge sge = { .addr = (uintptr_t)back + i * SLICE, .length = SLICE, .lkey = back_mr->lkey };
		qpx->wr_id = SLICES + i;
		qpx->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_rdma_read(qpx, remote_mr->rkey, (uintptr_t)remote + i * SLICE);
		ibv_wr_set_sge_list(qpx, 1, &sge);
	}
	if (ibv_wr_complete(qpx))
		return fail("ibv_wr_complete (reads)");
	if (drain(cq, SLICES, SLICES, IBV_WC_RDMA_READ))
		return 1;
	if (memcmp(src, remote, LEN) || memcmp(src, back, LEN)) {
		fprintf(stderr, "the bytes differ\n");
		return 1;
	}

	/* An error inside a sequence (two SGEs where one is allowed) is reported by
	 * ibv_wr_complete, and nothing of that sequence is posted. */
	ibv_wr_start(qpx);
	qpx->wr_id = 200;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(qpx, remote_mr->rkey, (uintptr_t)remote);
	struct ibv_sge two[2] = { { (uintptr_t)src, 8, src_mr->lkey }, { (uintptr_t)src, 8, src_mr->lkey } };
	ibv_wr_set_sge_list(qpx, 2, two);
	if (ibv_wr_complete(qpx) == 0) {
		fprintf(stderr, "a sequence with an error was accepted\n");
		return 1;
	}
	struct ibv_wc extra;
	if (ibv_poll_cq(cq, 1, &extra) != 0) {
		fprintf(stderr, "an aborted or failed sequence produced a completion\n");
		return 1;
	}

	/* Misuse is refused, never a hang or a crash: a builder and ibv_wr_complete outside a
	 * sequence, ibv_post_send and ibv_modify_qp from inside this thread's own sequence, and a
	 * nested ibv_wr_start. */
	ibv_wr_rdma_write(qpx, remote_mr->rkey, (uintptr_t)remote);
	if (ibv_wr_complete(qpx) != EINVAL)
		return fprintf(stderr, "ibv_wr_complete without ibv_wr_start was accepted\n"), 1;
	ibv_wr_start(qpx);
	struct ibv_send_wr plain = { .wr_id = 300, .opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_qp_attr query_attr;
	struct ibv_qp_init_attr query_init;
	if (ibv_post_send(qp, &plain, &bad) != EDEADLK || bad != &plain ||
	    ibv_query_qp(qp, &query_attr, IBV_QP_STATE, &query_init) != EDEADLK)
		return fprintf(stderr, "a verb inside the thread's own sequence was not refused\n"), 1;
	ibv_wr_start(qpx);
	qpx->wr_id = 301;
	ibv_wr_rdma_write(qpx, remote_mr->rkey, (uintptr_t)remote);
	ibv_wr_set_sge(qpx, src_mr->lkey, (uintptr_t)src, 8);
	if (ibv_wr_complete(qpx) != EINVAL || ibv_poll_cq(cq, 1, &extra) != 0)
		return fprintf(stderr, "a nested ibv_wr_start was accepted\n"), 1;
	if (ibv_post_send(qp, &plain, &bad) != 0 || drain_zero(cq, 300))
		return fprintf(stderr, "the QP is not usable after the refusals\n"), 1;

	if (ibv_destroy_qp(qp) || ibv_destroy_cq(cq) || ibv_dereg_mr(src_mr) || ibv_dereg_mr(remote_mr) ||
	    ibv_dereg_mr(back_mr) || ibv_dealloc_pd(pd) || ibv_close_device(ctx))
		return fail("teardown");
	ibv_free_device_list(list);
	printf("wr_batch: %d RDMA_WRITEs and %d RDMA_READs in two ibv_wr_* sequences verified\n", SLICES, SLICES);
	return 0;
}
