/* test_png_decode.c - png_decode.c's common forms against libspng, pixel for pixel, and
 * what it must leave to libspng. The PNGs are written here with every filter type, split
 * into several IDAT chunks, with 16-bit samples whose two bytes differ. */
#include <criterion/criterion.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/image.h"

static const int channels_of[7] = {1, 0, 3, 0, 2, 0, 4};

typedef struct {
    uint8_t *data;
    size_t len;
} png_bytes;

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16 & 255, p[2] = v >> 8 & 255, p[3] = v & 255; }

static void add_chunk(png_bytes *b, const char *type, const uint8_t *data, size_t n) {
    b->data = realloc(b->data, b->len + 12 + n);
    uint8_t *p = b->data + b->len;
    put32(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    put32(p + 8 + n, crc32_gzip_refl(0, p + 4, n + 4));
    b->len += 12 + n;
}

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* The bytes of an image's rows: smooth in x, so the filters matter, with noise, so the two
 * bytes of a 16-bit sample differ. */
static void fill_samples(uint8_t *img, size_t row, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        img[i] = (uint8_t)((i % row) * 7 + (seed >> 24) % 23);
    }
}

/* A PNG of w x h pixels of colour type `type` and `depth` bits, samples from a fixed
 * pseudo-random sequence (smooth in x so the filters matter), row y filtered with
 * filter_of(y), the zlib stream cut into IDAT chunks of `idat` bytes. */
static png_bytes make_png(int w, int h, int type, int depth, int (*filter_of)(int y), size_t idat) {
    size_t bpp = (size_t)channels_of[type] * depth / 8, row = (size_t)w * bpp, raw_len = (row + 1) * h;
    uint8_t *img = malloc(row * h), *raw = malloc(raw_len);
    fill_samples(img, row, row * h, 12345u + (uint32_t)(type * 31 + depth));
    for (int y = 0; y < h; y++) {
        const uint8_t *cur = img + y * row, *up = y ? cur - row : NULL;
        uint8_t *dst = raw + y * (row + 1);
        int f = filter_of(y);
        dst[0] = (uint8_t)f;
        for (size_t i = 0; i < row; i++) {
            int a = i >= bpp ? cur[i - bpp] : 0, b = up ? up[i] : 0, c = up && i >= bpp ? up[i - bpp] : 0;
            int pred = f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) >> 1 : f == 4 ? paeth(a, b, c) : 0;
            dst[1 + i] = (uint8_t)(cur[i] - pred);
        }
    }
    uint8_t *z = malloc(raw_len * 2 + 1024);
    struct isal_zstream s = {0};
    isal_deflate_stateless_init(&s);
    s.level = 0;
    s.gzip_flag = IGZIP_ZLIB;
    s.end_of_stream = 1;
    s.next_in = raw, s.avail_in = (uint32_t)raw_len;
    s.next_out = z, s.avail_out = (uint32_t)(raw_len * 2 + 1024);
    cr_assert_eq(isal_deflate_stateless(&s), COMP_OK);
    png_bytes b = {malloc(8), 8};
    memcpy(b.data, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, (uint32_t)w), put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = (uint8_t)depth, ihdr[9] = (uint8_t)type;
    add_chunk(&b, "IHDR", ihdr, 13);
    for (size_t at = 0; at < s.total_out; at += idat)
        add_chunk(&b, "IDAT", z + at, s.total_out - at < idat ? s.total_out - at : idat);
    add_chunk(&b, "IEND", NULL, 0);
    free(img), free(raw), free(z);
    return b;
}

static int cycle(int y) { return y % 5; }
static int only_sub(int y) { return y >= 0; }
static int bad_filter(int y) { return y == 1 ? 5 : 0; }

/* Rewrites the CRC of the chunk at `at` (its length field) after a change to its data. */
static void recrc(png_bytes *b, size_t at) {
    uint32_t n = (uint32_t)b->data[at] << 24 | b->data[at + 1] << 16 | b->data[at + 2] << 8 | b->data[at + 3];
    put32(b->data + at + 8 + n, crc32_gzip_refl(0, b->data + at + 4, n + 4));
}

/* Both paths decode b; the common one must accept it and agree with libspng. */
static void same_as_spng(const png_bytes *b, const char *what) {
    api_image fast, ref;
    api_error e;
    cr_assert_eq(api_png_decode_common(b->data, b->len, 1u << 24, &fast), 1, "%s: declined", what);
    cr_assert_eq(api_png_decode_spng(b->data, b->len, 1u << 24, &ref, &e), API_OK, "%s: %s", what, e.detail);
    cr_assert(fast.width == ref.width && fast.height == ref.height && fast.channels == ref.channels, "%s", what);
    cr_assert_eq(fast.source_depth, ref.source_depth, "%s", what);
    size_t n = (size_t)ref.width * ref.height * ref.channels;
    cr_assert_eq(memcmp(fast.pixels, ref.pixels, n), 0, "%s: pixels differ", what);
    cr_assert_eq(!fast.deep, !ref.deep, "%s", what);
    if (ref.deep) cr_assert_eq(memcmp(fast.deep, ref.deep, n * 2), 0, "%s: 16-bit samples differ", what);
    api_image_free(&fast), api_image_free(&ref);
}

Test(png_decode, common_forms_match_libspng_for_every_filter) {
    const int types[] = {0, 2, 4, 6}, depths[] = {8, 16};
    for (int t = 0; t < 4; t++)
        for (int d = 0; d < 2; d++)
            for (int idat = 0; idat < 2; idat++) {
                png_bytes b = make_png(37, 23, types[t], depths[d], cycle, idat ? 97 : 1u << 20);
                char what[64];
                snprintf(what, sizeof what, "type %d, %d-bit, %s", types[t], depths[d],
                         idat ? "IDATs of 97" : "one IDAT");
                same_as_spng(&b, what);
                free(b.data);
            }
    png_bytes b = make_png(300, 2, 0, 8, only_sub, 1u << 20); /* the register form of Sub */
    same_as_spng(&b, "grey, Sub");
    free(b.data);
    b = make_png(1, 1, 2, 16, cycle, 1u << 20);
    same_as_spng(&b, "one RGB pixel");
    free(b.data);
}

Test(png_decode, sixteen_bit_samples_keep_their_byte_order) {
    png_bytes b = make_png(5, 1, 0, 16, cycle, 1u << 20); /* row 0: filter 0, stored as is */
    api_image img;
    cr_assert_eq(api_png_decode_common(b.data, b.len, 100, &img), 1);
    uint8_t file[10]; /* the samples as stored: big-endian */
    fill_samples(file, 10, 10, 12345u + 0 * 31 + 16);
    int differ = 0;
    for (int x = 0; x < 5; x++) {
        cr_assert_eq(img.deep[x], file[2 * x] << 8 | file[2 * x + 1], "sample %d: %u", x, img.deep[x]);
        cr_assert_eq(img.pixels[x], file[2 * x], "sample %d: the high byte", x);
        differ |= file[2 * x] != file[2 * x + 1];
    }
    cr_assert(differ, "the fixture cannot show a byte-order fault");
    api_image_free(&img);
    free(b.data);
}

/* Flips one byte of b at `at`: the common path must decline, and libspng decides. */
static void declined(png_bytes b, const char *what) {
    api_image img;
    cr_assert_eq(api_png_decode_common(b.data, b.len, 1u << 24, &img), 0, "%s: accepted", what);
}

Test(png_decode, leaves_to_libspng_what_it_does_not_check_itself) {
    png_bytes b = make_png(20, 10, 2, 8, cycle, 1u << 20);
    size_t idat_data = 8 + 25 + 8; /* signature, IHDR chunk, IDAT length and type */
    api_image img;
    api_error e;

    b.data[idat_data + 40] ^= 0x10; /* image data changed: the chunk's CRC no longer checks */
    declined(b, "bad CRC");
    cr_assert_neq(api_png_decode_spng(b.data, b.len, 1u << 24, &img, &e), API_OK);
    b.data[idat_data + 40] ^= 0x10;

    b.data[b.len - 12 - 1] ^= 1; /* the IDAT's CRC itself wrong, its data intact */
    declined(b, "bad CRC, good data");
    b.data[b.len - 12 - 1] ^= 1;

    b.len -= 12; /* no IEND */
    declined(b, "no IEND");
    b.len += 12;

    png_bytes longer = {malloc(b.len + 1), b.len + 1}; /* a byte after IEND */
    memcpy(longer.data, b.data, b.len);
    longer.data[b.len] = 0;
    declined(longer, "bytes after IEND");
    free(longer.data);

    declined((png_bytes){b.data, 8 + 25 + 12}, "cut after the first IDAT's header");
    cr_assert_eq(api_png_decode_common(b.data, b.len, 20 * 10 - 1, &img), 0, "past max_pixels");
    free(b.data);

    /* with every CRC checking: an unknown filter type (5), ... */
    b = make_png(4, 3, 0, 8, bad_filter, 1u << 20);
    declined(b, "filter type 5");
    cr_assert_neq(api_png_decode_spng(b.data, b.len, 1u << 24, &img, &e), API_OK);
    free(b.data);
    /* ... a wrong Adler-32 (the stream's last four bytes, before the IDAT's CRC), ... */
    b = make_png(4, 3, 0, 8, cycle, 1u << 20);
    b.data[b.len - 12 - 5] ^= 1;
    recrc(&b, 33);
    declined(b, "bad Adler-32");
    cr_assert_neq(api_png_decode_spng(b.data, b.len, 1u << 24, &img, &e), API_OK);
    b.data[b.len - 12 - 5] ^= 1;
    recrc(&b, 33);
    cr_assert_eq(api_png_decode_common(b.data, b.len, 1u << 24, &img), 1, "the fixture itself is fine");
    api_image_free(&img);
    /* ... and image data for more or fewer rows than the header says */
    for (int rows = 2; rows <= 4; rows += 2) {
        b.data[8 + 8 + 7] = (uint8_t)rows;
        recrc(&b, 8);
        declined(b, "image data too long or short");
    }
    free(b.data);
}

/* Chunks the common path does not read: an ancillary chunk (it declines; libspng decodes
 * the same pixels), palettes, 1/2/4-bit grey, interlacing. */
Test(png_decode, other_forms_go_to_libspng) {
    png_bytes b = make_png(16, 16, 0, 8, cycle, 1u << 20);
    png_bytes with = {malloc(8 + 25), 8 + 25}; /* signature, IHDR, then a pHYs chunk */
    memcpy(with.data, b.data, 8 + 25);
    uint8_t phys[9] = {0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, 1};
    add_chunk(&with, "pHYs", phys, 9);
    with.data = realloc(with.data, with.len + b.len - 33);
    memcpy(with.data + with.len, b.data + 33, b.len - 33);
    with.len += b.len - 33;
    declined(with, "pHYs");
    api_image via, direct;
    api_error e;
    cr_assert_eq(api_image_decode(with.data, with.len, 1u << 24, &via, &e), API_OK, "%s", e.detail);
    cr_assert_eq(api_png_decode_common(b.data, b.len, 1u << 24, &direct), 1);
    cr_assert_eq(memcmp(via.pixels, direct.pixels, 256), 0);
    api_image_free(&via), api_image_free(&direct);
    for (int k = 0; k < 3; k++) { /* IHDR byte 24: depth 4; 25: palette; 28: Adam7 */
        png_bytes o = {malloc(b.len), b.len};
        memcpy(o.data, b.data, b.len);
        const int at[3] = {24, 25, 28}, v[3] = {4, 3, 1};
        o.data[at[k]] = (uint8_t)v[k];
        put32(o.data + 29, crc32_gzip_refl(0, o.data + 12, 17));
        declined(o, "other IHDR forms");
        free(o.data);
    }
    free(with.data), free(b.data);
}
