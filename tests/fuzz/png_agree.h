/* png_agree.h - the fuzzers' one rule for png_decode.c against libspng: the same size,
 * channels, depth and pixels (and 16-bit samples). Header-only: each fuzzer is one file. */
#ifndef LGMS_FUZZ_PNG_AGREE_H
#define LGMS_FUZZ_PNG_AGREE_H

#include <string.h>

#include "../../api/image.h"

static int png_decodes_agree(const api_image *fast, const api_image *ref) {
    size_t n = (size_t)ref->width * ref->height * ref->channels;
    return fast->width == ref->width && fast->height == ref->height && fast->channels == ref->channels &&
           fast->source_depth == ref->source_depth && !fast->deep == !ref->deep &&
           !memcmp(fast->pixels, ref->pixels, n) && (!ref->deep || !memcmp(fast->deep, ref->deep, 2 * n));
}

#endif
