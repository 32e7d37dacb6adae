/*
 * snn_avr_flash.h - the core's blob hooks (core/snn_blob.h) for a network compiled into the AVR's
 * FLASH (PROGMEM): the atmega328p image built with SNN_DEV_FLASH_NETWORK (build.build_avr_firmware
 * with a network, `snnctl firmware build --board atmega328p --network NET.snn`) passes
 * -DSNN_BLOB_CONFIG='"snn_avr_flash.h"', and the Arduino library's flash mode includes it too.
 *
 * On the AVR's Harvard architecture a data load (LD, 2 cycles) reads RAM; a byte of program memory
 * needs LPM (3 cycles), which avr-libc's pgm_read_byte emits. A network exported by
 * firmware_bridge.c_header.to_c_header is declared
 *     static const uint8_t NAME_snn[N] SNN_BLOB_ATTR = { ... };
 * i.e. in flash. pgm_read_byte reaches the first 64 KB of flash: all of an ATmega328P's 32 KB; on
 * an ATmega2560 PROGMEM data is placed at the start of the image, below 64 KB.
 */
#ifndef SNN_AVR_FLASH_H
#define SNN_AVR_FLASH_H

#include <avr/pgmspace.h>
#include <stdint.h>

/* one byte of the blob at address p (a flash address below 64 KB) */
#define SNN_BLOB_U8(p) ((uint8_t)pgm_read_byte((const uint8_t *)(p)))
/* a weight: avr-gcc converts an out-of-range value to int8_t modulo 2^8 (GCC's documented
 * implementation-defined behaviour), i.e. two's complement, with no extra instruction */
#define SNN_BLOB_I8(p) ((int8_t)pgm_read_byte((const uint8_t *)(p)))
/* placement of a compiled-in blob */
#define SNN_BLOB_ATTR PROGMEM

#endif /* SNN_AVR_FLASH_H */
