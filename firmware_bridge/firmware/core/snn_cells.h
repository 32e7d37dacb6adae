/*
 * snn_cells.h - where a neuron's state and parameters live (layouts: snn.h).
 *
 * Default: int32 state arrays and copies of du, dv, bias, theta in the arena. With
 * SNN_PACKED_STATE (8/16-bit targets): each state value in a 3-byte cell, the refractory counters
 * in nibbles, and the parameters read from the blob's NEUR records in place through SNN_BLOB_U8
 * (a flash read on AVR). The step, reset and trace code touch neurons only through these helpers,
 * so both layouts run the same arithmetic: a packed value is the same 24-bit integer, stored in
 * fewer bytes.
 */
#ifndef SNN_CELLS_H
#define SNN_CELLS_H

#include <stddef.h>
#include <stdint.h>

#include "snn.h"
#include "snn_blob.h"
#include "snn_fixed.h"

#define SNN_NEUR_RECORD 12u /* du u16, dv u16, bias i32, theta i32 (docs/snn-format.md NEUR) */
#define SNN_POPS_RECORD 12u /* kind, reset, refractory, 0, n u16, da u16, a_step i32 (POPS) */

#if SNN_PACKED_STATE
/* ---- blob reads (little-endian, byte by byte) ----------------------------------------------- */
SNN_INLINE uint16_t snn_blob_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)SNN_BLOB_U8(p) | (uint16_t)((uint16_t)SNN_BLOB_U8(p + 1) << 8));
}

SNN_INLINE uint32_t snn_blob_u32(const uint8_t *p)
{
    return (uint32_t)SNN_BLOB_U8(p) | ((uint32_t)SNN_BLOB_U8(p + 1) << 8) | ((uint32_t)SNN_BLOB_U8(p + 2) << 16) |
           ((uint32_t)SNN_BLOB_U8(p + 3) << 24);
}

/* The low 24 bits of a little-endian int32 field whose value the loader checked to lie in
 * MIN24..MAX24, sign-extended: bit 23 set means x - 2^24 (x < 2^24, so no overflow). */
SNN_INLINE int32_t snn_blob_s24(const uint8_t *p)
{
    const uint32_t x = (uint32_t)SNN_BLOB_U8(p) | ((uint32_t)SNN_BLOB_U8(p + 1) << 8) |
                       ((uint32_t)SNN_BLOB_U8(p + 2) << 16);
    return (int32_t)x - (int32_t)((x & UINT32_C(0x800000)) << 1);
}

/* ---- 24-bit state cells ------------------------------------------------------------------- */
/* Cell i of the cell array at c: three bytes, little-endian two's complement. Offsets are size_t:
 * a cell lies in the arena, so its offset fits the address width (16 bits on AVR, where a 32-bit
 * multiply per access is a library call). */
SNN_INLINE snn_cell_t *snn_cell_ptr(snn_cell_t *c, size_t i)
{
    return c + 3u * i;
}

SNN_INLINE int32_t snn_cell_get(const snn_cell_t *c, size_t i)
{
    const uint8_t *p = c + 3u * i;
    const uint32_t x = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    return (int32_t)x - (int32_t)((x & UINT32_C(0x800000)) << 1); /* sign-extend bit 23 */
}

/* x in MIN24..MAX24: its two's-complement bits (unsigned conversion is modular, well defined),
 * low three bytes kept; bit 23 is the sign, so snn_cell_get restores x exactly. */
SNN_INLINE void snn_cell_set(snn_cell_t *c, size_t i, int32_t x)
{
    uint8_t *p = c + 3u * i;
    const uint32_t b = (uint32_t)x;
    p[0] = (uint8_t)(b & 0xFFu);
    p[1] = (uint8_t)((b >> 8) & 0xFFu);
    p[2] = (uint8_t)((b >> 16) & 0xFFu);
}

/* u and v: cell arrays of their own (snn_uv_* = snn_cell_*; the 32-bit layout interleaves them) */
#define snn_uv_ptr snn_cell_ptr
#define snn_uv_get snn_cell_get
#define snn_uv_set snn_cell_set

/* ---- refractory counters: 4 bits each (0..15), counter i in byte i/2, low nibble first ----------- */
SNN_INLINE uint8_t snn_refr_get(const uint8_t *r, size_t i)
{
    return (uint8_t)((r[i >> 1] >> ((i & 1u) << 2)) & 0x0Fu);
}

SNN_INLINE void snn_refr_set(uint8_t *r, size_t i, uint8_t x)
{
    uint8_t *p = r + (i >> 1);
    *p = (i & 1u) != 0u ? (uint8_t)((*p & 0x0Fu) | (uint8_t)(x << 4)) : (uint8_t)((*p & 0xF0u) | x);
}

/* ---- parameters of neuron i (flat index), from its NEUR record ---------------------------------- */
/* The blob is addressable memory (flash on AVR: below 64 KB), so its offsets fit size_t too. */
SNN_INLINE const uint8_t *snn_neur_rec(const snn_net_t *net, size_t i)
{
    return net->blob + (size_t)net->neur_off + SNN_NEUR_RECORD * i;
}
#define SNN_DU(net, i) snn_blob_u16(snn_neur_rec((net), (i)))
#define SNN_DV(net, i) snn_blob_u16(snn_neur_rec((net), (i)) + 2)
#define SNN_BIAS(net, i) snn_blob_s24(snn_neur_rec((net), (i)) + 4)
#define SNN_THETA(net, i) snn_blob_s24(snn_neur_rec((net), (i)) + 8)

/* a_step (0..MAX24) and da of population p, from its POPS record */
#define SNN_POP_DA(net, p) snn_blob_u16((net)->blob + (size_t)(net)->pops_off + SNN_POPS_RECORD * (size_t)(p) + 6u)
#define SNN_POP_A_STEP(net, p) snn_blob_s24((net)->blob + (size_t)(net)->pops_off + SNN_POPS_RECORD * (size_t)(p) + 8u)
/* index of the population's first adaptation cell / refractory counter */
#define SNN_POP_A_FIRST(pop) ((uint32_t)(pop)->a_index)
#define SNN_POP_R_FIRST(pop) ((uint32_t)(pop)->r_index)

#else /* 32-bit arrays */

SNN_INLINE snn_cell_t *snn_cell_ptr(snn_cell_t *c, uint32_t i)
{
    return c + i;
}

SNN_INLINE int32_t snn_cell_get(const snn_cell_t *c, uint32_t i)
{
    return c[i];
}

SNN_INLINE void snn_cell_set(snn_cell_t *c, uint32_t i, int32_t x)
{
    c[i] = x;
}

/* u and v interleaved (snn.h): u of neuron i is word 2i of the u/v region, v word 2i + 1; net->u
 * points at word 0 and net->v at word 1, so both are read with stride 2 (the neuron fast path
 * loads and stores a neuron's u and v as one pair). */
SNN_INLINE snn_cell_t *snn_uv_ptr(snn_cell_t *c, uint32_t i)
{
    return c + 2u * i;
}

SNN_INLINE int32_t snn_uv_get(const snn_cell_t *c, uint32_t i)
{
    return c[2u * i];
}

SNN_INLINE void snn_uv_set(snn_cell_t *c, uint32_t i, int32_t x)
{
    c[2u * i] = x;
}

SNN_INLINE uint8_t snn_refr_get(const uint8_t *r, uint32_t i)
{
    return r[i];
}

SNN_INLINE void snn_refr_set(uint8_t *r, uint32_t i, uint8_t x)
{
    r[i] = x;
}

#define SNN_DU(net, i) ((net)->du[i])
#define SNN_DV(net, i) ((net)->dv[i])
#define SNN_BIAS(net, i) ((net)->bias[i])
#define SNN_THETA(net, i) ((net)->theta[i])
#define SNN_POP_DA(net, p) ((net)->pops[p].da)
#define SNN_POP_A_STEP(net, p) ((net)->pops[p].a_step)
#define SNN_POP_A_FIRST(pop) ((uint32_t)(pop)->first)
#define SNN_POP_R_FIRST(pop) ((uint32_t)(pop)->first)
#endif

#endif /* SNN_CELLS_H */
