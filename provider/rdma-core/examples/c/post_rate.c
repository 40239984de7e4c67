/*
 * The fixed cost of a work request through libibverbs and the plugin: zero-length RDMA_WRITEs
 * (the device checks nothing and moves nothing, so only posting, executing, completing and
 * polling are measured), kept QUEUE_DEPTH deep, posted as chains of up to BATCH with one
 * ibv_post_send and polled BATCH at a time. Prints one line: "ops_per_s=<rate>".
 *
 *   cc -O2 post_rate.c -libverbs -o post_rate && accel-run ./post_rate [seconds] [depth] [batch]
 */
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	int depth = argc > 2 ? atoi(argv[2]) : 32;
	int batch = argc > 3 ? atoi(argv[3]) : 8;
	if (seconds <= 0 || depth < 1 || depth > 4096 || batch < 1 || batch > depth) {
		fprintf(stderr, "usage: post_rate [seconds > 0] [depth 1..4096] [batch 1..depth]\n");
		return 2;
	}
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = list && list[0] ? ibv_open_device(list[0]) : NULL;
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	struct ibv_cq *cq = pd ? ibv_create_cq(ctx, depth, NULL, NULL, 0) : NULL;
	struct ibv_qp_init_attr init = { .send_cq = cq, .recv_cq = cq, .cap = { .max_send_wr = depth }, .qp_type = IBV_QPT_RC };
	struct ibv_qp *qp = cq ? ibv_create_qp(pd, &init) : NULL;
	enum ibv_qp_state states[] = { IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; qp && i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			qp = NULL;
	}
	if (!qp) {
		perror("setup (run under accel-run)");
		return 1;
	}
	struct ibv_send_wr *wrs = calloc(batch, sizeof(*wrs)), *bad;
	for (int i = 0; i < batch; i++) {
		wrs[i].opcode = IBV_WR_RDMA_WRITE;
		wrs[i].send_flags = IBV_SEND_SIGNALED;
		wrs[i].next = i + 1 < batch ? &wrs[i + 1] : NULL;
	}
	struct ibv_wc *wc = calloc(batch, sizeof(*wc));
	long posted = 0, done = 0;
	double start = now(), end = start + seconds;
	for (;;) {
		while (posted - done + batch <= depth) {
			for (int i = 0; i < batch; i++)
				wrs[i].wr_id = posted + i;
			if (ibv_post_send(qp, wrs, &bad)) {
				perror("ibv_post_send");
				return 1;
			}
			posted += batch;
		}
		int n = ibv_poll_cq(cq, batch, wc);
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "completion %s\n", ibv_wc_status_str(wc[i].status));
				return 1;
			}
		}
		done += n;
		if ((done & 1023) < (unsigned)n && now() >= end)
			break;
	}
	double elapsed = now() - start;
	double rate = done / elapsed;
	while (done < posted) {
		int n = ibv_poll_cq(cq, batch, wc);
		if (n < 0)
			return 1;
		done += n;
	}
	printf("ops_per_s=%.0f\n", rate);
	ibv_destroy_qp(qp);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
