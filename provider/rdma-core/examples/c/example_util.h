/*
 * What the example programs share: CHECK, which counts a failed check and says where it is,
 * so that a program runs all of its checks and ends with "<name>: N failure(s)" (the line the
 * tests look for); hex output for the tests to compare with Python; a QP brought to RTS
 * connected to itself. A program that includes <infiniband/acceldv.h> first also gets
 * next_completion. Found beside the program's source: no -I needed.
 */
#ifndef EXAMPLE_UTIL_H
#define EXAMPLE_UTIL_H

#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>

/* The checks that failed; main returns failures != 0. */
static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			failures++;                                          \
		}                                                            \
	} while (0)

/* Prints "name hex…" on a line of its own. */
static inline void print_hex(const char *name, const uint8_t *bytes, size_t len)
{
	printf("%s ", name);
	for (size_t i = 0; i < len; i++)
		printf("%02x", bytes[i]);
	printf("\n");
}

/* Brings a QP (back) to RTS, connected to itself: from any state, through RESET. */
static inline int connect_to_self(struct ibv_qp *qp)
{
	enum ibv_qp_state states[] = { IBV_QPS_RESET, IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; i < 4; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			return -1;
	}
	return 0;
}

#ifdef ACCELDV_H
/* Waits for one completion of `cq`; a failed poll reads as IBV_WC_GENERAL_ERR. */
static inline struct acceldv_wc next_completion(struct ibv_cq *cq)
{
	struct acceldv_wc wc = { 0 };
	int n;
	while ((n = acceldv_poll_cq(cq, 1, &wc)) == 0)
		;
	if (n < 0)
		wc.wc.status = IBV_WC_GENERAL_ERR;
	return wc;
}
#endif

#endif
