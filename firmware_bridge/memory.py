"""Device memory of a network, computed exactly as the C core's `snn_load` lays it out.

`arena_bytes` is the RAM `snn_load` needs (what `snnrun NET.snn --info` prints), `blob_bytes` the
`.snn` file that must stay readable (flash) while the net runs, `weight_bytes` the int8 weights
inside it, which the core executes in place.

Layout assumptions (mirroring `firmware_bridge/firmware/core/snn.h`, checked there at compile time):
the arena is 4-byte aligned; every region starts on a 4-byte boundary (each region's size is
rounded up to a multiple of 4); descriptors are fixed-size structs of fixed-width integers with no
pointers (population 28 bytes, projection 28 bytes, output 4 bytes), so the figure is the same on
16-, 32- and 64-bit targets.
"""

from __future__ import annotations

from snnctl.network import INPUT, Network

POP_DESCRIPTOR_BYTES = 28
PROJ_DESCRIPTOR_BYTES = 28
OUTPUT_DESCRIPTOR_BYTES = 4


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def history_depths(net: Network) -> list[int]:
    """Spike-history ring depth per population: 1 + the largest lag of a projection reading it."""
    depth = [1] * len(net.populations)
    for q in net.projections:
        if q.src != INPUT:
            depth[q.src] = max(depth[q.src], 1 + q.lag)
    return depth


def device_bytes(net: Network) -> dict[str, int]:
    """Arena, weight and blob bytes of `net` on a device running the C core (see module docstring).

    Besides the totals, the arena is broken down into `descriptor_bytes`, `parameter_bytes`
    (du, dv, bias, theta), `state_bytes` (u, v, a, refractory), `history_bytes`, `scratch_bytes`
    and `sparse_index_bytes` (native copies of the sparse row pointers and column indices).
    """
    from snnctl.snnfile import to_bytes  # the writer defines the file size; import lazily

    n = net.n_neurons
    max_pop = max(p.n for p in net.populations)
    descriptors = (
        _pad4(POP_DESCRIPTOR_BYTES * len(net.populations))
        + _pad4(PROJ_DESCRIPTOR_BYTES * len(net.projections))
        + _pad4(OUTPUT_DESCRIPTOR_BYTES * net.n_outputs)
    )
    parameters = 2 * _pad4(2 * n) + 2 * 4 * n  # du, dv (uint16); bias, theta (int32)
    state = 3 * 4 * n + _pad4(n)  # u, v, a (int32); refractory counters (uint8)
    history = 4 * sum(d * ((p.n + 31) // 32) for d, p in zip(history_depths(net), net.populations, strict=True))
    scratch = 2 * 4 * max_pop  # acc and I
    rows = sum(net.src_size(q) + 1 for q in net.projections if q.sparse)
    cols = sum(q.nnz for q in net.projections if q.sparse)
    sparse_index = 4 * rows + _pad4(2 * cols)
    arena = descriptors + parameters + state + history + scratch + sparse_index
    return {
        "arena_bytes": arena,
        "weight_bytes": sum(q.nnz for q in net.projections),
        "blob_bytes": len(to_bytes(net)),
        "descriptor_bytes": descriptors,
        "parameter_bytes": parameters,
        "state_bytes": state,
        "history_bytes": history,
        "scratch_bytes": scratch,
        "sparse_index_bytes": sparse_index,
    }
