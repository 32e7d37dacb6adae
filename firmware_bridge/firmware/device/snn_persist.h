/*
 * snn_persist.h - the committed network and the on-board loop's "was running" flag in the board's
 * non-volatile memory (docs/protocol.md §9), so both survive a reset or a power cut.
 *
 * Compiled in when the port sets SNN_DEV_PERSIST to 1 and implements board_nv_size / board_nv_read /
 * board_nv_write (board.h). The NV area is laid out as
 *
 *     off 0                 RUN record (24 bytes, in a 32-byte cell)
 *     off 32                network record A: 20-byte header + blob
 *     off 32 + R            network record B: 20-byte header + blob
 *
 * with R = ((size - 32) / 2) rounded down to a multiple of 4. The rules that make a power cut at any
 * byte harmless: a network record is written into the record that does NOT hold the active network,
 * its header is invalidated first, then the blob, then the header (the header last, its own CRC over
 * all its other bytes last of all); at boot the valid record with the highest generation wins. The
 * RUN record is separate and names the generation it applies to, so a torn RUN write only loses the
 * flag, never the network.
 */
#ifndef SNN_PERSIST_H
#define SNN_PERSIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SNN_NV_RUN_CELL 32u     /* bytes reserved for the RUN record at offset 0 */
#define SNN_NV_REC_HEADER 20u   /* network record header: magic, gen, length, blob CRC, header CRC */
#define SNN_NV_RUN_BYTES 24u    /* RUN record: magic, gen, period, every, stale, running, pad, CRC */
#define SNN_NV_REC_MAGIC 0x504E4E53ul /* "SNNP" little-endian */
#define SNN_NV_RUN_MAGIC 0x524E4E53ul /* "SNNR" little-endian */
#define SNN_NV_NONE 0xFFu       /* "no record" index */

/* A network record whose header is intact (the blob is checked by snn_persist_read_blob). */
typedef struct snn_nv_rec {
    uint32_t gen;    /* generation: each write is the newest valid one + 1 */
    uint32_t length; /* blob bytes */
    uint32_t crc;    /* CRC-32 of the blob (zlib.crc32) */
    uint8_t index;   /* 0 = record A, 1 = record B */
} snn_nv_rec_t;

/* The RUN record: START's settings and whether the loop was running, for network generation gen. */
typedef struct snn_nv_run {
    uint32_t gen;
    uint32_t period_us;
    uint16_t tm_every;
    uint16_t stale_limit;
    uint8_t running;
} snn_nv_run_t;

/* Bytes one record's blob may have on this board's NV memory (0: the board has too little or none). */
uint32_t snn_persist_capacity(void);

/* The records whose header is intact, newest (highest generation) first; returns how many (0 .. 2). */
uint8_t snn_persist_records(snn_nv_rec_t out[2]);

/* Read record r's blob into buf (at least r->length bytes): 1 if its CRC-32 matches, else 0. */
int snn_persist_read_blob(const snn_nv_rec_t *r, uint8_t *buf);

/* Write blob[0 .. length) as generation gen into record index: invalidate the header, write the blob,
 * then the header. 0 on success; -1 if the blob does not fit; -2 if board_nv_write failed. */
int snn_persist_write(uint8_t index, uint32_t gen, const uint8_t *blob, uint32_t length);

/* 1 and *r if the RUN record is intact, else 0. */
int snn_persist_read_run(snn_nv_run_t *r);

/* Rewrite the RUN record: 0 on success, -2 if board_nv_write failed. */
int snn_persist_write_run(const snn_nv_run_t *r);

#ifdef __cplusplus
}
#endif

#endif /* SNN_PERSIST_H */
