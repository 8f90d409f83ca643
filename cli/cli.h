/* cli.h - the lgmsd subcommands (one file each) and helpers they share. Every refusal
 * says why on stderr, prefixed by the command ("lgmsd segment: ..."); exit codes: 0 done,
 * 1 a file failed, 2 a usage error. */
#ifndef LGMSD_CLI_H
#define LGMSD_CLI_H

#include "../api/dicom.h"
#include "../api/image.h"
#include "../api/options.h"
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
/* Load a model (path NULL: the default), printing "lgmsd CMD: why" on failure. */
lgms_model *lgmsd_load_model_or_report(const char *cmd, const char *path);
/* Read and decode an image file (PNG, JPEG, or a DICOM file's opts->frame) as the daemon
 * would, window included: opts->window is applied (a DICOM file's own window otherwise,
 * by the DICOM pixel rule) and *applied says which (applied and opts may be NULL: none).
 * No pixel limit: local files are trusted. 0, or -1 with err naming the file. */
/* Limits for local DICOM files: generous (local files are trusted), only to keep a broken
 * file from asking for absurd amounts of memory. */
extern const api_dicom_limits LGMSD_CLI_DICOM_LIMITS;
int lgmsd_read_image(const char *path, const api_options *opts, api_image *img, api_window *applied, char *err,
                     size_t errlen);
/* Set a per-image option (threshold, alpha, window) from a flag, with the daemon's own
 * validation; on a bad value prints "lgmsd CMD: --FLAG: why" and returns -1. */
int lgmsd_option_flag(const char *cmd, api_options *o, const char *key, const char *value);
/* Make the output folder (and its parents) if missing. 0, or -1 after printing why. */
int lgmsd_make_dir(const char *cmd, const char *dir);

#endif
