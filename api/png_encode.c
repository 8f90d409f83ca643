/* png_encode.c - the PNGs lgmsd sends back (masks, overlays, montages): 8-bit grey or RGB,
 * every row Up-filtered, the image data deflated by ISA-L's igzip.
 *
 * Replies are regenerated per request, so speed matters more than the last bytes. For a
 * 512x512 overlay: zlib level 1 (through libspng) 13-22 ms, 356 KB; libdeflate level 1
 * 6.2 ms, 408 KB; igzip level 2 3.2 ms, 419 KB (docs/performance.md). igzip can also end a
 * piece of a stream on a full flush (byte-aligned, no back-references across it), so the
 * rows can be split into bands that threads deflate at once and that join into one valid
 * zlib stream: two bands take 1.7 ms. All PNGs of a reply go through one queue of bands
 * (api_png_encode_jobs), so a small mask and a large overlay keep both threads busy. The container is small and written
 * here: signature, IHDR, one IDAT, IEND, each chunk with its CRC-32. Decoding: png_decode.c and image.c. */
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define PNG_LEVEL 2
#define PNG_LEVEL_BUF ISAL_DEF_LVL2_DEFAULT
#define PNG_FILTER_UP 2
#define PNG_MAX_BANDS 16
#define PNG_BAND_BYTES (128u << 10) /* smaller bands cost more in flushes than threads save */

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

/* adler32(A || B) from adler32(A), adler32(B) (each started at 1) and B's length. */
static uint32_t adler_join(uint32_t a, uint32_t b, size_t len_b) {
    const uint64_t m = 65521;
    uint64_t n = len_b % m, a1 = a & 0xffff, a2 = b & 0xffff;
    uint64_t s1 = (a1 + a2 + m - 1) % m;
    uint64_t s2 = ((a >> 16) + (b >> 16) + n * a1 + m - n) % m;
    return (uint32_t)(s2 << 16 | s1);
}

typedef struct {
    api_png_job *job;
    size_t stride;
    int bands;
    uint8_t *raw;  /* filtered rows: a filter-type byte, then the row */
    uint8_t *zout; /* band b deflates into zout + b * zcap */
    size_t zcap;
    size_t zlen[PNG_MAX_BANDS];    /* 0: that band failed */
    uint32_t adler[PNG_MAX_BANDS]; /* of the band's filtered rows */
} png_image;

typedef struct {
    png_image *images;
    int (*tasks)[2]; /* (image, band), largest bands first */
    int n_tasks;
    atomic_int next;
} png_run;

/* The rows [*y0, *y1) of band b of image m. */
static void band_rows(const png_image *m, int b, int *y0, int *y1) {
    long long h = m->job->height;
    *y0 = (int)(h * b / m->bands), *y1 = (int)(h * (b + 1) / m->bands);
}

/* Band b of image m: draws its rows if they are drawn (and the row above, for the filter),
 * filters them and deflates them; every band but the last ends on a full flush, the last
 * ends the stream. */
static void png_band(png_image *m, int b) {
    const api_png_job *job = m->job;
    size_t stride = m->stride;
    int y0, y1;
    band_rows(m, b, &y0, &y1);
    int top = y0 ? y0 - 1 : 0; /* first row needed */
    m->zlen[b] = 0;
    uint8_t *drawn = NULL;
    const uint8_t *px = job->pixels; /* row y at px + (y - top) * stride */
    if (!px) {
        if (!(drawn = malloc((size_t)(y1 - top) * stride))) return;
        job->draw(job->arg, top, y1, drawn);
        px = drawn;
    } else {
        px += (size_t)top * stride;
    }
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = px + (size_t)(y - top) * stride, *above = y ? row - stride : NULL;
        uint8_t *dst = m->raw + (size_t)y * (stride + 1);
        dst[0] = PNG_FILTER_UP; /* the first row's "above" is zero: Up stores it as is */
        if (above)
            for (size_t x = 0; x < stride; x++)
                dst[1 + x] = (uint8_t)(row[x] - above[x]);
        else
            memcpy(dst + 1, row, stride);
    }
    free(drawn);
    uint8_t *in = m->raw + (size_t)y0 * (stride + 1);
    size_t in_len = (size_t)(y1 - y0) * (stride + 1);
    m->adler[b] = isal_adler32(1, in, in_len);
    uint8_t *level_buf = malloc(PNG_LEVEL_BUF);
    if (!level_buf) return;
    /* zeroed first: isal_deflate_stateless_init leaves fields of the internal state that
     * the assembly reads (valgrind: "depends on uninitialised value") */
    struct isal_zstream s = {0};
    isal_deflate_stateless_init(&s);
    s.level = PNG_LEVEL;
    s.level_buf = level_buf;
    s.level_buf_size = PNG_LEVEL_BUF;
    s.gzip_flag = IGZIP_DEFLATE;
    s.end_of_stream = b == m->bands - 1;
    s.flush = b == m->bands - 1 ? NO_FLUSH : FULL_FLUSH;
    s.next_in = in;
    s.avail_in = (uint32_t)in_len;
    s.next_out = m->zout + (size_t)b * m->zcap;
    s.avail_out = (uint32_t)m->zcap;
    if (isal_deflate_stateless(&s) == COMP_OK) m->zlen[b] = s.total_out;
    free(level_buf);
}

/* Each thread takes the next band of any image until none is left. */
static void png_worker(void *arg, int index, int count) {
    (void)index, (void)count;
    png_run *r = arg;
    for (int t; (t = atomic_fetch_add(&r->next, 1)) < r->n_tasks;)
        png_band(&r->images[r->tasks[t][0]], r->tasks[t][1]);
}

/* The PNG file of image m from its deflated bands; 0 on success. */
static int png_file(png_image *m) {
    const api_png_job *job = m->job;
    size_t zlen = 2 + 4; /* zlib header and Adler-32 */
    uint32_t adler = 1;
    for (int b = 0; b < m->bands; b++) {
        if (!m->zlen[b]) return -1;
        int y0, y1;
        band_rows(m, b, &y0, &y1);
        adler = adler_join(adler, m->adler[b], (size_t)(y1 - y0) * (m->stride + 1));
        zlen += m->zlen[b];
    }
    uint8_t *png = zlen <= 0x7fffffff ? malloc(8 + 25 + 12 + zlen + 12) : NULL;
    if (!png) return -1;
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *p = png;
    memcpy(p, signature, 8);
    p += 8;
    uint8_t *ihdr = p + 8; /* width, height, depth 8, colour type, compression, filter, interlace */
    put_be32(put_be32(ihdr, (uint32_t)job->width), (uint32_t)job->height);
    ihdr[8] = 8, ihdr[9] = job->channels == 1 ? 0 : 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    p = close_chunk(p, "IHDR", 13);
    uint8_t *z = p + 8;
    z[0] = 0x78, z[1] = 0x01; /* deflate, 32 KiB window, no preset dictionary, "fastest" */
    z += 2;
    for (int b = 0; b < m->bands; b++) {
        memcpy(z, m->zout + (size_t)b * m->zcap, m->zlen[b]);
        z += m->zlen[b];
    }
    put_be32(z, adler);
    p = close_chunk(p, "IDAT", zlen);
    p = close_chunk(p, "IEND", 0);
    m->job->png = png;
    m->job->len = (size_t)(p - png);
    return 0;
}

int api_png_encode_jobs(api_png_job *jobs, int n, const api_parallel *par) {
    int threads = par && par->threads > 1 ? par->threads : 1, rc = 0, n_tasks = 0;
    png_image *images = calloc((size_t)n, sizeof *images);
    int(*tasks)[2] = malloc(sizeof *tasks * (size_t)(n ? n : 1) * PNG_MAX_BANDS);
    for (int i = 0; i < n; i++)
        jobs[i].png = NULL, jobs[i].len = 0;
    if (!images || !tasks) rc = -1;
    for (int i = 0; !rc && i < n; i++) {
        api_png_job *j = &jobs[i];
        png_image *m = &images[i];
        size_t stride = (size_t)j->width * j->channels, raw_len = (stride + 1) * (size_t)j->height;
        if (j->width <= 0 || j->height <= 0 || (j->channels != 1 && j->channels != 3) || (!j->pixels && !j->draw) ||
            stride > 0x7fffffff / 2 || raw_len / (stride + 1) != (size_t)j->height || raw_len > 0x7fffffff) {
            rc = -1;
            break;
        }
        /* one band on one thread; on several, bands of PNG_BAND_BYTES or more, so that
         * the threads stay busy to the end without paying a full flush per few rows */
        size_t bands = threads == 1 ? 1 : raw_len / PNG_BAND_BYTES;
        if (bands > PNG_MAX_BANDS) bands = PNG_MAX_BANDS;
        if (bands > (size_t)j->height) bands = (size_t)j->height;
        if (bands < 1) bands = 1;
        m->job = j, m->stride = stride, m->bands = (int)bands;
        m->zcap = deflate_bound(raw_len / bands + stride + 1);
        m->raw = malloc(raw_len);
        m->zout = m->raw ? malloc(m->zcap * bands) : NULL;
        if (!m->zout) rc = -1;
        for (int b = 0; b < m->bands; b++)
            tasks[n_tasks][0] = i, tasks[n_tasks][1] = b, n_tasks++;
    }
    if (!rc) {
        /* largest bands first: the last ones to start are then the shortest */
        for (int a = 1; a < n_tasks; a++)
            for (int b = a; b > 0; b--) {
                png_image *p = &images[tasks[b - 1][0]], *q = &images[tasks[b][0]];
                if ((p->stride + 1) * p->job->height / p->bands >= (q->stride + 1) * q->job->height / q->bands) break;
                int t0 = tasks[b][0], t1 = tasks[b][1];
                tasks[b][0] = tasks[b - 1][0], tasks[b][1] = tasks[b - 1][1];
                tasks[b - 1][0] = t0, tasks[b - 1][1] = t1;
            }
        png_run run = {.images = images, .tasks = tasks, .n_tasks = n_tasks};
        atomic_init(&run.next, 0);
        if (threads > 1 && n_tasks > 1)
            par->run(par->runner, png_worker, &run);
        else
            png_worker(&run, 0, 1);
        for (int i = 0; !rc && i < n; i++)
            rc = png_file(&images[i]);
    }
    for (int i = 0; images && i < n; i++) {
        free(images[i].raw), free(images[i].zout);
        if (rc) free(jobs[i].png), jobs[i].png = NULL, jobs[i].len = 0;
    }
    free(images), free(tasks);
    return rc;
}

int api_png_encode_parallel(const uint8_t *pixels, int width, int height, int channels, const api_parallel *par,
                            uint8_t **out, size_t *out_len) {
    api_png_job job = {.width = width, .height = height, .channels = channels, .pixels = pixels};
    int rc = pixels ? api_png_encode_jobs(&job, 1, par) : -1;
    *out = rc ? NULL : job.png;
    *out_len = rc ? 0 : job.len;
    return rc;
}

int api_png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len) {
    return api_png_encode_parallel(pixels, width, height, channels, NULL, out, out_len);
}
