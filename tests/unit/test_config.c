/* test_config.c - settings from defaults, INI file, environment and flags, in
 * precedence order, and clear errors for bad values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../config/config.h"

static char ini_path[64];

static void write_ini(const char *text) {
    strcpy(ini_path, "/tmp/lgmsd-test-XXXXXX");
    int fd = mkstemp(ini_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void cleanup(void) {
    if (ini_path[0]) unlink(ini_path);
}

TestSuite(config, .fini = cleanup);

Test(config, defaults_accept_clinical_images) {
    lgmsd_config c;
    lgmsd_config_defaults(&c);
    cr_assert_str_eq(c.host, "127.0.0.1");
    cr_assert_eq(c.port, 8080);
    cr_assert_geq(c.max_body_bytes, 64ull << 20);
    cr_assert_geq(c.max_pixels, 4096ull * 5120);
    cr_assert_eq(c.workers, 0);
}

Test(config, precedence_flag_env_file_default) {
    write_ini("# lgmsd\n[server]\nport = 9000\nqueue = 7\nworkers = 3\nlog_level = debug\n"
              "[models]\nbusi = /models/busi.lgms\nkvasir = /models/kvasir.lgms\n");
    char cfgflag[80];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", ini_path);
    char *argv[] = {"serve", cfgflag, "--port", "9100", "--model", "x=/m/x.lgms", NULL};
    char *env[] = {"LGMSD_PORT=9050", "LGMSD_QUEUE=11", "LGMSD_UNRELATED_THING=1", "PATH=/bin", NULL};
    lgmsd_config c;
    char err[512];
    cr_assert_eq(lgmsd_config_load(&c, 6, argv, env, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.port, 9100);              /* flag beats env and file */
    cr_assert_eq(c.queue, 11);               /* env beats file */
    cr_assert_eq(c.workers, 3);              /* file beats default */
    cr_assert_eq(c.max_pixels, 25ull << 20); /* default */
    cr_assert_eq(c.log_level, LGMSD_LOG_DEBUG);
    cr_assert_eq(c.n_models, 1); /* flags' models replace the file's */
    cr_assert_str_eq(c.models[0].name, "x");
    cr_assert_str_eq(c.models[0].path, "/m/x.lgms");
    cr_assert_str_eq(c.config_file, ini_path);
}

Test(config, models_from_file_and_env) {
    write_ini("[models]\nbusi = /models/busi.lgms\nkvasir = /models/kvasir.lgms\n");
    char *argv[] = {"serve", "--config", ini_path, NULL};
    lgmsd_config c;
    char err[512];
    char *env0[] = {NULL};
    cr_assert_eq(lgmsd_config_load(&c, 3, argv, env0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_models, 2);
    cr_assert_str_eq(c.models[1].name, "kvasir");
    char *env[] = {"LGMSD_MODELS=a=/a.lgms,b=/b.lgms,c=/c.lgms", "LGMSD_DEFAULT_MODEL=b", NULL};
    cr_assert_eq(lgmsd_config_load(&c, 3, argv, env, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.n_models, 3);
    cr_assert_str_eq(c.default_model, "b");
    char *argv2[] = {"serve", "--model", "/only/file.lgms", NULL};
    cr_assert_eq(lgmsd_config_load(&c, 3, argv2, env0, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(c.models[0].name, "default");
}

Test(config, errors_are_explained) {
    lgmsd_config c;
    char err[512];
    char *env0[] = {NULL};
    struct {
        char *argv[6];
        int argc;
        const char *needle;
    } cases[] = {
        {{"serve", "--port", "70000"}, 3, "port"},
        {{"serve", "--queue", "0"}, 3, "queue"},
        {{"serve", "--workers", "two"}, 3, "workers"},
        {{"serve", "--bogus", "1"}, 3, "unknown option"},
        {{"serve", "--port"}, 2, "missing value"},
        {{"serve", "--tls-cert", "/c.pem"}, 3, "tls_key"},
        {{"serve", "--model", "bad name=/x"}, 3, "model name"},
        {{"serve", "--model", "a=/x", "--model", "a=/y"}, 5, "twice"},
        {{"serve", "--default-model", "nope", "--model", "a=/x"}, 5, "default_model"},
        {{"serve", "--log-level", "loud"}, 3, "log_level"},
        {{"serve", "stray"}, 2, "unexpected argument"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        cr_assert_eq(lgmsd_config_load(&c, cases[i].argc, cases[i].argv, env0, err, sizeof err), -1, "case %zu", i);
        cr_assert(strstr(err, cases[i].needle), "case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
    }
    char *env[] = {"LGMSD_PORT=http", NULL};
    char *argv[] = {"serve", NULL};
    cr_assert_eq(lgmsd_config_load(&c, 1, argv, env, err, sizeof err), -1);
    cr_assert(strstr(err, "LGMSD_PORT"), "%s", err);
    write_ini("[server]\nport = 1\ncolour = blue\n");
    char *argv2[] = {"serve", "--config", ini_path, NULL};
    cr_assert_eq(lgmsd_config_load(&c, 3, argv2, env0, err, sizeof err), -1);
    cr_assert(strstr(err, ":3:") && strstr(err, "colour"), "%s", err);
}

Test(config, help_flag) {
    lgmsd_config c;
    char err[256];
    char *argv[] = {"serve", "--help", NULL};
    char *env0[] = {NULL};
    cr_assert_eq(lgmsd_config_load(&c, 2, argv, env0, err, sizeof err), 1);
}
