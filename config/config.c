/* config.c - the settings table and its four sources. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_STR, T_INT, T_U64, T_BOOL, T_LEVEL, T_MODELS } setting_type;

typedef struct {
    const char *key; /* INI key; env LGMSD_<KEY>; flag --<key with - for _> */
    setting_type type;
    size_t offset, cap;
    long long min, max;
    const char *def; /* the default, as text a user could write ("" for none): applied and printed */
    const char *help;
} setting;

#define F(field) offsetof(lgmsd_config, field), sizeof(((lgmsd_config *)0)->field)

static const setting settings[] = {
    {"host", T_STR, F(host), 0, 0, "127.0.0.1", "address to bind (0.0.0.0 for all IPv4, :: for IPv6)"},
    {"port", T_INT, F(port), 0, 65535, "8080", "TCP port (0: any free port, printed at start)"},
    {"model", T_MODELS, F(models), 0, 0, "",
     "NAME=FILE (repeatable; a bare FILE is named 'default'); none: the shipped "
     "demo model; env LGMSD_MODELS: comma-separated"},
    {"default_model", T_STR, F(default_model), 0, 0, "", "model used by POST /v1/segment (none: the first)"},
    {"workers", T_INT, F(workers), 0, 256, "0", "inference threads; 0 = CPU quota / cpuset of this process"},
    {"engine_threads", T_INT, F(engine_threads), 0, 256, "0",
     "threads splitting each inference; 0 = CPUs / workers (1 worker on 4 CPUs: 4)"},
    {"blas_threads", T_INT, F(blas_threads), 1, 256, "1",
     "OpenBLAS threads inside each engine thread (keep workers x engine x blas <= CPUs)"},
    {"queue", T_INT, F(queue), 1, 100000, "32", "requests waiting for a worker before 503 + Retry-After"},
    {"max_body_bytes", T_U64, F(max_body_bytes), 1024, 1LL << 40, "67108864", "largest request body (413 past it)"},
    {"body_budget", T_U64, F(body_budget), 0, 1LL << 42, "0",
     "bytes the bodies being received may hold together (503 past it); 0: 1/4 of the memory limit"},
    {"max_pixels", T_U64, F(max_pixels), 1, 1LL << 40, "26214400", "largest image, width x height (413 past it)"},
    {"max_frames", T_INT, F(max_frames), 1, 100000, "100",
     "DICOM frames one request may segment with frame=all (413 past it)"},
    {"max_voxels", T_U64, F(max_voxels), 1, 1LL << 40, "134217728", "largest CT volume, voxels (413 past it)"},
    {"max_grid_voxels", T_U64, F(max_grid_voxels), 1, 1LL << 40, "16777216",
     "largest CT volume after resampling to the model's spacing, voxels (413 past it)"},
    {"max_patches", T_INT, F(max_patches), 1, 1000000, "256", "most sliding-window patches one volume may need (413)"},
    {"max_jobs", T_INT, F(max_jobs), 1, 100000, "4",
     "volume jobs held at once: queued, running or finished with a result (503 past it)"},
    {"job_ttl", T_INT, F(job_ttl), 1, 604800, "600", "seconds a finished volume job's result is kept"},
    {"jobs_store", T_STR, F(jobs_store), 0, 0, "memory",
     "where volume jobs live: memory (this process), or redis://[:PASSWORD@]HOST[:PORT][/DB] shared by replicas"},
    {"jobs_prefix", T_STR, F(jobs_prefix), 0, 0, "lgmsd:", "key prefix of the jobs in Redis"},
    {"jobs_store_password_file", T_STR, F(jobs_store_password_file), 0, 0, "",
     "file holding the Redis password (else the URL's, or LGMSD_JOBS_STORE_PASSWORD)"},
    {"job_lease", T_INT, F(job_lease), 2, 3600, "15",
     "seconds a replica's claim on a running Redis job lasts unrenewed; then another replica takes it over"},
    {"max_connections", T_INT, F(max_connections), 1, 1000000, "1024", "open connections at once"},
    {"connection_timeout", T_INT, F(connection_timeout), 1, 86400, "30", "seconds a connection may stay idle"},
    {"header_timeout", T_INT, F(header_timeout), 1, 86400, "15",
     "seconds a connection may go without a complete request header (also the keep-alive idle time)"},
    {"read_timeout", T_INT, F(read_timeout), 1, 86400, "60",
     "seconds a client has to send a whole request (headers and body)"},
    {"request_timeout", T_INT, F(request_timeout), 1, 86400, "60",
     "seconds a request may wait in the queue (then 503)"},
    {"drain_timeout", T_INT, F(drain_timeout), 0, 86400, "30", "seconds to finish accepted requests after SIGTERM"},
    {"api_key_file", T_STR, F(api_key_file), 0, 0, "", "file of Bearer keys, one a line; none: no authentication"},
    {"cors_origins", T_STR, F(cors_origins), 0, 0, "",
     "web origins allowed to call from a browser, comma-separated (e.g. https://app.example.org); none: no CORS"},
    {"tls_cert", T_STR, F(tls_cert), 0, 0, "", "PEM certificate: serve HTTPS (with tls_key)"},
    {"tls_key", T_STR, F(tls_key), 0, 0, "", "PEM private key"},
    {"log_level", T_LEVEL, F(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"warmup", T_BOOL, F(warmup), 0, 0, "true", "run one inference per model before /readyz turns 200"},
    {"ui", T_BOOL, F(ui), 0, 0, "true", "serve the web page at / (false: 404 there)"},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static int set_value(lgmsd_config *c, const setting *s, const char *v, int *models_seen, char *err, size_t errlen);

void lgmsd_config_defaults(lgmsd_config *c) {
    memset(c, 0, sizeof *c);
    char err[128];
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].def[0] && settings[i].type != T_MODELS)
            set_value(c, &settings[i], settings[i].def, NULL, err, sizeof err);
}

/* --flag-name and LGMSD_ENV_NAME of a setting key. */
static void flag_name(const char *key, char *buf, size_t cap) {
    snprintf(buf, cap, "--%s", key);
    for (char *p = buf; *p; p++)
        if (*p == '_') *p = '-';
}

static void env_name(const char *key, char *buf, size_t cap) {
    snprintf(buf, cap, "LGMSD_%s", !strcmp(key, "model") ? "models" : key);
    for (char *p = buf; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
}

const char *lgmsd_setting_hint(const char *key, char *buf, size_t cap) {
    char flag[64], env[64];
    flag_name(key, flag, sizeof flag);
    env_name(key, env, sizeof env);
    snprintf(buf, cap, "set %s or %s", env, flag);
    return buf;
}

const char *lgmsd_log_level_name(lgmsd_log_level l) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    return (unsigned)l < 4 ? names[l] : "?";
}

static int add_model(lgmsd_config *c, const char *spec, char *err, size_t errlen) {
    const char *eq = strchr(spec, '=');
    const char *name = eq ? spec : "default", *path = eq ? eq + 1 : spec;
    size_t nlen = eq ? (size_t)(eq - spec) : strlen(name);
    if (nlen == 0 || nlen >= LGMSD_MODEL_NAME_MAX || !*path || strlen(path) >= LGMSD_PATH_MAX) {
        snprintf(err, errlen, "model: expected NAME=FILE, got '%.200s'", spec);
        return -1;
    }
    for (size_t i = 0; i < nlen; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-')) {
            snprintf(err, errlen, "model name '%.*s' may only use letters, digits, '.', '_' and '-'", (int)nlen, name);
            return -1;
        }
    }
    for (int i = 0; i < c->n_models; i++)
        if (strlen(c->models[i].name) == nlen && !strncmp(c->models[i].name, name, nlen)) {
            snprintf(err, errlen, "model '%.*s' is given twice", (int)nlen, name);
            return -1;
        }
    if (c->n_models == LGMSD_MAX_MODELS) {
        snprintf(err, errlen, "at most %d models", LGMSD_MAX_MODELS);
        return -1;
    }
    lgmsd_model_spec *m = &c->models[c->n_models++];
    memcpy(m->name, name, nlen);
    m->name[nlen] = 0;
    strcpy(m->path, path);
    return 0;
}

/* Set one setting from text. replace_models: the first model entry from a new source
 * replaces the models of lower-precedence sources. */
static int set_value(lgmsd_config *c, const setting *s, const char *v, int *models_seen, char *err, size_t errlen) {
    char *field = (char *)c + s->offset;
    char *end;
    switch (s->type) {
    case T_STR:
        if (strlen(v) >= s->cap) {
            snprintf(err, errlen, "%s: value too long", s->key);
            return -1;
        }
        strcpy(field, v);
        return 0;
    case T_INT:
    case T_U64: {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (end == v || *end || errno || n < s->min || n > s->max) {
            snprintf(err, errlen, "%s: '%.64s' is not a whole number from %lld to %lld", s->key, v, s->min, s->max);
            return -1;
        }
        if (s->type == T_INT)
            *(int *)field = (int)n;
        else
            *(uint64_t *)field = (uint64_t)n;
        return 0;
    }
    case T_BOOL:
        if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            *(int *)field = 1;
        else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            *(int *)field = 0;
        else {
            snprintf(err, errlen, "%s: '%.64s' is not true or false", s->key, v);
            return -1;
        }
        return 0;
    case T_LEVEL:
        for (int l = 0; l <= LGMSD_LOG_DEBUG; l++)
            if (!strcasecmp(v, lgmsd_log_level_name((lgmsd_log_level)l))) {
                *(lgmsd_log_level *)field = (lgmsd_log_level)l;
                return 0;
            }
        snprintf(err, errlen, "log_level: '%.64s' is not error, warn, info or debug", v);
        return -1;
    case T_MODELS:
        if (models_seen && !*models_seen) {
            c->n_models = 0;
            *models_seen = 1;
        }
        return add_model(c, v, err, errlen);
    }
    return -1;
}

static const setting *find_setting(const char *key) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(settings[i].key, key)) return &settings[i];
    return NULL;
}

typedef struct {
    lgmsd_config *c;
    char *err;
    size_t errlen;
    int models_seen;
    int failed;
} ini_ctx;

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *x = user;
    if (x->failed) return 0;
    char spec[LGMSD_MODEL_NAME_MAX + LGMSD_PATH_MAX + 2];
    if (!strcmp(section, "models")) {
        snprintf(spec, sizeof spec, "%s=%s", name, value);
        if (set_value(x->c, find_setting("model"), spec, &x->models_seen, x->err, x->errlen)) goto fail;
        return 1;
    }
    const setting *s = find_setting(name);
    if (!s || s->type == T_MODELS) {
        snprintf(x->err, x->errlen, "unknown setting '%s' (models go in a [models] section as NAME = FILE)", name);
        goto fail;
    }
    if (set_value(x->c, s, value, &x->models_seen, x->err, x->errlen)) goto fail;
    return 1;
fail:
    x->failed = 1;
    return 0;
}

/* INI from a file (path) or from text in memory; errors say where (file:line or line N). */
static int apply_ini(lgmsd_config *c, const char *path, const char *text, char *err, size_t errlen) {
    char inner[512] = "";
    ini_ctx x = {c, inner, sizeof inner, 0, 0};
    int rc = path ? ini_parse(path, on_ini_entry, &x) : ini_parse_string(text, on_ini_entry, &x);
    if (rc == -1 && path) {
        snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    if (rc) {
        snprintf(err, errlen, "%s:%d: %s", path ? path : "line", rc, inner[0] ? inner : "syntax error");
        return -1;
    }
    return 0;
}

lgmsd_config_result lgmsd_config_apply_file(lgmsd_config *c, const char *path, char *err, size_t errlen) {
    if (apply_ini(c, path, NULL, err, errlen)) return LGMSD_CONFIG_ERROR;
    snprintf(c->config_file, sizeof c->config_file, "%s", path);
    return LGMSD_CONFIG_OK;
}

lgmsd_config_result lgmsd_config_apply_string(lgmsd_config *c, const char *text, char *err, size_t errlen) {
    return apply_ini(c, NULL, text, err, errlen) ? LGMSD_CONFIG_ERROR : LGMSD_CONFIG_OK;
}

lgmsd_config_result lgmsd_config_apply_env(lgmsd_config *c, char **envp, char *err, size_t errlen) {
    int models_seen = 0;
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "LGMSD_", 6)) continue;
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char key[64];
        size_t n = (size_t)(eq - *e) - 6;
        if (n == 0 || n >= sizeof key) continue;
        for (size_t i = 0; i < n; i++) {
            char ch = (*e)[6 + i];
            key[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        key[n] = 0;
        if (!strcmp(key, "config")) continue; /* the file itself, read by lgmsd_config_load */
        if (!strcmp(key, "models")) {         /* LGMSD_MODELS=a=/x.lgms,b=/y.lgms */
            char buf[LGMSD_MAX_MODELS * (LGMSD_MODEL_NAME_MAX + LGMSD_PATH_MAX)];
            snprintf(buf, sizeof buf, "%s", eq + 1);
            for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                if (set_value(c, find_setting("model"), tok, &models_seen, err, errlen)) return LGMSD_CONFIG_ERROR;
            continue;
        }
        const setting *s = find_setting(key);
        if (!s || s->type == T_MODELS) continue; /* other LGMSD_ variables are not settings */
        char inner[400];
        if (set_value(c, s, eq + 1, &models_seen, inner, sizeof inner)) {
            snprintf(err, errlen, "environment LGMSD_%.40s: %s", eq - *e - 6 > 40 ? "" : *e + 6, inner);
            return LGMSD_CONFIG_ERROR;
        }
    }
    return LGMSD_CONFIG_OK;
}

lgmsd_config_result lgmsd_config_apply_flags(lgmsd_config *c, int argc, char **argv, char *err, size_t errlen) {
    struct option opts[N_SETTINGS + 4];
    char names[N_SETTINGS][40];
    size_t k = 0;
    for (size_t i = 0; i < N_SETTINGS; i++, k++) {
        snprintf(names[i], sizeof names[i], "%s", settings[i].key);
        for (char *p = names[i]; *p; p++)
            if (*p == '_') *p = '-';
        opts[k] = (struct option){names[i], required_argument, 0, (int)(1000 + i)};
    }
    opts[k++] = (struct option){"config", required_argument, 0, 'c'};
    opts[k++] = (struct option){"help", no_argument, 0, 'h'};
    opts[k++] = (struct option){"print-config", no_argument, 0, 'p'};
    opts[k] = (struct option){0, 0, 0, 0};
    int models_seen = 0, ch, print = 0;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        if (ch == 'h') return LGMSD_CONFIG_HELP;
        if (ch == 'c') continue;
        if (ch == 'p') {
            print = 1;
            continue;
        }
        if (ch == '?' || ch == ':') {
            snprintf(err, errlen, "%s option '%.64s' (see lgmsd serve --help)",
                     ch == ':' ? "missing value for" : "unknown", argv[optind - 1]);
            return LGMSD_CONFIG_ERROR;
        }
        if (set_value(c, &settings[ch - 1000], optarg, &models_seen, err, errlen)) return LGMSD_CONFIG_ERROR;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%.64s' (see lgmsd serve --help)", argv[optind]);
        return LGMSD_CONFIG_ERROR;
    }
    return print ? LGMSD_CONFIG_PRINT : LGMSD_CONFIG_OK;
}

/* --config FILE from argv, without disturbing getopt state for the later full pass. */
static const char *config_flag(int argc, char **argv) {
    const char *found = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            found = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            found = argv[i] + 9;
    }
    return found;
}

lgmsd_config_result lgmsd_config_load(lgmsd_config *c, int argc, char **argv, char **envp, char *err, size_t errlen) {
    lgmsd_config_defaults(c);
    const char *file = config_flag(argc, argv);
    if (!file)
        for (char **e = envp; e && *e; e++)
            if (!strncmp(*e, "LGMSD_CONFIG=", 13) && (*e)[13]) file = *e + 13;
    if (file && lgmsd_config_apply_file(c, file, err, errlen)) return LGMSD_CONFIG_ERROR;
    if (lgmsd_config_apply_env(c, envp, err, errlen)) return LGMSD_CONFIG_ERROR;
    lgmsd_config_result rc = lgmsd_config_apply_flags(c, argc, argv, err, errlen);
    if (rc == LGMSD_CONFIG_HELP || rc == LGMSD_CONFIG_ERROR) return rc;
    lgmsd_config_result valid = lgmsd_config_validate(c, err, errlen);
    return valid == LGMSD_CONFIG_OK ? rc : valid;
}

lgmsd_config_result lgmsd_config_validate(const lgmsd_config *c, char *err, size_t errlen) {
    if (!c->host[0]) {
        snprintf(err, errlen, "host must not be empty");
        return LGMSD_CONFIG_ERROR;
    }
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        snprintf(err, errlen, "tls_cert and tls_key go together: set both or neither");
        return LGMSD_CONFIG_ERROR;
    }
    if (strcmp(c->jobs_store, "memory") && strncmp(c->jobs_store, "redis://", 8)) {
        /* the value is not echoed: it may hold a password */
        snprintf(err, errlen, "jobs_store must be memory or a redis://[:PASSWORD@]HOST[:PORT][/DB] URL%s",
                 strncmp(c->jobs_store, "rediss://", 9) ? "" : " (rediss://, Redis over TLS, is not supported)");
        return LGMSD_CONFIG_ERROR;
    }
    if (c->default_model[0] && c->n_models) {
        int found = 0;
        for (int i = 0; i < c->n_models; i++)
            found |= !strcmp(c->models[i].name, c->default_model);
        if (!found) {
            snprintf(err, errlen, "default_model '%s' is not one of the configured models", c->default_model);
            return LGMSD_CONFIG_ERROR;
        }
    }
    return LGMSD_CONFIG_OK;
}

void lgmsd_config_print_help(FILE *f) {
    char flag[64], env[64];
    fprintf(f, "usage: lgmsd serve [--config FILE] [--SETTING VALUE]...\n\n"
               "Each setting comes, highest precedence first, from --flag, the LGMSD_<SETTING> environment\n"
               "variable, the INI file (--config FILE or LGMSD_CONFIG; models in a [models] section as\n"
               "NAME = FILE, everything else as key = value), or its default.\n\n");
    fprintf(f, "  %-28s %-24s %s\n", "flag / env", "default", "meaning");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        flag_name(settings[i].key, flag, sizeof flag);
        env_name(settings[i].key, env, sizeof env);
        fprintf(f, "  %-28s %-24s %s\n", flag, settings[i].def[0] ? settings[i].def : "(none)", settings[i].help);
        fprintf(f, "  %-28s\n", env);
    }
    fprintf(f, "  %-28s %-24s %s\n  %-28s\n", "--config", "(none)", "INI file to read", "LGMSD_CONFIG");
    fprintf(f, "  %-28s %-24s %s\n", "--print-config", "",
            "print every setting as an INI file (these flags applied) "
            "and exit");
}

/* The value of a setting as INI text. */
static void value_text(const lgmsd_config *c, const setting *s, char *buf, size_t cap) {
    const char *field = (const char *)c + s->offset;
    switch (s->type) {
    case T_STR: snprintf(buf, cap, "%s", field); break;
    case T_INT: snprintf(buf, cap, "%d", *(const int *)field); break;
    case T_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case T_BOOL: snprintf(buf, cap, "%s", *(const int *)field ? "true" : "false"); break;
    case T_LEVEL: snprintf(buf, cap, "%s", lgmsd_log_level_name(*(const lgmsd_log_level *)field)); break;
    case T_MODELS: buf[0] = 0; break;
    }
}

void lgmsd_config_write_ini(FILE *f, const lgmsd_config *c) {
    char flag[64], env[64], value[LGMSD_PATH_MAX];
    fprintf(f, "; lgmsd configuration (INI), written by `lgmsd serve --print-config` from the settings table.\n"
               "; Each key can also be given as an LGMSD_<KEY> environment variable or a --key flag;\n"
               "; those win over this file. A commented key has no value: its meaning is in the comment.\n\n"
               "[server]\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (s->type == T_MODELS) continue;
        flag_name(s->key, flag, sizeof flag);
        env_name(s->key, env, sizeof env);
        value_text(c, s, value, sizeof value);
        fprintf(f, "; %s (%s, %s; default %s)\n", s->help, flag, env, s->def[0] ? s->def : "none");
        if (value[0])
            fprintf(f, "%s = %s\n", s->key, value);
        else
            fprintf(f, "; %s =\n", s->key);
    }
    fprintf(f, "\n[models]\n; NAME = FILE (--model NAME=FILE, LGMSD_MODELS=a=/x,b=/y); the first is the default unless "
               "default_model says otherwise.\n; none: the shipped demonstration model.\n");
    for (int i = 0; i < c->n_models; i++)
        fprintf(f, "%s = %s\n", c->models[i].name, c->models[i].path);
}
