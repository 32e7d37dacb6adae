"""The blimp altitude SNNs of "Evolving SNNs to Mimic PID Control for Autonomous Blimps" (2023).

One integer network with one input, the altitude error e = h_ref - h_measured (1 mm per code), and
two outputs whose sum is the thrust command u in [-3.3, 3.3]. As in the paper, the error enters as
current into +/- neuron pairs (weights +w_k / -w_k and a shared bias b_k); two sub-networks read
them through leaky-integrator readouts:

* **PD net.** Two encoder groups, *fast* ones fed the error directly and *slow* ones whose synaptic
  current low-passes it (time constant from `du`). A memoryless readout adds a_k * fast spikes +
  c_k * slow spikes: with a = P + D and c = -D this is kp * e plus kd * (e - lowpass(e)) / tau, the
  PID's filtered derivative, made of spikes. Its output code saturates at u = +-3.3 (v = 2^20).
* **I net.** Its own encoder pairs into a readout with no leak: it integrates their spikes. Its
  output shift is chosen so that the readout's 24-bit saturation is exactly u = +-3.3: the
  integrator cannot wind up past the actuator's range.

**Encoders are comparators** (membrane decay dv = 4096: v is rebuilt from this step's current and
the bias every step). The "+" neuron of pair k fires at every step where e >= t_k, its twin where
e <= -t_k, with t_k = (theta - b_k) / (w_k 2^in_exponent) mm: together the pairs are a thermometer
code of the error (a flash ADC), and the readout's sum is a staircase through kp * e. Thresholds
lie on a square-law grid t_k = range * (k / K)^2 — fine near zero, where the 1-cm lidar noise
dithers them into a smooth average, coarse far out — so that the staircase steps, and with them the
readout weights, grow only linearly and fit int8. For a held error the slow pairs switch where
their fast twins do (to one unit of current) and the D terms cancel; under lidar noise the fast
comparators are dithered more than the slow ones (the low-pass removes most of the noise), so near
a threshold they cancel only on average. A comparator has no memory. The paper's rate code (an
integrate-and-fire neuron per pair, a slow leak) does: an error beyond its range piles charge onto
one membrane and drains the twin far below zero, and both take seconds to recover after the error
has gone — long enough for a sinking blimp to pass its target (a 1.6-m descent blinded the
rate-coded PD net for the whole approach). The membrane decays are still genes, so evolution may
move back towards it.

The I net's thresholds stop at `i_range_m` (10 cm): beyond it the integration rate is capped,
so a long transit at saturation adds little to the integral — the spiking form of the PID's
anti-windup ("integral band"), which is what keeps the overshoot down. The PD thresholds reach
`pd_range_m` (1 m), far enough for the D path to see a descent closing in long before the target.

Readout weights of a pair are antisymmetric (+r on the "+" neuron, -r on its twin), so the
controller is odd in the error and the genome half as long. They are also sign-constrained: a fast
pair's P + D weight and an I pair's weight are >= 0, a slow pair's -D weight <= 0. A pair of the
other sign would push away from the target in its error band (positive feedback), which never
helps; and with half the range a mutation of a given fraction of it is half as large. The initial
genome is derived from the PID's gains (below), so evolution starts from a network that already
flies and refines it.

The codec maps a flat real genome (natural units: int8 weights, biases, 12-bit decays, with
bounds) to the integer network and back; what evolution scores is exactly the network deployed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import check_params, param
from ..genome import GenomeLayout, LayoutCodec
from ..network import INPUT, Kind, Network, Output, Population, Projection, Reset

U_MAX = 3.3
ERROR_SCALE_M = 1e-3  # metres per input code: +-32.767 m range, 1 mm resolution
PD_SHIFT = 5  # PD readout: v = 2^20 <-> code 32768 <-> u = 3.3
I_SHIFT = 8  # I readout:  v = 2^23 (saturation) <-> code 32768 <-> u = 3.3
OUT_SCALE = U_MAX / 32768
THETA = 4096  # encoder threshold (fast and I encoders; the slow encoders' is scaled, see decode)
DT = 0.1  # control period the initial genome is derived for (10 Hz, the paper's lidar rate)


@dataclass(frozen=True)
class BlimpSNNSpec:
    """Sizes, fixed exponents, threshold ranges and the PID the initial genome is derived from."""

    # the keys of a config's [network] table (evolve.blimp_experiment.SCHEMA reads them from here)
    pd_pairs: int = param(12, "+/- comparator pairs of the PD net (fast and slow groups each)", ge=1, le=40)
    i_pairs: int = param(8, "+/- comparator pairs of the I net", ge=1, le=40)
    i_adaptive: bool = param(False, "I-net encoders with adaptive thresholds (ALIF), as in the paper")
    pd_range_m: float = param(
        1.0, "largest PD comparator threshold: the error range the PD net resolves (m)", ge=0.001, le=4.0
    )
    i_range_m: float = param(0.1, "largest I comparator threshold: the integral band (m)", ge=0.001, le=4.0)
    in_exponent: int = -3  # input weights: int8 * 2^-3, i.e. 1/8 .. 15.9 current units per mm
    pd_out_exponent: int = 14  # PD readout: weight 1 adds 2^14 to v (0.052 u), 127 adds 6.5 u
    i_out_exponent: int = 6  # I readout: weight 1 adds 2^6 to v (2.5e-5 u) per step
    kp: float = 5.0
    ki: float = 0.6
    kd: float = 8.0
    d_tau_s: float = 0.5

    def __post_init__(self) -> None:
        check_params(self, "blimp SNN")

    @property
    def n_neurons(self) -> int:
        return 4 * self.pd_pairs + 1 + 2 * self.i_pairs + 1


def _pair_signs(k: int) -> np.ndarray:
    return np.tile([1, -1], k)


def threshold_grid(range_m: float, k: int) -> np.ndarray:
    """Comparator thresholds (m): range * (j / k)^2 for j = 1..k."""
    return range_m * (np.arange(1, k + 1) / k) ** 2


def comparator(t_m: float, in_exponent: int) -> tuple[int, int]:
    """(weight gene, bias) of a +/- pair whose "+" neuron fires from e = t_m on (theta = THETA).

    The "+" neuron fires when w * 2^in_exponent * e_mm + b >= THETA. Small thresholds use the largest
    weight and put the threshold in the bias (b = THETA - w_eff * t, one bias unit = 1 / w_eff mm,
    the finest resolution); thresholds beyond THETA / w_eff take b = 0 and the weight THETA / t.
    """
    w_max = 127 * 2.0**in_exponent  # current per mm of error
    t_mm = t_m * 1e3
    if t_mm * w_max <= THETA:
        return 127, int(round(THETA - w_max * t_mm))
    return max(1, int(round(THETA / (t_mm * 2.0**in_exponent)))), 0


def realised_thresholds(w: np.ndarray, b: np.ndarray, in_exponent: int) -> np.ndarray:
    """Thresholds (m) of pairs with weight genes w and biases b: (THETA - b) / (w 2^in_exponent)."""
    return (THETA - np.asarray(b, float)) / (np.asarray(w, float) * 2.0**in_exponent) * 1e-3


def staircase_steps(t: np.ndarray) -> np.ndarray:
    """Steps s_k of a staircase through the line y = e at thresholds t (increasing, m).

    On [t_k, t_k+1) the staircase sum_{j<=k} s_j equals the interval's midpoint (t_k + t_k+1) / 2,
    so it crosses y = e in every interval and the noise-dithered average follows the line. The last
    interval is closed with the grid's own ratio, t_K+1 = t_K^2 / t_K-1 (2 t_1 for one threshold).
    """
    t = np.asarray(t, dtype=np.float64)
    after = t[-1] ** 2 / t[-2] if len(t) > 1 else 2 * t[-1]
    mid = (t + np.append(t[1:], after)) / 2
    return np.diff(mid, prepend=0.0)


class BlimpSNNCodec(LayoutCodec):
    """Genome (real, bounded) <-> blimp integer network."""

    def __init__(self, spec: BlimpSNNSpec = BlimpSNNSpec()) -> None:
        self.spec = spec
        self.layout = self._declare(spec)

    # -- genome declaration --------------------------------------------------------------------
    @staticmethod
    def _declare(s: BlimpSNNSpec) -> GenomeLayout:
        """Genes and their PID-derived initial values (derivation in the comments)."""
        g = GenomeLayout()
        k_pd, k_i = s.pd_pairs, s.i_pairs
        # Comparator pairs on the square-law grids; the readouts get the staircase steps of the
        # thresholds actually realised by the integer weights and biases.
        pd_wb = np.array([comparator(t, s.in_exponent) for t in threshold_grid(s.pd_range_m, k_pd)])
        i_wb = np.array([comparator(t, s.in_exponent) for t in threshold_grid(s.i_range_m, k_i)])
        pd_steps = staircase_steps(realised_thresholds(pd_wb[:, 0], pd_wb[:, 1], s.in_exponent))
        i_steps = staircase_steps(realised_thresholds(i_wb[:, 0], i_wb[:, 1], s.in_exponent))
        # PD readout: v = 2^20 <-> 3.3 u and memoryless (out_dv = 4096); a spike of weight r adds
        # r * 2^pd_out_exponent to v. A fast pair crossing its threshold adds step * (kp + kd / tau)
        # (the P term plus the derivative's leading edge), its slow twin step * -kd / tau (the
        # trailing edge, once the low-passed error gets there): at DC only kp * step remains.
        u_per_unit = U_MAX / (1 << 20) * (1 << s.pd_out_exponent)
        kdt = s.kd / s.d_tau_s
        # I readout: v = 2^23 <-> 3.3 u, no leak; per step it must add ki * e * DT, i.e. each
        # active pair adds ki * DT * step (beyond i_range_m the sum stops growing: the band).
        i_per_unit = U_MAX / (1 << 23) * (1 << s.i_out_exponent)
        # Slow encoders: synaptic current low-passed with tau = d_tau_s; its DC gain is 4096 / du,
        # and decode scales their threshold and bias by the same factor, so at DC a slow pair
        # switches exactly where its fast twin does.
        slow_du = round(4096 * (1 - math.exp(-DT / s.d_tau_s)))
        g.add("pd.w_fast", k_pd, 1, 127, pd_wb[:, 0])
        g.add("pd.w_slow", k_pd, 1, 127, pd_wb[:, 0])
        g.add("pd.bias", k_pd, 0, THETA, pd_wb[:, 1])
        g.add("pd.slow_du", 1, 16, 4096, slow_du)
        g.add("pd.dv", 1, 0, 4096, 4096)  # 4096: comparators; lower: integrate-and-fire (rate code)
        g.add("pd.a", k_pd, 0, 127, np.clip((s.kp + kdt) * pd_steps / u_per_unit, 0, 127))
        g.add("pd.c", k_pd, -127, 0, np.clip(-kdt * pd_steps / u_per_unit, -127, 0))
        g.add("pd.out_dv", 1, 64, 4096, 4096)  # < 4096: a readout leak smooths the command
        g.add("i.w", k_i, 1, 127, i_wb[:, 0])
        g.add("i.bias", k_i, 0, THETA, i_wb[:, 1])
        g.add("i.dv", 1, 0, 4096, 4096)
        if s.i_adaptive:
            g.add("i.da", 1, 0, 4096, 256)
            g.add("i.a_step", 1, 0, 1 << 14, 0)  # starts as plain comparators; evolution adds adaptation
        g.add("i.r", k_i, 0, 127, np.clip(s.ki * DT * i_steps / i_per_unit, 0, 127))
        g.add("i.out_dv", 1, 0, 64, 0)
        return g

    # -- genome -> network ---------------------------------------------------------------------
    def decode(self, genome: np.ndarray) -> Network:
        s, L = self.spec, self.layout
        genome = L.check(genome)

        def pairs(name: str) -> np.ndarray:
            """A pair gene repeated onto both neurons with opposite signs: (2k,) int."""
            return np.repeat(L.ints(genome, name), 2) * _pair_signs(len(L.get(genome, name)))

        def one(name: str) -> int:
            return int(L.ints(genome, name)[0])

        # The slow group's current has DC gain 4096 / du; its threshold and bias are THETA and the
        # shared pair bias times that gain (rounded), so the slow pairs are the fast pairs on the
        # low-passed error: du changes the filter, never the DC gain of the PD net.
        slow_du = one("pd.slow_du")
        slow_theta = round(THETA * 4096 / slow_du)  # <= 2^20 (du >= 16)
        pd_bias = np.repeat(L.ints(genome, "pd.bias"), 2)
        slow_bias = np.rint(pd_bias * (4096 / slow_du)).astype(np.int64)  # <= 2^20

        def encoders(name: str, n: int, bias, theta: int, du: int, dv: int, kind=Kind.LIF, **kw) -> Population:
            # soft reset; with dv = 4096 nothing of v survives a step (a comparator)
            return Population(kind, n, du=du, dv=dv, bias=bias, theta=theta, reset=Reset.SOFT, name=name, **kw)

        n_pd, n_i = 2 * s.pd_pairs, 2 * s.i_pairs
        pd_dv = one("pd.dv")
        pops = [
            encoders("pd_fast", n_pd, pd_bias, THETA, 4096, pd_dv),
            encoders("pd_slow", n_pd, slow_bias, slow_theta, slow_du, pd_dv),
            Population(Kind.LI, 1, du=4096, dv=one("pd.out_dv"), name="pd_out"),
        ]
        i_kind, i_extra = (Kind.LIF, {})
        if s.i_adaptive:
            i_kind, i_extra = Kind.ALIF, {"da": one("i.da"), "a_step": one("i.a_step")}
        i_bias = np.repeat(L.ints(genome, "i.bias"), 2)
        pops += [
            encoders("i_enc", n_i, i_bias, THETA, 4096, one("i.dv"), i_kind, **i_extra),
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
        L.put(genome, "pd.slow_du", pop["pd_slow"].du[0])
        L.put(genome, "pd.dv", pop["pd_fast"].dv[0])
        L.put(genome, "pd.a", w[(0, 2)][0::2, 0])
        L.put(genome, "pd.c", w[(1, 2)][0::2, 0])
        L.put(genome, "pd.out_dv", pop["pd_out"].dv[0])
        L.put(genome, "i.w", w[(INPUT, 3)][0, 0::2])
        L.put(genome, "i.bias", pop["i_enc"].bias[0::2])
        L.put(genome, "i.dv", pop["i_enc"].dv[0])
        if s.i_adaptive:
            L.put(genome, "i.da", pop["i_enc"].da)
            L.put(genome, "i.a_step", pop["i_enc"].a_step)
        L.put(genome, "i.r", w[(3, 4)][0::2, 0])
        L.put(genome, "i.out_dv", pop["i_out"].dv[0])
        return genome


def default_network() -> Network:
    """The blimp SNN of the default spec from its PID-derived initial genome: what a loop or benchmark
    flies when given no network (`snnctl bench loop`, `firmware_bridge.loop_device.max_control_rate`)."""
    codec = BlimpSNNCodec(BlimpSNNSpec())
    return codec.decode(codec.initial_genome)
