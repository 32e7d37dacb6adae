"""Random integer networks and inputs that reach every corner of the model, for property tests.

Structure (sizes, kinds, flags, lags) is drawn by hypothesis so failures shrink to small cases;
array contents come from a numpy generator seeded by hypothesis, mixing typical values with the
extremes of every range so states saturate at both ends.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from snnctl.network import (
    INPUT,
    MAX24,
    MIN24,
    Kind,
    Network,
    Output,
    Population,
    Projection,
    Reset,
)


def _mixed(rng: np.random.Generator, lo: int, hi: int, n: int, extremes: list[int]) -> np.ndarray:
    """Mostly uniform in [lo, hi], some values pinned at the given extremes."""
    out = rng.integers(lo, hi, n, endpoint=True)
    pick = rng.random(n) < 0.2
    if extremes:
        out[pick] = rng.choice(extremes, int(pick.sum()))
    return out


def _decays(rng: np.random.Generator, n: int) -> np.ndarray:
    return _mixed(rng, 0, 4096, n, [0, 1, 4095, 4096])


@st.composite
def networks(draw, max_pops: int = 4, max_n: int = 6, max_inputs: int = 3) -> Network:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in = draw(st.integers(1, max_inputs))
    n_pop = draw(st.integers(1, max_pops))
    pops = []
    for i in range(n_pop):
        n = draw(st.integers(1, max_n))
        kind = draw(st.sampled_from(list(Kind)))
        big_theta = draw(st.booleans())
        theta_hi = MAX24 if big_theta else 5000
        pops.append(
            Population(
                kind, n,
                du=_decays(rng, n), dv=_decays(rng, n),
                bias=_mixed(rng, -3000, 3000, n, [MIN24, MAX24, 0]),
                theta=_mixed(rng, 1, theta_hi, n, [1, MAX24]),
                reset=draw(st.sampled_from(list(Reset))),
                refractory=draw(st.sampled_from([0, 0, 1, 3, 15])),
                da=int(_decays(rng, 1)[0]),
                a_step=int(_mixed(rng, 0, 3000, 1, [0, MAX24])[0]),
                name=f"p{i}",
            )
        )  # fmt: skip
    projs = []
    for _ in range(draw(st.integers(0, 6))):
        dst = draw(st.integers(0, n_pop - 1))
        src = draw(st.sampled_from([INPUT, *range(n_pop)]))
        if src == INPUT:
            recurrent, delay = False, 0
        else:
            recurrent = draw(st.booleans())
            delay = draw(st.sampled_from([0, 0, 1, 2, 15]))
            if src >= dst and delay + recurrent == 0:
                recurrent = True
        n_src = n_in if src == INPUT else pops[src].n
        w = rng.integers(-128, 128, (n_src, pops[dst].n))
        w[rng.random(w.shape) < draw(st.sampled_from([0.0, 0.3, 0.8]))] = 0
        sparse = draw(st.booleans())
        projs.append(Projection(src, dst, w, draw(st.integers(-16, 16)), recurrent, delay, sparse))
    outs = []
    for _ in range(draw(st.integers(1, 3))):
        p = draw(st.integers(0, n_pop - 1))
        outs.append(Output(p, draw(st.integers(0, pops[p].n - 1)), draw(st.integers(0, 23))))
    return Network(n_in, pops, projs, outs)


@st.composite
def inputs(draw, n_inputs: int, max_steps: int = 30) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = draw(st.integers(1, max_steps))
    style = draw(st.sampled_from(["uniform", "extreme", "small", "steps"]))
    if style == "uniform":
        return rng.integers(-32768, 32768, (t, n_inputs)).astype(np.int16)
    if style == "extreme":
        return rng.choice(np.array([-32768, 32767, 0], dtype=np.int16), (t, n_inputs))
    if style == "small":
        return rng.integers(-300, 301, (t, n_inputs)).astype(np.int16)
    levels = rng.integers(-32768, 32768, (4, n_inputs))
    return np.repeat(levels, -(-t // 4), axis=0)[:t].astype(np.int16)
