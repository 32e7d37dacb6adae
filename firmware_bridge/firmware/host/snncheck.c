/*
 * snncheck - fuzz driver for snn_load (and snn_step on what it accepts).
 *
 * stdin:  a stream of records: u32 LE length, then that many bytes (one candidate blob each).
 * stdout: one int32 LE per record: snn_load's return code (0 = SNN_OK, -1 .. -9 = errors).
 * Exit status: 0 ok; 3 truncated record stream; 4 internal inconsistency (a bug: message on stderr).
 *
 * Each blob is copied into a malloc'd buffer of exactly its length, and the arena is malloc'd at
 * exactly the measured size, so an AddressSanitizer build catches any over-read of the blob and
 * any write past the arena layout. Accepted blobs also run snn_reset and 3 steps with zero input
 * codes, then 3 steps with extreme codes (+32767 / -32768 alternating), to exercise the step's
 * saturation paths under UBSan. The stream result is the load code only.
 */
#include <stdio.h>
#include <stdlib.h>

#include "snn.h"
#ifdef SNN_HARVARD
#include "snn_blob_harvard.h" /* test build: the core sees the blob only through its hook */
#endif

static int read_exact(uint8_t *p, size_t n)
{
    return fread(p, 1, n, stdin) == n;
}

static void put32(int32_t x)
{
    uint32_t u = (uint32_t)x;
    uint8_t b[4];
    b[0] = (uint8_t)(u & 0xFFu);
    b[1] = (uint8_t)((u >> 8) & 0xFFu);
    b[2] = (uint8_t)((u >> 16) & 0xFFu);
    b[3] = (uint8_t)((u >> 24) & 0xFFu);
    fwrite(b, 1, 4, stdout);
}

static int fail(const char *what, int32_t a, int32_t b)
{
    fprintf(stderr, "snncheck: internal inconsistency: %s (%ld vs %ld)\n", what, (long)a, (long)b);
    return 4;
}

int main(void)
{
    static int16_t in_codes[SNN_MAX_INPUTS], out_codes[SNN_MAX_OUTPUTS];
    uint8_t hdr[4];
    for (;;) {
        uint32_t len, need = 0;
        uint8_t *blob, *arena;
        const uint8_t *view; /* what the core is given: blob, or its Harvard stand-in */
        int32_t rc, rc2;
        size_t got = fread(hdr, 1, 4, stdin);
        snn_net_t net;
        int s, k;
        if (got == 0 && feof(stdin)) {
            break;
        }
        if (got != 4) {
            fprintf(stderr, "snncheck: truncated record header\n");
            return 3;
        }
        len = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 24);
        blob = (uint8_t *)malloc(len > 0u ? len : 1u);
        if (blob == NULL) {
            fprintf(stderr, "snncheck: cannot allocate %lu bytes\n", (unsigned long)len);
            return 3;
        }
        if (!read_exact(blob, len)) {
            fprintf(stderr, "snncheck: truncated record (%lu bytes expected)\n", (unsigned long)len);
            return 3;
        }
        view = blob;
#ifdef SNN_HARVARD
        view = snn_harvard_place(blob, len);
#endif
        rc = snn_measure(view, len, &need);
        if (rc != SNN_OK) {
            /* snn_load must report the same problem, whatever the arena */
            rc2 = snn_load(&net, view, len, NULL, 0u);
            if (rc2 != rc) {
                return fail("snn_load and snn_measure disagree", rc2, rc);
            }
        } else {
            arena = (uint8_t *)malloc(need);
            if (arena == NULL) {
                fprintf(stderr, "snncheck: cannot allocate %lu arena bytes\n", (unsigned long)need);
                return 3;
            }
            rc2 = snn_load(&net, view, len, arena, need - 1u);
            if (rc2 != SNN_E_TOO_LARGE || net.arena_bytes != need) {
                return fail("arena one byte short not reported as TOO_LARGE", rc2, SNN_E_TOO_LARGE);
            }
            rc = snn_load(&net, view, len, arena, need);
            if (rc != SNN_OK || net.arena_bytes != need) {
                return fail("snn_load rejects what snn_measure accepted", rc, SNN_OK);
            }
            snn_reset(&net);
            for (k = 0; k < net.n_inputs; k++) {
                in_codes[k] = 0;
            }
            for (s = 0; s < 3; s++) {
                snn_step(&net, in_codes, out_codes);
            }
            for (s = 0; s < 3; s++) {
                for (k = 0; k < net.n_inputs; k++) {
                    in_codes[k] = (int16_t)(((s + k) & 1) ? -32768 : 32767);
                }
                snn_step(&net, in_codes, out_codes);
            }
            free(arena);
        }
        put32(rc);
        free(blob);
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
