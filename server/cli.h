/* cli.h - the lgmsd subcommands (one file each) and helpers they share. */
#ifndef LGMS_CLI_H
#define LGMS_CLI_H

#include "../engine/lgms.h"

int cmd_serve(int argc, char **argv);
int cmd_segment(int argc, char **argv);
int cmd_tensor(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);

/* The shipped default model: $LGMSD_DEFAULT_MODEL, else the first of the installed and
 * in-tree locations that exists. Returns a static string. */
const char *lgmsd_default_model_path(void);
/* Load a model (path NULL: the default), printing the error to stderr on failure. */
lgms_model *lgmsd_load_model_or_report(const char *path);
double lgmsd_now(void);

#endif
