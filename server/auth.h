/* auth.h - optional Bearer API keys, read from a file (one key a line, # comments). */
#ifndef LGMS_AUTH_H
#define LGMS_AUTH_H

#include <stddef.h>

typedef struct {
    char **keys;
    size_t n;
} lgmsd_keys;

/* 0, or -1 with err (unreadable file, or no key in it). */
int lgmsd_keys_load(lgmsd_keys *k, const char *path, char *err, size_t errlen);
void lgmsd_keys_free(lgmsd_keys *k);
/* 1 if the Authorization header value carries one of the keys. The comparison takes the
 * same time whatever the first differing byte, and every key is compared. */
int lgmsd_keys_check(const lgmsd_keys *k, const char *authorization);

#endif
