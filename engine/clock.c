/* clock.c - the monotonic clock (lgms_now). */
#include <time.h>

#include "lgms.h"

double lgms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
