"""Ready-made integer network shapes used by benchmarks, tests and the controller families."""

from __future__ import annotations

import numpy as np

from .encoders import pm_pair
from .network import INPUT, Kind, Network, Output, Population, Projection, Reset


def blimp_shaped_network(seed: int = 0, n_enc: int = 40, n_hidden: int = 40) -> Network:
    """The blimp controller's shape: two parallel sub-networks ("PD" and "I") on one error input.

    Each: error -> n_enc CUBA-LIF neurons in +/- pairs -> n_hidden neurons all-to-all (LIF for PD,
    adaptive-threshold ALIF for I) -> one LI readout. 2 * (40 + 40) = 160 spiking neurons.
    Weights are random but scaled so the net spikes at a controller-like rate on errors of
    +-0.5 m (input scale 1 mm per code).
    """
    rng = np.random.default_rng(seed)
    pops: list[Population] = []
    projs: list[Projection] = []
    outputs: list[Output] = []
    for name, hidden_kind in (("pd", Kind.LIF), ("i", Kind.ALIF)):
        base = len(pops)
        enc, enc_w = pm_pair(1, [0], n_enc // 2, rng.integers(20, 60, n_enc // 2), bias=200, theta=4096, du=1024,
                             dv=512, name=f"{name}_enc")  # fmt: skip
        pops.append(enc)
        pops.append(Population(hidden_kind, n_hidden, du=1024, dv=512, bias=rng.integers(-200, 200, n_hidden),
                               theta=4096, reset=Reset.SOFT, da=64, a_step=512 if hidden_kind == Kind.ALIF else 0,
                               name=f"{name}_hidden"))  # fmt: skip
        pops.append(Population(Kind.LI, 1, du=4096, dv=256, name=f"{name}_out"))
        projs.append(Projection(INPUT, base, enc_w, exponent=0))
        projs.append(Projection(base, base + 1, rng.integers(-40, 80, (n_enc, n_hidden)), exponent=5))
        projs.append(Projection(base + 1, base + 2, rng.integers(-128, 128, (n_hidden, 1)), exponent=6))
        outputs.append(Output(base + 2, 0, shift=4, scale=3.3 / 2048))
    return Network(1, pops, projs, outputs, input_scale=1e-3, meta={"shape": "blimp", "seed": seed})
