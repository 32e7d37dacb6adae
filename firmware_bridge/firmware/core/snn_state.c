/* snn_state.c - reset and read-out of the network state (trace tools, counters, error names). */
#include <stddef.h>

#include "snn.h"

void snn_reset(snn_net_t *net)
{
    uint32_t i, p, words = 0u;
    for (i = 0u; i < net->n_neurons; i++) {
        net->u[i] = 0;
        net->v[i] = 0;
        net->a[i] = 0;
        net->r[i] = 0u;
    }
    for (p = 0u; p < net->n_pops; p++) {
        snn_pop_t *pop = &net->pops[p];
        pop->head = 0u;
        pop->n_spikes = 0u;
        words += (uint32_t)pop->depth * pop->words;
    }
    for (i = 0u; i < words; i++) {
        net->hist[i] = 0u; /* history before the first step reads as 0 */
    }
    net->spikes = 0u;
    net->synops = 0u;
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
