/*
 * snnunits - the C core's raw-unit conversion (snn_units.c) as a filter, for tests that compare it
 * with the Python reference (snnctl/units.py) on many networks in one process.
 *
 *   snnunits < requests > replies
 *
 * Request (little-endian): u32 blob_len (0: exit 0), blob_len bytes of a `.snn` file, u32 count,
 *   then count records of 8 bytes: u8 dir (0: raw -> input code, 1: output code -> raw), u8 0,
 *   u16 channel, i32 value (dir 1: an int16 code in the low 16 bits, sign-extended).
 * Reply: i32 snn_load result, u32 snn_period_us, u32 snn_has_units, then count i32 results
 *   (snn_input_code or snn_output_raw; none if the load failed). Flushed after each reply.
 * Exit status: 0 at blob_len 0 or EOF before a request; 2 on a malformed or truncated request.
 */
#include <stdio.h>
#include <stdlib.h>

#include "snn.h"

static int read_exact(void *buf, size_t n)
{
    return fread(buf, 1, n, stdin) == n;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put32(uint32_t v)
{
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    fwrite(b, 1, 4, stdout);
}

int main(void)
{
    for (;;) {
        uint8_t hdr[4], rec[8];
        uint32_t len, count, need = 0, k;
        uint8_t *blob, *arena;
        snn_net_t net;
        int32_t rc;
        if (!read_exact(hdr, 4)) {
            return 0;
        }
        len = le32(hdr);
        if (len == 0u) {
            return 0;
        }
        blob = malloc(len);
        if (blob == NULL || !read_exact(blob, len) || !read_exact(hdr, 4)) {
            return 2;
        }
        count = le32(hdr);
        rc = snn_measure(blob, len, &need);
        arena = malloc(need > 0u ? need : 4u);
        if (arena == NULL) {
            return 2;
        }
        if (rc == SNN_OK) {
            rc = snn_load(&net, blob, len, arena, need);
        }
        put32((uint32_t)rc);
        put32(rc == SNN_OK ? snn_period_us(&net) : 0u);
        put32(rc == SNN_OK ? (uint32_t)snn_has_units(&net) : 0u);
        for (k = 0; k < count; k++) {
            uint32_t v;
            uint16_t ch;
            if (!read_exact(rec, 8)) {
                return 2;
            }
            if (rc != SNN_OK) {
                continue;
            }
            ch = (uint16_t)(rec[2] | (rec[3] << 8));
            v = le32(rec + 4);
            /* two's complement reinterpretation of v, without implementation-defined conversions */
            if (rec[0] == 0u) {
                int32_t raw = v < UINT32_C(0x80000000) ? (int32_t)v : -(int32_t)(UINT32_C(0xFFFFFFFF) - v) - 1;
                put32((uint32_t)(int32_t)snn_input_code(&net, ch, raw));
            } else {
                uint16_t lo = (uint16_t)(v & 0xFFFFu);
                int16_t code = lo < 0x8000u ? (int16_t)lo : (int16_t)((int32_t)lo - 65536);
                put32((uint32_t)snn_output_raw(&net, ch, code));
            }
        }
        fflush(stdout);
        free(arena);
        free(blob);
    }
}
