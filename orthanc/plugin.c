/* plugin.c - the lgmsd Orthanc plugin: DICOM images stored in Orthanc are segmented by an
 * lgmsd daemon, and the DICOM Segmentation (and, if configured, the secondary-capture
 * overlay) it returns is stored back into the same study.
 *
 * Orthanc calls OnStoredInstance on the thread that stores the instance, holding its own
 * locks: the callback only queues the instance's id and returns. One plugin thread does
 * the work through Orthanc's own APIs (its REST API in-process, its HTTP client for
 * lgmsd): it skips what lgmsd itself wrote (Manufacturer "lgmsd") and modalities not
 * configured, sends the instance as application/dicom with an empty Expect header (libcurl
 * would otherwise wait for a 100 Continue), stores what comes back, and retries failures
 * with exponential backoff (a 503's Retry-After when given). See docs/orthanc.md.
 *
 * Configuration: the "Lgmsd" section of Orthanc's configuration; without it the plugin
 * stays idle. */
#include <errno.h>
#include <jansson.h>
#include <orthanc/OrthancCPlugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../api/base64.h"

#define QUEUE_MAX 10000 /* instances waiting; more are logged and dropped (POST /lgmsd/... requeues) */
#define ID_LEN 64

static OrthancPluginContext *ctx;

static struct {
    char url[512];   /* lgmsd's base URL */
    char model[128]; /* a named model, or "" for lgmsd's default */
    char key[256];   /* Bearer key, or "" */
    char modalities[32][17];
    int n_modalities;
    int want_seg, want_sc;
    int retries, timeout;
} cfg;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    struct entry {
        char id[ID_LEN];
        int asked; /* queued through POST /lgmsd/...: segmented whatever its modality */
    } * items;
    int head, count, stopping, running;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, 0, 0, 0, 0};

static void logf_(void (*log)(OrthancPluginContext *, const char *), const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(void (*log)(OrthancPluginContext *, const char *), const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log(ctx, msg);
}
#define LOG_INFO(...) logf_(OrthancPluginLogInfo, "lgmsd: " __VA_ARGS__)
#define LOG_WARN(...) logf_(OrthancPluginLogWarning, "lgmsd: " __VA_ARGS__)
#define LOG_ERROR(...) logf_(OrthancPluginLogError, "lgmsd: " __VA_ARGS__)

/* ------------------------------------------------------------------ configuration */

static void copy_string(json_t *o, const char *key, char *dst, size_t cap) {
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) snprintf(dst, cap, "%s", json_string_value(v));
}

static int read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    snprintf(cfg.key, sizeof cfg.key, "%s", line);
    return ok && line[0] ? 0 : -1;
}

/* 1 when the "Lgmsd" section is there and sound, 0 when it is absent, -1 when it is wrong. */
static int configure(void) {
    char *text = OrthancPluginGetConfiguration(ctx);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    OrthancPluginFreeString(ctx, text);
    json_t *o = root ? json_object_get(root, "Lgmsd") : NULL;
    if (!o) {
        json_decref(root);
        return 0;
    }
    int rc = 1;
    snprintf(cfg.url, sizeof cfg.url, "http://127.0.0.1:8080");
    copy_string(o, "Url", cfg.url, sizeof cfg.url);
    copy_string(o, "Model", cfg.model, sizeof cfg.model);
    copy_string(o, "ApiKey", cfg.key, sizeof cfg.key);
    char key_file[512] = "";
    copy_string(o, "ApiKeyFile", key_file, sizeof key_file);
    if (key_file[0] && read_key_file(key_file)) {
        LOG_ERROR("cannot read ApiKeyFile %s: %s", key_file, strerror(errno));
        rc = -1;
    }
    json_t *mods = json_object_get(o, "Modalities"), *m;
    size_t i;
    if (!mods) snprintf(cfg.modalities[cfg.n_modalities++], 17, "US");
    json_array_foreach(mods, i, m) if (json_is_string(m) && cfg.n_modalities < 32)
        snprintf(cfg.modalities[cfg.n_modalities++], 17, "%s", json_string_value(m));
    json_t *outs = json_object_get(o, "Outputs"), *out;
    cfg.want_seg = !outs;
    json_array_foreach(outs, i, out) {
        const char *s = json_string_value(out);
        if (s && !strcmp(s, "dicom-seg"))
            cfg.want_seg = 1;
        else if (s && !strcmp(s, "dicom-sc"))
            cfg.want_sc = 1;
        else {
            LOG_ERROR("Outputs: unknown output %s (use dicom-seg, dicom-sc)", s ? s : "(not a string)");
            rc = -1;
        }
    }
    json_t *r = json_object_get(o, "Retries"), *t = json_object_get(o, "Timeout");
    cfg.retries = json_is_integer(r) ? (int)json_integer_value(r) : 5;
    cfg.timeout = json_is_integer(t) ? (int)json_integer_value(t) : 120;
    if (!cfg.want_seg && !cfg.want_sc) {
        LOG_ERROR("Outputs names nothing to store");
        rc = -1;
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ the work */

/* The instance's simplified tags as JSON, or NULL. */
static json_t *instance_tags(const char *id) {
    char uri[128];
    snprintf(uri, sizeof uri, "/instances/%s/simplified-tags", id);
    OrthancPluginMemoryBuffer buf;
    if (OrthancPluginRestApiGet(ctx, &buf, uri)) return NULL;
    json_t *tags = json_loadb(buf.data, buf.size, 0, NULL);
    OrthancPluginFreeMemoryBuffer(ctx, &buf);
    return tags;
}

static const char *tag(json_t *tags, const char *name) {
    const char *v = json_string_value(json_object_get(tags, name));
    return v ? v : "";
}

static int wanted(const char *modality) {
    for (int i = 0; i < cfg.n_modalities; i++)
        if (!strcmp(cfg.modalities[i], modality)) return 1;
    return 0;
}

/* Store one DICOM object (base64 in the reply) into Orthanc. 0, or -1. */
static int store(json_t *reply, const char *key, const char *what, const char *source_id) {
    json_t *o = json_object_get(reply, key);
    const char *b64 = json_string_value(json_object_get(o, "base64"));
    if (!b64) {
        LOG_ERROR("the reply for instance %s has no %s", source_id, what);
        return -1;
    }
    uint8_t *dcm;
    size_t len;
    api_error e;
    if (api_base64_decode(b64, strlen(b64), (size_t)1 << 31, &dcm, &len, &e)) {
        LOG_ERROR("the %s for instance %s is not valid base64", what, source_id);
        return -1;
    }
    OrthancPluginMemoryBuffer answer;
    OrthancPluginErrorCode rc = OrthancPluginRestApiPost(ctx, &answer, "/instances", dcm, len);
    free(dcm);
    if (rc) {
        LOG_ERROR("Orthanc refused the %s for instance %s (error %d)", what, source_id, (int)rc);
        return -1;
    }
    json_t *stored = json_loadb(answer.data, answer.size, 0, NULL);
    LOG_INFO("stored the %s %s for instance %s", what, tag(stored, "ID"), source_id);
    json_decref(stored);
    OrthancPluginFreeMemoryBuffer(ctx, &answer);
    return 0;
}

/* One attempt: 0 done, 1 retry later (*wait seconds), -1 give up. */
static int attempt(const char *id, const void *dcm, size_t len, int *wait) {
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/%s%s%ssegment?outputs=%s%s%s&frame=all", cfg.url, cfg.model[0] ? "models/" : "",
             cfg.model, cfg.model[0] ? "/" : "", cfg.want_seg ? "dicom-seg" : "",
             cfg.want_seg && cfg.want_sc ? "," : "", cfg.want_sc ? "dicom-sc" : "");
    char auth[300];
    snprintf(auth, sizeof auth, "Bearer %s", cfg.key);
    const char *keys[] = {"Content-Type", "Accept", "Expect", "Authorization"};
    const char *values[] = {"application/dicom", "application/json", "", auth};
    OrthancPluginMemoryBuffer body, headers;
    uint16_t status = 0;
    memset(&body, 0, sizeof body), memset(&headers, 0, sizeof headers);
    OrthancPluginErrorCode rc = OrthancPluginHttpClient(ctx, &body, &headers, &status, OrthancPluginHttpMethod_Post,
                                                        url, cfg.key[0] ? 4 : 3, keys, values, dcm, (uint32_t)len, NULL,
                                                        NULL, (uint32_t)cfg.timeout, NULL, NULL, NULL, 0);
    json_t *reply = rc == 0 && body.size ? json_loadb(body.data, body.size, 0, NULL) : NULL;
    json_t *hdrs = headers.size ? json_loadb(headers.data, headers.size, 0, NULL) : NULL;
    int result = 0;
    if (rc || status == 0) {
        LOG_WARN("lgmsd at %s did not answer for instance %s (Orthanc error %d); will retry", cfg.url, id, (int)rc);
        result = 1;
    } else if (status == 503 || status == 429 || status >= 500) {
        const char *ra = json_string_value(json_object_get(hdrs, "Retry-After"));
        if (!ra) ra = json_string_value(json_object_get(hdrs, "retry-after"));
        if (ra && atoi(ra) > 0) *wait = atoi(ra);
        LOG_WARN("lgmsd answered %u for instance %s: %s; will retry", status, id, tag(reply, "detail"));
        result = 1;
    } else if (status != 200) {
        LOG_ERROR("lgmsd refused instance %s: %u %s", id, status, tag(reply, "detail"));
        result = -1;
    } else {
        if (cfg.want_seg && store(reply, "dicom_seg", "segmentation", id)) result = -1;
        if (cfg.want_sc && store(reply, "dicom_sc", "overlay", id)) result = -1;
    }
    json_decref(reply), json_decref(hdrs);
    if (body.data) OrthancPluginFreeMemoryBuffer(ctx, &body);
    if (headers.data) OrthancPluginFreeMemoryBuffer(ctx, &headers);
    return result;
}

static int stopping(void) {
    pthread_mutex_lock(&q.lock);
    int s = q.stopping;
    pthread_mutex_unlock(&q.lock);
    return s;
}

/* Sleep up to s seconds, waking early when the plugin stops. */
static void pause_for(int s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s;
    pthread_mutex_lock(&q.lock);
    while (!q.stopping && pthread_cond_timedwait(&q.wake, &q.lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&q.lock);
}

static void process(const char *id, int asked) {
    json_t *tags = instance_tags(id);
    if (!tags) return; /* deleted meanwhile */
    const char *modality = tag(tags, "Modality"), *maker = tag(tags, "Manufacturer");
    int skip = !strcmp(maker, "lgmsd") || !strcmp(modality, "SEG") || (!asked && !wanted(modality));
    json_decref(tags);
    if (skip) return; /* our own outputs, and modalities not configured */
    char uri[128];
    snprintf(uri, sizeof uri, "/instances/%s/file", id);
    OrthancPluginMemoryBuffer file;
    if (OrthancPluginRestApiGet(ctx, &file, uri)) return;
    int wait = 1;
    for (int tries = 0; !stopping(); tries++) {
        int next = 1;
        int rc = attempt(id, file.data, file.size, &next);
        if (rc <= 0) break;
        if (tries >= cfg.retries) {
            LOG_ERROR("gave up on instance %s after %d attempts", id, tries + 1);
            break;
        }
        wait = next > wait ? next : wait;
        pause_for(wait);
        wait = wait * 2 > 60 ? 60 : wait * 2;
    }
    OrthancPluginFreeMemoryBuffer(ctx, &file);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        struct entry next;
        pthread_mutex_lock(&q.lock);
        while (!q.count && !q.stopping)
            pthread_cond_wait(&q.wake, &q.lock);
        if (q.stopping) {
            pthread_mutex_unlock(&q.lock);
            return NULL;
        }
        next = q.items[q.head];
        q.head = (q.head + 1) % QUEUE_MAX;
        q.count--;
        pthread_mutex_unlock(&q.lock);
        process(next.id, next.asked);
    }
}

/* Queue an instance id: 0, or -1 when the queue is full (logged). */
static int enqueue(const char *id, int asked) {
    pthread_mutex_lock(&q.lock);
    int full = q.count == QUEUE_MAX;
    if (!full) {
        struct entry *e = &q.items[(q.head + q.count) % QUEUE_MAX];
        snprintf(e->id, ID_LEN, "%s", id);
        e->asked = asked;
        q.count++;
        pthread_cond_signal(&q.wake);
    }
    pthread_mutex_unlock(&q.lock);
    if (full) LOG_ERROR("queue full (%d instances): instance %s is not segmented", QUEUE_MAX, id);
    return full ? -1 : 0;
}

/* Orthanc's thread, with Orthanc's locks held: queue the id and return at once. */
static OrthancPluginErrorCode on_stored(const OrthancPluginDicomInstance *instance, const char *id) {
    (void)instance;
    enqueue(id, 0);
    return OrthancPluginErrorCode_Success;
}

/* POST /lgmsd/{instances|series|studies}/{id}: queue that instance, or every instance of
 * that series or study, whatever their modality (SEGs and lgmsd's own outputs excepted).
 * For what was stored before the plugin ran, or was still queued when Orthanc stopped:
 * the queue lives in memory (docs/orthanc.md). Answers {"queued": n, "dropped": m}. */
static OrthancPluginErrorCode on_queue(OrthancPluginRestOutput *output, const char *url,
                                       const OrthancPluginHttpRequest *request) {
    (void)url;
    if (request->method != OrthancPluginHttpMethod_Post) {
        OrthancPluginSendMethodNotAllowed(ctx, output, "POST");
        return OrthancPluginErrorCode_Success;
    }
    const char *level = request->groups[0], *id = request->groups[1];
    int queued = 0, dropped = 0;
    if (!strcmp(level, "instances")) {
        json_t *tags = instance_tags(id);
        if (!tags) return OrthancPluginErrorCode_UnknownResource;
        json_decref(tags);
        enqueue(id, 1) ? dropped++ : queued++;
    } else {
        char uri[160];
        snprintf(uri, sizeof uri, "/%s/%s/instances", level, id);
        OrthancPluginMemoryBuffer buf;
        if (OrthancPluginRestApiGet(ctx, &buf, uri)) return OrthancPluginErrorCode_UnknownResource;
        json_t *list = json_loadb(buf.data, buf.size, 0, NULL), *item;
        OrthancPluginFreeMemoryBuffer(ctx, &buf);
        size_t i;
        json_array_foreach(list, i, item) {
            const char *iid = json_string_value(json_object_get(item, "ID"));
            if (iid) enqueue(iid, 1) ? dropped++ : queued++;
        }
        json_decref(list);
    }
    char answer[96];
    int n = snprintf(answer, sizeof answer, "{\"queued\": %d, \"dropped\": %d}\n", queued, dropped);
    OrthancPluginAnswerBuffer(ctx, output, answer, (uint32_t)n, "application/json");
    return OrthancPluginErrorCode_Success;
}

/* ------------------------------------------------------------------ plugin entry points */

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext *context) {
    ctx = context;
    if (!OrthancPluginCheckVersion(ctx)) {
        LOG_ERROR("this Orthanc is older than the plugin SDK it was built with");
        return -1;
    }
    OrthancPluginSetDescription(ctx,
                                "Segments stored DICOM images with an lgmsd daemon and stores the DICOM SEG back.");
    int c = configure();
    if (c < 0) return -1;
    if (c == 0) {
        LOG_WARN("no \"Lgmsd\" section in the configuration: idle");
        return 0;
    }
    q.items = calloc(QUEUE_MAX, sizeof *q.items);
    if (!q.items || pthread_create(&q.thread, NULL, worker, NULL)) {
        LOG_ERROR("cannot start the plugin thread");
        return -1;
    }
    q.running = 1;
    OrthancPluginRegisterOnStoredInstanceCallback(ctx, on_stored);
    OrthancPluginRegisterRestCallback(ctx, "/lgmsd/(instances|series|studies)/([^/]+)", on_queue);
    LOG_WARN("sending %d modalit%s to %s (model %s, outputs%s%s)", cfg.n_modalities,
             cfg.n_modalities == 1 ? "y" : "ies", cfg.url, cfg.model[0] ? cfg.model : "default",
             cfg.want_seg ? " dicom-seg" : "", cfg.want_sc ? " dicom-sc" : "");
    return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize(void) {
    if (!q.running) return;
    pthread_mutex_lock(&q.lock);
    q.stopping = 1;
    pthread_cond_broadcast(&q.wake);
    pthread_mutex_unlock(&q.lock);
    pthread_join(q.thread, NULL);
    free(q.items);
    q.running = 0;
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetName(void) { return "lgmsd"; }

#ifndef LGMSD_VERSION
#define LGMSD_VERSION "0.0.0"
#endif
ORTHANC_PLUGINS_API const char *OrthancPluginGetVersion(void) { return LGMSD_VERSION; }
