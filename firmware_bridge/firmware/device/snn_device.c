/*
 * snn_device.c - request dispatch, sequence numbers, two-slot upload, watchdog, statistics
 * (docs/protocol.md §2 - §6). Framing is in snn_frame.c, the network itself in core/.
 *
 * Static RAM (P = SNN_DEV_MAX_PAYLOAD, B = SNN_DEV_MAX_BLOB, A = SNN_DEV_ARENA_BYTES, each of B and
 * A rounded up to a multiple of 4):
 *     2 * B + 2 * A               two slots (blob + arena each)
 *   + (P + 10) + (P + 10) / 254 + 1    receive buffer (one encoded frame, decoded in place)
 *   + P + 10                      last response (replayed on a retry)
 *   + 2 * IN + 2 * OUT            int16 codes, IN = min(256, (P - 1) / 2), OUT = min(256, (P - 15) / 2)
 *   + 2 slot_t (each with its snn_net_t) + the state struct: ~400 bytes on a Cortex-M3.
 * With SNN_DEV_ONBOARD: + 2 * SC (the SENSOR sample, SC = SNN_DEV_SENSOR_CODES) + ~45 bytes of
 * state; a TELEMETRY packet (TM_HEAD + 2 * TC + 10 bytes, TC = SNN_DEV_TELEMETRY_CODES) is built on
 * the stack while it is sent - never at the same time as the deeper COMMIT -> snn_load path.
 *
 * SNN_DEV_FLASH_NETWORK (a network compiled into the image, board_flash_network): ONE slot, its
 * arena only (A instead of 2 * B + 2 * A); the blob is read in place from the image (program
 * memory on an AVR, through the core's blob hook) and the upload requests answer FLASH_NETWORK.
 * With SNN_DEV_PERSIST it keeps only the RUN record, keyed to the image (boot_run, protocol.md §9).
 */
#include "snn_device.h"

#include "board.h"
#include "snn_blob.h"
#include "snn_crc32.h"
#include "snn_dev_config.h"
#include "snn_frame.h"
#if SNN_DEV_PERSIST
#include "snn_persist.h"
#endif

#define MAX_PAYLOAD ((uint16_t)SNN_DEV_MAX_PAYLOAD)
#define BLOB_WORDS (((uint32_t)SNN_DEV_MAX_BLOB + 3u) / 4u)
#define ARENA_WORDS (((uint32_t)SNN_DEV_ARENA_BYTES + 3u) / 4u)
#define MIN_(a, b) ((a) < (b) ? (a) : (b))
/* STEP request: u8 flags + i16 per input. STEP response: u32 step, u8 status, i16 per output,
 * u16 spikes, u32 synops, u32 cycles. Both must fit max_payload. */
#define PAYLOAD_IN MIN_(SNN_MAX_INPUTS, ((uint32_t)SNN_DEV_MAX_PAYLOAD - 1u) / 2u)
#define PAYLOAD_OUT MIN_(SNN_MAX_OUTPUTS, ((uint32_t)SNN_DEV_MAX_PAYLOAD - 15u) / 2u)
/* the code buffers: what a frame can carry, or fewer where the port knows better (a compiled-in
   network sets its own counts: 110 bytes of an atmega328p's RAM) */
#ifndef SNN_DEV_MAX_INPUTS
#define SNN_DEV_MAX_INPUTS PAYLOAD_IN
#endif
#ifndef SNN_DEV_MAX_OUTPUTS
#define SNN_DEV_MAX_OUTPUTS PAYLOAD_OUT
#endif
#define MAX_IN MIN_(SNN_DEV_MAX_INPUTS, PAYLOAD_IN)
#define MAX_OUT MIN_(SNN_DEV_MAX_OUTPUTS, PAYLOAD_OUT)

#define TM_HEAD 18u /* TELEMETRY payload before the codes (docs/protocol.md §8) */
#if SNN_DEV_ONBOARD
#ifndef SNN_DEV_SENSOR_CODES
#define SNN_DEV_SENSOR_CODES MAX_IN
#endif
#ifndef SNN_DEV_TELEMETRY_CODES
#define SNN_DEV_TELEMETRY_CODES (((uint32_t)SNN_DEV_MAX_PAYLOAD - TM_HEAD) / 2u)
#endif
#else
#undef SNN_DEV_SENSOR_CODES
#undef SNN_DEV_TELEMETRY_CODES
#define SNN_DEV_SENSOR_CODES 0u
#define SNN_DEV_TELEMETRY_CODES 0u
#endif
/* a zero-length array is not C99: keep at least one element */
#define SENSOR_CAP ((uint16_t)(SNN_DEV_SENSOR_CODES > 0u ? SNN_DEV_SENSOR_CODES : 1u))
#define TM_PACKET SNN_FRAME_PACKET_BYTES(TM_HEAD + 2u * (SNN_DEV_TELEMETRY_CODES > 0u ? SNN_DEV_TELEMETRY_CODES : 0u))

/* Compile-time checks of the port's configuration (a negative array size fails the build). */
typedef char snn_dev_check_payload[(SNN_DEV_MAX_PAYLOAD >= 64u && SNN_DEV_MAX_PAYLOAD <= 8192u) ? 1 : -1];
typedef char snn_dev_check_name[(sizeof(SNN_DEV_BOARD_NAME) >= 2u && sizeof(SNN_DEV_BOARD_NAME) <= 25u) ? 1 : -1];
typedef char snn_dev_check_neurons[(SNN_DEV_MAX_NEURONS >= 1u && SNN_DEV_MAX_NEURONS <= 65535u) ? 1 : -1];
typedef char snn_dev_check_sizes[(SNN_DEV_MAX_BLOB >= 28u && SNN_DEV_ARENA_BYTES >= 4u) ? 1 : -1];
/* a built-in start needs the on-board loop and a compiled-in network to run */
typedef char snn_dev_check_autostart[(SNN_DEV_AUTOSTART_US == 0u || (SNN_DEV_ONBOARD && SNN_DEV_FLASH_NETWORK)) ? 1 : -1];
typedef char snn_dev_check_onboard[(SNN_DEV_SENSOR_CODES <= MAX_IN &&
                                    TM_HEAD + 2u * (uint32_t)SNN_DEV_TELEMETRY_CODES <= SNN_DEV_MAX_PAYLOAD) ? 1 : -1];

typedef struct slot {
    uint8_t *blob;       /* SNN_DEV_MAX_BLOB bytes (upload mode; unused with a flash network) */
    uint8_t *arena;      /* SNN_DEV_ARENA_BYTES bytes, 4-aligned */
    snn_net_t net;       /* valid when loaded */
    uint32_t blob_bytes; /* of the loaded network */
    uint32_t blob_crc;
    uint32_t n_synapses; /* sum of projection nnz */
    uint8_t loaded;
} slot_t;

#if SNN_DEV_FLASH_NETWORK
#define N_SLOTS 1u /* the compiled-in network's arena; no blob buffer, no staging slot */
#else
#define N_SLOTS 2u /* active + staging: the atomic upload (docs/protocol.md §4) */
static uint32_t g_blob_mem[N_SLOTS][BLOB_WORDS];
#endif
static uint32_t g_arena_mem[N_SLOTS][ARENA_WORDS];
static slot_t g_slot[N_SLOTS];
static uint8_t g_rx_buf[SNN_FRAME_RX_BYTES(SNN_DEV_MAX_PAYLOAD)];
static uint8_t g_resp[SNN_FRAME_PACKET_BYTES(SNN_DEV_MAX_PAYLOAD)]; /* the stored last response */
static int16_t g_in[MAX_IN];
static int16_t g_out[MAX_OUT];
#if SNN_DEV_ONBOARD
static int16_t g_sensor[SENSOR_CAP];     /* the latest SENSOR sample */
#endif

static struct {
    snn_frame_rx_t rx;
    slot_t *active;
#if !SNN_DEV_FLASH_NETWORK
    slot_t *staging;
#endif
    uint16_t resp_len;     /* bytes of g_resp, 0 if none */
    uint16_t last_seq;
    uint32_t last_crc;     /* CRC-32 field of the last executed request: a retry must match it */
    /* one-bit flags share one unsigned int (2 bytes on the AVR, whose RAM paid for last_crc) */
    unsigned synced : 1;     /* 0 until the first executed request: then any seq is accepted */
    unsigned loading : 1;    /* a LOAD_BEGIN is open */
    unsigned wd_armed : 1;   /* the watchdog is counting (on, and not tripped since the last STEP) */
    unsigned wd_tripped : 1; /* a trip not yet reported in a STEP status */
    uint16_t wd_timeout;   /* ms, 0 = off */
    uint32_t wd_last;      /* board_millis() of the last STEP or WATCHDOG request */
#if !SNN_DEV_FLASH_NETWORK /* the upload in progress (a flash network takes none: 18 bytes of RAM) */
    uint32_t load_total, load_crc, load_received, load_running_crc;
#endif
    uint32_t steps, watchdog_trips, errors_sent;
    uint32_t last_step_cycles, max_step_cycles, rx_bytes, tx_bytes;
#if SNN_DEV_ONBOARD
    uint8_t running;       /* the on-board loop is on (START .. STOP) */
    uint8_t failsafe;      /* fail-safe outputs are held: no fresh sample for stale_limit periods */
    uint8_t sensor_fresh;  /* g_sensor holds a sample not yet taken */
    uint16_t sensor_seq;   /* seq field of the SENSOR frame in g_sensor */
    uint16_t sample_seq;   /* seq of the sample taken last (telemetry) */
    uint16_t tm_every;     /* telemetry every N handled periods, 0 = off */
    uint16_t tm_count;     /* handled periods since the last telemetry frame */
    uint16_t stale_limit;  /* K: fail-safe after K periods without a fresh sample, 0 = never */
    uint16_t stale;        /* periods since the last fresh sample (saturates) */
    uint32_t run_done;     /* board_timer_periods() value of the last handled period */
    uint32_t period_us;    /* of the running loop (NETINFO reports it while running) */
    uint32_t run_periods, missed_deadlines, missing_samples, failsafe_entries;
    uint32_t sensor_samples, sensor_rejected;
#endif
#if SNN_DEV_PERSIST && !SNN_DEV_FLASH_NETWORK
    uint8_t nv_index;      /* NV record holding the active network, SNN_NV_NONE if it is not persisted;
                              generations are read from the headers when needed (1 byte of RAM, not 9) */
#endif
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
    uint8_t err[SNN_FRAME_PACKET_BYTES(4u)]; /* on the stack: 14 bytes of static RAM saved for the AVR */
    uint16_t n;
    err[SNN_FRAME_HEADER] = code;
    err[SNN_FRAME_HEADER + 1u] = req_type;
    snn_wr16(err + SNN_FRAME_HEADER + 2u, detail);
    n = snn_frame_seal(err, (uint8_t)SNN_PROTOCOL_VERSION, (uint8_t)SNN_MSG_ERROR, seq, 4u);
    send_packet(err, n);
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

/* 1 if the on-board loop runs: then STEP, RESET and COMMIT are refused with RUNNING. */
static uint8_t running(void)
{
#if SNN_DEV_ONBOARD
    return dev.running;
#else
    return 0u;
#endif
}

/* One network step from g_in to g_out: timed with board_cycles, counted, handed to board_outputs. */
static uint32_t run_step(snn_net_t *net)
{
    uint32_t c0 = board_cycles(), cycles;
    snn_step(net, g_in, g_out);
    cycles = board_cycles() - c0; /* unsigned difference: correct across one wrap */
    dev.steps++;
    dev.last_step_cycles = cycles;
    if (cycles > dev.max_step_cycles) {
        dev.max_step_cycles = cycles;
    }
    board_outputs(g_out, net->n_outputs);
    return cycles;
}

static uint16_t put_netinfo(uint8_t *p)
{
    const slot_t *s = dev.active;
    uint8_t k;
    for (k = 0u; k < 30u; k++) {
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
        snn_wr32(p + 25, s->net.period_us);
    }
#if SNN_DEV_ONBOARD
    if (dev.running) {
        p[29] = 1u;
        snn_wr32(p + 25, dev.period_us); /* the period the loop runs at (START may override `ctrl`) */
    }
#endif
    return 30u;
}

static void on_hello(const snn_packet_t *q)
{
    static const char name[] = SNN_DEV_BOARD_NAME;
    uint8_t *p = RESP_PAYLOAD;
#if SNN_DEV_FLASH_NETWORK
    uint32_t caps = SNN_CAP_WATCHDOG | SNN_CAP_SPIKE_COUNTS | SNN_CAP_FLASH_NETWORK;
    const uint32_t max_blob = 0u; /* no uploads */
#else
    uint32_t caps = SNN_CAP_WATCHDOG | SNN_CAP_SPIKE_COUNTS | SNN_CAP_ATOMIC_COMMIT;
    const uint32_t max_blob = (uint32_t)SNN_DEV_MAX_BLOB;
#endif
    uint8_t k, n = (uint8_t)(sizeof name - 1u);
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if ((uint32_t)SNN_DEV_TICK_HZ != 0u) {
        caps |= SNN_CAP_CYCLES;
    }
#if SNN_DEV_ONBOARD
    caps |= SNN_CAP_ONBOARD;
    if ((uint32_t)SNN_DEV_SENSOR_CODES != 0u) {
        caps |= SNN_CAP_SENSOR;
    }
    if ((uint32_t)SNN_DEV_TELEMETRY_CODES != 0u) {
        caps |= SNN_CAP_TELEMETRY;
    }
#endif
#if SNN_DEV_PERSIST && SNN_DEV_FLASH_NETWORK
    if (snn_persist_has_run()) {
        caps |= SNN_CAP_PERSIST; /* the RUN record survives a reset (the network is in the image) */
    }
#elif SNN_DEV_PERSIST
    if (snn_persist_capacity() != 0u) {
        caps |= SNN_CAP_PERSIST;
    }
#endif
    p[0] = (uint8_t)SNN_PROTOCOL_VERSION;
    p[1] = (uint8_t)SNN_DEV_FW_MAJOR;
    p[2] = (uint8_t)SNN_DEV_FW_MINOR;
    p[3] = (uint8_t)SNN_DEV_FW_PATCH;
    snn_wr32(p + 4, caps);
    snn_wr16(p + 8, MAX_PAYLOAD);
    snn_wr16(p + 10, (uint16_t)SNN_DEV_MAX_NEURONS);
    snn_wr32(p + 12, (uint32_t)SNN_DEV_MAX_SYNAPSES);
    snn_wr32(p + 16, max_blob);
    snn_wr32(p + 20, (uint32_t)SNN_DEV_ARENA_BYTES);
    snn_wr32(p + 24, (uint32_t)SNN_DEV_FREE_RAM());
    snn_wr32(p + 28, (uint32_t)SNN_DEV_TICK_HZ);
    p[32] = n;
    for (k = 0u; k < n; k++) {
        p[33u + k] = (uint8_t)name[k];
    }
    reply(q->type, q->seq, (uint16_t)(33u + n));
}

#if SNN_DEV_FLASH_NETWORK
/* A compiled-in network takes no uploads: LOAD_BEGIN, LOAD_CHUNK and COMMIT check their payload
 * length as usual (protocol.md §3), then answer FLASH_NETWORK. */
static void on_upload_refused(const snn_packet_t *q)
{
    uint8_t bad_length;
    if (q->type == (uint8_t)SNN_MSG_LOAD_BEGIN) {
        bad_length = (uint8_t)(q->length != 8u);
    } else if (q->type == (uint8_t)SNN_MSG_LOAD_CHUNK) {
        bad_length = (uint8_t)(q->length < 5u);
    } else {
        bad_length = (uint8_t)(q->length != 0u);
    }
    reply_error(q->type, q->seq, bad_length ? SNN_ERR_BAD_LENGTH : SNN_ERR_FLASH_NETWORK, 0u);
}
#else
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

#endif

/* Parse and check slot s's blob of `length` bytes against the device's limits (COMMIT and the NV
 * restore): 0 and s filled in, or an ERROR code with *detail. */
#if defined(__GNUC__)
/* load_slot is on COMMIT's snn_load path, the deepest stack of the 2 KB AVR: inlined into both
 * callers it adds no frame of its own there (18 bytes with avr-gcc -Os) */
#define LOAD_SLOT_INLINE static inline __attribute__((always_inline))
#else
#define LOAD_SLOT_INLINE static
#endif
LOAD_SLOT_INLINE uint8_t load_slot(slot_t *s, const uint8_t *blob, uint32_t length, uint16_t *detail)
{
    int32_t rc;
    uint32_t synapses, neurons;
    const uint8_t *crc;
    *detail = 0u;
    rc = snn_load(&s->net, blob, length, s->arena, (uint32_t)SNN_DEV_ARENA_BYTES);
    if (rc == SNN_E_TOO_LARGE) {
        return SNN_ERR_TOO_LARGE;
    }
    if (rc != SNN_OK) {
        *detail = (uint16_t)(-rc);
        return SNN_ERR_INVALID_NETWORK;
    }
    synapses = s->net.n_synapses;
    neurons = s->net.n_neurons; /* widened: on a 16-bit limit the direct comparison is always false */
    if (neurons > (uint32_t)SNN_DEV_MAX_NEURONS || synapses > (uint32_t)SNN_DEV_MAX_SYNAPSES ||
        s->net.n_inputs > MAX_IN || s->net.n_outputs > MAX_OUT) {
        return SNN_ERR_TOO_LARGE;
    }
    s->blob_bytes = length;
    /* NETINFO's blob_crc32 is the file's own CRC-32 (its last 4 bytes, checked by snn_load), not
       the transfer CRC: a CRC over data + its own CRC is one constant for every valid file. */
    crc = blob + length - 4u; /* read through the blob hook: the blob may be in program memory */
    s->blob_crc = (uint32_t)SNN_BLOB_U8(crc) | ((uint32_t)SNN_BLOB_U8(crc + 1) << 8) |
                  ((uint32_t)SNN_BLOB_U8(crc + 2) << 16) | ((uint32_t)SNN_BLOB_U8(crc + 3) << 24);
    s->n_synapses = synapses;
    s->loaded = 1u;
    return 0u;
}

#if !SNN_DEV_FLASH_NETWORK
/* Make the loaded staging slot the active one: a pointer swap between two requests, so atomic with
 * respect to STEP and the on-board loop. */
static void activate_staging(void)
{
    slot_t *s = dev.staging;
    dev.staging = dev.active;
    dev.active = s;
    dev.staging->loaded = 0u;
#if SNN_DEV_ONBOARD
    dev.sensor_fresh = 0u; /* a waiting sample was for the old network */
#endif
}

static void on_commit(const snn_packet_t *q)
{
    uint8_t code;
    uint16_t detail;
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (!dev.loading) {
        reply_error(q->type, q->seq, SNN_ERR_NOT_LOADING, 0u);
        return;
    }
    if (running()) {
        reply_error(q->type, q->seq, SNN_ERR_RUNNING, 0u);
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
    code = load_slot(dev.staging, dev.staging->blob, dev.load_total, &detail);
    if (code != 0u) {
        reply_error(q->type, q->seq, code, detail);
        return;
    }
#if SNN_DEV_PERSIST
    /* into the NV record that does not hold the active network, before the swap (protocol.md §9);
       if it does not fit or fails, the network still becomes active, only not persisted */
    dev.nv_index = snn_persist_commit(dev.nv_index, dev.staging->blob, dev.load_total);
#endif
    activate_staging();
    dev.loading = 0u;
    reply(q->type, q->seq, put_netinfo(RESP_PAYLOAD));
}
#endif

static void on_step(const snn_packet_t *q)
{
    snn_net_t *net = &dev.active->net;
    uint8_t *p = RESP_PAYLOAD;
    uint8_t counts, status;
    uint16_t k, off;
    uint32_t cycles;
    if (!dev.active->loaded) {
        reply_error(q->type, q->seq, SNN_ERR_NO_NETWORK, 0u);
        return;
    }
    if (running()) {
        reply_error(q->type, q->seq, SNN_ERR_RUNNING, 0u);
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
    cycles = run_step(net);
    status = (uint8_t)((dev.wd_tripped ? 1u : 0u) | (counts ? 2u : 0u));
    dev.wd_tripped = 0u;
    dev.wd_last = board_millis();
    dev.wd_armed = (uint8_t)(dev.wd_timeout != 0u);
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
    if (running()) {
        reply_error(q->type, q->seq, SNN_ERR_RUNNING, 0u);
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
#if SNN_DEV_ONBOARD
    snn_wr32(p + 40, dev.run_periods);
    snn_wr32(p + 44, dev.missed_deadlines);
    snn_wr32(p + 48, dev.missing_samples);
    snn_wr32(p + 52, dev.failsafe_entries);
    snn_wr32(p + 56, dev.sensor_samples);
    snn_wr32(p + 60, dev.sensor_rejected);
#else
    {
        uint8_t k;
        for (k = 40u; k < 64u; k++) {
            p[k] = 0u;
        }
    }
#endif
    reply(q->type, q->seq, 64u);
}

static void on_netinfo(const snn_packet_t *q)
{
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    reply(q->type, q->seq, put_netinfo(RESP_PAYLOAD));
}

#if SNN_DEV_ONBOARD
/* Start the on-board loop of the active (loaded) network: 0, or an ERROR code with *detail
 * (BAD_PERIOD). START and the boot-time restore of a running board. */
static uint8_t start_loop(uint32_t period, uint16_t every, uint16_t stale_limit, uint16_t *detail)
{
    snn_net_t *net = &dev.active->net;
    uint16_t k;
    *detail = 0u;
    if (period == 0u) {
        period = net->period_us;
    }
    if (period == 0u) {
        return SNN_ERR_BAD_PERIOD;
    }
    if (every != 0u && (uint32_t)net->n_inputs + net->n_outputs > (uint32_t)SNN_DEV_TELEMETRY_CODES) {
        *detail = 2u;
        return SNN_ERR_BAD_PERIOD;
    }
    if (dev.running) {
        board_timer_stop(); /* a START while running restarts with the new settings */
        dev.running = 0u;
    }
    if (board_timer_start(period) != 0) {
        *detail = 1u;
        return SNN_ERR_BAD_PERIOD;
    }
    /* the network starts from reset state with held inputs 0; a SENSOR sample that arrived
       before START stays fresh and is the first period's input */
    snn_reset(net);
    for (k = 0u; k < net->n_inputs; k++) {
        g_in[k] = 0;
    }
    dev.running = 1u;
    dev.failsafe = 0u;
    dev.stale = 0u;
    dev.tm_every = every;
    dev.tm_count = 0u;
    dev.stale_limit = stale_limit;
    dev.period_us = period;
    dev.run_done = 0u; /* board_timer_periods() is 0 right after board_timer_start */
    dev.wd_armed = 0u; /* the STEP watchdog sleeps while the board runs itself */
    return 0u;
}

#if SNN_DEV_PERSIST
/* START / STOP: the RUN record (protocol.md §9) for the active network - its NV record's generation,
 * or with a compiled-in network the image's key (derived from its .snn CRC-32) */
static void save_run(uint8_t run)
{
#if SNN_DEV_FLASH_NETWORK
    snn_persist_set_image_run(dev.active->blob_crc, run, dev.period_us, dev.tm_every, dev.stale_limit);
#else
    snn_persist_set_run(dev.nv_index, run, dev.period_us, dev.tm_every, dev.stale_limit);
#endif
}
#endif

/* START: u32 period_us (0 = the network's `ctrl` period), u16 telemetry_every, u16 stale_limit.
 * Reply: u32 period_us, u16 telemetry_every, u16 stale_limit, u32 steps. */
static void on_start(const snn_packet_t *q)
{
    uint8_t *p = RESP_PAYLOAD;
    uint8_t code;
    uint16_t detail;
    if (q->length != 8u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (!dev.active->loaded) {
        reply_error(q->type, q->seq, SNN_ERR_NO_NETWORK, 0u);
        return;
    }
    code = start_loop(snn_rd32(q->payload), snn_rd16(q->payload + 4), snn_rd16(q->payload + 6), &detail);
    if (code != 0u) {
        reply_error(q->type, q->seq, code, detail);
        return;
    }
#if SNN_DEV_PERSIST
    save_run(1u); /* a reset resumes */
#endif
    snn_wr32(p, dev.period_us);
    snn_wr16(p + 4, dev.tm_every);
    snn_wr16(p + 6, dev.stale_limit);
    snn_wr32(p + 8, dev.steps);
    reply(q->type, q->seq, 12u);
}

/* STOP: back to host-stepped mode (a no-op when not running). Reply: u32 the last period handled. */
static void on_stop(const snn_packet_t *q)
{
    if (q->length != 0u) {
        reply_error(q->type, q->seq, SNN_ERR_BAD_LENGTH, 0u);
        return;
    }
    if (dev.running) {
        board_timer_stop();
        dev.running = 0u;
        dev.failsafe = 0u;
        dev.wd_last = board_millis(); /* the STEP watchdog counts again from now */
        dev.wd_armed = (uint8_t)(dev.wd_timeout != 0u);
#if SNN_DEV_PERSIST
        save_run(0u);
#endif
    }
    snn_wr32(RESP_PAYLOAD, dev.run_done);
    reply(q->type, q->seq, 4u);
}

/* SENSOR (no reply, no sequence check): i16 x n_inputs becomes the latest sample. */
static void on_sensor(const snn_packet_t *q)
{
    const slot_t *s = dev.active;
    uint16_t k, n = (uint16_t)(q->length / 2u);
    /* a sample always has the active network's n_inputs codes (COMMIT drops a waiting one) */
    if (!s->loaded || (q->length & 1u) != 0u || n != s->net.n_inputs || n > (uint16_t)SNN_DEV_SENSOR_CODES) {
        dev.sensor_rejected++;
        return;
    }
    for (k = 0u; k < n; k++) {
        g_sensor[k] = rd_i16(q->payload + 2u * k);
    }
    dev.sensor_seq = q->seq;
    dev.sensor_fresh = 1u;
    dev.sensor_samples++;
}

/* TELEMETRY (docs/protocol.md §8): u32 period, u8 flags, u8 0, u16 sample_seq, u16 spikes,
 * u16 n_in, u16 n_out, u32 step_ticks, i16 x n_in inputs, i16 x n_out outputs. */
static void send_telemetry(const snn_net_t *net, uint8_t flags, uint32_t ticks)
{
    uint8_t tm[TM_PACKET];
    uint8_t *p = tm + SNN_FRAME_HEADER;
    uint16_t k, off = (uint16_t)TM_HEAD, n;
    snn_wr32(p, dev.run_done);
    p[4] = flags;
    p[5] = 0u;
    snn_wr16(p + 6, dev.sample_seq);
    snn_wr16(p + 8, (uint16_t)((flags & SNN_TM_STEPPED) == 0u ? 0u : (net->spikes > 0xFFFFu ? 0xFFFFu : net->spikes)));
    snn_wr16(p + 10, net->n_inputs);
    snn_wr16(p + 12, net->n_outputs);
    snn_wr32(p + 14, ticks);
    for (k = 0u; k < net->n_inputs; k++) {
        snn_wr16(p + off, (uint16_t)g_in[k]);
        off = (uint16_t)(off + 2u);
    }
    for (k = 0u; k < net->n_outputs; k++) {
        snn_wr16(p + off, (uint16_t)g_out[k]);
        off = (uint16_t)(off + 2u);
    }
    n = snn_frame_seal(tm, (uint8_t)SNN_PROTOCOL_VERSION, (uint8_t)(SNN_MSG_TELEMETRY | SNN_MSG_RESPONSE),
                       (uint16_t)(dev.run_done & 0xFFFFu), off);
    send_packet(tm, n);
}

/* One timer period of the on-board loop: read the sensor, step (or hold the fail-safe), report. */
static void run_period(snn_net_t *net, uint8_t late)
{
    uint8_t flags = late ? (uint8_t)SNN_TM_LATE : 0u;
    uint32_t ticks = 0u;
    uint16_t k;
    dev.run_periods++;
    if (board_read_inputs(g_in, net->n_inputs)) {
        flags |= SNN_TM_FRESH;
        dev.stale = 0u;
        dev.failsafe = 0u; /* recovery: a fresh sample steps the network (from reset state after a fail-safe) */
    } else {
        dev.missing_samples++;
        if (dev.stale < 0xFFFFu) {
            dev.stale++;
        }
        if (!dev.failsafe && dev.stale_limit != 0u && dev.stale >= dev.stale_limit) {
            /* K periods without a sample: fail-safe outputs, network back to reset state */
            for (k = 0u; k < net->n_outputs; k++) {
                g_out[k] = snn_fail_code(net, k);
            }
            board_outputs(g_out, net->n_outputs);
            snn_reset(net);
            dev.failsafe = 1u;
            dev.failsafe_entries++;
        }
    }
    if (dev.failsafe) {
        flags |= SNN_TM_FAILSAFE; /* held: g_out keeps the fail codes */
    } else {
        ticks = run_step(net); /* a fresh sample, or the held one for fewer than K periods */
        flags |= SNN_TM_STEPPED;
    }
    if (dev.tm_every != 0u && ++dev.tm_count >= dev.tm_every) {
        dev.tm_count = 0u;
        send_telemetry(net, flags, ticks);
    }
}

/* Handle the timer: at most one period per call. Periods that passed while the previous one was
 * still being handled (or the main loop was busy) are skipped and counted as missed deadlines. */
static void onboard_check(void)
{
    uint32_t now, due;
    if (!dev.running) {
        return;
    }
    now = board_timer_periods();
    due = now - dev.run_done; /* unsigned: correct across a wrap */
    if (due == 0u) {
        return;
    }
    dev.missed_deadlines += due - 1u;
    dev.run_done = now;
    run_period(&dev.active->net, (uint8_t)(due > 1u));
}
#endif

int snn_device_sensor_take(int16_t *codes, uint16_t n)
{
#if SNN_DEV_ONBOARD
    uint16_t k;
    if (!dev.sensor_fresh || !dev.active->loaded || n != dev.active->net.n_inputs) {
        return 0;
    }
    for (k = 0u; k < n; k++) {
        codes[k] = g_sensor[k];
    }
    dev.sensor_fresh = 0u;
    dev.sample_seq = dev.sensor_seq;
    return 1;
#else
    (void)codes;
    (void)n;
    return 0;
#endif
}

/* Run one request and store its response (an ERROR included) in g_resp. */
static void execute(const snn_packet_t *q)
{
    switch (q->type) {
    case SNN_MSG_HELLO: on_hello(q); break;
#if SNN_DEV_FLASH_NETWORK
    case SNN_MSG_LOAD_BEGIN:
    case SNN_MSG_LOAD_CHUNK:
    case SNN_MSG_COMMIT: on_upload_refused(q); break;
#else
    case SNN_MSG_LOAD_BEGIN: on_load_begin(q); break;
    case SNN_MSG_LOAD_CHUNK: on_load_chunk(q); break;
    case SNN_MSG_COMMIT: on_commit(q); break;
#endif
    case SNN_MSG_STEP: on_step(q); break;
    case SNN_MSG_RESET: on_reset(q); break;
    case SNN_MSG_WATCHDOG: on_watchdog(q); break;
    case SNN_MSG_STATS: on_stats(q); break;
    case SNN_MSG_NETINFO: on_netinfo(q); break;
#if SNN_DEV_ONBOARD
    case SNN_MSG_START: on_start(q); break;
    case SNN_MSG_STOP: on_stop(q); break;
#endif
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
#if SNN_DEV_ONBOARD
    if (q->type == (uint8_t)SNN_MSG_SENSOR) {
        on_sensor(q); /* a datagram: outside the sequence, never answered */
        return;
    }
#endif
    if (q->type != (uint8_t)SNN_MSG_HELLO && dev.synced) {
        if (q->seq == dev.last_seq && snn_rd32(q->payload + q->length) == dev.last_crc) {
            send_packet(g_resp, dev.resp_len); /* a retry: the stored response, nothing executed */
            return;
        }
        /* a different request (other CRC) reusing last_seq falls through to BAD_SEQ: it never
           receives the stored reply of another request, and is not executed (protocol.md §2) */
        if (q->seq != expected) {
            send_unstored_error(q->type, q->seq, SNN_ERR_BAD_SEQ, expected);
            return;
        }
    }
    dev.last_seq = q->seq;
    dev.last_crc = snn_rd32(q->payload + q->length); /* the packet's CRC follows its payload */
    dev.synced = 1u;
    execute(q);
    send_packet(g_resp, dev.resp_len);
}

static void watchdog_check(void)
{
    snn_net_t *net = &dev.active->net;
    uint16_t k;
    if (!dev.wd_armed || dev.wd_timeout == 0u || !dev.active->loaded || running()) {
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

#if SNN_DEV_FLASH_NETWORK && SNN_DEV_ONBOARD
/* Boot of a compiled-in network (loaded): an intact RUN record of this image (protocol.md §9) decides,
 * running or stopped; without one (erased or no NV memory, or another image's) the built-in start
 * SNN_DEV_AUTOSTART_US runs, if the image has one. A START the timer refuses leaves it stopped.
 * Never inlined: its RUN record would sit in snn_device_init's frame under the boot-time snn_load,
 * the deepest stack of the 2 KB AVR (inlined, HELLO's free_ram was 420 B instead of 435 B). */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void boot_run(void)
{
    uint16_t detail;
#if SNN_DEV_PERSIST
    snn_nv_run_t run;
    if (snn_persist_image_run(dev.active->blob_crc, &run)) {
        if (run.running != 0u) {
            (void)start_loop(run.period_us, run.tm_every, run.stale_limit, &detail);
        }
        return; /* the latest START / STOP on this image wins over its built-in start */
    }
#endif
    if ((uint32_t)SNN_DEV_AUTOSTART_US != 0u) {
        (void)start_loop((uint32_t)SNN_DEV_AUTOSTART_US, (uint16_t)SNN_DEV_AUTOSTART_EVERY,
                         (uint16_t)SNN_DEV_AUTOSTART_STALE, &detail);
    }
}
#endif

#if SNN_DEV_PERSIST && !SNN_DEV_FLASH_NETWORK
/* Boot: the newest NV record whose header, blob CRC and snn_load all pass becomes the active
 * network (an older one if the newest fails); then, if the RUN record is intact, names that
 * generation and says running, the on-board loop starts with its settings. */
static void restore(void)
{
    snn_nv_rec_t rec;
    uint16_t detail;
    uint8_t k;
    for (k = 0u; k < 2u && dev.nv_index == SNN_NV_NONE; k++) {
        if (snn_persist_record(k, &rec) && snn_persist_read_blob(&rec, dev.staging->blob) &&
            load_slot(dev.staging, dev.staging->blob, rec.length, &detail) == 0u) {
            activate_staging();
            dev.nv_index = rec.index;
        }
    }
#if SNN_DEV_ONBOARD
    if (dev.nv_index != SNN_NV_NONE) {
        snn_nv_run_t run;
        if (snn_persist_read_run(&run) && run.running != 0u && run.gen == rec.gen) {
            (void)start_loop(run.period_us, run.tm_every, run.stale_limit, &detail); /* refused: stay stopped */
        }
    }
#endif
}
#endif

void snn_device_init(void)
{
    uint8_t k;
    for (k = 0u; k < N_SLOTS; k++) {
#if SNN_DEV_FLASH_NETWORK
        g_slot[k].blob = (uint8_t *)0;
#else
        g_slot[k].blob = (uint8_t *)g_blob_mem[k];
#endif
        g_slot[k].arena = (uint8_t *)g_arena_mem[k];
        g_slot[k].blob_bytes = 0u;
        g_slot[k].blob_crc = 0u;
        g_slot[k].n_synapses = 0u;
        g_slot[k].loaded = 0u;
    }
    snn_frame_rx_init(&dev.rx, g_rx_buf, (uint16_t)sizeof g_rx_buf, MAX_PAYLOAD);
    dev.active = &g_slot[0];
#if !SNN_DEV_FLASH_NETWORK
    dev.staging = &g_slot[1];
#endif
    dev.resp_len = 0u;
    dev.last_seq = 0u;
    dev.last_crc = 0u;
    dev.synced = 0u;
    dev.loading = 0u;
    dev.wd_armed = 0u;
    dev.wd_tripped = 0u;
    dev.wd_timeout = 0u;
    dev.wd_last = board_millis();
#if !SNN_DEV_FLASH_NETWORK
    dev.load_total = dev.load_crc = dev.load_received = dev.load_running_crc = 0u;
#endif
    dev.steps = dev.watchdog_trips = dev.errors_sent = 0u;
    dev.last_step_cycles = dev.max_step_cycles = dev.rx_bytes = dev.tx_bytes = 0u;
#if SNN_DEV_ONBOARD
    dev.running = dev.failsafe = dev.sensor_fresh = 0u;
    dev.sensor_seq = dev.sample_seq = 0u;
    dev.tm_every = dev.tm_count = dev.stale_limit = dev.stale = 0u;
    dev.run_done = dev.period_us = 0u;
    dev.run_periods = dev.missed_deadlines = dev.missing_samples = dev.failsafe_entries = 0u;
    dev.sensor_samples = dev.sensor_rejected = 0u;
#endif
#if SNN_DEV_PERSIST && !SNN_DEV_FLASH_NETWORK
    dev.nv_index = SNN_NV_NONE;
    restore();
#endif
#if SNN_DEV_FLASH_NETWORK
    {
        uint32_t len = 0u;
        uint16_t detail;
        const uint8_t *blob = board_flash_network(&len);
        /* a blob the build did not check (invalid, or beyond the limits) leaves no network: NETINFO
           says loaded 0 and STEP answers NO_NETWORK */
        if (blob != (const uint8_t *)0 && load_slot(dev.active, blob, len, &detail) == 0u) {
#if SNN_DEV_ONBOARD
            boot_run();
#endif
        }
    }
#endif
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
#if SNN_DEV_ONBOARD
            onboard_check(); /* a burst of requests does not delay the loop by more than one request */
#endif
        } else if (r == SNN_FRAME_BAD_LENGTH) {
            send_unstored_error(pkt.type, pkt.seq, SNN_ERR_BAD_LENGTH, 0u);
        }
    }
    watchdog_check();
#if SNN_DEV_ONBOARD
    onboard_check();
#endif
}

const snn_net_t *snn_device_network(void)
{
    return dev.active->loaded ? &dev.active->net : (const snn_net_t *)0;
}
