/* snn_crc32.h - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), equal to zlib.crc32. */
#ifndef SNN_CRC32_H
#define SNN_CRC32_H

#include <stdint.h>

/* CRC of p[0 .. len). Start with crc = 0; pass a previous result to continue a running CRC. */
uint32_t snn_crc32(uint32_t crc, const uint8_t *p, uint32_t len);

#endif /* SNN_CRC32_H */
