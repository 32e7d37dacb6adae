/*
 * snn_load.c - parse and validate a `.snn` blob (docs/snn-format.md), then lay the network out
 * in the caller's arena (layout: snn.h).
 *
 * Validation happens completely before the arena is touched, in exactly the order of the
 * "Check order" list of docs/snn-format.md (the same order as snnctl/snnfile.py, so both report
 * the same first error). Every read is preceded by a check that it lies inside [blob, blob + len):
 * the header reads need len >= 28; section bodies are proven to lie in [24, file_bytes - 4);
 * records are read only after the body length has been matched against the record count; weight
 * blocks only after their extent has been matched against the WGHT body.
 *
 * Every byte of the blob is read through SNN_BLOB_U8 (snn_blob.h): rd16/rd32 and the single-byte
 * fields below, so a port can keep the blob in program memory (AVR PROGMEM) and read it there.
 *
 * Loading is not time-critical, so this file may divide; snn_step.c does not.
 */
#include <stddef.h>

#include "snn.h"
#include "snn_blob.h"
#include "snn_crc32.h"
#include "snn_json.h"

#define SNN_HEADER_BYTES 24u
#define SNN_MIN_FILE_BYTES 28u /* header + CRC */
#define SNN_N_REQUIRED 6u
#define SNN_POP_REC 12u
#define SNN_NEUR_REC 12u
#define SNN_PROJ_REC 16u
#define SNN_INPQ_REC 8u
#define SNN_OUTQ_REC 12u
#define SNN_DECAY_ONE 4096u
#define SNN_MAX_SHIFT 23u
#define SNN_MAX_DELAY 15u
#define SNN_MAX_REFRACTORY 15u

enum { SEC_POPS, SEC_NEUR, SEC_PROJ, SEC_WGHT, SEC_INPQ, SEC_OUTQ };

#define SNN_TAG(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

static const uint32_t snn_required_tags[SNN_N_REQUIRED] = {
    SNN_TAG('P', 'O', 'P', 'S'), SNN_TAG('N', 'E', 'U', 'R'), SNN_TAG('P', 'R', 'O', 'J'),
    SNN_TAG('W', 'G', 'H', 'T'), SNN_TAG('I', 'N', 'P', 'Q'), SNN_TAG('O', 'U', 'T', 'Q'),
};
#define SNN_TAG_FAIL SNN_TAG('f', 'a', 'i', 'l')
#define SNN_TAG_META SNN_TAG('m', 'e', 't', 'a')
#define SNN_TAG_CTRL SNN_TAG('c', 't', 'r', 'l')
#define SNN_TAG_UNIT SNN_TAG('u', 'n', 'i', 't')
#define SNN_UNIT_IN_REC 12u      /* `unit` input record (snn_units.c) */
#define SNN_UNIT_OUT_REC 20u     /* `unit` output record */
#define SNN_UNIT_MAX_SHIFT 62u   /* fixed-point shift of a `unit` ratio */
#define SNN_UNIT_MAX_MULT INT32_C(1073741823) /* |mult| <= 2^30 - 1 (snn_units.c widths) */

/* What validation learned about the blob: header counts and where the section bodies are. */
typedef struct {
    uint32_t off[SNN_N_REQUIRED]; /* body offsets of the required sections */
    uint32_t len[SNN_N_REQUIRED]; /* body lengths */
    uint32_t fail_off;            /* body offset of the last `fail` section, 0 = none */
    uint32_t meta_off;            /* body offset of the last `meta` section, 0 = none */
    uint32_t ctrl_off;            /* body offset of the last `ctrl` section, 0 = none */
    uint32_t unit_off;            /* body offset of the last `unit` section, 0 = none */
    uint16_t n_pops, n_projs, n_inputs, n_outputs;
    uint32_t n_neurons;
} snn_blob_t;

/* Byte offsets of the arena regions (see snn.h) and the total. */
typedef struct {
    uint32_t pops, projs, outs, du, dv, bias, theta, u, v, a, r, hist, acc, cur, rows, cols;
    uint32_t total;
    uint32_t n_rows, n_cols; /* sparse entries */
    uint16_t max_pop;
} snn_plan_t;

/* ---- little-endian reads (byte by byte: the blob may be unaligned) ---------------------------- */
static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)SNN_BLOB_U8(p) | (uint16_t)((uint16_t)SNN_BLOB_U8(p + 1) << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)SNN_BLOB_U8(p) | ((uint32_t)SNN_BLOB_U8(p + 1) << 8) | ((uint32_t)SNN_BLOB_U8(p + 2) << 16) |
           ((uint32_t)SNN_BLOB_U8(p + 3) << 24);
}

/* Two's-complement reinterpretation without implementation-defined conversions. */
static int32_t as_i32(uint32_t x)
{
    if (x < UINT32_C(0x80000000)) {
        return (int32_t)x;
    }
    return -(int32_t)(~x) - 1; /* ~x < 2^31 */
}

static int32_t as_i16(uint16_t x)
{
    return x < 0x8000u ? (int32_t)x : (int32_t)x - INT32_C(65536);
}

static int32_t as_i8(uint8_t x)
{
    return x < 0x80u ? (int32_t)x : (int32_t)x - INT32_C(256);
}

/* An f32 that is finite and > 0: sign bit clear, exponent not all ones, not +0. No float math. */
static int f32_positive_finite(uint32_t bits)
{
    return bits != 0u && bits < UINT32_C(0x7F800000);
}

static uint16_t pop_size(const uint8_t *b, const snn_blob_t *L, uint32_t p)
{
    return rd16(b + L->off[SEC_POPS] + SNN_POP_REC * p + 4u);
}

/* ---- header and section framing -------------------------------------------------------------- */
static int32_t check_header(const uint8_t *b, uint32_t len, snn_blob_t *L, uint32_t *end)
{
    uint32_t file_bytes, n_neurons;
    uint16_t n_pops, n_projs, n_inputs, n_outputs;

    if (len < SNN_MIN_FILE_BYTES) {
        return SNN_E_TRUNCATED;
    }
    if (SNN_BLOB_U8(b) != 'S' || SNN_BLOB_U8(b + 1) != 'N' || SNN_BLOB_U8(b + 2) != 'N' ||
        SNN_BLOB_U8(b + 3) != 'C') {
        return SNN_E_BAD_MAGIC;
    }
    if (rd16(b + 4) != SNN_FORMAT_VERSION) {
        return SNN_E_BAD_VERSION;
    }
    if (rd16(b + 6) != SNN_HEADER_BYTES) {
        return SNN_E_BAD_COUNT;
    }
    file_bytes = rd32(b + 8);
    n_pops = rd16(b + 12);
    n_projs = rd16(b + 14);
    n_inputs = rd16(b + 16);
    n_outputs = rd16(b + 18);
    n_neurons = rd32(b + 20);
    if (n_pops < 1u || n_pops > SNN_MAX_POPULATIONS || n_projs > SNN_MAX_PROJECTIONS || n_inputs < 1u ||
        n_inputs > SNN_MAX_INPUTS || n_outputs < 1u || n_outputs > SNN_MAX_OUTPUTS || n_neurons < 1u ||
        n_neurons > SNN_MAX_NEURONS) {
        return SNN_E_BAD_COUNT;
    }
    if ((file_bytes & 3u) != 0u || file_bytes < SNN_MIN_FILE_BYTES) {
        return SNN_E_BAD_COUNT;
    }
    if (len < file_bytes) {
        return SNN_E_TRUNCATED;
    }
    if (len != file_bytes) {
        return SNN_E_BAD_COUNT;
    }
    *end = file_bytes - 4u;
    if (snn_crc32_blob(0u, b, *end) != rd32(b + *end)) {
        return SNN_E_BAD_CRC;
    }
    L->n_pops = n_pops;
    L->n_projs = n_projs;
    L->n_inputs = n_inputs;
    L->n_outputs = n_outputs;
    L->n_neurons = n_neurons;
    return SNN_OK;
}

/* Walk the section frames between the header and the CRC (structure only, contents later). */
static int32_t walk_sections(const uint8_t *b, uint32_t end, snn_blob_t *L)
{
    uint32_t pos = SNN_HEADER_BYTES;
    uint32_t seen = 0u; /* required sections found so far (they must come in order) */
    L->fail_off = 0u;
    L->meta_off = 0u;
    L->ctrl_off = 0u;
    L->unit_off = 0u;
    while (pos < end) {
        uint32_t tag, body_len, body, rem, padded, i, idx = SNN_N_REQUIRED;
        if (end - pos < 8u) {
            return SNN_E_TRUNCATED;
        }
        tag = rd32(b + pos);
        body_len = rd32(b + pos + 4u);
        body = pos + 8u;
        rem = end - body;
        if (body_len > rem) {
            return SNN_E_TRUNCATED;
        }
        padded = (body_len + 3u) & ~UINT32_C(3); /* body_len <= rem < 2^32 - 4: no wrap */
        if (padded > rem) {
            return SNN_E_TRUNCATED;
        }
        for (i = 0u; i < SNN_N_REQUIRED; i++) {
            if (tag == snn_required_tags[i]) {
                idx = i;
            }
        }
        if (idx < SNN_N_REQUIRED) {
            if (idx != seen) { /* repeated (idx < seen) or out of order (idx > seen) */
                return SNN_E_BAD_SECTION;
            }
            L->off[idx] = body;
            L->len[idx] = body_len;
            seen++;
        } else if ((tag & 0xFFu) < 'a' || (tag & 0xFFu) > 'z') { /* not a lower-case (optional) tag */
            return SNN_E_BAD_SECTION;
        } else {
            if (seen != SNN_N_REQUIRED) { /* optional sections follow the required ones */
                return SNN_E_BAD_SECTION;
            }
            if (tag == SNN_TAG_FAIL) {
                /* a repeated optional section: the last one counts. Its length is the frame's
                 * length field at fail_off - 4, re-read by check_io. */
                L->fail_off = body;
            } else if (tag == SNN_TAG_META) {
                L->meta_off = body; /* likewise */
            } else if (tag == SNN_TAG_CTRL) {
                L->ctrl_off = body; /* likewise */
            } else if (tag == SNN_TAG_UNIT) {
                L->unit_off = body; /* likewise */
            }
        }
        pos = body + padded;
    }
    if (seen != SNN_N_REQUIRED) {
        return SNN_E_BAD_SECTION;
    }
    return SNN_OK;
}

/* ---- section contents ------------------------------------------------------------------------ */
static int32_t check_pops(const uint8_t *b, const snn_blob_t *L)
{
    uint32_t p, sum = 0u;
    const uint8_t *rec;
    if (L->len[SEC_POPS] != SNN_POP_REC * (uint32_t)L->n_pops) {
        return SNN_E_BAD_COUNT;
    }
    for (p = 0u; p < L->n_pops; p++) {
        uint16_t n = pop_size(b, L, p);
        if (n < 1u) {
            return SNN_E_BAD_COUNT;
        }
        sum += n; /* <= 254 * 65535 < 2^24 */
    }
    if (sum != L->n_neurons) {
        return SNN_E_BAD_COUNT;
    }
    for (p = 0u; p < L->n_pops; p++) {
        int32_t a_step;
        rec = b + L->off[SEC_POPS] + SNN_POP_REC * p;
        a_step = as_i32(rd32(rec + 8));
        if (SNN_BLOB_U8(rec) > (uint8_t)SNN_DELTA || SNN_BLOB_U8(rec + 1) > (uint8_t)SNN_RESET_SOFT ||
            SNN_BLOB_U8(rec + 2) > SNN_MAX_REFRACTORY || SNN_BLOB_U8(rec + 3) != 0u || rd16(rec + 6) > SNN_DECAY_ONE ||
            a_step < 0 || a_step > SNN_MAX24) {
            return SNN_E_BAD_VALUE;
        }
    }
    return SNN_OK;
}

static int32_t check_neur(const uint8_t *b, const snn_blob_t *L)
{
    uint32_t i;
    if (L->len[SEC_NEUR] != SNN_NEUR_REC * L->n_neurons) {
        return SNN_E_BAD_COUNT;
    }
    for (i = 0u; i < L->n_neurons; i++) {
        const uint8_t *rec = b + L->off[SEC_NEUR] + SNN_NEUR_REC * i;
        int32_t bias = as_i32(rd32(rec + 4));
        int32_t theta = as_i32(rd32(rec + 8));
        if (rd16(rec) > SNN_DECAY_ONE || rd16(rec + 2) > SNN_DECAY_ONE || bias < SNN_MIN24 || bias > SNN_MAX24 ||
            theta < 1 || theta > SNN_MAX24) {
            return SNN_E_BAD_VALUE;
        }
    }
    return SNN_OK;
}

/* Bytes of a weight block; 0 with *err set if it cannot fit in `room` bytes (overflow-safe). */
static uint32_t block_bytes(uint32_t n_src, uint32_t nnz, int sparse, uint32_t room, int32_t *err)
{
    uint32_t rows;
    *err = SNN_OK;
    if (!sparse) {
        if (nnz > room) {
            *err = SNN_E_BAD_INDEX;
        }
        return nnz;
    }
    rows = 4u * (n_src + 1u); /* n_src <= 65535: < 2^19 */
    /* need rows + 2 * nnz + nnz <= room, evaluated without forming a sum that could wrap */
    if (rows > room || nnz > (room - rows) / 3u) {
        *err = SNN_E_BAD_INDEX;
        return 0u;
    }
    return rows + 3u * nnz;
}

/* Sparse block: row pointers, column order, then explicit zeros (the index checks all come
 * before the value check, as in snnfile.py). */
static int32_t check_sparse(const uint8_t *blk, uint32_t n_src, uint32_t n_dst, uint32_t nnz)
{
    uint32_t i, k;
    const uint8_t *col = blk + 4u * (n_src + 1u);
    const uint8_t *w = col + 2u * nnz;
    if (rd32(blk) != 0u || rd32(blk + 4u * n_src) != nnz) {
        return SNN_E_BAD_INDEX;
    }
    for (i = 0u; i < n_src; i++) {
        if (rd32(blk + 4u * (i + 1u)) < rd32(blk + 4u * i)) {
            return SNN_E_BAD_INDEX;
        }
    }
    /* rows are now 0 = row[0] <= row[1] <= ... <= row[n_src] = nnz */
    for (i = 0u; i < n_src; i++) {
        uint32_t lo = rd32(blk + 4u * i), hi = rd32(blk + 4u * (i + 1u));
        for (k = lo; k < hi; k++) {
            uint16_t c = rd16(col + 2u * k);
            if (c >= n_dst || (k > lo && c <= rd16(col + 2u * (k - 1u)))) {
                return SNN_E_BAD_INDEX;
            }
        }
    }
    for (k = 0u; k < nnz; k++) {
        if (SNN_BLOB_U8(w + k) == 0u) {
            return SNN_E_BAD_VALUE; /* sparse blocks store only non-zero weights */
        }
    }
    return SNN_OK;
}

static int32_t check_proj(const uint8_t *b, const snn_blob_t *L)
{
    uint32_t k, used = 0u;
    const uint32_t wlen = L->len[SEC_WGHT];
    if (L->len[SEC_PROJ] != SNN_PROJ_REC * (uint32_t)L->n_projs) {
        return SNN_E_BAD_COUNT;
    }
    for (k = 0u; k < L->n_projs; k++) {
        const uint8_t *rec = b + L->off[SEC_PROJ] + SNN_PROJ_REC * k;
        uint16_t src = rd16(rec), dst = rd16(rec + 2);
        uint8_t flags = SNN_BLOB_U8(rec + 4), delay = SNN_BLOB_U8(rec + 5), reserved = SNN_BLOB_U8(rec + 7);
        int32_t expo = as_i8(SNN_BLOB_U8(rec + 6));
        uint32_t nnz = rd32(rec + 8), woff = rd32(rec + 12);
        uint32_t lag, n_src, n_dst, prod, size;
        int sparse = (flags & 1u) != 0u;
        int32_t err;
        if (dst >= L->n_pops || (src >= L->n_pops && src != SNN_INPUT)) {
            return SNN_E_BAD_INDEX;
        }
        if ((flags & ~3u) != 0u || reserved != 0u || delay > SNN_MAX_DELAY || expo < -16 || expo > 16) {
            return SNN_E_BAD_VALUE;
        }
        lag = (uint32_t)delay + (uint32_t)((flags >> 1) & 1u);
        if (src == SNN_INPUT) {
            if (lag != 0u) {
                return SNN_E_BAD_VALUE;
            }
        } else if (lag == 0u && src >= dst) {
            return SNN_E_BAD_INDEX;
        }
        n_src = src == SNN_INPUT ? (uint32_t)L->n_inputs : (uint32_t)pop_size(b, L, src);
        n_dst = pop_size(b, L, dst);
        if ((woff & 3u) != 0u || woff < used) {
            return SNN_E_BAD_INDEX;
        }
        prod = n_src * n_dst; /* both <= 65535: < 2^32 */
        if (sparse ? nnz > prod : nnz != prod) {
            return SNN_E_BAD_COUNT;
        }
        if (woff > wlen) {
            return SNN_E_BAD_INDEX;
        }
        size = block_bytes(n_src, nnz, sparse, wlen - woff, &err);
        if (err != SNN_OK) {
            return err;
        }
        if (sparse) {
            err = check_sparse(b + L->off[SEC_WGHT] + woff, n_src, n_dst, nnz);
            if (err != SNN_OK) {
                return err;
            }
        }
        used = woff + size;
    }
    return SNN_OK;
}

/* `unit` (raw-unit conversion, snn_units.c): the length, then per input and per output record:
 * shift <= 62, |mult| <= 2^30 - 1, reserved bytes 0, and for outputs raw_min <= raw_max. */
static int32_t check_unit(const uint8_t *b, const snn_blob_t *L)
{
    uint32_t k, n = (uint32_t)L->n_inputs + (uint32_t)L->n_outputs;
    if (L->unit_off == 0u) {
        return SNN_OK;
    }
    if (rd32(b + L->unit_off - 4u) != SNN_UNIT_IN_REC * L->n_inputs + SNN_UNIT_OUT_REC * L->n_outputs) {
        return SNN_E_BAD_COUNT;
    }
    for (k = 0u; k < n; k++) {
        const int out = k >= L->n_inputs;
        const uint8_t *rec = b + L->unit_off +
                             (out ? SNN_UNIT_IN_REC * L->n_inputs + SNN_UNIT_OUT_REC * (k - L->n_inputs)
                                  : SNN_UNIT_IN_REC * k);
        const uint8_t *tail = rec + (out ? 16u : 8u); /* u8 shift, 3 reserved */
        int32_t mult = as_i32(rd32(rec + 4));
        if (SNN_BLOB_U8(tail) > SNN_UNIT_MAX_SHIFT || SNN_BLOB_U8(tail + 1) != 0u || SNN_BLOB_U8(tail + 2) != 0u ||
            SNN_BLOB_U8(tail + 3) != 0u || mult > SNN_UNIT_MAX_MULT || mult < -SNN_UNIT_MAX_MULT) {
            return SNN_E_BAD_VALUE;
        }
        if (out && as_i32(rd32(rec + 8)) > as_i32(rd32(rec + 12))) { /* raw_min > raw_max */
            return SNN_E_BAD_VALUE;
        }
    }
    return SNN_OK;
}

static int32_t check_io(const uint8_t *b, const snn_blob_t *L)
{
    uint32_t k;
    if (L->len[SEC_INPQ] != SNN_INPQ_REC * (uint32_t)L->n_inputs) {
        return SNN_E_BAD_COUNT;
    }
    for (k = 0u; k < L->n_inputs; k++) {
        const uint8_t *rec = b + L->off[SEC_INPQ] + SNN_INPQ_REC * k;
        if (!f32_positive_finite(rd32(rec)) || rd16(rec + 6) != 0u) {
            return SNN_E_BAD_VALUE;
        }
    }
    if (L->len[SEC_OUTQ] != SNN_OUTQ_REC * (uint32_t)L->n_outputs) {
        return SNN_E_BAD_COUNT;
    }
    for (k = 0u; k < L->n_outputs; k++) {
        const uint8_t *rec = b + L->off[SEC_OUTQ] + SNN_OUTQ_REC * k;
        uint16_t pop = rd16(rec);
        if (pop >= L->n_pops || rd16(rec + 2) >= pop_size(b, L, pop)) {
            return SNN_E_BAD_INDEX;
        }
        if (SNN_BLOB_U8(rec + 4) > SNN_MAX_SHIFT || SNN_BLOB_U8(rec + 5) != 0u || !f32_positive_finite(rd32(rec + 8))) {
            return SNN_E_BAD_VALUE;
        }
    }
    /* `meta` is host-side data, but a device must judge the file as the host does */
    if (L->meta_off != 0u && !snn_json_is_object(b + L->meta_off, rd32(b + L->meta_off - 4u))) {
        return SNN_E_BAD_VALUE;
    }
    if (L->fail_off != 0u && rd32(b + L->fail_off - 4u) != 2u * (uint32_t)L->n_outputs) {
        return SNN_E_BAD_COUNT;
    }
    /* `ctrl` (the time step = control period, host-side too): one u32 of microseconds, not 0 */
    if (L->ctrl_off != 0u) {
        if (rd32(b + L->ctrl_off - 4u) != 4u) {
            return SNN_E_BAD_COUNT;
        }
        if (rd32(b + L->ctrl_off) == 0u) {
            return SNN_E_BAD_VALUE;
        }
    }
    return check_unit(b, L);
}

static int32_t validate(const uint8_t *b, uint32_t len, snn_blob_t *L)
{
    uint32_t end = 0u;
    int32_t err = check_header(b, len, L, &end);
    if (err == SNN_OK) {
        err = walk_sections(b, end, L);
    }
    if (err == SNN_OK) {
        err = check_pops(b, L);
    }
    if (err == SNN_OK) {
        err = check_neur(b, L);
    }
    if (err == SNN_OK) {
        err = check_proj(b, L);
    }
    if (err == SNN_OK) {
        err = check_io(b, L);
    }
    return err;
}

/* ---- arena plan ------------------------------------------------------------------------------ */
/* History depth of population p: 1 + the largest lag of the projections reading it. */
static uint8_t pop_depth(const uint8_t *b, const snn_blob_t *L, uint16_t p)
{
    uint32_t k, depth = 1u;
    for (k = 0u; k < L->n_projs; k++) {
        const uint8_t *rec = b + L->off[SEC_PROJ] + SNN_PROJ_REC * k;
        if (rd16(rec) == p) {
            uint32_t lag = (uint32_t)SNN_BLOB_U8(rec + 5) + (uint32_t)((SNN_BLOB_U8(rec + 4) >> 1) & 1u);
            if (lag + 1u > depth) {
                depth = lag + 1u;
            }
        }
    }
    return (uint8_t)depth;
}

/* Reserve `bytes` (rounded up to 4) at the end of the plan; returns the region's offset.
 * Saturates the total at UINT32_MAX instead of wrapping. */
static uint32_t reserve(snn_plan_t *pl, uint32_t bytes)
{
    uint32_t at = pl->total;
    uint32_t padded = bytes > UINT32_C(0xFFFFFFF0) ? UINT32_C(0xFFFFFFF0) : (bytes + 3u) & ~UINT32_C(3);
    pl->total = padded > UINT32_C(0xFFFFFFFF) - at ? UINT32_C(0xFFFFFFFF) : at + padded;
    return at;
}

static void plan_arena(const uint8_t *b, const snn_blob_t *L, snn_plan_t *pl)
{
    uint32_t p, k, hist_words = 0u;
    const uint32_t n = L->n_neurons;
#if SNN_PACKED_STATE
    uint32_t n_alif = 0u, n_refr = 0u; /* neurons with an adaptation cell / a refractory counter */
#endif
    pl->total = 0u;
    pl->max_pop = 0u;
    pl->n_rows = 0u;
    pl->n_cols = 0u;
    for (p = 0u; p < L->n_pops; p++) {
        const uint16_t size = pop_size(b, L, p);
#if SNN_PACKED_STATE
        const uint8_t *rec;
#endif
        uint32_t words = ((uint32_t)size + 31u) >> 5;
        hist_words += (uint32_t)pop_depth(b, L, (uint16_t)p) * words; /* <= 16 * (65535/32 + 254) */
        if (size > pl->max_pop) {
            pl->max_pop = size;
        }
#if SNN_PACKED_STATE
        rec = b + L->off[SEC_POPS] + SNN_POP_REC * p;
        n_alif += SNN_BLOB_U8(rec) == (uint8_t)SNN_ALIF ? size : 0u;
        n_refr += SNN_BLOB_U8(rec + 2) != 0u ? size : 0u;
#endif
    }
    for (k = 0u; k < L->n_projs; k++) {
        const uint8_t *rec = b + L->off[SEC_PROJ] + SNN_PROJ_REC * k;
        if ((SNN_BLOB_U8(rec + 4) & 1u) != 0u) {
            uint16_t src = rd16(rec);
            uint32_t n_src = src == SNN_INPUT ? (uint32_t)L->n_inputs : (uint32_t)pop_size(b, L, src);
            /* both sums are bounded by the WGHT body length, which is < 2^32 */
            pl->n_rows += n_src + 1u;
            pl->n_cols += rd32(rec + 8);
        }
    }
    pl->pops = reserve(pl, (uint32_t)sizeof(snn_pop_t) * L->n_pops);
    pl->projs = reserve(pl, (uint32_t)sizeof(snn_proj_t) * L->n_projs);
    pl->outs = reserve(pl, (uint32_t)sizeof(snn_out_t) * L->n_outputs);
#if SNN_PACKED_STATE
    /* parameters stay in the blob; u, v, a, r must stay adjacent and in this order (snn_reset) */
    pl->u = reserve(pl, 3u * n);
    pl->v = reserve(pl, 3u * n);
    pl->a = reserve(pl, 3u * n_alif);
    pl->r = reserve(pl, (n_refr + 1u) >> 1); /* two 4-bit counters per byte */
#else
    pl->du = reserve(pl, 2u * n);
    pl->dv = reserve(pl, 2u * n);
    pl->bias = reserve(pl, 4u * n);
    pl->theta = reserve(pl, 4u * n);
    pl->u = reserve(pl, 8u * n); /* u and v interleaved: u_i, v_i, u_{i+1}, ... (snn_cells.h) */
    pl->v = pl->u + 4u;
    pl->a = reserve(pl, 4u * n);
    pl->r = reserve(pl, n);
#endif
    pl->hist = reserve(pl, 4u * hist_words);
    pl->acc = reserve(pl, 4u * (uint32_t)pl->max_pop);
    pl->cur = reserve(pl, 4u * (uint32_t)pl->max_pop);
#if !SNN_PACKED_STATE /* packed: the sparse indices are read from the blob in place */
    /* n_rows <= WGHT/4 and n_cols <= WGHT/2 (each row entry is 4 bytes, each column 2 bytes of
     * the blob), so these products do not wrap */
    pl->rows = reserve(pl, 4u * pl->n_rows);
    pl->cols = reserve(pl, 2u * pl->n_cols);
#endif
}

/* What snn_measure and snn_load both start with: check the blob, then plan its arena. */
static int32_t check_and_plan(const uint8_t *blob, uint32_t len, snn_blob_t *L, snn_plan_t *pl)
{
    int32_t err;
    if (blob == NULL) {
        return SNN_E_TRUNCATED;
    }
    err = validate(blob, len, L);
    if (err != SNN_OK) {
        return err;
    }
    plan_arena(blob, L, pl);
    return SNN_OK;
}

/* ---- public ---------------------------------------------------------------------------------- */
int32_t snn_measure(const uint8_t *blob, uint32_t len, uint32_t *arena_bytes_needed)
{
    snn_blob_t L;
    snn_plan_t pl;
    int32_t err = check_and_plan(blob, len, &L, &pl);
    if (err != SNN_OK) {
        return err;
    }
    if (arena_bytes_needed != NULL) {
        *arena_bytes_needed = pl.total;
    }
    return pl.total == UINT32_C(0xFFFFFFFF) ? SNN_E_TOO_LARGE : SNN_OK;
}

int32_t snn_load(snn_net_t *net, const uint8_t *blob, uint32_t len, uint8_t *arena, uint32_t arena_bytes)
{
    snn_blob_t L;
    snn_plan_t pl;
    int32_t err;
    uint32_t p, k, first, skip, hist_word;
#if SNN_PACKED_STATE
    uint32_t a_index = 0u, r_index = 0u;
#else
    uint32_t i, row_i, col_i;
#endif
    uint8_t *base;

    net->arena_bytes = 0u;
    err = check_and_plan(blob, len, &L, &pl);
    if (err != SNN_OK) {
        return err;
    }
    net->arena_bytes = pl.total;
    /* align the arena start to 4 bytes (uintptr_t: the conversion every C99 target provides) */
    skip = arena == NULL ? 0u : (uint32_t)((4u - (uint32_t)((uintptr_t)arena & 3u)) & 3u);
    if (arena == NULL || arena_bytes < skip || arena_bytes - skip < pl.total ||
        pl.total == UINT32_C(0xFFFFFFFF)) {
        return SNN_E_TOO_LARGE;
    }
    base = arena + skip;

    net->blob = blob;
    net->arena = base;
    net->n_pops = L.n_pops;
    net->n_projs = L.n_projs;
    net->n_inputs = L.n_inputs;
    net->n_outputs = L.n_outputs;
    net->n_neurons = (uint16_t)L.n_neurons;
    net->n_synapses = 0u;
    net->max_pop = pl.max_pop;
    net->fail_off = L.fail_off;
#if SNN_CORE_UNITS
    net->inpq_off = L.off[SEC_INPQ];
    net->outq_off = L.off[SEC_OUTQ];
    net->unit_off = L.unit_off;
#endif
    net->period_us = L.ctrl_off != 0u ? rd32(blob + L.ctrl_off) : 0u;
    /* Every region offset is a multiple of 4 from a 4-aligned base; the void* step avoids
     * cast-align warnings. */
    net->pops = (snn_pop_t *)(void *)(base + pl.pops);
    net->projs = (snn_proj_t *)(void *)(base + pl.projs);
    net->outs = (snn_out_t *)(void *)(base + pl.outs);
#if SNN_PACKED_STATE
    net->neur_off = L.off[SEC_NEUR];
    net->pops_off = L.off[SEC_POPS];
#else
    net->du = (uint16_t *)(void *)(base + pl.du);
    net->dv = (uint16_t *)(void *)(base + pl.dv);
    net->bias = (int32_t *)(void *)(base + pl.bias);
    net->theta = (int32_t *)(void *)(base + pl.theta);
    net->rows = (uint32_t *)(void *)(base + pl.rows);
    net->cols = (uint16_t *)(void *)(base + pl.cols);
#endif
    net->u = (snn_cell_t *)(void *)(base + pl.u);
    net->v = (snn_cell_t *)(void *)(base + pl.v);
    net->a = (snn_cell_t *)(void *)(base + pl.a);
    net->r = base + pl.r;
    net->hist = (uint32_t *)(void *)(base + pl.hist);
    net->acc = (int32_t *)(void *)(base + pl.acc);
    net->cur = (int32_t *)(void *)(base + pl.cur);

    /* populations; proj_end first counts the incoming projections */
    first = 0u;
    hist_word = 0u;
    for (p = 0u; p < L.n_pops; p++) {
        const uint8_t *rec = blob + L.off[SEC_POPS] + SNN_POP_REC * p;
        snn_pop_t *pop = &net->pops[p];
        pop->kind = SNN_BLOB_U8(rec);
        pop->reset = SNN_BLOB_U8(rec + 1);
        pop->refractory = SNN_BLOB_U8(rec + 2);
        pop->n = rd16(rec + 4);
#if SNN_PACKED_STATE /* da and a_step are read from this record by the step */
        pop->a_index = (uint16_t)a_index;
        pop->r_index = (uint16_t)r_index;
        a_index += pop->kind == (uint8_t)SNN_ALIF ? pop->n : 0u;
        r_index += pop->refractory != 0u ? pop->n : 0u;
        pop->hist_word = (uint16_t)hist_word; /* < 2^16 (snn.h) */
#else
        pop->da = rd16(rec + 6);
        pop->a_step = as_i32(rd32(rec + 8));
        pop->hist_word = hist_word;
        pop->shared = 0u; /* set below, once the parameters are copied */
#endif
        pop->first = (uint16_t)first;
        pop->words = (uint16_t)(((uint32_t)pop->n + 31u) >> 5);
        pop->depth = pop_depth(blob, &L, (uint16_t)p);
        pop->head = 0u;
#if !SNN_PACKED_STATE
        pop->n_spikes = 0u;
#endif
        pop->proj_end = 0u;
        hist_word += (uint32_t)pop->depth * pop->words;
        first += pop->n;
    }
    for (k = 0u; k < L.n_projs; k++) {
        net->pops[rd16(blob + L.off[SEC_PROJ] + SNN_PROJ_REC * k + 2u)].proj_end++;
    }
    /* prefix sums: proj_begin = start of the population's block; proj_end = fill cursor */
    first = 0u;
    for (p = 0u; p < L.n_pops; p++) {
        uint16_t count = net->pops[p].proj_end;
        net->pops[p].proj_begin = (uint16_t)first;
        net->pops[p].proj_end = (uint16_t)first;
        first += count;
    }
    /* projections, placed by destination in file order (the order of summation, §3) */
#if !SNN_PACKED_STATE
    row_i = 0u;
    col_i = 0u;
#endif
    for (k = 0u; k < L.n_projs; k++) {
        const uint8_t *rec = blob + L.off[SEC_PROJ] + SNN_PROJ_REC * k;
        uint16_t dst = rd16(rec + 2);
        snn_proj_t *q = &net->projs[net->pops[dst].proj_end++];
        q->src = rd16(rec);
#if !SNN_PACKED_STATE
        q->dst = dst;
#endif
        q->sparse = (uint8_t)(SNN_BLOB_U8(rec + 4) & 1u);
        q->lag = (uint8_t)(SNN_BLOB_U8(rec + 5) + ((SNN_BLOB_U8(rec + 4) >> 1) & 1u));
        q->exponent = (int8_t)as_i8(SNN_BLOB_U8(rec + 6));
        q->reserved = 0u;
        net->n_synapses += rd32(rec + 8); /* <= WGHT body length: no wrap */
        q->n_dst = net->pops[dst].n;
#if SNN_PACKED_STATE
        q->w_off = L.off[SEC_WGHT] + rd32(rec + 12); /* dense: the weights; sparse: the block */
#else
        q->n_src = q->src == SNN_INPUT ? L.n_inputs : net->pops[q->src].n;
        q->nnz = rd32(rec + 8);
        q->row_index = 0u;
        q->col_index = 0u;
        if (q->sparse) {
            const uint8_t *blk = blob + L.off[SEC_WGHT] + rd32(rec + 12);
            const uint8_t *col = blk + 4u * ((uint32_t)q->n_src + 1u);
            q->row_index = row_i;
            q->col_index = col_i;
            for (i = 0u; i <= q->n_src; i++) {
                net->rows[row_i++] = rd32(blk + 4u * i);
            }
            for (i = 0u; i < q->nnz; i++) {
                net->cols[col_i++] = rd16(col + 2u * i);
            }
            q->w_off = (uint32_t)(col + 2u * q->nnz - blob);
        } else {
            q->w_off = L.off[SEC_WGHT] + rd32(rec + 12);
        }
#endif
    }
    for (k = 0u; k < L.n_outputs; k++) {
        const uint8_t *rec = blob + L.off[SEC_OUTQ] + SNN_OUTQ_REC * k;
        net->outs[k].neuron = (uint16_t)(net->pops[rd16(rec)].first + rd16(rec + 2));
        net->outs[k].shift = SNN_BLOB_U8(rec + 4);
        net->outs[k].reserved = 0u;
    }
#if !SNN_PACKED_STATE
    for (i = 0u; i < L.n_neurons; i++) {
        const uint8_t *rec = blob + L.off[SEC_NEUR] + SNN_NEUR_REC * i;
        net->du[i] = rd16(rec);
        net->dv[i] = rd16(rec + 2);
        net->bias[i] = as_i32(rd32(rec + 4));
        net->theta[i] = as_i32(rd32(rec + 8));
    }
    for (p = 0u; p < L.n_pops; p++) { /* what the neurons of each population share (snn.h) */
        snn_pop_t *pop = &net->pops[p];
        const uint32_t f = pop->first;
        pop->shared = SNN_SHARED_PARAMS | SNN_SHARED_BIAS;
        for (i = f + 1u; i < f + pop->n; i++) {
            if (net->du[i] != net->du[f] || net->dv[i] != net->dv[f] || net->theta[i] != net->theta[f]) {
                pop->shared = 0u;
                break;
            }
            if (net->bias[i] != net->bias[f]) {
                pop->shared &= (uint8_t)~SNN_SHARED_BIAS;
            }
        }
    }
#endif
    snn_reset(net);
    return SNN_OK;
}

int16_t snn_fail_code(const snn_net_t *net, uint16_t k)
{
    if (net->fail_off == 0u || k >= net->n_outputs) {
        return 0;
    }
    return (int16_t)as_i16(rd16(net->blob + net->fail_off + 2u * (uint32_t)k));
}

/* The arena layout (snn.h, firmware_bridge/memory.py) assumes these descriptor sizes; a
 * compiler that pads them differently fails here at compile time. */
#if SNN_PACKED_STATE
typedef char snn_check_pop_size[sizeof(snn_pop_t) == 22u ? 1 : -1];
typedef char snn_check_proj_size[sizeof(snn_proj_t) == 12u ? 1 : -1];
#else
typedef char snn_check_pop_size[sizeof(snn_pop_t) == 28u ? 1 : -1];
typedef char snn_check_proj_size[sizeof(snn_proj_t) == 28u ? 1 : -1];
#endif
typedef char snn_check_out_size[sizeof(snn_out_t) == 4u ? 1 : -1];
