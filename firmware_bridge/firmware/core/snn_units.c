/*
 * snn_units.c - physical units on the device: a port's raw integer sensor reading -> input code,
 * output code -> the port's raw integer actuator value (docs/snn-format.md, `unit` section).
 *
 * Integer only (no float, no division): each channel carries a fixed-point ratio mult / 2^shift,
 * derived on the host (snnctl/units.py) from the float scale and the port's unit, and
 *
 *   input i:   code = sat16( zero_i + R((raw  - raw_zero_i) * mult_i, shift_i) )
 *   output k:  raw  = clamp( raw_zero_k + R((code - zero_k) * mult_k, shift_k), raw_min_k, raw_max_k )
 *
 * with R(p, s) = floor((p + 2^(s-1)) / 2^s) for s >= 1 and R(p, 0) = p: p / 2^s rounded to the
 * nearest integer, ties upwards (towards +inf). zero_i / zero_k are the INPQ / OUTQ zero points.
 * snnctl/units.py is the Python reference of exactly this arithmetic (bit-identical, tested).
 *
 * Widths (the loader has checked |mult| <= 2^30 - 1, shift <= 62, raw_min <= raw_max):
 *   input:  raw, raw_zero int32          -> d = raw - raw_zero in int64, |d| <= 2^32 - 1
 *           d * mult                     -> |p| <= (2^32 - 1)(2^30 - 1) < 2^62
 *           p + 2^(shift-1), shift <= 62 -> |.| < 2^62 + 2^61 < 2^63: no int64 overflow
 *           zero + R(...)                -> |.| < 2^62 + 2^15: fits, then saturated to int16
 *   output: d = code - zero              -> |d| <= 65535 (17 bits), |p| < 2^47, same bounds hold
 *           raw_zero + R(...)            -> |.| < 2^31 + 2^47: fits, then clamped to raw_min..raw_max
 * Without a `unit` section the conversion is the identity (code = sat16(raw), raw = code): the
 * port's raw units are then the codes themselves.
 *
 * The blob stays valid while the net is used (snn.h), so the constants are read from it in place.
 */
#include "snn.h"
#include "snn_blob.h"

#define SNN_UNIT_IN_REC 12u  /* i32 raw_zero, i32 mult, u8 shift, 3 reserved */
#define SNN_UNIT_OUT_REC 20u /* i32 raw_zero, i32 mult, i32 raw_min, i32 raw_max, u8 shift, 3 reserved */
#define SNN_INPQ_ZERO(k) (8u * (uint32_t)(k) + 4u)  /* INPQ record: f32 scale, i16 zero, u16 0 */
#define SNN_OUTQ_ZERO(k) (12u * (uint32_t)(k) + 6u) /* OUTQ record: u16, u16, u8, u8, i16 zero, f32 */

/* little-endian reads from the (possibly unaligned) blob, through the blob hook (snn_blob.h); two's complement via unsigned casts,
 * which C99 defines for the exact-width types */
uint32_t snn_period_us(const snn_net_t *net)
{
    return net->period_us;
}

#if SNN_CORE_UNITS
static int32_t unit_rd32(const uint8_t *p)
{
    uint32_t u = (uint32_t)SNN_BLOB_U8(p) | ((uint32_t)SNN_BLOB_U8(p + 1) << 8) | ((uint32_t)SNN_BLOB_U8(p + 2) << 16) |
                 ((uint32_t)SNN_BLOB_U8(p + 3) << 24);
    /* u >= 2^31 is a negative value: -(2^32 - u), formed without overflowing int32 */
    return u < UINT32_C(0x80000000) ? (int32_t)u : -(int32_t)(UINT32_C(0xFFFFFFFF) - u) - 1;
}

static int32_t unit_rd16(const uint8_t *p)
{
    uint16_t u = (uint16_t)((uint16_t)SNN_BLOB_U8(p) | (uint16_t)((uint16_t)SNN_BLOB_U8(p + 1) << 8));
    return u < 0x8000u ? (int32_t)u : (int32_t)u - INT32_C(65536);
}

/* R(d * mult, shift): d * mult / 2^shift rounded to nearest, ties up (see the widths above).
 *   p >= 0: floor(p / 2^s) is a logical shift of the non-negative value.
 *   p <  0: floor(p / 2^s) = -ceil(|p| / 2^s) = -((|p| + 2^s - 1) >> s); |p| < 2^63 is formed in
 *           uint64_t and |p| + 2^s - 1 < 2^63 + 2^62 < 2^64; the quotient < 2^63 fits int64_t.
 * No `>>` of a negative value anywhere (implementation-defined in C99). */
static int64_t mul_round_shift(int64_t d, int32_t mult, uint8_t shift)
{
    int64_t p = d * (int64_t)mult;
    uint64_t mag;
    if (shift == 0u) {
        return p;
    }
    p += (int64_t)(UINT64_C(1) << (shift - 1u)); /* + 2^(s-1): round half up */
    if (p >= 0) {
        return (int64_t)((uint64_t)p >> shift);
    }
    mag = (uint64_t)0u - (uint64_t)p; /* |p|, well defined modulo 2^64 */
    mag = (mag + ((UINT64_C(1) << shift) - 1u)) >> shift;
    return -(int64_t)mag;
}

int snn_has_units(const snn_net_t *net)
{
    return net->unit_off != 0u;
}

int16_t snn_input_code(const snn_net_t *net, uint16_t i, int32_t raw)
{
    const uint8_t *rec;
    int64_t t;
    if (i >= net->n_inputs) {
        return 0;
    }
    if (net->unit_off == 0u) {
        t = raw; /* identity: raw units are codes */
    } else {
        rec = net->blob + net->unit_off + SNN_UNIT_IN_REC * (uint32_t)i;
        t = (int64_t)raw - (int64_t)unit_rd32(rec);      /* d = raw - raw_zero, |d| <= 2^32 - 1 */
        t = mul_round_shift(t, unit_rd32(rec + 4), SNN_BLOB_U8(rec + 8)); /* R(d * mult, shift), |t| < 2^62 */
        t += unit_rd16(net->blob + net->inpq_off + SNN_INPQ_ZERO(i)); /* + zero */
    }
    if (t > INT64_C(32767)) { /* sat16 */
        return (int16_t)32767;
    }
    if (t < INT64_C(-32768)) {
        return (int16_t)-32768;
    }
    return (int16_t)t;
}

int32_t snn_output_raw(const snn_net_t *net, uint16_t k, int16_t code)
{
    const uint8_t *rec;
    int64_t t, lo, hi;
    if (k >= net->n_outputs) {
        return 0;
    }
    if (net->unit_off == 0u) {
        return code; /* identity */
    }
    rec = net->blob + net->unit_off + SNN_UNIT_IN_REC * (uint32_t)net->n_inputs + SNN_UNIT_OUT_REC * (uint32_t)k;
    t = (int64_t)code - (int64_t)unit_rd16(net->blob + net->outq_off + SNN_OUTQ_ZERO(k)); /* d, 17 bits */
    t = mul_round_shift(t, unit_rd32(rec + 4), SNN_BLOB_U8(rec + 16));                     /* |t| < 2^47 */
    t += unit_rd32(rec);                                                                  /* + raw_zero */
    lo = unit_rd32(rec + 8);
    hi = unit_rd32(rec + 12);
    if (t < lo) { /* clamp to the actuator's range raw_min .. raw_max */
        return (int32_t)lo;
    }
    if (t > hi) {
        return (int32_t)hi;
    }
    return (int32_t)t;
}

void snn_inputs_from_raw(const snn_net_t *net, const int32_t *raw, int16_t *codes)
{
    uint16_t i;
    for (i = 0u; i < net->n_inputs; i++) {
        codes[i] = snn_input_code(net, i, raw[i]);
    }
}

void snn_outputs_to_raw(const snn_net_t *net, const int16_t *codes, int32_t *raw)
{
    uint16_t k;
    for (k = 0u; k < net->n_outputs; k++) {
        raw[k] = snn_output_raw(net, k, codes[k]);
    }
}
#endif /* SNN_CORE_UNITS */
