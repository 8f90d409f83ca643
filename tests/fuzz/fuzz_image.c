/* fuzz_image.c - libFuzzer target: PNG and JPEG decoding as uploads reach it (the same
 * entry point serves both formats; the png and jpeg corpora steer it). Where png_decode.c
 * decodes a PNG, libspng must decode it to the same pixels: a difference aborts.
 *
 * Inputs that start with 'S' are not files but what to write one from, so that the
 * comparison reaches filters and samples behind CRCs and an Adler-32 the mutations would
 * break: width, height, colour type, depth, IDAT size, then the filtered rows (filter
 * bytes included, 5 and up invalid), repeated to fill. libspng must accept such a file
 * exactly when png_decode.c does. */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/image.h"

static void same_as_spng(const uint8_t *data, size_t size) {
    api_image fast, ref;
    api_error e;
    if (!api_png_decode_common(data, size, 1u << 22, &fast)) return;
    if (api_png_decode_spng(data, size, 1u << 22, &ref, &e)) abort(); /* accepted what libspng refuses */
    size_t n = (size_t)ref.width * ref.height * ref.channels;
    if (fast.width != ref.width || fast.height != ref.height || fast.channels != ref.channels ||
        fast.source_depth != ref.source_depth || !fast.deep != !ref.deep || memcmp(fast.pixels, ref.pixels, n) ||
        (ref.deep && memcmp(fast.deep, ref.deep, 2 * n)))
        abort();
    api_image_free(&fast), api_image_free(&ref);
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n) {
    put32(p, n);
    memcpy(p + 4, type, 4);
    if (n) memmove(p + 8, data, n);
    return put32(p + 8 + n, crc32_gzip_refl(0, p + 4, (uint64_t)n + 4));
}

static void synthesized(const uint8_t *d, size_t size) {
    static const int types[4] = {0, 2, 4, 6}, channels[4] = {1, 3, 2, 4};
    if (size < 7) return;
    int w = 1 + d[1] % 48, h = 1 + d[2] % 48, t = d[3] % 4, depth = d[4] & 1 ? 16 : 8;
    size_t idat = 1 + (size_t)d[5] * 16, row = (size_t)w * channels[t] * depth / 8, raw_len = (row + 1) * h;
    const uint8_t *src = d + 6;
    size_t n_src = size - 6;
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
    api_image img;
    api_error e;
    int fast = api_png_decode_common(png, (size_t)(p - png), 1u << 22, &img);
    if (fast) api_image_free(&img);
    int ref = api_png_decode_spng(png, (size_t)(p - png), 1u << 22, &img, &e) == API_OK;
    if (ref) api_image_free(&img);
    if (fast != ref) abort(); /* one of the two paths refused a well-formed common PNG */
    same_as_spng(png, (size_t)(p - png));
    free(raw), free(z), free(png);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_image img;
    api_error e;
    if (size && data[0] == 'S') {
        synthesized(data, size);
        return 0;
    }
    same_as_spng(data, size);
    if (api_image_decode(data, size, 1u << 22, &img, &e) == API_OK) {
        api_window w = {API_WINDOW_AUTO, 0, 0}; /* and the window over every sample */
        api_image_apply_window(&img, &w);
        /* touch every pixel so a wrong size shows under ASan */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)img.width * img.height * img.channels; i++)
            sum += img.pixels[i];
        (void)sum;
        api_image_free(&img);
    }
    return 0;
}
