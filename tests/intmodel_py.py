"""A third executor of docs/integer-model.md in plain Python integers, for tests only.

Written from the spec page, deliberately unlike the numba kernel (no flattened program, no ring
buffers: the whole spike history is kept as a list), so agreement between the two means something.
Slow; meant for small random networks.
"""

from __future__ import annotations

from snnctl.network import INPUT, Kind, Network, Reset

MIN24, MAX24 = -(2**23), 2**23 - 1


def sat24(x: int) -> int:
    return min(max(x, MIN24), MAX24)


def floordiv_pow2(x: int, k: int) -> int:
    return x // (2**k)  # Python's // floors toward -inf, as the spec requires


def decay(x: int, d: int) -> int:
    return x - floordiv_pow2(x * d, 12)


def scale(acc: int, e: int) -> int:
    return sat24(acc * 2**e) if e >= 0 else sat24(floordiv_pow2(acc, -e))


def simulate(net: Network, codes: list[list[int]]) -> dict[str, list]:
    """Run from reset; returns per-step lists of outputs, spikes, u, v, a (flat neuron order)."""
    pops = net.populations
    u = [[0] * p.n for p in pops]
    v = [[0] * p.n for p in pops]
    a = [[0] * p.n for p in pops]
    r = [[0] * p.n for p in pops]
    history: list[list[list[int]]] = []  # history[t][p][j]
    rec: dict[str, list] = {"outputs": [], "spikes": [], "u": [], "v": [], "a": []}
    for t, x in enumerate(codes):
        now: list[list[int]] = [[0] * p.n for p in pops]
        for pi, p in enumerate(pops):
            current = [0] * p.n
            for q in net.projections:
                if q.dst != pi:
                    continue
                if q.src == INPUT:
                    src_vals = list(x)
                elif q.lag == 0:
                    src_vals = now[q.src]
                elif t - q.lag >= 0:
                    src_vals = history[t - q.lag][q.src]
                else:
                    src_vals = [0] * pops[q.src].n
                for j in range(p.n):
                    acc = sum(int(q.weights[i, j]) * int(src_vals[i]) for i in range(len(src_vals)))
                    current[j] = sat24(current[j] + scale(acc, q.exponent))
            for j in range(p.n):
                du, dv = int(p.du[j]), int(p.dv[j])
                bias, theta = int(p.bias[j]), int(p.theta[j])
                u[pi][j] = sat24(decay(u[pi][j], du) + current[j])
                s = 0
                if p.kind == Kind.LI:
                    v[pi][j] = sat24(sat24(decay(v[pi][j], dv) + u[pi][j]) + bias)
                elif p.kind == Kind.DELTA:
                    if u[pi][j] - v[pi][j] >= theta:
                        s, v[pi][j] = 1, u[pi][j]
                    elif u[pi][j] < v[pi][j]:
                        v[pi][j] = u[pi][j]
                else:
                    if r[pi][j] > 0:
                        r[pi][j] -= 1
                    else:
                        v[pi][j] = sat24(sat24(decay(v[pi][j], dv) + u[pi][j]) + bias)
                        th = theta + a[pi][j]
                        if v[pi][j] >= th:
                            s = 1
                            v[pi][j] = 0 if p.reset == Reset.HARD else v[pi][j] - th
                            r[pi][j] = p.refractory
                    if p.kind == Kind.ALIF:
                        a[pi][j] = sat24(decay(a[pi][j], p.da) + (p.a_step if s else 0))
                now[pi][j] = s
        history.append(now)
        flat_v = [val for pop in v for val in pop]
        offsets = net.offsets()
        rec["outputs"].append(
            [min(max(floordiv_pow2(v[o.pop][o.neuron], o.shift), -32768), 32767) for o in net.outputs]
        )
        rec["spikes"].append([s for pop in now for s in pop])
        rec["u"].append([val for pop in u for val in pop])
        rec["v"].append(flat_v)
        rec["a"].append([val for pop in a for val in pop])
        assert len(flat_v) == offsets[-1]
    return rec
