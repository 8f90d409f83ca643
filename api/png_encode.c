/* png_encode.c - the PNGs lgmsd sends back (masks, overlays, montages): 8-bit grey or RGB,
 * every row Up-filtered, the image data deflated by ISA-L's igzip.
 *
 * Replies are regenerated per request, so speed matters more than the last bytes. For a
 * 512x512 overlay: zlib level 1 (through libspng) 13-22 ms, 356 KB; libdeflate level 1
 * 6.2 ms, 408 KB; igzip level 2 3.2 ms, 419 KB (docs/performance.md). igzip can also end a
 * piece of a stream on a full flush (byte-aligned, no back-references across it), so the
 * rows can be split into bands that threads deflate at once and that join into one valid
 * zlib stream: two bands take 1.7 ms. The container is small and written here: signature,
 * IHDR, one IDAT, IEND, each chunk with its CRC-32. Decoding: png_decode.c and image.c. */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define PNG_LEVEL 2
#define PNG_LEVEL_BUF ISAL_DEF_LVL2_DEFAULT
#define PNG_FILTER_UP 2
#define PNG_MAX_BANDS 16
#define PNG_MIN_BAND_BYTES (64u << 10) /* smaller bands cost more in flushes than threads save */

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* A chunk whose len data bytes are already at p + 8: writes length and type before them
 * and the CRC (over type and data) after; returns the end. */
static uint8_t *close_chunk(uint8_t *p, const char type[4], size_t len) {
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    return put_be32(p + 8 + len, crc32_gzip_refl(0, p + 4, len + 4));
}

/* Deflate output never exceeds its input by more than stored-block framing and a header. */
static size_t deflate_bound(size_t len) { return len + (len / 65535 + 1) * 5 + ISAL_DEF_MAX_HDR_SIZE + 64; }

typedef struct {
    const uint8_t *pixels;
    size_t stride;
    int height, bands;
    uint8_t *raw;  /* filtered rows: a filter-type byte, then the row */
    uint8_t *zout; /* band b deflates into zout + b * zcap */
    size_t zcap;
    size_t zlen[PNG_MAX_BANDS]; /* 0: that band failed */
} png_job;

/* Filters the rows of band i and deflates them; every band but the last ends on a full
 * flush, the last ends the stream. */
static void png_band(void *arg, int i, int n) {
    png_job *j = arg;
    for (int b = i; b < j->bands; b += n) {
        int y0 = (int)((long long)j->height * b / j->bands), y1 = (int)((long long)j->height * (b + 1) / j->bands);
        for (int y = y0; y < y1; y++) {
            const uint8_t *row = j->pixels + (size_t)y * j->stride, *above = y ? row - j->stride : NULL;
            uint8_t *dst = j->raw + (size_t)y * (j->stride + 1);
            dst[0] = PNG_FILTER_UP; /* the first row's "above" is zero: Up stores it as is */
            if (above)
                for (size_t x = 0; x < j->stride; x++)
                    dst[1 + x] = (uint8_t)(row[x] - above[x]);
            else
                memcpy(dst + 1, row, j->stride);
        }
        uint8_t *level_buf = malloc(PNG_LEVEL_BUF);
        j->zlen[b] = 0;
        if (!level_buf) continue;
        /* zeroed first: isal_deflate_stateless_init leaves fields of the internal state
         * that the assembly reads (valgrind: "depends on uninitialised value") */
        struct isal_zstream s = {0};
        isal_deflate_stateless_init(&s);
        s.level = PNG_LEVEL;
        s.level_buf = level_buf;
        s.level_buf_size = PNG_LEVEL_BUF;
        s.gzip_flag = IGZIP_DEFLATE;
        s.end_of_stream = b == j->bands - 1;
        s.flush = b == j->bands - 1 ? NO_FLUSH : FULL_FLUSH;
        s.next_in = j->raw + (size_t)y0 * (j->stride + 1);
        s.avail_in = (uint32_t)((size_t)(y1 - y0) * (j->stride + 1));
        s.next_out = j->zout + (size_t)b * j->zcap;
        s.avail_out = (uint32_t)j->zcap;
        if (isal_deflate_stateless(&s) == COMP_OK) j->zlen[b] = s.total_out;
        free(level_buf);
    }
}

int api_png_encode_parallel(const uint8_t *pixels, int width, int height, int channels, const api_parallel *par,
                            uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) return -1;
    size_t stride = (size_t)width * channels, raw_len = (stride + 1) * (size_t)height;
    if (stride > 0x7fffffff / 2 || raw_len / (stride + 1) != (size_t)height || raw_len > 0x7fffffff) return -1;
    int bands = par && par->threads > 1 ? par->threads : 1;
    if (bands > PNG_MAX_BANDS) bands = PNG_MAX_BANDS;
    if ((size_t)bands > raw_len / PNG_MIN_BAND_BYTES) bands = (int)(raw_len / PNG_MIN_BAND_BYTES);
    if (bands > height) bands = height;
    if (bands < 1) bands = 1;
    png_job j = {pixels, stride, height, bands, malloc(raw_len), NULL, deflate_bound(raw_len / bands + stride + 1),
                 {0}};
    j.zout = j.raw ? malloc(j.zcap * bands) : NULL;
    if (!j.zout) {
        free(j.raw);
        return -1;
    }
    if (bands > 1)
        par->run(par->runner, png_band, &j);
    else
        png_band(&j, 0, 1);
    size_t zlen = 2 + 4; /* zlib header and Adler-32 */
    int failed = 0;
    for (int b = 0; b < bands; b++)
        zlen += j.zlen[b], failed |= !j.zlen[b];
    uint8_t *png = !failed && zlen <= 0x7fffffff ? malloc(8 + 25 + 12 + zlen + 12) : NULL;
    if (!png) {
        free(j.raw), free(j.zout);
        return -1;
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *p = png;
    memcpy(p, signature, 8);
    p += 8;
    uint8_t *ihdr = p + 8; /* width, height, depth 8, colour type, compression, filter, interlace */
    put_be32(put_be32(ihdr, (uint32_t)width), (uint32_t)height);
    ihdr[8] = 8, ihdr[9] = channels == 1 ? 0 : 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    p = close_chunk(p, "IHDR", 13);
    uint8_t *z = p + 8;
    z[0] = 0x78, z[1] = 0x01; /* deflate, 32 KiB window, no preset dictionary, "fastest" */
    z += 2;
    for (int b = 0; b < bands; b++) {
        memcpy(z, j.zout + (size_t)b * j.zcap, j.zlen[b]);
        z += j.zlen[b];
    }
    put_be32(z, isal_adler32(1, j.raw, (uint64_t)raw_len));
    free(j.raw), free(j.zout);
    p = close_chunk(p, "IDAT", zlen);
    p = close_chunk(p, "IEND", 0);
    *out = png;
    *out_len = (size_t)(p - png);
    return 0;
}

int api_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len) {
    return api_png_encode_parallel(pixels, width, height, channels, NULL, out, out_len);
}
