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

#define SNN_PROTOCOL_VERSION 1u

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
    SNN_ERR_BAD_INPUT_COUNT = 12
};

/* INFO capability bits. */
#define SNN_CAP_CYCLES 0x01u
#define SNN_CAP_WATCHDOG 0x02u
#define SNN_CAP_SPIKE_COUNTS 0x04u
#define SNN_CAP_ATOMIC_COMMIT 0x08u
#define SNN_CAP_FLASH_NETWORK 0x10u

/* Power-up state: no network, watchdog off, counters 0, receiver empty. Call once after board_init. */
void snn_device_init(void);

/* Drain board_uart_getc, answer every complete request, then run the watchdog check against
 * board_millis. Never blocks; call it from the main loop (between board_idle calls). */
void snn_device_poll(void);

/* The active network, or NULL if none is loaded (for a port's own use, e.g. a status LED). */
const snn_net_t *snn_device_network(void);

#ifdef __cplusplus
}
#endif

#endif /* SNN_DEVICE_H */
