/* snn_port_config.h - limits of the POSIX virtual device (ports/host/snndev.c). */
#ifndef SNN_PORT_CONFIG_H
#define SNN_PORT_CONFIG_H

#include <stdint.h>

#define SNN_DEV_MAX_PAYLOAD 1024u
#define SNN_DEV_MAX_BLOB 262144ul
#ifndef SNN_DEV_ARENA_BYTES /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_ARENA_BYTES 262144ul
#endif
#ifndef SNN_DEV_MAX_NEURONS /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_NEURONS 65535u
#endif
#ifndef SNN_DEV_MAX_SYNAPSES /* a compiled-in network sets it to its own size (-D) */
#define SNN_DEV_MAX_SYNAPSES 262144ul
#endif
#ifndef SNN_DEV_BOARD_NAME /* the Linux edge-board builds of this port name themselves with -D */
#define SNN_DEV_BOARD_NAME "host-virtual"
#endif
#define SNN_DEV_FW_MAJOR 0u
#define SNN_DEV_FW_MINOR 1u
#define SNN_DEV_FW_PATCH 0u
#define SNN_DEV_TICK_HZ 1000000000ul /* board_cycles() counts CLOCK_MONOTONIC nanoseconds */
#define SNN_DEV_FREE_RAM() 0u         /* a process has no honest "free RAM": reported as unknown */
#define SNN_DEV_PERSIST 1             /* NV memory is the --nv FILE (none without it: RAM only) */
/* the --nv file: the RUN cell and two records that each hold a SNN_DEV_MAX_BLOB network
   (docs/protocol.md §9: 32 + 2 * (20 + blob), a multiple of 4) */
#define SNN_HOST_NV_BYTES (32ul + 2ul * (20ul + SNN_DEV_MAX_BLOB))

#endif /* SNN_PORT_CONFIG_H */
