/*
 * snn_update_fast.h - the 32-bit fast path of the LIF/ALIF neuron update (included by snn_step.c
 * only, after update_spiking and popcount32).
 *
 * WHY: benchmarks/profile_step.py showed the neuron update taking ~29 instructions per non-spiking
 * LIF neuron-step on Cortex-M3 and more for ALIF (registers spilled), most of the step. Most
 * populations give every neuron the same du, dv and theta (snn_load marks them: pop->shared), so
 * these loops keep those three in registers, walk the u/v pairs, cur and bias with pointers, and
 * replace decay()'s SMULL + shift + OR + subtract by SMULL + one multiply-accumulate (below). One
 * out-of-line loop per (ALIF, refractory period, reset); LIF populations sharing their bias too
 * keep it in a register, ALIF populations whose three leaks are all below 2048 use c = 1 as a
 * constant (three registers fewer, fewer spills):
 *
 *   decay(x, d) = x - floor(x * d / 4096)      x in MIN24..MAX24, 0 <= d <= 4096 (snn_fixed.h)
 *   Let m = d * 2^20 mod 2^32 and k its two's-complement value (int32_t), c = [d < 2048]:
 *     d < 2048:         k = d * 2^20 (< 2^31)      hi = floor(x * k / 2^32) = floor(x * d / 4096)
 *                                                   decay = x - hi = c * x - hi
 *     2048 <= d < 4096: k = d * 2^20 - 2^32          hi = floor(x * d / 4096 - x) = floor(x * d / 4096) - x
 *                                                   decay = -hi = c * x - hi
 *     d = 4096:         k = 0 (2^32 mod 2^32)        hi = 0, decay = x - x = 0 = c * x - hi
 *   |x * k| <= 2^23 * 2^31 = 2^54, so the product is exact in int64_t and |hi| <= 2^22.
 *   hi is read as bits 32..63 of the product taken as uint64_t (two's complement, modulo 2^64,
 *   well defined) plus 2^22, which lies in 0..2^23 (so its conversion back to int32_t is exact),
 *   minus 2^22 - no right shift of a negative value; GCC makes it the SMULL high word.
 *   With the current (or u) added: c * x + y - hi, |.| <= 2^23 + 2^23 + 2^22 < 2^25, then sat24,
 *   exactly as sat24(decay(x, d) + y).
 *
 * Spike bits: `bit` starts at 2^(32 - count) for a word of count neurons and is shifted left once
 * per neuron, so it reaches 0 (loop end, one shift and one branch) after the last; the word is
 * shifted down by 32 - count before it is stored.
 *
 * Populations with per-neuron du, dv or theta take update_spiking (snn_step.c). SNN_NEURON_FAST
 * (0/1) selects this path; by default on with SNN_STEP_FAST where the 32 x 32 -> 64-bit multiply is
 * one instruction (SNN_DECAY_WIDE: Cortex-M3/M4, x86-64, AArch64). tests/test_c_update_fast.py
 * compares it with the portable path on random networks, shared parameters at their extremes.
 */
#ifndef SNN_UPDATE_FAST_H
#define SNN_UPDATE_FAST_H

#if !defined(SNN_NEURON_FAST)
#define SNN_NEURON_FAST (SNN_STEP_FAST && SNN_DECAY_WIDE)
#endif
#if SNN_NEURON_FAST && SNN_PACKED_STATE
#error "SNN_NEURON_FAST walks the 32-bit state arrays: not with SNN_PACKED_STATE"
#endif

#if SNN_NEURON_FAST
/* The factors of decay(., d) above: k (two's-complement value of d * 2^20 mod 2^32) and c. */
typedef struct {
    int32_t k, c;
} leak_t;

SNN_INLINE leak_t leak_of(uint16_t d)
{
    leak_t l;
    const uint32_t m = (uint32_t)d << 20; /* d <= 4096 = 2^12: bits 20..32, bit 32 dropped (mod 2^32) */
    /* m >= 2^31: its int32_t value is m - 2^32 = -(~m) - 1 (~m = 2^32 - 1 - m < 2^31, no overflow) */
    l.k = m < UINT32_C(0x80000000) ? (int32_t)m : -(int32_t)(~m) - 1;
    l.c = d < 2048u ? 1 : 0;
#if defined(__GNUC__)
    /* GCC would turn c * x back into a compare and two conditional moves inside the loop (it knows
     * c is 0 or 1); hidden from it, c stays one register and the product one multiply-accumulate */
    __asm__("" : "+r"(l.c));
#endif
    return l;
}

/* floor(x * k / 2^32) for |x| <= 2^23, |k| <= 2^31: in -2^22..2^22 (see the top of this file). */
SNN_INLINE int32_t hi32(int32_t x, int32_t k)
{
    const uint64_t p = (uint64_t)((int64_t)x * (int64_t)k);                       /* modulo 2^64 */
    return (int32_t)((uint32_t)(p >> 32) + UINT32_C(0x400000)) - INT32_C(0x400000); /* + 2^22 in 0..2^23 */
}

/* sat24(decay(x, d) + y) with l = leak_of(d), |y| <= 2^23 (a current, u or a_step). */
SNN_INLINE int32_t leak_add(int32_t x, leak_t l, int32_t y)
{
    return snn_sat24(x * l.c + y - hi32(x, l.k)); /* |.| < 2^25 */
}

/* leak_add where d < 2048 is known (c = 1): sat24(x + y - floor(x * k / 2^32)), no multiply by c. */
SNN_INLINE int32_t leak_add1(int32_t x, leak_t l, int32_t y)
{
    return snn_sat24(x + y - hi32(x, l.k)); /* |.| < 2^25 */
}

/* Where one history word's neurons start (their u/v pairs, currents, ...) and the shared values. */
typedef struct {
    int32_t *uv; /* u and v of the next neuron (interleaved, snn_cells.h) */
    const int32_t *cur, *bias;
    int32_t *a;
    uint8_t *r;
    leak_t lu, lv, la;
    int32_t theta, a_step;
    uint8_t refractory;
} walk_t;

/* update_spiking's membrane step (snn_step.c, the same arithmetic) for one history word of a
 * population with pop->shared: du, dv and theta of neuron 0 serve every neuron; the neurons are
 * those until `bit` (the first neuron's bit, 2^(32 - count)) has been shifted out. Returns the
 * spike bits, neuron k at bit 32 - count + k. Inlined with constant alif, refr and soft into the
 * eight functions below, each kept out of line so that its loop has the register file to itself. */
SNN_INLINE uint32_t walk_word(const walk_t *w, uint32_t j0, uint32_t bit, int alif, int refr, int soft, int slow,
                              int sb)
{
    const int32_t bias0 = sb ? w->bias[0] : 0; /* sb: the population's one bias (SNN_SHARED_BIAS) */
    int32_t *uv = w->uv + 2u * j0; /* neuron j0 of the population: the word's first */
    const int32_t *cur = w->cur + j0, *bias = w->bias + j0;
    int32_t *a = w->a + j0;
    uint8_t *r = w->r + j0;
    const leak_t lu = w->lu, lv = w->lv, la = w->la;
    const int32_t theta = w->theta, a_step = w->a_step;
    const uint8_t refractory = w->refractory;
    uint32_t bits = 0u;
    do {
        const int32_t u0 = uv[0], v0 = uv[1];       /* the pair in one load */
        const int32_t un = slow ? leak_add1(u0, lu, *cur) : leak_add(u0, lu, *cur); /* sat24(decay(u, du) + I) */
        const int32_t a0 = alif ? *a : 0;
        int32_t x = v0, step = 0;
        if (refr && *r != 0u) {
            *r = (uint8_t)(*r - 1u); /* refractory: v frozen, no spike; a decays (s = 0) */
        } else {
            const int32_t th = theta + a0; /* 1 <= th < 2^24 */
            x = snn_sat24((slow ? leak_add1(v0, lv, un) : leak_add(v0, lv, un)) + (sb ? bias0 : *bias)); /* 24+24 */
            if (x >= th) {
                x = soft ? x - th : 0; /* x - th in 0..MAX24 */
                bits |= bit;
                step = a_step;
                if (refr) {
                    *r = refractory;
                }
            }
        }
        if (alif) {
            /* a = sat24(decay(a, da) + s * a_step), after th used the old a */
            *a = slow ? leak_add1(a0, la, step) : leak_add(a0, la, step);
        }
        uv[0] = un; /* and in one store */
        uv[1] = x;
        uv += 2;
        cur++;
        bias++;
        if (alif) {
            a++;
        }
        if (refr) {
            r++;
        }
        bit <<= 1;
    } while (bit != 0u);
    return bits;
}

typedef uint32_t (*walk_fn)(const walk_t *w, uint32_t j0, uint32_t bit);
#define SNN_WALK(name, alif, refr, soft, slow, sb)                                                                   \
    SNN_NOINLINE static uint32_t name(const walk_t *w, uint32_t j0, uint32_t bit)                                    \
    {                                                                                                                \
        return walk_word(w, j0, bit, alif, refr, soft, slow, sb);                                                    \
    }
SNN_WALK(walk_lif_hard, 0, 0, 0, 0, 0)
SNN_WALK(walk_lif_soft, 0, 0, 1, 0, 0)
SNN_WALK(walk_lif_refr_hard, 0, 1, 0, 0, 0)
SNN_WALK(walk_lif_refr_soft, 0, 1, 1, 0, 0)
SNN_WALK(walk_alif_hard, 1, 0, 0, 0, 0)
SNN_WALK(walk_alif_soft, 1, 0, 1, 0, 0)
SNN_WALK(walk_alif_refr_hard, 1, 1, 0, 0, 0)
SNN_WALK(walk_alif_refr_soft, 1, 1, 1, 0, 0)
/* LIF without a refractory period whose neurons share their bias too (encoders, typically): the
 * bias in a register, one load per neuron fewer */
SNN_WALK(walk_lif_bias_hard, 0, 0, 0, 0, 1)
SNN_WALK(walk_lif_bias_soft, 0, 0, 1, 0, 1)
/* ALIF with du, dv and da all below 2048 (slow leaks, the usual case for an adaptive neuron): the
 * three factors c = 1 are constants, three registers fewer in the loop that needs the most */
SNN_WALK(walk_alif_slow_hard, 1, 0, 0, 1, 0)
SNN_WALK(walk_alif_slow_soft, 1, 0, 1, 1, 0)
SNN_WALK(walk_alif_slow_refr_hard, 1, 1, 0, 1, 0)
SNN_WALK(walk_alif_slow_refr_soft, 1, 1, 1, 1, 0)
#undef SNN_WALK

/* The LIF/ALIF update of a population with pop->shared: the membrane pass one history word at a
 * time through the variant for its (ALIF, refractory period, reset). */
static uint32_t spiking_fast(snn_net_t *net, const snn_pop_t *pop, const int32_t *cur, uint32_t *slot)
{
    static const walk_fn variants[16] = {
        walk_lif_hard,       walk_lif_soft,       walk_lif_refr_hard,       walk_lif_refr_soft,
        walk_alif_hard,      walk_alif_soft,      walk_alif_refr_hard,      walk_alif_refr_soft,
        walk_alif_slow_hard, walk_alif_slow_soft, walk_alif_slow_refr_hard, walk_alif_slow_refr_soft,
        walk_lif_bias_hard,  walk_lif_bias_soft,  walk_lif_refr_hard,       walk_lif_refr_soft,
    };
    const uint32_t first = pop->first, n = pop->n;
    const int alif = pop->kind == SNN_ALIF;
    const int slow = alif && net->du[first] < 2048u && net->dv[first] < 2048u && pop->da < 2048u;
    const int sb = !alif && (pop->shared & SNN_SHARED_BIAS) != 0u; /* the refractory ones: walk_lif_refr */
    const walk_fn step = variants[(slow ? 8u : alif ? 4u : sb ? 12u : 0u) + (pop->refractory != 0u ? 2u : 0u) +
                                 (pop->reset == SNN_RESET_SOFT ? 1u : 0u)];
    walk_t w;
    uint32_t j0, n_spikes = 0u;
    w.uv = net->u + 2u * first;
    w.cur = cur;
    w.bias = net->bias + first;
    w.a = net->a + first;
    w.r = net->r + first;
    w.lu = leak_of(net->du[first]);
    w.lv = leak_of(net->dv[first]);
    w.theta = net->theta[first];
    if (alif) {
        w.la = leak_of(pop->da);
        w.a_step = pop->a_step;
    }
    w.refractory = pop->refractory;
    for (j0 = 0u; j0 < n; j0 += 32u) {
        const uint32_t skip = n - j0 >= 32u ? 0u : 32u - (n - j0); /* 0..31 */
        const uint32_t bits = step(&w, j0, UINT32_C(1) << skip) >> skip;
        slot[j0 >> 5] = bits;
        n_spikes += popcount32(bits);
    }
    return n_spikes;
}
#endif /* SNN_NEURON_FAST */

#endif /* SNN_UPDATE_FAST_H */
