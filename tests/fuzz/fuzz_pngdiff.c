/* fuzz_pngdiff.c - libFuzzer target: png_decode.c against libspng on PNGs this harness
 * writes, so the comparison reaches the filters and samples behind the CRCs and the
 * Adler-32 that mutating files would break (fuzz_image.c compares the two on raw bytes).
 *
 * Input: width, height, colour type (grey, RGB, grey + alpha, RGBA), depth (8 or 16), IDAT
 * chunk size, then the filtered rows (filter bytes included; 5 is invalid), repeated to
 * fill. libspng must accept such a file exactly when png_decode.c does, with the same
 * pixels (and 16-bit samples); anything else aborts. */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/image.h"
#include "png_agree.h"

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* A chunk at p of n data bytes (copied from data unless they are in place already). */
static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n) {
    put32(p, n);
    memcpy(p + 4, type, 4);
    if (n && data != p + 8) memcpy(p + 8, data, n);
    return put32(p + 8 + n, crc32_gzip_refl(0, p + 4, (uint64_t)n + 4));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size) {
    static const int types[4] = {0, 2, 4, 6}, channels[4] = {1, 3, 2, 4};
    if (size < 6) return 0;
    int w = 1 + d[0] % 32, h = 1 + d[1] % 32, t = d[2] % 4, depth = d[3] & 1 ? 16 : 8;
    size_t idat = 1 + (size_t)d[4] * 16, row = (size_t)w * channels[t] * depth / 8, raw_len = (row + 1) * h;
    const uint8_t *src = d + 5;
    size_t n_src = size - 5;
    uint8_t *raw = malloc(raw_len), *z = malloc(2 * raw_len + 1024);
    for (size_t i = 0; i < raw_len; i++)
        raw[i] = src[i % n_src];
    for (int y = 0; y < h; y++) /* filter bytes mostly valid: 0..4, and 5 (invalid) now and then */
        raw[(size_t)y * (row + 1)] %= 6;
    struct isal_zstream s = {0};
    isal_deflate_stateless_init(&s);
    s.level = 0, s.gzip_flag = IGZIP_ZLIB, s.end_of_stream = 1;
    s.next_in = raw, s.avail_in = (uint32_t)raw_len, s.next_out = z, s.avail_out = (uint32_t)(2 * raw_len + 1024);
    if (isal_deflate_stateless(&s) != COMP_OK) abort();
    uint8_t *png = malloc(8 + 25 + s.total_out + 12 * (s.total_out / idat + 1) + 12), *p = png, ihdr[13] = {0};
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    put32(put32(ihdr, (uint32_t)w), (uint32_t)h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)types[t];
    p = chunk(p + 8, "IHDR", ihdr, 13);
    for (size_t at = 0; at < s.total_out; at += idat) {
        uint32_t n = (uint32_t)(s.total_out - at < idat ? s.total_out - at : idat);
        memcpy(p + 8, z + at, n);
        p = chunk(p, "IDAT", p + 8, n);
    }
    p = chunk(p, "IEND", NULL, 0);
    size_t len = (size_t)(p - png);
    api_image fast, ref;
    api_error e;
    int ok_fast = api_png_decode_common(png, len, 1u << 22, &fast);
    int ok_ref = api_png_decode_spng(png, len, 1u << 22, &ref, &e) == API_OK;
    if (ok_fast != ok_ref) abort(); /* one of the two refused a well-formed PNG of a common form */
    if (ok_fast) {
        if (!png_decodes_agree(&fast, &ref)) abort();
        api_image_free(&fast), api_image_free(&ref);
    }
    free(raw), free(z), free(png);
    return 0;
}
