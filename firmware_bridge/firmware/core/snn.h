/*
 * snn.h - public API of the snnctl C99 core: load a `.snn` blob, reset, step.
 *
 * Specification: docs/integer-model.md (arithmetic) and docs/snn-format.md (file format).
 *
 * Memory model
 * ------------
 * The core never allocates. The caller provides
 *   - the blob (the `.snn` file bytes). The int8 weights are executed IN PLACE from the blob, so
 *     the blob must stay valid and unchanged for as long as the net is used (on a device: keep it
 *     in flash). Nothing else is read from the blob after snn_load, except the optional `fail`
 *     codes (snn_fail_code) and, in the packed layout below, the neuron parameters and sparse
 *     indices.
 *   - an arena (RAM) that snn_load fills with descriptors, parameters, state, spike history,
 *     scratch buffers and native copies of sparse index arrays. snn_measure (or snn_load itself)
 *     reports how many bytes are needed. Pass a 4-byte aligned arena to use every byte; an
 *     unaligned arena is aligned up internally and loses up to 3 bytes.
 *   - the snn_net_t itself (a small struct of pointers and counts; not in the arena).
 *
 * Arena layout (every region starts 4-byte aligned; sizes in bytes; N = neurons, P = populations,
 * Q = projections, O = outputs, M = largest population; firmware_bridge/memory.py mirrors this):
 *     pops   P * 28        snn_pop_t descriptors, population order
 *     projs  Q * 28        snn_proj_t descriptors, sorted by destination (file order kept within)
 *     outs   O * 4         snn_out_t
 *     du     pad4(2N)      uint16
 *     dv     pad4(2N)      uint16
 *     bias   4N            int32
 *     theta  4N            int32
 *     u,v    8N            int32 state, interleaved: u_0, v_0, u_1, v_1, ... (net->v = net->u + 1;
 *                          the neuron fast path loads and stores a pair at once)
 *     a      4N            int32 state
 *     r      pad4(N)       uint8 refractory counters
 *     hist   sum_p depth_p * ceil(n_p / 32) * 4    spike-history rings, one bit per neuron
 *     acc    4M            int32 synapse accumulator (scratch)
 *     cur    4M            int32 summed input current I (scratch)
 *     rows   sum over sparse projections of 4 * (n_src + 1)     native uint32 row pointers
 *     cols   pad4(2 * sum over sparse projections of nnz)       native uint16 column indices
 * The descriptors hold indices/offsets, never pointers, so the arena size is the same on 16-,
 * 32- and 64-bit targets.
 *
 * Packed layout (SNN_PACKED_STATE=1, for 8/16-bit targets where RAM is the limit; the integer
 * model and every result are unchanged, only where the values live). N_a = neurons of ALIF
 * populations, N_r = neurons of populations with a refractory period:
 *     pops   P * 22        snn_pop_t, 16-bit history index, a/r indices; a_step, da read from POPS
 *     projs  Q * 12        snn_proj_t, no sparse indices (read from the blob in place)
 *     outs   O * 4         snn_out_t
 *     u, v   2 * pad4(3N)  24-bit cells, 3 bytes each, little-endian two's complement
 *     a      pad4(3 N_a)   24-bit cells, ALIF populations only
 *     r      pad4(ceil(N_r / 2))   4-bit refractory counters (0..15), two per byte
 *     hist, acc, cur       as above
 * du, dv, bias, theta (the NEUR records), a_step and da (POPS) and the sparse row pointers and
 * column indices are read from the blob in place through SNN_BLOB_U8, so with the blob in flash
 * they cost no RAM: about 6 bytes per neuron instead of 25.
 *
 * Portability: C99, fixed-width types only, correct where `int` has 16 bits, no float, no
 * malloc, no recursion, no `>>` of a negative value, no division in the step.
 */
#ifndef SNN_H
#define SNN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes of snn_load / snn_measure: minus the error codes of docs/snn-format.md. */
enum snn_status {
    SNN_OK = 0,
    SNN_E_TRUNCATED = -1,   /* buffer shorter than header / file_bytes, or a section runs past the end */
    SNN_E_BAD_MAGIC = -2,   /* first four bytes are not "SNNC" */
    SNN_E_BAD_VERSION = -3, /* unknown format version */
    SNN_E_BAD_CRC = -4,     /* CRC-32 mismatch */
    SNN_E_BAD_SECTION = -5, /* required section missing / repeated / out of order / unknown */
    SNN_E_BAD_COUNT = -6,   /* a count or length disagrees with the header or the format limits */
    SNN_E_BAD_INDEX = -7,   /* an index outside its table, a weight block outside WGHT */
    SNN_E_BAD_VALUE = -8,   /* a field outside its range */
    SNN_E_TOO_LARGE = -9    /* the arena is too small for this network */
};

#define SNN_FORMAT_VERSION 1u

/* SNN_CORE_UNITS (default 1): the raw-unit conversion of snn_units.c and the three blob offsets it
 * keeps in snn_net_t. 0 on the smallest boards (atmega328p: 24 of its 2,048 bytes of RAM, with two
 * upload slots): the loader still checks a `unit` section; the conversion functions are absent. */
#ifndef SNN_CORE_UNITS
#define SNN_CORE_UNITS 1
#endif
#define SNN_INPUT 0xFFFFu /* projection source "the input codes" */

/* SNN_PACKED_STATE: the packed arena above (24-bit state cells, parameters read from the blob).
 * Default 1 on 8-bit AVR (the atmega328p port, every Arduino AVR board), 0 elsewhere: 32-bit
 * targets keep the 32-bit arrays, which their fast paths index directly. */
#ifndef SNN_PACKED_STATE
#if defined(__AVR__)
#define SNN_PACKED_STATE 1
#else
#define SNN_PACKED_STATE 0
#endif
#endif

/* One stored state value: an int32_t, or with SNN_PACKED_STATE the first of three bytes
 * (snn_cells.h reads and writes them). */
#if SNN_PACKED_STATE
typedef uint8_t snn_cell_t;
#else
typedef int32_t snn_cell_t;
#endif

#define SNN_MIN24 (-INT32_C(8388607) - 1) /* -2^23 */
#define SNN_MAX24 INT32_C(8388607)        /*  2^23 - 1 */

/* Limits of format version 1 (docs/snn-format.md). */
#define SNN_MAX_POPULATIONS 254u
#define SNN_MAX_PROJECTIONS 1024u
#define SNN_MAX_INPUTS 256u
#define SNN_MAX_OUTPUTS 256u
#define SNN_MAX_NEURONS 65535u

/* Population kinds and reset modes (integer-model.md §2). */
enum snn_kind { SNN_LIF = 0, SNN_ALIF = 1, SNN_LI = 2, SNN_DELTA = 3 };
enum snn_reset { SNN_RESET_HARD = 0, SNN_RESET_SOFT = 1 };

#if !SNN_PACKED_STATE
/* One population (28 bytes, no padding on any common ABI). */
typedef struct snn_pop {
    int32_t a_step;      /* ALIF threshold increase per spike, 0..MAX24 */
    uint32_t hist_word;  /* index of this population's history in net->hist (uint32 words) */
    uint16_t first;      /* flat index of the population's neuron 0 */
    uint16_t n;          /* neurons, 1..65535 */
    uint16_t words;      /* uint32 words per history slot = ceil(n / 32) */
    uint16_t da;         /* ALIF adaptation decay, 0..4096 */
    uint16_t proj_begin; /* incoming projections: net->projs[proj_begin .. proj_end) */
    uint16_t proj_end;
    uint16_t n_spikes;   /* spikes of this population in the last step */
    uint8_t kind;        /* enum snn_kind */
    uint8_t reset;       /* enum snn_reset */
    uint8_t refractory;  /* 0..15 */
    uint8_t depth;       /* history ring depth = 1 + max lag of the projections reading it */
    uint8_t head;        /* ring slot holding the current (last computed) step */
    uint8_t shared;      /* SNN_SHARED_PARAMS: du, dv and theta are the same for every neuron, and
                          * SNN_SHARED_BIAS (with it): bias too (set by snn_load; the step's neuron
                          * fast path, snn_update_fast.h, hoists them) */
} snn_pop_t;
#define SNN_SHARED_PARAMS 1u
#define SNN_SHARED_BIAS 2u

/* One projection (28 bytes). */
typedef struct snn_proj {
    uint32_t nnz;       /* synapses (dense: n_src * n_dst) */
    uint32_t w_off;     /* byte offset of the int8 weights in the blob */
    uint32_t row_index; /* sparse: index of row[0] in net->rows (n_src + 1 entries) */
    uint32_t col_index; /* sparse: index of col[0] in net->cols (nnz entries) */
    uint16_t src;       /* source population, or SNN_INPUT */
    uint16_t dst;       /* destination population */
    uint16_t n_src;
    uint16_t n_dst;
    int8_t exponent;    /* -16..16 */
    uint8_t lag;        /* delay + recurrent, 0..16 */
    uint8_t sparse;     /* 1: compressed rows */
    uint8_t reserved;
} snn_proj_t;
#else
/* One population, packed (22 bytes, 2-aligned): a_step and da stay in the blob's POPS record; no
 * per-population spike count. The history of all populations is at most 16 * (65535/32 + 254)
 * < 2^16 words. */
typedef struct snn_pop {
    uint16_t hist_word;  /* index of this population's history in net->hist (uint32 words) */
    uint16_t first;      /* flat index of the population's neuron 0 */
    uint16_t n;          /* neurons, 1..65535 */
    uint16_t words;      /* uint32 words per history slot = ceil(n / 32) */
    uint16_t proj_begin; /* incoming projections: net->projs[proj_begin .. proj_end) */
    uint16_t proj_end;
    uint16_t a_index;    /* ALIF: cell index of neuron 0's adaptation in net->a */
    uint16_t r_index;    /* refractory > 0: nibble index of neuron 0's counter in net->r */
    uint8_t kind;        /* enum snn_kind */
    uint8_t reset;       /* enum snn_reset */
    uint8_t refractory;  /* 0..15 */
    uint8_t depth;       /* history ring depth = 1 + max lag of the projections reading it */
    uint8_t head;        /* ring slot holding the current (last computed) step */
    uint8_t reserved;
} snn_pop_t;

/* One projection, packed (12 bytes): the source's size is its population's (or n_inputs), and a
 * sparse block's row pointers and column indices are read from the blob (w_off is then the
 * block's offset: rows, columns, weights, docs/snn-format.md). */
typedef struct snn_proj {
    uint32_t w_off;     /* dense: byte offset of the int8 weights in the blob; sparse: of the block */
    uint16_t src;       /* source population, or SNN_INPUT */
    uint16_t n_dst;
    int8_t exponent;    /* -16..16 */
    uint8_t lag;        /* delay + recurrent, 0..16 */
    uint8_t sparse;     /* 1: compressed rows */
    uint8_t reserved;
} snn_proj_t;
#endif

/* Sources of projection q: its n_src field, or in the packed layout its source's size. */
#if SNN_PACKED_STATE
#define SNN_PROJ_N_SRC(net, q) ((q)->src == SNN_INPUT ? (uint32_t)(net)->n_inputs : (uint32_t)(net)->pops[(q)->src].n)
#else
#define SNN_PROJ_N_SRC(net, q) ((uint32_t)(q)->n_src)
#endif

/* One output (4 bytes). */
typedef struct snn_out {
    uint16_t neuron; /* flat neuron index */
    uint8_t shift;   /* 0..23 */
    uint8_t reserved;
} snn_out_t;

typedef struct snn_net {
    const uint8_t *blob;  /* the loaded file; must outlive the net (weights are read in place) */
    uint8_t *arena;       /* 4-aligned start of the used arena */
    uint32_t arena_bytes; /* bytes of arena used (on SNN_E_TOO_LARGE: bytes needed) */
    uint32_t fail_off;    /* blob offset of the `fail` codes, 0 if the file has none */
#if SNN_CORE_UNITS
    uint32_t inpq_off;    /* blob offsets of the INPQ / OUTQ bodies (their zero points: snn_units.c) */
    uint32_t outq_off;
    uint32_t unit_off;    /* blob offset of the `unit` section (raw-unit conversion), 0 if none */
#endif
    uint32_t period_us;   /* the `ctrl` time step = control period in microseconds, 0 if unknown */
    uint16_t n_pops, n_projs, n_inputs, n_outputs;
    uint16_t n_neurons;   /* total, 1..65535 */
    uint32_t n_synapses;  /* stored weights of all projections (dense: n_src * n_dst; sparse: nnz) */
    uint16_t max_pop;     /* largest population (scratch buffer length) */
    snn_pop_t *pops;
    snn_proj_t *projs;
    snn_out_t *outs;
#if !SNN_PACKED_STATE
    uint16_t *du, *dv;         /* per neuron, flat order */
    int32_t *bias, *theta;
#else
    uint32_t neur_off;         /* blob offsets of the NEUR and POPS bodies (parameters read in place) */
    uint32_t pops_off;
#endif
    snn_cell_t *u, *v, *a;     /* state, each always in MIN24..MAX24 (packed: a of ALIF pops only;
                                * 32-bit: u and v interleaved, stride 2, snn_cells.h snn_uv_*) */
    uint8_t *r;                /* refractory counters (packed: 4-bit, of pops with a refractory period) */
    uint32_t *hist;            /* spike-history bit rings */
    int32_t *acc, *cur;        /* scratch, max_pop entries each */
#if !SNN_PACKED_STATE
    uint32_t *rows;            /* sparse row pointers (native) */
    uint16_t *cols;            /* sparse column indices (native) */
#endif
    /* Counters of the last step (integer-model.md §5). */
    uint32_t spikes;           /* spikes of all populations */
    uint32_t synops;           /* synaptic operations */
} snn_net_t;

/* Validate `blob` (len bytes) and report the arena bytes snn_load needs (4-aligned arena).
 * Returns SNN_OK or the same error code snn_load would return for a format problem. */
int32_t snn_measure(const uint8_t *blob, uint32_t len, uint32_t *arena_bytes_needed);

/* Validate `blob` in the order docs/snn-format.md gives, then lay the network out in `arena`.
 * Never reads outside [blob, blob + len). Returns SNN_OK, a format error, or SNN_E_TOO_LARGE if
 * arena_bytes is too small (then net->arena_bytes holds the bytes needed, for a 4-aligned arena).
 * On success the state is reset. */
int32_t snn_load(snn_net_t *net, const uint8_t *blob, uint32_t len, uint8_t *arena, uint32_t arena_bytes);

/* All state, refractory counters, spike history and counters to 0. */
void snn_reset(snn_net_t *net);

/* One time step (integer-model.md §3): in_codes[n_inputs] -> out_codes[n_outputs]. */
void snn_step(snn_net_t *net, const int16_t *in_codes, int16_t *out_codes);

/* Spikes of the last step as n_neurons flags (0/1), flat population order. */
void snn_spikes(const snn_net_t *net, uint8_t *flags);

/* State of neuron i (flat index < n_neurons): uva[0] = u, uva[1] = v, uva[2] = a (0 unless ALIF).
 * The same in the packed and the 32-bit layout (trace tools). */
void snn_neuron_state(const snn_net_t *net, uint16_t i, int32_t *uva);

/* Fail-safe output code k from the optional `fail` section (0 if the file has none). */
int16_t snn_fail_code(const snn_net_t *net, uint16_t k);

/* Physical units (snn_units.c, docs/snn-format.md `unit`): integer-only, fixed-point, saturating.
 * snn_input_code: the port's raw sensor reading of input i (e.g. lidar millimetres) -> input code.
 * snn_output_raw: output code k -> the port's raw actuator value (e.g. PWM duty 0..N), clamped to
 * the file's raw_min..raw_max. Rounding: to nearest, ties up. Without a `unit` section both are the
 * identity (saturated to int16 for inputs); an index out of range gives 0. */
#if SNN_CORE_UNITS
int snn_has_units(const snn_net_t *net);
int16_t snn_input_code(const snn_net_t *net, uint16_t i, int32_t raw);
int32_t snn_output_raw(const snn_net_t *net, uint16_t k, int16_t code);
void snn_inputs_from_raw(const snn_net_t *net, const int32_t *raw, int16_t *codes);  /* n_inputs each */
void snn_outputs_to_raw(const snn_net_t *net, const int16_t *codes, int32_t *raw);   /* n_outputs each */
#endif

/* The network's time step (`ctrl`), i.e. the period of a loop that steps it once per period, in
 * microseconds; 0 if the file does not record it. */
uint32_t snn_period_us(const snn_net_t *net);

/* "OK", "TRUNCATED", "BAD_MAGIC", ... "TOO_LARGE" (the names of docs/snn-format.md). */
const char *snn_error_name(int32_t code);

#ifdef __cplusplus
}
#endif

#endif /* SNN_H */
