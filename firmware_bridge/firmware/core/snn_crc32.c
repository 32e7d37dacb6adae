/* snn_crc32.c - CRC-32 IEEE with a 16-entry (64-byte) nibble table: small enough for flash-poor
 * devices, two table look-ups per byte. Same result as zlib.crc32. */
#include "snn_crc32.h"

/* crc32 of each 4-bit value, reflected polynomial 0xEDB88320. */
static const uint32_t snn_crc_nibble[16] = {
    UINT32_C(0x00000000), UINT32_C(0x1DB71064), UINT32_C(0x3B6E20C8), UINT32_C(0x26D930AC),
    UINT32_C(0x76DC4190), UINT32_C(0x6B6B51F4), UINT32_C(0x4DB26158), UINT32_C(0x5005713C),
    UINT32_C(0xEDB88320), UINT32_C(0xF00F9344), UINT32_C(0xD6D6A3E8), UINT32_C(0xCB61B38C),
    UINT32_C(0x9B64C2B0), UINT32_C(0x86D3D2D4), UINT32_C(0xA00AE278), UINT32_C(0xBDBDF21C),
};

/* One byte into the (inverted) running CRC: two nibble steps of the reflected shift register. */
static uint32_t crc_byte(uint32_t crc, uint8_t byte)
{
    crc ^= (uint32_t)byte;
    crc = (crc >> 4) ^ snn_crc_nibble[crc & UINT32_C(15)];
    return (crc >> 4) ^ snn_crc_nibble[crc & UINT32_C(15)];
}

uint32_t snn_crc32(uint32_t crc, const uint8_t *p, uint32_t len)
{
    uint32_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc = crc_byte(crc, p[i]);
    }
    return ~crc;
}

#if SNN_BLOB_HOOKED
uint32_t snn_crc32_blob(uint32_t crc, const uint8_t *p, uint32_t len)
{
    uint32_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc = crc_byte(crc, SNN_BLOB_U8(p + i));
    }
    return ~crc;
}
#endif
