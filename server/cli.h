/* cli.h - the lgmsd subcommands (one file each) and helpers they share. */
#ifndef LGMS_CLI_H
#define LGMS_CLI_H

#include "../api/image.h"
#include "../engine/lgms.h"

int cmd_serve(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_tensor(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);

/* The shipped default model: $LGMSD_DEFAULT_MODEL, else the first of the installed and
 * in-tree locations that exists. Returns a static string. */
const char *lgmsd_default_model_path(void);
/* Load a model (path NULL: the default), printing the error to stderr on failure. */
lgms_model *lgmsd_load_model_or_report(const char *path);
double lgmsd_now(void);
/* Whole file into a malloc'ed buffer (at most max_bytes). 0, or -1 with err. */
int lgmsd_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len, char *err, size_t errlen);
/* Read and decode a PNG/JPEG file (no pixel limit: local files are trusted). 0, or -1 with
 * err naming the file. */
int lgmsd_read_image(const char *path, api_image *img, char *err, size_t errlen);
/* Write bytes to a file (replacing it). 0, or -1 with err. */
int lgmsd_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
