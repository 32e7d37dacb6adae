"""The gym family's network: observation -> [encoders] -> [hidden LIF/ALIF] -> LI readouts -> action.

`GymSNNSpec` is the shape (the config's `[network]` keys); `GymSNNCodec` maps a real genome onto
the integer network and back. What a gene means, so that the same genome means the same network
whatever the env:

- a weight gene g in [-1, 1] is the int8 weight w = round(127 g); with ``connectivity = "sparse"``
  a |w| below 127 `prune` is no synapse at all (the projection is stored sparse), so evolution can cut
  synapses; dense projections keep every entry;
- each projection's exponent is fixed by the codec from the spec's gains (exponents are powers of
  two, so a gain is met within a factor of sqrt 2): a full-scale observation through a full weight
  drives `input_gain` thresholds (hidden) or `input_gain` full-scale actions (readouts); one spike
  through a full weight moves its target by `spike_gain` thresholds or full-scale actions;
- biases are in thresholds (hidden) or full-scale actions (readouts), in [-1, 1]; a leak gene l in
  [0, 1] is the membrane decay dv = round(4096 l) (1: no memory, v is this step's input; 0: a
  perfect integrator); ``evolve_leak = false`` drops the leak genes and every membrane forgets each
  step (a static map of the observation: a much smaller search where the task needs no memory);
  ALIF adds a threshold step per spike (in thresholds) and its decay, shared by the population.

Observations enter as current (an INPUT projection straight into the hidden layer, or the readouts
when there is none) or through +/- encoder pairs (`snnctl.encoders.pm_pair`: per dimension a neuron
firing at a rate proportional to the positive part and one to the negative part, one spike per step
at full scale; fixed, not evolved). Neurons are plain (du = 4096: no synaptic current), hard reset.

Synaptic delays are the spec's, fixed per projection (the `.snn` format holds one delay per
projection): `encoder_delay` on the projections out of the pm encoders, `hidden_delay` on hidden ->
readouts, `recurrent_delay` on hidden -> hidden (lag 1 + it). Input codes cannot wait (the integer
model's INPUT projections have lag 0), so a delay only spikes can carry is refused without them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..config import check_params, param
from ..encoders import pm_pair
from ..genome import GenomeLayout, LayoutCodec
from ..network import (
    DECAY_ONE,
    EXPONENT_RANGE,
    INPUT,
    MAX_DELAY,
    Kind,
    Network,
    Output,
    Population,
    Projection,
    Reset,
)
from .gym_io import ACTION_CODE_FS, CODE_FS, ActionIO, input_scale

THETA = 1 << 16  # threshold of hidden and encoder neurons
V_FS = 1 << 16  # readout v of a full-scale action
OUT_SHIFT = int(math.log2(V_FS // ACTION_CODE_FS))  # output code = v >> 4: full scale 4096, room to +-8x
W_MAX = 127


@dataclass(frozen=True)
class GymSNNSpec:
    """The network's shape and gains (the gym config's `[network]` keys read default, help and limits here)."""

    encoding: str = param("current", "observations enter as current, or through +/- encoder pairs (pm)",
                          choices=("current", "pm"))  # fmt: skip
    hidden: int = param(0, "hidden neurons; 0 = none (encoders or inputs straight to the readouts)", ge=0, le=1024)
    neuron: str = param("lif", "hidden neuron kind: lif, or alif (adaptive threshold)", choices=("lif", "alif"))
    recurrent: bool = param(False, "hidden neurons also feed each other (one-step lag)")
    connectivity: str = param("dense", "dense: every weight a synapse; sparse: |gene| < prune is no synapse",
                              choices=("dense", "sparse"))  # fmt: skip
    prune: float = param(0.1, "sparse: a weight gene below this (of full weight 1) is no synapse", ge=0, lt=1)
    skip: bool = param(False, "with a hidden layer: the inputs also feed the readouts directly")
    input_gain: float = param(2.0, "a full-scale observation through a full weight drives this many thresholds"
                              " (or full-scale actions)", gt=0, le=1e4)  # fmt: skip
    spike_gain: float = param(1.0, "one spike through a full weight moves its target by this many thresholds"
                              " (or full-scale actions)", gt=0, le=1e4)  # fmt: skip
    evolve_leak: bool = param(True, "false: no leak genes; every hidden and readout membrane forgets each step"
                              " (dv = 4096: v is this step's input)")  # fmt: skip
    encoder_delay: int = param(0, "pm: extra steps before an encoder spike reaches the hidden layer and readouts",
                               ge=0, le=MAX_DELAY)  # fmt: skip
    hidden_delay: int = param(0, "extra steps before a hidden spike reaches the readouts", ge=0, le=MAX_DELAY)
    recurrent_delay: int = param(0, "recurrent: extra steps on the hidden-to-hidden projection (lag 1 + this)",
                                 ge=0, le=MAX_DELAY)  # fmt: skip

    def __post_init__(self) -> None:
        check_params(self, "gym network")
        # a delay with no projection to carry it is a mistake, not a no-op (the integer model cannot
        # delay INPUT codes: only spikes wait in a population's history)
        needs = {
            "encoder_delay": (self.encoding == "pm", 'encoding = "pm" (input codes cannot be delayed)'),
            "hidden_delay": (self.hidden > 0, "hidden >= 1"),
            "recurrent_delay": (self.hidden > 0 and self.recurrent, "hidden >= 1 and recurrent = true"),
        }
        for key, (ok, what) in needs.items():
            if getattr(self, key) and not ok:
                raise ValueError(f"network.{key} = {getattr(self, key)} has no projection to delay: it needs {what}")


def exponent_for(gain_units: float, full_product: float) -> int:
    """The projection exponent e with full_product * 2**e closest (in log) to gain_units, within EXPONENT_RANGE."""
    e = round(math.log2(gain_units / full_product))
    return int(min(max(e, EXPONENT_RANGE[0]), EXPONENT_RANGE[1]))


class GymSNNCodec(LayoutCodec):
    """Genome (real, see the module docstring) <-> the integer network for one env's spaces."""

    def __init__(self, spec: GymSNNSpec, full_scale: np.ndarray, action: ActionIO, *, env_id: str = "",
                 control_period_s: float | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.full_scale = np.asarray(full_scale, dtype=np.float64).reshape(-1)
        self.action = action
        self.env_id = env_id
        self.control_period_s = control_period_s
        self.n_obs = self.full_scale.size
        self.n_src = self.n_obs * (2 if spec.encoding == "pm" else 1)  # what feeds the evolved layer
        h, n_out = spec.hidden, action.n
        lay = GenomeLayout()
        if h:
            lay.add("w_in_hid", (self.n_src, h), -1, 1, 0.0)
            lay.add("hid_bias", h, -1, 1, 0.0)
            if spec.evolve_leak:
                lay.add("hid_leak", h, 0, 1, 1.0)
            if spec.recurrent:
                lay.add("w_rec", (h, h), -1, 1, 0.0)
            if spec.neuron == "alif":
                lay.add("adapt_step", 1, 0, 1, 0.0)
                lay.add("adapt_leak", 1, 0, 1, 0.1)
            lay.add("w_hid_out", (h, n_out), -1, 1, 0.0)
        if not h or spec.skip:
            lay.add("w_in_out", (self.n_src, n_out), -1, 1, 0.0)
        lay.add("out_bias", n_out, -1, 1, 0.0)
        if spec.evolve_leak:
            lay.add("out_leak", n_out, 0, 1, 1.0)
        self.layout = lay

    @property
    def n_params(self) -> int:
        return self.layout.size

    # -- genes -> integers ---------------------------------------------------------------------------
    def _weights(self, genome: np.ndarray, name: str) -> np.ndarray:
        g = self.layout.get(genome, name)
        w = np.rint(g * W_MAX).astype(np.int64)
        if self.spec.connectivity == "sparse":  # judged on the int8 weight, so encode/decode round-trips
            w[np.abs(w) < self.spec.prune * W_MAX] = 0
        return w

    def _src_exponent(self, target_units: int) -> int:
        """INPUT codes (current) or encoder spikes into a layer whose unit is `target_units`."""
        if self.spec.encoding == "pm":
            return exponent_for(self.spec.spike_gain * target_units, W_MAX)
        return exponent_for(self.spec.input_gain * target_units, W_MAX * CODE_FS)

    @property
    def _src_delay(self) -> int:
        """Delay of the projections out of the inputs: encoder spikes wait `encoder_delay`; INPUT codes cannot."""
        return self.spec.encoder_delay if self.spec.encoding == "pm" else 0

    def _leak(self, genome: np.ndarray, name: str, n: int) -> np.ndarray:
        """Membrane decays dv of a population: the leak genes x 4096, or 4096 (memoryless) without them."""
        if not self.spec.evolve_leak:
            return np.full(n, DECAY_ONE, dtype=np.int64)
        return np.rint(self.layout.get(genome, name) * DECAY_ONE).astype(np.int64)

    def _put_leak(self, genome: np.ndarray, name: str, dv: np.ndarray) -> None:
        if self.spec.evolve_leak:
            self.layout.put(genome, name, dv / DECAY_ONE)
        elif (np.asarray(dv) != DECAY_ONE).any():
            raise ValueError(
                f"{name}: decays {np.asarray(dv).tolist()}, this codec's spec has none (evolve_leak = false)"
            )

    def decode(self, genome: np.ndarray) -> Network:
        s, genome = self.spec, self.layout.check(genome)
        sparse = s.connectivity == "sparse"
        pops: list[Population] = []
        projs: list[Projection] = []
        src = INPUT
        if s.encoding == "pm":  # fixed rate encoders: a full-scale input adds one threshold per step
            enc, w_enc = pm_pair(self.n_obs, range(self.n_obs), 1, W_MAX, theta=THETA, dv=0, name="encoders")
            pops.append(enc)
            projs.append(Projection(INPUT, 0, w_enc, exponent_for(THETA, W_MAX * CODE_FS)))
            src = 0
        if s.hidden:
            hid = len(pops)
            kind = Kind.ALIF if s.neuron == "alif" else Kind.LIF
            extra = {}
            if kind == Kind.ALIF:
                extra = {"a_step": int(np.rint(self.layout.get(genome, "adapt_step")[0] * THETA)),
                         "da": int(np.rint(self.layout.get(genome, "adapt_leak")[0] * DECAY_ONE))}  # fmt: skip
            pops.append(Population(kind, s.hidden, du=DECAY_ONE, name="hidden", reset=Reset.HARD, theta=THETA,
                                   dv=self._leak(genome, "hid_leak", s.hidden),
                                   bias=np.rint(self.layout.get(genome, "hid_bias") * THETA).astype(np.int64),
                                   **extra))  # fmt: skip
            projs.append(Projection(src, hid, self._weights(genome, "w_in_hid"), self._src_exponent(THETA),
                                    delay=self._src_delay, sparse=sparse))  # fmt: skip
            if s.recurrent:
                e_rec = exponent_for(s.spike_gain * THETA, W_MAX)
                projs.append(Projection(hid, hid, self._weights(genome, "w_rec"), e_rec, recurrent=True,
                                        delay=s.recurrent_delay, sparse=sparse))  # fmt: skip
        out = len(pops)
        pops.append(Population(Kind.LI, self.action.n, du=DECAY_ONE, name="readout",
                               dv=self._leak(genome, "out_leak", self.action.n),
                               bias=np.rint(self.layout.get(genome, "out_bias") * V_FS).astype(np.int64)))  # fmt: skip
        if s.hidden:
            projs.append(Projection(out - 1, out, self._weights(genome, "w_hid_out"),
                                    exponent_for(s.spike_gain * V_FS, W_MAX), delay=s.hidden_delay,
                                    sparse=sparse))  # fmt: skip
        if not s.hidden or s.skip:
            projs.append(Projection(src, out, self._weights(genome, "w_in_out"), self._src_exponent(V_FS),
                                    delay=self._src_delay, sparse=sparse))  # fmt: skip
        scales = self.action.output_scales()
        outputs = [Output(out, k, OUT_SHIFT, float(scales[k]), 0) for k in range(self.action.n)]
        meta = {"family": "gym", "env_id": self.env_id, "gym_network": asdict(self.spec),
                "obs_full_scale": [float(x) for x in self.full_scale], **self.action.meta()}  # fmt: skip
        return Network(self.n_obs, pops, projs, outputs, input_scale=input_scale(self.full_scale), meta=meta,
                       control_period_s=self.control_period_s)  # fmt: skip

    # -- integers -> genes ---------------------------------------------------------------------------
    def encode(self, net: Network) -> np.ndarray:
        """The genome whose `decode` is `net` (a network this codec made): weights w/127, biases, leaks.

        decode(encode(net)) == net for every network `decode` returns (tested); genes of pruned
        (sparse, zero) weights come back as 0."""
        s, lay = self.spec, self.layout
        genome = np.zeros(lay.size)
        pops = {p.name: i for i, p in enumerate(net.populations)}
        by_dst = {(q.src, q.dst): q for q in net.projections}
        src = pops["encoders"] if s.encoding == "pm" else INPUT
        out = pops["readout"]
        if s.hidden:
            hid = pops["hidden"]
            p = net.populations[hid]
            lay.put(genome, "w_in_hid", by_dst[(src, hid)].weights / W_MAX)
            lay.put(genome, "hid_bias", p.bias / THETA)
            self._put_leak(genome, "hid_leak", p.dv)
            if s.recurrent:
                lay.put(genome, "w_rec", by_dst[(hid, hid)].weights / W_MAX)
            if s.neuron == "alif":
                lay.put(genome, "adapt_step", p.a_step / THETA)
                lay.put(genome, "adapt_leak", p.da / DECAY_ONE)
            lay.put(genome, "w_hid_out", by_dst[(hid, out)].weights / W_MAX)
        if not s.hidden or s.skip:
            lay.put(genome, "w_in_out", by_dst[(src, out)].weights / W_MAX)
        self._check_delays(net, src, pops.get("hidden"), out)
        p = net.populations[out]
        lay.put(genome, "out_bias", p.bias / V_FS)
        self._put_leak(genome, "out_leak", p.dv)
        return genome

    def _check_delays(self, net: Network, src: int, hid: int | None, out: int) -> None:
        """Delays are the spec's, not genes: a network with others is not one this codec made (ValueError)."""
        s = self.spec
        want = {(src, out): self._src_delay}
        if hid is not None:
            want.update({(src, hid): self._src_delay, (hid, hid): s.recurrent_delay, (hid, out): s.hidden_delay})
        for q in net.projections:
            if (q.src, q.dst) in want and q.delay != want[(q.src, q.dst)]:
                raise ValueError(f"projection {q.src}->{q.dst} has delay {q.delay}, this codec's spec"
                                 f" {want[(q.src, q.dst)]}: not a network this codec made")  # fmt: skip
