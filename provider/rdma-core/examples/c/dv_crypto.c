/*
 * Crypto through acceldv.h: a key-encryption key, an AES-256-GCM key imported wrapped under it
 * (RFC 5649: its plaintext never crosses the ABI), an HMAC-SHA-256 key; then in ibv_wr_*
 * sequences an AES-GCM encryption with AAD, its decryption back, a decryption with a tampered
 * tag (ACCELDV_WC_AUTH_FAILED, output zeroed, the QP still usable), SHA-256 and HMAC-SHA-256
 * digests, the same SHA-256 in three parts (its state carried in registered memory), CRC32C
 * chained over two requests, AES-128-XTS over two 512-byte data units from
 * tweak 5 (the XTS key: the first 32 bytes of the plaintext), and a gzip-compressed,
 * AES-GCM-encrypted block in one request, decrypted and decompressed back in another. Prints what it produced as hex, for the test
 * to check against Python's cryptography and hashlib (tests/verbs_programs.rs).
 *
 *   dv_crypto KEK WRAPPED_KEY HMAC_KEY IV AAD      (each hex)
 *   cc dv_crypto.c -I../../include -libverbs -laccel_rdmav34 -o dv_crypto && accel-run ./dv_crypto ...
 */
#include <errno.h>
#include <infiniband/acceldv.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_util.h"

#define LEN 1024
#define TAG 16
#define DIGEST 32

/* Decodes hex into out (at most max bytes); returns the length, or -1. */
static int unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;
	if (strlen(hex) % 2 || n > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return (int)n;
}

static struct ibv_cq *cq;
static struct ibv_qp_ex *qpx;
static struct acceldv_qp_ex *dv;

static struct ibv_sge sge(struct ibv_mr *mr, size_t offset, uint32_t length)
{
	return (struct ibv_sge){ (uintptr_t)mr->addr + offset, length, mr->lkey };
}

static struct acceldv_wc crypt(int encrypt, const struct acceldv_crypto_attr *attr, struct ibv_sge src, struct ibv_sge dst)
{
	ibv_wr_start(qpx);
	qpx->wr_id = encrypt;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	if (encrypt)
		acceldv_wr_encrypt(dv, attr, &src, &dst);
	else
		acceldv_wr_decrypt(dv, attr, &src, &dst);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	return next_completion(cq);
}

static struct acceldv_wc digest(const struct acceldv_digest_attr *attr, struct ibv_sge src, struct ibv_sge *dst)
{
	ibv_wr_start(qpx);
	qpx->wr_id = 9;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	acceldv_wr_digest(dv, attr, &src, dst);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	return next_completion(cq);
}

static struct acceldv_wc digest_part(const struct acceldv_digest_attr *attr, uint32_t part, struct ibv_sge src,
				     struct ibv_sge *state, struct ibv_sge *dst)
{
	ibv_wr_start(qpx);
	qpx->wr_id = 10;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	acceldv_wr_digest_part(dv, attr, part, &src, state, dst);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	return next_completion(cq);
}

int main(int argc, char **argv)
{
	uint8_t kek_material[32], wrapped[48], hmac_material[64], iv[12], aad[64];
	int kek_len, wrapped_len, hmac_len, iv_len, aad_len;
	if (argc != 6 || (kek_len = unhex(argv[1], kek_material, sizeof kek_material)) < 0 ||
	    (wrapped_len = unhex(argv[2], wrapped, sizeof wrapped)) < 0 ||
	    (hmac_len = unhex(argv[3], hmac_material, sizeof hmac_material)) < 0 ||
	    (iv_len = unhex(argv[4], iv, sizeof iv)) != 12 || (aad_len = unhex(argv[5], aad, sizeof aad)) < 0) {
		fprintf(stderr, "usage: dv_crypto KEK WRAPPED_KEY HMAC_KEY IV(12 bytes) AAD, each hex\n");
		return 2;
	}
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = list && list[0] ? ibv_open_device(list[0]) : NULL;
	if (!ctx) {
		fprintf(stderr, "no RDMA device (run under accel-run)\n");
		return 1;
	}
	struct acceldv_device_attr dev = { 0 };
	CHECK(acceldv_query_device(ctx, &dev) == 0 && (dev.opcodes & (1ull << ACCELDV_OP_ENCRYPT)) &&
		      (dev.opcodes & (1ull << ACCELDV_OP_DIGEST)) && dev.max_crypto_keys > 0,
	      "the device lists ENCRYPT, DIGEST and room for keys");

	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, 16, NULL, NULL, 0) : NULL;
	/* One buffer: plaintext, ciphertext, decrypted text, tag, AAD, digest. */
	enum {
		PT = 0,
		CT = LEN,
		BACK = 2 * LEN,
		TAGS = 3 * LEN,
		AAD = TAGS + 64,
		OUT = AAD + 64,
		STATE = OUT + 64,
		PARTS = STATE + 64,
		SIZE = PARTS + 64
	};
	uint8_t *buf = calloc(1, SIZE);
	for (int i = 0; i < LEN; i++)
		buf[PT + i] = (uint8_t)(i * 7 + 3);
	memcpy(buf + AAD, aad, aad_len);
	struct ibv_mr *mr = pd ? ibv_reg_mr(pd, buf, SIZE, IBV_ACCESS_LOCAL_WRITE) : NULL;
	struct ibv_qp_init_attr_ex init = {
		.send_cq = cq,
		.recv_cq = cq,
		.cap = { .max_send_wr = 8, .max_send_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = pd,
	};
	struct acceldv_qp_init_attr dv_init = {
		.send_ops_flags = ACCELDV_QP_EX_WITH_ENCRYPT | ACCELDV_QP_EX_WITH_DECRYPT | ACCELDV_QP_EX_WITH_DIGEST |
				  ACCELDV_QP_EX_WITH_COMPRESS_ENCRYPT | ACCELDV_QP_EX_WITH_DECRYPT_DECOMPRESS,
	};
	struct ibv_qp *qp = mr ? acceldv_create_qp(ctx, &init, &dv_init) : NULL;
	if (!qp) {
		perror("setup");
		return 1;
	}
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_INIT, .port_num = 1 };
	CHECK(ibv_modify_qp(qp, &attr, IBV_QP_STATE | IBV_QP_PORT) == 0, "INIT");
	attr.qp_state = IBV_QPS_RTR;
	CHECK(ibv_modify_qp(qp, &attr, IBV_QP_STATE) == 0, "RTR");
	attr.qp_state = IBV_QPS_RTS;
	CHECK(ibv_modify_qp(qp, &attr, IBV_QP_STATE) == 0, "RTS");
	qpx = ibv_qp_to_qp_ex(qp);
	dv = acceldv_qp_ex_from_ibv_qp_ex(qpx);

	/* Keys: the GCM key arrives wrapped; a wrapping that does not authenticate is EBADMSG. */
	struct acceldv_crypto_key *kek =
		acceldv_create_crypto_key(pd, kek_len == 16 ? ACCELDV_KEY_AES_128_KW : ACCELDV_KEY_AES_256_KW, kek_material, kek_len);
	CHECK(kek != NULL, "the key-encryption key: %s", strerror(errno));
	wrapped[0] ^= 1;
	errno = 0;
	CHECK(acceldv_create_wrapped_crypto_key(pd, ACCELDV_KEY_AES_256_GCM, wrapped, wrapped_len, kek) == NULL &&
		      errno == EBADMSG,
	      "a tampered wrapping: EBADMSG (errno %d)", errno);
	wrapped[0] ^= 1;
	struct acceldv_crypto_key *key = acceldv_create_wrapped_crypto_key(pd, ACCELDV_KEY_AES_256_GCM, wrapped, wrapped_len, kek);
	struct acceldv_crypto_key *hmac_key = acceldv_create_crypto_key(pd, ACCELDV_KEY_HMAC_SHA256, hmac_material, hmac_len);
	CHECK(key && hmac_key, "the GCM and HMAC keys: %s", strerror(errno));
	errno = 0;
	CHECK(acceldv_create_crypto_key(pd, ACCELDV_KEY_AES_256_GCM, kek_material, 7) == NULL && errno == EINVAL,
	      "7 bytes of AES-256 key: EINVAL");

	struct ibv_sge aad_sge = sge(mr, AAD, aad_len), tag_sge = sge(mr, TAGS, TAG);
	struct acceldv_crypto_attr gcm = { .key = key, .aad = aad_len ? &aad_sge : NULL, .tag = &tag_sge };
	memcpy(gcm.iv, iv, sizeof iv);
	struct acceldv_wc wc = crypt(1, &gcm, sge(mr, PT, LEN), sge(mr, CT, LEN));
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.opcode == ACCELDV_OP_ENCRYPT && wc.wc.byte_len == LEN,
	      "encrypt: status %#x, %u bytes", wc.wc.status, wc.wc.byte_len);
	print_hex("plaintext", buf + PT, LEN);
	print_hex("ciphertext", buf + CT, LEN);
	print_hex("tag", buf + TAGS, TAG);

	wc = crypt(0, &gcm, sge(mr, CT, LEN), sge(mr, BACK, LEN));
	CHECK(wc.wc.status == IBV_WC_SUCCESS && memcmp(buf + BACK, buf + PT, LEN) == 0, "decrypt back: status %#x",
	      wc.wc.status);
	buf[TAGS] ^= 0x80;
	wc = crypt(0, &gcm, sge(mr, CT, LEN), sge(mr, BACK, LEN));
	int zeroed = 1;
	for (int i = 0; i < LEN; i++)
		zeroed &= buf[BACK + i] == 0;
	CHECK((int)wc.wc.status == ACCELDV_WC_AUTH_FAILED && zeroed, "a tampered tag: status %#x, output zeroed %d",
	      wc.wc.status, zeroed);

	struct acceldv_digest_attr sha = { .alg = ACCELDV_DIGEST_SHA256 };
	struct ibv_sge out = sge(mr, OUT, DIGEST);
	wc = digest(&sha, sge(mr, PT, LEN), &out);
	CHECK(wc.wc.status == IBV_WC_SUCCESS, "sha256 after an authentication failure: status %#x", wc.wc.status);
	print_hex("sha256", buf + OUT, DIGEST);
	/* The same message in three parts (256 bytes, 512, the rest), its state carried in STATE. */
	CHECK(dv->comp_mask & ACCELDV_QP_EX_MASK_DIGEST_PARTS, "the plugin offers acceldv_wr_digest_part");
	struct ibv_sge state = sge(mr, STATE, ACCELDV_DIGEST_STATE_LEN), whole = sge(mr, PARTS, DIGEST);
	wc = digest_part(&sha, ACCELDV_DIGEST_MORE, sge(mr, PT, 256), &state, NULL);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == ACCELDV_DIGEST_STATE_LEN, "first part: status %#x",
	      wc.wc.status);
	wc = digest_part(&sha, ACCELDV_DIGEST_RESUME | ACCELDV_DIGEST_MORE, sge(mr, PT + 256, 512), &state, NULL);
	CHECK(wc.wc.status == IBV_WC_SUCCESS, "middle part: status %#x", wc.wc.status);
	wc = digest_part(&sha, ACCELDV_DIGEST_RESUME, sge(mr, PT + 768, LEN - 768), &state, &whole);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == DIGEST, "last part: status %#x", wc.wc.status);
	CHECK(memcmp(buf + PARTS, buf + OUT, DIGEST) == 0, "sha256 in three parts differs from one request's");
	/* No part flags (a whole message is acceldv_wr_digest's), or an unknown one: nothing posted. */
	for (uint32_t part = 0; part <= 4; part += 4) {
		struct ibv_sge src = sge(mr, PT, 64);
		ibv_wr_start(qpx);
		acceldv_wr_digest_part(dv, &sha, part, &src, &state, NULL);
		CHECK(ibv_wr_complete(qpx) == EINVAL, "part flags %#x: not EINVAL", part);
	}
	struct acceldv_digest_attr hmac = { .alg = ACCELDV_DIGEST_HMAC_SHA256, .key = hmac_key };
	wc = digest(&hmac, sge(mr, PT, LEN), &out);
	CHECK(wc.wc.status == IBV_WC_SUCCESS, "hmac: status %#x", wc.wc.status);
	print_hex("hmac", buf + OUT, DIGEST);

	/* CRC32C of "123456789" is 0xe3069283 (its check value); here in two chained requests. */
	memcpy(buf + OUT, "123456789", 9);
	struct acceldv_digest_attr crc = { .alg = ACCELDV_DIGEST_CRC32C };
	wc = digest(&crc, sge(mr, OUT, 4), NULL);
	crc.seed = wc.checksum;
	wc = digest(&crc, sge(mr, OUT + 4, 5), NULL);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.checksum == 0xe3069283, "crc32c chained: %#x", wc.checksum);

	/* AES-128-XTS, two data units, the first under tweak 5. */
	struct acceldv_crypto_key *xts = acceldv_create_crypto_key(pd, ACCELDV_KEY_AES_128_XTS, buf + PT, 32);
	CHECK(xts != NULL, "the XTS key: %s", strerror(errno));
	struct acceldv_crypto_attr xts_attr = { .key = xts, .iv = { 5 }, .data_unit = 512 };
	wc = crypt(1, &xts_attr, sge(mr, PT, 1024), sge(mr, CT, 1024));
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == 1024, "xts: status %#x", wc.wc.status);
	print_hex("xts", buf + CT, 1024);
	CHECK(acceldv_destroy_crypto_key(xts) == 0, "destroy the XTS key");

	/* Chained: gzip then AES-GCM into CT (its tag in TAGS), and back into BACK. */
	struct acceldv_comp_attr gzip = { .format = ACCELDV_COMP_GZIP, .level = 6 };
	buf[TAGS] ^= 0x80; /* the tag tampered with above, now written anew */
	struct ibv_sge plain = sge(mr, PT, LEN), sealed = sge(mr, CT, LEN);
	ibv_wr_start(qpx);
	qpx->wr_id = 20;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	acceldv_wr_compress_encrypt(dv, &gzip, &gcm, &plain, &sealed);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.opcode == ACCELDV_OP_COMPRESS_ENCRYPT && wc.consumed == LEN &&
		      (wc.flags & ACCELDV_WC_END_OF_STREAM),
	      "compress+encrypt: status %#x, consumed %u", wc.wc.status, wc.consumed);
	uint32_t sealed_len = wc.wc.byte_len;
	print_hex("chain", buf + CT, sealed_len);
	print_hex("chain_tag", buf + TAGS, TAG);
	memset(buf + BACK, 0, LEN);
	struct acceldv_comp_attr gunzip = { .format = ACCELDV_COMP_GZIP };
	struct ibv_sge packed = sge(mr, CT, sealed_len), back = sge(mr, BACK, LEN);
	ibv_wr_start(qpx);
	qpx->wr_id = 21;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	acceldv_wr_decrypt_decompress(dv, &gunzip, &gcm, &packed, &back);
	CHECK(ibv_wr_complete(qpx) == 0, "ibv_wr_complete");
	wc = next_completion(cq);
	CHECK(wc.wc.status == IBV_WC_SUCCESS && wc.wc.byte_len == LEN && memcmp(buf + BACK, buf + PT, LEN) == 0,
	      "decrypt+decompress back: status %#x, %u bytes", wc.wc.status, wc.wc.byte_len);

	/* A builder the QP was not created with fails the sequence. */
	ibv_wr_start(qpx);
	acceldv_wr_copy(dv, mr->lkey, (uintptr_t)buf, mr->lkey, (uintptr_t)buf, 1);
	CHECK(ibv_wr_complete(qpx) == EINVAL, "COPY on a crypto-only QP: EINVAL");

	CHECK(acceldv_destroy_crypto_key(key) == 0 && acceldv_destroy_crypto_key(hmac_key) == 0 &&
		      acceldv_destroy_crypto_key(kek) == 0,
	      "destroy the keys");
	CHECK(ibv_destroy_qp(qp) == 0 && ibv_dereg_mr(mr) == 0 && ibv_destroy_cq(cq) == 0 && ibv_dealloc_pd(pd) == 0,
	      "teardown");
	CHECK(ibv_close_device(ctx) == 0, "close");
	ibv_free_device_list(list);
	free(buf);
	printf("dv_crypto: %d failure(s)\n", failures);
	return failures != 0;
}
