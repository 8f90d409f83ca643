/* fuzz_image.c - libFuzzer target: PNG and JPEG decoding as uploads reach it (the same
 * entry point serves both formats; the png and jpeg corpora steer it). Where png_decode.c
 * decodes a PNG, libspng must decode it to the same pixels: a difference aborts
 * (fuzz_pngdiff.c reaches png_decode.c's filters with PNGs it writes itself). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/image.h"
#include "png_agree.h"

static void same_as_spng(const uint8_t *data, size_t size) {
    api_image fast, ref;
    api_error e;
    if (!api_png_decode_common(data, size, 1u << 22, &fast)) return;
    if (api_png_decode_spng(data, size, 1u << 22, &ref, &e)) abort(); /* accepted what libspng refuses */
    if (!png_decodes_agree(&fast, &ref)) abort();
    api_image_free(&fast), api_image_free(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_image img;
    api_error e;
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
