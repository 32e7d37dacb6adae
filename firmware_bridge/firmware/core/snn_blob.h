/*
 * snn_blob.h - how the core reads a byte of the `.snn` blob: one hook for every read.
 *
 * Plain loads by default. A Harvard-architecture MCU running a network compiled into its program
 * memory (AVR: PROGMEM, docs/firmware-boards.md §3) cannot read that memory with an ordinary load,
 * so the port defines the hooks (AVR: pgm_read_byte = LPM, ports/atmega328p/snn_avr_flash.h) in a
 * header it names with -DSNN_BLOB_CONFIG='"file.h"'. The blob pointer stays `const uint8_t *`; only
 * the reads change. The core reads the blob through these macros and nothing else:
 *
 *   SNN_BLOB_U8(p)  the byte at p, as uint8_t
 *   SNN_BLOB_I8(p)  the byte at p, as int8_t (a weight); default: derived from SNN_BLOB_U8
 *   SNN_BLOB_ATTR   placement of a compiled-in blob (AVR: PROGMEM), empty by default
 *
 * SNN_BLOB_HOOKED is 1 when a port replaced the plain load (then snn_crc32_blob is a separate
 * function; with plain loads it is snn_crc32 itself). Code that reads the blob any other way (e.g.
 * a word-wide fast path for 32-bit cores) must be compiled only #if !SNN_BLOB_HOOKED: the host test
 * build of tests/test_blob_hook.py (host/harvard/) makes every other read of the blob crash.
 */
#ifndef SNN_BLOB_H
#define SNN_BLOB_H

#include <stdint.h>

#ifdef SNN_BLOB_CONFIG
#include SNN_BLOB_CONFIG
#endif

#ifdef SNN_BLOB_U8
#define SNN_BLOB_HOOKED 1
#else
#define SNN_BLOB_HOOKED 0
#define SNN_BLOB_U8(p) (*(const uint8_t *)(p))
#ifndef SNN_BLOB_I8
#define SNN_BLOB_I8(p) (*(const int8_t *)(p))
#endif
#endif

#ifndef SNN_BLOB_I8
/* Two's-complement reinterpretation of the hooked byte without an implementation-defined
 * conversion: u < 128 is itself, u >= 128 is u - 256 (both in -128..127, so the int8_t
 * conversion is exact). One hooked read per weight. */
static inline int8_t snn_blob_i8(const uint8_t *p)
{
    const uint8_t u = SNN_BLOB_U8(p);
    return (int8_t)(u < 0x80u ? (int16_t)u : (int16_t)((int16_t)u - 256));
}
#define SNN_BLOB_I8(p) snn_blob_i8((const uint8_t *)(p))
#endif

#ifndef SNN_BLOB_ATTR
#define SNN_BLOB_ATTR
#endif

#endif /* SNN_BLOB_H */
