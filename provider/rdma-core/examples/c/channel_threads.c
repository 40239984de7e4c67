/*
 * Completion channels under load: four threads, each with its own channel, CQ and QP, wait
 * for their completions with epoll (200 rounds of arm, post, wait, ack, poll); then two CQs
 * share one channel and a single waiter tells their events apart; and a forked child that
 * tries to create a channel on the parent's context is refused, leaving the parent's
 * channels working.
 *
 *   cc channel_threads.c -libverbs -lpthread -o channel_threads && accel-run ./channel_threads
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 200

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static char *src, *dst;
static struct ibv_mr *src_mr, *dst_mr;

static struct ibv_qp *rc_qp(struct ibv_cq *cq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .cap = { .max_send_wr = 4, .max_send_sge = 1 }, .qp_type = IBV_QPT_RC
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &init);
	enum ibv_qp_state states[] = { IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; qp && i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			return NULL;
	}
	return qp;
}

static int post_write(struct ibv_qp *qp, uint64_t wr_id, int slot)
{
	struct ibv_sge sge = { .addr = (uintptr_t)src + slot * 64, .length = 64, .lkey = src_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	wr.wr.rdma.remote_addr = (uintptr_t)dst + slot * 64;
	wr.wr.rdma.rkey = dst_mr->rkey;
	return ibv_post_send(qp, &wr, &bad);
}

/*
 * One completion of `cq` through its channel: wait (with epoll on `ep` if it is not -1), get
 * the event (which must name `cq`), ack, re-arm, poll; an event that finds nothing new (arming
 * while a completion waits raises one at once) means waiting again. 0, or what went wrong.
 */
static const char *await_one(struct ibv_comp_channel *channel, struct ibv_cq *cq, int ep, struct ibv_wc *wc)
{
	for (int events = 0; events < 100; events++) {
		struct epoll_event ready;
		if (ep >= 0 && epoll_wait(ep, &ready, 1, 10000) != 1)
			return "epoll_wait timed out";
		struct ibv_cq *event_cq;
		void *event_context;
		if (ibv_get_cq_event(channel, &event_cq, &event_context))
			return "ibv_get_cq_event";
		if (event_cq != cq || event_context != cq->cq_context)
			return "the event names another CQ";
		ibv_ack_cq_events(cq, 1);
		if (ibv_req_notify_cq(cq, 0))
			return "re-arm";
		int n = ibv_poll_cq(cq, 1, wc);
		if (n < 0)
			return "ibv_poll_cq";
		if (n == 1)
			return NULL;
	}
	return "100 events without a completion";
}

static void *worker(void *arg)
{
	long id = (long)arg;
	struct ibv_comp_channel *channel = ibv_create_comp_channel(ctx);
	struct ibv_cq *cq = channel ? ibv_create_cq(ctx, 4, (void *)arg, channel, 0) : NULL;
	struct ibv_qp *qp = cq ? rc_qp(cq) : NULL;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (!qp || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, channel->fd, &ev))
		return "setup";
	if (ibv_req_notify_cq(cq, 0))
		return "arm";
	for (int round = 0; round < ROUNDS; round++) {
		if (post_write(qp, round, (int)id))
			return "post";
		struct ibv_wc wc;
		const char *why = await_one(channel, cq, ep, &wc);
		if (why)
			return (void *)why;
		if (wc.status != IBV_WC_SUCCESS || wc.wr_id != (uint64_t)round)
			return "the completion";
	}
	close(ep);
	if (ibv_destroy_qp(qp) || ibv_destroy_cq(cq) || ibv_destroy_comp_channel(channel))
		return "teardown";
	return NULL;
}

/* Two CQs on one channel: one waiter, each event names the CQ that fired. */
static int shared_channel(void)
{
	struct ibv_comp_channel *channel = ibv_create_comp_channel(ctx);
	struct ibv_cq *a = ibv_create_cq(ctx, 4, NULL, channel, 0), *b = ibv_create_cq(ctx, 4, NULL, channel, 0);
	struct ibv_qp *qa = rc_qp(a), *qb = rc_qp(b);
	if (!qa || !qb)
		return 1;
	int seen_a = 0, seen_b = 0;
	if (ibv_req_notify_cq(a, 0) || ibv_req_notify_cq(b, 0))
		return 1;
	for (int round = 0; round < 20; round++) {
		struct ibv_cq *fire = round % 3 ? a : b;
		if (post_write(fire == a ? qa : qb, round, 5))
			return 1;
		/* Only `fire` gets a new completion. An event may name either CQ (a re-arm
		 * while a completion waited raises one at once); each is acked, re-armed and
		 * polled, and the one completion must turn up on the CQ its event names. */
		int got = 0;
		for (int events = 0; !got; events++) {
			struct ibv_cq *event_cq;
			void *event_context;
			struct ibv_wc wc;
			if (events == 100 || ibv_get_cq_event(channel, &event_cq, &event_context) ||
			    (event_cq != a && event_cq != b))
				return fprintf(stderr, "round %d: no event, or one naming no CQ of ours\n", round), 1;
			ibv_ack_cq_events(event_cq, 1);
			if (ibv_req_notify_cq(event_cq, 0))
				return 1;
			int n = ibv_poll_cq(event_cq, 1, &wc);
			if (n == 1 && (event_cq != fire || wc.wr_id != (uint64_t)round))
				return fprintf(stderr, "round %d: a completion on the wrong CQ\n", round), 1;
			got = n == 1;
		}
		*(fire == a ? &seen_a : &seen_b) += 1;
	}
	/* An event nobody reads does not hold up the CQ's destruction. */
	if (ibv_req_notify_cq(a, 0) || post_write(qa, 99, 6))
		return 1;
	struct ibv_wc wc;
	while (ibv_poll_cq(a, 1, &wc) == 0)
		;
	if (ibv_destroy_qp(qa) || ibv_destroy_qp(qb) || ibv_destroy_cq(a) || ibv_destroy_cq(b) ||
	    ibv_destroy_comp_channel(channel))
		return 1;
	printf("shared channel: %d events of one CQ and %d of the other, each named right\n", seen_a, seen_b);
	return 0;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	src = aligned_alloc(4096, 4096);
	dst = aligned_alloc(4096, 4096);
	memset(src, 1, 4096);
	src_mr = pd ? ibv_reg_mr(pd, src, 4096, 0) : NULL;
	dst_mr = pd ? ibv_reg_mr(pd, dst, 4096, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE) : NULL;
	if (!src_mr || !dst_mr) {
		perror("setup");
		return 1;
	}

	pthread_t threads[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, worker, (void *)i);
	int failed = 0;
	for (int i = 0; i < THREADS; i++) {
		void *why;
		pthread_join(threads[i], &why);
		if (why) {
			fprintf(stderr, "thread %d: %s\n", i, (char *)why);
			failed = 1;
		}
	}
	if (failed)
		return 1;
	printf("%d threads x %d rounds of epoll-awaited completions\n", THREADS, ROUNDS);
	if (shared_channel())
		return fprintf(stderr, "shared channel failed\n"), 1;

	pid_t child = fork();
	if (child == 0) {
		errno = 0;
		struct ibv_comp_channel *c = ibv_create_comp_channel(ctx);
		_exit(c == NULL && errno == EPERM ? 0 : 1);
	}
	int status;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fprintf(stderr, "the forked child was not refused with EPERM\n"), 1;
	printf("a forked child's ibv_create_comp_channel is refused with EPERM\n");
	if (shared_channel())
		return fprintf(stderr, "channels after fork failed\n"), 1;

	ibv_dereg_mr(src_mr);
	ibv_dereg_mr(dst_mr);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
