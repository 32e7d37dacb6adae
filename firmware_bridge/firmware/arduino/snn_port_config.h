/*
 * snn_port_config.h - limits of the snnctl Arduino library, by board class (see
 * device/snn_dev_config.h for the meaning of each macro and docs/firmware-boards.md for the RAM
 * budget behind each class). Every value is an #ifndef default: override it with build flags
 * (PlatformIO: build_flags = -DSNN_DEV_MAX_BLOB=4096u ...) or by editing this file.
 *
 * The device library keeps TWO upload slots (blob + arena each, for the atomic swap), so static
 * RAM is about 2*(BLOB + ARENA) + 3*PAYLOAD + 400 bytes, plus the Arduino core (Serial buffers,
 * ~200 bytes on AVR) and the stack (~350 bytes at COMMIT on AVR, more on 32-bit cores).
 *
 *   class              detected by                       payload  blob   arena  fits
 *   AVR, 2-2.5 KB RAM  __AVR__ and RAMEND < 0xB00        64       208    124    the 3-neuron micro controller (packed arena 120 B)
 *   AVR, 8 KB RAM      __AVR__ and RAMEND >= 0xB00       64       1024   1344   blimp_shaped_network(n_enc=8, n_hidden=8), 34 neurons
 *   32-bit, big RAM    ESP32 / RP2040 / Teensy / STM32H7 1024     16384  10240  the 160-neuron blimp (5.7 KB blob, 4.8 KB arena)
 *   other 32-bit       everything else (SAMD21 32 KB...)  256      6144   5120   the 160-neuron blimp, ~23 KB of RAM
 *
 * The payload is also the pipelining budget (docs/protocol.md §2): a host keeps up to that many
 * bytes in flight, which the core's Serial receive buffer must hold while the board steps. The AVR
 * core buffers 64 bytes (SERIAL_RX_BUFFER_SIZE), so both AVR classes say 64; the example sketch
 * refuses to build with a payload larger than the core's buffer where the core names its size.
 *
 * The on-board loop (snnctl device start, docs/protocol.md §8) is on everywhere; on the 2 KB AVR
 * its SENSOR buffer holds 2 codes and a TELEMETRY frame 4 codes (SNN_DEV_ONBOARD=0 removes it).
 *
 * board_cycles() is micros() in the example sketch: SNN_DEV_TICK_HZ is 1 MHz (4 us steps on a
 * 16 MHz AVR). HELLO's free_ram is reported as 0 (unknown).
 */
#ifndef SNN_PORT_CONFIG_H
#define SNN_PORT_CONFIG_H

#include <stdint.h>

#if defined(__AVR__)
#include <avr/io.h>
#if RAMEND < 0xB00
#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 64u
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 208u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 124u /* packed state on AVR (core/snn.h); +3: a uint32_t array is only 1-aligned */
#endif
#ifndef SNN_DEV_MAX_NEURONS
#define SNN_DEV_MAX_NEURONS 16u
#endif
#ifndef SNN_DEV_MAX_INPUTS /* a STEP's code buffers: 8 + 8 codes (32 B) where a 64-byte payload */
#define SNN_DEV_MAX_INPUTS 8u /* would size them for 31 + 24 (110 B); COMMIT refuses a wider network */
#endif
#ifndef SNN_DEV_MAX_OUTPUTS
#define SNN_DEV_MAX_OUTPUTS 8u
#endif
#ifndef SNN_DEV_SENSOR_CODES
#define SNN_DEV_SENSOR_CODES 2u /* the on-board loop's SENSOR sample: 4 bytes of RAM */
#endif
#ifndef SNN_DEV_TELEMETRY_CODES
#define SNN_DEV_TELEMETRY_CODES 4u /* a 36-byte TELEMETRY packet, on the stack while sent */
#endif
#else
#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 64u /* the AVR core's Serial receive buffer (SERIAL_RX_BUFFER_SIZE) */
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 1024u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 1344u
#endif
#ifndef SNN_DEV_MAX_NEURONS
#define SNN_DEV_MAX_NEURONS 128u
#endif
#endif
#elif defined(ARDUINO_ARCH_ESP32) || defined(ARDUINO_ARCH_RP2040) || defined(TEENSYDUINO) || \
    defined(ARDUINO_ARCH_MBED_RP2040) || defined(STM32H7xx)
#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 1024u
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 16384u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 10240u
#endif
#ifndef SNN_DEV_MAX_NEURONS
#define SNN_DEV_MAX_NEURONS 2048u
#endif
#else
#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 256u
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 6144u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 5120u
#endif
#ifndef SNN_DEV_MAX_NEURONS
#define SNN_DEV_MAX_NEURONS 1024u
#endif
#endif

#ifndef SNN_DEV_MAX_SYNAPSES
#define SNN_DEV_MAX_SYNAPSES ((uint32_t)SNN_DEV_MAX_BLOB)
#endif
#ifndef SNN_DEV_BOARD_NAME
#define SNN_DEV_BOARD_NAME "arduino"
#endif
#ifndef SNN_DEV_TICK_HZ
#define SNN_DEV_TICK_HZ 1000000ul /* board_cycles() = micros() */
#endif

#endif /* SNN_PORT_CONFIG_H */
