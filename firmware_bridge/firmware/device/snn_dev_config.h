/*
 * snn_dev_config.h - compile-time limits and identity of a device build.
 *
 * A port sets these with -D flags, or defines SNN_DEV_PORT_CONFIG and puts a header named
 * "snn_port_config.h" on the include path (ports/<board>/snn_port_config.h). Anything not set
 * gets the small default below.
 *
 *   SNN_DEV_MAX_PAYLOAD   largest packet payload, 64 .. 1024 (INFO max_payload)
 *   SNN_DEV_MAX_BLOB      bytes of ONE upload slot's blob buffer (there are two)
 *   SNN_DEV_ARENA_BYTES   bytes of ONE slot's arena (there are two)
 *   SNN_DEV_MAX_NEURONS   COMMIT refuses networks with more neurons (<= 65535)
 *   SNN_DEV_MAX_SYNAPSES  COMMIT refuses networks with more synapses (sum of projection nnz)
 *   SNN_DEV_BOARD_NAME    ASCII string literal, at most 24 characters
 *   SNN_DEV_FW_MAJOR / _MINOR / _PATCH   firmware version (0 .. 255 each)
 *   SNN_DEV_TICK_HZ       rate of board_cycles(), 0 if the board has no cycle counter
 *   SNN_DEV_FREE_RAM()    expression: free RAM in bytes, 0 if the port cannot tell
 *   SNN_DEV_ONBOARD       1: START/STOP and the on-board loop (the port implements the board_timer_*
 *                         and board_read_inputs hooks); 0: host-stepped only
 *   SNN_DEV_SENSOR_CODES  codes one SENSOR frame may carry (the emulated sensor channel), 0 = no
 *                         SENSOR frames; default: as many as a STEP request
 *   SNN_DEV_TELEMETRY_CODES  input + output codes one TELEMETRY frame may carry, 0 = no telemetry;
 *                         default: as many as fit max_payload
 *   SNN_DEV_PERSIST       1: the committed network and the on-board loop's RUN record (START's
 *                         settings, running or not) are kept in the board's NV memory (board_nv_* hooks,
 *                         docs/protocol.md §9); with SNN_DEV_FLASH_NETWORK only the RUN record, keyed
 *                         to the compiled-in image (§9 "Flash-network boards"); 0 (default): RAM only
 *   SNN_DEV_MAX_INPUTS / SNN_DEV_MAX_OUTPUTS  codes of a STEP (COMMIT refuses more); default: what a
 *                         max_payload frame carries (the int16 code buffers are sized by them)
 *   SNN_DEV_FLASH_NETWORK 1: the network is compiled into the image (board_flash_network): ONE arena of
 *                         SNN_DEV_ARENA_BYTES, no blob buffers, no uploads (HELLO capability bit 4,
 *                         max_blob_bytes 0; LOAD_BEGIN / LOAD_CHUNK / COMMIT answer FLASH_NETWORK);
 *                         SNN_DEV_MAX_BLOB does not apply. 0 (default): uploads
 *   SNN_DEV_AUTOSTART_US  with SNN_DEV_FLASH_NETWORK and SNN_DEV_ONBOARD: nonzero = the image boots in
 *                         the on-board loop at this period (µs) when NV memory holds no intact RUN
 *                         record of this image (erased, or none); 0 (default): boots stopped
 *   SNN_DEV_AUTOSTART_EVERY / SNN_DEV_AUTOSTART_STALE   that loop's telemetry_every and stale_limit
 *                         (START's fields, protocol.md §8); default 0
 */
#ifndef SNN_DEV_CONFIG_H
#define SNN_DEV_CONFIG_H

#ifdef SNN_DEV_PORT_CONFIG
#include "snn_port_config.h"
#endif

#ifndef SNN_DEV_MAX_PAYLOAD
#define SNN_DEV_MAX_PAYLOAD 256u
#endif
#ifndef SNN_DEV_MAX_BLOB
#define SNN_DEV_MAX_BLOB 8192u
#endif
#ifndef SNN_DEV_ARENA_BYTES
#define SNN_DEV_ARENA_BYTES 8192u
#endif
#ifndef SNN_DEV_MAX_NEURONS
#define SNN_DEV_MAX_NEURONS 1024u
#endif
#ifndef SNN_DEV_MAX_SYNAPSES
#define SNN_DEV_MAX_SYNAPSES ((uint32_t)SNN_DEV_MAX_BLOB) /* every synapse costs >= 1 blob byte */
#endif
#ifndef SNN_DEV_BOARD_NAME
#define SNN_DEV_BOARD_NAME "snn-device"
#endif
#ifndef SNN_DEV_FW_MAJOR
#define SNN_DEV_FW_MAJOR 0u
#endif
#ifndef SNN_DEV_FW_MINOR
#define SNN_DEV_FW_MINOR 1u
#endif
#ifndef SNN_DEV_FW_PATCH
#define SNN_DEV_FW_PATCH 0u
#endif
#ifndef SNN_DEV_TICK_HZ
#define SNN_DEV_TICK_HZ 0u
#endif
#ifndef SNN_DEV_FREE_RAM
#define SNN_DEV_FREE_RAM() 0u
#endif

#ifndef SNN_DEV_ONBOARD
#define SNN_DEV_ONBOARD 1
#endif

#ifndef SNN_DEV_PERSIST
#define SNN_DEV_PERSIST 0
#endif

#ifndef SNN_DEV_FLASH_NETWORK
#define SNN_DEV_FLASH_NETWORK 0
#endif
/* A flash network with SNN_DEV_PERSIST keeps only the RUN record: the network is in the image. */

#ifndef SNN_DEV_AUTOSTART_US
#define SNN_DEV_AUTOSTART_US 0u
#endif
#ifndef SNN_DEV_AUTOSTART_EVERY
#define SNN_DEV_AUTOSTART_EVERY 0u
#endif
#ifndef SNN_DEV_AUTOSTART_STALE
#define SNN_DEV_AUTOSTART_STALE 0u
#endif

#endif /* SNN_DEV_CONFIG_H */
