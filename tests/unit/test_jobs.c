/* test_jobs.c - the volume job table: ids, owners, expiry, slots of failed jobs, Retry-After,
 * the documents it writes, and a job's completion raced against DELETE and expiry on the
 * real pool (jobs_race.h). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "jobs_race.h"

static void finish(lgmsd_job *j, int state, double when, const char *result) {
    j->result = result ? strdup(result) : NULL;
    j->started = when - 5, j->finished = when;
    atomic_store(&j->state, state);
}

Test(jobs, ids_are_128_random_bits_and_owners_see_only_their_jobs) {
    lgmsd_jobs t;
    int retry;
    cr_assert_eq(lgmsd_jobs_init(&t, 4, 600), 0);
    lgmsd_job *a = lgmsd_jobs_add(&t, "aaaa", 0, &retry), *b = lgmsd_jobs_add(&t, "bbbb", 0, &retry);
    cr_assert(a && b);
    cr_assert_eq(strlen(a->id), 32);
    cr_assert_eq(strspn(a->id, "0123456789abcdef"), 32);
    cr_assert_str_neq(a->id, b->id);
    cr_assert_eq(lgmsd_jobs_find(&t, a->id, "aaaa"), a);
    cr_assert_null(lgmsd_jobs_find(&t, a->id, "bbbb"), "another key's job is not found");
    cr_assert_null(lgmsd_jobs_find(&t, a->id, ""));
    size_t len;
    char *list = lgmsd_jobs_list_json(&t, "bbbb", 1, &len);
    cr_assert(strstr(list, b->id) && !strstr(list, a->id), "%s", list);
    free(list);
    lgmsd_jobs_free(&t);
}

Test(jobs, results_expire_and_failed_jobs_give_their_slot_away) {
    lgmsd_jobs t;
    int retry = 0;
    cr_assert_eq(lgmsd_jobs_init(&t, 2, 600), 0);
    lgmsd_job *done = lgmsd_jobs_add(&t, "", 0, &retry), *failed = lgmsd_jobs_add(&t, "", 0, &retry);
    finish(done, LGMSD_JOB_DONE, 100, "{\"labels\":1}");
    finish(failed, LGMSD_JOB_FAILED, 110, "{\"status\":422}");
    char failed_id[40];
    strcpy(failed_id, failed->id);
    /* full of a result and a failure: the failure yields its slot at once */
    lgmsd_job *c = lgmsd_jobs_add(&t, "", 120, &retry);
    cr_assert_not_null(c, "a failed job held its slot");
    cr_assert_null(lgmsd_jobs_find(&t, failed_id, ""));
    /* now a result and a queued job: full, and Retry-After is the result's expiry */
    cr_assert_null(lgmsd_jobs_add(&t, "", 120, &retry));
    cr_assert_eq(retry, 580, "retry after %d s", retry);
    cr_assert_eq(lgmsd_jobs_expire(&t, 699), 0);
    cr_assert_eq(lgmsd_jobs_expire(&t, 701), 1);
    cr_assert_not_null(lgmsd_jobs_add(&t, "", 701, &retry));
    lgmsd_jobs_free(&t);
}

Test(jobs, status_document_splices_the_result_text) {
    lgmsd_jobs t;
    int retry;
    cr_assert_eq(lgmsd_jobs_init(&t, 1, 600), 0);
    lgmsd_job *j = lgmsd_jobs_add(&t, "", 0, &retry);
    snprintf(j->model_name, sizeof j->model_name, "ct");
    finish(j, LGMSD_JOB_DONE, 3, "{\"labels\":{\"base64\":\"AAAA\"},\"patches\":9}");
    size_t len;
    char *text = lgmsd_job_json(j, 4.25, &len);
    cr_assert_eq(strlen(text), len);
    json_error_t e;
    json_t *o = json_loads(text, 0, &e);
    cr_assert_not_null(o, "%s: %s", text, e.text);
    cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "done");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "result"), "patches")), 9);
    cr_assert_float_eq(json_real_value(json_object_get(o, "age_seconds")), 4.3, 1e-9);
    json_decref(o);
    free(text);
    atomic_store(&j->state, LGMSD_JOB_FAILED);
    text = lgmsd_job_json(j, 5, &len);
    cr_assert(strstr(text, "\"error\":{"), "%s", text);
    free(text);
    lgmsd_jobs_free(&t);
}

Test(jobs, completion_races_delete_and_expiry) {
    char err[256];
    cr_assert_eq(jobs_race(20000, 2, err, sizeof err), 0, "%s", err);
}
