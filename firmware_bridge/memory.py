"""Device memory of a network, computed exactly as the C core's `snn_load` lays it out.

`arena_bytes` is the RAM `snn_load` needs (what `snnrun NET.snn --info` prints), `blob_bytes` the
`.snn` file that must stay readable (flash) while the net runs, `weight_bytes` the int8 weights
inside it, which the core executes in place.

Layout assumptions (mirroring `firmware_bridge/firmware/core/snn.h`, checked there at compile time):
the arena is 4-byte aligned; every region starts on a 4-byte boundary (each region's size is
rounded up to a multiple of 4); descriptors are fixed-size structs of fixed-width integers with no
pointers, so the figure is the same on 16-, 32- and 64-bit targets. Two layouts:

* 32-bit (default): populations 28 bytes, projections 28, outputs 4; du, dv (uint16), bias, theta,
  u, v (int32, interleaved in pairs), a (int32) and a refractory byte per neuron; native copies of
  the sparse indices.
* packed (`SNN_PACKED_STATE`, the 8-bit AVR builds; `packed=True`): populations 22 bytes,
  projections 12, outputs 4; u and v in 3-byte cells, a only for ALIF neurons, a 4-bit refractory
  counter only for neurons of populations with a refractory period; the parameters and sparse
  indices are read from the blob in place. Same integer model, fewer bytes.
"""

from __future__ import annotations

from snnctl.network import INPUT, Kind, Network

POP_DESCRIPTOR_BYTES = 28
PROJ_DESCRIPTOR_BYTES = 28
OUTPUT_DESCRIPTOR_BYTES = 4
PACKED_POP_DESCRIPTOR_BYTES = 22
PACKED_PROJ_DESCRIPTOR_BYTES = 12
CELL_BYTES = 3  # one packed 24-bit state value


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def history_depths(net: Network) -> list[int]:
    """Spike-history ring depth per population: 1 + the largest lag of a projection reading it."""
    depth = [1] * len(net.populations)
    for q in net.projections:
        if q.src != INPUT:
            depth[q.src] = max(depth[q.src], 1 + q.lag)
    return depth


def _neuron_bytes(net: Network, packed: bool) -> tuple[int, int, int]:
    """(descriptor, parameter, state) bytes of the arena in the chosen layout."""
    n = net.n_neurons
    if not packed:
        descriptors = (
            _pad4(POP_DESCRIPTOR_BYTES * len(net.populations))
            + _pad4(PROJ_DESCRIPTOR_BYTES * len(net.projections))
            + _pad4(OUTPUT_DESCRIPTOR_BYTES * net.n_outputs)
        )
        parameters = 2 * _pad4(2 * n) + 2 * 4 * n  # du, dv (uint16); bias, theta (int32)
        state = 3 * 4 * n + _pad4(n)  # u, v, a (int32); refractory counters (uint8)
        return descriptors, parameters, state
    descriptors = (
        _pad4(PACKED_POP_DESCRIPTOR_BYTES * len(net.populations))
        + _pad4(PACKED_PROJ_DESCRIPTOR_BYTES * len(net.projections))
        + _pad4(OUTPUT_DESCRIPTOR_BYTES * net.n_outputs)
    )
    n_alif = sum(p.n for p in net.populations if p.kind == Kind.ALIF)
    n_refr = sum(p.n for p in net.populations if p.refractory > 0)
    # u, v: 3-byte cells; a: ALIF neurons only; refractory: two 4-bit counters per byte
    state = 2 * _pad4(CELL_BYTES * n) + _pad4(CELL_BYTES * n_alif) + _pad4((n_refr + 1) // 2)
    return descriptors, 0, state


def device_bytes(net: Network, packed: bool = False) -> dict[str, int]:
    """Arena, weight and blob bytes of `net` on a device running the C core (see module docstring).

    `packed` selects the layout of an `SNN_PACKED_STATE` build (the 8-bit AVR boards;
    `firmware_bridge.boards.Board.packed_state`). Besides the totals, the arena is broken down
    into `descriptor_bytes`, `parameter_bytes` (du, dv, bias, theta; 0 packed: read from the blob),
    `state_bytes` (u, v, a, refractory), `history_bytes`, `scratch_bytes` and
    `sparse_index_bytes` (native copies of the sparse row pointers and column indices; 0 packed).
    """
    from snnctl.snnfile import to_bytes  # the writer defines the file size; import lazily

    max_pop = max(p.n for p in net.populations)
    descriptors, parameters, state = _neuron_bytes(net, packed)
    history = 4 * sum(d * ((p.n + 31) // 32) for d, p in zip(history_depths(net), net.populations, strict=True))
    scratch = 2 * 4 * max_pop  # acc and I
    sparse_index = 0
    if not packed:
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


def arena_bytes_on(net: Network, device_name: str) -> tuple[int, ...]:
    """The arena `net` takes on the device that reports `device_name` in HELLO, smallest first: one
    value for a board of `firmware_bridge.boards` (its layout), both layouts for any other board (an
    Arduino build, "arduino", is packed on AVR and 32-bit elsewhere)."""
    from firmware_bridge import boards

    board = boards.by_device_name(device_name)
    layouts = (board.packed_state,) if board is not None else (True, False)
    return tuple(sorted({device_bytes(net, packed=p)["arena_bytes"] for p in layouts}))
