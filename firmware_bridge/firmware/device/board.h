/*
 * board.h - the board layer a port provides to the device library (docs/protocol.md §7).
 *
 * The device library (snn_device.c, snn_frame.c) calls these; a port implements them and calls
 * snn_device_init() once and snn_device_poll() in its main loop, e.g.
 *
 *     board_init();
 *     snn_device_init();
 *     for (;;) { snn_device_poll(); board_idle(); }
 */
#ifndef SNN_BOARD_H
#define SNN_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void     board_init(void);
int      board_uart_getc(uint8_t *byte);        /* 1 and a byte if one is waiting, else 0 */
void     board_uart_write(const uint8_t *buf, uint16_t len);
uint32_t board_millis(void);                     /* wraps; differences are used */
uint32_t board_cycles(void);                     /* free-running cycle/instruction counter, 0 if none */
void     board_outputs(const int16_t *codes, uint16_t n);  /* actuator hook */
void     board_idle(void);                       /* sleep until an interrupt, or return */

/* On-board loop (docs/protocol.md §7-§8), needed when SNN_DEV_ONBOARD is 1 (the default). */
int      board_timer_start(uint32_t period_us);  /* start a periodic timer: 0 ok, else the period is out of range */
void     board_timer_stop(void);
uint32_t board_timer_periods(void);              /* whole periods since board_timer_start (wraps) */
int      board_read_inputs(int16_t *codes, uint16_t n); /* 1: a fresh sample in codes[0..n); 0: none since
                                                            the last call, codes left untouched */

/* Non-volatile memory (docs/protocol.md §9), needed when SNN_DEV_PERSIST is 1: the committed network
 * and the on-board loop's RUN record survive a reset (a compiled-in network: the RUN record only).
 * Offsets and sizes are bytes of the port's NV area. */
uint32_t board_nv_size(void);                    /* bytes of the NV area, 0 if none (persistence off) */
int      board_nv_read(uint32_t off, uint8_t *buf, uint32_t n);        /* 0 ok, else failed */
int      board_nv_write(uint32_t off, const uint8_t *buf, uint32_t n); /* 0 ok: the bytes are durable,
                                                                           written in order of address */

/* Compiled-in network (SNN_DEV_FLASH_NETWORK 1): the `.snn` blob built into the image and its length
 * in bytes. The blob may be in program memory (AVR: PROGMEM, read through the core's blob hook,
 * core/snn_blob.h); snn_device_init loads it once and the device takes no uploads. */
const uint8_t *board_flash_network(uint32_t *len);

#ifdef __cplusplus
}
#endif

#endif /* SNN_BOARD_H */
