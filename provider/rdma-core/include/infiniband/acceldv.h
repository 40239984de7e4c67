/*
 * acceldv.h: direct verbs for accelverbs devices.
 *
 * What the standard verbs cannot say about an accelerator: its operations (NOP, COPY,
 * COMPRESS, DECOMPRESS, ENCRYPT, DECRYPT, DIGEST), its compression contexts and crypto keys,
 * and the extra fields of their completions.
 * In the style of mlx5dv.h: an extended QP (ibv_qp_ex) gains accelerator builders used inside
 * ibv_wr_start() ... ibv_wr_complete(), taking wr_id and wr_flags from the ibv_qp_ex as the
 * standard builders do.
 *
 * Link with the provider library: cc prog.c -libverbs -laccel_rdmav34 (pkg-config acceldv).
 * Functions are versioned ACCELDV_1.0, the crypto keys' ACCELDV_1.1. Builders added later are
 * appended to struct acceldv_qp_ex and announced by a bit of its comp_mask (the SGE-list
 * builders: ACCELDV_QP_EX_MASK_SGE_LISTS). See docs/ACCELDV.md.
 */
#ifndef ACCELDV_H
#define ACCELDV_H

#include <infiniband/verbs.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Device opcodes: bit (1 << opcode) of acceldv_device_attr.opcodes, or for the chained ones
 * (0x40 on) bit (1 << (opcode - 64)) of opcodes_hi. */
enum acceldv_opcode {
	ACCELDV_OP_NOP = 0x00,
	ACCELDV_OP_COPY = 0x01,
	ACCELDV_OP_RDMA_WRITE = 0x02,
	ACCELDV_OP_RDMA_READ = 0x03,
	ACCELDV_OP_SEND = 0x04,
	ACCELDV_OP_COMPRESS = 0x10,
	ACCELDV_OP_DECOMPRESS = 0x11,
	ACCELDV_OP_ENCRYPT = 0x20,
	ACCELDV_OP_DECRYPT = 0x21,
	ACCELDV_OP_DIGEST = 0x30,
	ACCELDV_OP_COMPRESS_ENCRYPT = 0x40,
	ACCELDV_OP_DECRYPT_DECOMPRESS = 0x41,
};

/* Compressed formats (bit (1 << format) of acceldv_device_attr.compress_formats). */
enum acceldv_comp_format {
	ACCELDV_COMP_DEFLATE = 1,   /* raw deflate; checksum: CRC-32 of the data */
	ACCELDV_COMP_ZLIB = 2,      /* checksum: Adler-32 */
	ACCELDV_COMP_GZIP = 3,      /* checksum: CRC-32; every member of a multi-member file */
	ACCELDV_COMP_LZ4_FRAME = 4, /* checksum: the frame's content checksum */
	ACCELDV_COMP_LZ4_BLOCK = 5, /* one block, one-shot only; no checksum */
	ACCELDV_COMP_ZSTD = 6,      /* checksum: the frame's content checksum (low 32 bits) */
};

/* Levels: deflate, zlib and gzip 0-9 (0 stores), LZ4 0-12, zstd -128..19. */

enum acceldv_comp_direction {
	ACCELDV_COMP_COMPRESS = 0,
	ACCELDV_COMP_DECOMPRESS = 1,
};

/* acceldv_comp_attr.flags. */
enum acceldv_comp_flags {
	ACCELDV_COMP_FLUSH = 1 << 2,  /* in a stream: make all input so far decodable */
	ACCELDV_COMP_FINISH = 1 << 3, /* in a stream: this input ends it (one-shot always does) */
};

/* Accelerator completion statuses, beyond enum ibv_wc_status. The QP stays usable. */
enum acceldv_wc_status {
	ACCELDV_WC_OUTPUT_TOO_SMALL = 0x40, /* retry with more room; a stream continues */
	ACCELDV_WC_CORRUPT_INPUT = 0x41,
	ACCELDV_WC_TRUNCATED_INPUT = 0x42,
	ACCELDV_WC_OUTPUT_LIMIT = 0x43, /* over the QP's max_decompress_ratio */
	ACCELDV_WC_AUTH_FAILED = 0x44,  /* decryption: the tag does not check; output zeroed */
};

/* acceldv_wc.flags. */
enum acceldv_wc_flags {
	ACCELDV_WC_END_OF_STREAM = 1 << 2,
};

struct acceldv_device_attr {
	uint64_t comp_mask;        /* in: 0 */
	uint64_t opcodes;          /* bit (1 << enum acceldv_opcode) per opcode the device runs */
	uint32_t compress_formats; /* bit (1 << enum acceldv_comp_format) */
	uint32_t max_comp_streams; /* compression contexts the device holds */
	uint32_t num_engines;
	uint32_t max_crypto_keys;  /* crypto keys the device holds */
	uint64_t opcodes_hi;       /* bit (1 << (op - 64)) per chained opcode the device runs */
	uint32_t max_sge_list;     /* entries a side the *_list builders take (0: no such builders) */
	uint32_t reserved1;
	uint64_t reserved2[2];
};

int acceldv_query_device(struct ibv_context *context, struct acceldv_device_attr *attr);

/* acceldv_qp_init_attr.send_ops_flags: the accelerator builders the QP offers. */
enum acceldv_qp_send_ops_flags {
	ACCELDV_QP_EX_WITH_NOP = 1 << 0,
	ACCELDV_QP_EX_WITH_COPY = 1 << 1,
	ACCELDV_QP_EX_WITH_COMPRESS = 1 << 2,
	ACCELDV_QP_EX_WITH_DECOMPRESS = 1 << 3,
	ACCELDV_QP_EX_WITH_ENCRYPT = 1 << 4,
	ACCELDV_QP_EX_WITH_DECRYPT = 1 << 5,
	ACCELDV_QP_EX_WITH_DIGEST = 1 << 6,
	ACCELDV_QP_EX_WITH_COMPRESS_ENCRYPT = 1 << 7,
	ACCELDV_QP_EX_WITH_DECRYPT_DECOMPRESS = 1 << 8,
};

struct acceldv_qp_init_attr {
	uint64_t comp_mask; /* 0 */
	uint64_t send_ops_flags;
	/* Most bytes a decompression may produce per input byte (0: only the destination
	 * bounds it); beyond, ACCELDV_WC_OUTPUT_LIMIT. */
	uint32_t max_decompress_ratio;
	uint32_t reserved;
};

/*
 * An RC QP with accelerator builders. qp_attr is as for ibv_create_qp_ex: comp_mask must
 * include IBV_QP_INIT_ATTR_PD and IBV_QP_INIT_ATTR_SEND_OPS_FLAGS (which may be 0, or ask for
 * RDMA_WRITE and RDMA_READ too); a receive queue as ibv_create_qp_ex. NULL with errno on failure.
 */
struct ibv_qp *acceldv_create_qp(struct ibv_context *context, struct ibv_qp_init_attr_ex *qp_attr,
				 struct acceldv_qp_init_attr *dv_attr);

/* A compression context: stateful compression or decompression across requests. */
struct acceldv_comp_stream;

/* level: for compression, in the format's range; 0 for decompression. NULL with errno. */
struct acceldv_comp_stream *acceldv_create_comp_stream(struct ibv_pd *pd, enum acceldv_comp_format format,
						       enum acceldv_comp_direction direction, int level);
/* 0, or EBUSY while a posted request that names it has not run. */
int acceldv_destroy_comp_stream(struct acceldv_comp_stream *stream);

struct acceldv_comp_attr {
	uint8_t format;     /* enum acceldv_comp_format (the stream's, in a stream) */
	int8_t level;       /* one-shot compression; 0 otherwise */
	uint16_t flags;     /* enum acceldv_comp_flags */
	uint32_t reserved;  /* 0 */
	struct acceldv_comp_stream *stream; /* NULL: one-shot */
};

/* What a crypto key is for; its material's length follows. */
enum acceldv_key_alg {
	ACCELDV_KEY_AES_128_GCM = 1,   /* 16 bytes */
	ACCELDV_KEY_AES_256_GCM = 2,   /* 32 bytes */
	ACCELDV_KEY_AES_128_XTS = 3,   /* 32 bytes: two different 16-byte keys */
	ACCELDV_KEY_AES_256_XTS = 4,   /* 64 bytes: two different 32-byte keys */
	ACCELDV_KEY_HMAC_SHA256 = 5,   /* 16 to 128 bytes */
	ACCELDV_KEY_AES_128_KW = 6,    /* 16 bytes: a key-encryption key, it only unwraps */
	ACCELDV_KEY_AES_256_KW = 7,    /* 32 bytes: likewise */
};

/* A key held by the device: requests name it, its material never travels again. */
struct acceldv_crypto_key;

/* The key's material is read during the call only. NULL with errno: EINVAL for an unknown
 * algorithm or a length it does not take, ENOMEM past max_crypto_keys or when the device cannot
 * allocate the key's prepared state, EOPNOTSUPP for AES-GCM if the device's library cannot run. */
struct acceldv_crypto_key *acceldv_create_crypto_key(struct ibv_pd *pd, enum acceldv_key_alg alg, const void *material,
						     size_t length);
/* The same with the material wrapped (AES key wrap with padding, RFC 5649) under kek, an
 * ACCELDV_KEY_AES_*_KW key of the same PD: plaintext key material never crosses the ABI.
 * EBADMSG if the wrapping does not authenticate under kek. */
struct acceldv_crypto_key *acceldv_create_wrapped_crypto_key(struct ibv_pd *pd, enum acceldv_key_alg alg,
							     const void *wrapped, size_t length,
							     struct acceldv_crypto_key *kek);
/* 0 (the device zeroes the material), or EBUSY while a posted request that names it has not
 * run. */
int acceldv_destroy_crypto_key(struct acceldv_crypto_key *key);

/* ENCRYPT and DECRYPT, by the key's algorithm. AES-GCM: iv holds the 12-byte IV (the rest
 * zero), data_unit 0; aad the additional authenticated data (NULL: none); tag 16 bytes, written
 * by encryption, checked by decryption. AES-XTS: iv holds the first data unit's tweak (128-bit
 * little-endian), data_unit the unit's size (16 bytes to 16 MiB), src a whole number of units, each
 * next under the next tweak; aad and tag NULL. */
struct acceldv_crypto_attr {
	struct acceldv_crypto_key *key;
	uint8_t iv[16];
	uint32_t data_unit;
	uint32_t reserved; /* 0 */
	const struct ibv_sge *aad;
	const struct ibv_sge *tag;
};

enum acceldv_digest_alg {
	ACCELDV_DIGEST_SHA256 = 1,      /* 32 bytes to dst */
	ACCELDV_DIGEST_HMAC_SHA256 = 2, /* under key: 32 bytes to dst */
	ACCELDV_DIGEST_CRC32C = 3,      /* from seed; the result is acceldv_wc.checksum, dst NULL */
};

struct acceldv_digest_attr {
	uint32_t alg;  /* enum acceldv_digest_alg */
	uint32_t seed; /* CRC32C: the CRC of the data before (0 to start), so checksums chain */
	struct acceldv_crypto_key *key; /* HMAC-SHA-256 */
};

/* acceldv_wr_digest_part: one SHA-256 over a message posted in several requests, its state
 * carried between them in ACCELDV_DIGEST_STATE_LEN bytes of registered memory. */
enum acceldv_digest_part_flags {
	ACCELDV_DIGEST_MORE = 1 << 0,   /* src is whole 64-byte blocks; the state after it goes to state */
	ACCELDV_DIGEST_RESUME = 1 << 1, /* src continues the message whose state is read from state */
};
#define ACCELDV_DIGEST_STATE_LEN 40

/* acceldv_qp_ex.comp_mask: which members appended after the first ones the plugin filled in.
 * Bits 0-15 are never used: plugins before this mask stored the QP's send_ops_flags there. */
enum acceldv_qp_ex_comp_mask {
	ACCELDV_QP_EX_MASK_SGE_LISTS = 1 << 16,    /* wr_compress_list ... wr_decrypt_list */
	ACCELDV_QP_EX_MASK_DIGEST_PARTS = 1 << 17, /* wr_digest_part */
};

struct acceldv_qp_ex {
	uint64_t comp_mask; /* enum acceldv_qp_ex_comp_mask */
	void (*wr_nop)(struct acceldv_qp_ex *dvqp);
	void (*wr_copy)(struct acceldv_qp_ex *dvqp, uint32_t dest_lkey, uint64_t dest_addr, uint32_t src_lkey,
			uint64_t src_addr, uint32_t length);
	void (*wr_compress)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
			    const struct ibv_sge *src, const struct ibv_sge *dst);
	void (*wr_decompress)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
			      const struct ibv_sge *src, const struct ibv_sge *dst);
	void (*wr_encrypt)(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
			   const struct ibv_sge *src, const struct ibv_sge *dst);
	void (*wr_decrypt)(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
			   const struct ibv_sge *src, const struct ibv_sge *dst);
	void (*wr_digest)(struct acceldv_qp_ex *dvqp, const struct acceldv_digest_attr *attr,
			  const struct ibv_sge *src, const struct ibv_sge *dst);
	void (*wr_compress_encrypt)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *comp,
				    const struct acceldv_crypto_attr *crypto, const struct ibv_sge *src,
				    const struct ibv_sge *dst);
	void (*wr_decrypt_decompress)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *comp,
				      const struct acceldv_crypto_attr *crypto, const struct ibv_sge *src,
				      const struct ibv_sge *dst);
	/* Appended: valid when comp_mask has ACCELDV_QP_EX_MASK_SGE_LISTS. Never reorder. */
	void (*wr_compress_list)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
				 const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst, size_t num_dst);
	void (*wr_decompress_list)(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
				   const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst,
				   size_t num_dst);
	void (*wr_encrypt_list)(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
				const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst, size_t num_dst);
	void (*wr_decrypt_list)(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
				const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst, size_t num_dst);
	/* Appended: valid when comp_mask has ACCELDV_QP_EX_MASK_DIGEST_PARTS. Never reorder. */
	void (*wr_digest_part)(struct acceldv_qp_ex *dvqp, const struct acceldv_digest_attr *attr, uint32_t part_flags,
			       const struct ibv_sge *src, const struct ibv_sge *state, const struct ibv_sge *dst);
};

/* The accelerator builders of a QP made by acceldv_create_qp (NULL for another QP). */
struct acceldv_qp_ex *acceldv_qp_ex_from_ibv_qp_ex(struct ibv_qp_ex *qp);

static inline void acceldv_wr_nop(struct acceldv_qp_ex *dvqp)
{
	dvqp->wr_nop(dvqp);
}

/* Like mlx5dv_wr_memcpy: length bytes from src to dest (memmove if they overlap). */
static inline void acceldv_wr_copy(struct acceldv_qp_ex *dvqp, uint32_t dest_lkey, uint64_t dest_addr,
				   uint32_t src_lkey, uint64_t src_addr, uint32_t length)
{
	dvqp->wr_copy(dvqp, dest_lkey, dest_addr, src_lkey, src_addr, length);
}

static inline void acceldv_wr_compress(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
				       const struct ibv_sge *src, const struct ibv_sge *dst)
{
	dvqp->wr_compress(dvqp, attr, src, dst);
}

static inline void acceldv_wr_decompress(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
					 const struct ibv_sge *src, const struct ibv_sge *dst)
{
	dvqp->wr_decompress(dvqp, attr, src, dst);
}

/* dst at least as long as src; it may be src itself (in place). */
static inline void acceldv_wr_encrypt(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
				      const struct ibv_sge *src, const struct ibv_sge *dst)
{
	dvqp->wr_encrypt(dvqp, attr, src, dst);
}

/* A tag that does not check completes with ACCELDV_WC_AUTH_FAILED and dst zeroed. */
static inline void acceldv_wr_decrypt(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
				      const struct ibv_sge *src, const struct ibv_sge *dst)
{
	dvqp->wr_decrypt(dvqp, attr, src, dst);
}

static inline void acceldv_wr_digest(struct acceldv_qp_ex *dvqp, const struct acceldv_digest_attr *attr,
				     const struct ibv_sge *src, const struct ibv_sge *dst)
{
	dvqp->wr_digest(dvqp, attr, src, dst);
}

/* One part of a SHA-256 (attr->alg ACCELDV_DIGEST_SHA256): part_flags MORE for the first,
 * RESUME | MORE for a middle one, RESUME for the last, which writes the 32-byte digest of the
 * whole message to dst (NULL for the others); state names ACCELDV_DIGEST_STATE_LEN bytes, written
 * by a part with MORE (LOCAL_WRITE) and read by one with RESUME. Needs
 * ACCELDV_QP_EX_MASK_DIGEST_PARTS in dvqp->comp_mask. */
static inline void acceldv_wr_digest_part(struct acceldv_qp_ex *dvqp, const struct acceldv_digest_attr *attr,
					  uint32_t part_flags, const struct ibv_sge *src, const struct ibv_sge *state,
					  const struct ibv_sge *dst)
{
	dvqp->wr_digest_part(dvqp, attr, part_flags, src, state, dst);
}

/* One request per block: compresses src (one-shot: comp->stream NULL, no flags) and encrypts
 * the result with AES-GCM (crypto as for acceldv_wr_encrypt) into dst. wc.byte_len is the
 * ciphertext's (compressed) length, consumed and checksum the compression's. */
static inline void acceldv_wr_compress_encrypt(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *comp,
					       const struct acceldv_crypto_attr *crypto, const struct ibv_sge *src,
					       const struct ibv_sge *dst)
{
	dvqp->wr_compress_encrypt(dvqp, comp, crypto, src, dst);
}

/* Undoes it: dst at least as long as src; a tag that does not check completes with
 * ACCELDV_WC_AUTH_FAILED and dst zeroed. */
static inline void acceldv_wr_decrypt_decompress(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *comp,
						 const struct acceldv_crypto_attr *crypto, const struct ibv_sge *src,
						 const struct ibv_sge *dst)
{
	dvqp->wr_decrypt_decompress(dvqp, comp, crypto, src, dst);
}

/*
 * The same requests with the input gathered from num_src SGEs and the output scattered into
 * num_dst, in order, as ibv_wr_set_sge_list: 1 to acceldv_device_attr.max_sge_list entries a
 * side, cut anywhere (a side need not end where the other does). The lists are read during the
 * call only. Valid when dvqp->comp_mask has ACCELDV_QP_EX_MASK_SGE_LISTS; an older plugin lacks
 * these members.
 */
static inline void acceldv_wr_compress_list(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
					    const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst,
					    size_t num_dst)
{
	dvqp->wr_compress_list(dvqp, attr, src, num_src, dst, num_dst);
}

static inline void acceldv_wr_decompress_list(struct acceldv_qp_ex *dvqp, const struct acceldv_comp_attr *attr,
					      const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst,
					      size_t num_dst)
{
	dvqp->wr_decompress_list(dvqp, attr, src, num_src, dst, num_dst);
}

static inline void acceldv_wr_encrypt_list(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
					   const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst,
					   size_t num_dst)
{
	dvqp->wr_encrypt_list(dvqp, attr, src, num_src, dst, num_dst);
}

static inline void acceldv_wr_decrypt_list(struct acceldv_qp_ex *dvqp, const struct acceldv_crypto_attr *attr,
					   const struct ibv_sge *src, size_t num_src, const struct ibv_sge *dst,
					   size_t num_dst)
{
	dvqp->wr_decrypt_list(dvqp, attr, src, num_src, dst, num_dst);
}

/* A completion with the accelerator's fields. */
struct acceldv_wc {
	struct ibv_wc wc;  /* status may also be an enum acceldv_wc_status */
	uint8_t opcode;    /* enum acceldv_opcode of the request */
	uint8_t flags;     /* enum acceldv_wc_flags */
	uint16_t reserved;
	uint32_t checksum; /* compression: the format's checksum of the data (see the formats);
			    * DIGEST with CRC32C: the CRC */
	uint32_t consumed; /* compression: input bytes used (wc.byte_len: bytes produced) */
	uint32_t reserved2;
};

/* ibv_poll_cq with the accelerator's fields: up to num_entries completions, their count, or
 * -1. A CQ is polled either this way or with ibv_poll_cq, as the application likes. */
int acceldv_poll_cq(struct ibv_cq *cq, int num_entries, struct acceldv_wc *wc);

#ifdef __cplusplus
}
#endif

#endif /* ACCELDV_H */
