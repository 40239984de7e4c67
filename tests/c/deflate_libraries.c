/* Deflate libraries side by side on one core, for choosing the device's deflate path
 * (docs/BENCHMARKS.md, "Libraries"): ISA-L's igzip (stateless), libdeflate and system zlib,
 * one-shot raw deflate of the same text-like buffer at 4 KiB and 64 KiB, level 1 (ISA-L's
 * level 1, its fastest general level), and decompression of each one's output by itself.
 * MB/s of uncompressed bytes, median of 7 runs of 0.3 s.
 *
 *   cc -O2 tests/c/deflate_libraries.c -lisal -ldeflate -lz -o /tmp/deflate_libraries
 *   /tmp/deflate_libraries
 */
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <zlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *words[] = {"the ", "device ", "queue ", "pair ", "completion ", "region ", "memory ",
    "compress ", "stream ", "engine ", "of ", "and ", "a ", "to ", "in ", "request ", "work ", "poll ",
    "doorbell ", "ring\n"};

static void text(uint8_t *out, size_t len) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t n = 0;
    while (n < len) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        const char *w = words[x % 20];
        size_t l = strlen(w);
        if (n + l > len) l = len - n;
        memcpy(out + n, w, l);
        n += l;
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint8_t isal_level_buf[ISAL_DEF_LVL1_DEFAULT];

typedef size_t (*codec_fn)(const uint8_t *src, size_t n, uint8_t *dst, size_t room);

static size_t isal_c(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    struct isal_zstream s;
    isal_deflate_stateless_init(&s);
    s.level = 1; s.level_buf = isal_level_buf; s.level_buf_size = sizeof isal_level_buf;
    s.next_in = (uint8_t *)src; s.avail_in = n; s.next_out = dst; s.avail_out = room;
    s.end_of_stream = 1; s.flush = NO_FLUSH; s.gzip_flag = 0;
    return isal_deflate_stateless(&s) == COMP_OK ? s.total_out : 0;
}
static size_t isal_d(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    struct inflate_state s;
    isal_inflate_init(&s);
    s.next_in = (uint8_t *)src; s.avail_in = n; s.next_out = dst; s.avail_out = room;
    return isal_inflate_stateless(&s) == ISAL_DECOMP_OK ? s.total_out : 0;
}
static struct libdeflate_compressor *ldc;
static struct libdeflate_decompressor *ldd;
static size_t ld_c(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    return libdeflate_deflate_compress(ldc, src, n, dst, room);
}
static size_t ld_d(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    size_t out = 0;
    return libdeflate_deflate_decompress(ldd, src, n, dst, room, &out) == LIBDEFLATE_SUCCESS ? out : 0;
}
static z_stream zc, zd;
static size_t z_c(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    deflateReset(&zc);
    zc.next_in = (Bytef *)src; zc.avail_in = n; zc.next_out = dst; zc.avail_out = room;
    return deflate(&zc, Z_FINISH) == Z_STREAM_END ? zc.total_out : 0;
}
static size_t z_d(const uint8_t *src, size_t n, uint8_t *dst, size_t room) {
    inflateReset(&zd);
    zd.next_in = (Bytef *)src; zd.avail_in = n; zd.next_out = dst; zd.avail_out = room;
    return inflate(&zd, Z_FINISH) == Z_STREAM_END ? zd.total_out : 0;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* MB/s of `plain` bytes through `f` over `src` (n bytes), median of 7. */
static double rate(codec_fn f, const uint8_t *src, size_t n, uint8_t *dst, size_t room, size_t plain) {
    double runs[7];
    for (int r = 0; r < 7; r++) {
        double start = now(), t;
        long k = 0;
        do {
            for (int i = 0; i < 16; i++) if (!f(src, n, dst, room)) { fprintf(stderr, "codec failed\n"); exit(1); }
            k += 16;
        } while ((t = now() - start) < 0.3);
        runs[r] = k * (double)plain / t / 1e6;
    }
    qsort(runs, 7, sizeof runs[0], cmp);
    return runs[3];
}

int main(void) {
    ldc = libdeflate_alloc_compressor(1);
    ldd = libdeflate_alloc_decompressor();
    deflateInit2(&zc, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    inflateInit2(&zd, -15);
    struct { const char *name; codec_fn c, d; } libs[] = {{"isa-l", isal_c, isal_d}, {"libdeflate", ld_c, ld_d}, {"zlib", z_c, z_d}};
    printf("%-10s %6s %12s %12s %8s\n", "library", "size", "comp MB/s", "decomp MB/s", "ratio");
    size_t sizes[] = {4096, 65536};
    for (int s = 0; s < 2; s++) {
        size_t n = sizes[s], room = n + n / 8 + 1024;
        uint8_t *plain = malloc(n), *packed = malloc(room), *back = malloc(n);
        text(plain, n);
        for (int l = 0; l < 3; l++) {
            size_t m = libs[l].c(plain, n, packed, room);
            double c = rate(libs[l].c, plain, n, packed, room, n);
            double d = rate(libs[l].d, packed, m, back, n, n);
            if (memcmp(back, plain, n)) { fprintf(stderr, "%s: round trip differs\n", libs[l].name); return 1; }
            printf("%-10s %6zu %12.0f %12.0f %8.2f\n", libs[l].name, n, c, d, (double)n / m);
        }
        free(plain); free(packed); free(back);
    }
    return 0;
}
