/* snn_blob_harvard.c - the hook of snn_blob_harvard.h: an unreadable stand-in mapping + a copy. */
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS under -std=c99 */
#include "snn_blob_harvard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint8_t *g_base;         /* the PROT_NONE stand-in: what the core sees as the blob */
static size_t g_map_bytes;      /* its mapping length (whole pages, at least one) */
static uint8_t *g_copy;         /* the real bytes */
static uint32_t g_len;
static uint64_t g_reads;

uint8_t snn_harvard_u8(const uint8_t *p)
{
    /* compare as integers: p may be any pointer the core formed */
    const uintptr_t a = (uintptr_t)p, lo = (uintptr_t)g_base;
    if (g_base == NULL || a < lo || a - lo >= g_len) {
        fprintf(stderr, "snn_blob_harvard: read outside the blob (offset %ld of %lu bytes)\n",
                (long)(a - lo), (unsigned long)g_len);
        abort();
    }
    g_reads++;
    return g_copy[a - lo];
}

const uint8_t *snn_harvard_place(const uint8_t *blob, uint32_t len)
{
    if (g_base != NULL) {
        munmap(g_base, g_map_bytes);
        free(g_copy);
    }
    g_map_bytes = ((size_t)len + 4096u) & ~(size_t)4095u; /* >= len + 1: never empty */
    g_base = (uint8_t *)mmap(NULL, g_map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_copy = (uint8_t *)malloc(len > 0u ? len : 1u);
    if (g_base == (uint8_t *)MAP_FAILED || g_copy == NULL) {
        fprintf(stderr, "snn_blob_harvard: cannot map %lu bytes\n", (unsigned long)len);
        abort();
    }
    if (len > 0u) {
        memcpy(g_copy, blob, len);
    }
    g_len = len;
    g_reads = 0u;
    return g_base;
}

uint64_t snn_harvard_reads(void)
{
    return g_reads;
}
