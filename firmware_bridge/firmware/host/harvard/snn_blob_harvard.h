/*
 * snn_blob_harvard.h - a host test build of the blob hook that behaves like a Harvard MCU.
 *
 * Built with -DSNN_BLOB_CONFIG='"snn_blob_harvard.h"' -DSNN_HARVARD=1 (build.build_host_tool(...,
 * harvard=True)). The host tools hand the core a blob address inside a mapping that cannot be
 * read at all (PROT_NONE), the way a PROGMEM address means nothing to an AVR's data loads: a core
 * read that bypasses SNN_BLOB_U8 crashes the tool. The hook fetches the byte at the same offset
 * of a private copy, aborts on any address outside the blob (the loader promises never to read
 * there) and counts the reads.
 */
#ifndef SNN_BLOB_HARVARD_H
#define SNN_BLOB_HARVARD_H

#include <stdint.h>

uint8_t snn_harvard_u8(const uint8_t *p);
#define SNN_BLOB_U8(p) snn_harvard_u8((const uint8_t *)(p))

/* The unreadable stand-in address of a copy of blob[0 .. len); a new call replaces the last one. */
const uint8_t *snn_harvard_place(const uint8_t *blob, uint32_t len);
/* Reads through the hook since the last snn_harvard_place. */
uint64_t snn_harvard_reads(void);

#endif /* SNN_BLOB_HARVARD_H */
