/*
 * SEND and receive between two RC QPs of one device, as a verbs program connects two QPs:
 * each is brought to RTR with the other's number as dest_qp_num. Checks a list of receives
 * filled in order by a list of sends (IBV_WC_RECV completions naming the sender in src_qp),
 * a SEND through the ibv_wr_* interface, what ibv_query_qp reports, and the verbs errors:
 * a receive too short (IBV_WC_LOC_LEN_ERR at the receiver, IBV_WC_REM_INV_REQ_ERR at the
 * sender), a SEND with no receive posted (IBV_WC_RNR_RETRY_EXC_ERR), a receive with two SGEs
 * (EINVAL, bad_wr naming it), and flushed receives after ibv_modify_qp to ERR; a receive posted
 * from inside the same QP's ibv_wr_* sequence, a solicited SEND waking the receiver's CQ armed
 * for solicited completions only, and a send-only QP with a recv CQ of its own.
 *
 *   cc send_recv.c -libverbs -o send_recv && accel-run ./send_recv
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

#define MSG 512
#define COUNT 4

struct side {
	struct ibv_cq *send_cq, *recv_cq;
	struct ibv_qp *qp;
};

static struct ibv_qp *create_qp(struct ibv_pd *pd, struct ibv_cq *send_cq, struct ibv_cq *recv_cq)
{
	struct ibv_qp_init_attr_ex attr = {
		.send_cq = send_cq,
		.recv_cq = recv_cq,
		.cap = { .max_send_wr = 8, .max_recv_wr = COUNT, .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
		.send_ops_flags = IBV_QP_EX_WITH_SEND,
	};
	return ibv_create_qp_ex(pd->context, &attr);
}

/* INIT, RTR connected to `dest`, RTS: the attributes ibv_rc_pingpong sets. */
static int connect_qp(struct ibv_qp *qp, uint32_t dest)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_INIT, .port_num = 1 };
	if (ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	attr.path_mtu = IBV_MTU_1024;
	attr.dest_qp_num = dest;
	attr.rq_psn = 0;
	attr.max_dest_rd_atomic = 1;
	attr.min_rnr_timer = 12;
	attr.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &attr,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &attr,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				     IBV_QP_MAX_QP_RD_ATOMIC);
}

/* Polls `n` completions into `wc`, giving up after many empty polls. */
static int poll_n(struct ibv_cq *cq, struct ibv_wc *wc, int n)
{
	int got = 0;
	for (long spins = 0; got < n && spins < 100000000L; spins++) {
		int r = ibv_poll_cq(cq, n - got, wc + got);
		if (r < 0)
			return r;
		got += r;
	}
	return got;
}

static int post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mr *mr, size_t offset, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)mr->addr + offset, .length = len, .lkey = mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 }, *bad;
	return ibv_post_recv(qp, &wr, &bad);
}

static int post_send(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mr *mr, size_t offset, uint32_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)mr->addr + offset, .length = len, .lkey = mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	return ibv_post_send(qp, &wr, &bad);
}

static void lists_of_receives_and_sends(struct side *a, struct side *b, struct ibv_mr *src, struct ibv_mr *dst)
{
	struct ibv_sge rsge[COUNT], ssge[COUNT];
	struct ibv_recv_wr rwr[COUNT], *rbad = NULL;
	struct ibv_send_wr swr[COUNT], *sbad = NULL;
	struct ibv_wc wc[COUNT];

	for (int i = 0; i < COUNT; i++) {
		rsge[i] = (struct ibv_sge){ (uintptr_t)dst->addr + i * MSG, MSG, dst->lkey };
		rwr[i] = (struct ibv_recv_wr){ .wr_id = 100 + i, .next = i + 1 < COUNT ? &rwr[i + 1] : NULL,
					       .sg_list = &rsge[i], .num_sge = 1 };
		/* Each message a different length: byte_len must say which arrived where. */
		ssge[i] = (struct ibv_sge){ (uintptr_t)src->addr + i * MSG, MSG - i, src->lkey };
		swr[i] = (struct ibv_send_wr){ .wr_id = i, .next = i + 1 < COUNT ? &swr[i + 1] : NULL,
					       .sg_list = &ssge[i], .num_sge = 1, .opcode = IBV_WR_SEND,
					       .send_flags = IBV_SEND_SIGNALED };
	}
	CHECK(ibv_post_recv(b->qp, rwr, &rbad) == 0, "ibv_post_recv of a list");
	CHECK(ibv_post_send(a->qp, swr, &sbad) == 0, "ibv_post_send of a list");
	CHECK(poll_n(a->send_cq, wc, COUNT) == COUNT, "send completions");
	for (int i = 0; i < COUNT; i++)
		CHECK(wc[i].status == IBV_WC_SUCCESS && wc[i].opcode == IBV_WC_SEND && wc[i].wr_id == (uint64_t)i,
		      "send %d: %s opcode %d", i, ibv_wc_status_str(wc[i].status), wc[i].opcode);
	CHECK(poll_n(b->recv_cq, wc, COUNT) == COUNT, "receive completions");
	for (int i = 0; i < COUNT; i++) {
		CHECK(wc[i].status == IBV_WC_SUCCESS && wc[i].opcode == IBV_WC_RECV && wc[i].wr_id == 100u + i,
		      "receive %d: %s opcode %d wr_id %llu", i, ibv_wc_status_str(wc[i].status), wc[i].opcode,
		      (unsigned long long)wc[i].wr_id);
		CHECK(wc[i].byte_len == MSG - (uint32_t)i && wc[i].qp_num == b->qp->qp_num &&
			      wc[i].src_qp == a->qp->qp_num,
		      "receive %d: %u bytes, qp %u, src_qp %u", i, wc[i].byte_len, wc[i].qp_num, wc[i].src_qp);
		CHECK(memcmp((char *)dst->addr + i * MSG, (char *)src->addr + i * MSG, MSG - i) == 0,
		      "receive %d: bytes differ", i);
	}
}

static void send_through_the_wr_interface(struct side *a, struct side *b, struct ibv_mr *src, struct ibv_mr *dst)
{
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(a->qp);
	struct ibv_wc wc;

	CHECK(post_recv(b->qp, 7, dst, 0, MSG) == 0, "ibv_post_recv");
	ibv_wr_start(qpx);
	qpx->wr_id = 8;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(qpx);
	ibv_wr_set_sge(qpx, src->lkey, (uintptr_t)src->addr, 64);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	CHECK(poll_n(a->send_cq, &wc, 1) == 1 && wc.status == IBV_WC_SUCCESS && wc.wr_id == 8, "ibv_wr_send completion");
	CHECK(poll_n(b->recv_cq, &wc, 1) == 1 && wc.status == IBV_WC_SUCCESS && wc.byte_len == 64 && wc.wr_id == 7,
	      "receive of ibv_wr_send: %s, %u bytes", ibv_wc_status_str(wc.status), wc.byte_len);
}

static void query_reports_the_connection(struct side *a, struct side *b)
{
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	CHECK(ibv_query_qp(a->qp, &attr, IBV_QP_STATE | IBV_QP_DEST_QPN | IBV_QP_CAP, &init) == 0, "ibv_query_qp");
	CHECK(attr.qp_state == IBV_QPS_RTS && attr.dest_qp_num == b->qp->qp_num && attr.rnr_retry == 7,
	      "query: state %d dest %u rnr_retry %u", attr.qp_state, attr.dest_qp_num, attr.rnr_retry);
	CHECK(init.cap.max_recv_wr == COUNT && init.cap.max_recv_sge == 1, "query: %u receives of %u SGEs",
	      init.cap.max_recv_wr, init.cap.max_recv_sge);
}

static void two_sges_per_receive_are_einval(struct side *b, struct ibv_mr *dst)
{
	struct ibv_sge sge[2] = { { (uintptr_t)dst->addr, 8, dst->lkey }, { (uintptr_t)dst->addr + 8, 8, dst->lkey } };
	struct ibv_recv_wr wr = { .wr_id = 1, .sg_list = sge, .num_sge = 2 }, *bad = NULL;
	CHECK(ibv_post_recv(b->qp, &wr, &bad) == EINVAL && bad == &wr, "two SGEs: EINVAL naming the request");
}

/* The send and receive queues are independent: a receive may be posted from inside the QP's
 * own ibv_wr_* sequence. */
static void post_recv_inside_a_send_sequence(struct side *a, struct side *b, struct ibv_mr *src, struct ibv_mr *dst)
{
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(b->qp);
	struct ibv_wc wc;
	ibv_wr_start(qpx);
	CHECK(post_recv(b->qp, 5, dst, 0, MSG) == 0, "ibv_post_recv inside the QP's own sequence");
	ibv_wr_abort(qpx);
	CHECK(post_send(a->qp, 6, src, 0, 8) == 0, "ibv_post_send");
	CHECK(poll_n(b->recv_cq, &wc, 1) == 1 && wc.status == IBV_WC_SUCCESS && wc.wr_id == 5, "the receive took the SEND");
	CHECK(poll_n(a->send_cq, &wc, 1) == 1 && wc.status == IBV_WC_SUCCESS, "send completion");
}

/* IBV_SEND_SOLICITED is the receiver's event trigger: its receive CQ, armed for solicited
 * completions only, gets an event. */
static void a_solicited_send_wakes_the_receiver(struct ibv_context *ctx, struct ibv_pd *pd, struct ibv_mr *src,
						struct ibv_mr *dst)
{
	struct ibv_comp_channel *channel = ibv_create_comp_channel(ctx);
	struct ibv_cq *send_cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	struct ibv_cq *recv_cq = channel ? ibv_create_cq(ctx, 16, NULL, channel, 0) : NULL;
	struct ibv_qp *a = recv_cq ? create_qp(pd, send_cq, send_cq) : NULL;
	struct ibv_qp *b = a ? create_qp(pd, send_cq, recv_cq) : NULL;
	if (!b || connect_qp(a, b->qp_num) || connect_qp(b, a->qp_num)) {
		CHECK(0, "solicited: setup: %s", strerror(errno));
		return;
	}
	struct ibv_wc wc;
	CHECK(ibv_req_notify_cq(recv_cq, 1) == 0, "arm for solicited completions only");
	CHECK(post_recv(b, 1, dst, 0, MSG) == 0, "ibv_post_recv");
	struct ibv_sge sge = { (uintptr_t)src->addr, 16, src->lkey };
	struct ibv_send_wr wr = { .wr_id = 2, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED | IBV_SEND_SOLICITED },
			   *bad;
	CHECK(ibv_post_send(a, &wr, &bad) == 0, "a solicited SEND");
	CHECK(poll_n(send_cq, &wc, 1) == 1 && wc.status == IBV_WC_SUCCESS, "send completion");
	struct pollfd pfd = { .fd = channel->fd, .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1, "an event for the solicited receive");
	struct ibv_cq *event_cq;
	void *event_context;
	if (pfd.revents & POLLIN) {
		CHECK(ibv_get_cq_event(channel, &event_cq, &event_context) == 0 && event_cq == recv_cq, "the event names the receive CQ");
		ibv_ack_cq_events(recv_cq, 1);
	}
	CHECK(poll_n(recv_cq, &wc, 1) == 1 && wc.opcode == IBV_WC_RECV && wc.wr_id == 1, "the receive completion");
	CHECK(ibv_destroy_qp(a) == 0 && ibv_destroy_qp(b) == 0, "destroy");
	CHECK(ibv_destroy_cq(send_cq) == 0 && ibv_destroy_cq(recv_cq) == 0 && ibv_destroy_comp_channel(channel) == 0,
	      "destroy CQs and channel");
}

/* A send-only QP (no receive queue) of a program with a CQ per direction. */
static void a_send_only_qp_may_name_its_own_recv_cq(struct ibv_context *ctx, struct ibv_pd *pd)
{
	struct ibv_cq *send_cq = ibv_create_cq(ctx, 8, NULL, NULL, 0), *recv_cq = ibv_create_cq(ctx, 8, NULL, NULL, 0);
	struct ibv_qp_init_attr attr = { .send_cq = send_cq, .recv_cq = recv_cq, .cap = { .max_send_wr = 4 },
					 .qp_type = IBV_QPT_RC };
	struct ibv_qp *qp = ibv_create_qp(pd, &attr);
	CHECK(qp != NULL, "a QP without a receive queue and a recv CQ of its own: %s", strerror(errno));
	CHECK(ibv_destroy_cq(recv_cq) == EBUSY, "its recv CQ is held while it lives");
	CHECK(!qp || ibv_destroy_qp(qp) == 0, "destroy");
	CHECK(ibv_destroy_cq(recv_cq) == 0 && ibv_destroy_cq(send_cq) == 0, "destroy CQs");
}

/* Failures stop both QPs of the pair: each case runs on a fresh pair. */
static void too_short_a_receive(struct side *a, struct side *b, struct ibv_mr *src, struct ibv_mr *dst)
{
	struct ibv_wc wc;
	CHECK(post_recv(b->qp, 1, dst, 0, 16) == 0, "ibv_post_recv");
	CHECK(post_send(a->qp, 2, src, 0, 64) == 0, "ibv_post_send");
	CHECK(poll_n(a->send_cq, &wc, 1) == 1 && wc.status == IBV_WC_REM_INV_REQ_ERR, "sender: %s",
	      ibv_wc_status_str(wc.status));
	CHECK(poll_n(b->recv_cq, &wc, 1) == 1 && wc.status == IBV_WC_LOC_LEN_ERR && wc.wr_id == 1, "receiver: %s",
	      ibv_wc_status_str(wc.status));
}

static void no_receive_posted(struct side *a, struct side *b, struct ibv_mr *src, struct ibv_mr *dst)
{
	struct ibv_wc wc;
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	CHECK(post_send(a->qp, 3, src, 0, 64) == 0, "ibv_post_send");
	CHECK(poll_n(a->send_cq, &wc, 1) == 1 && wc.status == IBV_WC_RNR_RETRY_EXC_ERR, "sender: %s",
	      ibv_wc_status_str(wc.status));
	CHECK(ibv_query_qp(a->qp, &attr, IBV_QP_STATE, &init) == 0 && attr.qp_state == IBV_QPS_ERR, "sender in ERR");
	/* The receiver is untouched; moved to ERR, what it has posted is flushed. */
	CHECK(post_recv(b->qp, 4, dst, 0, 64) == 0, "ibv_post_recv");
	attr.qp_state = IBV_QPS_ERR;
	CHECK(ibv_modify_qp(b->qp, &attr, IBV_QP_STATE) == 0, "modify to ERR");
	CHECK(poll_n(b->recv_cq, &wc, 1) == 1 && wc.status == IBV_WC_WR_FLUSH_ERR && wc.wr_id == 4 &&
		      wc.opcode == IBV_WC_RECV,
	      "flushed receive: %s", ibv_wc_status_str(wc.status));
}

static int make_pair(struct ibv_context *ctx, struct ibv_pd *pd, struct side *a, struct side *b)
{
	struct side *sides[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		sides[i]->send_cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
		sides[i]->recv_cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
		if (!sides[i]->send_cq || !sides[i]->recv_cq)
			return -1;
		sides[i]->qp = create_qp(pd, sides[i]->send_cq, sides[i]->recv_cq);
		if (!sides[i]->qp)
			return -1;
	}
	if (connect_qp(a->qp, b->qp->qp_num) || connect_qp(b->qp, a->qp->qp_num))
		return -1;
	return 0;
}

static void destroy_pair(struct side *a, struct side *b)
{
	struct side *sides[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		CHECK(ibv_destroy_qp(sides[i]->qp) == 0, "ibv_destroy_qp");
		CHECK(ibv_destroy_cq(sides[i]->send_cq) == 0 && ibv_destroy_cq(sides[i]->recv_cq) == 0, "ibv_destroy_cq");
	}
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no device: run under accel-run\n");
		return 1;
	}
	struct ibv_context *ctx = ibv_open_device(list[0]);
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	char *src_buf = malloc(COUNT * MSG), *dst_buf = calloc(COUNT, MSG);
	struct ibv_mr *src = pd ? ibv_reg_mr(pd, src_buf, COUNT * MSG, 0) : NULL;
	struct ibv_mr *dst = pd ? ibv_reg_mr(pd, dst_buf, COUNT * MSG, IBV_ACCESS_LOCAL_WRITE) : NULL;
	if (!src || !dst) {
		perror("setup");
		return 1;
	}
	for (int i = 0; i < COUNT * MSG; i++)
		src_buf[i] = (char)(i * 13 + 5);

	void (*const cases[])(struct side *, struct side *, struct ibv_mr *, struct ibv_mr *) = {
		lists_of_receives_and_sends, send_through_the_wr_interface, post_recv_inside_a_send_sequence,
		too_short_a_receive, no_receive_posted
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct side a, b;
		if (make_pair(ctx, pd, &a, &b)) {
			perror("make_pair");
			return 1;
		}
		if (i == 0) {
			query_reports_the_connection(&a, &b);
			two_sges_per_receive_are_einval(&b, dst);
		}
		cases[i](&a, &b, src, dst);
		destroy_pair(&a, &b);
	}
	a_solicited_send_wakes_the_receiver(ctx, pd, src, dst);
	a_send_only_qp_may_name_its_own_recv_cq(ctx, pd);
	CHECK(ibv_dereg_mr(src) == 0 && ibv_dereg_mr(dst) == 0, "ibv_dereg_mr");
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	CHECK(ibv_close_device(ctx) == 0, "ibv_close_device");
	ibv_free_device_list(list);
	printf("send_recv: %d failure(s)\n", failures);
	return failures != 0;
}
