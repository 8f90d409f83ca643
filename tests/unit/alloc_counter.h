/* alloc_counter.h - how many allocations the project's code has made so far. */
#ifndef LGMS_ALLOC_COUNTER_H
#define LGMS_ALLOC_COUNTER_H

long alloc_counter_calls(void);

#endif
