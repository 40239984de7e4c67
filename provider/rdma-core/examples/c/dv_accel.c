/*
 * The accelerator through acceldv.h: query the device's operations, create a QP with the
 * accelerator builders, then in ibv_wr_* sequences a NOP and a COPY, a one-shot gzip
 * compression checked by zlib (inflate, CRC-32), a decompression in two requests through a
 * compression context (consumed counts, end of stream), and a too-small output that
 * completes with ACCELDV_WC_OUTPUT_TOO_SMALL and leaves the QP usable. Completions come
 * from acceldv_poll_cq, with the accelerator's fields.
 *
 *   cc dv_accel.c -I../../include -libverbs -laccel_rdmav34 -lz -o dv_accel && accel-run ./dv_accel
 */
#include <errno.h>
#include <infiniband/acceldv.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LEN (64 * 1024)

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/* Waits for one completion, which must have `status` (an ibv_wc_status or acceldv's). */
static int complete(struct ibv_cq *cq, uint64_t wr_id, int status, struct acceldv_wc *out)
{
	int n;
	while ((n = acceldv_poll_cq(cq, 1, out)) == 0)
		;
	if (n < 0 || out->wc.wr_id != wr_id || (int)out->wc.status != status) {
		fprintf(stderr, "completion %llu: status %#x (want %#x), vendor error %u\n",
			(unsigned long long)out->wc.wr_id, out->wc.status, status, out->wc.vendor_err);
		return 1;
	}
	return 0;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = list && list[0] ? ibv_open_device(list[0]) : NULL;
	if (!ctx) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct acceldv_device_attr dev = { 0 };
	if (acceldv_query_device(ctx, &dev))
		return fail("acceldv_query_device");
	if (!(dev.opcodes & (1u << ACCELDV_OP_COPY)) || !(dev.opcodes & (1u << ACCELDV_OP_COMPRESS)) ||
	    !(dev.compress_formats & (1u << ACCELDV_COMP_GZIP))) {
		fprintf(stderr, "the device lacks COPY, COMPRESS or gzip\n");
		return 1;
	}

	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = pd ? ibv_create_cq(ctx, 16, NULL, NULL, 0) : NULL;
	char *text = malloc(LEN), *packed = malloc(LEN), *unpacked = malloc(LEN), *small = malloc(100);
	for (int i = 0; i < LEN; i++)
		text[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44] + (i % 4096 == 0);
	struct ibv_mr *text_mr = ibv_reg_mr(pd, text, LEN, 0);
	struct ibv_mr *packed_mr = ibv_reg_mr(pd, packed, LEN, IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *unpacked_mr = ibv_reg_mr(pd, unpacked, LEN, IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *small_mr = ibv_reg_mr(pd, small, 100, IBV_ACCESS_LOCAL_WRITE);
	if (!cq || !text_mr || !packed_mr || !unpacked_mr || !small_mr)
		return fail("setup");

	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
		.send_ops_flags = 0,
	};
	struct acceldv_qp_init_attr dv_init = {
		.send_ops_flags = ACCELDV_QP_EX_WITH_NOP | ACCELDV_QP_EX_WITH_COPY | ACCELDV_QP_EX_WITH_COMPRESS |
				  ACCELDV_QP_EX_WITH_DECOMPRESS,
		.max_decompress_ratio = 0,
	};
	struct ibv_qp *qp = acceldv_create_qp(ctx, &init, &dv_init);
	if (!qp)
		return fail("acceldv_create_qp");
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct acceldv_qp_ex *dvqp = acceldv_qp_ex_from_ibv_qp_ex(qpx);
	if (!dvqp)
		return fail("acceldv_qp_ex_from_ibv_qp_ex");
	enum ibv_qp_state states[] = { IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS };
	for (int i = 0; i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = qp->qp_num };
		if (ibv_modify_qp(qp, &attr, IBV_QP_STATE))
			return fail("ibv_modify_qp");
	}
	struct acceldv_wc wc;

	/* A NOP and a COPY in one sequence. */
	ibv_wr_start(qpx);
	qpx->wr_id = 1;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	acceldv_wr_nop(dvqp);
	qpx->wr_id = 2;
	acceldv_wr_copy(dvqp, unpacked_mr->lkey, (uintptr_t)unpacked, text_mr->lkey, (uintptr_t)text, LEN);
	if (ibv_wr_complete(qpx))
		return fail("ibv_wr_complete");
	if (complete(cq, 1, IBV_WC_SUCCESS, &wc) || wc.opcode != ACCELDV_OP_NOP || wc.wc.opcode != IBV_WC_DRIVER1)
		return fprintf(stderr, "the NOP\n"), 1;
	if (complete(cq, 2, IBV_WC_SUCCESS, &wc) || wc.opcode != ACCELDV_OP_COPY || wc.wc.byte_len != LEN ||
	    memcmp(text, unpacked, LEN))
		return fprintf(stderr, "the COPY\n"), 1;

	/* One-shot gzip; zlib checks the result. */
	struct ibv_sge in = { (uintptr_t)text, LEN, text_mr->lkey }, out = { (uintptr_t)packed, LEN, packed_mr->lkey };
	struct acceldv_comp_attr gzip = { .format = ACCELDV_COMP_GZIP, .level = 6 };
	ibv_wr_start(qpx);
	qpx->wr_id = 3;
	acceldv_wr_compress(dvqp, &gzip, &in, &out);
	if (ibv_wr_complete(qpx) || complete(cq, 3, IBV_WC_SUCCESS, &wc))
		return fprintf(stderr, "the compression\n"), 1;
	uint32_t packed_len = wc.wc.byte_len;
	uLong crc = crc32(0, (const Bytef *)text, LEN);
	if (wc.consumed != LEN || wc.checksum != crc || !(wc.flags & ACCELDV_WC_END_OF_STREAM) || packed_len >= LEN / 4)
		return fprintf(stderr, "compression fields: consumed %u, checksum %#x (zlib %#lx), %u bytes\n", wc.consumed,
			       wc.checksum, crc, packed_len), 1;
	z_stream z = { 0 };
	char *check = malloc(LEN);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return 1;
	z.next_in = (Bytef *)packed;
	z.avail_in = packed_len;
	z.next_out = (Bytef *)check;
	z.avail_out = LEN;
	if (inflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out != LEN || memcmp(check, text, LEN))
		return fprintf(stderr, "zlib does not read the device's gzip back\n"), 1;
	inflateEnd(&z);

	/* Decompression in two requests through a context. */
	struct acceldv_comp_stream *stream = acceldv_create_comp_stream(pd, ACCELDV_COMP_GZIP, ACCELDV_COMP_DECOMPRESS, 0);
	if (!stream)
		return fail("acceldv_create_comp_stream");
	memset(unpacked, 0, LEN);
	uint32_t half = packed_len / 2, produced = 0;
	struct acceldv_comp_attr in_stream = { .format = ACCELDV_COMP_GZIP, .stream = stream };
	for (int part = 0; part < 2; part++) {
		struct ibv_sge chunk = { (uintptr_t)packed + part * half, part ? packed_len - half : half, packed_mr->lkey };
		struct ibv_sge room = { (uintptr_t)unpacked + produced, LEN - produced, unpacked_mr->lkey };
		ibv_wr_start(qpx);
		qpx->wr_id = 4 + part;
		acceldv_wr_decompress(dvqp, &in_stream, &chunk, &room);
		if (ibv_wr_complete(qpx) || complete(cq, 4 + part, IBV_WC_SUCCESS, &wc))
			return fprintf(stderr, "decompression part %d\n", part), 1;
		if (wc.consumed != chunk.length || !!(wc.flags & ACCELDV_WC_END_OF_STREAM) != part)
			return fprintf(stderr, "part %d: consumed %u of %u, flags %#x\n", part, wc.consumed, chunk.length,
				       wc.flags), 1;
		produced += wc.wc.byte_len;
	}
	if (produced != LEN || memcmp(unpacked, text, LEN))
		return fprintf(stderr, "the stream decoded %u bytes, not the text\n", produced), 1;
	if (acceldv_destroy_comp_stream(stream))
		return fail("acceldv_destroy_comp_stream");

	/* Too small an output: a recoverable status, the QP goes on. */
	struct ibv_sge tiny = { (uintptr_t)small, 100, small_mr->lkey };
	struct acceldv_comp_attr one_shot = { .format = ACCELDV_COMP_GZIP };
	struct ibv_sge all = { (uintptr_t)packed, packed_len, packed_mr->lkey };
	ibv_wr_start(qpx);
	qpx->wr_id = 6;
	acceldv_wr_decompress(dvqp, &one_shot, &all, &tiny);
	qpx->wr_id = 7;
	acceldv_wr_nop(dvqp);
	if (ibv_wr_complete(qpx) || complete(cq, 6, ACCELDV_WC_OUTPUT_TOO_SMALL, &wc) || wc.wc.byte_len != 100 ||
	    memcmp(small, text, 100) || complete(cq, 7, IBV_WC_SUCCESS, &wc))
		return fprintf(stderr, "the too-small output\n"), 1;

	/* A builder the QP was not created with: EINVAL at completion, nothing posted. */
	struct acceldv_qp_init_attr nop_only = { .send_ops_flags = ACCELDV_QP_EX_WITH_NOP };
	struct ibv_qp *narrow = acceldv_create_qp(ctx, &init, &nop_only);
	struct ibv_qp_ex *narrow_qpx = narrow ? ibv_qp_to_qp_ex(narrow) : NULL;
	struct acceldv_qp_ex *narrow_dv = narrow_qpx ? acceldv_qp_ex_from_ibv_qp_ex(narrow_qpx) : NULL;
	if (!narrow_dv)
		return fail("a NOP-only QP");
	for (int i = 0; i < 3; i++) {
		struct ibv_qp_attr attr = { .qp_state = states[i], .port_num = 1, .dest_qp_num = narrow->qp_num };
		if (ibv_modify_qp(narrow, &attr, IBV_QP_STATE))
			return fail("ibv_modify_qp");
	}
	ibv_wr_start(narrow_qpx);
	narrow_qpx->wr_id = 8;
	acceldv_wr_copy(narrow_dv, unpacked_mr->lkey, (uintptr_t)unpacked, text_mr->lkey, (uintptr_t)text, 16);
	if (ibv_wr_complete(narrow_qpx) != EINVAL || acceldv_poll_cq(cq, 1, &wc) != 0)
		return fprintf(stderr, "a COPY on a NOP-only QP was not refused\n"), 1;

	if (ibv_destroy_qp(narrow) || ibv_destroy_qp(qp) || ibv_destroy_cq(cq) || ibv_dereg_mr(text_mr) || ibv_dereg_mr(packed_mr) ||
	    ibv_dereg_mr(unpacked_mr) || ibv_dereg_mr(small_mr) || ibv_dealloc_pd(pd) || ibv_close_device(ctx))
		return fail("teardown");
	ibv_free_device_list(list);
	printf("dv_accel: NOP, COPY, gzip %d -> %u bytes (zlib agrees), a 2-part stream, OUTPUT_TOO_SMALL\n", LEN,
	       packed_len);
	return 0;
}
