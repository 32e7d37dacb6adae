/*
 * snn_step.c - one time step of docs/integer-model.md §3.
 *
 * Widths (why nothing overflows an int32_t):
 *   - state u, v, a and the current I are kept in MIN24..MAX24 by sat24 after every addition;
 *     a sum of two 24-bit values needs 25 bits.
 *   - synapse accumulator acc: an INPUT row adds int8 * int16 (|.| <= 2^7 * 2^15 = 2^22) for at
 *     most 256 inputs: |acc| <= 2^30. A spike row adds one int8 per active source, at most
 *     65535 of them: |acc| <= 128 * 65535 < 2^23. No saturation is needed inside the sum, so the
 *     order in which the synapses of one projection are added does not matter (exact integers).
 *   - threshold th = theta + a: theta <= MAX24 and 0 <= a <= MAX24, so 1 <= th < 2^24.
 *   - DELTA: u - v of two 24-bit values needs 25 bits.
 * No division or modulo: ring heads wrap by comparison, bit positions use shifts of unsigned
 * values, and every floor division is by a power of two (snn_fixed.h).
 *
 * Speed (the step is the hot path on a microcontroller):
 *   - Dense projections are computed destination-major ("gather"): first the active sources are
 *     listed (their row offsets i * n_dst, in net->acc, which is free for a dense projection and
 *     has max_pop >= n_src entries), then each block of eight destinations (SNN_GATHER_WIDE; one at
 *     a time on 16-bit-int targets) sums its weights over the list in registers and writes
 *     scale(acc) straight into cur[]. No accumulator array is
 *     zeroed, loaded or stored, and a projection with no active source is skipped (it adds
 *     scale(0) = 0).
 *   - cur[] is not zeroed per population: the first projection that contributes stores
 *     scale(acc) (= sat24(0 + scale(acc)), since scale() is already in MIN24..MAX24), later ones
 *     add with sat24, and a population that received nothing gets cur[] = 0 before its update.
 *   - Sparse projections scatter into net->acc as before (their rows are not contiguous).
 *   - Set bits of a spike word are found with count-trailing-zeros where the compiler has it.
 *   - The neuron update is specialised per population kind, and for LIF/ALIF per "has a refractory
 *     period": one pass per neuron computes u, the candidate membrane, threshold, reset and (ALIF)
 *     the adaptation, all in registers; spike bits are collected in a register and stored once per
 *     32 neurons, spikes counted per word.
 *   - On 32-bit targets (SNN_STEP_FAST, snn_step_fast.h) the blocks scale with one multiply and
 *     SSAT where the product cannot overflow, up to 256 active rows are summed four weights per
 *     load in 16-bit byte lanes (SNN_GATHER_SWAR), and a projection into one destination is
 *     summed straight from the spike words (no list; dense words four positions per load).
 *   - Populations whose neurons share du, dv and theta (pop->shared) are updated by
 *     snn_update_fast.h (SNN_NEURON_FAST): the three in registers, decay by SMULL + MLA, u and v
 *     as one interleaved pair, one out-of-line loop per (ALIF, refractory period, reset) and for
 *     a shared bias / slow ALIF leaks.
 *   - A dense input projection with one nonzero code takes one multiply per destination
 *     (gather_input_one, 32-bit targets).
 *   - decay() is one SMULL and four ALU instructions where a 32 x 32 -> 64-bit multiply is cheap
 *     (snn_fixed.h, SNN_DECAY_WIDE).
 * Weights are read in place from the blob through SNN_BLOB_I8 (snn_blob.h): a plain load by
 * default, LPM from program memory on an AVR whose network is compiled into flash.
 */
#include <limits.h>
#include <stddef.h>

#include "snn.h"
#include "snn_blob.h"
#include "snn_cells.h"
#include "snn_fixed.h"

/* Eight destinations per pass over the active list (gather_spikes, gather_input) pays on 32-bit
 * cores with 13+ registers; on targets with a 16-bit int (8/16-bit MCUs, where every int32_t add
 * is several instructions and flash is scarce) the one-destination loop alone is used. Define
 * SNN_GATHER_WIDE to 0 or 1 to override. */
#if !defined(SNN_GATHER_WIDE)
#if UINT_MAX >= 0xFFFFFFFFu
#define SNN_GATHER_WIDE 1
#else
#define SNN_GATHER_WIDE 0
#endif
#endif

/* Index of the lowest set bit of a non-zero word. GCC/Clang: one or two instructions (Cortex-M3:
 * rbit + clz). Otherwise a portable byte-then-bit search (no table, no division). */
#if defined(__GNUC__)
#define SNN_CTZ32(w) ((uint32_t)__builtin_ctzl((unsigned long)(w))) /* unsigned long >= 32 bits */
#else
static uint32_t snn_ctz32(uint32_t w)
{
    uint32_t n = 0u;
    while ((w & UINT32_C(0xFF)) == 0u) {
        w >>= 8;
        n += 8u;
    }
    while ((w & 1u) == 0u) {
        w >>= 1;
        n++;
    }
    return n;
}
#define SNN_CTZ32(w) snn_ctz32(w)
#endif

/* The spike-history slot of population `src` that holds step t - lag. */
static const uint32_t *history_slot(const snn_net_t *net, const snn_pop_t *src, uint8_t lag)
{
    /* lag < depth, so one conditional add replaces the modulo */
    uint32_t slot = src->head >= lag ? (uint32_t)(src->head - lag) : (uint32_t)src->head + src->depth - lag;
    return net->hist + src->hist_word + slot * src->words;
}

/* Precomputed scale(., e) of one projection (integer-model.md §1, snn_fixed.h snn_scale):
 *   e > 0: lim = 2^(23-e) (2^7 .. 2^22), mul = 2^e; e < 0: k = -e (1..16). */
typedef struct {
    int8_t e;
    uint8_t k;
    int32_t lim, mul;
} scale_t;

static scale_t scale_of(int8_t e)
{
    scale_t s;
    s.e = e;
    s.k = (uint8_t)(e < 0 ? -e : 0);
    s.lim = e > 0 ? (int32_t)((uint32_t)1u << (uint8_t)(23 - e)) : 0;
    s.mul = e > 0 ? (int32_t)((uint32_t)1u << (uint8_t)e) : 1;
    return s;
}

/* scale(acc, e) for e > 0 with lim = 2^(23-e), mul = 2^e: clamp acc to -lim..lim first, so the
 * product lies in -2^23..2^23 (no overflow, a multiplication rather than a shift of a possibly
 * negative value), then sat24. acc >= lim gives sat24(2^23) = MAX24 and acc < -lim gives
 * -2^23 = MIN24, exactly snn_scale's early returns; otherwise the product is already in range. */
SNN_INLINE int32_t scale_up(int32_t acc, int32_t lim, int32_t mul)
{
    acc = acc > lim ? lim : acc;
    acc = acc < -lim ? -lim : acc;
    return snn_sat24(acc * mul);
}

/* scale(acc, e), bit for bit snn_scale (|acc| <= 2^30). */
SNN_INLINE int32_t apply_scale(int32_t acc, const scale_t *s)
{
    if (s->e > 0) {
        return scale_up(acc, s->lim, s->mul);
    }
    if (s->e < 0) {
        return snn_sat24(snn_floordiv_pow2(acc, s->k));
    }
    return snn_sat24(acc);
}

/* cur[j] = I[j] + scale(acc): the first contributing projection of a population stores (cur is
 * not zeroed beforehand; sat24(0 + x) = x for x already in 24 bits), later ones saturate-add. */
SNN_INLINE void put(int32_t *cur, int32_t x, int fresh)
{
    *cur = fresh ? x : snn_sat24(*cur + x); /* 24 + 24 bits */
}

#if SNN_GATHER_WIDE
/* put(cur + k, scale(t[k])) for k = 0..7, with the exponent's and fresh's branches taken once for
 * the eight values instead of once per value (written out: t stays in registers). */
SNN_INLINE void emit8(int32_t *cur, int32_t *t, const scale_t *sc, int fresh)
{
    if (sc->e > 0) {
        const int32_t lim = sc->lim, mul = sc->mul;
        t[0] = scale_up(t[0], lim, mul);
        t[1] = scale_up(t[1], lim, mul);
        t[2] = scale_up(t[2], lim, mul);
        t[3] = scale_up(t[3], lim, mul);
        t[4] = scale_up(t[4], lim, mul);
        t[5] = scale_up(t[5], lim, mul);
        t[6] = scale_up(t[6], lim, mul);
        t[7] = scale_up(t[7], lim, mul);
    } else if (sc->e < 0) {
        const uint8_t k = sc->k;
        t[0] = snn_sat24(snn_floordiv_pow2(t[0], k));
        t[1] = snn_sat24(snn_floordiv_pow2(t[1], k));
        t[2] = snn_sat24(snn_floordiv_pow2(t[2], k));
        t[3] = snn_sat24(snn_floordiv_pow2(t[3], k));
        t[4] = snn_sat24(snn_floordiv_pow2(t[4], k));
        t[5] = snn_sat24(snn_floordiv_pow2(t[5], k));
        t[6] = snn_sat24(snn_floordiv_pow2(t[6], k));
        t[7] = snn_sat24(snn_floordiv_pow2(t[7], k));
    } else {
        t[0] = snn_sat24(t[0]);
        t[1] = snn_sat24(t[1]);
        t[2] = snn_sat24(t[2]);
        t[3] = snn_sat24(t[3]);
        t[4] = snn_sat24(t[4]);
        t[5] = snn_sat24(t[5]);
        t[6] = snn_sat24(t[6]);
        t[7] = snn_sat24(t[7]);
    }
    if (fresh) {
        cur[0] = t[0];
        cur[1] = t[1];
        cur[2] = t[2];
        cur[3] = t[3];
        cur[4] = t[4];
        cur[5] = t[5];
        cur[6] = t[6];
        cur[7] = t[7];
    } else { /* 24 + 24 bits each */
        cur[0] = snn_sat24(cur[0] + t[0]);
        cur[1] = snn_sat24(cur[1] + t[1]);
        cur[2] = snn_sat24(cur[2] + t[2]);
        cur[3] = snn_sat24(cur[3] + t[3]);
        cur[4] = snn_sat24(cur[4] + t[4]);
        cur[5] = snn_sat24(cur[5] + t[5]);
        cur[6] = snn_sat24(cur[6] + t[6]);
        cur[7] = snn_sat24(cur[7] + t[7]);
    }
}
#endif

/* Number of set bits of a spike word (portable SWAR count; every shift is of an unsigned value). */
static uint32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & UINT32_C(0x55555555));
    x = (x & UINT32_C(0x33333333)) + ((x >> 2) & UINT32_C(0x33333333));
    x = (x + (x >> 4)) & UINT32_C(0x0F0F0F0F);
    return (x * UINT32_C(0x01010101)) >> 24; /* byte sums <= 32: no carry between bytes */
}

#include "snn_step_fast.h" /* gather_spikes_fast: the 32-bit fast path (uses emit8) */

/* List the sources that spiked `lag` steps ago as row offsets i * n_dst (each < n_src * n_dst <
 * 2^32) into list[]; returns how many (<= n_src). */
static uint32_t list_active(const snn_net_t *net, const snn_proj_t *q, uint32_t *list)
{
    const snn_pop_t *src = &net->pops[q->src];
    const uint32_t *bits = history_slot(net, src, q->lag);
    const uint32_t n_dst = q->n_dst, words = src->words;
    uint32_t wi, base = 0u; /* base = 32 * wi * n_dst: the row offset of bit 0 of word wi */
    uint32_t *o = list;
    for (wi = 0u; wi < words; wi++) {
        uint32_t word = bits[wi];
        while (word != 0u) {
            *o++ = base + SNN_CTZ32(word) * n_dst;
            word &= word - 1u; /* clear the lowest set bit (unsigned arithmetic) */
        }
        base += n_dst << 5;
    }
    return (uint32_t)(o - list);
}

/* Dense projection from a population: for every destination j, acc = sum over the listed rows of
 * w[row + j] (n_act >= 1 rows); scaled into cur[]. Eight destinations share one pass over the
 * list, their sums held in registers (each |.| <= 128 * 65535 < 2^23). Kept out of line so that
 * the inner loop has the whole register file to itself. */
SNN_NOINLINE static void gather_spikes(const int8_t *w, const uint32_t *list, uint32_t n_act, uint32_t n_dst,
                                       const scale_t *sc, int32_t *cur, int fresh)
{
    const uint32_t *const end = list + n_act;
    uint32_t j = 0u;
#if SNN_STEP_FAST
    j = gather_spikes_fast(w, list, n_act, n_dst, sc, cur, fresh);
#elif SNN_GATHER_WIDE
    for (; j + 8u <= n_dst; j += 8u) {
        const int8_t *const wj = w + j;
        const uint32_t *l = list;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        int32_t t[8];
        do {
            const int8_t *const p = wj + *l;
            a0 += SNN_BLOB_I8(p + 0);
            a1 += SNN_BLOB_I8(p + 1);
            a2 += SNN_BLOB_I8(p + 2);
            a3 += SNN_BLOB_I8(p + 3);
            a4 += SNN_BLOB_I8(p + 4);
            a5 += SNN_BLOB_I8(p + 5);
            a6 += SNN_BLOB_I8(p + 6);
            a7 += SNN_BLOB_I8(p + 7);
        } while (++l != end);
        t[0] = a0;
        t[1] = a1;
        t[2] = a2;
        t[3] = a3;
        t[4] = a4;
        t[5] = a5;
        t[6] = a6;
        t[7] = a7;
        emit8(cur + j, t, sc, fresh);
    }
#endif
    for (; j < n_dst; j++) {
        const int8_t *const wj = w + j;
        const uint32_t *l = list;
        int32_t a = 0;
        do {
            a += SNN_BLOB_I8(wj + *l);
        } while (++l != end);
        put(cur + j, apply_scale(a, sc), fresh);
    }
}

/* Dense projection from the input codes: acc[j] = sum_i w[i * n_dst + j] * x[i], zero codes
 * skipped; eight destinations per pass as in gather_spikes. Each product is int8 * int16
 * (|.| <= 2^22), each sum |acc| <= 2^30. */
SNN_NOINLINE static void gather_input(const int8_t *w, const int16_t *x, uint32_t n_src, uint32_t n_dst,
                                      const scale_t *sc, int32_t *cur, int fresh)
{
    const int16_t *const x_end = x + n_src;
    uint32_t j = 0u;
#if SNN_GATHER_WIDE
    for (; j + 8u <= n_dst; j += 8u) {
        const int8_t *p = w + j;
        const int16_t *xp = x;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        int32_t t[8];
        for (; xp != x_end; xp++, p += n_dst) {
            const int32_t xi = (int32_t)*xp;
            if (xi != 0) {
                a0 += (int32_t)SNN_BLOB_I8(p + 0) * xi;
                a1 += (int32_t)SNN_BLOB_I8(p + 1) * xi;
                a2 += (int32_t)SNN_BLOB_I8(p + 2) * xi;
                a3 += (int32_t)SNN_BLOB_I8(p + 3) * xi;
                a4 += (int32_t)SNN_BLOB_I8(p + 4) * xi;
                a5 += (int32_t)SNN_BLOB_I8(p + 5) * xi;
                a6 += (int32_t)SNN_BLOB_I8(p + 6) * xi;
                a7 += (int32_t)SNN_BLOB_I8(p + 7) * xi;
            }
        }
        t[0] = a0;
        t[1] = a1;
        t[2] = a2;
        t[3] = a3;
        t[4] = a4;
        t[5] = a5;
        t[6] = a6;
        t[7] = a7;
        emit8(cur + j, t, sc, fresh);
    }
#endif
    for (; j < n_dst; j++) {
        const int8_t *p = w + j;
        const int16_t *xp = x;
        int32_t a = 0;
        for (; xp != x_end; xp++, p += n_dst) {
            a += (int32_t)SNN_BLOB_I8(p) * (int32_t)*xp;
        }
        put(cur + j, apply_scale(a, sc), fresh);
    }
}

/* Sparse projection: scatter the rows of the active sources into acc[0 .. n_dst), then scale into
 * cur[]. Returns the synapses touched. */
static uint32_t scatter_sparse(const snn_net_t *net, const snn_proj_t *q, const int16_t *x,
                               const scale_t *sc, int32_t *cur, int fresh)
{
#if SNN_PACKED_STATE
    /* read in place from the block (docs/snn-format.md WGHT): n_src + 1 u32 row pointers, nnz u16
     * column indices, nnz int8 weights; the loader checked rows and columns */
    const uint8_t *const blk = net->blob + q->w_off;
    const uint32_t n_src = SNN_PROJ_N_SRC(net, q);
    const uint8_t *const col = blk + 4u * (n_src + 1u);
    const uint8_t *const w = col + 2u * snn_blob_u32(blk + 4u * n_src); /* row[n_src] = nnz */
#define SPARSE_ROW(i) snn_blob_u32(blk + 4u * (i))
#define SPARSE_COL(k) snn_blob_u16(col + 2u * (k))
#else
    const int8_t *w = (const int8_t *)(const void *)(net->blob + q->w_off);
    const uint32_t *rows = net->rows + q->row_index;
    const uint16_t *cols = net->cols + q->col_index;
#define SPARSE_ROW(i) rows[i]
#define SPARSE_COL(k) cols[k]
#endif
#define SPARSE_W(k) ((int32_t)SNN_BLOB_I8(w + (k)))
    int32_t *acc = net->acc;
    const uint32_t n_dst = q->n_dst;
    uint32_t i, j, k, synops = 0u;
    for (j = 0u; j < n_dst; j++) {
        acc[j] = 0;
    }
    if (q->src == SNN_INPUT) {
        const uint32_t n_in = SNN_PROJ_N_SRC(net, q);
        for (i = 0u; i < n_in; i++) {
            const int32_t xi = (int32_t)x[i];
            if (xi != 0) {
                const uint32_t lo = SPARSE_ROW(i), hi = SPARSE_ROW(i + 1u);
                for (k = lo; k < hi; k++) {
                    acc[SPARSE_COL(k)] += SPARSE_W(k) * xi; /* int8 * int16 -> |.| <= 2^22 */
                }
                synops += hi - lo;
            }
        }
    } else {
        const snn_pop_t *src = &net->pops[q->src];
        const uint32_t *bits = history_slot(net, src, q->lag);
        uint32_t wi;
        for (wi = 0u; wi < src->words; wi++) {
            uint32_t word = bits[wi];
            while (word != 0u) {
                uint32_t lo, hi;
                i = (wi << 5) + SNN_CTZ32(word);
                word &= word - 1u;
                lo = SPARSE_ROW(i);
                hi = SPARSE_ROW(i + 1u);
                for (k = lo; k < hi; k++) {
                    acc[SPARSE_COL(k)] += SPARSE_W(k); /* spikes are 1: no multiply */
                }
                synops += hi - lo;
            }
        }
    }
    for (j = 0u; j < n_dst; j++) {
        put(cur + j, apply_scale(acc[j], sc), fresh);
    }
    return synops;
#undef SPARSE_ROW
#undef SPARSE_COL
#undef SPARSE_W
}

/* Neuron update of a LIF (alif = 0) or ALIF (alif = 1) population in one pass (§3), from the summed
 * current cur[]; writes the spike words, returns the number of spikes. Per neuron:
 *     u = sat24(decay(u, du) + I)                                     24 + 24 bits
 *     x = sat24(sat24(decay(v, dv) + u) + bias)                       the candidate membrane
 *     refractory (r > 0): r -= 1, v stays frozen, no spike (x unused)
 *     else th = theta + a (1 <= th < 2^24; a = 0 for LIF); x >= th: spike, v = soft ? x - th : 0
 *          (x - th in 0..MAX24), r = refractory; else v = x
 *     ALIF: a = sat24(decay(a, da) + s * a_step), after th used the old a (a >= 0 always)
 * Inlined with constant `alif` and `refr` (spiking_variant), so LIF never reads a and a population
 * without a refractory period (refr = 0) never reads or writes r: its counters are set to pop->refractory = 0
 * on every spike and only ever decremented from a non-zero value, so they stay 0. One pass keeps
 * x in a register (no store and reload through cur[]); spike bits are collected in a register and
 * stored once per 32 neurons. */
SNN_INLINE uint32_t update_spiking(snn_net_t *net, const snn_pop_t *pop, const int32_t *cur, uint32_t *slot,
                                   int alif, int refr, int soft)
{
    const uint32_t first = pop->first, n = pop->n;
    const uint32_t p = (uint32_t)(pop - net->pops);
    snn_cell_t *const U = snn_uv_ptr(net->u, first), *const V = snn_uv_ptr(net->v, first);
    snn_cell_t *const A = alif ? snn_cell_ptr(net->a, SNN_POP_A_FIRST(pop)) : net->a;
    const uint32_t r0 = refr ? SNN_POP_R_FIRST(pop) : 0u; /* counter j is r0 + j */
    uint8_t *const R = net->r;
    const uint8_t refractory = pop->refractory;
    const uint16_t da = alif ? SNN_POP_DA(net, p) : 0u;
    const int32_t a_step = alif ? SNN_POP_A_STEP(net, p) : 0;
    uint32_t j, j0, n_spikes = 0u;
    for (j0 = 0u; j0 < n; j0 += 32u) { /* one history word per 32 neurons */
        const uint32_t j1 = n - j0 > 32u ? j0 + 32u : n;
        uint32_t bits = 0u, bit = 1u;
        for (j = j0; j < j1; j++, bit <<= 1) {
            const int32_t u = snn_sat24(snn_decay(snn_uv_get(U, j), SNN_DU(net, first + j)) + cur[j]); /* 24 + 24 */
            uint8_t rj;
            snn_uv_set(U, j, u);
            if (refr && (rj = snn_refr_get(R, r0 + j)) != 0u) {
                snn_refr_set(R, r0 + j, (uint8_t)(rj - 1u)); /* refractory: v frozen, no spike; a decays (s = 0) */
                if (alif) {
                    snn_cell_set(A, j, snn_decay(snn_cell_get(A, j), da)); /* sat24(decay(a) + 0): in range */
                }
            } else {
                const int32_t a = alif ? snn_cell_get(A, j) : 0;
                const int32_t th = SNN_THETA(net, first + j) + a; /* 1 <= th < 2^24 */
                int32_t v = snn_sat24(snn_sat24(snn_decay(snn_uv_get(V, j), SNN_DV(net, first + j)) + u) +
                                      SNN_BIAS(net, first + j));
                if (v >= th) {
                    v = soft ? v - th : 0; /* v - th in 0..MAX24 */
                    if (refr) {
                        snn_refr_set(R, r0 + j, refractory);
                    }
                    bits |= bit;
                    if (alif) {
                        snn_cell_set(A, j, snn_sat24(snn_decay(a, da) + a_step)); /* 24 + 24 bits */
                    }
                } else if (alif) {
                    snn_cell_set(A, j, snn_decay(a, da));
                }
                snn_uv_set(V, j, v);
            }
        }
        slot[j0 >> 5] = bits;
        if (bits != 0u) {
            n_spikes += popcount32(bits);
        }
    }
    return n_spikes;
}

/* update_spiking for one LIF/ALIF population: optimising for speed, each of the four combinations
 * of (ALIF, has a refractory period) is its own loop with the flags as constants (the reset mode
 * stays a variable: specialising it too measured no faster, 2.4 KB more flash); at -Os (small MCUs,
 * flash first) one loop takes them as variables. */
static uint32_t spiking_variant(snn_net_t *net, const snn_pop_t *pop, const int32_t *cur, uint32_t *slot)
{
    const int alif = pop->kind == SNN_ALIF, refr = pop->refractory != 0u, soft = pop->reset == SNN_RESET_SOFT;
#if defined(__OPTIMIZE_SIZE__)
    return update_spiking(net, pop, cur, slot, alif, refr, soft);
#else
    if (alif) {
        return refr ? update_spiking(net, pop, cur, slot, 1, 1, soft) : update_spiking(net, pop, cur, slot, 1, 0, soft);
    }
    return refr ? update_spiking(net, pop, cur, slot, 0, 1, soft) : update_spiking(net, pop, cur, slot, 0, 0, soft);
#endif
}

#include "snn_update_fast.h" /* spiking_fast: the 32-bit neuron fast path (uses popcount32) */

/* Neuron update of one population (§3) from the summed current cur[]; writes s_p(t) into the
 * population's current history slot. The kind's branch is taken once per population. */
static void update_population(snn_net_t *net, snn_pop_t *pop, int32_t *cur)
{
    uint32_t *const slot = net->hist + pop->hist_word + (uint32_t)pop->head * pop->words;
    const uint32_t first = pop->first, n = pop->n;
    snn_cell_t *const U = snn_uv_ptr(net->u, first), *const V = snn_uv_ptr(net->v, first);
    const uint8_t kind = pop->kind;
    uint32_t j, n_spikes = 0u;

    if (kind == SNN_DELTA) { /* v is the reference level, theta is delta */
        uint32_t j0;
        for (j0 = 0u; j0 < n; j0 += 32u) {
            const uint32_t j1 = n - j0 > 32u ? j0 + 32u : n;
            uint32_t bits = 0u, bit = 1u;
            for (j = j0; j < j1; j++, bit <<= 1) {
                const int32_t u = snn_sat24(snn_decay(snn_uv_get(U, j), SNN_DU(net, first + j)) + cur[j]);
                const int32_t v = snn_uv_get(V, j);
                snn_uv_set(U, j, u);
                if (u - v >= SNN_THETA(net, first + j)) { /* 25-bit difference: rose by delta, emit, re-reference */
                    snn_uv_set(V, j, u);
                    bits |= bit;
                    n_spikes++;
                } else if (u < v) { /* falling: track the trough silently */
                    snn_uv_set(V, j, u);
                }
            }
            slot[j0 >> 5] = bits;
        }
    } else if (kind == SNN_LI) {
        /* u = sat24(decay(u, du) + I); v = sat24(sat24(decay(v, dv) + u) + bias); no spikes */
        for (j = 0u; j < n; j++) {
            const int32_t u = snn_sat24(snn_decay(snn_uv_get(U, j), SNN_DU(net, first + j)) + cur[j]); /* 24 + 24 */
            snn_uv_set(U, j, u);
            snn_uv_set(V, j, snn_sat24(snn_sat24(snn_decay(snn_uv_get(V, j), SNN_DV(net, first + j)) + u) +
                                         SNN_BIAS(net, first + j)));
        }
        for (j = 0u; j < pop->words; j++) {
            slot[j] = 0u;
        }
    } else {
#if SNN_NEURON_FAST
        n_spikes = (pop->shared & SNN_SHARED_PARAMS) != 0u ? spiking_fast(net, pop, cur, slot)
                                                           : spiking_variant(net, pop, cur, slot);
#else
        n_spikes = spiking_variant(net, pop, cur, slot);
#endif
    }
#if !SNN_PACKED_STATE
    pop->n_spikes = (uint16_t)n_spikes;
#endif
    net->spikes += n_spikes;
}

void snn_step(snn_net_t *net, const int16_t *in_codes, int16_t *out_codes)
{
    uint32_t p, k, j, synops = 0u;
    int32_t *const cur = net->cur;
    uint32_t *const list = (uint32_t *)(void *)net->acc; /* int32 scratch reused as uint32 offsets */

    net->spikes = 0u;
    /* every population moves to a fresh history slot; slots of earlier steps stay readable */
    for (p = 0u; p < net->n_pops; p++) {
        snn_pop_t *pop = &net->pops[p];
        if (pop->depth > 1u) { /* depth 1: the one slot, head stays 0 */
            pop->head = (uint8_t)(pop->head + 1u >= pop->depth ? 0u : pop->head + 1u);
        }
    }
    for (p = 0u; p < net->n_pops; p++) {
        snn_pop_t *pop = &net->pops[p];
        int fresh = 1; /* cur[] holds nothing yet */
        for (k = pop->proj_begin; k < pop->proj_end; k++) { /* file order = order of summation */
            const snn_proj_t *q = &net->projs[k];
            const scale_t sc = scale_of(q->exponent);
            if (q->sparse) {
                synops += scatter_sparse(net, q, in_codes, &sc, cur, fresh);
                fresh = 0;
            } else {
                const int8_t *w = (const int8_t *)(const void *)(net->blob + q->w_off);
                if (q->src == SNN_INPUT) {
                    uint32_t i, n_nz = 0u;
                    for (i = 0u; i < net->n_inputs; i++) {
                        n_nz += in_codes[i] != 0 ? 1u : 0u;
                    }
                    if (n_nz != 0u) { /* all codes 0: acc = 0, nothing to add */
#if SNN_STEP_FAST
                        i = 0u;
                        if (n_nz == 1u) {
                            while (in_codes[i] == 0) { /* the one nonzero code */
                                i++;
                            }
                        }
                        if (n_nz != 1u || !gather_input_one(w + i * (uint32_t)q->n_dst, (int32_t)in_codes[i], q->n_dst,
                                                            &sc, cur, fresh))
#endif
                        {
                            gather_input(w, in_codes, net->n_inputs, q->n_dst, &sc, cur, fresh);
                        }
                        synops += n_nz * q->n_dst;
                        fresh = 0;
                    }
#if SNN_STEP_FAST
                } else if (q->n_dst == 1u) { /* one destination: summed straight from the spike words */
                    const uint32_t n_act = gather_one_fast(net, q, w, &sc, cur, fresh);
                    if (n_act != 0u) {
                        synops += n_act;
                        fresh = 0;
                    }
#endif
                } else {
                    const uint32_t n_act = list_active(net, q, list);
                    if (n_act != 0u) { /* no spike: acc = 0, nothing to add */
#if SNN_GATHER_SWAR
                        if (n_act <= 256u && (q->n_dst & 7u) == 0u) { /* all in byte-lane blocks */
                            (void)gather_swar(w, list, n_act, q->n_dst, &sc, cur, fresh);
                        } else
#endif
                        {
                            gather_spikes(w, list, n_act, q->n_dst, &sc, cur, fresh);
                        }
                        synops += n_act * q->n_dst; /* <= 65535^2 < 2^32 */
                        fresh = 0;
                    }
                }
            }
        }
        if (fresh) {
            for (j = 0u; j < pop->n; j++) {
                cur[j] = 0;
            }
        }
        update_population(net, pop, cur);
    }
    net->synops = synops;
    if (out_codes != NULL) {
        for (k = 0u; k < net->n_outputs; k++) {
            const snn_out_t *o = &net->outs[k];
            out_codes[k] = snn_sat16(snn_floordiv_pow2(snn_uv_get(net->v, o->neuron), o->shift));
        }
    }
}
