/* jpeg_scans.c - write a valid progressive JPEG with an extreme scan script, for the
 * hostile-input tests: every AC coefficient of every component in its own scan, refined
 * one bit at a time (3 DC scans + 3 x 63 x 11 AC scans = 2082 scans). libjpeg decodes the
 * whole image once per scan, so a 2048x2048 file of this kind takes seconds; cjpeg's
 * -scans reader stops at 100 scans, the library itself does not.
 *
 * usage: jpeg_scans WIDTH HEIGHT OUT.jpg */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h> /* after stdio.h and stddef.h, as it requires */

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: jpeg_scans WIDTH HEIGHT OUT.jpg\n");
        return 2;
    }
    int w = atoi(argv[1]), h = atoi(argv[2]);
    FILE *out = fopen(argv[3], "wb");
    if (w < 8 || h < 8 || !out) {
        fprintf(stderr, "jpeg_scans: bad size or cannot write %s\n", argv[3]);
        return 1;
    }
    static jpeg_scan_info scans[3 + 3 * 63 * 11];
    int n = 0;
    for (int c = 0; c < 3; c++)
        scans[n++] = (jpeg_scan_info){1, {c}, 0, 0, 0, 0};
    for (int c = 0; c < 3; c++)
        for (int k = 1; k < 64; k++) {
            scans[n++] = (jpeg_scan_info){1, {c}, k, k, 0, 10};
            for (int al = 10; al > 0; al--)
                scans[n++] = (jpeg_scan_info){1, {c}, k, k, al, al - 1};
        }
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = (JDIMENSION)w, cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3, cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 95, TRUE);
    cinfo.scan_info = scans, cinfo.num_scans = n;
    jpeg_start_compress(&cinfo, TRUE);
    unsigned char *row = malloc((size_t)w * 3);
    unsigned seed = 1;
    while (cinfo.next_scanline < cinfo.image_height) { /* a smooth gradient and a little noise: a small file */
        for (int i = 0; i < w * 3; i++)
            row[i] = (unsigned char)((i / 3 + cinfo.next_scanline) / 40 + ((seed = seed * 1103515245u + 12345u) >> 30));
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(out);
    free(row);
    printf("%d scans\n", n);
    return 0;
}
