/* image.c - PNG (libspng) and JPEG (libturbojpeg 2.x) decoding; encoding is in png_encode.c. */
#include "image.h"

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#define PNG_CHUNK_LIMIT (8u << 20) /* ancillary chunk bytes; image data is bounded by the pixel limit */
#define PNG_SIDE_LIMIT 100000u

static api_image_status pixel_limit(int w, int h, uint64_t max_pixels, char *err, size_t errlen) {
    if (w <= 0 || h <= 0) {
        snprintf(err, errlen, "image has no pixels");
        return API_IMAGE_CORRUPT;
    }
    if ((uint64_t)w * (uint64_t)h > max_pixels) {
        snprintf(err, errlen, "image is %dx%d = %llu pixels; max_pixels = %llu", w, h,
                 (unsigned long long)w * (unsigned long long)h, (unsigned long long)max_pixels);
        return API_IMAGE_TOO_LARGE;
    }
    return API_IMAGE_OK;
}

static api_image_status decode_png(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, char *err,
                                   size_t errlen) {
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return API_IMAGE_NOMEM;
    api_image_status st = API_IMAGE_CORRUPT;
    uint8_t *buf = NULL;
    struct spng_ihdr ihdr;
    int rc;
    spng_set_image_limits(ctx, PNG_SIDE_LIMIT, PNG_SIDE_LIMIT);
    spng_set_chunk_limits(ctx, PNG_CHUNK_LIMIT, PNG_CHUNK_LIMIT);
    if ((rc = spng_set_png_buffer(ctx, data, len)) || (rc = spng_get_ihdr(ctx, &ihdr))) {
        snprintf(err, errlen, "invalid PNG: %s", spng_strerror(rc));
        if (rc == SPNG_EWIDTH || rc == SPNG_EHEIGHT || rc == SPNG_EUSER_WIDTH || rc == SPNG_EUSER_HEIGHT) {
            snprintf(err, errlen, "PNG header declares an image too large to decode (limit %u per side)",
                     PNG_SIDE_LIMIT);
            st = API_IMAGE_TOO_LARGE;
        }
        goto done;
    }
    if ((st = pixel_limit((int)ihdr.width, (int)ihdr.height, max_pixels, err, errlen))) goto done;
    st = API_IMAGE_CORRUPT;
    int w = (int)ihdr.width, h = (int)ihdr.height, deep = ihdr.bit_depth == 16;
    int grey = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
    int keep = grey ? 1 : 3; /* channels kept: alpha is dropped, palette becomes RGB */
    /* 16-bit: the file's own layout (SPNG_FMT_PNG), samples in host byte order (libspng
     * 0.7 swaps them from the file's big-endian); grey <= 8 bits: G8 (1/2/4-bit scaled to
     * 0..255 as cv2 does); everything else through RGBA8, which expands palettes */
    int fmt, per_px;
    if (deep) {
        static const int samples_of[7] = {1, 0, 3, 0, 2, 0, 4}; /* by PNG colour type */
        fmt = SPNG_FMT_PNG;
        per_px = 2 * samples_of[ihdr.color_type <= 6 ? ihdr.color_type : 0];
    } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
        fmt = SPNG_FMT_G8, per_px = 1;
    } else {
        fmt = SPNG_FMT_RGBA8, per_px = 4;
    }
    size_t size, n = (size_t)w * h;
    if ((rc = spng_decoded_image_size(ctx, fmt, &size)) || !per_px || size != (size_t)per_px * n) {
        snprintf(err, errlen, "invalid PNG: %s", rc ? spng_strerror(rc) : "unexpected decoded size");
        goto done;
    }
    buf = malloc(size);
    out->pixels = malloc(n * keep);
    if (deep) out->deep = malloc(sizeof(uint16_t) * n * keep);
    if (!buf || !out->pixels || (deep && !out->deep)) {
        st = API_IMAGE_NOMEM;
        goto done;
    }
    /* then read on to IEND, so a file cut after its last pixel row is still refused */
    if ((rc = spng_decode_image(ctx, buf, size, fmt, 0)) || (rc = spng_decode_chunks(ctx))) {
        snprintf(err, errlen, "invalid PNG: %s", spng_strerror(rc));
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
    } else if (stride == 1) {
        memcpy(out->pixels, buf, n);
    } else {
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < keep; c++)
                out->pixels[i * keep + c] = buf[i * stride + c];
    }
    out->width = w, out->height = h, out->channels = grey ? 1 : 3;
    out->source_depth = deep ? 16 : 8;
    out->format = "png";
    st = API_IMAGE_OK;
done:
    if (st) api_image_free(out);
    free(buf);
    spng_ctx_free(ctx);
    return st;
}

static api_image_status decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, char *err,
                                    size_t errlen) {
    tjhandle tj = tjInitDecompress();
    if (!tj) return API_IMAGE_NOMEM;
    api_image_status st = API_IMAGE_CORRUPT;
    /* libturbojpeg 2.1 can return success from a header cut short without filling these in;
     * pixel_limit then rejects the zero size */
    int w = 0, h = 0, subsamp = -1, cs = -1;
    if (len > (size_t)0x7fffffff || tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs)) {
        snprintf(err, errlen, "invalid JPEG: %s", tjGetErrorStr2(tj));
        goto done;
    }
    if ((st = pixel_limit(w, h, max_pixels, err, errlen))) goto done;
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        snprintf(err, errlen, "CMYK JPEG images are not supported; send RGB or greyscale");
        st = API_IMAGE_UNSUPPORTED;
        goto done;
    }
    int grey = cs == TJCS_GRAY;
    out->pixels = malloc((size_t)w * h * (grey ? 1 : 3));
    if (!out->pixels) {
        st = API_IMAGE_NOMEM;
        goto done;
    }
    if (tjDecompress2(tj, data, (unsigned long)len, out->pixels, w, 0, h, grey ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING)) {
        snprintf(err, errlen, "invalid JPEG: %s", tjGetErrorStr2(tj));
        st = API_IMAGE_CORRUPT;
        goto done;
    }
    out->width = w, out->height = h, out->channels = grey ? 1 : 3, out->source_depth = 8, out->format = "jpeg";
    st = API_IMAGE_OK;
done:
    if (st) {
        free(out->pixels);
        out->pixels = NULL;
    }
    tjDestroy(tj);
    return st;
}

api_image_status api_image_decode(const uint8_t *data, size_t len, uint64_t max_pixels, api_image *out, char *err,
                                  size_t errlen) {
    memset(out, 0, sizeof *out);
    if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) return decode_png(data, len, max_pixels, out, err, errlen);
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, len, max_pixels, out, err, errlen);
    snprintf(err, errlen, len ? "image is neither PNG nor JPEG" : "image is empty");
    return len ? API_IMAGE_UNSUPPORTED : API_IMAGE_CORRUPT;
}

void api_image_free(api_image *img) {
    free(img->pixels);
    free(img->deep);
    img->pixels = NULL;
    img->deep = NULL;
}
