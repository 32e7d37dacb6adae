/*
 * snn_port_config.h - device library limits and identity of the atmega328p port (see
 * device/snn_dev_config.h; the build compiles with -DSNN_DEV_PORT_CONFIG).
 *
 * 2048 bytes of RAM hold everything: the device library's TWO upload slots (blob + arena each,
 * protocol.md §4: the atomic swap), its frame buffers for 64-byte payloads (the protocol's
 * minimum), the 64-byte UART ring, .data/.bss and the stack. Measured under simavr
 * (tests/test_atmega328p_port.py): the deepest stack, COMMIT -> snn_load, is ~330 bytes, plus
 * ~25 for an interrupt on top; the limits below leave ~540 bytes for it. With persistence, the
 * boot-time restore of a network from EEPROM (snn_load under snn_device_init) is ~15 bytes deeper
 * still: HELLO's free_ram is 88 after such a boot, 103 after a COMMIT.
 *
 * A slot of 208 + 124 bytes runs the 3-neuron micro controller "error -> +/- LIF pair -> LI
 * readout" (blob 208 B with its fail-safe codes, packed arena 120 B: SNN_PACKED_STATE is on for
 * every AVR build; the arena array is only 1-aligned on AVR, so up to 3 bytes are lost to aligning
 * it). The slots are no larger so that the image leaves the Uno budget's 256 B for the user's code
 * (firmware_bridge/budgets.py); a 4-LIF version (blob 232 B) is refused. docs/firmware-boards.md has
 * the budget and what fits with the network in flash.
 */
#ifndef SNN_PORT_CONFIG_H
#define SNN_PORT_CONFIG_H

#include <stdint.h>

#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 64u
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 208u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 124u
#endif
#ifndef SNN_DEV_MAX_NEURONS /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_NEURONS 16u
#endif
#ifndef SNN_DEV_MAX_SYNAPSES /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_SYNAPSES 208u
#endif
#ifndef SNN_DEV_BOARD_NAME /* the atmega2560 build of this port names itself with -D */
#define SNN_DEV_BOARD_NAME "atmega328p"
#endif

/* On-board loop: a SENSOR sample of 1 code (2 B of RAM; the micro controller has one input) and
 * TELEMETRY of up to 4 codes (a 36-byte packet built on the stack while it is sent) */
#ifndef SNN_DEV_ONBOARD
#define SNN_DEV_ONBOARD 1
#endif
#ifndef SNN_DEV_SENSOR_CODES /* a compiled-in network sets its own input count */
#define SNN_DEV_SENSOR_CODES 1u
#endif
#define SNN_DEV_TELEMETRY_CODES 4u

/* Persistence (docs/protocol.md §9): the 1 KB EEPROM holds the RUN cell and two records of up to
 * 476 blob bytes (32 + 2 * 496 = 1024), more than SNN_DEV_MAX_BLOB; 1 byte of RAM. An image with its
 * network in flash keeps only the RUN record (24 bytes at offset 0, keyed to the image; no RAM). */
#ifndef SNN_DEV_PERSIST
#define SNN_DEV_PERSIST 1
#endif

/* board_cycles() counts CPU clock cycles (Timer1 at F_CPU, no prescaler, plus its overflows). */
#ifndef F_CPU
#define F_CPU 16000000UL
#endif
#define SNN_DEV_TICK_HZ F_CPU

/* RAM between the end of .bss and the deepest stack pointer seen so far (board.c paints it). */
uint32_t board_free_ram(void);
#define SNN_DEV_FREE_RAM() board_free_ram()

#endif /* SNN_PORT_CONFIG_H */
