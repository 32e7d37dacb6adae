/*
 * snn_frame.h - packet framing of docs/protocol.md §1: a byte-at-a-time receiver and a sender.
 *
 * A packet is  u8 version, u8 type, u16 seq, u16 length, payload[length], u32 crc  (little-endian,
 * CRC-32 of everything before it), COBS-encoded on the wire and followed by one 0x00.
 *
 * The receiver keeps no memory of its own: the caller gives it a buffer for one encoded frame
 * (SNN_FRAME_RX_BYTES(max_payload)); frames are COBS-decoded in place in that buffer.
 */
#ifndef SNN_FRAME_H
#define SNN_FRAME_H

#include <stdint.h>

#include "snn_cobs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SNN_FRAME_HEADER 6u    /* version, type, seq, length */
#define SNN_FRAME_OVERHEAD 10u /* header + crc */
/* Decoded packet bytes for a payload of up to p bytes. */
#define SNN_FRAME_PACKET_BYTES(p) ((p) + SNN_FRAME_OVERHEAD)
/* Receive buffer for a payload of up to p bytes: the longest encoded frame (delimiter excluded). */
#define SNN_FRAME_RX_BYTES(p) SNN_COBS_MAX_ENCODED(SNN_FRAME_PACKET_BYTES(p))

typedef struct snn_frame_rx {
    uint8_t *buf;          /* encoded bytes of the frame being received; decoded in place */
    uint16_t cap;          /* bytes of buf, = SNN_FRAME_RX_BYTES(max_payload) */
    uint16_t max_packet;   /* SNN_FRAME_PACKET_BYTES(max_payload) */
    uint16_t len;          /* encoded bytes collected so far */
    uint8_t dropping;      /* 1: an oversized frame is being skipped up to the next 0x00 */
    uint8_t reserved;
    uint32_t crc_errors;
    uint32_t framing_errors;
    uint32_t dropped_frames;
} snn_frame_rx_t;

/* A received packet; payload points into the receiver's buffer (valid until the next byte). */
typedef struct snn_packet {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    uint16_t length;        /* payload bytes (the header's length field) */
    const uint8_t *payload;
} snn_packet_t;

enum snn_frame_result {
    SNN_FRAME_NONE = 0,      /* nothing complete (or a frame was discarded and counted) */
    SNN_FRAME_PACKET = 1,    /* *pkt holds a packet whose CRC and length check out */
    SNN_FRAME_BAD_LENGTH = 2 /* CRC fine, but the length field != decoded bytes - 10; *pkt holds
                                version, type and seq (length = the header's value, payload NULL);
                                counted in framing_errors */
};

/* buf: cap bytes, cap >= SNN_FRAME_RX_BYTES(max_payload). Clears the counters. */
void snn_frame_rx_init(snn_frame_rx_t *rx, uint8_t *buf, uint16_t cap, uint16_t max_payload);

/* Feed one received byte. On a 0x00 that ends a frame, decodes and checks it (docs/protocol.md
 * §1 table, in order) and returns SNN_FRAME_PACKET / SNN_FRAME_BAD_LENGTH with *pkt filled. */
int snn_frame_rx_byte(snn_frame_rx_t *rx, uint8_t byte, snn_packet_t *pkt);

/* Fill in the header and CRC of a packet whose payload (len bytes) is already at buf + 6.
 * buf must hold len + 10 bytes. Returns the packet length, len + 10. */
uint16_t snn_frame_seal(uint8_t *buf, uint8_t version, uint8_t type, uint16_t seq, uint16_t len);

/* COBS-encode packet[0 .. len) straight to board_uart_write (no encoding buffer), then write the
 * 0x00 delimiter. Returns the bytes written to the UART. */
uint32_t snn_frame_send(const uint8_t *packet, uint16_t len);

/* Little-endian helpers (byte-wise: any alignment, any host byte order). */
uint16_t snn_rd16(const uint8_t *p);
uint32_t snn_rd32(const uint8_t *p);
void snn_wr16(uint8_t *p, uint16_t v);
void snn_wr32(uint8_t *p, uint32_t v);

#ifdef __cplusplus
}
#endif

#endif /* SNN_FRAME_H */
