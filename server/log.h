/* log.h - structured logging: one JSON object a line on stderr. Never logs image data. */
#ifndef LGMSD_LOG_H
#define LGMSD_LOG_H

#include "../config/config.h"

void lgmsd_log_set_level(lgmsd_log_level level);
int lgmsd_log_enabled(lgmsd_log_level level);
/* {"ts":..., "level":..., "msg": <formatted>} */
void lgmsd_log(lgmsd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct {
    const char *request_id, *method, *route, *model;
    int status;
    unsigned long long bytes_in, bytes_out;
    double queue_ms, inference_ms, total_ms;
    int width, height;
} lgmsd_request_log;
void lgmsd_log_request(const lgmsd_request_log *r);

#endif
