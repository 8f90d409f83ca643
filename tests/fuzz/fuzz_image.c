/* fuzz_image.c - libFuzzer target: PNG and JPEG decoding as uploads reach it (the same
 * entry point serves both formats; the png and jpeg corpora steer it). */
#include <stddef.h>
#include <stdint.h>

#include "../../api/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_image img;
    api_error e;
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
