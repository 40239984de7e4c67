/*
 * Asynchronous events through stock libibverbs: a responder QP that refuses an RDMA write
 * (a key it never gave) reports IBV_EVENT_QP_ACCESS_ERR, one that receives a SEND with no
 * receive queue IBV_EVENT_QP_REQ_ERR; each names the QP in element.qp, the QP is in ERR, and
 * the event is acked with ibv_ack_async_event. Checks poll(2) on async_fd, a thread blocked in
 * ibv_get_async_event woken by an event, that destroying a QP takes its unread events back,
 * and that the context closes.
 *
 *   cc async_events.c -libverbs -lpthread -o async_events && accel-run ./async_events
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_mr *mr;

static struct ibv_qp *rc_qp(int receives)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 4, .max_recv_wr = receives, .max_send_sge = 1, .max_recv_sge = receives ? 1 : 0 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 1,
	};
	return ibv_create_qp(pd, &attr);
}

static int to_rts(struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				    .qp_access_flags = IBV_ACCESS_REMOTE_WRITE };
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR, .path_mtu = IBV_MTU_1024, .dest_qp_num = dest,
				     .ah_attr = { .port_num = 1 } };
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS };
	return ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

/* Two QPs connected to each other; the second with `receives` receive entries. */
static int connect_pair(struct ibv_qp **a, struct ibv_qp **b, int receives)
{
	*a = rc_qp(1);
	*b = rc_qp(receives);
	if (!*a || !*b)
		return -1;
	return to_rts(*a, (*b)->qp_num) || to_rts(*b, (*a)->qp_num) ? -1 : 0;
}

static enum ibv_wc_status complete_one(void)
{
	struct ibv_wc wc;
	for (long spins = 0; spins < 100000000L; spins++) {
		int n = ibv_poll_cq(cq, 1, &wc);
		if (n == 1)
			return wc.status;
		if (n < 0)
			break;
	}
	return IBV_WC_GENERAL_ERR;
}

/* An RDMA write from `qp` with a key the responder never gave. */
static void bad_rdma_write(struct ibv_qp *qp)
{
	struct ibv_sge sge = { (uintptr_t)mr->addr, 64, mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
				  .wr.rdma = { .remote_addr = 0x1000, .rkey = 0x00abcd00 } },
			   *bad;
	CHECK(ibv_post_send(qp, &wr, &bad) == 0, "ibv_post_send");
	CHECK(complete_one() == IBV_WC_REM_ACCESS_ERR, "the requester's completion");
}

static int readable(int timeout_ms)
{
	struct pollfd pfd = { .fd = ctx->async_fd, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) == 1;
}

static void expect_event(enum ibv_event_type type, struct ibv_qp *qp, const char *what)
{
	struct ibv_async_event event;
	CHECK(readable(10000), "%s: async_fd readable", what);
	if (ibv_get_async_event(ctx, &event)) {
		CHECK(0, "%s: ibv_get_async_event: %s", what, strerror(errno));
		return;
	}
	CHECK(event.event_type == type && event.element.qp == qp, "%s: %s on %p, expected %s on %p", what,
	      ibv_event_type_str(event.event_type), (void *)event.element.qp, ibv_event_type_str(type), (void *)qp);
	ibv_ack_async_event(&event);
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	CHECK(ibv_query_qp(qp, &attr, IBV_QP_STATE, &init) == 0 && attr.qp_state == IBV_QPS_ERR, "%s: QP in ERR", what);
}

static void *wait_for_event(void *arg)
{
	struct ibv_async_event *event = arg;
	if (ibv_get_async_event(ctx, event))
		event->event_type = -1;
	return NULL;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no device: run under accel-run\n");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	cq = ctx ? ibv_create_cq(ctx, 16, NULL, NULL, 0) : NULL;
	void *buf = calloc(1, 4096);
	mr = pd ? ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE) : NULL;
	if (!mr) {
		perror("setup");
		return 1;
	}
	struct ibv_qp *a, *b;

	CHECK(!readable(0), "no event before any");
	if (connect_pair(&a, &b, 1))
		return perror("connect"), 1;
	bad_rdma_write(a);
	expect_event(IBV_EVENT_QP_ACCESS_ERR, b, "refused RDMA");
	CHECK(!readable(0), "one event, read");
	CHECK(ibv_destroy_qp(a) == 0 && ibv_destroy_qp(b) == 0, "destroy after the ack");

	/* A SEND to a QP with no receive queue. */
	if (connect_pair(&a, &b, 0))
		return perror("connect"), 1;
	struct ibv_sge sge = { (uintptr_t)mr->addr, 8, mr->lkey };
	struct ibv_send_wr send = { .wr_id = 2, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND }, *bad;
	CHECK(ibv_post_send(a, &send, &bad) == 0, "ibv_post_send");
	CHECK(complete_one() == IBV_WC_REM_INV_REQ_ERR, "the sender's completion");
	expect_event(IBV_EVENT_QP_REQ_ERR, b, "SEND without a receive queue");
	CHECK(ibv_destroy_qp(a) == 0 && ibv_destroy_qp(b) == 0, "destroy");

	/* A thread blocked in ibv_get_async_event wakes for the event. */
	if (connect_pair(&a, &b, 1))
		return perror("connect"), 1;
	struct ibv_async_event event = { .event_type = -1 };
	pthread_t waiter;
	pthread_create(&waiter, NULL, wait_for_event, &event);
	bad_rdma_write(a);
	pthread_join(waiter, NULL);
	CHECK(event.event_type == IBV_EVENT_QP_ACCESS_ERR && event.element.qp == b, "the blocked reader got %s",
	      ibv_event_type_str(event.event_type));
	ibv_ack_async_event(&event);
	CHECK(ibv_destroy_qp(a) == 0 && ibv_destroy_qp(b) == 0, "destroy");

	/* Destroying a QP takes its unread events back. */
	if (connect_pair(&a, &b, 1))
		return perror("connect"), 1;
	bad_rdma_write(a);
	CHECK(readable(10000), "event waiting");
	CHECK(ibv_destroy_qp(b) == 0, "destroy with an unread event");
	CHECK(!readable(50), "the destroyed QP's event is gone");
	CHECK(ibv_destroy_qp(a) == 0, "destroy");

	CHECK(ibv_dereg_mr(mr) == 0 && ibv_destroy_cq(cq) == 0 && ibv_dealloc_pd(pd) == 0, "teardown");
	CHECK(ibv_close_device(ctx) == 0, "ibv_close_device");
	ibv_free_device_list(list);
	free(buf);
	printf("async_events: %d failure(s)\n", failures);
	return failures != 0;
}
