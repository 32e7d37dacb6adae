/* snn_cobs.c - COBS encode / decode with explicit buffer limits (see snn_cobs.h). */
#include "snn_cobs.h"

uint16_t snn_cobs_block(const uint8_t *p, uint16_t len)
{
    uint16_t n = 0u;
    while (n < len && n < 254u && p[n] != 0u) {
        n++;
    }
    return n;
}

uint16_t snn_cobs_encode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap)
{
    uint16_t pos = 0u, w = 0u;
    for (;;) {
        uint16_t run = snn_cobs_block(in + pos, (uint16_t)(len - pos));
        uint16_t k;
        if ((uint32_t)w + 1u + run > cap) {
            return 0u;
        }
        out[w++] = (uint8_t)(run + 1u);
        for (k = 0u; k < run; k++) {
            out[w++] = in[pos + k];
        }
        pos = (uint16_t)(pos + run);
        if (pos == len) {
            break; /* the implicit trailing zero (or the end after a full 254-byte block) */
        }
        if (run < 254u) {
            pos++; /* skip the real zero this block stands for */
        }
    }
    return w;
}

int32_t snn_cobs_decode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap)
{
    uint16_t r = 0u, w = 0u;
    if (len == 0u) {
        return -1;
    }
    while (r < len) {
        uint8_t code = in[r];
        uint16_t n, k;
        if (code == 0u) {
            return -1;
        }
        n = (uint16_t)(code - 1u);
        if ((uint32_t)r + 1u + n > len) {
            return -1;
        }
        if ((uint32_t)w + n > cap) {
            return -1;
        }
        r++;
        for (k = 0u; k < n; k++) {
            uint8_t b = in[r++];
            if (b == 0u) {
                return -1;
            }
            out[w++] = b; /* w <= r - 1 throughout: in-place decoding is safe */
        }
        if (code != 0xFFu && r < len) {
            if (w >= cap) {
                return -1;
            }
            out[w++] = 0u;
        }
    }
    return (int32_t)w;
}
