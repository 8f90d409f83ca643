/* fuzz_dicom.c - libFuzzer target: DICOM Part 10 bytes through the whole DICOM input path
 * (api/dicom.cc, DCMTK underneath): the parse and its checks, every frame's decode by the
 * pixel rule (the object's own VOI, then a window asked for), and for the first frame the
 * SEG and secondary-capture writers, as a reply with outputs=dicom-seg,dicom-sc runs them.
 * Limits are small so that each input stays cheap. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../api/dicom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    api_dicom *d;
    api_dicom_info info;
    api_error e;
    api_dicom_limits lim = {1u << 16, 1u << 22, 4};
    if (api_dicom_open(data, size, &lim, &d, &info, &e)) return 0;
    int frames = info.frames < 4 ? info.frames : 4;
    for (int f = 0; f < frames; f++) {
        api_window asked = {f % 2 ? API_WINDOW_SET : API_WINDOW_NONE, 40, 400};
        api_image img;
        if (api_dicom_frame(d, f, &asked, &img, &e)) continue;
        size_t n = (size_t)img.width * img.height;
        unsigned sum = 0; /* touch every pixel: a wrong size shows under ASan */
        for (size_t i = 0; i < n * img.channels; i++)
            sum += img.pixels[i];
        if (f == 0 && img.width == info.columns && img.height == info.rows) {
            static const char *const labels[] = {"lesion"};
            api_dicom_maker maker = {"fuzz", "fuzz.lgms", labels, 1};
            uint8_t *lab = malloc(n ? n : 1), *rgb = malloc(n ? 3 * n : 1), *out;
            size_t out_len;
            if (lab && rgb) {
                for (size_t i = 0; i < n; i++)
                    lab[i] = img.pixels[i * img.channels] > 127 - sum % 2;
                memset(rgb, 0x80, 3 * n);
                const uint8_t *lp = lab, *rp = rgb;
                int idx = 0;
                if (!api_dicom_seg(d, &idx, &lp, 1, &maker, &out, &out_len, &e)) free(out);
                if (!api_dicom_sc(d, &idx, &rp, 1, &maker, &out, &out_len, &e)) free(out);
            }
            free(lab);
            free(rgb);
        }
        api_image_free(&img);
    }
    api_dicom_close(d);
    return 0;
}
