/*
 * snn_port_config.h - device library limits and identity of the lm3s6965evb port (see
 * device/snn_dev_config.h; build.py compiles with -DSNN_DEV_PORT_CONFIG).
 *
 * RAM (64 KB) budget: two upload slots of 16 KB blob + 10 KB arena = 52 KB, the device library's
 * frame buffers, the 512-byte UART ring, and at least 4 KB of stack (the linker script checks it).
 * A 160-neuron blimp controller is a 5.7 KB blob needing a 4.8 KB arena.
 */
#ifndef SNN_PORT_CONFIG_H
#define SNN_PORT_CONFIG_H

#include <stdint.h>

#define SNN_DEV_MAX_PAYLOAD 1024u
#define SNN_DEV_MAX_BLOB 16384u
#ifndef SNN_DEV_ARENA_BYTES /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_ARENA_BYTES 10240u
#endif
#ifndef SNN_DEV_MAX_NEURONS /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_NEURONS 2048u
#endif
#ifndef SNN_DEV_MAX_SYNAPSES /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_SYNAPSES 16384u
#endif
#define SNN_DEV_BOARD_NAME "lm3s6965evb"

/* board_cycles() counts SysTick clock ticks at the system clock QEMU gives this board after reset:
 * 200 MHz / (RCC.SYSDIV + 1) = 200 MHz / 16 = 12.5 MHz (see board.c). */
#define BOARD_SYSCLK_HZ 12500000u
#define SNN_DEV_TICK_HZ BOARD_SYSCLK_HZ

/* bytes between the end of .bss and the current stack pointer (board.c) */
uint32_t board_free_ram(void);
#define SNN_DEV_FREE_RAM() board_free_ram()

#endif /* SNN_PORT_CONFIG_H */
