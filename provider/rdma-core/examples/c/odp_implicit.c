/*
 * On-demand paging as a verbs program uses it: the device advertises ODP (implicit too), one
 * implicit region covers the whole address space, buffers malloc'd after it was registered are
 * written and read by RDMA through it, ibv_advise_mr prefetches, and an RDMA_WRITE from a page
 * that is gone completes with a protection error instead of crashing anything.
 *
 *   cc odp_implicit.c -libverbs -o odp_implicit && accel-run ./odp_implicit
 */
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "example_util.h"

#define LEN 8192

static int to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				    .qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ };
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return 1;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = IBV_MTU_4096;
	attr.dest_qp_num = qp->qp_num; /* loopback: the device answers its own RDMA */
	attr.max_dest_rd_atomic = 1;
	attr.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
					     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return 1;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
						IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

/* Posts one RDMA op of `len` bytes from `local` to `remote` through `mr`; its completion. */
static struct ibv_wc rdma(struct ibv_qp *qp, struct ibv_cq *cq, struct ibv_mr *mr, enum ibv_wr_opcode op, void *local,
			  void *remote, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)local, .length = len, .lkey = mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 7, .sg_list = &sge, .num_sge = 1, .opcode = op }, *bad;
	struct ibv_wc wc = { .status = IBV_WC_GENERAL_ERR };
	wr.wr.rdma.remote_addr = (uintptr_t)remote;
	wr.wr.rdma.rkey = mr->rkey;
	if (ibv_post_send(qp, &wr, &bad))
		return wc;
	while (ibv_poll_cq(cq, 1, &wc) == 0)
		;
	return wc;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct ibv_context *ctx = ibv_open_device(list[0]);
	struct ibv_device_attr_ex attr;
	CHECK(ctx && ibv_query_device_ex(ctx, NULL, &attr) == 0, "ibv_query_device_ex");
	CHECK(attr.odp_caps.general_caps & IBV_ODP_SUPPORT, "ODP advertised");
	CHECK(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT, "implicit ODP advertised");
	CHECK((attr.odp_caps.per_transport_caps.rc_odp_caps & (IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ)) ==
		      (IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ),
	      "RC RDMA WRITE and READ on ODP");

	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	int rights = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND;
	struct ibv_mr *all = ibv_reg_mr(pd, NULL, SIZE_MAX, rights);
	CHECK(all != NULL, "implicit ODP region");
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	struct ibv_qp_init_attr init = { .send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC, .sq_sig_all = 1,
					 .cap = { .max_send_wr = 8, .max_send_sge = 1 } };
	struct ibv_qp *qp = ibv_create_qp(pd, &init);
	if (!all || !cq || !qp || to_rts(qp)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}

	/* Allocated after registration. */
	char *src = malloc(LEN), *dst = malloc(LEN), *back = calloc(1, LEN);
	for (int i = 0; i < LEN; i++)
		src[i] = (char)(i * 13 + 1);
	memset(dst, 0, LEN);
	struct ibv_sge prefetch = { .addr = (uintptr_t)dst, .length = LEN, .lkey = all->lkey };
	CHECK(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, IBV_ADVISE_MR_FLAG_FLUSH, &prefetch, 1) == 0,
	      "ibv_advise_mr prefetch for writing");
	struct ibv_wc wc = rdma(qp, cq, all, IBV_WR_RDMA_WRITE, src, dst, LEN);
	CHECK(wc.status == IBV_WC_SUCCESS && memcmp(src, dst, LEN) == 0, "RDMA_WRITE between malloc'd buffers");
	wc = rdma(qp, cq, all, IBV_WR_RDMA_READ, back, dst, LEN);
	CHECK(wc.status == IBV_WC_SUCCESS && memcmp(src, back, LEN) == 0, "RDMA_READ back");

	/* A page that is gone. */
	char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, 4096);
	wc = rdma(qp, cq, all, IBV_WR_RDMA_WRITE, gone, dst, 64);
	CHECK(wc.status == IBV_WC_LOC_PROT_ERR, "an unmapped source completes with a protection error");
	CHECK(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH, IBV_ADVISE_MR_FLAG_FLUSH,
			    &(struct ibv_sge){ .addr = (uintptr_t)gone, .length = 64, .lkey = all->lkey }, 1) != 0,
	      "prefetching an unmapped page is refused");

	CHECK(ibv_destroy_qp(qp) == 0 && ibv_destroy_cq(cq) == 0 && ibv_dereg_mr(all) == 0 && ibv_dealloc_pd(pd) == 0 &&
		      ibv_close_device(ctx) == 0,
	      "teardown");
	ibv_free_device_list(list);
	free(src);
	free(dst);
	free(back);
	printf("odp_implicit: %d failure(s)\n", failures);
	return failures != 0;
}
