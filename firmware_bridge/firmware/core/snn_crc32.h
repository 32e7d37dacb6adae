/* snn_crc32.h - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), equal to zlib.crc32. */
#ifndef SNN_CRC32_H
#define SNN_CRC32_H

#include <stdint.h>

#include "snn_blob.h"

/* CRC of p[0 .. len) in RAM. Start with crc = 0; pass a previous result to continue a running CRC. */
uint32_t snn_crc32(uint32_t crc, const uint8_t *p, uint32_t len);

/* The same CRC of blob bytes, read through SNN_BLOB_U8 (snn_blob.h): the loader's file check.
 * With plain loads (the default) it is snn_crc32 itself, so the image holds one copy. */
#if SNN_BLOB_HOOKED
uint32_t snn_crc32_blob(uint32_t crc, const uint8_t *p, uint32_t len);
#else
#define snn_crc32_blob snn_crc32
#endif

#endif /* SNN_CRC32_H */
