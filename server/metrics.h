/* metrics.h - Prometheus metrics: request counts by route and status, latency histograms
 * (queue wait, inference, total), queue depth, busy workers, rejections, volume jobs by
 * state. Thread-safe. */
#ifndef LGMSD_METRICS_H
#define LGMSD_METRICS_H

#include <stddef.h>

typedef enum {
    LGMSD_REJECT_QUEUE_FULL = 0,
    LGMSD_REJECT_DRAINING,
    LGMSD_REJECT_TOO_LARGE,
    LGMSD_REJECT_TIMEOUT,
    LGMSD_REJECT_READ_TIMEOUT,
    LGMSD_REJECT_JOBS_FULL,
    LGMSD_REJECT_HEADER_TIMEOUT,
    LGMSD_REJECT_EVICTED,     /* an idle connection closed to let a new one in */
    LGMSD_REJECT_BODY_BUDGET, /* the bodies being received hold body_budget */
    LGMSD_REJECT_COUNT
} lgmsd_reject_reason;

void lgmsd_metrics_init(int workers, int queue_capacity);
void lgmsd_metrics_request(const char *route, int status, double total_seconds);
/* One image task: its queue wait, and its inference time (negative: it did not run). */
void lgmsd_metrics_inference(double queue_seconds, double inference_seconds);
void lgmsd_metrics_reject(lgmsd_reject_reason reason);
void lgmsd_metrics_set_queue(int depth, int busy_workers);
void lgmsd_metrics_set_ready(int ready);
/* Jobs by state; a negative count is left out (the redis store knows only its cluster's
 * queued and running jobs). */
void lgmsd_metrics_set_jobs(int queued, int running, int done, int failed, int cancelled);
/* The redis store: whether it answers (-1, the default: the memory store, no gauge),
 * jobs taken over, leases renewed. */
void lgmsd_metrics_set_store(int up);
void lgmsd_metrics_takeover(void);
void lgmsd_metrics_lease_renewals(int n);
/* Text exposition format 0.0.4, malloc'ed. */
char *lgmsd_metrics_render(size_t *len);

#endif
