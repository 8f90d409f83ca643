/* store_redis.c - the redis job store (store.h): volume jobs that any replica answers
 * for, in one Redis server the replicas share (hiredis, blocking calls, each thread on
 * its own connection; never on the loop thread).
 *
 * Keys, under the jobs_prefix P:
 *   P job:ID       hash: id, owner (key id), model, state, done, total, created, started,
 *                  finished, replica, runs, cancel, result | error (JSON text)
 *   P upload:ID    the volume's bytes, until the job ends
 *   P queue:MODEL  a stream per model, entries {id}; consumer group "workers"
 *   P active       set: ids queued or running (max_jobs counts it, cluster-wide)
 *   P owner:KEY    sorted set: the ids a key created, by time (GET /v1/jobs)
 *   P stats        hash: seconds, runs (finished runs, for Retry-After)
 * A job hash and its upload expire job_ttl after creation; while a replica holds the job
 * it refreshes them with its lease; a finished job's hash expires job_ttl after the end.
 *
 * Work: one reader thread per replica takes an entry when this replica has a free slot
 * (fewer jobs running here than workers): first any entry whose holder has not renewed
 * it for job_lease seconds (XAUTOCLAIM: that replica died), then new ones (XREADGROUP).
 * It renews the leases of the jobs running here (XCLAIM resets an entry's idle time)
 * every job_lease / 3 seconds. A job runs from the start on whichever replica takes it:
 * at-least-once; the result is written by a script that keeps the first one (the engine
 * gives the same labels every time, so a second run cannot disagree). A job started 3
 * times without finishing is failed rather than tried forever.
 *
 * The scripts make each step atomic on the server (create within max_jobs, finish,
 * delete). They touch keys they compute from the prefix, so Redis Cluster is not
 * supported: one Redis (or one primary behind Sentinel or a managed service). */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../api/json.h"
#include "../api/reply.h"
#include "../config/config.h"
#include "files.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "workers.h"

#define GROUP "workers"
#define MAX_RUNS 3  /* starts before a job is failed */
#define KEY_MAX 256 /* a key: prefix (< 64), kind, and an id or model name (< 128) */

typedef struct running_job running_job;

typedef struct {
    lgmsd_server *s;
    char host[256], user[128], password[256];
    int port, db;
    char shown[320]; /* redis://HOST:PORT/DB: what messages and logs say, never the password */
    char prefix[64];
    char consumer[128]; /* this replica's name in the consumer group */
    int capacity;       /* jobs run here at once */
    pthread_t reader;
    int reader_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping, draining;
    running_job *jobs; /* running here (lock) */
    int n_running;     /* (lock) */
    atomic_int up;
    char why[320]; /* (lock) why the store is down */
    atomic_int queued, running_cluster;
} redis_store;

struct running_job {
    lgmsd_task task; /* first member: the pool hands it back */
    redis_store *st;
    running_job *next;
    char id[LGMSD_JOB_ID_LEN + 1];
    char stream[256], entry[64];
    int model_index;
    uint8_t *upload;
    size_t upload_len;
    double started;
    atomic_int lost; /* the entry is no longer ours (taken over, or the store lost it) */
};

/* A connection of one thread, dialled again (after a backoff) when it breaks. */
typedef struct {
    redisContext *c;
    double retry_at, backoff;
} conn;

/* ---------------------------------------------------------------- connections */

static int parse_url(redis_store *st, const char *url, char *err, size_t errlen) {
    const char *p = url + strlen("redis://");
    const char *at = strrchr(p, '@');
    st->port = 6379;
    if (at) { /* [user]:password@ */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            snprintf(st->user, sizeof st->user, "%.*s", (int)(colon - p), p);
            snprintf(st->password, sizeof st->password, "%.*s", (int)(at - colon - 1), colon + 1);
        } else {
            snprintf(st->password, sizeof st->password, "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    size_t hn = strcspn(p, ":/");
    if (!hn || hn >= sizeof st->host) {
        snprintf(err, errlen, "jobs_store: the Redis URL names no host");
        return -1;
    }
    memcpy(st->host, p, hn);
    st->host[hn] = 0;
    p += hn;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "jobs_store: the Redis URL's port is not 1..65535");
            return -1;
        }
        st->port = (int)port, p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || db < 0 || db > 1000000) {
            snprintf(err, errlen, "jobs_store: the Redis URL's database is not a number");
            return -1;
        }
        st->db = (int)db;
    }
    snprintf(st->shown, sizeof st->shown, "redis://%s:%d/%d", st->host, st->port, st->db);
    return 0;
}

static void set_down(redis_store *st, const char *why) {
    pthread_mutex_lock(&st->lock);
    int was = atomic_exchange(&st->up, 0);
    snprintf(st->why, sizeof st->why, "%.319s", why);
    pthread_mutex_unlock(&st->lock);
    lgmsd_metrics_set_store(0);
    if (was) lgmsd_log(LGMSD_LOG_ERROR, "job store: %s", why);
}

static void set_up(redis_store *st) {
    if (!atomic_exchange(&st->up, 1)) {
        lgmsd_metrics_set_store(1);
        lgmsd_log(LGMSD_LOG_INFO, "job store %s answers", st->shown);
    }
}

static redisContext *dial(redis_store *st, char *err, size_t errlen) {
    struct timeval connect_timeout = {2, 0}, command_timeout = {10, 0};
    redisContext *c = redisConnectWithTimeout(st->host, st->port, connect_timeout);
    if (!c || c->err) {
        snprintf(err, errlen, "the job store %s is unreachable: %s", st->shown, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, command_timeout);
    redisReply *r = NULL;
    if (st->password[0])
        r = st->user[0] ? redisCommand(c, "AUTH %s %s", st->user, st->password)
                        : redisCommand(c, "AUTH %s", st->password);
    if (st->password[0] && (!r || r->type == REDIS_REPLY_ERROR)) {
        snprintf(err, errlen, "the job store %s refused the password: %s", st->shown,
                 r ? r->str : (c->err ? c->errstr : "no answer"));
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    r = st->db ? redisCommand(c, "SELECT %d", st->db) : NULL;
    if (st->db && (!r || r->type == REDIS_REPLY_ERROR)) {
        snprintf(err, errlen, "the job store %s: cannot select database %d", st->shown, st->db);
        freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* The thread's connection, dialled again if it broke (not before its backoff passed). */
static redisContext *conn_get(redis_store *st, conn *k, char *err, size_t errlen) {
    if (k->c && !k->c->err) return k->c;
    if (k->c) redisFree(k->c), k->c = NULL;
    double now = lgms_now();
    if (now < k->retry_at) {
        pthread_mutex_lock(&st->lock);
        snprintf(err, errlen, "%s (next attempt in %.0f s)", st->why[0] ? st->why : "the job store is unreachable",
                 ceil(k->retry_at - now));
        pthread_mutex_unlock(&st->lock);
        return NULL;
    }
    k->c = dial(st, err, errlen);
    if (!k->c) {
        k->backoff = k->backoff ? fmin(k->backoff * 2, 30) : 0.5;
        k->retry_at = now + k->backoff;
        set_down(st, err);
        return NULL;
    }
    k->backoff = 0;
    set_up(st);
    return k->c;
}

/* A command on the thread's connection: NULL (err set, the connection dropped) when it
 * failed, or the reply (possibly an error reply: the caller looks). A connection that
 * breaks on its first use after a while (Redis restarted, or closed it) is dialled again
 * and the command sent once more: the command never reached a server that had gone. */
static redisReply *send_argv(redis_store *st, conn *k, char *err, size_t errlen, int argc, const char **argv,
                             const size_t *lens) {
    for (int attempt = 0;; attempt++) {
        int fresh = !k->c || k->c->err;
        redisContext *c = conn_get(st, k, err, errlen);
        if (!c) return NULL;
        redisReply *r = redisCommandArgv(c, argc, argv, lens);
        if (r) return r;
        int closed = c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && !fresh);
        snprintf(err, errlen, "the job store %.200s failed: %.150s", st->shown, c->errstr[0] ? c->errstr : "no answer");
        redisFree(k->c), k->c = NULL;
        if (attempt || fresh || !closed) {
            set_down(st, err);
            return NULL;
        }
    }
}

static redisReply *command(redis_store *st, conn *k, char *err, size_t errlen, const char *fmt, ...) {
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int n = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int attempt = 0;; attempt++) { /* as send_argv, for a formatted command */
        int fresh = !k->c || k->c->err;
        redisContext *c = conn_get(st, k, err, errlen);
        if (!c) break;
        redisReply *r = NULL;
        if (redisAppendFormattedCommand(c, cmd, (size_t)n) == REDIS_OK && redisGetReply(c, (void **)&r) == REDIS_OK &&
            r) {
            redisFreeCommand(cmd);
            return r;
        }
        int closed = c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && !fresh);
        snprintf(err, errlen, "the job store %.200s failed: %.150s", st->shown, c->errstr[0] ? c->errstr : "no answer");
        redisFree(k->c), k->c = NULL;
        if (attempt || fresh || !closed) {
            set_down(st, err);
            break;
        }
    }
    redisFreeCommand(cmd);
    return NULL;
}

static redisReply *command_argv(redis_store *st, conn *k, char *err, size_t errlen, int argc, const char **argv,
                                const size_t *lens) {
    return send_argv(st, k, err, errlen, argc, argv, lens);
}

static void key(const redis_store *st, char *out, size_t cap, const char *kind, const char *name) {
    snprintf(out, cap, "%.63s%.8s%.127s", st->prefix, kind, name);
}

static void stream_of(const redis_store *st, int model, char *out, size_t cap) {
    key(st, out, cap, "queue:", st->s->models[model].name);
}

static void owner_key(const redis_store *st, const char *owner, char *out, size_t cap) {
    key(st, out, cap, "owner:", owner[0] ? owner : "-");
}

/* ---------------------------------------------------------------- scripts */

/* KEYS: active, job, upload, stream, owner index, stats. ARGV: max_jobs, ttl, id, owner,
 * model, created, upload, prefix. {1} created; {0, queued, running, seconds, runs} full. */
static const char CREATE[] =
    "local queued, running = 0, 0\n"
    "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  local s = redis.call('HGET', ARGV[8] .. 'job:' .. id, 'state')\n"
    "  if s == 'queued' then queued = queued + 1\n"
    "  elseif s == 'running' then running = running + 1\n"
    "  else redis.call('SREM', KEYS[1], id) end\n"
    "end\n"
    "if queued + running >= tonumber(ARGV[1]) then\n"
    "  local st = redis.call('HMGET', KEYS[6], 'seconds', 'runs')\n"
    "  return {0, queued, running, st[1] or '0', st[2] or '0'}\n"
    "end\n"
    "redis.call('SADD', KEYS[1], ARGV[3])\n"
    "redis.call('HSET', KEYS[2], 'id', ARGV[3], 'owner', ARGV[4], 'model', ARGV[5], 'state', 'queued', 'done', 0,\n"
    "  'total', 0, 'created', ARGV[6], 'runs', 0, 'cancel', 0)\n"
    "redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
    "redis.call('SET', KEYS[3], ARGV[7], 'EX', ARGV[2])\n"
    "redis.call('ZADD', KEYS[5], ARGV[6], ARGV[3])\n"
    "redis.call('EXPIRE', KEYS[5], ARGV[2])\n"
    "redis.call('XADD', KEYS[4], '*', 'id', ARGV[3])\n"
    "return {1}\n";

/* KEYS: job, upload, active, owner index. ARGV: owner, now, ttl, id.
 * missing | cancelled (was queued) | cancelling (running: its replica stops) | forgotten */
static const char DELETE[] = "local h = redis.call('HMGET', KEYS[1], 'state', 'owner')\n"
                             "if not h[1] or h[2] ~= ARGV[1] then return 'missing' end\n"
                             "if h[1] == 'queued' then\n"
                             "  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finished', ARGV[2], 'cancel', 1)\n"
                             "  redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
                             "  redis.call('DEL', KEYS[2])\n"
                             "  redis.call('SREM', KEYS[3], ARGV[4])\n"
                             "  return 'cancelled'\n"
                             "elseif h[1] == 'running' then\n"
                             "  redis.call('HSET', KEYS[1], 'cancel', 1)\n"
                             "  return 'cancelling'\n"
                             "end\n"
                             "redis.call('DEL', KEYS[1])\n"
                             "redis.call('ZREM', KEYS[4], ARGV[4])\n"
                             "return 'forgotten'\n";

/* KEYS: job, upload, active, stream, stats. ARGV: state, field, text, now, ttl, id, entry,
 * seconds. The first end wins: stored | already (ended by an earlier run) | missing. */
static const char FINISH[] = "local s = redis.call('HGET', KEYS[1], 'state')\n"
                             "redis.call('XACK', KEYS[4], '" GROUP "', ARGV[7])\n"
                             "redis.call('XDEL', KEYS[4], ARGV[7])\n"
                             "redis.call('SREM', KEYS[3], ARGV[6])\n"
                             "redis.call('DEL', KEYS[2])\n"
                             "if not s then return 'missing' end\n"
                             "if s == 'done' or s == 'failed' or s == 'cancelled' then return 'already' end\n"
                             "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished', ARGV[4])\n"
                             "if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end\n"
                             "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
                             "if ARGV[1] == 'done' then\n"
                             "  redis.call('HINCRBYFLOAT', KEYS[5], 'seconds', ARGV[8])\n"
                             "  redis.call('HINCRBY', KEYS[5], 'runs', 1)\n"
                             "end\n"
                             "return 'stored'\n";

/* ---------------------------------------------------------------- documents */

static const char *field(const redisReply *h, const char *name) {
    if (!h || h->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && !strcmp(h->element[i]->str, name))
            return h->element[i + 1]->type == REDIS_REPLY_STRING ? h->element[i + 1]->str : NULL;
    return NULL;
}

static int int_field(const redisReply *h, const char *name) {
    const char *v = field(h, name);
    return v ? atoi(v) : 0;
}

/* The status document of a job hash (HGETALL reply). */
static char *document(const redisReply *h, double now, size_t *len) {
    int state = lgmsd_job_state_of(field(h, "state"));
    const char *created = field(h, "created");
    json_t *o =
        lgmsd_job_summary(field(h, "id") ? field(h, "id") : "", state, field(h, "model") ? field(h, "model") : "",
                          int_field(h, "done"), int_field(h, "total"), created ? now - atof(created) : 0);
    const char *result = state == LGMSD_JOB_DONE ? field(h, "result") : field(h, "error");
    return lgmsd_job_document(o, state, result, len);
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- the calls */

static void down(lgmsd_store_call *c, const char *why) {
    api_fail(&c->err, API_UNAVAILABLE, "%s", why);
    c->retry_after = 2;
}

static void create(redis_store *st, conn *k, lgmsd_store_call *c) {
    lgmsd_server *s = st->s;
    char err[400], active[KEY_MAX], job[KEY_MAX], upload[KEY_MAX], stream[256], owner[KEY_MAX], stats[KEY_MAX], max[16],
        ttl[16], created[32];
    if (lgmsd_job_new_id(c->id)) {
        api_fail(&c->err, API_INTERNAL, "no randomness for a job id");
        return;
    }
    key(st, active, sizeof active, "active", ""), key(st, job, sizeof job, "job:", c->id);
    key(st, upload, sizeof upload, "upload:", c->id), key(st, stats, sizeof stats, "stats", "");
    stream_of(st, c->model_index, stream, sizeof stream), owner_key(st, c->owner, owner, sizeof owner);
    snprintf(max, sizeof max, "%d", s->cfg->max_jobs), snprintf(ttl, sizeof ttl, "%d", s->cfg->job_ttl);
    snprintf(created, sizeof created, "%.3f", wall());
    const char *argv[] = {"EVAL",    CREATE,
                          "6",       active,
                          job,       upload,
                          stream,    owner,
                          stats,     max,
                          ttl,       c->id,
                          c->owner,  s->models[c->model_index].name,
                          created,   (const char *)c->upload,
                          st->prefix};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        lens[i] = strlen(argv[i]);
    lens[15] = c->upload_len;
    redisReply *r = command_argv(st, k, err, sizeof err, (int)(sizeof argv / sizeof argv[0]), argv, lens);
    if (!r) return down(c, err);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        api_fail(&c->err, API_UNAVAILABLE, "the job store %s refused the job: %s", st->shown,
                 r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply");
        c->retry_after = 5;
    } else if (r->element[0]->integer == 0 && r->elements >= 5) { /* full: when should a slot free? */
        lgmsd_metrics_reject(LGMSD_REJECT_JOBS_FULL);
        long long queued = r->element[1]->integer, running = r->element[2]->integer;
        double seconds = atof(r->element[3]->str ? r->element[3]->str : "0");
        long long runs = atoll(r->element[4]->str ? r->element[4]->str : "0");
        double mean = runs ? seconds / (double)runs : 30.0; /* no run measured yet: a guess */
        double wait = mean * (double)(queued + 1) / (double)(running ? running : 1);
        c->retry_after = (int)fmin(3600, fmax(1, ceil(wait)));
        c->err.status = API_UNAVAILABLE;
        c->err.setting = "max_jobs";
        snprintf(c->err.detail, sizeof c->err.detail,
                 "the cluster holds %lld queued and %lld running volume jobs (max_jobs = %d); a job takes %.0f s on "
                 "average",
                 queued, running, s->cfg->max_jobs, mean);
    } else {
        free(c->upload), c->upload = NULL, c->upload_len = 0;
        freeReplyObject(r);
        r = command(st, k, err, sizeof err, "HGETALL %s", job);
        if (!r) return down(c, err);
        c->body = document(r, wall(), &c->len);
        c->status = c->body ? 202 : 0;
        if (!c->body) api_fail(&c->err, API_INTERNAL, "out of memory");
        pthread_cond_signal(&st->wake); /* a local reader with a free slot may take it at once */
    }
    freeReplyObject(r);
}

static void get_one(redis_store *st, conn *k, lgmsd_store_call *c) {
    char err[400], job[KEY_MAX];
    key(st, job, sizeof job, "job:", c->id);
    redisReply *r = NULL;
    char outcome[16] = "get";
    if (c->op == LGMSD_STORE_DELETE) {
        char upload[KEY_MAX], active[KEY_MAX], owner[KEY_MAX], ttl[16], now[32];
        key(st, upload, sizeof upload, "upload:", c->id), key(st, active, sizeof active, "active", "");
        owner_key(st, c->owner, owner, sizeof owner);
        snprintf(ttl, sizeof ttl, "%d", st->s->cfg->job_ttl), snprintf(now, sizeof now, "%.3f", wall());
        r = command(st, k, err, sizeof err, "EVAL %s 4 %s %s %s %s %s %s %s %s", DELETE, job, upload, active, owner,
                    c->owner, now, ttl, c->id);
        if (!r) return down(c, err);
        snprintf(outcome, sizeof outcome, "%s",
                 r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING ? r->str : "error");
        if (!strcmp(outcome, "forgotten")) {
            c->status = 204;
            freeReplyObject(r);
            return;
        }
        if (!strcmp(outcome, "error")) {
            api_fail(&c->err, API_UNAVAILABLE, "the job store %s: %s", st->shown,
                     r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply");
            freeReplyObject(r);
            return;
        }
        freeReplyObject(r);
        if (!strcmp(outcome, "cancelling")) pthread_cond_signal(&st->wake);
    }
    r = !strcmp(outcome, "missing") ? NULL : command(st, k, err, sizeof err, "HGETALL %s", job);
    if (!r && strcmp(outcome, "missing")) return down(c, err);
    const char *owner = field(r, "owner");
    if (!r || r->type != REDIS_REPLY_ARRAY || !r->elements || !owner || strcmp(owner, c->owner)) {
        api_fail(&c->err, API_NOT_FOUND, "no job %.40s (finished jobs are kept job_ttl = %d s)", c->id,
                 st->s->cfg->job_ttl);
        freeReplyObject(r);
        return;
    }
    c->body = document(r, wall(), &c->len);
    c->status = c->op == LGMSD_STORE_DELETE ? 202 : 200;
    if (!c->body) api_fail(&c->err, API_INTERNAL, "out of memory"), c->status = 0;
    freeReplyObject(r);
}

static void list(redis_store *st, conn *k, lgmsd_store_call *c) {
    char err[400], owner[KEY_MAX];
    owner_key(st, c->owner, owner, sizeof owner);
    redisReply *ids = command(st, k, err, sizeof err, "ZRANGE %s 0 -1", owner);
    if (!ids) return down(c, err);
    json_t *arr = json_array();
    double now = wall();
    for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
        char job[KEY_MAX];
        key(st, job, sizeof job, "job:", ids->element[i]->str);
        redisAppendCommand(k->c, "HMGET %s id state model done total created owner", job);
    }
    for (size_t i = 0; ids->type == REDIS_REPLY_ARRAY && i < ids->elements; i++) {
        redisReply *h = NULL;
        if (redisGetReply(k->c, (void **)&h) != REDIS_OK || !h) {
            snprintf(err, sizeof err, "the job store %.200s failed: %.150s", st->shown, k->c->errstr);
            set_down(st, err);
            redisFree(k->c), k->c = NULL;
            json_decref(arr);
            freeReplyObject(ids);
            return down(c, err);
        }
        redisReply **v = h->element;
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 7 && v[0]->type == REDIS_REPLY_STRING &&
            v[6]->type == REDIS_REPLY_STRING && !strcmp(v[6]->str, c->owner)) {
            const char *created = v[5]->type == REDIS_REPLY_STRING ? v[5]->str : NULL;
            json_array_append_new(
                arr, lgmsd_job_summary(v[0]->str, lgmsd_job_state_of(v[1]->type == REDIS_REPLY_STRING ? v[1]->str : ""),
                                       v[2]->type == REDIS_REPLY_STRING ? v[2]->str : "",
                                       v[3]->type == REDIS_REPLY_STRING ? atoi(v[3]->str) : 0,
                                       v[4]->type == REDIS_REPLY_STRING ? atoi(v[4]->str) : 0,
                                       created ? now - atof(created) : 0));
        } else if (h->type == REDIS_REPLY_ARRAY && v[0]->type == REDIS_REPLY_NIL) { /* expired */
            freeReplyObject(command(st, k, err, sizeof err, "ZREM %s %s", owner, ids->element[i]->str));
        }
        freeReplyObject(h);
    }
    freeReplyObject(ids);
    json_t *o = json_pack("{s:o}", "jobs", arr);
    c->body = api_json_dump(o, &c->len);
    json_decref(o);
    c->status = c->body ? 200 : 0;
    if (!c->body) api_fail(&c->err, API_INTERNAL, "out of memory");
}

static void call(lgmsd_server *s, lgmsd_store_call *c, void *thread) {
    redis_store *st = s->store_state;
    conn *k = thread;
    if (!k) return down(c, "the job store's thread has no connection (out of memory)");
    switch (c->op) {
    case LGMSD_STORE_CREATE: create(st, k, c); break;
    case LGMSD_STORE_GET:
    case LGMSD_STORE_DELETE: get_one(st, k, c); break;
    case LGMSD_STORE_LIST: list(st, k, c); break;
    }
}

static void *thread_init(int index, void *server) {
    (void)index, (void)server;
    return calloc(1, sizeof(conn));
}

static void thread_fini(void *thread, void *server) {
    (void)server;
    conn *k = thread;
    if (k && k->c) redisFree(k->c);
    free(k);
}

/* ---------------------------------------------------------------- a job on a worker */

typedef struct {
    running_job *job;
    void *worker_local;
    conn k;
    char jobkey[KEY_MAX];
    double last_write;
} run_ctx;

/* Between two patches: progress into the store (at most 4 times a second), 2-D requests
 * first, then whether to stop (cancelled by a client, lost to another replica, or this
 * replica draining). Failures to reach the store do not stop the job: its result is
 * written when the store is back. */
static int on_progress(void *arg, int done, int total) {
    run_ctx *x = arg;
    redis_store *st = x->job->st;
    while (lgmsd_pool_help(st->s->pool, x->worker_local))
        ;
    double now = lgms_now();
    int stop = 0;
    if (now - x->last_write >= 0.25 || done == total) {
        char err[400];
        x->last_write = now;
        redisReply *r = command(st, &x->k, err, sizeof err, "HSET %s done %d total %d", x->jobkey, done, total);
        freeReplyObject(r);
        r = r ? command(st, &x->k, err, sizeof err, "HGET %s cancel", x->jobkey) : NULL;
        stop = r && r->type == REDIS_REPLY_STRING && !strcmp(r->str, "1");
        freeReplyObject(r);
    }
    pthread_mutex_lock(&st->lock);
    stop = stop || st->draining;
    pthread_mutex_unlock(&st->lock);
    return stop || atomic_load(&x->job->lost);
}

/* The job's end, written by the FINISH script; retried while the store is unreachable, for
 * up to two leases (after that another replica has taken the job over anyway). */
static void finish(redis_store *st, conn *k, running_job *j, const char *state, const char *fieldname, const char *text,
                   double seconds) {
    char err[400], job[KEY_MAX], upload[KEY_MAX], active[KEY_MAX], ttl[16], now[32], secs[32];
    key(st, job, sizeof job, "job:", j->id), key(st, upload, sizeof upload, "upload:", j->id);
    key(st, active, sizeof active, "active", "");
    char stats[KEY_MAX];
    key(st, stats, sizeof stats, "stats", "");
    snprintf(ttl, sizeof ttl, "%d", st->s->cfg->job_ttl), snprintf(secs, sizeof secs, "%.3f", seconds);
    double give_up = lgms_now() + 2.0 * st->s->cfg->job_lease;
    for (;;) {
        snprintf(now, sizeof now, "%.3f", wall());
        const char *argv[] = {"EVAL",    FINISH,           "5", job, upload, active,   j->stream, stats, state,
                              fieldname, text ? text : "", now, ttl, j->id,  j->entry, secs};
        size_t lens[sizeof argv / sizeof argv[0]];
        for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = command_argv(st, k, err, sizeof err, (int)(sizeof argv / sizeof argv[0]), argv, lens);
        if (r) {
            if (r->type == REDIS_REPLY_ERROR)
                lgmsd_log(LGMSD_LOG_ERROR, "job %s: the store refused its end: %s", j->id, r->str);
            else if (!strcmp(r->str, "missing"))
                lgmsd_log(LGMSD_LOG_WARN,
                          "job %s ended (%s) but the store no longer has it (expired, forgotten, or "
                          "Redis restarted without persistence)",
                          j->id, state);
            else if (!strcmp(r->str, "already"))
                lgmsd_log(LGMSD_LOG_INFO, "job %s had already ended on another replica; this run is dropped", j->id);
            freeReplyObject(r);
            return;
        }
        if (lgms_now() > give_up) {
            lgmsd_log(LGMSD_LOG_ERROR, "job %s: could not write its end (%s): %s; another replica will run it again",
                      j->id, state, err);
            return;
        }
        usleep(500000);
    }
}

/* Give a job back without ending it: state queued, and its entry made claimable at once. */
static void hand_over(redis_store *st, conn *k, running_job *j) {
    char err[400], job[KEY_MAX];
    key(st, job, sizeof job, "job:", j->id);
    freeReplyObject(command(st, k, err, sizeof err, "HSET %s state queued replica %s done 0", job, ""));
    freeReplyObject(command(st, k, err, sizeof err, "XCLAIM %s " GROUP " %s 0 %s IDLE %lld JUSTID", j->stream,
                            st->consumer, j->entry, (long long)st->s->cfg->job_lease * 100000LL));
    lgmsd_log(LGMSD_LOG_INFO, "job %s handed back to the cluster (this replica is stopping)", j->id);
}

static void run_job(lgmsd_task *t, void *worker_local) {
    running_job *j = (running_job *)t;
    redis_store *st = j->st;
    lgmsd_server *s = st->s;
    run_ctx x = {.job = j, .worker_local = worker_local};
    key(st, x.jobkey, sizeof x.jobkey, "job:", j->id);
    lgms_state *engine = lgmsd_worker_volume_state(worker_local, j->model_index);
    api_volume_limits limits = {s->cfg->max_voxels, s->cfg->max_grid_voxels, s->cfg->max_patches};
    api_volume_result res;
    api_error e = {0};
    double t0 = lgms_now();
    api_status status = engine ? api_segment_volume(engine, s->models[j->model_index].model, j->upload, j->upload_len,
                                                    &limits, on_progress, &x, &res, &e)
                               : api_fail(&e, API_INTERNAL, "out of memory for the engine state");
    free(j->upload); /* patient data leaves memory as soon as it is read */
    j->upload = NULL, j->upload_len = 0;
    int draining;
    pthread_mutex_lock(&st->lock);
    draining = st->draining;
    pthread_mutex_unlock(&st->lock);
    if (status == API_CANCELLED && atomic_load(&j->lost)) {
        lgmsd_log(LGMSD_LOG_WARN, "job %s: stopped here, another replica holds it now", j->id);
    } else if (status == API_CANCELLED && draining) {
        hand_over(st, &x.k, j);
    } else if (status == API_CANCELLED) {
        finish(st, &x.k, j, "cancelled", "", NULL, 0);
    } else if (status) {
        char hint[128],
            *problem = api_problem_json(api_http_status(status), e.detail,
                                        e.setting ? lgmsd_setting_hint(e.setting, hint, sizeof hint) : NULL, NULL);
        finish(st, &x.k, j, "failed", "error", problem ? problem : "{}", 0);
        free(problem);
    } else {
        char *result = api_volume_result_json(&res, lgms_model_meta(s->models[j->model_index].model), NULL);
        api_volume_result_free(&res);
        if (result)
            finish(st, &x.k, j, "done", "result", result, lgms_now() - t0);
        else
            finish(st, &x.k, j, "failed", "error", "{\"status\":500,\"title\":\"Internal error\"}", 0);
        free(result);
    }
    if (x.k.c) redisFree(x.k.c);
    pthread_mutex_lock(&st->lock); /* this replica's slot is free: the reader may take another */
    for (running_job **p = &st->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    st->n_running--;
    pthread_cond_signal(&st->wake);
    pthread_mutex_unlock(&st->lock);
}

static void job_returned(lgmsd_task *t, void *arg) {
    (void)arg;
    running_job *j = (running_job *)t;
    free(j->upload);
    free(j);
}

/* ---------------------------------------------------------------- the reader thread */

/* Make an entry's job run here: its state and upload read, checked, marked running and
 * handed to the worker pool. */
static void take(redis_store *st, conn *k, const char *stream, int model, const char *entry, const char *id,
                 int takeover) {
    lgmsd_server *s = st->s;
    char err[400], job[KEY_MAX], upload[KEY_MAX];
    key(st, job, sizeof job, "job:", id), key(st, upload, sizeof upload, "upload:", id);
    running_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->st = st, j->model_index = model;
    snprintf(j->id, sizeof j->id, "%s", id);
    snprintf(j->stream, sizeof j->stream, "%s", stream), snprintf(j->entry, sizeof j->entry, "%s", entry);
    redisReply *h = command(st, k, err, sizeof err, "HMGET %s state cancel", job);
    if (!h) {
        free(j);
        return;
    }
    const char *state =
        h->type == REDIS_REPLY_ARRAY && h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : NULL;
    int cancel =
        h->type == REDIS_REPLY_ARRAY && h->element[1]->type == REDIS_REPLY_STRING && !strcmp(h->element[1]->str, "1");
    if (!state || (strcmp(state, "queued") && strcmp(state, "running"))) { /* gone, or ended: drop the entry */
        freeReplyObject(h);
        freeReplyObject(command(st, k, err, sizeof err, "XACK %s " GROUP " %s", stream, entry));
        freeReplyObject(command(st, k, err, sizeof err, "XDEL %s %s", stream, entry));
        free(j);
        return;
    }
    freeReplyObject(h);
    if (cancel) {
        finish(st, k, j, "cancelled", "", NULL, 0);
        free(j);
        return;
    }
    redisReply *r = command(st, k, err, sizeof err, "HINCRBY %s runs 1", job);
    long long runs = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (runs > MAX_RUNS) {
        char detail[200], *problem;
        snprintf(detail, sizeof detail,
                 "the job was started %d times and every replica running it stopped before the end (killed, or out "
                 "of memory?)",
                 MAX_RUNS);
        problem = api_problem_json(500, detail, NULL, NULL);
        finish(st, k, j, "failed", "error", problem ? problem : "{}", 0);
        free(problem);
        free(j);
        return;
    }
    r = command(st, k, err, sizeof err, "GET %s", upload);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r) { /* the upload expired before a replica took the job */
            char detail[200], *problem;
            snprintf(detail, sizeof detail, "the upload expired (job_ttl = %d s) before a replica took the job",
                     s->cfg->job_ttl);
            problem = api_problem_json(503, detail, NULL, NULL);
            finish(st, k, j, "failed", "error", problem ? problem : "{}", 0);
            free(problem);
        }
        freeReplyObject(r);
        free(j);
        return;
    }
    j->upload = malloc(r->len ? r->len : 1);
    if (j->upload) memcpy(j->upload, r->str, r->len), j->upload_len = r->len;
    freeReplyObject(r);
    char now[32];
    snprintf(now, sizeof now, "%.3f", wall());
    freeReplyObject(
        command(st, k, err, sizeof err, "HSET %s state running started %s replica %s done 0", job, now, st->consumer));
    j->task.run = run_job;
    j->task.long_running = 1;
    j->task.returned = job_returned;
    j->task.enqueued_at = lgms_now();
    pthread_mutex_lock(&st->lock);
    j->next = st->jobs, st->jobs = j, st->n_running++;
    pthread_mutex_unlock(&st->lock);
    if (!j->upload || lgmsd_pool_submit(s->pool, &j->task)) { /* no room after all: give it back */
        pthread_mutex_lock(&st->lock);
        st->jobs = j->next, st->n_running--;
        pthread_mutex_unlock(&st->lock);
        hand_over(st, k, j);
        free(j->upload);
        free(j);
        return;
    }
    if (takeover) {
        lgmsd_metrics_takeover();
        lgmsd_log(LGMSD_LOG_WARN, "job %s taken over: the replica running it stopped renewing its lease (start %lld)",
                  id, runs);
    } else {
        lgmsd_log(LGMSD_LOG_INFO, "job %s started on %s", id, st->consumer);
    }
}

/* The 3-D models this replica serves, and their streams. */
static int streams(redis_store *st, char names[][256], int *models) {
    int n = 0;
    for (int i = 0; i < st->s->n_models; i++)
        if (lgms_model_meta(st->s->models[i].model)->spatial_dims == 3) {
            stream_of(st, i, names[n], 256);
            models[n++] = i;
        }
    return n;
}

static int ensure_groups(redis_store *st, conn *k, char names[][256], int n) {
    char err[400];
    for (int i = 0; i < n; i++) {
        redisReply *r = command(st, k, err, sizeof err, "XGROUP CREATE %s " GROUP " 0 MKSTREAM", names[i]);
        if (!r) return -1;
        if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9))
            lgmsd_log(LGMSD_LOG_ERROR, "job store: cannot create the consumer group of %s: %s", names[i], r->str);
        freeReplyObject(r);
    }
    return 0;
}

/* Renew the leases of the jobs running here, and keep their keys from expiring. The list
 * is copied first: no lock is held across a Redis call (a worker checks the lock between
 * patches, and a dead Redis must not hold inference up). */
static void renew(redis_store *st, conn *k) {
    struct {
        char id[LGMSD_JOB_ID_LEN + 1], stream[256], entry[64];
    } held[256];
    int n = 0, renewed = 0;
    pthread_mutex_lock(&st->lock);
    for (running_job *j = st->jobs; j && n < 256; j = j->next, n++) {
        memcpy(held[n].id, j->id, sizeof held[n].id);
        memcpy(held[n].stream, j->stream, sizeof held[n].stream);
        memcpy(held[n].entry, j->entry, sizeof held[n].entry);
    }
    pthread_mutex_unlock(&st->lock);
    char err[400];
    long long ttl = (long long)st->s->cfg->job_ttl + 3LL * st->s->cfg->job_lease;
    for (int i = 0; i < n; i++) {
        char job[KEY_MAX], upload[KEY_MAX];
        key(st, job, sizeof job, "job:", held[i].id), key(st, upload, sizeof upload, "upload:", held[i].id);
        redisReply *r = command(st, k, err, sizeof err, "XCLAIM %s " GROUP " %s 0 %s JUSTID", held[i].stream,
                                st->consumer, held[i].entry);
        if (!r) break;
        int lost = r->type == REDIS_REPLY_ARRAY && r->elements == 0; /* taken over, or the store lost it */
        renewed += r->type == REDIS_REPLY_ARRAY && r->elements == 1;
        freeReplyObject(r);
        freeReplyObject(command(st, k, err, sizeof err, "EXPIRE %s %lld", job, ttl));
        freeReplyObject(command(st, k, err, sizeof err, "EXPIRE %s %lld", upload, ttl));
        if (!lost) continue;
        pthread_mutex_lock(&st->lock);
        for (running_job *j = st->jobs; j; j = j->next)
            if (!strcmp(j->id, held[i].id)) atomic_store(&j->lost, 1);
        pthread_mutex_unlock(&st->lock);
    }
    if (renewed) lgmsd_metrics_lease_renewals(renewed);
}

/* Forget the consumers of replicas long gone that hold nothing (a replica's name is new
 * at every start, so each restart would otherwise leave one in every group). */
static void sweep_consumers(redis_store *st, conn *k, char names[][256], int n) {
    char err[400];
    long long idle_ms = 1000LL * (st->s->cfg->job_lease * 10 > 60 ? st->s->cfg->job_lease * 10 : 60);
    for (int i = 0; i < n; i++) {
        redisReply *r = command(st, k, err, sizeof err, "XINFO CONSUMERS %s " GROUP, names[i]);
        for (size_t c = 0; r && r->type == REDIS_REPLY_ARRAY && c < r->elements; c++) {
            const redisReply *info = r->element[c];
            const char *name = field(info, "name");
            long long pending = -1, idle = 0;
            for (size_t f = 0; info->type == REDIS_REPLY_ARRAY && f + 1 < info->elements; f += 2) {
                if (!strcmp(info->element[f]->str, "pending")) pending = info->element[f + 1]->integer;
                if (!strcmp(info->element[f]->str, "idle")) idle = info->element[f + 1]->integer;
            }
            if (name && pending == 0 && idle > idle_ms && strcmp(name, st->consumer))
                freeReplyObject(command(st, k, err, sizeof err, "XGROUP DELCONSUMER %s " GROUP " %s", names[i], name));
        }
        freeReplyObject(r);
    }
}

/* Queued and running jobs in the cluster, for the gauges. */
static void count(redis_store *st, conn *k) {
    char err[400], active[KEY_MAX];
    key(st, active, sizeof active, "active", "");
    redisReply *ids = command(st, k, err, sizeof err, "SMEMBERS %s", active);
    if (!ids || ids->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(ids);
        return;
    }
    int queued = 0, running = 0;
    for (size_t i = 0; i < ids->elements; i++) {
        char job[KEY_MAX];
        key(st, job, sizeof job, "job:", ids->element[i]->str);
        redisReply *r = command(st, k, err, sizeof err, "HGET %s state", job);
        if (!r) break;
        if (r->type == REDIS_REPLY_STRING) queued += !strcmp(r->str, "queued"), running += !strcmp(r->str, "running");
        freeReplyObject(r);
    }
    freeReplyObject(ids);
    atomic_store(&st->queued, queued), atomic_store(&st->running_cluster, running);
}

/* The first entry of an XREADGROUP or XAUTOCLAIM entry list: its id and job id. */
static int first_entry(const redisReply *entries, const char **entry, const char **id) {
    if (!entries || entries->type != REDIS_REPLY_ARRAY || !entries->elements) return 0;
    const redisReply *e = entries->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING) return 0;
    *entry = e->element[0]->str;
    const redisReply *f = e->element[1];
    *id = f->type == REDIS_REPLY_ARRAY && f->elements >= 2 && f->element[1]->type == REDIS_REPLY_STRING
              ? f->element[1]->str
              : NULL;
    return 1;
}

static void *reader(void *arg) {
    redis_store *st = arg;
    conn k = {0};
    char names[LGMSD_MAX_MODELS][256], err[400];
    int models[LGMSD_MAX_MODELS], n = streams(st, names, models), groups = 0;
    double next_renew = 0, next_count = 0, next_sweep = lgms_now() + 30;
    long long lease_ms = (long long)st->s->cfg->job_lease * 1000;
    for (;;) {
        pthread_mutex_lock(&st->lock);
        int stopping = st->stopping, busy = st->draining || st->n_running >= st->capacity;
        pthread_mutex_unlock(&st->lock);
        if (stopping) break;
        if (!conn_get(st, &k, err, sizeof err)) {
            groups = 0; /* a restarted Redis may have lost the streams and groups */
            struct timespec ts = {0, 250000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (!groups && n) groups = !ensure_groups(st, &k, names, n);
        double now = lgms_now();
        if (now >= next_renew) renew(st, &k), next_renew = now + st->s->cfg->job_lease / 3.0;
        if (now >= next_count) count(st, &k), next_count = now + 1;
        if (now >= next_sweep && groups) sweep_consumers(st, &k, names, n), next_sweep = now + 30;
        if (busy || !n) { /* no slot here: wait for one (or the next renewal) */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200000000;
            if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
            pthread_mutex_lock(&st->lock);
            pthread_cond_timedwait(&st->wake, &st->lock, &until);
            pthread_mutex_unlock(&st->lock);
            continue;
        }
        int took = 0;
        for (int i = 0; i < n && !took; i++) { /* a job whose replica stopped renewing its lease */
            redisReply *r = command(st, &k, err, sizeof err, "XAUTOCLAIM %s " GROUP " %s %lld 0-0 COUNT 1", names[i],
                                    st->consumer, lease_ms);
            const char *entry, *id;
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && first_entry(r->element[1], &entry, &id)) {
                if (id)
                    take(st, &k, names[i], models[i], entry, id, 1);
                else /* deleted from the stream meanwhile */
                    freeReplyObject(command(st, &k, err, sizeof err, "XACK %s " GROUP " %s", names[i], entry));
                took = 1;
            } else if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOGROUP", 7)) {
                groups = 0;
            }
            freeReplyObject(r);
        }
        if (took || !groups) continue;
        const char *argv[8 + 2 * LGMSD_MAX_MODELS] = {"XREADGROUP", "GROUP", GROUP,   st->consumer,
                                                      "COUNT",      "1",     "BLOCK", "500"};
        int argc = 8;
        argv[argc++] = "STREAMS";
        for (int i = 0; i < n; i++)
            argv[argc++] = names[i];
        for (int i = 0; i < n; i++)
            argv[argc++] = ">";
        redisReply *r = command_argv(st, &k, err, sizeof err, argc, argv, NULL);
        /* [[stream, [[entry, [id, ID]]]], ...] */
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements && r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements == 2) {
            const char *stream = r->element[0]->element[0]->str, *entry, *id;
            int model = -1;
            for (int i = 0; i < n; i++)
                if (!strcmp(names[i], stream)) model = models[i];
            if (model >= 0 && first_entry(r->element[0]->element[1], &entry, &id) && id)
                take(st, &k, stream, model, entry, id, 0);
        } else if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOGROUP", 7)) {
            groups = 0;
        }
        freeReplyObject(r);
    }
    if (k.c) redisFree(k.c);
    return NULL;
}

/* ---------------------------------------------------------------- the backend */

static int read_password_file(redis_store *st, const char *path, char *err, size_t errlen) {
    uint8_t *data;
    size_t len;
    char inner[300];
    if (lgmsd_read_file(path, 4096, &data, &len, inner, sizeof inner)) {
        snprintf(err, errlen, "jobs_store_password_file: %s", inner);
        return -1;
    }
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    snprintf(st->password, sizeof st->password, "%.*s", (int)len, (const char *)data);
    free(data);
    return 0;
}

static int start(lgmsd_server *s, char *err, size_t errlen) {
    redis_store *st = s->store_state ? s->store_state : calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->store_state = st;
    st->s = s;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->wake, NULL);
    if (parse_url(st, s->cfg->jobs_store, err, errlen)) return -1;
    const char *env = getenv("LGMSD_JOBS_STORE_PASSWORD");
    if (s->cfg->jobs_store_password_file[0]) {
        if (read_password_file(st, s->cfg->jobs_store_password_file, err, errlen)) return -1;
    } else if (env && env[0]) {
        snprintf(st->password, sizeof st->password, "%s", env);
    }
    snprintf(st->prefix, sizeof st->prefix, "%s", s->cfg->jobs_prefix);
    char host[128] = "lgmsd", id[LGMSD_JOB_ID_LEN + 1] = "0";
    gethostname(host, sizeof host - 1);
    lgmsd_job_new_id(id);
    snprintf(st->consumer, sizeof st->consumer, "%.60s-%d-%.8s", host, (int)getpid(), id);
    st->capacity = s->workers;
    lgmsd_metrics_set_store(0);
    conn k = {0};
    if (conn_get(st, &k, err, errlen)) /* a first contact, for the log; serving starts either way */
        redisFree(k.c);
    else
        lgmsd_log(LGMSD_LOG_ERROR, "job store: %s; volume jobs answer 503 until it is back", err);
    if (pthread_create(&st->reader, NULL, reader, st)) {
        snprintf(err, errlen, "cannot start the job reader thread");
        return -1;
    }
    st->reader_started = 1;
    lgmsd_log(LGMSD_LOG_INFO, "volume jobs in %s (prefix %s), this replica %s runs up to %d at once, lease %d s",
              st->shown, st->prefix, st->consumer, st->capacity, s->cfg->job_lease);
    return 0;
}

static void drain(lgmsd_server *s) {
    redis_store *st = s->store_state;
    if (!st) return;
    pthread_mutex_lock(&st->lock);
    st->draining = 1; /* no more jobs taken; running ones are handed back after their current patch */
    pthread_mutex_unlock(&st->lock);
}

static void stop(lgmsd_server *s) {
    redis_store *st = s->store_state;
    if (!st) return;
    pthread_mutex_lock(&st->lock);
    st->stopping = 1;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->lock);
    if (st->reader_started) pthread_join(st->reader, NULL);
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->wake);
    free(st);
    s->store_state = NULL;
}

static int up(lgmsd_server *s, const char **why) {
    static _Thread_local char buf[400];
    redis_store *st = s->store_state;
    if (st && atomic_load(&st->up)) {
        *why = "ready";
        return 1;
    }
    if (st) {
        pthread_mutex_lock(&st->lock);
        snprintf(buf, sizeof buf, "%s", st->why[0] ? st->why : "the job store is not reachable yet");
        pthread_mutex_unlock(&st->lock);
    }
    *why = st ? buf : "the job store is not started";
    return 0;
}

static void gauges(lgmsd_server *s) {
    redis_store *st = s->store_state;
    if (st) lgmsd_metrics_set_jobs(atomic_load(&st->queued), atomic_load(&st->running_cluster), -1, -1, -1);
}

const lgmsd_store_backend lgmsd_store_redis = {.name = "redis",
                                               .blocking = 1,
                                               .start = start,
                                               .call = call,
                                               .thread_init = thread_init,
                                               .thread_fini = thread_fini,
                                               .drain = drain,
                                               .stop = stop,
                                               .up = up,
                                               .gauges = gauges};
