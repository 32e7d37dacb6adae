/*
 * snn_avr_flash.h - the blob-access hooks an AVR build would define to run a network whose .snn
 * blob lives in FLASH (PROGMEM) instead of RAM. NOT used by the current image: the core reads the
 * blob with plain loads, which on the AVR's Harvard architecture read RAM, so a PROGMEM blob needs
 * the core change described in docs/firmware-boards.md ("Network in flash"). With that change the
 * core would include the port's definitions, e.g. from snn_port_config.h:
 *
 *     #include "snn_avr_flash.h"
 *
 * and a network exported by snnctl.c_header.to_c_header would be declared
 *     static const uint8_t blimp_snn[N] SNN_BLOB_ATTR = { ... };
 */
#ifndef SNN_AVR_FLASH_H
#define SNN_AVR_FLASH_H

#include <avr/pgmspace.h>
#include <stdint.h>

/* one byte of the blob at address p (a flash address below 64 KB on the ATmega328P) */
#define SNN_BLOB_U8(p) ((uint8_t)pgm_read_byte((const uint8_t *)(p)))
/* placement of a compiled-in blob */
#define SNN_BLOB_ATTR PROGMEM

#endif /* SNN_AVR_FLASH_H */
