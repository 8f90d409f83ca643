/* config.h - lgmsd serve settings: one table of settings, read from defaults, an INI
 * file (libinih), LGMSD_* environment variables and --flags, in rising precedence. */
#ifndef LGMSD_CONFIG_H
#define LGMSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LGMSD_MAX_MODELS 16
#define LGMSD_MODEL_NAME_MAX 128
#define LGMSD_PATH_MAX 1024

typedef struct {
    char name[LGMSD_MODEL_NAME_MAX];
    char path[LGMSD_PATH_MAX];
} lgmsd_model_spec;

typedef enum { LGMSD_LOG_ERROR = 0, LGMSD_LOG_WARN, LGMSD_LOG_INFO, LGMSD_LOG_DEBUG } lgmsd_log_level;

typedef struct {
    char host[256];
    int port;
    lgmsd_model_spec models[LGMSD_MAX_MODELS];
    int n_models;
    char default_model[LGMSD_MODEL_NAME_MAX];
    int workers;        /* 0: from the CPU quota / cpuset */
    int engine_threads; /* threads splitting each inference; 0 = CPUs / workers */
    int blas_threads;   /* OpenBLAS threads inside each engine thread */
    int queue;          /* bounded job queue capacity */
    uint64_t max_body_bytes;
    uint64_t body_budget; /* bytes all bodies being received may hold; 0: from the memory limit */
    uint64_t max_pixels;
    int max_frames;           /* DICOM frames one request may segment (frame=all) */
    uint64_t max_voxels;      /* largest NIfTI volume, voxels */
    uint64_t max_grid_voxels; /* largest volume after resampling to the model's spacing */
    int max_patches;          /* most sliding-window patches one volume may need */
    int max_jobs;             /* volume jobs kept at once (queued, running or finished) */
    int job_ttl;              /* seconds a finished job's result is kept */
    char jobs_store[512];     /* "memory", or a redis:// URL */
    char jobs_prefix[64];     /* Redis key prefix */
    char jobs_store_password_file[LGMSD_PATH_MAX];
    int job_lease; /* seconds a Redis job's lease lasts unrenewed */
    int max_connections;
    int connection_timeout; /* seconds a connection may stay idle */
    int header_timeout;     /* seconds to send a complete request header, from connection or previous reply */
    int read_timeout;       /* seconds to receive a whole request, from connection or previous reply */
    int request_timeout;    /* seconds a request may wait for a worker */
    int drain_timeout;      /* seconds to finish accepted requests on SIGTERM */
    char api_key_file[LGMSD_PATH_MAX];
    char cors_origins[1024]; /* comma-separated origins allowed to call from a browser */
    char tls_cert[LGMSD_PATH_MAX];
    char tls_key[LGMSD_PATH_MAX];
    lgmsd_log_level log_level;
    int warmup;
    int ui;                           /* serve the web page at / */
    char config_file[LGMSD_PATH_MAX]; /* the file that was read, "" if none */
} lgmsd_config;

/* What reading settings gave: the one result type of this layer. */
typedef enum {
    LGMSD_CONFIG_ERROR = -1,
    LGMSD_CONFIG_OK = 0,
    LGMSD_CONFIG_HELP = 1,  /* --help: print the settings and exit */
    LGMSD_CONFIG_PRINT = 2, /* --print-config: write the settings as INI and exit */
} lgmsd_config_result;

/* Every setting at its default (the settings table holds them). */
void lgmsd_config_defaults(lgmsd_config *c);
/* Apply one INI file / the environment / argv flags: OK, or ERROR with err. */
lgmsd_config_result lgmsd_config_apply_file(lgmsd_config *c, const char *path, char *err, size_t errlen);
/* The same for INI text in memory (NUL-terminated). */
lgmsd_config_result lgmsd_config_apply_string(lgmsd_config *c, const char *text, char *err, size_t errlen);
lgmsd_config_result lgmsd_config_apply_env(lgmsd_config *c, char **envp, char *err, size_t errlen);
/* argv[0] is the subcommand name. OK, HELP (--help), PRINT (--print-config) or ERROR. */
lgmsd_config_result lgmsd_config_apply_flags(lgmsd_config *c, int argc, char **argv, char *err, size_t errlen);
/* Everything together, in precedence order: defaults < file (--config or LGMSD_CONFIG) < env < flags. */
lgmsd_config_result lgmsd_config_load(lgmsd_config *c, int argc, char **argv, char **envp, char *err, size_t errlen);
/* Final checks (TLS pair, model names, ...). */
lgmsd_config_result lgmsd_config_validate(const lgmsd_config *c, char *err, size_t errlen);
void lgmsd_config_print_help(FILE *f);
/* Every setting as a commented INI file ([server] keys, [models]), with c's values. */
void lgmsd_config_write_ini(FILE *f, const lgmsd_config *c);
/* "set LGMSD_<KEY> or --<key>": how a user changes a setting, for messages naming a limit. */
const char *lgmsd_setting_hint(const char *key, char *buf, size_t cap);
const char *lgmsd_log_level_name(lgmsd_log_level l);

#endif
