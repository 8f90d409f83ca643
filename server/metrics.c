/* metrics.c - counters and histograms behind one mutex, rendered as Prometheus text. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 12
#define MAX_SERIES 64

static const double bounds[N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

typedef struct {
    unsigned long long buckets[N_BUCKETS], count;
    double sum;
} histogram;

static struct {
    pthread_mutex_t lock;
    struct {
        char route[16];
        int status;
        unsigned long long n;
    } series[MAX_SERIES];
    int n_series;
    histogram total, queue, inference;
    unsigned long long rejects[LGMSD_REJECT_COUNT];
    int depth, busy, workers, capacity, ready;
    int jobs[5];
    int store_up;                                 /* -1: the memory store (no such gauge) */
    unsigned long long takeovers, lease_renewals; /* the redis store's */
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void observe(histogram *h, double v) {
    for (int i = 0; i < N_BUCKETS; i++)
        if (v <= bounds[i]) h->buckets[i]++;
    h->count++;
    h->sum += v;
}

void lgmsd_metrics_init(int workers, int queue_capacity) {
    pthread_mutex_lock(&m.lock);
    m.workers = workers, m.capacity = queue_capacity, m.store_up = -1;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_request(const char *route, int status, double total_seconds) {
    pthread_mutex_lock(&m.lock);
    int i = 0;
    while (i < m.n_series && (m.series[i].status != status || strcmp(m.series[i].route, route)))
        i++;
    if (i == m.n_series && m.n_series < MAX_SERIES) {
        snprintf(m.series[i].route, sizeof m.series[i].route, "%s", route);
        m.series[i].status = status;
        m.n_series++;
    }
    if (i < m.n_series) m.series[i].n++;
    if (!strcmp(route, "segment")) observe(&m.total, total_seconds);
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_inference(double queue_seconds, double inference_seconds) {
    pthread_mutex_lock(&m.lock);
    observe(&m.queue, queue_seconds);
    if (inference_seconds >= 0) observe(&m.inference, inference_seconds);
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_reject(lgmsd_reject_reason reason) {
    pthread_mutex_lock(&m.lock);
    m.rejects[reason]++;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_set_queue(int depth, int busy_workers) {
    pthread_mutex_lock(&m.lock);
    m.depth = depth, m.busy = busy_workers;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_set_ready(int ready) {
    pthread_mutex_lock(&m.lock);
    m.ready = ready;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_set_jobs(int queued, int running, int done, int failed, int cancelled) {
    pthread_mutex_lock(&m.lock);
    int v[5] = {queued, running, done, failed, cancelled};
    memcpy(m.jobs, v, sizeof v);
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_set_store(int up) {
    pthread_mutex_lock(&m.lock);
    m.store_up = up;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_takeover(void) {
    pthread_mutex_lock(&m.lock);
    m.takeovers++;
    pthread_mutex_unlock(&m.lock);
}

void lgmsd_metrics_lease_renewals(int n) {
    pthread_mutex_lock(&m.lock);
    m.lease_renewals += (unsigned long long)n;
    pthread_mutex_unlock(&m.lock);
}

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static void put(strbuf *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->buf && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *nb = realloc(b->buf, nc);
        if (!nb) return;
        b->buf = nb, b->cap = nc;
    }
}

static void put_histogram(strbuf *b, const char *name, const char *help, const histogram *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < N_BUCKETS; i++)
        put(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], h->buckets[i]);
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->count, name, h->sum, name, h->count);
}

char *lgmsd_metrics_render(size_t *len) {
    static const char *reasons[LGMSD_REJECT_COUNT] = {"queue_full",     "draining",     "too_large",
                                                      "timeout",        "read_timeout", "jobs_full",
                                                      "header_timeout", "evicted",      "body_budget"};
    static const char *job_states[5] = {"queued", "running", "done", "failed", "cancelled"};
    strbuf b = {0};
    pthread_mutex_lock(&m.lock);
    put(&b, "# HELP lgmsd_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE lgmsd_requests_total counter\n");
    for (int i = 0; i < m.n_series; i++)
        put(&b, "lgmsd_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m.series[i].route, m.series[i].status,
            m.series[i].n);
    put_histogram(&b, "lgmsd_request_duration_seconds", "Segmentation requests, arrival of the body to reply.",
                  &m.total);
    put_histogram(&b, "lgmsd_queue_wait_seconds", "Time image requests waited for a worker.", &m.queue);
    put_histogram(&b, "lgmsd_inference_seconds", "Network forward pass per image.", &m.inference);
    put(&b, "# HELP lgmsd_rejections_total Requests refused to protect the service.\n"
            "# TYPE lgmsd_rejections_total counter\n");
    for (int i = 0; i < LGMSD_REJECT_COUNT; i++)
        put(&b, "lgmsd_rejections_total{reason=\"%s\"} %llu\n", reasons[i], m.rejects[i]);
    put(&b,
        "# HELP lgmsd_queue_depth Jobs waiting for a worker.\n# TYPE lgmsd_queue_depth gauge\nlgmsd_queue_depth %d\n",
        m.depth);
    put(&b, "# HELP lgmsd_queue_capacity Queue capacity.\n# TYPE lgmsd_queue_capacity gauge\nlgmsd_queue_capacity %d\n",
        m.capacity);
    put(&b,
        "# HELP lgmsd_workers_busy Workers running a job.\n# TYPE lgmsd_workers_busy gauge\nlgmsd_workers_busy %d\n",
        m.busy);
    put(&b, "# HELP lgmsd_workers Worker threads.\n# TYPE lgmsd_workers gauge\nlgmsd_workers %d\n", m.workers);
    put(&b, "# HELP lgmsd_ready 1 when /readyz answers 200.\n# TYPE lgmsd_ready gauge\nlgmsd_ready %d\n", m.ready);
    put(&b, "# HELP lgmsd_jobs Volume jobs held, by state (Redis store: queued and running in the cluster).\n"
            "# TYPE lgmsd_jobs gauge\n");
    for (int i = 0; i < 5; i++)
        if (m.jobs[i] >= 0) put(&b, "lgmsd_jobs{state=\"%s\"} %d\n", job_states[i], m.jobs[i]);
    if (m.store_up >= 0) {
        put(&b,
            "# HELP lgmsd_jobs_store_up 1 while the Redis job store answers.\n# TYPE lgmsd_jobs_store_up gauge\n"
            "lgmsd_jobs_store_up %d\n",
            m.store_up);
        put(&b,
            "# HELP lgmsd_job_takeovers_total Jobs this replica took over after another one's lease lapsed.\n"
            "# TYPE lgmsd_job_takeovers_total counter\nlgmsd_job_takeovers_total %llu\n",
            m.takeovers);
        put(&b,
            "# HELP lgmsd_job_lease_renewals_total Leases on running jobs this replica renewed.\n"
            "# TYPE lgmsd_job_lease_renewals_total counter\nlgmsd_job_lease_renewals_total %llu\n",
            m.lease_renewals);
    }
    pthread_mutex_unlock(&m.lock);
    *len = b.len;
    return b.buf;
}
