/* Shared bits of the libFuzzer harnesses (test/fuzz/fuzz_*.c). */
#ifndef RELRUN_FUZZ_H
#define RELRUN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A property of the code under test; an assert() would vanish under NDEBUG. */
#define CHECK(c)                                                                                   \
        do {                                                                                       \
                if (!(c)) {                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data as a NUL-terminated heap string (the parsers that take C strings);
 * NULL when it holds a NUL itself (those parsers never see one). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
        if (memchr(data, '\0', size))
                return NULL;
        char *s = malloc(size + 1);
        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}

#endif
