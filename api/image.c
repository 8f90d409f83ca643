/* image.c - PNG (libspng, after png_decode.c's common forms) and JPEG (libturbojpeg 2.x)
 * decoding; encoding is in png_encode.c. */
#include "image.h"

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define PNG_CHUNK_LIMIT (8u << 20) /* ancillary chunk bytes; image data is bounded by the pixel limit */

static api_status pixel_limit(int w, int h, uint64_t max_pixels, api_error *e) {
    if (w <= 0 || h <= 0) return api_fail(e, API_UNPROCESSABLE, "image has no pixels");
    if ((uint64_t)w * (uint64_t)h > max_pixels)
        return api_fail_limit(e, "max_pixels", "image is %dx%d = %llu pixels; max_pixels = %llu", w, h,
                              (unsigned long long)w * (unsigned long long)h, (unsigned long long)max_pixels);
    return API_OK;
}

api_status api_png_decode_spng(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, api_error *e) {
    memset(out, 0, sizeof *out);
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return api_fail(e, API_INTERNAL, "out of memory decoding the image");
    api_status st = API_UNPROCESSABLE;
    uint8_t *buf = NULL;
    struct spng_ihdr ihdr;
    int rc;
    spng_set_image_limits(ctx, API_PNG_SIDE_LIMIT, API_PNG_SIDE_LIMIT);
    spng_set_chunk_limits(ctx, PNG_CHUNK_LIMIT, PNG_CHUNK_LIMIT);
    if ((rc = spng_set_png_buffer(ctx, data, len)) || (rc = spng_get_ihdr(ctx, &ihdr))) {
        if (rc == SPNG_EWIDTH || rc == SPNG_EHEIGHT || rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT)
            st = api_fail_limit(e, "max_pixels", "PNG header declares an image too large to decode (limit %u per side)",
                                API_PNG_SIDE_LIMIT);
        else
            api_fail(e, API_UNPROCESSABLE, "invalid PNG: %s", spng_strerror(rc));
        goto done;
    }
    if ((st = pixel_limit((int)ihdr.width, (int)ihdr.height, max_pixels, e))) goto done;
    st = API_UNPROCESSABLE;
    int w = (int)ihdr.width, h = (int)ihdr.height, deep = ihdr.bit_depth == 16;
    int grey = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
    int keep = grey ? 1 : 3; /* channels kept: alpha is dropped, palette becomes RGB */
    /* 16-bit: the file's own layout (SPNG_FMT_PNG), samples in host byte order (libspng
     * 0.7 swaps them from the file's big-endian); grey <= 8 bits: G8 (1/2/4-bit scaled to
     * 0..255 as cv2 does); colour: RGB8 (palettes expanded, alpha dropped), straight into
     * the image; grey + alpha through RGBA8 */
    int fmt, per_px;
    if (deep) {
        static const int samples_of[7] = {1, 0, 3, 0, 2, 0, 4}; /* by PNG colour type */
        fmt = SPNG_FMT_PNG;
        per_px = 2 * samples_of[ihdr.color_type <= 6 ? ihdr.color_type : 0];
    } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
        fmt = SPNG_FMT_G8, per_px = 1;
    } else if (!grey) {
        fmt = SPNG_FMT_RGB8, per_px = 3;
    } else {
        fmt = SPNG_FMT_RGBA8, per_px = 4;
    }
    size_t size, n = (size_t)w * h;
    if ((rc = spng_decoded_image_size(ctx, fmt, &size)) || !per_px || size != (size_t)per_px * n) {
        api_fail(e, API_UNPROCESSABLE, "invalid PNG: %s", rc ? spng_strerror(rc) : "unexpected decoded size");
        goto done;
    }
    out->pixels = malloc(n * keep);
    /* 8-bit grey and colour decode in place; the rest through a buffer of the file's layout */
    int direct = !deep && per_px == keep;
    buf = direct ? out->pixels : malloc(size);
    if (deep) out->deep = malloc(sizeof(uint16_t) * n * keep);
    if (!buf || !out->pixels || (deep && !out->deep)) {
        st = api_fail(e, API_INTERNAL, "out of memory decoding the image");
        goto done;
    }
    /* then read on to IEND, so a file cut after its last pixel row is still refused */
    if ((rc = spng_decode_image(ctx, buf, size, fmt, 0)) || (rc = spng_decode_chunks(ctx))) {
        api_fail(e, API_UNPROCESSABLE, "invalid PNG: %s", spng_strerror(rc));
        goto done;
    }
    int stride = per_px / (deep ? 2 : 1); /* samples per pixel in buf */
    if (deep) {
        const uint16_t *p = (const uint16_t *)buf;
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < keep; c++) {
                uint16_t v = p[i * stride + c];
                out->deep[i * keep + c] = v;
                out->pixels[i * keep + c] = (uint8_t)(v >> 8); /* cv2.imread's rule */
            }
    } else if (!direct) {
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < keep; c++)
                out->pixels[i * keep + c] = buf[i * stride + c];
    }
    out->width = w, out->height = h, out->channels = grey ? 1 : 3;
    out->source_depth = deep ? 16 : 8;
    out->format = "png";
    st = API_OK;
done:
    if (buf == out->pixels) buf = NULL; /* decoded in place: the image owns it */
    if (st) api_image_free(out);
    free(buf);
    spng_ctx_free(ctx);
    return st;
}

/* The scans (SOS markers) of a JPEG, counted by walking its segments and skipping each
 * scan's entropy-coded data (where 0xFF is followed by a stuffed 0 or a restart marker);
 * up to EOI or the end of the bytes. libjpeg decodes every scan over the whole image, so a
 * progressive file of thousands of one-coefficient scans costs seconds to decode from a
 * couple of megabytes (libturbojpeg 2.1 has no scan limit of its own). */
static int jpeg_scans(const uint8_t *p, size_t n) {
    size_t i = 2; /* after SOI */
    int scans = 0;
    while (i + 4 <= n && p[i] == 0xFF) {
        uint8_t m = p[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD9) break; /* EOI */
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            i += 2;
            continue;
        }
        i += 2 + (size_t)(p[i + 2] << 8 | p[i + 3]);
        if (m != 0xDA) continue;
        scans++;
        while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0x00 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7)))
            i++;
    }
    return scans;
}

static api_status decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, api_error *e) {
    int scans = jpeg_scans(data, len);
    if (scans > API_JPEG_MAX_SCANS)
        return api_fail(e, API_UNPROCESSABLE,
                        "the JPEG has %d scans; at most %d are decoded (a progressive JPEG has about 10)", scans,
                        API_JPEG_MAX_SCANS);
    tjhandle tj = tjInitDecompress();
    if (!tj) return api_fail(e, API_INTERNAL, "out of memory decoding the image");
    api_status st = API_UNPROCESSABLE;
    /* libturbojpeg 2.1 can return success from a header cut short without filling these in;
     * pixel_limit then rejects the zero size */
    int w = 0, h = 0, subsamp = -1, cs = -1;
    if (len > (size_t)0x7fffffff || tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs)) {
        api_fail(e, API_UNPROCESSABLE, "invalid JPEG: %s", tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = pixel_limit(w, h, max_pixels, e))) goto done;
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        st = api_fail(e, API_UNSUPPORTED, "CMYK JPEG images are not supported; send RGB or greyscale");
        goto done;
    }
    int grey = cs == TJCS_GRAY;
    out->pixels = malloc((size_t)w * h * (grey ? 1 : 3));
    if (!out->pixels) {
        st = api_fail(e, API_INTERNAL, "out of memory decoding the image");
        goto done;
    }
    if (tjDecompress2(tj, data, (unsigned long)len, out->pixels, w, 0, h, grey ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING)) {
        st = api_fail(e, API_UNPROCESSABLE, "invalid JPEG: %s", tjGetErrorStr2(tj));
        goto done;
    }
    out->width = w, out->height = h, out->channels = grey ? 1 : 3, out->source_depth = 8, out->format = "jpeg";
    st = API_OK;
done:
    if (st) api_image_free(out);
    tjDestroy(tj);
    return st;
}

api_status api_image_decode(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, api_error *e) {
    memset(out, 0, sizeof *out);
    if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        return api_png_decode_common(data, len, max_pixels, out) ? API_OK
                                                                 : api_png_decode_spng(data, len, max_pixels, out, e);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, len, max_pixels, out, e);
    if (!len) return api_fail(e, API_UNPROCESSABLE, "image is empty");
    return api_fail(e, API_UNSUPPORTED, "the bytes are neither PNG, JPEG nor DICOM (Part 10)");
}

void api_window_from_range(api_window *w, double lo, double hi) {
    /* so that lo maps to 0 and hi to 255 under api_window_value */
    w->width = hi - lo + 1.0;
    w->center = lo + (hi - lo + 1.0) / 2.0;
}

uint8_t api_window_value(const api_window *w, double x) {
    double lo = w->center - 0.5 - (w->width - 1) / 2, hi = w->center - 0.5 + (w->width - 1) / 2;
    if (x <= lo) return 0;
    if (x > hi) return 255;
    double y = ((x - (w->center - 0.5)) / (w->width - 1) + 0.5) * 255.0;
    return (uint8_t)(y + 0.5);
}

void api_image_apply_window(api_image *img, api_window *w) {
    if (w->mode == API_WINDOW_NONE) return;
    size_t n = (size_t)img->width * img->height * img->channels;
    if (w->mode == API_WINDOW_AUTO) {
        unsigned lo = 65535, hi = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned v = img->deep ? img->deep[i] : img->pixels[i];
            lo = v < lo ? v : lo, hi = v > hi ? v : hi;
        }
        if (n == 0) lo = hi = 0;
        api_window_from_range(w, lo, hi);
    }
    for (size_t i = 0; i < n; i++)
        img->pixels[i] = api_window_value(w, img->deep ? img->deep[i] : img->pixels[i]);
}

void api_image_free(api_image *img) {
    free(img->pixels);
    free(img->deep);
    img->pixels = NULL;
    img->deep = NULL;
}
