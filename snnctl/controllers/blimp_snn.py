"""The blimp altitude SNNs of "Evolving SNNs to Mimic PID Control for Autonomous Blimps" (2023).

One integer network with one input, the altitude error e = h_ref - h_measured (1 mm per code), and
two outputs whose sum is the thrust command u in [-3.3, 3.3]:

* **PD net.** The error enters as current into +/- encoder pairs (weights +w_k / -w_k and a shared
  bias per pair, as in the paper). The encoders are integrate-and-fire neurons with soft reset, so
  each fires at a rate proportional to its input current (a sigma-delta code, one spike per step at
  most): a pair with a small weight still resolves large errors, one with a large weight small ones.
  There are two encoder groups: *fast* ones fed the error directly, and *slow* ones whose synaptic
  current low-passes it (time constant from `du`). A memoryless leaky-integrator readout adds
  a_k * fast spikes + c_k * slow spikes: with a = P + D and c = -D this is kp * e plus
  kd * (e - lowpass(e)) / tau, the PID's filtered derivative, made of spikes.
* **I net.** Its own encoder pairs (optionally adaptive-threshold ALIF neurons, as in the paper's
  integrator) into a readout with no leak: it integrates the spikes. Its output shift is chosen so
  that the readout's 24-bit saturation is exactly u = +-3.3: the integrator cannot wind up past
  the actuator's range (anti-windup by construction).

Readout weights of a pair are antisymmetric (+r on the "+" neuron, -r on its twin), so the
controller is odd in the error and the genome half as long. The initial genome is derived from the
PID's gains (below), so evolution starts from a network that already flies and refines it.

The codec maps a flat real genome (natural units: int8 weights, thresholds, 12-bit decays, with
bounds) to the integer network and back; what evolution scores is exactly the network deployed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..genome import GenomeLayout
from ..network import INPUT, Kind, Network, Output, Population, Projection, Reset

U_MAX = 3.3
ERROR_SCALE_M = 1e-3  # metres per input code: +-32.767 m range, 1 mm resolution
PD_SHIFT = 5  # PD readout: v = 2^20 <-> code 32768 <-> u = 3.3
I_SHIFT = 8  # I readout:  v = 2^23 (saturation) <-> code 32768 <-> u = 3.3
OUT_SCALE = U_MAX / 32768
THETA = 4096  # encoder threshold the initial weights are derived for
DT = 0.1  # control period the initial genome is derived for (10 Hz, the paper's lidar rate)


@dataclass(frozen=True)
class BlimpSNNSpec:
    """Sizes, fixed exponents and the PID the initial genome is derived from."""

    pd_pairs: int = 5
    i_pairs: int = 5
    i_adaptive: bool = False  # I encoders as adaptive-threshold (ALIF) neurons
    in_exponent: int = -4  # input weights: int8 * 2^-4, i.e. 1/16 .. 8 per mm of error
    pd_out_exponent: int = 13  # PD readout: weight 127 adds 127 * 2^13 to v (~3.3 u per spike)
    i_out_exponent: int = 7  # I readout: weight 127 adds 127 * 2^7 to v (~0.006 u per spike)
    e_sat_m: float = 0.7  # error at which the initial encoders reach one spike per step
    kp: float = 5.0
    ki: float = 0.6
    kd: float = 8.0
    d_tau_s: float = 0.5

    def __post_init__(self) -> None:
        for name in ("pd_pairs", "i_pairs"):
            if not 1 <= getattr(self, name) <= 40:
                raise ValueError(f"blimp SNN: {name} must be in 1..40, got {getattr(self, name)}")

    @property
    def n_neurons(self) -> int:
        return 4 * self.pd_pairs + 1 + 2 * self.i_pairs + 1


def _pair_signs(k: int) -> np.ndarray:
    return np.tile([1, -1], k)


class BlimpSNNCodec:
    """Genome (real, bounded) <-> blimp integer network."""

    def __init__(self, spec: BlimpSNNSpec = BlimpSNNSpec()) -> None:
        self.spec = spec
        self.layout = self._declare(spec)

    # -- genome declaration --------------------------------------------------------------------
    @staticmethod
    def _declare(s: BlimpSNNSpec) -> GenomeLayout:
        """Genes and their PID-derived initial values (derivation in the comments)."""
        g = GenomeLayout()
        # Encoders (sigma-delta rate code): a pair's two neurons get input weights +w / -w (times
        # 2^in_exponent) and share a bias b that makes both fire at a baseline rate ~b / THETA at
        # e = 0 (the paper's shared bias). The error moves one rate up and the other down, so the
        # antisymmetric readout sees a rate difference of 2 * w_eff * e_mm / THETA spikes per step
        # per pair: linear through zero, no dead band, until the "+" neuron reaches one spike per
        # step at e_sat = (THETA - b) / w_eff. Staggered biases de-synchronise the pairs, which
        # dithers the code finely over time. The leak (dv) bounds how far a silenced neuron's
        # membrane can run negative, so it recovers within ~4096 / dv steps when the error turns.
        k_pd, k_i = s.pd_pairs, s.i_pairs
        w_eff = (THETA - THETA / 4) / (s.e_sat_m * 1e3)  # input weight per mm of error
        w_gene = min(127.0, w_eff / 2.0**s.in_exponent)
        biases = lambda k: THETA * np.linspace(0.15, 0.35, k)  # noqa: E731
        spikes_per_mm = lambda k: 2 * k * w_eff / THETA  # noqa: E731  (readout-weighted, per step)
        # PD readout: v = 2^20 <-> 3.3 u; one spike of weight r adds r * 2^pd_out_exponent to v.
        # The readout starts memoryless (out_dv = 4096); evolution may add a leak to smooth the
        # spike-by-spike command (its DC gain 4096 / out_dv then scales the weights).
        out_dv = 4096
        u_per_unit = U_MAX / (1 << 20) * (1 << s.pd_out_exponent) * 4096 / out_dv
        p_w = s.kp * 1e-3 / spikes_per_mm(k_pd) / u_per_unit  # the P term: kp * e
        d_w = s.kd / s.d_tau_s * 1e-3 / spikes_per_mm(k_pd) / u_per_unit  # kd * (e - lowpass(e)) / tau
        # I readout: v = 2^23 <-> 3.3 u, no leak; per step it must add ki * e * DT.
        i_per_unit = U_MAX / (1 << 23) * (1 << s.i_out_exponent)
        i_w = s.ki * DT * 1e-3 / spikes_per_mm(k_i) / i_per_unit
        # slow encoders: synaptic current low-passed with tau = d_tau_s; its DC gain is 4096 / du,
        # so their threshold is raised by the same factor to give the fast encoders' rates at DC
        slow_du = round(4096 * (1 - math.exp(-DT / s.d_tau_s)))
        g.add("pd.w_fast", k_pd, 1, 127, w_gene)
        g.add("pd.w_slow", k_pd, 1, 127, w_gene)
        g.add("pd.bias", k_pd, 0, THETA, biases(k_pd))
        g.add("pd.theta", 1, 256, 1 << 15, THETA)
        g.add("pd.slow_theta", 1, 256, 1 << 18, THETA * 4096 / slow_du)
        g.add("pd.slow_du", 1, 16, 4096, slow_du)
        g.add("pd.dv", 1, 0, 1024, 64)
        g.add("pd.a", k_pd, -127, 127, np.clip(p_w + d_w, -127, 127))
        g.add("pd.c", k_pd, -127, 127, np.clip(-d_w, -127, 127))
        g.add("pd.out_dv", 1, 64, 4096, out_dv)
        g.add("i.w", k_i, 1, 127, w_gene)
        g.add("i.bias", k_i, 0, THETA, biases(k_i))
        g.add("i.theta", 1, 256, 1 << 15, THETA)
        g.add("i.dv", 1, 0, 1024, 64)
        if s.i_adaptive:
            g.add("i.da", 1, 0, 4096, 256)
            g.add("i.a_step", 1, 0, 1 << 14, 512)
        g.add("i.r", k_i, -127, 127, np.clip(i_w, -127, 127))
        g.add("i.out_dv", 1, 0, 64, 0)
        return g

    @property
    def bounds(self) -> np.ndarray:
        return self.layout.bounds

    @property
    def initial_genome(self) -> np.ndarray:
        return self.layout.initial

    def gene_names(self) -> list[str]:
        return self.layout.names()

    # -- genome -> network ---------------------------------------------------------------------
    def decode(self, genome: np.ndarray) -> Network:
        s, L = self.spec, self.layout
        genome = L.check(genome)

        def pairs(name: str) -> np.ndarray:
            """A pair gene repeated onto both neurons with opposite signs: (2k,) int."""
            return np.repeat(L.ints(genome, name), 2) * _pair_signs(len(L.get(genome, name)))

        def one(name: str) -> int:
            return int(L.ints(genome, name)[0])

        def encoders(name: str, w: np.ndarray, part: str, theta: str, du: int, kind=Kind.LIF, **kw) -> Population:
            # soft reset: the rate follows the input current (less the leak), one spike per step at most
            bias = np.repeat(L.ints(genome, f"{part}.bias"), 2)
            return Population(kind, len(w), du=du, dv=one(f"{part}.dv"), bias=bias, theta=one(theta),
                              reset=Reset.SOFT, name=name, **kw)  # fmt: skip

        pops = [
            encoders("pd_fast", pairs("pd.w_fast"), "pd", "pd.theta", 4096),
            encoders("pd_slow", pairs("pd.w_slow"), "pd", "pd.slow_theta", one("pd.slow_du")),
            Population(Kind.LI, 1, du=4096, dv=one("pd.out_dv"), name="pd_out"),
        ]
        i_kind, i_extra = (Kind.LIF, {})
        if s.i_adaptive:
            i_kind, i_extra = Kind.ALIF, {"da": one("i.da"), "a_step": one("i.a_step")}
        pops += [
            encoders("i_enc", pairs("i.w"), "i", "i.theta", 4096, i_kind, **i_extra),
            Population(Kind.LI, 1, du=4096, dv=one("i.out_dv"), name="i_out"),
        ]
        projs = [
            Projection(INPUT, 0, pairs("pd.w_fast").reshape(1, -1), exponent=s.in_exponent),
            Projection(INPUT, 1, pairs("pd.w_slow").reshape(1, -1), exponent=s.in_exponent),
            Projection(0, 2, pairs("pd.a").reshape(-1, 1), exponent=s.pd_out_exponent),
            Projection(1, 2, pairs("pd.c").reshape(-1, 1), exponent=s.pd_out_exponent),
            Projection(INPUT, 3, pairs("i.w").reshape(1, -1), exponent=s.in_exponent),
            Projection(3, 4, pairs("i.r").reshape(-1, 1), exponent=s.i_out_exponent),
        ]
        outputs = [Output(2, 0, shift=PD_SHIFT, scale=OUT_SCALE), Output(4, 0, shift=I_SHIFT, scale=OUT_SCALE)]
        meta = {"family": "blimp", "combine": "sum", "u_min": -U_MAX, "u_max": U_MAX, "obs_index": 2,
                "spec": dict(s.__dict__)}  # fmt: skip
        return Network(1, pops, projs, outputs, input_scale=ERROR_SCALE_M, meta=meta, fail_safe=[0, 0])

    # -- network -> genome ---------------------------------------------------------------------
    def encode(self, net: Network) -> np.ndarray:
        """Read a network of this codec's shape back into a genome (exact for decoded networks)."""
        s, L = self.spec, self.layout
        if net.meta.get("spec") is not None and dict(net.meta["spec"]) != dict(s.__dict__):
            raise ValueError(f"network was built for {net.meta['spec']}, codec is {dict(s.__dict__)}")
        pop = {p.name: p for p in net.populations}
        w = {(q.src, q.dst): q.weights for q in net.projections}
        genome = np.zeros(L.size)
        L.put(genome, "pd.w_fast", w[(INPUT, 0)][0, 0::2])
        L.put(genome, "pd.w_slow", w[(INPUT, 1)][0, 0::2])
        L.put(genome, "pd.bias", pop["pd_fast"].bias[0::2])
        L.put(genome, "pd.theta", pop["pd_fast"].theta[0])
        L.put(genome, "pd.slow_du", pop["pd_slow"].du[0])
        L.put(genome, "pd.slow_theta", pop["pd_slow"].theta[0])
        L.put(genome, "pd.dv", pop["pd_fast"].dv[0])
        L.put(genome, "i.dv", pop["i_enc"].dv[0])
        L.put(genome, "pd.a", w[(0, 2)][0::2, 0])
        L.put(genome, "pd.c", w[(1, 2)][0::2, 0])
        L.put(genome, "pd.out_dv", pop["pd_out"].dv[0])
        L.put(genome, "i.w", w[(INPUT, 3)][0, 0::2])
        L.put(genome, "i.bias", pop["i_enc"].bias[0::2])
        L.put(genome, "i.theta", pop["i_enc"].theta[0])
        if s.i_adaptive:
            L.put(genome, "i.da", pop["i_enc"].da)
            L.put(genome, "i.a_step", pop["i_enc"].a_step)
        L.put(genome, "i.r", w[(3, 4)][0::2, 0])
        L.put(genome, "i.out_dv", pop["i_out"].dv[0])
        return genome
