/* png_decode.c - the PNG forms uploads nearly always take, decoded without libspng: 8- or
 * 16-bit grey, grey + alpha, RGB or RGBA, not interlaced, made of IHDR, IDAT and IEND
 * chunks only (what cv2, PIL and browsers write unless asked for more).
 *
 * Why a second decoder: a 512x512 grey upload took 1.85 ms in libspng, 40% of what the
 * server adds to an inference; zlib's inflate was 1.2 ms of it and the unfiltering, one
 * byte's sum waiting on the last through memory, 0.5 ms. Here ISA-L's inflate (already the
 * encoder's library) takes 0.6 ms and the Sub filter keeps its running sum in a register
 * (docs/performance.md).
 *
 * What it accepts, it decodes to the pixels image.c's libspng path gives (the unit tests
 * and the image fuzzer compare the two); anything else it declines, untouched, and libspng
 * decodes the file or words the error: other chunks (even ancillary ones, which libspng
 * checks), palettes and 1/2/4-bit samples, interlacing, a CRC, zlib header or Adler-32 that
 * does not check, an unknown filter byte, image data too short or too long, bytes after
 * IEND, a size past the limits. So no file is accepted here that libspng refuses, and no
 * error message is written here. */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct {
    const uint8_t *type, *data; /* type: 4 bytes; data: len bytes */
    uint32_t len;
} png_chunk;

/* The chunk at *at, whose CRC checks; 0 when cut short or the CRC is wrong. */
static int next_chunk(const uint8_t *data, size_t len, size_t *at, png_chunk *c) {
    if (len - *at < 12) return 0;
    uint32_t n = be32(data + *at);
    if (n > 0x7fffffffu || len - *at - 12 < n) return 0;
    c->len = n, c->type = data + *at + 4, c->data = data + *at + 8;
    if (crc32_gzip_refl(0, c->type, (uint64_t)n + 4) != be32(c->data + n)) return 0;
    *at += 12 + (size_t)n;
    return 1;
}

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undoes row's filter in place; prev is the row above, already unfiltered (NULL for the
 * first row, whose "above" is zero). 0 for an unknown filter type. */
static int unfilter(int type, uint8_t *row, const uint8_t *prev, size_t n, size_t bpp) {
    switch (type) {
    case 0: return 1;
    case 1:
        if (bpp == 1) { /* the sum in a register: a store-to-load chain per byte otherwise */
            uint8_t left = 0;
            for (size_t i = 0; i < n; i++)
                row[i] = left = (uint8_t)(row[i] + left);
        } else {
            for (size_t i = bpp; i < n; i++)
                row[i] = (uint8_t)(row[i] + row[i - bpp]);
        }
        return 1;
    case 2:
        if (prev)
            for (size_t i = 0; i < n; i++)
                row[i] = (uint8_t)(row[i] + prev[i]);
        return 1;
    case 3:
        for (size_t i = 0; i < n; i++) {
            int left = i >= bpp ? row[i - bpp] : 0, up = prev ? prev[i] : 0;
            row[i] = (uint8_t)(row[i] + ((left + up) >> 1));
        }
        return 1;
    case 4:
        for (size_t i = 0; i < n; i++) {
            int left = i >= bpp ? row[i - bpp] : 0, up = prev ? prev[i] : 0;
            int upleft = prev && i >= bpp ? prev[i - bpp] : 0;
            row[i] = (uint8_t)(row[i] + paeth(left, up, upleft));
        }
        return 1;
    default: return 0;
    }
}

/* Inflates the IDAT chunks from *at on into raw (exactly raw_len bytes); 0 unless the zlib
 * stream checks (header, Adler-32), fills raw exactly and ends with the last IDAT. */
static int inflate_idat(const uint8_t *data, size_t len, size_t *at, png_chunk *c, uint8_t *raw, size_t raw_len) {
    struct inflate_state *s = malloc(sizeof *s);
    if (!s) return 0;
    isal_inflate_init(s);
    s->crc_flag = ISAL_ZLIB;
    s->next_out = raw;
    s->avail_out = (uint32_t)raw_len + 1; /* one byte more, to see a stream that is too long */
    int ok = 1;
    for (;;) {
        s->next_in = (uint8_t *)c->data, s->avail_in = c->len;
        int rc = isal_inflate(s);
        if (rc != ISAL_DECOMP_OK && rc != ISAL_END_INPUT) {
            ok = 0;
            break;
        }
        if (s->block_state == ISAL_BLOCK_FINISH) { /* the stream ended: no data may follow */
            ok = s->avail_in == 0;
            if (ok && next_chunk(data, len, at, c))
                ok = memcmp(c->type, "IDAT", 4) != 0;
            else
                ok = 0;
            break;
        }
        if (!next_chunk(data, len, at, c) || memcmp(c->type, "IDAT", 4)) {
            ok = 0; /* image data cut short */
            break;
        }
    }
    ok = ok && s->total_out == raw_len;
    free(s);
    return ok;
}

int api_png_decode_common(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const int channels_of[7] = {1, 0, 3, 0, 2, 0, 4}; /* by colour type; 0: not here */
    size_t at = 8;
    png_chunk c;
    if (len < 8 || memcmp(data, signature, 8) || !next_chunk(data, len, &at, &c) || memcmp(c.type, "IHDR", 4) ||
        c.len != 13)
        return 0;
    uint32_t w = be32(c.data), h = be32(c.data + 4);
    int depth = c.data[8], type = c.data[9];
    if (!w || !h || w > API_PNG_SIDE_LIMIT || h > API_PNG_SIDE_LIMIT || (uint64_t)w * h > max_pixels ||
        (depth != 8 && depth != 16) || type > 6 || !channels_of[type] || c.data[10] || c.data[11] || c.data[12])
        return 0;
    if (!next_chunk(data, len, &at, &c) || memcmp(c.type, "IDAT", 4)) return 0;
    size_t samples = (size_t)channels_of[type], bytes = (size_t)depth / 8, bpp = samples * bytes;
    size_t row_len = (size_t)w * bpp, raw_len = (row_len + 1) * h, n = (size_t)w * h;
    int keep = type == 0 || type == 4 ? 1 : 3; /* alpha dropped */
    if (raw_len > 0xfffffffeu) return 0;       /* past what one inflate call counts */
    uint8_t *raw = malloc(raw_len + 1);
    uint8_t *pixels = raw ? malloc(n * keep) : NULL;
    uint16_t *deep = pixels && depth == 16 ? malloc(sizeof(uint16_t) * n * keep) : NULL;
    int ok = pixels && (depth == 8 || deep) && inflate_idat(data, len, &at, &c, raw, raw_len);
    /* after the image data, only IEND, and nothing after it */
    ok = ok && !memcmp(c.type, "IEND", 4) && c.len == 0 && at == len;
    for (uint32_t y = 0; ok && y < h; y++) {
        uint8_t *row = raw + y * (row_len + 1);
        if (!(ok = unfilter(row[0], row + 1, y ? row - row_len : NULL, row_len, bpp))) break;
        const uint8_t *s = row + 1;
        uint8_t *p = pixels + (size_t)y * w * keep;
        if (depth == 8 && (size_t)keep == samples) {
            memcpy(p, s, row_len);
        } else if (depth == 8) {
            for (size_t x = 0; x < w; x++)
                for (int k = 0; k < keep; k++)
                    p[x * keep + k] = s[x * samples + k];
        } else { /* big-endian samples: the value for the window, the high byte for the engine */
            uint16_t *d = deep + (size_t)y * w * keep;
            for (size_t x = 0; x < w; x++)
                for (int k = 0; k < keep; k++) {
                    const uint8_t *v = s + 2 * (x * samples + k);
                    d[x * keep + k] = (uint16_t)(v[0] << 8 | v[1]);
                    p[x * keep + k] = v[0];
                }
        }
    }
    free(raw);
    if (!ok) {
        free(pixels), free(deep);
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->pixels = pixels, out->deep = deep;
    out->width = (int)w, out->height = (int)h, out->channels = keep;
    out->source_depth = depth;
    out->format = "png";
    return 1;
}
