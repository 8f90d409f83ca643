/* png_encode.c - the PNGs lgmsd sends back (masks, overlays, montages): 8-bit grey or RGB,
 * every row Up-filtered, the image data compressed in one piece by libdeflate.
 *
 * Replies are regenerated per request, so speed matters more than the last bytes. zlib's
 * deflate at level 1 (through libspng) took 13-22 ms for a 512x512 overlay; libdeflate's
 * level 1 takes a third of that for ~10% more bytes (docs/performance.md). libdeflate has
 * no PNG container, and the container is small: signature, IHDR, one IDAT, IEND, each
 * chunk with its CRC-32 (libdeflate_crc32). Decoding stays with libspng (image.c). */
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define PNG_LEVEL 1
#define PNG_FILTER_UP 2

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

/* A chunk whose len data bytes are already at p + 8: writes length and type before them
 * and the CRC (over type and data) after; returns the end. */
static uint8_t *close_chunk(uint8_t *p, const char type[4], size_t len) {
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    uint32_t crc = libdeflate_crc32(0, p + 4, len + 4);
    return put_be32(p + 8 + len, crc);
}

int api_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) return -1;
    size_t stride = (size_t)width * channels, raw_len = (stride + 1) * (size_t)height;
    if (stride > 0x7fffffff / 2 || raw_len / (stride + 1) != (size_t)height) return -1;
    uint8_t *raw = malloc(raw_len); /* filtered rows: a filter-type byte, then the row */
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(PNG_LEVEL);
    size_t bound = z ? libdeflate_zlib_compress_bound(z, raw_len) : 0;
    uint8_t *png = raw && z ? malloc(8 + 25 + 12 + bound + 12) : NULL;
    if (!png) {
        free(raw);
        libdeflate_free_compressor(z);
        return -1;
    }
    for (int y = 0; y < height; y++) {
        const uint8_t *row = pixels + (size_t)y * stride, *above = y ? row - stride : NULL;
        uint8_t *dst = raw + (size_t)y * (stride + 1);
        dst[0] = PNG_FILTER_UP; /* the first row's "above" is zero: Up stores it as is */
        if (above)
            for (size_t x = 0; x < stride; x++)
                dst[1 + x] = (uint8_t)(row[x] - above[x]);
        else
            memcpy(dst + 1, row, stride);
    }
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *p = png;
    memcpy(p, signature, 8);
    p += 8;
    uint8_t *ihdr = p + 8; /* width, height, depth 8, colour type, compression, filter, interlace */
    put_be32(put_be32(ihdr, (uint32_t)width), (uint32_t)height);
    ihdr[8] = 8, ihdr[9] = channels == 1 ? 0 : 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    p = close_chunk(p, "IHDR", 13);
    size_t zlen = libdeflate_zlib_compress(z, raw, raw_len, p + 8, bound);
    free(raw);
    libdeflate_free_compressor(z);
    if (!zlen || zlen > 0x7fffffff) {
        free(png);
        return -1;
    }
    p = close_chunk(p, "IDAT", zlen);
    p = close_chunk(p, "IEND", 0);
    *out = png;
    *out_len = (size_t)(p - png);
    return 0;
}
