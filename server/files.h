/* files.h - whole files in and out, every byte checked, errors naming the file and errno. */
#ifndef LGMSD_FILES_H
#define LGMSD_FILES_H

#include <stddef.h>
#include <stdint.h>

/* The whole file into a malloc'ed buffer with a NUL after it (at most max_bytes). 0, or -1
 * with err. */
int lgmsd_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len, char *err, size_t errlen);

#endif
