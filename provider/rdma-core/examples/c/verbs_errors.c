/*
 * What a C program gets back from an accelverbs device when it gets things wrong: each check
 * states the verbs contract it expects (a failed completion status, EINVAL, EBUSY,
 * EOPNOTSUPP), and the program ends normally after all of them: no crash, no hang.
 *
 *   cc verbs_errors.c -libverbs -o verbs_errors && accel-run ./verbs_errors
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define EXPECT(cond, what)                                                                                 \
	do {                                                                                               \
		if (!(cond)) {                                                                             \
			fprintf(stderr, "FAILED: %s (errno %d: %s)\n", what, errno, strerror(errno));      \
			failures++;                                                                        \
		} else {                                                                                   \
			printf("ok: %s\n", what);                                                          \
		}                                                                                          \
	} while (0)

static struct ibv_qp *rc_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 8, .max_send_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &init);
	if (!qp)
		return NULL;
	enum ibv_qp_state states[] = { IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			return NULL;
	}
	return qp;
}

static enum ibv_wc_status post_and_wait(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode opcode,
					struct ibv_sge *sge, uint64_t remote_addr, uint32_t rkey, uint64_t wr_id)
{
	struct ibv_send_wr wr = { .wr_id = wr_id, .sg_list = sge, .num_sge = 1, .opcode = opcode }, *bad;
	wr.wr.rdma.remote_addr = remote_addr;
	wr.wr.rdma.rkey = rkey;
	if (ibv_post_send(qp, &wr, &bad))
		return (enum ibv_wc_status)-1;
	struct ibv_wc wc;
	while (ibv_poll_cq(cq, 1, &wc) == 0)
		;
	return wc.wr_id == wr_id ? wc.status : (enum ibv_wc_status)-2;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct ibv_context *ctx = ibv_open_device(list[0]);
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	char *buf = aligned_alloc(4096, 8192);
	memset(buf, 7, 8192);
	struct ibv_mr *local = ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *readonly = ibv_reg_mr(pd, buf + 4096, 4096, IBV_ACCESS_LOCAL_WRITE);
	if (!ctx || !pd || !cq || !local || !readonly) {
		perror("setup");
		return 1;
	}

	/* A bad lkey: a local protection error, the QP moves to ERR and flushes what follows. */
	struct ibv_qp *qp = rc_qp(pd, cq);
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = 64, .lkey = local->lkey ^ 0x5a5a00 };
	EXPECT(post_and_wait(qp, cq, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)buf + 4096, readonly->rkey, 1) ==
		       IBV_WC_LOC_PROT_ERR,
	       "a bad lkey completes with IBV_WC_LOC_PROT_ERR");
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	EXPECT(ibv_query_qp(qp, &attr, IBV_QP_STATE, &init) == 0 && attr.qp_state == IBV_QPS_ERR,
	       "after a protection error the QP is in IBV_QPS_ERR");
	sge.lkey = local->lkey;
	EXPECT(post_and_wait(qp, cq, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)buf + 4096, readonly->rkey, 2) ==
		       IBV_WC_WR_FLUSH_ERR,
	       "a request posted to a QP in ERR is flushed (IBV_WC_WR_FLUSH_ERR)");
	EXPECT(ibv_destroy_qp(qp) == 0, "a QP in ERR can be destroyed");

	/* A remote region without REMOTE_WRITE: a remote access error. */
	qp = rc_qp(pd, cq);
	EXPECT(post_and_wait(qp, cq, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)buf + 4096, readonly->rkey, 3) ==
		       IBV_WC_REM_ACCESS_ERR,
	       "RDMA_WRITE into a region without REMOTE_WRITE completes with IBV_WC_REM_ACCESS_ERR");
	ibv_destroy_qp(qp);

	/* Requests the device does not do are refused at post time, naming the request. */
	qp = rc_qp(pd, cq);
	struct ibv_send_wr atomic = { .wr_id = 9, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_ATOMIC_FETCH_AND_ADD },
			   *bad = NULL;
	EXPECT(ibv_post_send(qp, &atomic, &bad) == EINVAL && bad == &atomic, "an atomic is refused with EINVAL and bad_wr");
	struct ibv_sge two[2] = { sge, sge };
	struct ibv_send_wr gather = { .wr_id = 10, .sg_list = two, .num_sge = 2, .opcode = IBV_WR_RDMA_WRITE };
	bad = NULL;
	EXPECT(ibv_post_send(qp, &gather, &bad) == EINVAL && bad == &gather, "more SGEs than max_sge: EINVAL");
	struct ibv_recv_wr recv = { .wr_id = 11 }, *bad_recv = NULL;
	EXPECT(ibv_post_recv(qp, &recv, &bad_recv) == EINVAL && bad_recv == &recv,
	       "ibv_post_recv on a QP created without a receive queue: EINVAL");

	/* Objects in use cannot be destroyed. */
	errno = 0;
	EXPECT(ibv_dealloc_pd(pd) == EBUSY, "ibv_dealloc_pd with regions and a QP: EBUSY");
	EXPECT(ibv_destroy_cq(cq) == EBUSY, "ibv_destroy_cq with a QP on it: EBUSY");

	/* Unsupported verbs and attributes. */
	struct ibv_qp_init_attr ud = { .send_cq = cq, .recv_cq = cq, .cap = { .max_send_wr = 1 }, .qp_type = IBV_QPT_UD };
	errno = 0;
	EXPECT(ibv_create_qp(pd, &ud) == NULL && errno == EOPNOTSUPP, "a UD QP: EOPNOTSUPP");
	errno = 0;
	EXPECT(ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND) == NULL && errno == EOPNOTSUPP,
	       "a memory-window bind right (no memory windows): EOPNOTSUPP");
	struct ibv_srq_init_attr srq = { .attr = { .max_wr = 1, .max_sge = 1 } };
	errno = 0;
	EXPECT(ibv_create_srq(pd, &srq) == NULL && errno == EOPNOTSUPP, "ibv_create_srq: EOPNOTSUPP");
	errno = 0;
	EXPECT(ibv_alloc_mw(pd, IBV_MW_TYPE_1) == NULL && errno == EOPNOTSUPP, "ibv_alloc_mw: EOPNOTSUPP");
	errno = 0;
	EXPECT(ibv_create_cq(ctx, 1 << 30, NULL, NULL, 0) == NULL && errno == EINVAL, "a CQ beyond max_cqe: EINVAL");

	/* A transition verbs does not allow. */
	struct ibv_qp *fresh = ibv_create_qp(pd, &(struct ibv_qp_init_attr){ .send_cq = cq,
									     .recv_cq = cq,
									     .cap = { .max_send_wr = 1 },
									     .qp_type = IBV_QPT_RC });
	struct ibv_qp_attr rts = { .qp_state = IBV_QPS_RTS };
	EXPECT(fresh && ibv_modify_qp(fresh, &rts, IBV_QP_STATE) == EINVAL, "RESET -> RTS: EINVAL");

	/* Teardown in order succeeds. */
	EXPECT(ibv_destroy_qp(fresh) == 0 && ibv_destroy_qp(qp) == 0, "destroy the QPs");
	EXPECT(ibv_dereg_mr(local) == 0 && ibv_dereg_mr(readonly) == 0, "deregister the regions");
	EXPECT(ibv_destroy_cq(cq) == 0 && ibv_dealloc_pd(pd) == 0, "destroy the CQ and the PD once unused");
	EXPECT(ibv_close_device(ctx) == 0, "close the device");
	ibv_free_device_list(list);
	free(buf);
	printf("verbs_errors: %d failure(s)\n", failures);
	return failures != 0;
}
