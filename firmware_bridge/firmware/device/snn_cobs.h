/*
 * snn_cobs.h - Consistent Overhead Byte Stuffing (docs/protocol.md §1), with explicit limits.
 *
 * The encoding has no 0x00 byte; the wire adds one 0x00 delimiter after each frame (not done here).
 * The encoder emits the minimal form: a final block of 254 data bytes (code 0xFF) is not followed
 * by an empty 0x01 block. The decoder accepts that form and the form with the extra 0x01 block.
 */
#ifndef SNN_COBS_H
#define SNN_COBS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest encoding of n bytes, for either encoder variant (n + floor(n / 254) + 1). */
#define SNN_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Data bytes of the COBS block that starts at p (len bytes left): the number of leading non-zero
 * bytes, at most 254. The block's code byte is that number + 1. Used by the streaming sender. */
uint16_t snn_cobs_block(const uint8_t *p, uint16_t len);

/* Encode in[0 .. len) into out (cap bytes). Returns the encoded length (>= 1), or 0 if it would
 * not fit in cap. in and out must not overlap. */
uint16_t snn_cobs_encode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap);

/* Decode in[0 .. len) (the frame without its 0x00 delimiter) into out (cap bytes). out may equal
 * in (decoding in place never overtakes the input); other overlaps are not allowed.
 * Returns the decoded length, or -1 if the input is malformed (empty, contains 0x00, or a code
 * byte points past the end) or the result would exceed cap. */
int32_t snn_cobs_decode(const uint8_t *in, uint16_t len, uint8_t *out, uint16_t cap);

#ifdef __cplusplus
}
#endif

#endif /* SNN_COBS_H */
