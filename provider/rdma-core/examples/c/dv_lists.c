/*
 * SGE lists through acceldv.h's *_list builders, as a storage engine gathers a block from
 * pieces of its buffers: a gzip compression gathered from 3 pieces in two regions and
 * scattered into 4, read back by zlib, then decompressed from the 4 pieces into 3; an AES-256-GCM encryption from 3 pieces into 4, equal
 * (ciphertext and tag) to the same encryption over one SGE, and its decryption back into 2.
 * Then the refusals: no entry, more entries than the device takes, a NULL list with a count,
 * a count no array holds, unknown flags, a reserved field, a builder the QP was not created
 * with: ibv_wr_complete() returns EINVAL and nothing of the sequence is posted. And the
 * faults the device finds when it runs the request: an entry of another PD's region, an entry
 * past its region's end: IBV_WC_LOC_PROT_ERR, the QP in ERR, nothing written. Prints the GCM
 * key, IV, AAD, plaintext, ciphertext and tag as hex for the test to check against Python's
 * cryptography (tests/verbs_programs.rs).
 *
 *   cc dv_lists.c -I../../include -libverbs -laccel_rdmav34 -lz -o dv_lists && accel-run ./dv_lists
 */
#include <errno.h>
#include <infiniband/acceldv.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "example_util.h"

#define LEN (48 * 1024)
#define TAG 16
#define MARK 0xee /* bytes no request may write */

/* Cqe::vendor_err (uapi/src/cqe.rs, docs/ABI.md): which check failed. */
#define VENDOR_PD_MISMATCH 3
#define VENDOR_OUT_OF_BOUNDS 4

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr;
	struct ibv_qp_init_attr init;
	return ibv_query_qp(qp, &attr, IBV_QP_STATE, &init) ? (enum ibv_qp_state)-1 : attr.qp_state;
}

static struct ibv_sge sge(void *addr, uint32_t length, struct ibv_mr *mr)
{
	return (struct ibv_sge){ (uintptr_t)addr, length, mr->lkey };
}

/* Copies what a list holds, in order, to out; returns the bytes copied. */
static size_t gather(const struct ibv_sge *list, size_t n, uint8_t *out)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(out + at, (const void *)(uintptr_t)list[i].addr, list[i].length);
		at += list[i].length;
	}
	return at;
}

/* Whether len bytes at p all hold MARK. */
static int untouched(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != MARK)
			return 0;
	return 1;
}

static uint8_t *marked(size_t len)
{
	uint8_t *p = malloc(len);
	if (p)
		memset(p, MARK, len);
	return p;
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
	CHECK(acceldv_query_device(ctx, &dev) == 0 && dev.max_sge_list == 16,
	      "the device takes lists of 16 entries a side (max_sge_list %u)", dev.max_sge_list);
	size_t max_list = dev.max_sge_list;

	/* text: the block as the engine sees it; a and b: two regions holding it in 3 pieces. */
	struct ibv_pd *pd = ibv_alloc_pd(ctx), *other_pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = pd ? ibv_create_cq(ctx, 32, NULL, NULL, 0) : NULL;
	uint8_t *text = malloc(LEN), *a = marked(LEN), *b = marked(LEN), *packed = marked(LEN);
	uint8_t *back_a = marked(LEN), *back_b = marked(LEN), *ct = marked(8192), *misc = marked(16384);
	uint8_t *check = malloc(LEN), *foreign = marked(4096);
	uint32_t lcg = 12345;
	for (int i = 0; i < LEN; i++) {
		lcg = lcg * 1103515245 + 12345;
		text[i] = i % 61 == 60 ? '\n' : "etaoinshrdlucmfw"[(lcg >> 16) % 16];
	}
	struct { size_t at; uint8_t *base; size_t offset; size_t len; } pieces[3] = {
		{ 0, a, 100, 10000 }, { 10000, b, 7, 20001 }, { 30001, a, 20000, LEN - 30001 }
	};
	for (int i = 0; i < 3; i++)
		memcpy(pieces[i].base + pieces[i].offset, text + pieces[i].at, pieces[i].len);

	struct ibv_mr *text_mr = ibv_reg_mr(pd, text, LEN, 0), *a_mr = ibv_reg_mr(pd, a, LEN, 0),
		      *b_mr = ibv_reg_mr(pd, b, LEN, 0);
	int w = IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *packed_mr = ibv_reg_mr(pd, packed, LEN, w),
		      *back_a_mr = ibv_reg_mr(pd, back_a, LEN, w), *back_b_mr = ibv_reg_mr(pd, back_b, LEN, w),
		      *ct_mr = ibv_reg_mr(pd, ct, 8192, w), *misc_mr = ibv_reg_mr(pd, misc, 16384, w),
		      *foreign_mr = other_pd ? ibv_reg_mr(other_pd, foreign, 4096, w) : NULL;
	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
	};
	struct acceldv_qp_init_attr dv_init = {
		.send_ops_flags = ACCELDV_QP_EX_WITH_NOP | ACCELDV_QP_EX_WITH_COMPRESS | ACCELDV_QP_EX_WITH_DECOMPRESS |
				  ACCELDV_QP_EX_WITH_ENCRYPT | ACCELDV_QP_EX_WITH_DECRYPT,
	};
	struct ibv_qp *qp = cq && text_mr && a_mr && b_mr && packed_mr && back_a_mr && back_b_mr && ct_mr &&
				    misc_mr && foreign_mr
			    ? acceldv_create_qp(ctx, &init, &dv_init)
			    : NULL;
	if (!qp || connect_to_self(qp)) {
		perror("setup");
		return 1;
	}
	struct ibv_qp_ex *qpx = ibv_qp_to_qp_ex(qp);
	struct acceldv_qp_ex *dv = acceldv_qp_ex_from_ibv_qp_ex(qpx);
	if (!dv || !(dv->comp_mask & ACCELDV_QP_EX_MASK_SGE_LISTS)) {
		fprintf(stderr, "the plugin has no list builders (comp_mask %#llx)\n",
			dv ? (unsigned long long)dv->comp_mask : 0ull);
		return 1;
	}
	qpx->wr_flags = IBV_SEND_SIGNALED;
	struct acceldv_wc wc;

	/* gzip gathered from 3 pieces in a and b, scattered into 4 pieces of packed. */
	struct ibv_sge text_list[3];
	for (int i = 0; i < 3; i++)
		text_list[i] = sge(pieces[i].base + pieces[i].offset, pieces[i].len, pieces[i].base == a ? a_mr : b_mr);
	struct ibv_sge packed_list[4] = {
		sge(packed, 997, packed_mr),
		sge(packed + 2000, 3001, packed_mr),
		sge(packed + 8000, 4096, packed_mr),
		sge(packed + 16000, LEN - 16000, packed_mr),
	};
	struct acceldv_comp_attr gzip = { .format = ACCELDV_COMP_GZIP, .level = 6 };
	ibv_wr_start(qpx);
	qpx->wr_id = 1;
	acceldv_wr_compress_list(dv, &gzip, text_list, 3, packed_list, 4);
	CHECK(ibv_wr_complete(qpx) == 0, "the gathered compression posts");
	wc = next_completion(cq);
	uint32_t packed_len = wc.wc.byte_len;
	uLong crc = crc32(0, text, LEN);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.wr_id == 1 && wc.opcode == ACCELDV_OP_COMPRESS &&
		      wc.consumed == LEN && wc.checksum == crc && (wc.flags & ACCELDV_WC_END_OF_STREAM),
	      "gathered compression: status %#x, consumed %u, checksum %#x (zlib %#lx)", wc.wc.status, wc.consumed,
	      wc.checksum, crc);
	CHECK(packed_len > 997 + 3001 + 4096 && packed_len < LEN - 16000 + 8094, "the output reaches the fourth piece: %u bytes",
	      packed_len);
	CHECK(untouched(packed + 997, 2000 - 997) && untouched(packed + 5001, 8000 - 5001) &&
		      untouched(packed + 12096, 16000 - 12096) && untouched(packed + 16000 + (packed_len - 8094), LEN - 16000 - (packed_len - 8094)),
	      "nothing written between the pieces or past the output");
	uint8_t *flat = malloc(LEN);
	gather(packed_list, 4, flat);
	z_stream z = { 0 };
	CHECK(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "inflateInit2");
	z.next_in = flat;
	z.avail_in = packed_len;
	z.next_out = check;
	z.avail_out = LEN;
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == LEN && memcmp(check, text, LEN) == 0,
	      "zlib reads the scattered gzip back to the text");
	inflateEnd(&z);

	/* Decompressed from the 4 pieces (the last cut to the stream's end) into 3 in two regions. */
	struct ibv_sge stream_list[4];
	memcpy(stream_list, packed_list, sizeof stream_list);
	stream_list[3].length = packed_len - 8094;
	struct ibv_sge back_list[3] = {
		sge(back_a, 5000, back_a_mr),
		sge(back_b + 100, 20000, back_b_mr),
		sge(back_a + 6000, LEN - 25000, back_a_mr),
	};
	struct acceldv_comp_attr gunzip = { .format = ACCELDV_COMP_GZIP };
	ibv_wr_start(qpx);
	qpx->wr_id = 3;
	acceldv_wr_decompress_list(dv, &gunzip, stream_list, 4, back_list, 3);
	CHECK(ibv_wr_complete(qpx) == 0, "the gathered decompression posts");
	wc = next_completion(cq);
	memset(check, 0, LEN);
	gather(back_list, 3, check);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.opcode == ACCELDV_OP_DECOMPRESS && wc.wc.byte_len == LEN &&
		      wc.consumed == packed_len && memcmp(check, text, LEN) == 0,
	      "gathered decompression: status %#x, %u bytes from %u, equal to the text", wc.wc.status, wc.wc.byte_len,
	      wc.consumed);
	CHECK(untouched(back_a + 5000, 1000) && untouched(back_b, 100) && untouched(back_b + 20100, LEN - 20100),
	      "nothing written around the decompressed pieces");

	/* AES-256-GCM: 4099 bytes of the text (text[9000..]) gathered from 3 pieces in a and b. */
	enum { PT_AT = 9000, PT_LEN = 4099, AAD = 0, AAD_LEN = 20, TAGS = 64, CT1 = 256 };
	uint8_t key_material[32], iv[12] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88 };
	for (int i = 0; i < 32; i++)
		key_material[i] = (uint8_t)(i * 3 + 1);
	for (int i = 0; i < AAD_LEN; i++)
		misc[AAD + i] = (uint8_t)(0xa0 + i);
	struct acceldv_crypto_key *key = acceldv_create_crypto_key(pd, ACCELDV_KEY_AES_256_GCM, key_material, 32);
	CHECK(key != NULL, "the GCM key: %s", strerror(errno));
	struct ibv_sge aad = sge(misc + AAD, AAD_LEN, misc_mr), tag = sge(misc + TAGS, TAG, misc_mr),
		       tag1 = sge(misc + TAGS + TAG, TAG, misc_mr);
	struct acceldv_crypto_attr gcm = { .key = key, .aad = &aad, .tag = &tag };
	memcpy(gcm.iv, iv, sizeof iv);
	struct ibv_sge plain_list[3] = {
		sge(a + 100 + PT_AT, 1000, a_mr),
		sge(b + 7, 1500, b_mr),
		sge(b + 7 + 1500, PT_LEN - 2500, b_mr),
	};
	struct ibv_sge ct_list[4] = {
		sge(ct, 17, ct_mr),
		sge(ct + 100, 1000, ct_mr),
		sge(ct + 2000, 2000, ct_mr),
		sge(ct + 5000, PT_LEN - 3017, ct_mr),
	};
	ibv_wr_start(qpx);
	qpx->wr_id = 4;
	acceldv_wr_encrypt_list(dv, &gcm, plain_list, 3, ct_list, 4);
	CHECK(ibv_wr_complete(qpx) == 0, "the gathered encryption posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.opcode == ACCELDV_OP_ENCRYPT && wc.wc.byte_len == PT_LEN,
	      "gathered encryption: status %#x, %u bytes", wc.wc.status, wc.wc.byte_len);
	uint8_t sealed[PT_LEN];
	gather(ct_list, 4, sealed);

	/* The same encryption over one SGE a side: the same ciphertext and tag. */
	struct ibv_sge plain = sge(text + PT_AT, PT_LEN, text_mr), ct1 = sge(misc + CT1, PT_LEN, misc_mr);
	gcm.tag = &tag1;
	ibv_wr_start(qpx);
	qpx->wr_id = 5;
	acceldv_wr_encrypt(dv, &gcm, &plain, &ct1);
	CHECK(ibv_wr_complete(qpx) == 0, "the one-SGE encryption posts");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && memcmp(misc + CT1, sealed, PT_LEN) == 0 &&
		      memcmp(misc + TAGS, misc + TAGS + TAG, TAG) == 0,
	      "one-SGE encryption: status %#x, ciphertext and tag equal to the gathered ones", wc.wc.status);
	print_hex("key", key_material, 32);
	print_hex("iv", iv, 12);
	print_hex("aad", misc + AAD, AAD_LEN);
	print_hex("plaintext", text + PT_AT, PT_LEN);
	print_hex("ciphertext", sealed, PT_LEN);
	print_hex("tag", misc + TAGS, TAG);

	/* Decrypted from the 4 pieces into 2, checking the tag. */
	gcm.tag = &tag;
	memset(back_a, MARK, LEN);
	struct ibv_sge open_list[2] = { sge(back_a, 2048, back_a_mr), sge(back_a + 3000, PT_LEN - 2048, back_a_mr) };
	ibv_wr_start(qpx);
	qpx->wr_id = 6;
	acceldv_wr_decrypt_list(dv, &gcm, ct_list, 4, open_list, 2);
	CHECK(ibv_wr_complete(qpx) == 0, "the gathered decryption posts");
	wc = next_completion(cq);
	memset(check, 0, LEN);
	gather(open_list, 2, check);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.opcode == ACCELDV_OP_DECRYPT && memcmp(check, text + PT_AT, PT_LEN) == 0,
	      "gathered decryption: status %#x, equal to the plaintext", wc.wc.status);

	/* Refusals: ibv_wr_complete() says EINVAL, and nothing of the sequence (a NOP before the
	 * refused request included) is posted. */
	struct ibv_sge many[17];
	for (int i = 0; i < 17; i++)
		many[i] = sge(ct + 16 * i, 16, ct_mr);
	struct acceldv_comp_attr bad_flags = { .format = ACCELDV_COMP_GZIP, .flags = 1 << 7 };
	struct acceldv_crypto_attr reserved = gcm;
	reserved.reserved = 1;
	memset(ct, MARK, 8192);
	for (int refusal = 0; refusal < 6; refusal++) {
		static const char *const what[] = {
			"no input entry", "one output entry past the device's limit", "a NULL list with a count",
			"a count no array holds", "unknown compression flags", "a reserved field set",
		};
		ibv_wr_start(qpx);
		qpx->wr_id = 100 + refusal;
		acceldv_wr_nop(dv);
		switch (refusal) {
		case 0:
			acceldv_wr_compress_list(dv, &gzip, text_list, 0, many, 1);
			break;
		case 1:
			acceldv_wr_compress_list(dv, &gzip, text_list, 3, many, max_list + 1);
			break;
		case 2:
			acceldv_wr_encrypt_list(dv, &gcm, NULL, 2, many, 1);
			break;
		case 3:
			acceldv_wr_decrypt_list(dv, &gcm, ct_list, 4, many, SIZE_MAX);
			break;
		case 4:
			acceldv_wr_decompress_list(dv, &bad_flags, stream_list, 4, many, 2);
			break;
		case 5:
			acceldv_wr_encrypt_list(dv, &reserved, plain_list, 3, ct_list, 4);
			break;
		}
		int ret = ibv_wr_complete(qpx);
		CHECK(ret == EINVAL, "%s: ibv_wr_complete returned %d, not EINVAL", what[refusal], ret);
		CHECK(acceldv_poll_cq(cq, 1, &wc) == 0, "%s: nothing posted", what[refusal]);
	}
	CHECK(untouched(ct, 8192), "no refused request wrote");
	/* The device's limit itself is taken: the plaintext's first 256 bytes into 16 entries give
	 * the ciphertext's first 256 bytes (GCM encrypts as a counter mode). */
	struct ibv_sge head = sge(text + PT_AT, 256, text_mr);
	gcm.tag = &tag1;
	ibv_wr_start(qpx);
	qpx->wr_id = 7;
	acceldv_wr_encrypt_list(dv, &gcm, &head, 1, many, max_list);
	CHECK(ibv_wr_complete(qpx) == 0, "16 output entries post");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == 256 && memcmp(ct, sealed, 256) == 0 &&
		      untouched(ct + 256, 16),
	      "16 output entries: status %#x, the ciphertext's first 256 bytes", wc.wc.status);
	gcm.tag = &tag;
	memset(ct, MARK, 8192);

	/* A list builder the QP was not created with. */
	struct acceldv_qp_init_attr compress_only = { .send_ops_flags = ACCELDV_QP_EX_WITH_COMPRESS };
	struct ibv_qp *narrow = acceldv_create_qp(ctx, &init, &compress_only);
	struct ibv_qp_ex *narrow_qpx = narrow && connect_to_self(narrow) == 0 ? ibv_qp_to_qp_ex(narrow) : NULL;
	struct acceldv_qp_ex *narrow_dv = narrow_qpx ? acceldv_qp_ex_from_ibv_qp_ex(narrow_qpx) : NULL;
	CHECK(narrow_dv != NULL, "a COMPRESS-only QP");
	if (narrow_dv) {
		ibv_wr_start(narrow_qpx);
		narrow_qpx->wr_id = 8;
		acceldv_wr_encrypt_list(narrow_dv, &gcm, plain_list, 3, ct_list, 4);
		CHECK(ibv_wr_complete(narrow_qpx) == EINVAL && acceldv_poll_cq(cq, 1, &wc) == 0,
		      "ENCRYPT on a COMPRESS-only QP: EINVAL, nothing posted");
		CHECK(ibv_destroy_qp(narrow) == 0, "destroy the COMPRESS-only QP");
	}

	/* Faults the device finds: the request completes with IBV_WC_LOC_PROT_ERR, the QP stops,
	 * nothing is written. */
	struct ibv_sge foreign_out[2] = { sge(ct, 100, ct_mr), sge(foreign, 4000, foreign_mr) };
	struct ibv_sge past_end[2] = { sge(ct, 100, ct_mr), sge(ct + 8192 - 64, 4000, ct_mr) };
	struct { const char *what; struct ibv_sge *dst; uint32_t vendor_err; } faults[] = {
		{ "an entry of another PD's region", foreign_out, VENDOR_PD_MISMATCH },
		{ "an entry past its region's end", past_end, VENDOR_OUT_OF_BOUNDS },
	};
	for (int i = 0; i < 2; i++) {
		ibv_wr_start(qpx);
		qpx->wr_id = 9 + i;
		acceldv_wr_compress_list(dv, &gzip, text_list, 3, faults[i].dst, 2);
		CHECK(ibv_wr_complete(qpx) == 0, "%s: posts (the device checks entries)", faults[i].what);
		wc = next_completion(cq);
		CHECK(wc.wc.wr_id == 9u + i && wc.wc.status == IBV_WC_LOC_PROT_ERR && wc.wc.vendor_err == faults[i].vendor_err,
		      "%s: status %#x, vendor error %u", faults[i].what, wc.wc.status, wc.wc.vendor_err);
		CHECK(qp_state(qp) == IBV_QPS_ERR, "%s: the QP is in ERR", faults[i].what);
		CHECK(untouched(ct, 8192) && untouched(foreign, 4096), "%s: nothing written", faults[i].what);
		CHECK(connect_to_self(qp) == 0, "%s: the QP back to RTS", faults[i].what);
	}

	CHECK(acceldv_destroy_crypto_key(key) == 0, "destroy the key");
	CHECK(ibv_destroy_qp(qp) == 0 && ibv_destroy_cq(cq) == 0, "destroy the QP and CQ");
	struct ibv_mr *mrs[] = { text_mr, a_mr, b_mr, packed_mr, back_a_mr, back_b_mr, ct_mr, misc_mr, foreign_mr };
	for (size_t i = 0; i < sizeof mrs / sizeof mrs[0]; i++)
		CHECK(ibv_dereg_mr(mrs[i]) == 0, "deregister region %zu", i);
	CHECK(ibv_dealloc_pd(pd) == 0 && ibv_dealloc_pd(other_pd) == 0 && ibv_close_device(ctx) == 0, "teardown");
	ibv_free_device_list(list);
	printf("dv_lists: gzip %d -> %u bytes through 3 and 4 pieces (zlib agrees), AES-256-GCM through 3 and 4 pieces\n",
	       LEN, packed_len);
	printf("dv_lists: %d failure(s)\n", failures);
	return failures != 0;
}
