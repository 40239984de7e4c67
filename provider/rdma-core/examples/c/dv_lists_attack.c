/*
 * A hostile program's SGE lists through acceldv.h's *_list builders (a reviewer's attack on
 * them), embedded and on the daemon's device, where memory the application did not share is
 * reached by copies: entries of length 0 (at a region's end too), an output entry of a
 * deregistered region (IBV_WC_LOC_PROT_ERR, nothing written), output entries over each other,
 * over the tag and over the AAD (IBV_WC_LOC_QP_OP_ERR with vendor error 16, Overlap, nothing
 * written), in place cut differently and shifted over the input (the one-SGE result), a
 * tampered tag through lists (ACCELDV_WC_AUTH_FAILED, every output byte zero, nothing else
 * written), list and one-SGE builders interleaved in one sequence, an aborted sequence of list
 * builders and the next one reusing its slots, ibv_wr_set_sge after a list builder (EINVAL),
 * more list requests than the send queue holds (ENOMEM, nothing posted), counts of SIZE_MAX,
 * 2^62, 2^59 and 17 and a NULL attribute (EINVAL), a full queue of list requests.
 *
 *   cc dv_lists_attack.c -I../../include -libverbs -laccel_rdmav34 -o dv_lists_attack && accel-run ./dv_lists_attack
 */
#include <errno.h>
#include <infiniband/acceldv.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

#define MARK 0xee

static struct ibv_sge sge(void *addr, uint32_t length, struct ibv_mr *mr)
{
	return (struct ibv_sge){ (uintptr_t)addr, length, mr ? mr->lkey : 0 };
}
static int untouched(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != MARK)
			return 0;
	return 1;
}
static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

int main(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = list && list[0] ? ibv_open_device(list[0]) : NULL;
	if (!ctx) return 1;
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	enum { N = 8192 };
	uint8_t *plain = malloc(N), *out = malloc(N), *out2 = malloc(N), *misc = malloc(4096), *gone = malloc(4096);
	for (int i = 0; i < N; i++) plain[i] = (uint8_t)(i * 7 + 3);
	memset(out, MARK, N); memset(out2, MARK, N); memset(misc, MARK, 4096); memset(gone, MARK, 4096);
	int w = IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *plain_mr = ibv_reg_mr(pd, plain, N, w), *out_mr = ibv_reg_mr(pd, out, N, w),
		*out2_mr = ibv_reg_mr(pd, out2, N, w), *misc_mr = ibv_reg_mr(pd, misc, 4096, w), *gone_mr = ibv_reg_mr(pd, gone, 4096, w);
	uint32_t gone_lkey = gone_mr->lkey;
	CHECK(ibv_dereg_mr(gone_mr) == 0, "deregister");
	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq, .recv_cq = cq, .cap = { .max_send_wr = 8, .max_send_sge = 1 }, .qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS, .pd = pd,
		.send_ops_flags = IBV_QP_EX_WITH_SEND,
	};
	struct acceldv_qp_init_attr dv_init = { .send_ops_flags = ACCELDV_QP_EX_WITH_NOP | ACCELDV_QP_EX_WITH_COPY |
		ACCELDV_QP_EX_WITH_COMPRESS | ACCELDV_QP_EX_WITH_DECOMPRESS | ACCELDV_QP_EX_WITH_ENCRYPT | ACCELDV_QP_EX_WITH_DECRYPT };
	struct ibv_qp *qp = acceldv_create_qp(ctx, &init, &dv_init);
	if (!qp || connect_to_self(qp)) { perror("qp"); return 1; }
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct acceldv_qp_ex *dv = acceldv_qp_ex_from_ibv_qp_ex(qpx);
	qpx->wr_flags = IBV_SEND_SIGNALED;
	struct acceldv_wc wc;
	uint8_t km[16];
	for (int i = 0; i < 16; i++) km[i] = (uint8_t)i;
	struct acceldv_crypto_key *key = acceldv_create_crypto_key(pd, ACCELDV_KEY_AES_128_GCM, km, 16);
	uint8_t *tag = misc, *tag2 = misc + 16, *aad = misc + 64;
	for (int i = 0; i < 40; i++) aad[i] = (uint8_t)i;
	struct ibv_sge tag_sge = sge(tag, 16, misc_mr), tag2_sge = sge(tag2, 16, misc_mr), aad_sge = sge(aad, 40, misc_mr);
	struct acceldv_crypto_attr gcm = { .key = key, .aad = &aad_sge, .tag = &tag_sge };
	memset(gcm.iv, 0x11, 12);

	/* reference: one SGE a side */
	struct ibv_sge p1 = sge(plain, 3000, plain_mr), o1 = sge(out2, 3000, out2_mr);
	ibv_wr_start(qpx); qpx->wr_id = 1;
	acceldv_wr_encrypt(dv, &gcm, &p1, &o1);
	CHECK(ibv_wr_complete(qpx) == 0, "reference posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS, "reference encrypt %#x", wc.wc.status);

	/* zero-length entries, including one with lkey 0 and address 0, on both sides */
	gcm.tag = &tag2_sge;
	struct ibv_sge in_z[5] = { sge(plain + N, 0, plain_mr), sge(plain, 1000, plain_mr), sge(plain + 5000, 0, plain_mr), sge(plain + 1000, 2000, plain_mr), sge(plain, 0, plain_mr) };
	struct ibv_sge out_z[4] = { sge(out, 0, out_mr), sge(out, 1, out_mr), sge(out + N, 0, out_mr), sge(out + 1, 2999, out_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 2;
	acceldv_wr_encrypt_list(dv, &gcm, in_z, 5, out_z, 4);
	CHECK(ibv_wr_complete(qpx) == 0, "zero-length entries post");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == 3000 && memcmp(out, out2, 3000) == 0 && memcmp(tag, tag2, 16) == 0 && untouched(out + 3000, N - 3000),
	      "zero-length entries: status %#x vendor %u len %u", wc.wc.status, wc.wc.vendor_err, wc.wc.byte_len);
	if (wc.wc.status) connect_to_self(qp);

	/* deregistered MR's lkey as an output entry */
	memset(out, MARK, N);
	struct ibv_sge out_gone[2] = { sge(out, 1000, out_mr), sge(gone, 2000, NULL) };
	out_gone[1].lkey = gone_lkey;
	ibv_wr_start(qpx); qpx->wr_id = 3;
	acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, out_gone, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "deregistered posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_LOC_PROT_ERR && untouched(out, N) && untouched(gone, 4096), "deregistered lkey: %#x vendor %u", wc.wc.status, wc.wc.vendor_err);
	connect_to_self(qp);

	/* outputs overlapping each other */
	struct ibv_sge out_ov[2] = { sge(out, 2000, out_mr), sge(out + 1999, 1001, out_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 4;
	acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, out_ov, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "overlap posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_LOC_QP_OP_ERR && wc.wc.vendor_err == 16 && untouched(out, N), "outputs overlapping: %#x vendor %u", wc.wc.status, wc.wc.vendor_err);
	connect_to_self(qp);
	/* output entry over the tag */
	struct ibv_sge out_tag[2] = { sge(out, 2990, out_mr), sge(misc + 10, 10, misc_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 5;
	acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, out_tag, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "overlap tag posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_LOC_QP_OP_ERR && wc.wc.vendor_err == 16 && untouched(out, N), "output over tag: %#x vendor %u", wc.wc.status, wc.wc.vendor_err);
	connect_to_self(qp);
	/* output entry over the AAD */
	struct ibv_sge out_aad[2] = { sge(out, 2990, out_mr), sge(aad + 30, 10, misc_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 6;
	acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, out_aad, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "overlap aad posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_LOC_QP_OP_ERR && wc.wc.vendor_err == 16 && untouched(out, N), "output over aad: %#x vendor %u", wc.wc.status, wc.wc.vendor_err);
	connect_to_self(qp);

	/* in place, cut differently: copy plain to out, encrypt out -> out */
	memcpy(out, plain, 3000);
	struct ibv_sge ip_in[3] = { sge(out, 7, out_mr), sge(out + 7, 2000, out_mr), sge(out + 2007, 993, out_mr) };
	struct ibv_sge ip_out[2] = { sge(out, 1500, out_mr), sge(out + 1500, 1500, out_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 7;
	acceldv_wr_encrypt_list(dv, &gcm, ip_in, 3, ip_out, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "in place posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && memcmp(out, out2, 3000) == 0 && memcmp(tag2, tag, 16) == 0, "in place cut differently %#x", wc.wc.status);
	/* shifted over input by 1 */
	memcpy(out + 1, plain, 3000);
	struct ibv_sge sh_in[2] = { sge(out + 1, 1000, out_mr), sge(out + 1001, 2000, out_mr) };
	struct ibv_sge sh_out[2] = { sge(out, 2500, out_mr), sge(out + 2500, 500, out_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 8;
	acceldv_wr_encrypt_list(dv, &gcm, sh_in, 2, sh_out, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "shift posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && memcmp(out, out2, 3000) == 0, "shifted over input %#x", wc.wc.status);

	/* decrypt with a tampered tag through lists: every output zeroed, nothing else */
	memset(out, MARK, N);
	tag2[3] ^= 1;
	struct ibv_sge ct_in[2] = { sge(out2, 100, out2_mr), sge(out2 + 100, 2900, out2_mr) };
	struct ibv_sge pt_out[3] = { sge(out + 10, 10, out_mr), sge(out + 100, 2000, out_mr), sge(out + 4000, 4000, out_mr) };
	ibv_wr_start(qpx); qpx->wr_id = 9;
	acceldv_wr_decrypt_list(dv, &gcm, ct_in, 2, pt_out, 3);
	CHECK(ibv_wr_complete(qpx) == 0, "tampered posts");
	wc = next_completion(cq);
	CHECK((int)wc.wc.status == ACCELDV_WC_AUTH_FAILED && all_zero(out + 10, 10) && all_zero(out + 100, 2000) && all_zero(out + 4000, 990) && untouched(out + 4990, N - 4990) && untouched(out, 10) && untouched(out + 20, 80) && untouched(out + 2100, 1900),
	      "tampered tag through lists: %#x", wc.wc.status);
	tag2[3] ^= 1;

	/* interleave: nop, compress_list, encrypt (one SGE), encrypt_list, copy, send; then check */
	memset(out, MARK, N);
	struct acceldv_comp_attr gzip = { .format = ACCELDV_COMP_GZIP, .level = 1 };
	struct ibv_sge z_in[2] = { sge(plain, 4000, plain_mr), sge(plain + 4000, 4192, plain_mr) };
	struct ibv_sge z_out[2] = { sge(out + 4096, 2000, out_mr), sge(out + 6096, 2096, out_mr) };
	struct ibv_sge e_out[2] = { sge(out, 1000, out_mr), sge(out + 1000, 2000, out_mr) };
	struct ibv_sge o3 = sge(out + 3000, 1000, out_mr), p3 = sge(plain, 1000, plain_mr);
	gcm.tag = &tag2_sge;
	ibv_wr_start(qpx);
	qpx->wr_id = 20; acceldv_wr_nop(dv);
	qpx->wr_id = 21; acceldv_wr_compress_list(dv, &gzip, z_in, 2, z_out, 2);
	qpx->wr_id = 22; gcm.tag = &tag_sge; acceldv_wr_encrypt(dv, &gcm, &p3, &o3);
	qpx->wr_id = 23; gcm.tag = &tag2_sge; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2);
	qpx->wr_id = 24; acceldv_wr_copy(dv, out_mr->lkey, (uintptr_t)(out + 4000), plain_mr->lkey, (uintptr_t)plain, 96);
	CHECK(ibv_wr_complete(qpx) == 0, "interleaved posts");
	for (int i = 0; i < 5; i++) {
		wc = next_completion(cq);
		CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.wr_id == 20u + i, "interleaved #%d: wr_id %llu status %#x", i, (unsigned long long)wc.wc.wr_id, wc.wc.status);
	}
	CHECK(memcmp(out, out2, 3000) == 0 && memcmp(out + 4000, plain, 96) == 0, "interleaved results");

	/* abort after a list builder, then a sequence reusing the slots with other lists */
	memset(out, MARK, N);
	struct ibv_sge bad_out[2] = { sge(out + 5000, 10, out_mr), sge(out + 6000, 10, out_mr) };
	ibv_wr_start(qpx);
	qpx->wr_id = 30; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, bad_out, 2);
	qpx->wr_id = 31; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, bad_out, 2);
	ibv_wr_abort(qpx);
	CHECK(acceldv_poll_cq(cq, 1, &wc) == 0, "abort posted nothing");
	ibv_wr_start(qpx);
	qpx->wr_id = 32; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "after abort posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.wr_id == 32 && memcmp(out, out2, 3000) == 0 && untouched(out + 3000, N - 3000), "after abort %#x", wc.wc.status);

	/* set_sge after a list builder; list builder after send */
	ibv_wr_start(qpx);
	qpx->wr_id = 40; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2);
	ibv_wr_set_sge(qpx, out_mr->lkey, (uintptr_t)out, 10);
	int r = ibv_wr_complete(qpx);
	CHECK(r == EINVAL && acceldv_poll_cq(cq, 1, &wc) == 0, "set_sge after list builder: %d", r);

	/* more list requests than the send queue holds */
	ibv_wr_start(qpx);
	for (int i = 0; i < 20; i++) { qpx->wr_id = 50 + i; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2); }
	r = ibv_wr_complete(qpx);
	CHECK(r == ENOMEM && acceldv_poll_cq(cq, 1, &wc) == 0, "queue full: %d", r);
	/* list builders outside a sequence */
	acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2);
	CHECK(acceldv_poll_cq(cq, 1, &wc) == 0, "outside a sequence: nothing");
	/* huge counts */
	size_t counts[] = { SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 62, (size_t)1 << 59, 17 };
	for (int i = 0; i < 5; i++) {
		ibv_wr_start(qpx); qpx->wr_id = 60;
		acceldv_wr_encrypt_list(dv, &gcm, &p1, counts[i], e_out, 2);
		r = ibv_wr_complete(qpx);
		CHECK(r == EINVAL, "count %zu: %d", counts[i], r);
	}
	/* null attr */
	ibv_wr_start(qpx);
	acceldv_wr_encrypt_list(dv, NULL, &p1, 1, e_out, 2);
	r = ibv_wr_complete(qpx);
	CHECK(r == EINVAL, "null attr %d", r);
	/* many sequences after all that still work */
	ibv_wr_start(qpx);
	for (int i = 0; i < 8; i++) { qpx->wr_id = 70 + i; acceldv_wr_encrypt_list(dv, &gcm, &p1, 1, e_out, 2); }
	r = ibv_wr_complete(qpx);
	CHECK(r == 0, "a full queue of lists %d", r);
	for (int i = 0; i < 8; i++) { wc = next_completion(cq); CHECK(wc.wc.status == 0 && wc.wc.wr_id == 70u + i, "full queue #%d %#x", i, wc.wc.status); }
	CHECK(acceldv_destroy_crypto_key(key) == 0, "destroy the key");
	CHECK(ibv_destroy_qp(qp) == 0 && ibv_destroy_cq(cq) == 0, "destroy the QP and CQ");
	struct ibv_mr *mrs[] = { plain_mr, out_mr, out2_mr, misc_mr };
	for (size_t i = 0; i < sizeof mrs / sizeof mrs[0]; i++)
		CHECK(ibv_dereg_mr(mrs[i]) == 0, "deregister region %zu", i);
	CHECK(ibv_dealloc_pd(pd) == 0 && ibv_close_device(ctx) == 0, "teardown");
	ibv_free_device_list(list);
	printf("dv_lists_attack: %d failure(s)\n", failures);
	return failures != 0;
}
