/*
 * snn_fixed.h - the integer helpers of docs/integer-model.md §1 and §6.
 *
 * Conventions: every state value is an int32_t holding a number in MIN24..MAX24 (24 bits).
 * Right shifts are applied only to unsigned values or to values proven non-negative, because
 * `>>` of a negative signed value is implementation-defined in C99. Every multiplication casts
 * its operands to int32_t/uint32_t first so it is correct where `int` has 16 bits.
 */
#ifndef SNN_FIXED_H
#define SNN_FIXED_H

#include <stdint.h>

#include "snn.h"

/* The helpers below sit in the innermost loops of the step: with GCC/Clang optimising for speed
 * they are always inlined (otherwise they can end up as a call per neuron); at -Os (small MCUs,
 * where flash counts more) the compiler decides. SNN_NOINLINE keeps a hot loop in a function of
 * its own (better register allocation than inlined into the big step function). */
#if defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
#define SNN_INLINE static inline __attribute__((always_inline))
#define SNN_NOINLINE __attribute__((noinline))
#else
#define SNN_INLINE static inline
#define SNN_NOINLINE
#endif

/* sat24(x) = min(max(x, MIN24), MAX24). Callers pass at most 26-bit values (sums of two or
 * three 24-bit terms, or a scaled accumulator already bounded by scale()).
 * On ARM cores with the saturation instructions (Cortex-M3 and up) the ACLE intrinsic __ssat is
 * the same function in one instruction (SSAT #24 saturates to -2^23 .. 2^23 - 1); GCC does not
 * always find it from the portable form once the helpers are inlined into each other. */
#if defined(__GNUC__) && defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#define SNN_HAVE_SSAT 1
#endif

SNN_INLINE int32_t snn_sat24(int32_t x)
{
#if defined(SNN_HAVE_SSAT)
    return (int32_t)__ssat(x, 24);
#else
    if (x > SNN_MAX24) {
        return SNN_MAX24;
    }
    if (x < SNN_MIN24) {
        return SNN_MIN24;
    }
    return x;
#endif
}

/* sat16(x): output codes. */
SNN_INLINE int16_t snn_sat16(int32_t x)
{
    if (x > INT32_C(32767)) {
        return (int16_t)32767;
    }
    if (x < INT32_C(-32768)) {
        return (int16_t)-32768;
    }
    return (int16_t)x;
}

/* floordiv(x, 2^k) = floor(x / 2^k), rounding towards -inf, 0 <= k <= 30.
 *   x >= 0: a plain logical shift of the (non-negative) value.
 *   x <  0: floor(x / 2^k) = -ceil(|x| / 2^k) = -((|x| + 2^k - 1) >> k). |x| is formed in
 *           uint32_t, so |INT32_MIN| = 2^31 does not overflow; |x| + 2^k - 1 <= 2^31 + 2^30 < 2^32.
 *           For k >= 1 the quotient is <= 2^30 and fits int32_t before the negation; k = 0
 *           returns x unchanged (the quotient 2^31 would not fit). */
SNN_INLINE int32_t snn_floordiv_pow2(int32_t x, uint8_t k)
{
    uint32_t mag;
    if (k == 0u) {
        return x;
    }
    if (x >= 0) {
        return (int32_t)((uint32_t)x >> k);
    }
    mag = (uint32_t)0u - (uint32_t)x; /* |x| as unsigned: well defined modulo 2^32 */
    mag = (mag + (((uint32_t)1u << k) - 1u)) >> k;
    return -(int32_t)mag;
}

/* decay(x, d) = x - floordiv(x * d, 4096), x in MIN24..MAX24, 0 <= d <= 4096 (§6).
 *
 * x * d needs 36 bits, so split x = hi * 4096 + lo with hi = floordiv(x, 4096), 0 <= lo < 4096:
 *     floordiv(x * d, 4096) = hi * d + floordiv(lo * d, 4096)          (hi * d is a multiple of 4096)
 * Widths:
 *     t  = x + 2^23           in 0 .. 2^24 - 1       (non-negative, so the shift is defined)
 *     hi = (t >> 12) - 2^11   in -2048 .. 2047       (12 bits signed)
 *     lo = t & 4095           in 0 .. 4095           (equal to x mod 4096 since 2^23 is a multiple of 4096)
 *     hi * d                  in -2^23 .. 2047*4096  (24 bits signed)
 *     lo * d                  in 0 .. 4095*4096 < 2^24 (non-negative, so the shift is defined)
 *     removed = hi*d + (lo*d >> 12) lies between 0 and x (inclusive), so x - removed stays in
 *     MIN24..MAX24: no saturation is needed and nothing exceeds 25 bits. */
#if !defined(SNN_DECAY_WIDE)
#if defined(__GNUC__) && (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__x86_64__) || \
                          defined(__aarch64__))
#define SNN_DECAY_WIDE 1 /* a 32 x 32 -> 64-bit multiply in one instruction (SMULL, IMUL) */
#else
#define SNN_DECAY_WIDE 0
#endif
#endif

#if SNN_DECAY_WIDE
/* The same function where a 32 x 32 -> 64-bit multiply is one instruction (Cortex-M3/M4: SMULL;
 * x86-64, AArch64): the 36-bit product is formed whole and floored with one shift.
 *     p = x * d                  |p| <= 2^23 * 2^12 = 2^35, exact in int64_t; taken as uint64_t
 *                                (two's complement bits, modulo 2^64: well defined)
 *     b = (p >> 12) mod 2^32     bits 12..43 of p: the low 32 bits of floordiv(p, 4096) in two's
 *                                complement (a logical and an arithmetic shift differ only in
 *                                bits >= 52, which this drops)
 *     q = b + 2^23 mod 2^32      = floordiv(p, 4096) + 2^23, in 0 .. 2^24: fits, so the
 *                                conversion to int32_t is exact (no implementation-defined cast)
 *     x - floordiv(p, 4096) = (x + 2^23) - q                    (each term 25 bits at most)
 * Six instructions on Cortex-M3 (SMULL, LSR, ORR, ADD, ADD, SUB) instead of ten.
 * Bit for bit the split form below: both are exactly x - floor(x * d / 4096). */
SNN_INLINE int32_t snn_decay(int32_t x, uint16_t d)
{
    const uint64_t p = (uint64_t)((int64_t)x * (int64_t)d);
    const int32_t q = (int32_t)((uint32_t)(p >> 12) + UINT32_C(8388608));
    return (x + INT32_C(8388608)) - q;
}
#else
SNN_INLINE int32_t snn_decay(int32_t x, uint16_t d)
{
    uint32_t t = (uint32_t)(x + INT32_C(8388608));
    int32_t hi = (int32_t)(t >> 12) - INT32_C(2048);
    int32_t lo = (int32_t)(t & UINT32_C(4095));
    int32_t dd = (int32_t)d;
    int32_t removed = hi * dd + (int32_t)((uint32_t)(lo * dd) >> 12);
    return x - removed;
}
#endif

/* scale(acc, e): e >= 0: sat24(acc * 2^e); e < 0: sat24(floordiv(acc, 2^-e)); -16 <= e <= 16.
 * |acc| <= 2^30 (fan-in bound, integer-model.md §2).
 *   e > 0: saturate BEFORE shifting so nothing overflows and no negative value is shifted:
 *          acc * 2^e > MAX24  <=>  acc > floor(MAX24 / 2^e) = 2^(23-e) - 1
 *          acc * 2^e < MIN24  <=>  acc < -2^(23-e)
 *          otherwise |acc| <= 2^(23-e), and the product (a multiplication, not a shift, so a
 *          negative acc is fine) is within MIN24..MAX24.
 *   e < 0: floordiv shrinks |acc| to <= 2^29, then sat24. */
SNN_INLINE int32_t snn_scale(int32_t acc, int8_t e)
{
    if (e > 0) {
        int32_t lim = (int32_t)((uint32_t)1u << (uint8_t)(23 - e)); /* 2^(23-e), 2^7 .. 2^22 */
        if (acc >= lim) {
            return SNN_MAX24;
        }
        if (acc < -lim) {
            return SNN_MIN24;
        }
        return acc * (int32_t)((uint32_t)1u << (uint8_t)e);
    }
    if (e < 0) {
        return snn_sat24(snn_floordiv_pow2(acc, (uint8_t)(-e)));
    }
    return snn_sat24(acc);
}

#endif /* SNN_FIXED_H */
