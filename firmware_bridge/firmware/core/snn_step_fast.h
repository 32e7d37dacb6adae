/*
 * snn_step_fast.h - the 32-bit fast paths of the dense spike gather (included by snn_step.c only,
 * after emit8; they use snn_step.c's scale_t, scale_of, emit8, put, apply_scale, history_slot,
 * popcount32).
 *
 * gather_spikes_fast: the blocks of destinations. WHY: benchmarks/profile_step.py showed the
 * eight-destination blocks of gather_spikes spending ~9 instructions per destination on
 * scale(acc, e) for e > 0 (clamp to +-2^(23-e) with two compare-and-move pairs, multiply,
 * saturate), as much as the sums themselves for a block of a projection with few active sources.
 * When the exact product acc * 2^e cannot leave int32 it is one multiply and one SSAT:
 *     |acc| <= 128 * n_act (n_act int8 weights of magnitude <= 128)
 *     n_act * 2^e < 2^24  =>  |acc * 2^e| <= 2^7 * n_act * 2^e < 2^31: exact in int32_t
 *     scale(acc, e) = sat24(acc * 2^e): snn_scale's early returns (acc >= 2^(23-e) -> MAX24,
 *     acc < -2^(23-e) -> MIN24) are exactly the saturation of the exact product; for e = 0,
 *     scale(acc, 0) = sat24(acc) = sat24(acc * 1).
 * n_act <= 65535 < 2^16 and e <= 16, so n_act << e < 2^32 is computed without overflow.
 * Otherwise (e < 0, or a product that could overflow) emit8 / emit_block scale as before, so every
 * result is bit for bit the portable path's (tests/test_c_step_fast.py and
 * tests/test_c_update_fast.py build both and compare). With up to 256 active sources the sums are
 * formed four weights per load in 16-bit byte lanes (swar_sums, SNN_GATHER_SWAR), 12 or 8
 * destinations per pass over the list.
 *
 * gather_one_fast: a projection into one destination, summed straight from the spike words (words
 * with many spikes four positions per load, masked_sum).
 *
 * SNN_STEP_FAST (0/1) selects them; by default on where SNN_GATHER_WIDE is (int of 32 bits or more:
 * the 32-bit MCUs and the host) and the blob is read with plain loads, off on 8/16-bit targets (AVR:
 * compiled out, no flash cost).
 */
#ifndef SNN_STEP_FAST_H
#define SNN_STEP_FAST_H

/* The fast paths read weights with plain loads (a 32-bit MCU maps its flash), so a port that
 * reads the blob through its own hook (SNN_BLOB_HOOKED, snn_blob.h) gets the portable path, and
 * so does the packed 8-bit layout (SNN_PACKED_STATE), which is what the portable path is for. */
#if !defined(SNN_STEP_FAST)
#define SNN_STEP_FAST (SNN_GATHER_WIDE && !SNN_BLOB_HOOKED && !SNN_PACKED_STATE)
#endif
#if SNN_STEP_FAST && !SNN_GATHER_WIDE
#error "SNN_STEP_FAST needs SNN_GATHER_WIDE (emit8)"
#endif
#if SNN_STEP_FAST && SNN_BLOB_HOOKED
#error "SNN_STEP_FAST reads the blob with plain loads: not with a blob access hook (SNN_BLOB_HOOKED)"
#endif

/* SNN_GATHER_SWAR (0/1): the byte-lane sums below. On by default with SNN_STEP_FAST where GCC/Clang
 * compile for a little-endian core that loads a word from any address in one instruction
 * (Cortex-M3 and up, x86, AArch64): the weights of a row are not word-aligned in general. */
#if !defined(SNN_GATHER_SWAR)
#if SNN_STEP_FAST && defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__ARM_FEATURE_UNALIGNED) || defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
#define SNN_GATHER_SWAR 1
#else
#define SNN_GATHER_SWAR 0
#endif
#endif
#if SNN_GATHER_SWAR && !(SNN_STEP_FAST && defined(__GNUC__))
#error "SNN_GATHER_SWAR needs SNN_STEP_FAST and GCC/Clang (__builtin_memcpy)"
#endif

#if SNN_STEP_FAST
#if SNN_GATHER_SWAR
/* Byte-lane sums (SWAR) of `words` x 4 destinations (words = 2 or 4) over the listed rows, for at
 * most 256 active sources. WHY: summing int8 weights one load and one add each costs ~2.5
 * instructions per synaptic event on Cortex-M3; here one 32-bit load brings four weights and
 * ~1.5 instructions per event add them, two lanes at a time:
 *   x = four weights (little-endian: byte k is destination k) XOR 0x80808080: each byte b of two's
 *       complement int8 w becomes w + 128, in 0..255 (flipping bit 7 adds 128 modulo 256).
 *   e += x AND 0x00FF00FF          bytes 0 and 2 in the 16-bit lanes of e (bits 0..15, 16..31)
 *   o += (x >> 8) AND 0x00FF00FF   bytes 1 and 3 in the lanes of o
 *   after m <= 256 rows a lane holds sum(w + 128) <= 255 * 256 = 65280 < 2^16: no carry crosses
 *   into the next lane, so each lane is exact and sum(w) = lane - 128 * m, |.| <= 128 * m.
 * Destination 4i + k of the block: k = 0: e_i low lane, 1: o_i low, 2: e_i high, 3: o_i high.
 * Writes the sums a[0 .. 4 * words) for the caller to scale; exactly gather_spikes' integers. */
SNN_INLINE uint32_t swar_load(const int8_t *p)
{
    uint32_t x;
    __builtin_memcpy(&x, p, 4u); /* one unaligned LDR where the core has it */
    return x;
}

#define SNN_SWAR_WORD(p, e, o, mask)                                                                                 \
    do {                                                                                                             \
        const uint32_t x_ = swar_load(p) ^ UINT32_C(0x80808080); /* each byte w -> w + 128 */                        \
        (e) += x_ & (mask);                                                                                          \
        (o) += (x_ >> 8) & (mask);                                                                                   \
    } while (0)

/* Where swar_sums puts its sums: with `exact` (scale(acc, e) = sat24(acc * mul), see
 * gather_spikes_fast) straight into cur[] as put() would, otherwise into t[] for emit8. */
typedef struct {
    int32_t *cur; /* cur[0 ..) of the block's first destination */
    int32_t *t;   /* the raw sums, when not exact */
    int32_t mul;  /* 2^e */
    int exact, fresh;
} swar_sink_t;

/* put(cur + k, scale(a[k])) for k < n (8, 12 or 16), the scale sat24(a * mul) (exact), or a[] to t[];
 * the branches taken once for the block, not per value, and written out so that a[] stays in
 * registers (a loop would go through the stack). */
#define SNN_SWAR_EACH(n, DO)                                                                                        \
    do {                                                                                                             \
        DO(0);                                                                                                       \
        DO(1);                                                                                                       \
        DO(2);                                                                                                       \
        DO(3);                                                                                                       \
        DO(4);                                                                                                       \
        DO(5);                                                                                                       \
        DO(6);                                                                                                       \
        DO(7);                                                                                                       \
        if ((n) >= 12u) {                                                                                            \
            DO(8);                                                                                                   \
            DO(9);                                                                                                   \
            DO(10);                                                                                                  \
            DO(11);                                                                                                  \
        }                                                                                                            \
        if ((n) == 16u) {                                                                                            \
            DO(12);                                                                                                  \
            DO(13);                                                                                                  \
            DO(14);                                                                                                  \
            DO(15);                                                                                                  \
        }                                                                                                            \
    } while (0)
#define SNN_SWAR_STORE(k) cur[k] = snn_sat24(a[k] * mul)                      /* |a 2^e| < 2^31, saturated */
#define SNN_SWAR_ADD(k) cur[k] = snn_sat24(cur[k] + snn_sat24(a[k] * mul))    /* 24 + 24 bits */
#define SNN_SWAR_RAW(k) t[k] = a[k]

SNN_INLINE void swar_emit(const swar_sink_t *s, const int32_t *a, uint32_t n)
{
    int32_t *const cur = s->cur, *const t = s->t;
    const int32_t mul = s->mul;
    if (s->exact && s->fresh) {
        SNN_SWAR_EACH(n, SNN_SWAR_STORE);
    } else if (s->exact) {
        SNN_SWAR_EACH(n, SNN_SWAR_ADD);
    } else {
        SNN_SWAR_EACH(n, SNN_SWAR_RAW);
    }
}
#undef SNN_SWAR_EACH
#undef SNN_SWAR_STORE
#undef SNN_SWAR_ADD
#undef SNN_SWAR_RAW

/* The four sums of lane pair (e, o), destinations k .. k + 3 (lane - 128 m: each lane < 2^16, so
 * the int32_t conversions are exact): stored scaled into cur[] (exact, fresh: the common first
 * projection, each value computed and stored at once, no array in between) or into a[]. */
#define SNN_SWAR_GROUP_STORE(e, o, k)                                                                                \
    do {                                                                                                             \
        cur[(k) + 0u] = snn_sat24(((int32_t)((e) & 0xFFFFu) - bias) * mul); /* |.| < 2^31, saturated */             \
        cur[(k) + 1u] = snn_sat24(((int32_t)((o) & 0xFFFFu) - bias) * mul);                                          \
        cur[(k) + 2u] = snn_sat24(((int32_t)((e) >> 16) - bias) * mul);                                              \
        cur[(k) + 3u] = snn_sat24(((int32_t)((o) >> 16) - bias) * mul);                                              \
    } while (0)
#define SNN_SWAR_GROUP_RAW(e, o, k)                                                                                  \
    do {                                                                                                             \
        a[(k) + 0u] = (int32_t)((e) & 0xFFFFu) - bias;                                                               \
        a[(k) + 1u] = (int32_t)((o) & 0xFFFFu) - bias;                                                               \
        a[(k) + 2u] = (int32_t)((e) >> 16) - bias;                                                                   \
        a[(k) + 3u] = (int32_t)((o) >> 16) - bias;                                                                   \
    } while (0)

SNN_INLINE void swar_sums(const int8_t *wj, const uint32_t *list, const uint32_t *end, const swar_sink_t *s,
                          int words)
{
    uint32_t mask = UINT32_C(0x00FF00FF);
    uint32_t e0 = 0u, o0 = 0u, e1 = 0u, o1 = 0u, e2 = 0u, o2 = 0u;
    const uint32_t *l = list;
    int32_t bias, a[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* a[8..11]: 12-wide blocks only */
    /* the mask in a register: AND with a shifted register operand is one instruction (ARM) */
    __asm__("" : "+r"(mask));
    if (words == 3) {
        do {
            const int8_t *const p = wj + *l; /* row *l, destinations j .. j + 11 */
            SNN_SWAR_WORD(p, e0, o0, mask);
            SNN_SWAR_WORD(p + 4, e1, o1, mask);
            SNN_SWAR_WORD(p + 8, e2, o2, mask);
        } while (++l != end);
    } else {
        const int8_t *wj4 = wj + 4; /* two bases, each load indexed by the row: no address add */
        __asm__("" : "+r"(wj4));
        do {
            const uint32_t off = *l; /* row *l, destinations j .. j + 7 */
            SNN_SWAR_WORD(wj + off, e0, o0, mask);
            SNN_SWAR_WORD(wj4 + off, e1, o1, mask);
        } while (++l != end);
    }
    bias = (int32_t)((uint32_t)(end - list) << 7); /* 128 * m, m <= 256 */
    if (s->exact && s->fresh) {
        int32_t *const cur = s->cur;
        const int32_t mul = s->mul;
        SNN_SWAR_GROUP_STORE(e0, o0, 0u);
        SNN_SWAR_GROUP_STORE(e1, o1, 4u);
        if (words == 3) {
            SNN_SWAR_GROUP_STORE(e2, o2, 8u);
        }
        return;
    }
    SNN_SWAR_GROUP_RAW(e0, o0, 0u);
    SNN_SWAR_GROUP_RAW(e1, o1, 4u);
    if (words == 3) {
        SNN_SWAR_GROUP_RAW(e2, o2, 8u);
    }
    swar_emit(s, a, 4u * (uint32_t)words);
}
#undef SNN_SWAR_WORD

/* swar_sums for 12 and 8 destinations, each out of line so that its loop has the registers to
 * itself (12 destinations: 6 lane pairs + mask, list cursor and end, row, word, temporary = 13;
 * 16 would need 15 of the 14 and spill in the loop) */
SNN_NOINLINE static void swar_sums12(const int8_t *wj, const uint32_t *list, const uint32_t *end,
                                     const swar_sink_t *s)
{
    swar_sums(wj, list, end, s, 3);
}

SNN_NOINLINE static void swar_sums8(const int8_t *wj, const uint32_t *list, const uint32_t *end, const swar_sink_t *s)
{
    swar_sums(wj, list, end, s, 2);
}

/* 16 destinations: 8 lane pairs + list cursor and end, block, row, word, temporary = 14 registers,
 * so the masks are immediates (0x00FF00FF and 0xFF00FF00 are Thumb-2 constants) and the odd bytes
 * are added shifted down: o += (x AND 0xFF00FF00) >> 8, the same lanes as swar_sums' o. */
#define SNN_SWAR_WORD_IMM(p, e, o)                                                                                   \
    do {                                                                                                             \
        uint32_t x_, h_;                                                                                             \
        __asm__ volatile("" ::: "memory"); /* one word at a time: 14 registers suffice */                            \
        x_ = swar_load(p) ^ UINT32_C(0x80808080); /* each byte w -> w + 128 */                                       \
        h_ = x_ & UINT32_C(0xFF00FF00);                                                                              \
        __asm__("" : "+r"(h_)); /* an AND and an ADD with a shifted operand, not GCC's shift-then-AND */             \
        (e) += x_ & UINT32_C(0x00FF00FF);                                                                            \
        (o) += h_ >> 8;                                                                                              \
    } while (0)
SNN_NOINLINE static void swar_sums16(const int8_t *wj, const uint32_t *list, const uint32_t *end,
                                     const swar_sink_t *s)
{
    uint32_t e0 = 0u, o0 = 0u, e1 = 0u, o1 = 0u, e2 = 0u, o2 = 0u, e3 = 0u, o3 = 0u;
    const uint32_t *l = list;
    int32_t bias, a[16];
    do {
        const int8_t *const p = wj + *l; /* row *l, destinations j .. j + 15 */
        SNN_SWAR_WORD_IMM(p, e0, o0);
        SNN_SWAR_WORD_IMM(p + 4, e1, o1);
        SNN_SWAR_WORD_IMM(p + 8, e2, o2);
        SNN_SWAR_WORD_IMM(p + 12, e3, o3);
    } while (++l != end);
    bias = (int32_t)((uint32_t)(end - list) << 7); /* 128 * m, m <= 256 */
    if (s->exact && s->fresh) {
        int32_t *const cur = s->cur;
        const int32_t mul = s->mul;
        SNN_SWAR_GROUP_STORE(e0, o0, 0u);
        SNN_SWAR_GROUP_STORE(e1, o1, 4u);
        SNN_SWAR_GROUP_STORE(e2, o2, 8u);
        SNN_SWAR_GROUP_STORE(e3, o3, 12u);
        return;
    }
    SNN_SWAR_GROUP_RAW(e0, o0, 0u);
    SNN_SWAR_GROUP_RAW(e1, o1, 4u);
    SNN_SWAR_GROUP_RAW(e2, o2, 8u);
    SNN_SWAR_GROUP_RAW(e3, o3, 12u);
    swar_emit(s, a, 16u);
}
#undef SNN_SWAR_WORD_IMM
#undef SNN_SWAR_GROUP_STORE
#undef SNN_SWAR_GROUP_RAW
#endif /* SNN_GATHER_SWAR */

/* put(cur + k, scale(t[k])) for k < n (8, 12 or 16): the byte-lane blocks whose scale is not exact
 * (e < 0, or a product that could overflow), out of line (one copy of emit8 for both sizes). */
SNN_NOINLINE static void emit_block(int32_t *cur, int32_t *t, uint32_t n, const scale_t *sc, int fresh)
{
    uint32_t k;
    emit8(cur, t, sc, fresh);
    for (k = 8u; k < n; k++) {
        put(cur + k, apply_scale(t[k], sc), fresh);
    }
}

#if SNN_GATHER_SWAR
/* gather_spikes_fast's blocks for n_act <= 256 (the lane bound of swar_sums): 16, then one of 12
 * and one of 8 destinations as the rest allows (40 = 16 + 16 + 8); returns the first destination
 * not done (fewer than 8 are left to gather_spikes' one-at-a-time loop). snn_step calls it directly
 * when it leaves nothing (n_dst a multiple of 8). */
SNN_NOINLINE static uint32_t gather_swar(const int8_t *w, const uint32_t *list, uint32_t n_act, uint32_t n_dst,
                                         const scale_t *sc, int32_t *cur, int fresh)
{
    const uint32_t *const end = list + n_act;
    /* e >= 0 and n_act * 2^e < 2^24: scale is sat24(acc * 2^e) (see the top of this file; e = 0:
     * scale(acc, 0) = sat24(acc) = sat24(acc * 1), mul = 1) */
    const int exact = sc->e >= 0 && (n_act << (uint8_t)sc->e) < (UINT32_C(1) << 24);
    const int8_t *wj = w;
    uint32_t j = 0u;
    int32_t t[16];
    swar_sink_t sink;
    sink.t = t;
    sink.mul = sc->mul;
    sink.exact = exact;
    sink.fresh = fresh;
    for (; j + 16u <= n_dst; j += 16u, wj += 16) {
        sink.cur = cur + j;
        swar_sums16(wj, list, end, &sink);
        if (!exact) {
            emit_block(cur + j, t, 16u, sc, fresh);
        }
    }
    if (j + 12u <= n_dst) {
        sink.cur = cur + j;
        swar_sums12(wj, list, end, &sink);
        if (!exact) {
            emit_block(cur + j, t, 12u, sc, fresh);
        }
        j += 12u;
        wj += 12;
    }
    if (j + 8u <= n_dst) {
        sink.cur = cur + j;
        swar_sums8(wj, list, end, &sink);
        if (!exact) {
            emit_block(cur + j, t, 8u, sc, fresh);
        }
        j += 8u;
    }
    return j;
}
#endif

/* The eight-destination blocks of gather_spikes (n_act >= 1): for j = 0, 8, .. while j + 8 <=
 * n_dst, acc[j + k] = sum over the listed rows of w[row + j + k] (each |.| <= 128 * n_act < 2^23),
 * scaled into cur[]. Returns the first destination not done (gather_spikes' one-at-a-time loop
 * finishes the rest). */
SNN_NOINLINE static uint32_t gather_spikes_fast(const int8_t *w, const uint32_t *list, uint32_t n_act,
                                                uint32_t n_dst, const scale_t *sc, int32_t *cur, int fresh)
{
    const uint32_t *const end = list + n_act;
    /* e >= 0 and n_act * 2^e < 2^24: scale is sat24(acc * 2^e) (see the top of this file; e = 0:
     * scale(acc, 0) = sat24(acc) = sat24(acc * 1), mul = 1) */
    const int exact = sc->e >= 0 && (n_act << (uint8_t)sc->e) < (UINT32_C(1) << 24);
    const scale_t unit = scale_of(0); /* emit8 with e = 0: sat24 of values already in 24 bits */
    const int8_t *wj = w;
    uint32_t j = 0u;
#if SNN_GATHER_SWAR
    if (n_act <= 256u) { /* the lane bound of swar_sums */
        return gather_swar(w, list, n_act, n_dst, sc, cur, fresh);
    }
#endif
    for (; j + 8u <= n_dst; j += 8u, wj += 8) {
        const uint32_t *l = list;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        int32_t t[8];
        do {
            const int8_t *const p = wj + *l; /* row *l, destinations j .. j + 7 */
            a0 += p[0];
            a1 += p[1];
            a2 += p[2];
            a3 += p[3];
            a4 += p[4];
            a5 += p[5];
            a6 += p[6];
            a7 += p[7];
        } while (++l != end);
        if (exact) {
            const int32_t mul = sc->mul; /* 2^e */
            t[0] = snn_sat24(a0 * mul);  /* |a * 2^e| < 2^31: exact, then saturated to 24 bits */
            t[1] = snn_sat24(a1 * mul);
            t[2] = snn_sat24(a2 * mul);
            t[3] = snn_sat24(a3 * mul);
            t[4] = snn_sat24(a4 * mul);
            t[5] = snn_sat24(a5 * mul);
            t[6] = snn_sat24(a6 * mul);
            t[7] = snn_sat24(a7 * mul);
            emit8(cur + j, t, &unit, fresh);
        } else {
            t[0] = a0;
            t[1] = a1;
            t[2] = a2;
            t[3] = a3;
            t[4] = a4;
            t[5] = a5;
            t[6] = a6;
            t[7] = a7;
            emit_block(cur + j, t, 8u, sc, fresh); /* not exact: out of line */
        }
    }
    return j;
}

#if SNN_GATHER_SWAR
/* Sum of the weights p[k] whose bit k of `word` is set, k < 4 * g (g = 1..8 groups of four), in
 * byte lanes as swar_sums does:
 *   m1 = the group's four bits spread to bit 0 of each byte: nibble * 0x00204081 puts bit k at
 *        bit 8k (shifts 0, 7, 14, 21: the four copies do not overlap, no carries), AND 0x01010101
 *   m  = m1 * 255 = (m1 << 8) - m1: 0xFF in the selected bytes (bytes of 1 become 0xFF, no borrow)
 *   x  = (four weights XOR 0x80808080) AND m: w + 128 (0..255) where selected, 0 elsewhere
 *   lanes += (x AND 0x00FF00FF) + ((x >> 8) AND 0x00FF00FF): each 16-bit lane gains <= 510 per
 *        group, <= 8 * 510 < 2^16 in all, so no carry crosses lanes
 *   cnt += m1: selected bytes counted per byte (<= 8 each, no carry)
 * sum = both lanes - 128 * (selected bytes); |sum| <= 128 * 32. */
SNN_NOINLINE static int32_t masked_sum(const int8_t *p, uint32_t word, uint32_t g)
{
    const uint32_t lane = UINT32_C(0x00FF00FF);
    uint32_t lanes = 0u, cnt = 0u;
    do {
        const uint32_t m1 = ((word & 15u) * UINT32_C(0x00204081)) & UINT32_C(0x01010101);
        const uint32_t x = (swar_load(p) ^ UINT32_C(0x80808080)) & ((m1 << 8) - m1);
        lanes += (x & lane) + ((x >> 8) & lane);
        cnt += m1;
        p += 4;
        word >>= 4;
    } while (--g != 0u);
    cnt = (cnt * UINT32_C(0x01010101)) >> 24; /* the four byte counts summed (<= 32: no carry) */
    return (int32_t)((lanes & 0xFFFFu) + (lanes >> 16)) - (int32_t)(cnt << 7);
}
#endif

#if SNN_GATHER_SWAR
/* Sum of the 4 * g weights p[0 .. 4g) (g = 1..8), in byte lanes as masked_sum without the mask:
 * each lane gains <= 510 per group, <= 8 * 510 < 2^16; sum = both lanes - 128 * 4g. */
SNN_NOINLINE static int32_t row_sum(const int8_t *p, uint32_t g)
{
    const uint32_t lane = UINT32_C(0x00FF00FF);
    const int32_t bias = (int32_t)(g << 9); /* 128 per byte, four bytes per group */
    uint32_t lanes = 0u;
    do {
        const uint32_t x = swar_load(p) ^ UINT32_C(0x80808080); /* each byte w -> w + 128 */
        lanes += (x & lane) + ((x >> 8) & lane);
        p += 4;
    } while (--g != 0u);
    return (int32_t)((lanes & 0xFFFFu) + (lanes >> 16)) - bias;
}
#endif

/* A dense projection from a population into ONE destination (an output neuron, typically):
 * acc = sum of w[i] over the sources i that spiked `lag` steps ago, read straight from the spike
 * words; no list of row offsets is written and read back (list_active + the one-at-a-time
 * gather cost ~13 instructions per active source on Cortex-M3, this ~8). |acc| <= 128 * n_act
 * < 2^23. Writes put(cur, scale(acc)) only when a source spiked (fresh keeps its meaning) and
 * returns the number of active sources. */
static uint32_t gather_one_fast(const snn_net_t *net, const snn_proj_t *q, const int8_t *w, const scale_t *sc,
                                int32_t *cur, int fresh)
{
    const snn_pop_t *src = &net->pops[q->src];
    const uint32_t *bits = history_slot(net, src, q->lag);
    const uint32_t words = src->words;
    uint32_t wi, n = 0u, base = 0u; /* base = 32 * wi: the source index of bit 0 of word wi */
    int32_t a = 0;
    for (wi = 0u; wi < words; wi++, base += 32u) {
        uint32_t word = bits[wi];
        const int8_t *p = w + base; /* source i = base + bit: row i of an n_src x 1 matrix */
        uint32_t c;
        if (word == 0u) {
            continue;
        }
        c = popcount32(word);
        n += c;
#if defined(__GNUC__)
        /* a word with many spikes: walk every position up to the highest spike (5 instructions
         * each: load, bit, multiply-accumulate, shift, branch) instead of ~7 per spike; the same
         * sum either way (x * s with s = 0 or 1). span = index of the highest set bit + 1
         * (unsigned int has >= 32 bits where SNN_STEP_FAST is on). */
        if (5u * (32u - (uint32_t)__builtin_clz((unsigned int)word)) < 7u * c) {
#if SNN_GATHER_SWAR
            /* four positions per load where all four weights lie inside the row (g groups) */
            const uint32_t g = q->n_src - base >= 32u ? 8u : (q->n_src - base) >> 2;
            if (g != 0u) {
                /* few silent sources among the 4g: the whole range, minus the silent ones (about
                 * 8 instructions per group and 7 per silent source, against 17 per group) */
                const uint32_t cover = g == 8u ? ~UINT32_C(0) : (UINT32_C(1) << (4u * g)) - 1u;
                uint32_t silent = ~word & cover;
                /* silent sources among the 4g: at least 4g - c (c counts the word's other bits too;
                 * only the choice of method depends on it, not the sum) */
                if (7u * (4u * g > c ? 4u * g - c : 0u) < 9u * g) {
                    a += row_sum(p, g);
                    while (silent != 0u) {
                        a -= p[SNN_CTZ32(silent)];
                        silent &= silent - 1u; /* clear the lowest set bit */
                    }
                } else {
                    a += masked_sum(p, word, g);
                }
                p += 4u * g;
                word = g == 8u ? 0u : word >> (4u * g); /* g < 8: shift < 32 */
            }
            while (word != 0u) {
#else
            do {
#endif
                int32_t s = (int32_t)(word & 1u);
                __asm__("" : "+r"(s)); /* one MLA, not GCC's compare and two conditional steps */
                a += (int32_t)*p++ * s;
                word >>= 1;
#if SNN_GATHER_SWAR
            }
#else
            } while (word != 0u);
#endif
            continue;
        }
#endif
        do {
            a += p[SNN_CTZ32(word)];
            word &= word - 1u; /* clear the lowest set bit (unsigned arithmetic) */
        } while (word != 0u);
    }
    if (n != 0u) {
        /* e >= 0 and n * 2^e < 2^24: scale(a, e) = sat24(a * 2^e) (the top of this file) */
        const int exact = sc->e >= 0 && (n << (uint8_t)sc->e) < (UINT32_C(1) << 24);
        put(cur, exact ? snn_sat24(a * sc->mul) : apply_scale(a, sc), fresh);
    }
    return n;
}

/* A dense projection from the input codes when exactly one code x is nonzero (row = its weights,
 * destination j at row[j]): acc[j] = row[j] * x, |.| <= 2^7 * 2^15 = 2^22. For 0 <= e <= 8,
 * xm = x * 2^e (|.| <= 2^23) and acc * 2^e = row[j] * xm, |.| <= 2^30: exact in int32_t, so
 * scale(acc, e) = sat24(row[j] * xm) (the argument at the top of this file). One load, multiply,
 * SSAT and store per destination instead of gather_input's eight-wide blocks over all codes.
 * Returns 0, having done nothing, for other exponents. */
static int gather_input_one(const int8_t *row, int32_t x, uint32_t n_dst, const scale_t *sc, int32_t *cur,
                            int fresh)
{
    int32_t *const end = cur + n_dst;
    int32_t xm;
    if (sc->e < 0 || sc->e > 8) {
        return 0;
    }
    xm = x * sc->mul; /* 2^15 * 2^8 = 2^23 */
    if (fresh && xm > -INT32_C(65536) && xm < INT32_C(65536)) {
        /* |row[j] * xm| <= 2^7 * (2^16 - 1) < 2^23: already in MIN24..MAX24, no saturation */
        int32_t *const end4 = cur + (n_dst & ~UINT32_C(3)); /* four destinations per pass */
        while (cur != end4) {
            const int32_t p0 = (int32_t)row[0] * xm, p1 = (int32_t)row[1] * xm; /* all four first: */
            const int32_t p2 = (int32_t)row[2] * xm, p3 = (int32_t)row[3] * xm; /* paired stores */
            cur[0] = p0;
            cur[1] = p1;
            cur[2] = p2;
            cur[3] = p3;
            cur += 4;
            row += 4;
        }
        while (cur != end) {
            *cur++ = (int32_t)*row++ * xm;
        }
    } else if (fresh) {
        int32_t *const end4 = cur + (n_dst & ~UINT32_C(3)); /* four destinations per pass */
        while (cur != end4) {
            cur[0] = snn_sat24((int32_t)row[0] * xm);
            cur[1] = snn_sat24((int32_t)row[1] * xm);
            cur[2] = snn_sat24((int32_t)row[2] * xm);
            cur[3] = snn_sat24((int32_t)row[3] * xm);
            cur += 4;
            row += 4;
        }
        while (cur != end) {
            *cur++ = snn_sat24((int32_t)*row++ * xm);
        }
    } else {
        do {
            *cur = snn_sat24(*cur + snn_sat24((int32_t)*row++ * xm)); /* 24 + 24 bits */
            cur++;
        } while (cur != end);
    }
    return 1;
}
#endif /* SNN_STEP_FAST */

#endif /* SNN_STEP_FAST_H */
