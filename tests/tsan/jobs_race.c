/* jobs_race.c - the job table's completion race (tests/unit/jobs_race.h) under
 * ThreadSanitizer (make test-tsan). */
#include "../unit/jobs_race.h"

int main(void) {
    char err[256];
    if (jobs_race(20000, 2, err, sizeof err)) {
        fprintf(stderr, "jobs_race: %s\n", err);
        return 1;
    }
    printf("jobs_race: 20000 completions raced against DELETE and expiry, none lost\n");
    return 0;
}
