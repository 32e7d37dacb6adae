/*
 * snn_persist.c - two network records and a RUN record in the board's NV memory (snn_persist.h,
 * docs/protocol.md §9). Only board_nv_read / board_nv_write touch the memory, so a port maps them
 * to a file, EEPROM or a flash page as it likes; every write here is ordered so that a cut after
 * any byte leaves either the old or the new content valid, never a mixture that passes the checks.
 * A flash-network image (SNN_DEV_FLASH_NETWORK) compiles only the RUN record's part: read_run,
 * write_run and the image key.
 */
#include "snn_dev_config.h"

#if SNN_DEV_PERSIST

#include "snn_persist.h"

#include "board.h"
#include "snn_crc32.h"
#include "snn_frame.h"

#if SNN_DEV_FLASH_NETWORK
#define RUN_MAGIC SNN_NV_RUNF_MAGIC                            /* another image's "SNNR" never matches */
#define RUN_AREA_OK() (board_nv_size() >= SNN_NV_RUN_CELL)     /* no network records in this mode */
#else
#define RUN_MAGIC SNN_NV_RUN_MAGIC
#define RUN_AREA_OK() (record_bytes() != 0u)

/* Bytes of one network record (header + blob), a multiple of 4; 0 if the area is too small. */
static uint32_t record_bytes(void)
{
    uint32_t size = board_nv_size();
    if (size < SNN_NV_RUN_CELL + 2u * (SNN_NV_REC_HEADER + 4u)) {
        return 0u;
    }
    return ((size - SNN_NV_RUN_CELL) / 2u) & ~(uint32_t)3u; /* clear the low 2 bits: round down to 4 */
}

static uint32_t record_offset(uint8_t index)
{
    return SNN_NV_RUN_CELL + (uint32_t)index * record_bytes();
}

uint32_t snn_persist_capacity(void)
{
    uint32_t r = record_bytes();
    return r == 0u ? 0u : r - SNN_NV_REC_HEADER;
}

/* Read and check record index's header: 1 and *out if magic, header CRC and length are right. */
static int read_header(uint8_t index, snn_nv_rec_t *out)
{
    uint8_t h[SNN_NV_REC_HEADER];
    uint32_t length;
    if (board_nv_read(record_offset(index), h, SNN_NV_REC_HEADER) != 0) {
        return 0;
    }
    if (snn_rd32(h) != SNN_NV_REC_MAGIC || snn_rd32(h + 16) != snn_crc32(0u, h, 16u)) {
        return 0;
    }
    length = snn_rd32(h + 8);
    if (length == 0u || length > snn_persist_capacity() || length > (uint32_t)SNN_DEV_MAX_BLOB) {
        return 0;
    }
    out->gen = snn_rd32(h + 4);
    out->length = length;
    out->crc = snn_rd32(h + 12);
    out->index = index;
    return 1;
}

/* The records whose header is intact, newest (highest generation) first; returns how many (0 .. 2). */
static uint8_t records(snn_nv_rec_t out[2])
{
    uint8_t n = 0u;
    snn_nv_rec_t tmp;
    if (record_bytes() == 0u) {
        return 0u;
    }
    if (read_header(0u, &out[0])) {
        n = 1u;
    }
    if (read_header(1u, &out[n])) {
        n++;
    }
    if (n == 2u && out[1].gen > out[0].gen) { /* newest first */
        tmp = out[0];
        out[0] = out[1];
        out[1] = tmp;
    }
    return n;
}

int snn_persist_record(uint8_t k, snn_nv_rec_t *r)
{
    snn_nv_rec_t rec[2];
    if (k >= records(rec)) {
        return 0;
    }
    *r = rec[k];
    return 1;
}

int snn_persist_read_blob(const snn_nv_rec_t *r, uint8_t *buf)
{
    if (board_nv_read(record_offset(r->index) + SNN_NV_REC_HEADER, buf, r->length) != 0) {
        return 0;
    }
    return snn_crc32(0u, buf, r->length) == r->crc;
}

/* Write blob as generation gen into record index: -1 if it does not fit, -2 if a write failed. */
static int write_record(uint8_t index, uint32_t gen, const uint8_t *blob, uint32_t length)
{
    const uint8_t zero[4] = {0u, 0u, 0u, 0u}; /* on the stack: a static one costs 4 bytes of AVR RAM */
    uint8_t h[SNN_NV_REC_HEADER];
    uint32_t off = record_offset(index);
    if (length == 0u || length > snn_persist_capacity()) {
        return -1;
    }
    /* 1. the old header's magic goes first: from here on this record is invalid until step 3 ends */
    if (board_nv_write(off, zero, 4u) != 0) {
        return -2;
    }
    /* 2. the blob */
    if (board_nv_write(off + SNN_NV_REC_HEADER, blob, length) != 0) {
        return -2;
    }
    /* 3. the header, whose last 4 bytes (its CRC) make it valid only once all 20 are written */
    snn_wr32(h, SNN_NV_REC_MAGIC);
    snn_wr32(h + 4, gen);
    snn_wr32(h + 8, length);
    snn_wr32(h + 12, snn_crc32(0u, blob, length));
    snn_wr32(h + 16, snn_crc32(0u, h, 16u));
    return board_nv_write(off, h, SNN_NV_REC_HEADER) != 0 ? -2 : 0;
}

#endif /* !SNN_DEV_FLASH_NETWORK */

int snn_persist_read_run(snn_nv_run_t *r)
{
    uint8_t b[SNN_NV_RUN_BYTES];
    if (!RUN_AREA_OK() || board_nv_read(0u, b, SNN_NV_RUN_BYTES) != 0) {
        return 0;
    }
    if (snn_rd32(b) != RUN_MAGIC || snn_rd32(b + 20) != snn_crc32(0u, b, 20u)) {
        return 0;
    }
    r->gen = snn_rd32(b + 4);
    r->period_us = snn_rd32(b + 8);
    r->tm_every = snn_rd16(b + 12);
    r->stale_limit = snn_rd16(b + 14);
    r->running = b[16];
    return 1;
}

static int write_run(const snn_nv_run_t *r)
{
    uint8_t b[SNN_NV_RUN_BYTES];
    snn_wr32(b, RUN_MAGIC);
    snn_wr32(b + 4, r->gen);
    snn_wr32(b + 8, r->period_us);
    snn_wr16(b + 12, r->tm_every);
    snn_wr16(b + 14, r->stale_limit);
    b[16] = r->running;
    b[17] = b[18] = b[19] = 0u;
    snn_wr32(b + 20, snn_crc32(0u, b, 20u)); /* written last: a torn write fails this check */
    return board_nv_write(0u, b, SNN_NV_RUN_BYTES) != 0 ? -2 : 0;
}

#if SNN_DEV_FLASH_NETWORK
int snn_persist_has_run(void)
{
    return RUN_AREA_OK();
}

/* The key of this image's RUN record: CRC-32 of u32 blob_crc, u32 AUTOSTART_US, u16 AUTOSTART_EVERY,
 * u16 AUTOSTART_STALE (little-endian). Reflashing with another network, or the same network with
 * other built-in start settings, changes it: the old record is then another image's and ignored. */
static uint32_t image_key(uint32_t blob_crc)
{
    uint8_t k[12];
    snn_wr32(k, blob_crc);
    snn_wr32(k + 4, (uint32_t)SNN_DEV_AUTOSTART_US);
    snn_wr16(k + 8, (uint16_t)SNN_DEV_AUTOSTART_EVERY);
    snn_wr16(k + 10, (uint16_t)SNN_DEV_AUTOSTART_STALE);
    return snn_crc32(0u, k, 12u);
}

int snn_persist_image_run(uint32_t blob_crc, snn_nv_run_t *r)
{
    return snn_persist_read_run(r) && r->gen == image_key(blob_crc);
}

void snn_persist_set_image_run(uint32_t blob_crc, uint8_t running, uint32_t period_us, uint16_t tm_every,
                               uint16_t stale_limit)
{
    snn_nv_run_t run;
    if (!RUN_AREA_OK()) {
        return; /* no NV memory: nothing persists (HELLO does not announce bit 8) */
    }
    run.gen = image_key(blob_crc);
    run.period_us = period_us;
    run.tm_every = tm_every;
    run.stale_limit = stale_limit;
    run.running = running;
    (void)write_run(&run);
}
#else
uint8_t snn_persist_commit(uint8_t active, const uint8_t *blob, uint32_t length)
{
    uint8_t index = active == 0u ? 1u : 0u;
    snn_nv_rec_t rec[2];
    snn_nv_run_t run = {0u, 0u, 0u, 0u, 0u};
    if (record_bytes() == 0u) {
        return SNN_NV_NONE;
    }
    /* the new generation: one more than the newest intact header's, used or not */
    if (write_record(index, records(rec) != 0u ? rec[0].gen + 1u : 0u, blob, length) == 0) {
        return index;
    }
    (void)write_run(&run); /* not persisted: the older record stays, stopped */
    return SNN_NV_NONE;
}

void snn_persist_set_run(uint8_t active, uint8_t running, uint32_t period_us, uint16_t tm_every,
                         uint16_t stale_limit)
{
    snn_nv_rec_t rec[2];
    snn_nv_run_t run;
    uint8_t n = records(rec), k = (n == 2u && rec[1].index == active) ? 1u : 0u;
    if (active == SNN_NV_NONE || n == 0u || rec[k].index != active) {
        return; /* not persisted, or its record is gone (the NV area was changed behind our back) */
    }
    run.gen = rec[k].gen;
    run.period_us = period_us;
    run.tm_every = tm_every;
    run.stale_limit = stale_limit;
    run.running = running;
    (void)write_run(&run);
}
#endif /* SNN_DEV_FLASH_NETWORK */

#else
typedef int snn_persist_unused; /* ISO C forbids an empty translation unit */
#endif /* SNN_DEV_PERSIST */
