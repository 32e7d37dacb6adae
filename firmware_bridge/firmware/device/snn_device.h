/*
 * snn_device.h - the device side of the host <-> device protocol (docs/protocol.md), shared by
 * every board port. The port implements board.h, sets its limits (snn_dev_config.h) and runs
 *
 *     board_init();
 *     snn_device_init();
 *     for (;;) { snn_device_poll(); board_idle(); }
 *
 * All memory is static (see snn_device.c for the RAM budget); nothing allocates.
 */
#ifndef SNN_DEVICE_H
#define SNN_DEVICE_H

#include <stdint.h>

#include "snn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SNN_PROTOCOL_VERSION 2u

/* Message types (docs/protocol.md §3); a response is type | SNN_MSG_RESPONSE, or SNN_MSG_ERROR. */
enum snn_msg_type {
    SNN_MSG_HELLO = 0x01,
    SNN_MSG_LOAD_BEGIN = 0x02,
    SNN_MSG_LOAD_CHUNK = 0x03,
    SNN_MSG_COMMIT = 0x04,
    SNN_MSG_STEP = 0x05,
    SNN_MSG_RESET = 0x06,
    SNN_MSG_WATCHDOG = 0x07,
    SNN_MSG_STATS = 0x08,
    SNN_MSG_NETINFO = 0x09,
    SNN_MSG_START = 0x0A,     /* version 2: run the network on board from the board's timer */
    SNN_MSG_STOP = 0x0B,      /* version 2: back to host-stepped mode */
    SNN_MSG_SENSOR = 0x0C,    /* version 2: host -> device sample, no reply (emulated sensor channel) */
    SNN_MSG_TELEMETRY = 0x0D, /* version 2: device -> host, sent as 0x8D every N on-board periods */
    SNN_MSG_RESPONSE = 0x80,
    SNN_MSG_ERROR = 0xFF
};

/* ERROR codes (docs/protocol.md §6). */
enum snn_dev_error {
    SNN_ERR_UNKNOWN_TYPE = 1,
    SNN_ERR_BAD_LENGTH = 2,
    SNN_ERR_BAD_VERSION = 3,
    SNN_ERR_BAD_SEQ = 4,
    SNN_ERR_NO_NETWORK = 5,
    SNN_ERR_TOO_LARGE = 6,
    SNN_ERR_BAD_OFFSET = 7,
    SNN_ERR_BAD_BLOB_CRC = 8,
    SNN_ERR_INVALID_NETWORK = 9,
    SNN_ERR_NOT_LOADING = 10,
    SNN_ERR_INCOMPLETE = 11,
    SNN_ERR_BAD_INPUT_COUNT = 12,
    SNN_ERR_RUNNING = 13,   /* STEP / RESET / COMMIT while the on-board loop runs: STOP first */
    SNN_ERR_BAD_PERIOD = 14, /* START without a usable period; detail 0: none given and no `ctrl`,
                                1: the board's timer cannot run it, 2: telemetry does not fit */
    SNN_ERR_FLASH_NETWORK = 15 /* LOAD_BEGIN / LOAD_CHUNK / COMMIT on a device whose network is
                                  compiled into its flash (capability bit 4): no uploads */
};

/* INFO capability bits. */
#define SNN_CAP_CYCLES 0x01u
#define SNN_CAP_WATCHDOG 0x02u
#define SNN_CAP_SPIKE_COUNTS 0x04u
#define SNN_CAP_ATOMIC_COMMIT 0x08u
#define SNN_CAP_FLASH_NETWORK 0x10u
#define SNN_CAP_ONBOARD 0x20u   /* START / STOP: the on-board loop */
#define SNN_CAP_SENSOR 0x40u    /* SENSOR frames feed board_read_inputs (emulated sensor channel) */
#define SNN_CAP_TELEMETRY 0x80u /* TELEMETRY frames while running on board */
#define SNN_CAP_PERSIST 0x100u  /* the committed network survives a reset (NV memory, §9) */

/* TELEMETRY flags (docs/protocol.md §8) */
#define SNN_TM_FRESH 0x01u    /* this period's inputs are a fresh sample (else the held last one) */
#define SNN_TM_FAILSAFE 0x02u /* fail-safe: the outputs are the fail codes, the network did not step */
#define SNN_TM_LATE 0x04u     /* periods were skipped before this one (counted as missed deadlines) */
#define SNN_TM_STEPPED 0x08u  /* the network stepped this period */

/* Power-up state: no network, watchdog off, counters 0, receiver empty - except that with
 * SNN_DEV_PERSIST the newest valid network in NV memory is active, and the on-board loop runs if it
 * was running when that network's RUN record was written. With SNN_DEV_FLASH_NETWORK the compiled-in
 * network is active, and the loop runs if this image's RUN record says so, or (no such record) if
 * the image has a built-in START (SNN_DEV_AUTOSTART_US). Call once after board_init. */
void snn_device_init(void);

/* Drain board_uart_getc, answer every complete request, then run the watchdog check against
 * board_millis. Never blocks; call it from the main loop (between board_idle calls). */
void snn_device_poll(void);

/* Emulated sensor channel: the latest SENSOR sample. If one arrived since the last call and it has
 * n codes, copy it to codes and return 1; else return 0 and leave codes alone. A port without a
 * sensor of its own calls this from board_read_inputs. Always 0 when SNN_DEV_SENSOR_CODES is 0. */
int snn_device_sensor_take(int16_t *codes, uint16_t n);

/* The active network, or NULL if none is loaded (for a port's own use, e.g. a status LED). */
const snn_net_t *snn_device_network(void);

#ifdef __cplusplus
}
#endif

#endif /* SNN_DEVICE_H */
