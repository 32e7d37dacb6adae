/*
 * snn_step.c - one time step of docs/integer-model.md §3.
 *
 * Widths (why nothing overflows an int32_t):
 *   - state u, v, a and the current I are kept in MIN24..MAX24 by sat24 after every addition;
 *     a sum of two 24-bit values needs 25 bits.
 *   - synapse accumulator acc: an INPUT row adds int8 * int16 (|.| <= 2^7 * 2^15 = 2^22) for at
 *     most 256 inputs: |acc| <= 2^30. A spike row adds one int8 per active source, at most
 *     65535 of them: |acc| <= 128 * 65535 < 2^23. No saturation is needed inside the sum.
 *   - threshold th = theta + a: theta <= MAX24 and 0 <= a <= MAX24, so 1 <= th < 2^24.
 *   - DELTA: u - v of two 24-bit values needs 25 bits.
 * No division or modulo: ring heads wrap by comparison, bit positions use shifts of unsigned
 * values, and every floor division is by a power of two (snn_fixed.h).
 */
#include <stddef.h>

#include "snn.h"
#include "snn_fixed.h"

/* Add row i (the synapses of source i) times x to acc; returns the synapses touched.
 * Dense: w[i * n_dst + j] for every j. Sparse: w[k], col[k] for k in row[i] .. row[i+1]. */
static uint32_t add_row_times(const snn_net_t *net, const snn_proj_t *q, uint32_t i, int32_t x, int32_t *acc)
{
    const int8_t *w = (const int8_t *)(const void *)(net->blob + q->w_off);
    uint32_t j;
    if (!q->sparse) {
        const int8_t *row = w + i * (uint32_t)q->n_dst; /* < n_src * n_dst < 2^32 */
        for (j = 0u; j < q->n_dst; j++) {
            acc[j] += (int32_t)row[j] * x; /* int8 * int16 -> |.| <= 2^22 */
        }
        return q->n_dst;
    } else {
        const uint32_t *rows = net->rows + q->row_index;
        const uint16_t *cols = net->cols + q->col_index;
        uint32_t lo = rows[i], hi = rows[i + 1u];
        for (j = lo; j < hi; j++) {
            acc[cols[j]] += (int32_t)w[j] * x;
        }
        return hi - lo;
    }
}

/* Spike sources: x = 1, so only the weights are added (no multiply). */
static uint32_t add_row(const snn_net_t *net, const snn_proj_t *q, uint32_t i, int32_t *acc)
{
    const int8_t *w = (const int8_t *)(const void *)(net->blob + q->w_off);
    uint32_t j;
    if (!q->sparse) {
        const int8_t *row = w + i * (uint32_t)q->n_dst;
        for (j = 0u; j < q->n_dst; j++) {
            acc[j] += (int32_t)row[j];
        }
        return q->n_dst;
    } else {
        const uint32_t *rows = net->rows + q->row_index;
        const uint16_t *cols = net->cols + q->col_index;
        uint32_t lo = rows[i], hi = rows[i + 1u];
        for (j = lo; j < hi; j++) {
            acc[cols[j]] += (int32_t)w[j];
        }
        return hi - lo;
    }
}

/* acc = sum_i w[i, .] * x[i] over the non-zero input codes. */
static uint32_t accumulate_input(const snn_net_t *net, const snn_proj_t *q, const int16_t *x, int32_t *acc)
{
    uint32_t i, synops = 0u;
    for (i = 0u; i < q->n_src; i++) {
        if (x[i] != 0) {
            synops += add_row_times(net, q, i, (int32_t)x[i], acc);
        }
    }
    return synops;
}

/* acc = sum of the rows of the sources that spiked `lag` steps ago (event driven: silent words
 * of the bit ring are skipped). */
static uint32_t accumulate_spikes(const snn_net_t *net, const snn_proj_t *q, int32_t *acc)
{
    const snn_pop_t *src = &net->pops[q->src];
    /* slot of step t - lag; lag < depth, so one conditional add replaces the modulo */
    uint32_t slot = src->head >= q->lag ? (uint32_t)(src->head - q->lag)
                                          : (uint32_t)src->head + src->depth - q->lag;
    const uint32_t *bits = net->hist + src->hist_word + slot * src->words;
    uint32_t wi, synops = 0u;
    for (wi = 0u; wi < src->words; wi++) {
        uint32_t word = bits[wi];
        uint32_t i = wi << 5;
        while (word != 0u) { /* unsigned shifts only */
            if ((word & 1u) != 0u) {
                synops += add_row(net, q, i, acc);
            }
            word >>= 1;
            i++;
        }
    }
    return synops;
}

/* Neuron update of one population (§3) from the summed current cur[]; writes s_p(t) into the
 * population's current history slot. */
static void update_population(snn_net_t *net, snn_pop_t *pop)
{
    uint32_t *slot = net->hist + pop->hist_word + (uint32_t)pop->head * pop->words;
    const int32_t *cur = net->cur;
    const uint32_t first = pop->first;
    uint32_t j, n_spikes = 0u;

    for (j = 0u; j < pop->words; j++) {
        slot[j] = 0u;
    }
    for (j = 0u; j < pop->n; j++) {
        const uint32_t i = first + j;
        int32_t u = snn_sat24(snn_decay(net->u[i], net->du[i]) + cur[j]); /* 24 + 24 bits */
        int32_t v = net->v[i];
        uint8_t s = 0u;
        net->u[i] = u;
        switch (pop->kind) {
        case SNN_LIF:
        case SNN_ALIF:
            if (net->r[i] > 0u) {
                net->r[i]--; /* refractory: v frozen, no spike */
            } else {
                int32_t th = net->theta[i] + net->a[i]; /* 1 <= th < 2^24 */
                v = snn_sat24(snn_sat24(snn_decay(v, net->dv[i]) + u) + net->bias[i]);
                if (v >= th) {
                    s = 1u;
                    v = pop->reset == SNN_RESET_HARD ? 0 : v - th; /* v - th in 0..MAX24 */
                    net->r[i] = pop->refractory;
                }
                net->v[i] = v;
            }
            if (pop->kind == SNN_ALIF) { /* a >= 0 always: decay keeps the sign, a_step >= 0 */
                net->a[i] = snn_sat24(snn_decay(net->a[i], pop->da) + (s ? pop->a_step : 0));
            }
            break;
        case SNN_LI:
            net->v[i] = snn_sat24(snn_sat24(snn_decay(v, net->dv[i]) + u) + net->bias[i]);
            break;
        default: /* SNN_DELTA: v is the reference level, theta is delta */
            if (u - v >= net->theta[i]) { /* 25-bit difference */
                s = 1u;
                net->v[i] = u;
            } else if (u < v) {
                net->v[i] = u;
            }
            break;
        }
        if (s) {
            slot[j >> 5] |= (uint32_t)1u << (j & 31u);
            n_spikes++;
        }
    }
    pop->n_spikes = (uint16_t)n_spikes;
    net->spikes += n_spikes;
}

void snn_step(snn_net_t *net, const int16_t *in_codes, int16_t *out_codes)
{
    uint32_t p, k, j;
    int32_t *acc = net->acc, *cur = net->cur;

    net->spikes = 0u;
    net->synops = 0u;
    /* every population moves to a fresh history slot; slots of earlier steps stay readable */
    for (p = 0u; p < net->n_pops; p++) {
        snn_pop_t *pop = &net->pops[p];
        pop->head = (uint8_t)(pop->head + 1u >= pop->depth ? 0u : pop->head + 1u);
    }
    for (p = 0u; p < net->n_pops; p++) {
        snn_pop_t *pop = &net->pops[p];
        for (j = 0u; j < pop->n; j++) {
            cur[j] = 0;
        }
        for (k = pop->proj_begin; k < pop->proj_end; k++) { /* file order = order of summation */
            const snn_proj_t *q = &net->projs[k];
            for (j = 0u; j < q->n_dst; j++) {
                acc[j] = 0;
            }
            if (q->src == SNN_INPUT) {
                net->synops += accumulate_input(net, q, in_codes, acc);
            } else {
                net->synops += accumulate_spikes(net, q, acc);
            }
            for (j = 0u; j < q->n_dst; j++) {
                cur[j] = snn_sat24(cur[j] + snn_scale(acc[j], q->exponent)); /* 24 + 24 bits */
            }
        }
        update_population(net, pop);
    }
    if (out_codes != NULL) {
        for (k = 0u; k < net->n_outputs; k++) {
            const snn_out_t *o = &net->outs[k];
            out_codes[k] = snn_sat16(snn_floordiv_pow2(net->v[o->neuron], o->shift));
        }
    }
}
