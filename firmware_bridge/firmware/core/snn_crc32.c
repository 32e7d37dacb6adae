/* snn_crc32.c - CRC-32 IEEE with a 16-entry (64-byte) nibble table: small enough for flash-poor
 * devices, two table look-ups per byte. Same result as zlib.crc32. */
#include "snn_crc32.h"

/* crc32 of each 4-bit value, reflected polynomial 0xEDB88320. On an AVR (Harvard: const data is
 * copied to RAM unless it is PROGMEM) the table stays in flash and is read with LPM: 64 of the
 * ATmega328P's 2,048 bytes of RAM, for 4 cycles more per nibble. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define SNN_CRC_TABLE_ATTR PROGMEM
#define NIBBLE(i) ((uint32_t)pgm_read_dword(&snn_crc_nibble[(i)]))
#else
#define SNN_CRC_TABLE_ATTR
#define NIBBLE(i) snn_crc_nibble[(i)]
#endif
static const uint32_t snn_crc_nibble[16] SNN_CRC_TABLE_ATTR = {
    UINT32_C(0x00000000), UINT32_C(0x1DB71064), UINT32_C(0x3B6E20C8), UINT32_C(0x26D930AC),
    UINT32_C(0x76DC4190), UINT32_C(0x6B6B51F4), UINT32_C(0x4DB26158), UINT32_C(0x5005713C),
    UINT32_C(0xEDB88320), UINT32_C(0xF00F9344), UINT32_C(0xD6D6A3E8), UINT32_C(0xCB61B38C),
    UINT32_C(0x9B64C2B0), UINT32_C(0x86D3D2D4), UINT32_C(0xA00AE278), UINT32_C(0xBDBDF21C),
};

/* One byte into the (inverted) running CRC: two nibble steps of the reflected shift register. */
static uint32_t crc_byte(uint32_t crc, uint8_t byte)
{
    crc ^= (uint32_t)byte;
    crc = (crc >> 4) ^ NIBBLE(crc & UINT32_C(15));
    return (crc >> 4) ^ NIBBLE(crc & UINT32_C(15));
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
