/*
 * snn_device.c - request dispatch, sequence numbers, two-slot upload, watchdog, statistics
 * (docs/protocol.md §2 - §6). Framing is in snn_frame.c, the network itself in core/.
 *
 * Static RAM (P = SNN_DEV_MAX_PAYLOAD, B = SNN_DEV_MAX_BLOB, A = SNN_DEV_ARENA_BYTES, each of B and
 * A rounded up to a multiple of 4):
 *     2 * B + 2 * A               two slots (blob + arena each)
 *   + (P + 10) + (P + 10) / 254 + 1    receive buffer (one encoded frame, decoded in place)
 *   + P + 10                      last response (replayed on a retry)
 *   + 14                          ERROR packets that are not stored (BAD_SEQ, BAD_VERSION, ...)
 *   + 2 * IN + 2 * OUT            int16 codes, IN = min(256, (P - 1) / 2), OUT = min(256, (P - 15) / 2)
 *   + 2 slot_t (each with its snn_net_t) + the state struct: ~350 bytes on a Cortex-M3.
 */
#include "snn_device.h"

#include "board.h"
#include "snn_crc32.h"
#include "snn_dev_config.h"
#include "snn_frame.h"

#define MAX_PAYLOAD ((uint16_t)SNN_DEV_MAX_PAYLOAD)
#define BLOB_WORDS (((uint32_t)SNN_DEV_MAX_BLOB + 3u) / 4u)
#define ARENA_WORDS (((uint32_t)SNN_DEV_ARENA_BYTES + 3u) / 4u)
#define MIN_(a, b) ((a) < (b) ? (a) : (b))
/* STEP request: u8 flags + i16 per input. STEP response: u32 step, u8 status, i16 per output,
 * u16 spikes, u32 synops, u32 cycles. Both must fit max_payload. */
#define MAX_IN MIN_(SNN_MAX_INPUTS, ((uint32_t)SNN_DEV_MAX_PAYLOAD - 1u) / 2u)
#define MAX_OUT MIN_(SNN_MAX_OUTPUTS, ((uint32_t)SNN_DEV_MAX_PAYLOAD - 15u) / 2u)

/* Compile-time checks of the port's configuration (a negative array size fails the build). */
typedef char snn_dev_check_payload[(SNN_DEV_MAX_PAYLOAD >= 64u && SNN_DEV_MAX_PAYLOAD <= 8192u) ? 1 : -1];
typedef char snn_dev_check_name[(sizeof(SNN_DEV_BOARD_NAME) >= 2u && sizeof(SNN_DEV_BOARD_NAME) <= 25u) ? 1 : -1];
typedef char snn_dev_check_neurons[(SNN_DEV_MAX_NEURONS >= 1u && SNN_DEV_MAX_NEURONS <= 65535u) ? 1 : -1];
typedef char snn_dev_check_sizes[(SNN_DEV_MAX_BLOB >= 28u && SNN_DEV_ARENA_BYTES >= 4u) ? 1 : -1];

typedef struct slot {
    uint8_t *blob;       /* SNN_DEV_MAX_BLOB bytes */
    uint8_t *arena;      /* SNN_DEV_ARENA_BYTES bytes, 4-aligned */
    snn_net_t net;       /* valid when loaded */
    uint32_t blob_bytes; /* of the loaded network */
    uint32_t blob_crc;
    uint32_t n_synapses; /* sum of projection nnz */
    uint8_t loaded;
} slot_t;

static uint32_t g_blob_mem[2][BLOB_WORDS];
static uint32_t g_arena_mem[2][ARENA_WORDS];
static slot_t g_slot[2];
static uint8_t g_rx_buf[SNN_FRAME_RX_BYTES(SNN_DEV_MAX_PAYLOAD)];
static uint8_t g_resp[SNN_FRAME_PACKET_BYTES(SNN_DEV_MAX_PAYLOAD)]; /* the stored last response */
static uint8_t g_err[SNN_FRAME_PACKET_BYTES(4u)];                   /* unstored ERROR replies */
static int16_t g_in[MAX_IN];
static int16_t g_out[MAX_OUT];

static struct {
    snn_frame_rx_t rx;
    slot_t *active;
    slot_t *staging;
    uint16_t resp_len;     /* bytes of g_resp, 0 if none */
    uint16_t last_seq;
    uint8_t synced;        /* 0 until the first executed request: then any seq is accepted */
    uint8_t loading;       /* a LOAD_BEGIN is open */
    uint8_t wd_armed;      /* the watchdog is counting (on, and not tripped since the last STEP) */
    uint8_t wd_tripped;    /* a trip not yet reported in a STEP status */
    uint16_t wd_timeout;   /* ms, 0 = off */
    uint32_t wd_last;      /* board_millis() of the last STEP or WATCHDOG request */
    uint32_t load_total, load_crc, load_received, load_running_crc;
    uint32_t steps, watchdog_trips, errors_sent;
    uint32_t last_step_cycles, max_step_cycles, rx_bytes, tx_bytes;
} dev;

#define RESP_PAYLOAD (g_resp + SNN_FRAME_HEADER)

static void send_packet(const uint8_t *packet, uint16_t len)
{
    if (packet[1] == (uint8_t)SNN_MSG_ERROR) {
        dev.errors_sent++;
    }
    dev.tx_bytes += snn_frame_send(packet, len);
}

/* An ERROR that is sent but not stored as the last response (the request was not executed). */
static void send_unstored_error(uint8_t req_type, uint16_t seq, uint8_t code, uint16_t detail)
{
    uint16_t n;
    g_err[SNN_FRAME_HEADER] = code;
    g_err[SNN_FRAME_HEADER + 1u] = req_type;
    snn_wr16(g_err + SNN_FRAME_HEADER + 2u, detail);
    n = snn_frame_seal(g_err, (uint8_t)SNN_PROTOCOL_VERSION, (uint8_t)SNN_MSG_ERROR, seq, 4u);
    send_packet(g_err, n);
}

/* Result of an executed request, built in g_resp (payload already at RESP_PAYLOAD). */
static void reply(uint8_t req_type, uint16_t seq, uint16_t len)
{
    dev.resp_len = snn_frame_seal(g_resp, (uint8_t)SNN_PROTOCOL_VERSION, (uint8_t)(req_type | SNN_MSG_RESPONSE), seq,
                                  len);
}

static void reply_error(uint8_t req_type, uint16_t seq, uint8_t code, uint16_t detail)
{
    RESP_PAYLOAD[0] = code;
    RESP_PAYLOAD[1] = req_type;
    snn_wr16(RESP_PAYLOAD + 2, detail);
    dev.resp_len = snn_frame_seal(g_resp, (uint8_t)SNN_PROTOCOL_VERSION, (uint8_t)SNN_MSG_ERROR, seq, 4u);
}

static int16_t rd_i16(const uint8_t *p)
{
    uint16_t u = snn_rd16(p);
    return u >= 0x8000u ? (int16_t)((int32_t)u - INT32_C(65536)) : (int16_t)u;
}

static uint16_t put_netinfo(uint8_t *p)
{
    const slot_t *s = dev.active;
    uint8_t k;
    for (k = 0u; k < 25u; k++) {
        p[k] = 0u;
    }
    if (s->loaded) {
        p[0] = 1u;
        snn_wr16(p + 1, s->net.n_inputs);
        snn_wr16(p + 3, s->net.n_outputs);
        snn_wr32(p + 5, s->net.n_neurons);
        snn_wr32(p + 9, s->n_synapses);
        snn_wr32(p + 13, s->blob_bytes);
        snn_wr32(p + 17, s->blob_crc);
        snn_wr32(p + 21, s->net.arena_bytes);
    }
    return 25u;
}

static void on_hello(const snn_packet_t *q)
{
    static const char name[] = SNN_DEV_BOARD_NAME;
    uint8_t *p = RESP_PAYLOAD;
    uint32_t caps = SNN_CAP_WATCHDOG | SNN_CAP_SPIKE_COUNTS | SNN_CAP_ATOMIC_COMMIT;
    uint8_t k, n = (uint8_t)(sizeof name - 1u);
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if ((uint32_t)SNN_DEV_TICK_HZ != 0u) {
        caps |= SNN_CAP_CYCLES;
    }
    p[0] = (uint8_t)SNN_PROTOCOL_VERSION;
    p[1] = (uint8_t)SNN_DEV_FW_MAJOR;
    p[2] = (uint8_t)SNN_DEV_FW_MINOR;
    p[3] = (uint8_t)SNN_DEV_FW_PATCH;
    snn_wr32(p + 4, caps);
    snn_wr16(p + 8, MAX_PAYLOAD);
    snn_wr16(p + 10, (uint16_t)SNN_DEV_MAX_NEURONS);
    snn_wr32(p + 12, (uint32_t)SNN_DEV_MAX_SYNAPSES);
    snn_wr32(p + 16, (uint32_t)SNN_DEV_MAX_BLOB);
    snn_wr32(p + 20, (uint32_t)SNN_DEV_ARENA_BYTES);
    snn_wr32(p + 24, (uint32_t)SNN_DEV_FREE_RAM());
    snn_wr32(p + 28, (uint32_t)SNN_DEV_TICK_HZ);
    p[32] = n;
    for (k = 0u; k < n; k++) {
        p[33u + k] = (uint8_t)name[k];
    }
    reply(q->type, q->seq, (uint16_t)(33u + n));
}

static void on_load_begin(const snn_packet_t *q)
{
    uint32_t total;
    if (q->length != 8u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    total = snn_rd32(q->payload);
    dev.loading = 0u; /* a new LOAD_BEGIN always abandons the previous upload */
    dev.staging->loaded = 0u;
    if (total > (uint32_t)SNN_DEV_MAX_BLOB) {
        reply_error(q->type, q->seq, SNN_ERR_TOO_LARGE, 0u);
        return;
    }
    dev.loading = 1u;
    dev.load_total = total;
    dev.load_crc = snn_rd32(q->payload + 4);
    dev.load_received = 0u;
    dev.load_running_crc = 0u;
    reply(q->type, q->seq, 0u);
}

static void on_load_chunk(const snn_packet_t *q)
{
    uint32_t offset, n, k;
    if (q->length < 5u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (!dev.loading) {
        reply_error(q->type, q->seq, SNN_ERR_NOT_LOADING, 0u);
        return;
    }
    offset = snn_rd32(q->payload);
    n = (uint32_t)q->length - 4u;
    if (offset != dev.load_received) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_OFFSET, (uint16_t)(dev.load_received & 0xFFFFu));
        return;
    }
    if (n > dev.load_total - dev.load_received) {
        reply_error(q->type, q->seq, SNN_ERR_TOO_LARGE, 0u);
        return;
    }
    for (k = 0u; k < n; k++) {
        dev.staging->blob[offset + k] = q->payload[4u + k];
    }
    dev.load_running_crc = snn_crc32(dev.load_running_crc, dev.staging->blob + offset, n);
    dev.load_received += n;
    snn_wr32(RESP_PAYLOAD, dev.load_received);
    reply(q->type, q->seq, 4u);
}

static void on_commit(const snn_packet_t *q)
{
    slot_t *s = dev.staging;
    int32_t rc;
    uint32_t synapses = 0u, neurons;
    uint16_t k;
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (!dev.loading) {
        reply_error(q->type, q->seq, SNN_ERR_NOT_LOADING, 0u);
        return;
    }
    if (dev.load_received != dev.load_total) {
        reply_error(q->type, q->seq, SNN_ERR_INCOMPLETE, 0u);
        return;
    }
    if (dev.load_running_crc != dev.load_crc) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_BLOB_CRC, 0u);
        return;
    }
    rc = snn_load(&s->net, s->blob, dev.load_total, s->arena, (uint32_t)SNN_DEV_ARENA_BYTES);
    if (rc == SNN_E_TOO_LARGE) {
        reply_error(q->type, q->seq, SNN_ERR_TOO_LARGE, 0u);
        return;
    }
    if (rc != SNN_OK) {
        reply_error(q->type, q->seq, SNN_ERR_INVALID_NETWORK, (uint16_t)(-rc));
        return;
    }
    for (k = 0u; k < s->net.n_projs; k++) {
        synapses += s->net.projs[k].nnz;
    }
    neurons = s->net.n_neurons;
    if (neurons > (uint32_t)SNN_DEV_MAX_NEURONS || synapses > (uint32_t)SNN_DEV_MAX_SYNAPSES ||
        s->net.n_inputs > MAX_IN || s->net.n_outputs > MAX_OUT) {
        reply_error(q->type, q->seq, SNN_ERR_TOO_LARGE, 0u);
        return;
    }
    s->blob_bytes = dev.load_total;
    /* NETINFO's blob_crc32 is the file's own CRC-32 (its last 4 bytes, checked by snn_load), not
       the transfer CRC: a CRC over data + its own CRC is one constant for every valid file. */
    s->blob_crc = snn_rd32(s->blob + dev.load_total - 4u);
    s->n_synapses = synapses;
    s->loaded = 1u;
    /* the swap: between two requests, so atomic with respect to STEP */
    dev.staging = dev.active;
    dev.active = s;
    dev.staging->loaded = 0u;
    dev.loading = 0u;
    reply(q->type, q->seq, put_netinfo(RESP_PAYLOAD));
}

static void on_step(const snn_packet_t *q)
{
    snn_net_t *net = &dev.active->net;
    uint8_t *p = RESP_PAYLOAD;
    uint8_t counts, status;
    uint16_t k, off;
    uint32_t c0, cycles;
    if (!dev.active->loaded) {
        reply_error(q->type, q->seq, SNN_ERR_NO_NETWORK, 0u);
        return;
    }
    if (q->length < 1u || (q->length & 1u) == 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if ((uint16_t)((q->length - 1u) / 2u) != net->n_inputs) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_INPUT_COUNT, net->n_inputs);
        return;
    }
    counts = (uint8_t)(q->payload[0] & 1u);
    for (k = 0u; k < net->n_inputs; k++) {
        g_in[k] = rd_i16(q->payload + 1u + 2u * k);
    }
    c0 = board_cycles();
    snn_step(net, g_in, g_out);
    cycles = board_cycles() - c0;
    dev.steps++;
    dev.last_step_cycles = cycles;
    if (cycles > dev.max_step_cycles) {
        dev.max_step_cycles = cycles;
    }
    status = (uint8_t)((dev.wd_tripped ? 1u : 0u) | (counts ? 2u : 0u));
    dev.wd_tripped = 0u;
    dev.wd_last = board_millis();
    dev.wd_armed = (uint8_t)(dev.wd_timeout != 0u);
    board_outputs(g_out, net->n_outputs);
    snn_wr32(p, dev.steps);
    p[4] = status;
    off = 5u;
    for (k = 0u; k < net->n_outputs; k++) {
        snn_wr16(p + off, (uint16_t)g_out[k]);
        off = (uint16_t)(off + 2u);
    }
    if (counts) {
        snn_wr16(p + off, (uint16_t)(net->spikes > 0xFFFFu ? 0xFFFFu : net->spikes));
        snn_wr32(p + off + 2u, net->synops);
        snn_wr32(p + off + 6u, cycles);
        off = (uint16_t)(off + 10u);
    }
    reply(q->type, q->seq, off);
}

static void on_reset(const snn_packet_t *q)
{
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (!dev.active->loaded) {
        reply_error(q->type, q->seq, SNN_ERR_NO_NETWORK, 0u);
        return;
    }
    snn_reset(&dev.active->net);
    reply(q->type, q->seq, 0u);
}

static void on_watchdog(const snn_packet_t *q)
{
    if (q->length != 2u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    dev.wd_timeout = snn_rd16(q->payload);
    dev.wd_last = board_millis();
    dev.wd_armed = (uint8_t)(dev.wd_timeout != 0u);
    reply(q->type, q->seq, 0u);
}

static void on_stats(const snn_packet_t *q)
{
    uint8_t *p = RESP_PAYLOAD;
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    snn_wr32(p + 0, dev.steps);
    snn_wr32(p + 4, dev.rx.crc_errors);
    snn_wr32(p + 8, dev.rx.framing_errors);
    snn_wr32(p + 12, dev.rx.dropped_frames);
    snn_wr32(p + 16, dev.watchdog_trips);
    snn_wr32(p + 20, dev.errors_sent);
    snn_wr32(p + 24, dev.last_step_cycles);
    snn_wr32(p + 28, dev.max_step_cycles);
    snn_wr32(p + 32, dev.rx_bytes);
    snn_wr32(p + 36, dev.tx_bytes);
    reply(q->type, q->seq, 40u);
}

static void on_netinfo(const snn_packet_t *q)
{
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    reply(q->type, q->seq, put_netinfo(RESP_PAYLOAD));
}

/* Run one request and store its response (an ERROR included) in g_resp. */
static void execute(const snn_packet_t *q)
{
    switch (q->type) {
    case SNN_MSG_HELLO: on_hello(q); break;
    case SNN_MSG_LOAD_BEGIN: on_load_begin(q); break;
    case SNN_MSG_LOAD_CHUNK: on_load_chunk(q); break;
    case SNN_MSG_COMMIT: on_commit(q); break;
    case SNN_MSG_STEP: on_step(q); break;
    case SNN_MSG_RESET: on_reset(q); break;
    case SNN_MSG_WATCHDOG: on_watchdog(q); break;
    case SNN_MSG_STATS: on_stats(q); break;
    case SNN_MSG_NETINFO: on_netinfo(q); break;
    default: reply_error(q->type, q->seq, SNN_ERR_UNKNOWN_TYPE, 0u); break;
    }
}

static void handle(const snn_packet_t *q)
{
    uint16_t expected = (uint16_t)(dev.last_seq + 1u);
    if (q->version != (uint8_t)SNN_PROTOCOL_VERSION) {
        send_unstored_error(q->type, q->seq, SNN_ERR_BAD_VERSION, (uint16_t)SNN_PROTOCOL_VERSION);
        return;
    }
    if (q->type != (uint8_t)SNN_MSG_HELLO && dev.synced) {
        if (q->seq == dev.last_seq) {
            send_packet(g_resp, dev.resp_len); /* a retry: the stored response, nothing executed */
            return;
        }
        if (q->seq != expected) {
            send_unstored_error(q->type, q->seq, SNN_ERR_BAD_SEQ, expected);
            return;
        }
    }
    dev.last_seq = q->seq;
    dev.synced = 1u;
    execute(q);
    send_packet(g_resp, dev.resp_len);
}

static void watchdog_check(void)
{
    snn_net_t *net = &dev.active->net;
    uint16_t k;
    if (!dev.wd_armed || dev.wd_timeout == 0u || !dev.active->loaded) {
        return;
    }
    if ((uint32_t)(board_millis() - dev.wd_last) < (uint32_t)dev.wd_timeout) {
        return;
    }
    for (k = 0u; k < net->n_outputs; k++) {
        g_out[k] = snn_fail_code(net, k);
    }
    board_outputs(g_out, net->n_outputs);
    snn_reset(net);
    dev.watchdog_trips++;
    dev.wd_tripped = 1u;
    dev.wd_armed = 0u; /* once per silence; the next STEP re-arms it */
}

void snn_device_init(void)
{
    uint8_t k;
    for (k = 0u; k < 2u; k++) {
        g_slot[k].blob = (uint8_t *)g_blob_mem[k];
        g_slot[k].arena = (uint8_t *)g_arena_mem[k];
        g_slot[k].blob_bytes = 0u;
        g_slot[k].blob_crc = 0u;
        g_slot[k].n_synapses = 0u;
        g_slot[k].loaded = 0u;
    }
    snn_frame_rx_init(&dev.rx, g_rx_buf, (uint16_t)sizeof g_rx_buf, MAX_PAYLOAD);
    dev.active = &g_slot[0];
    dev.staging = &g_slot[1];
    dev.resp_len = 0u;
    dev.last_seq = 0u;
    dev.synced = 0u;
    dev.loading = 0u;
    dev.wd_armed = 0u;
    dev.wd_tripped = 0u;
    dev.wd_timeout = 0u;
    dev.wd_last = board_millis();
    dev.load_total = dev.load_crc = dev.load_received = dev.load_running_crc = 0u;
    dev.steps = dev.watchdog_trips = dev.errors_sent = 0u;
    dev.last_step_cycles = dev.max_step_cycles = dev.rx_bytes = dev.tx_bytes = 0u;
}

void snn_device_poll(void)
{
    uint8_t byte;
    snn_packet_t pkt;
    while (board_uart_getc(&byte)) {
        int r;
        dev.rx_bytes++;
        r = snn_frame_rx_byte(&dev.rx, byte, &pkt);
        if (r == SNN_FRAME_PACKET) {
            handle(&pkt);
            watchdog_check();
        } else if (r == SNN_FRAME_BAD_LENGTH) {
            send_unstored_error(pkt.type, pkt.seq, SNN_ERR_BAD_LENGTH, 0u);
        }
    }
    watchdog_check();
}

const snn_net_t *snn_device_network(void)
{
    return dev.active->loaded ? &dev.active->net : (const snn_net_t *)0;
}
