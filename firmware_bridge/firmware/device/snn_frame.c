/* snn_frame.c - packet receiver and sender (docs/protocol.md §1; see snn_frame.h). */
#include "snn_frame.h"

#include "board.h"
#include "snn_crc32.h"

uint16_t snn_rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

uint32_t snn_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void snn_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

void snn_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

void snn_frame_rx_init(snn_frame_rx_t *rx, uint8_t *buf, uint16_t cap, uint16_t max_payload)
{
    rx->buf = buf;
    rx->cap = cap;
    rx->max_packet = (uint16_t)SNN_FRAME_PACKET_BYTES(max_payload);
    rx->len = 0u;
    rx->dropping = 0u;
    rx->reserved = 0u;
    rx->crc_errors = 0u;
    rx->framing_errors = 0u;
    rx->dropped_frames = 0u;
}

/* Decode and check the collected frame (rx->len > 0 encoded bytes). */
static int finish_frame(snn_frame_rx_t *rx, snn_packet_t *pkt)
{
    int32_t n = snn_cobs_decode(rx->buf, rx->len, rx->buf, rx->max_packet);
    uint16_t m;
    rx->len = 0u;
    if (n < (int32_t)SNN_FRAME_OVERHEAD) {
        rx->framing_errors++;
        return SNN_FRAME_NONE;
    }
    m = (uint16_t)n;
    if (snn_crc32(0u, rx->buf, (uint32_t)m - 4u) != snn_rd32(rx->buf + m - 4u)) {
        rx->crc_errors++;
        return SNN_FRAME_NONE;
    }
    pkt->version = rx->buf[0];
    pkt->type = rx->buf[1];
    pkt->seq = snn_rd16(rx->buf + 2);
    pkt->length = snn_rd16(rx->buf + 4);
    if ((uint32_t)pkt->length + SNN_FRAME_OVERHEAD != (uint32_t)m) {
        pkt->payload = 0;
        rx->framing_errors++;
        return SNN_FRAME_BAD_LENGTH;
    }
    pkt->payload = rx->buf + SNN_FRAME_HEADER;
    return SNN_FRAME_PACKET;
}

int snn_frame_rx_byte(snn_frame_rx_t *rx, uint8_t byte, snn_packet_t *pkt)
{
    if (byte == 0u) {
        if (rx->dropping) {
            rx->dropping = 0u;
            rx->len = 0u;
            return SNN_FRAME_NONE;
        }
        if (rx->len == 0u) {
            return SNN_FRAME_NONE; /* empty frame: a flush */
        }
        return finish_frame(rx, pkt);
    }
    if (rx->dropping) {
        return SNN_FRAME_NONE;
    }
    if (rx->len >= rx->cap) {
        rx->dropping = 1u;
        rx->len = 0u;
        rx->dropped_frames++;
        return SNN_FRAME_NONE;
    }
    rx->buf[rx->len++] = byte;
    return SNN_FRAME_NONE;
}

uint16_t snn_frame_seal(uint8_t *buf, uint8_t version, uint8_t type, uint16_t seq, uint16_t len)
{
    uint16_t body = (uint16_t)(SNN_FRAME_HEADER + len);
    buf[0] = version;
    buf[1] = type;
    snn_wr16(buf + 2, seq);
    snn_wr16(buf + 4, len);
    snn_wr32(buf + body, snn_crc32(0u, buf, body));
    return (uint16_t)(body + 4u);
}

uint32_t snn_frame_send(const uint8_t *packet, uint16_t len)
{
    static const uint8_t delimiter = 0u;
    uint32_t sent = 0u;
    uint16_t pos = 0u;
    for (;;) {
        uint16_t run = snn_cobs_block(packet + pos, (uint16_t)(len - pos));
        uint8_t code = (uint8_t)(run + 1u);
        board_uart_write(&code, 1u);
        if (run > 0u) {
            board_uart_write(packet + pos, run);
        }
        sent += 1u + (uint32_t)run;
        pos = (uint16_t)(pos + run);
        if (pos == len) {
            break;
        }
        if (run < 254u) {
            pos++;
        }
    }
    board_uart_write(&delimiter, 1u);
    return sent + 1u;
}
