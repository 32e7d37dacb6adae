"""numba kernels for the integer model of docs/integer-model.md.

A network is flattened once into one int32 "program" array (tables of populations, neurons,
projections, weights and outputs, addressed by offsets in its header) and one int32 state array
(u, v, a, refractory counters, spike-history rings, ring heads and scratch). Passing two arrays
instead of dozens keeps the numba call overhead of a single control-loop step near a microsecond,
and a batch of same-shaped networks is just a 2-D stack of programs.

Arithmetic notes. Locals are int64. numba's `>>` on a signed integer is an arithmetic shift, i.e.
floor division by a power of two for negative values too, which is exactly `floordiv` of the spec.
`x * d` (|x| < 2^23, d <= 2^12) needs 36 bits; int64 holds it. The synapse accumulator is at most
2^30 in magnitude (spec fan-in bound) and a left shift by <= 16 stays below 2^47.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .network import INPUT, Network

MIN24 = -(1 << 23)
MAX24 = (1 << 23) - 1

# header slots
H_NPOP, H_NPROJ, H_NIN, H_NOUT, H_NNEUR, H_POPS, H_NEUR, H_PROJ, H_OUT, H_STATE_LEN, H_MAXPOP = range(11)
HEADER_LEN = 11
# population record: kind, reset, refractory, da, a_step, n, first neuron, ring offset, ring depth,
# head slot (state index), first projection (in dst-sorted order), projection count
POP_LEN = 12
# projection record: src pop (-1 = input), n_src, lag, exponent, sparse, weights off, rows off, cols off
PROJ_LEN = 8
# state layout: u[N], v[N], a[N], r[N], rings..., heads[P], scratch acc[maxpop], scratch I[maxpop]
S_U, S_V, S_A, S_R = 0, 1, 2, 3


class Program:
    """A network flattened for the kernels; `prog` is read-only, `new_state()` gives zeroed state."""

    def __init__(self, net: Network) -> None:
        self.prog = compile_network(net)
        self.n_inputs = net.n_inputs
        self.n_outputs = net.n_outputs
        self.n_neurons = net.n_neurons

    @property
    def state_len(self) -> int:
        return int(self.prog[H_STATE_LEN])

    def new_state(self) -> np.ndarray:
        return np.zeros(self.state_len, dtype=np.int32)


def compile_network(net: Network) -> np.ndarray:
    """Flatten a validated network into the int32 program array the kernels execute."""
    net.validate()
    n_pop, n_neur = len(net.populations), net.n_neurons
    first = net.offsets()
    # ring depth per population: 1 + the largest lag of any projection that reads it
    depth = [1] * n_pop
    for q in net.projections:
        if q.src != INPUT:
            depth[q.src] = max(depth[q.src], 1 + q.lag)
    order = sorted(range(len(net.projections)), key=lambda k: net.projections[k].dst)  # stable: file order kept
    max_pop = max(p.n for p in net.populations)

    # state layout
    ring_off, pos = [], 4 * n_neur
    for i, p in enumerate(net.populations):
        ring_off.append(pos)
        pos += depth[i] * p.n
    heads = pos
    pos += n_pop
    state_len = pos + 2 * max_pop

    chunks: list[np.ndarray] = []
    header = np.zeros(HEADER_LEN, dtype=np.int64)
    cursor = HEADER_LEN

    def put(arr: np.ndarray) -> int:
        nonlocal cursor
        at = cursor
        chunks.append(np.asarray(arr, dtype=np.int64).ravel())
        cursor += chunks[-1].size
        return at

    pops = np.zeros((n_pop, POP_LEN), dtype=np.int64)
    proj_first = {}
    for rank, k in enumerate(order):
        proj_first.setdefault(net.projections[k].dst, rank)
    for i, p in enumerate(net.populations):
        n_in_proj = sum(1 for q in net.projections if q.dst == i)
        pops[i] = [p.kind, p.reset, p.refractory, p.da, p.a_step, p.n, first[i], ring_off[i], depth[i],
                   heads + i, proj_first.get(i, 0), n_in_proj]  # fmt: skip
    header[H_POPS] = put(pops)
    neur = np.concatenate(
        [np.concatenate([p.du for p in net.populations]), np.concatenate([p.dv for p in net.populations]),
         np.concatenate([p.bias for p in net.populations]), np.concatenate([p.theta for p in net.populations])]
    )  # fmt: skip
    header[H_NEUR] = put(neur)
    proj_rows = np.zeros((len(order), PROJ_LEN), dtype=np.int64)
    header[H_PROJ] = put(proj_rows)  # filled below, once weight offsets are known
    for rank, k in enumerate(order):
        q = net.projections[k]
        w = q.weights.astype(np.int64)
        if q.sparse:
            rows, cols = np.nonzero(w)
            row_ptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=row_ptr[1:])
            r_off, c_off, w_off = put(row_ptr), put(cols), put(w[rows, cols])
        else:
            r_off, c_off, w_off = 0, 0, put(w)
        proj_rows[rank] = [q.src, net.src_size(q), q.lag, q.exponent, int(q.sparse), w_off, r_off, c_off]
    header[H_OUT] = put(np.array([[first[o.pop] + o.neuron, o.shift] for o in net.outputs]))
    header[[H_NPOP, H_NPROJ, H_NIN, H_NOUT, H_NNEUR, H_STATE_LEN, H_MAXPOP]] = [
        n_pop,
        len(order),
        net.n_inputs,
        net.n_outputs,
        n_neur,
        state_len,
        max_pop,
    ]
    prog = np.concatenate([header] + chunks)
    prog[header[H_PROJ] : header[H_PROJ] + proj_rows.size] = proj_rows.ravel()
    assert prog.min() >= np.iinfo(np.int32).min and prog.max() <= np.iinfo(np.int32).max
    return prog.astype(np.int32)


@njit(inline="always")
def _sat24(x):
    return min(max(x, MIN24), MAX24)


@njit(inline="always")
def _decay(x, d):
    # x - floor(x*d / 4096): x*d < 2^36 in int64; >> 12 on a signed value floors toward -inf.
    return x - ((x * d) >> 12)


@njit(inline="always")
def _scale(acc, e):
    # weight exponent: multiply by 2^e (e >= 0) or floor-divide by 2^-e (e < 0), then saturate.
    if e >= 0:
        return _sat24(acc << e)
    return _sat24(acc >> (-e))


@njit(cache=True, nogil=True)
def step_into(prog, st, codes, out, spk_out, trace):
    """One time step in place. Returns (spikes, synops) of this step.

    With `trace`, this step's spikes (uint8 per neuron) are written to `spk_out`.
    """
    n_pop = prog[H_NPOP]
    n_neur = np.int64(prog[H_NNEUR])
    pops = prog[H_POPS]
    neur = prog[H_NEUR]
    projs = prog[H_PROJ]
    state_len = prog[H_STATE_LEN]
    max_pop = prog[H_MAXPOP]
    acc_off = state_len - 2 * max_pop
    i_off = state_len - max_pop
    spikes = 0
    synops = 0
    # advance every ring head first, so this step's slot is `head` and lag L reads `head - L`
    for p in range(n_pop):
        rec = pops + p * POP_LEN
        hidx = prog[rec + 9]
        h = st[hidx] + 1
        if h == prog[rec + 8]:
            h = 0
        st[hidx] = h
    for p in range(n_pop):
        rec = pops + p * POP_LEN
        kind = prog[rec]
        n = prog[rec + 5]
        first = prog[rec + 6]
        for j in range(n):
            st[i_off + j] = 0
        q0 = prog[rec + 10]
        for qi in range(q0, q0 + prog[rec + 11]):
            qr = projs + qi * PROJ_LEN
            src = prog[qr]
            n_src = prog[qr + 1]
            lag = prog[qr + 2]
            expo = prog[qr + 3]
            sparse = prog[qr + 4]
            w_off = prog[qr + 5]
            r_off = prog[qr + 6]
            c_off = prog[qr + 7]
            acc = st[acc_off : acc_off + n]
            acc[:] = 0
            if src == -1:
                for i in range(n_src):
                    x = np.int64(codes[i])
                    if x == 0:
                        continue
                    if sparse:
                        for k in range(prog[r_off + i], prog[r_off + i + 1]):
                            c = prog[c_off + k]
                            acc[c] += prog[w_off + k] * x
                        synops += prog[r_off + i + 1] - prog[r_off + i]
                    else:
                        w = prog[w_off + i * n : w_off + (i + 1) * n]
                        for j in range(n):
                            acc[j] += w[j] * x
                        synops += n
            else:
                srec = pops + src * POP_LEN
                sdepth = prog[srec + 8]
                slot = st[prog[srec + 9]] - lag
                if slot < 0:
                    slot += sdepth
                hist = prog[srec + 7] + slot * n_src
                for i in range(n_src):
                    if st[hist + i] == 0:
                        continue
                    if sparse:
                        for k in range(prog[r_off + i], prog[r_off + i + 1]):
                            c = prog[c_off + k]
                            acc[c] += prog[w_off + k]
                        synops += prog[r_off + i + 1] - prog[r_off + i]
                    else:
                        w = prog[w_off + i * n : w_off + (i + 1) * n]
                        for j in range(n):
                            acc[j] += w[j]
                        synops += n
            cur = st[i_off : i_off + n]
            for j in range(n):
                cur[j] = _sat24(np.int64(cur[j]) + _scale(np.int64(acc[j]), expo))
        # neuron updates (views keep the loop body free of offset arithmetic)
        reset = prog[rec + 1]
        refr = prog[rec + 2]
        da = np.int64(prog[rec + 3])
        a_step = np.int64(prog[rec + 4])
        ring = prog[rec + 7] + st[prog[rec + 9]] * n
        du_ = prog[neur + first : neur + first + n]
        dv_ = prog[neur + n_neur + first : neur + n_neur + first + n]
        bias_ = prog[neur + 2 * n_neur + first : neur + 2 * n_neur + first + n]
        theta_ = prog[neur + 3 * n_neur + first : neur + 3 * n_neur + first + n]
        u_ = st[first : first + n]
        v_ = st[n_neur + first : n_neur + first + n]
        a_ = st[2 * n_neur + first : 2 * n_neur + first + n]
        r_ = st[3 * n_neur + first : 3 * n_neur + first + n]
        cur = st[i_off : i_off + n]
        s_ = st[ring : ring + n]
        pop_spikes = 0
        for j in range(n):
            u = _sat24(_decay(np.int64(u_[j]), np.int64(du_[j])) + cur[j])
            u_[j] = u
            v = np.int64(v_[j])
            s = 0
            if kind == 2:  # LI
                v = _sat24(_sat24(_decay(v, np.int64(dv_[j])) + u) + bias_[j])
            elif kind == 3:  # DELTA: v is the reference level, theta the delta
                if u - v >= theta_[j]:
                    s = 1
                    v = u
                elif u < v:
                    v = u
            else:  # LIF, ALIF
                a = np.int64(a_[j])
                if r_[j] > 0:
                    r_[j] -= 1
                else:
                    v = _sat24(_sat24(_decay(v, np.int64(dv_[j])) + u) + bias_[j])
                    th = theta_[j] + a
                    if v >= th:
                        s = 1
                        if reset == 0:
                            v = 0
                        else:
                            v = v - th
                        r_[j] = refr
                if kind == 1:
                    a = _decay(a, da)
                    if s:
                        a += a_step
                    a_[j] = _sat24(a)
            v_[j] = v
            s_[j] = s
            pop_spikes += s
        spikes += pop_spikes
        if trace:
            for j in range(n):
                spk_out[first + j] = s_[j]
    outs = prog[H_OUT]
    for k in range(prog[H_NOUT]):
        g = prog[outs + 2 * k]
        sh = prog[outs + 2 * k + 1]
        out[k] = min(max(np.int64(st[n_neur + g]) >> sh, -32768), 32767)
    return spikes, synops


@njit(cache=True, nogil=True)
def step(prog, st, codes, out, spk):
    """Single step for the control loop: codes in, output codes to `out`, spikes (uint8 per neuron) to `spk`."""
    return step_into(prog, st, codes, out, spk, True)


@njit(cache=True, nogil=True)
def run(prog, st, codes, out, counts):
    """T steps: codes (T, n_in) -> out (T, n_out); counts (T, 2) gets spikes and synops per step."""
    dummy = np.zeros(0, dtype=np.uint8)
    for t in range(codes.shape[0]):
        sp, so = step_into(prog, st, codes[t], out[t], dummy, False)
        counts[t, 0] = sp
        counts[t, 1] = so


@njit(cache=True, nogil=True)
def run_trace(prog, st, codes, out, spikes, u, v, a):
    """T steps recording every neuron's spikes and u, v, a after each step (for tests and plots)."""
    n = prog[H_NNEUR]
    for t in range(codes.shape[0]):
        step_into(prog, st, codes[t], out[t], spikes[t], True)
        for g in range(n):
            u[t, g] = st[g]
            v[t, g] = st[n + g]
            a[t, g] = st[2 * n + g]


@njit(cache=True, nogil=True, parallel=True)
def run_batch(progs, states, codes, out, counts):
    """B same-shaped networks for T steps: progs (B, L), states (B, S), codes (B, T, n_in)."""
    dummy = np.zeros(0, dtype=np.uint8)
    for b in prange(progs.shape[0]):
        for t in range(codes.shape[1]):
            sp, so = step_into(progs[b], states[b], codes[b, t], out[b, t], dummy, False)
            counts[b, t, 0] = sp
            counts[b, t, 1] = so
