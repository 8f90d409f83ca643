/* test_jobs.c - the volume job table: slots, ids, expiry, forgetting, and a job's
 * completion raced against DELETE and expiry on the real pool (jobs_race.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "jobs_race.h"

Test(jobs, completion_races_delete_and_expiry) {
    char err[256];
    cr_assert_eq(jobs_race(20000, 2, err, sizeof err), 0, "%s", err);
}
