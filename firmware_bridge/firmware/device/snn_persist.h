/*
 * snn_persist.h - the committed network and the on-board loop's RUN record (START's settings and
 * the running flag) in the board's non-volatile memory (docs/protocol.md §9), so both survive a
 * reset or a power cut. With SNN_DEV_FLASH_NETWORK the network is in the image and only the RUN
 * record is kept, keyed to that image (snn_persist_image_run below): nothing else is written.
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
 *
 * The functions keep their buffers in their own frames (this file is a separate translation unit,
 * so none of it is inlined into snn_device_poll, whose frame is live under COMMIT's snn_load: the
 * deepest stack on the 2 KB AVR).
 */
#ifndef SNN_PERSIST_H
#define SNN_PERSIST_H

#include <stdint.h>

#include "snn_dev_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SNN_NV_RUN_CELL 32u     /* bytes reserved for the RUN record at offset 0 */
#define SNN_NV_REC_HEADER 20u   /* network record header: magic, gen, length, blob CRC, header CRC */
#define SNN_NV_RUN_BYTES 24u    /* RUN record: magic, gen, period, every, stale, running, pad, CRC */
#define SNN_NV_REC_MAGIC 0x504E4E53ul /* "SNNP" little-endian */
#define SNN_NV_RUN_MAGIC 0x524E4E53ul /* "SNNR" little-endian */
#define SNN_NV_RUNF_MAGIC 0x464E4E53ul /* "SNNF": a flash-network image's RUN record (gen = image key) */
#define SNN_NV_NONE 0xFFu       /* "no record" index */

/* A network record whose header is intact (the blob is checked by snn_persist_read_blob). */
typedef struct snn_nv_rec {
    uint32_t gen;    /* generation: each write is the newest valid one + 1 */
    uint32_t length; /* blob bytes */
    uint32_t crc;    /* CRC-32 of the blob (zlib.crc32) */
    uint8_t index;   /* 0 = record A, 1 = record B */
} snn_nv_rec_t;

/* The RUN record: START's settings and whether the loop was running, for network generation gen
 * (a flash-network image: gen holds the image key, snn_persist_image_run). */
typedef struct snn_nv_run {
    uint32_t gen;
    uint32_t period_us;
    uint16_t tm_every;
    uint16_t stale_limit;
    uint8_t running;
} snn_nv_run_t;

/* 1 and *r if the RUN record is intact (its magic is this mode's: "SNNR" uploads, "SNNF" a flash
 * network, whose key snn_persist_image_run checks), else 0. */
int snn_persist_read_run(snn_nv_run_t *r);

#if SNN_DEV_FLASH_NETWORK
/* 1 if the board's NV memory holds the RUN cell (board_nv_size() >= SNN_NV_RUN_CELL), else 0. */
int snn_persist_has_run(void);

/* Boot: 1 and *r if the RUN record is intact (magic "SNNF", CRC) and its key is this image's: the
 * CRC-32 of the 12 bytes u32 blob_crc (the compiled-in .snn file's own CRC-32), u32
 * SNN_DEV_AUTOSTART_US, u16 SNN_DEV_AUTOSTART_EVERY, u16 SNN_DEV_AUTOSTART_STALE, little-endian;
 * else 0 (erased, torn, or written by another image). */
int snn_persist_image_run(uint32_t blob_crc, snn_nv_run_t *r);

/* START / STOP: rewrite the RUN record for this image (key as above), its CRC last. */
void snn_persist_set_image_run(uint32_t blob_crc, uint8_t running, uint32_t period_us, uint16_t tm_every,
                               uint16_t stale_limit);
#else
/* Bytes one record's blob may have on this board's NV memory (0: the board has too little or none). */
uint32_t snn_persist_capacity(void);

/* Boot: the k-th newest record whose header is intact (k = 0: the highest generation, 1: the other):
 * 1 and *r, else 0. */
int snn_persist_record(uint8_t k, snn_nv_rec_t *r);

/* Read record r's blob into buf (at least r->length bytes): 1 if its CRC-32 matches, else 0. */
int snn_persist_read_blob(const snn_nv_rec_t *r, uint8_t *buf);

/* COMMIT: write blob[0 .. length) into the record that is not `active` (SNN_NV_NONE: record 0) as the
 * newest generation (invalidate its header, write the blob, then the header). Returns the record
 * that now holds it, or SNN_NV_NONE if it does not fit or a write failed (then the RUN record is
 * cleared, so a reset never starts the older network that is left). */
uint8_t snn_persist_commit(uint8_t active, const uint8_t *blob, uint32_t length);

/* START / STOP: rewrite the RUN record for the network in record `active` (nothing if SNN_NV_NONE or
 * its header is gone). A torn write only loses the flag. */
void snn_persist_set_run(uint8_t active, uint8_t running, uint32_t period_us, uint16_t tm_every,
                         uint16_t stale_limit);
#endif /* SNN_DEV_FLASH_NETWORK */

#ifdef __cplusplus
}
#endif

#endif /* SNN_PERSIST_H */
