/* dicom.h - DICOM Part 10 in and out, through DCMTK (C++ behind this C header: api/dicom.cc
 * is the project's one C++ file).
 *
 * In: an object read from memory (never a temporary file), its frames decoded one at a
 * time by DicomImage, which applies the modality LUT (rescale slope and intercept), the
 * VOI (a window or a VOI LUT), MONOCHROME1 inversion, palette colour, YBR and planar
 * configurations; RLE, JPEG (baseline, extended, lossless) and JPEG-LS are decoded. The
 * pixel rule for monochrome frames: a window asked for in the request wins; else the
 * object's first stored window, else its first VOI LUT; else 8-bit data keeps its stored
 * values (so an ultrasound frame and the same frame exported to PNG give the same mask);
 * else (more than 8 bits, no window) the frame's own minimum..maximum. Colour frames are
 * decoded to RGB as stored. Transfer syntaxes DCMTK cannot decode (JPEG 2000) are
 * refused (415, naming the syntax); objects without an image to segment (structured
 * reports, RT structure sets, segmentations) are 422.
 *
 * Out: a DICOM Segmentation (binary, one segment per foreground class) and a secondary
 * capture of the overlays, both new instances in a new series of the source's study, with
 * the source's patient and study attributes and references to the source image and frames.
 *
 * Nothing patient-identifying is read into api_dicom_info: only UIDs and image facts. */
#ifndef LGMS_API_DICOM_H
#define LGMS_API_DICOM_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "options.h"
#include "status.h"

/* What a reply may say about the source object. */
typedef struct {
    char study_uid[65], series_uid[65], sop_uid[65], sop_class_uid[65];
    char modality[17];
    char photometric[17];
    char transfer_syntax[65];      /* UID */
    char transfer_syntax_name[96]; /* as DCMTK names it */
    int frames, rows, columns, bits_stored;
    int has_spacing;
    double spacing[2]; /* mm between rows and between columns: PixelSpacing, else ImagerPixelSpacing */
    int has_frame_of_reference;
} api_dicom_info;

typedef struct api_dicom api_dicom;

/* The limits an object is opened under. */
typedef struct {
    uint64_t max_pixels;   /* rows x columns (413 past it) */
    uint64_t max_inflated; /* a deflated dataset, inflated (413 past it; the server passes max_body_bytes) */
    int max_frames;        /* frames segmented at once with frame=all (413 past it) */
} api_dicom_limits;

/* 1 when the bytes are DICOM Part 10 ("DICM" after the 128-byte preamble). */
int api_dicom_detect(const uint8_t *data, size_t len);

/* Parse an object from memory (the bytes are copied) and check it holds an image this
 * pipeline can take. Before DCMTK reads anything, the object's structure is walked without
 * allocating: every element, item and fragment must fit in what holds it and sequences
 * nest at most 16 deep (422 naming the element otherwise), because DCMTK allocates each
 * element's declared length unchecked. Then: pixel data, a transfer syntax DCMTK decodes
 * (415 otherwise, naming it), rows x columns within lim->max_pixels (413). API_OK with
 * *out and info filled. */
api_status api_dicom_open(const uint8_t *data, size_t len, const api_dicom_limits *lim, api_dicom **out,
                          api_dicom_info *info, api_error *e);
void api_dicom_close(api_dicom *d);

/* Decode frame (0-based) to 8-bit grey or RGB by the pixel rule above; win is the
 * request's window and receives the window applied (mode NONE when none was). */
api_status api_dicom_frame(api_dicom *d, int frame, api_window *win, api_image *out, api_error *e);

/* What the SEG and SC carry about their maker. */
typedef struct {
    const char *model_name;    /* the served model's name */
    const char *model_id;      /* the model file's own name */
    const char *const *labels; /* n_classes foreground class names */
    int n_classes;
} api_dicom_maker;

/* A binary DICOM Segmentation of the given source frames (0-based), labels[i] holding
 * rows x columns class ids for frames[i]: one segment per foreground class (1..n_classes),
 * one SEG frame per source frame and segment, each referencing its source frame, and the
 * source series in ReferencedSeriesSequence. *out is a malloc'ed Part 10 file. */
api_status api_dicom_seg(api_dicom *src, const int *frames, const uint8_t *const *labels, int n_frames,
                         const api_dicom_maker *maker, uint8_t **out, size_t *out_len, api_error *e);

/* A secondary capture of RGB overlays (rows x columns x 3 each) of the given source frames:
 * one frame (Secondary Capture) or several (Multi-frame True Color Secondary Capture),
 * BurnedInAnnotation copied from the source. *out is a malloc'ed Part 10 file. */
api_status api_dicom_sc(api_dicom *src, const int *frames, const uint8_t *const *rgb, int n_frames,
                        const api_dicom_maker *maker, uint8_t **out, size_t *out_len, api_error *e);

#endif
