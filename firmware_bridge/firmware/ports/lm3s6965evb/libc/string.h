/*
 * string.h - the few <string.h> functions of the freestanding lm3s6965evb image (no newlib).
 * Implemented in ../libc.c. GCC may also emit calls to memcpy/memset/memmove/memcmp on its own
 * (struct copies, zeroing), which is why they exist even if no source includes this header.
 */
#ifndef LM3S_STRING_H
#define LM3S_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif /* LM3S_STRING_H */
