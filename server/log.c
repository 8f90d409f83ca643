/* log.c - JSON log lines (jansson escapes everything). */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static lgmsd_log_level current = LGMSD_LOG_INFO;

void lgmsd_log_set_level(lgmsd_log_level level) { current = level; }
int lgmsd_log_enabled(lgmsd_log_level level) { return level <= current; }

static void emit(json_t *o, lgmsd_log_level level) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[96];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    json_object_set_new(o, "ts", json_string(stamp));
    json_object_set_new(o, "level", json_string(lgmsd_log_level_name(level)));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    json_decref(o);
}

void lgmsd_log(lgmsd_log_level level, const char *fmt, ...) {
    if (!lgmsd_log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string(msg));
    emit(o, level);
}

void lgmsd_log_request(const lgmsd_request_log *r) {
    if (!lgmsd_log_enabled(LGMSD_LOG_INFO)) return;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:I, s:I, s:f, s:f, s:f}", "msg", "request", "id",
                          r->request_id ? r->request_id : "", "method", r->method ? r->method : "", "route",
                          r->route ? r->route : "", "model", r->model, "status", r->status, "bytes_in",
                          (json_int_t)r->bytes_in, "bytes_out", (json_int_t)r->bytes_out, "queue_ms", r->queue_ms,
                          "inference_ms", r->inference_ms, "total_ms", r->total_ms);
    if (o && r->width > 0) {
        json_object_set_new(o, "width", json_integer(r->width));
        json_object_set_new(o, "height", json_integer(r->height));
    }
    if (o) emit(o, LGMSD_LOG_INFO);
}
