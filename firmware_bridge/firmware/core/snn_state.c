/* snn_state.c - reset and read-out of the network state (trace tools, counters, error names). */
#include <stddef.h>

#include "snn.h"
#include "snn_cells.h"

void snn_reset(snn_net_t *net)
{
    /* u, v, a, r and the spike history are adjacent regions of the arena, in this order, in both
     * layouts (snn.h; snn_load.c plan_arena): one pass zeroes them, padding included. History
     * before the first step reads as 0. */
    uint8_t *b = (uint8_t *)net->u;
    uint8_t *const end = (uint8_t *)(void *)net->acc;
    uint32_t p;
    while (b != end) {
        *b++ = 0u;
    }
    for (p = 0u; p < net->n_pops; p++) {
        net->pops[p].head = 0u;
#if !SNN_PACKED_STATE
        net->pops[p].n_spikes = 0u;
#endif
    }
    net->spikes = 0u;
    net->synops = 0u;
}

void snn_neuron_state(const snn_net_t *net, uint16_t i, int32_t *uva)
{
    uint32_t p = 0u;
    const snn_pop_t *pop = net->pops;
    while (p + 1u < net->n_pops && i >= net->pops[p + 1u].first) { /* the population holding i */
        p++;
    }
    pop = &net->pops[p];
    uva[0] = snn_uv_get(net->u, i);
    uva[1] = snn_uv_get(net->v, i);
    uva[2] = pop->kind == SNN_ALIF ? snn_cell_get(net->a, SNN_POP_A_FIRST(pop) + (uint32_t)(i - pop->first)) : 0;
}

void snn_spikes(const snn_net_t *net, uint8_t *flags)
{
    uint32_t p, j;
    for (p = 0u; p < net->n_pops; p++) {
        const snn_pop_t *pop = &net->pops[p];
        const uint32_t *slot = net->hist + pop->hist_word + (uint32_t)pop->head * pop->words;
        for (j = 0u; j < pop->n; j++) {
            flags[pop->first + j] = (uint8_t)((slot[j >> 5] >> (j & 31u)) & 1u);
        }
    }
}

const char *snn_error_name(int32_t code)
{
    static const char *const names[10] = {
        "OK", "TRUNCATED", "BAD_MAGIC", "BAD_VERSION", "BAD_CRC",
        "BAD_SECTION", "BAD_COUNT", "BAD_INDEX", "BAD_VALUE", "TOO_LARGE",
    };
    if (code <= 0 && code >= SNN_E_TOO_LARGE) {
        return names[-code];
    }
    return "UNKNOWN";
}
