/*
 * snnrun - run a `.snn` network on the host with the C core, codes in, codes out.
 *
 *   snnrun NET.snn [--trace] [--counters] < codes.bin > out.bin
 *   snnrun NET.snn --info               prints one line "arena_bytes=N" and exits
 *
 * stdin:  per step, n_inputs int16 little-endian input codes, until EOF.
 * stdout: per step, n_outputs int16 LE output codes; with --trace, after the outputs of each
 *         step: spikes as N uint8, then u, v, a as N int32 LE each (N = total neurons, flat
 *         population order); with --counters, last in each step: the step's spike and synaptic
 *         event counters (net.spikes, net.synops) as two uint32 LE.
 * Exit status: 0 ok; 2 usage or I/O error; 3 partial trailing step on stdin;
 *              10 + k for load error code k (11 TRUNCATED ... 19 TOO_LARGE), with one line
 *              "snnrun: NET.snn: <error name>" on stderr.
 * The arena is malloc'd at exactly the size snn_measure reports (so sanitizer builds catch any
 * arena overrun); the core itself never allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn.h"
#ifdef SNN_HARVARD
#include "snn_blob_harvard.h" /* test build: the core sees the blob only through its hook */
#endif

static uint8_t *read_file(const char *path, uint32_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n == cap) {
            uint8_t *grown;
            cap = cap ? 2 * cap : 65536;
            if (cap > (size_t)UINT32_C(0xFFFFFFFF)) {
                free(buf);
                fclose(f);
                return NULL;
            }
            grown = (uint8_t *)realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (uint32_t)n;
    return buf;
}

/* Everything main allocates, released by finish() on every exit path (keeps LeakSanitizer quiet). */
static uint8_t *g_blob, *g_arena, *g_inbuf, *g_outbuf;
static int16_t *g_in_codes, *g_out_codes;

static int finish(int status)
{
    free(g_blob);
    free(g_arena);
    free(g_inbuf);
    free(g_outbuf);
    free(g_in_codes);
    free(g_out_codes);
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "snnrun: write error\n");
        status = 2;
    }
    return status;
}

static void put_u32(uint8_t *p, uint32_t u)
{
    p[0] = (uint8_t)(u & 0xFFu);
    p[1] = (uint8_t)((u >> 8) & 0xFFu);
    p[2] = (uint8_t)((u >> 16) & 0xFFu);
    p[3] = (uint8_t)((u >> 24) & 0xFFu);
}

static void put32(uint8_t *p, int32_t x)
{
    put_u32(p, (uint32_t)x);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int trace = 0, counters = 0, info = 0, i;
    uint32_t len = 0, need = 0, n_in_bytes, out_bytes, n;
    int32_t rc;
    snn_net_t net;
    const uint8_t *blob; /* what the core is given: the file's bytes, or their Harvard stand-in */

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--trace") == 0) {
            trace = 1;
        } else if (strcmp(argv[i], "--counters") == 0) {
            counters = 1;
        } else if (strcmp(argv[i], "--info") == 0) {
            info = 1;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: snnrun NET.snn [--trace] [--counters] [--info] < codes.bin > out.bin\n");
        return finish(2);
    }
    g_blob = read_file(path, &len);
    if (g_blob == NULL) {
        fprintf(stderr, "snnrun: %s: cannot read file\n", path);
        return finish(2);
    }
    blob = g_blob;
#ifdef SNN_HARVARD
    blob = snn_harvard_place(g_blob, len);
#endif
    rc = snn_measure(blob, len, &need);
    if (rc != SNN_OK) {
        fprintf(stderr, "snnrun: %s: %s\n", path, snn_error_name(rc));
        return finish(10 - rc);
    }
    g_arena = (uint8_t *)malloc(need);
    if (g_arena == NULL) {
        fprintf(stderr, "snnrun: %s: cannot allocate %lu arena bytes\n", path, (unsigned long)need);
        return finish(2);
    }
    rc = snn_load(&net, blob, len, g_arena, need);
    if (rc != SNN_OK) {
        fprintf(stderr, "snnrun: %s: %s\n", path, snn_error_name(rc));
        return finish(10 - rc);
    }
    if (info) {
        printf("arena_bytes=%lu\n", (unsigned long)net.arena_bytes);
#ifdef SNN_HARVARD
        printf("blob_reads=%llu\n", (unsigned long long)snn_harvard_reads()); /* measure + load */
#endif
        return finish(0);
    }

    n = net.n_neurons;
    n_in_bytes = 2u * net.n_inputs;
    out_bytes = 2u * net.n_outputs + (trace ? 13u * n : 0u) + (counters ? 8u : 0u);
    g_inbuf = (uint8_t *)malloc(n_in_bytes);
    g_outbuf = (uint8_t *)malloc(out_bytes);
    g_in_codes = (int16_t *)malloc(sizeof(int16_t) * net.n_inputs);
    g_out_codes = (int16_t *)malloc(sizeof(int16_t) * net.n_outputs);
    if (g_inbuf == NULL || g_outbuf == NULL || g_in_codes == NULL || g_out_codes == NULL) {
        fprintf(stderr, "snnrun: out of memory\n");
        return finish(2);
    }
    for (;;) {
        size_t got = fread(g_inbuf, 1, n_in_bytes, stdin);
        uint32_t k;
        if (got == 0 && feof(stdin)) {
            break;
        }
        if (got != n_in_bytes) {
            fprintf(stderr, "snnrun: partial step at end of input (%lu of %lu bytes)\n", (unsigned long)got,
                    (unsigned long)n_in_bytes);
            return finish(3);
        }
        for (k = 0; k < net.n_inputs; k++) {
            uint16_t raw = (uint16_t)(g_inbuf[2 * k] | (g_inbuf[2 * k + 1] << 8));
            g_in_codes[k] = (int16_t)(raw < 0x8000u ? (int32_t)raw : (int32_t)raw - 65536);
        }
        snn_step(&net, g_in_codes, g_out_codes);
        for (k = 0; k < net.n_outputs; k++) {
            uint16_t raw = (uint16_t)g_out_codes[k];
            g_outbuf[2 * k] = (uint8_t)(raw & 0xFFu);
            g_outbuf[2 * k + 1] = (uint8_t)(raw >> 8);
        }
        if (trace) {
            uint8_t *p = g_outbuf + 2u * net.n_outputs;
            snn_spikes(&net, p);
            p += n;
            for (k = 0; k < n; k++) {
                int32_t uva[3];
                snn_neuron_state(&net, (uint16_t)k, uva);
                put32(p + 4u * k, uva[0]);
                put32(p + 4u * (n + k), uva[1]);
                put32(p + 4u * (2u * n + k), uva[2]);
            }
        }
        if (counters) {
            put_u32(g_outbuf + out_bytes - 8u, net.spikes);
            put_u32(g_outbuf + out_bytes - 4u, net.synops);
        }
        if (fwrite(g_outbuf, 1, out_bytes, stdout) != out_bytes) {
            fprintf(stderr, "snnrun: write error\n");
            return finish(2);
        }
    }
    return finish(0);
}
