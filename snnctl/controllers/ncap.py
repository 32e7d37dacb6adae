"""A spiking, integer NCAP swimmer circuit ("Neural Circuit Architectural Priors", NeurIPS 2022).

NCAP is the C. elegans motor circuit as a controller: per joint i a dorsal and a ventral B-neuron,
joint 0's driven by a head oscillator, every other joint's by proprioception of joint i-1 (its
positive part drives the dorsal, its negative part the ventral B-neuron), and per side a muscle
excited by its own side's B-neuron and inhibited by the opposite one; torque = dorsal muscle -
ventral muscle. Here every element is an ordinary population of the integer model, so the circuit
exports to `.snn` and runs on the firmware:

* **Head oscillator** (4 neurons, a half-centre CPG). `osc` = [D, V]: D fires every step unless
  V is on; V is a latch (self-excitation) switched on and off by two spike-counting timers.
  `osc_timer` = [T_D, T_V] integrate D's / V's spikes without leak and fire (hard reset) on the
  H_D-th / H_V-th spike, with H_D = floor(P / 2), H_V = P - H_D: D is on for H_D steps, V for H_V,
  period exactly P control steps. P is a threshold, so it can be a gene without changing topology.
* **B-neurons** `b_d`, `b_v`: per joint a small population of m = `neurons_per_unit` LIF neurons
  with staggered thresholds theta * (2k + 1) / (2m), k = 0..m-1, and no membrane memory (du = dv =
  4096): each step the number of neurons of a unit that spike is round(m * clamp(I / theta, 0, 1))
  -- NCAP's graded activation clamp(x, 0, 1), quantised to m levels, as a population rate. Joint 0's
  receive the oscillator's spikes (weight w_osc); joint i >= 1's receive joint i-1's angle as
  *current* (INPUT weights +w_prop into `b_d`, -w_prop into `b_v`): the threshold does the
  rectification, as in `snnctl.encoders.pm_pair`. (Membrane memory, `b_dv` < 4096, would turn a
  unit into a sigma-delta rate coder, but a rectifying integrator then piles up negative "debt"
  during the opposite half-cycle and answers late; memoryless units answer in the same step.)
* **Muscles** `m_d`, `m_v`: the same units, fed w_exc >= 0 from every neuron of their own side's
  B-unit and w_inh <= 0 from the other side's. (A joint's two B-units are never on together --
  the oscillator's sides and an angle's sign are exclusive -- so, as in NCAP's swimmer without
  its turning inputs, w_inh is wired and evolved but cannot change the torque.)
* **Readout** `torque`: one leaky integrator per joint, +w_out from the dorsal and -w_out from the
  ventral muscle neurons: its membrane is (dorsal - ventral spike count) / m, optionally low-passed
  (`out_dv`), scaled so that a full unit of difference is torque 1.

Option beyond the NCAP paper (`velocity_feedback`, on by default): the B-neurons of joint i also get
joint i-1's angular *velocity* as current (weight w_vel >= 0), like the stretch-rate sensing of
muscle spindles. NCAP's proprioception is angle only; on gymnasium's 3-link Swimmer-v5 the
angle-only circuit tops out near the open-loop score (measured: ~190 held-out, float or spiking),
because a joint then switches when the previous joint's angle crosses zero, a quarter period
after that joint's own torque switched; angle + rate switches it earlier (~305 held-out). It is
one more shared weight, so the circuit still drives a body of any length.

Genome (`NCAPCodec`, natural units: int8 weights, control steps): with `shared=True`, w_osc, w_prop,
[w_vel], w_exc, w_inh and [the period] -- 4 weights, as in NCAP, plus the options; with
`shared=False`, per-joint weights. Sign constraints are the genes' bounds (exc/osc/prop/vel in
0..127, inh in -128..0) and `GenomeLayout.get` clips every gene to them, so no genome, however far
outside the bounds, decodes to a weight of the wrong sign.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..config import check_params, param
from ..genome import GenomeLayout, LayoutCodec
from ..network import INPUT, Kind, Network, Output, Population, Projection, Reset

ANGLE_SCALE = 1e-3  # rad per input code: +-32.8 rad range, 1 mrad resolution
VELOCITY_SCALE = 2e-3  # rad/s per input code: +-65.5 rad/s range
U_MAX = 1.0  # joint torque command range of the swimmers

# Fixed exponents: what one unit of an int8 weight means (derivations in NCAPCodec._declare).
# Activation a of a unit = I / theta (clamped to [0, 1] by the thresholds), theta = 4096.
OSC_EXPONENT = 6  # w_osc = 64 <-> a = 1 while its oscillator side is on
PROP_EXPONENT = -1  # w_prop = 1 <-> a = 0.122 per rad: 127 is ~15.5 per rad
VEL_EXPONENT = -2  # w_vel = 1 <-> a = 0.0305 per rad/s: 127 is ~3.9 per rad/s
MUSCLE_EXPONENT = 7  # (for m = 1; minus log2 m) w_exc = 32 <-> muscle a = B a: 127 is a gain of ~3.97
OUT_WEIGHT, OUT_EXPONENT = 64, 10  # (for m = 1; minus log2 m) a full unit of muscle spikes adds 2^16
TIMER_WEIGHT = 64  # oscillator timers: each spike adds 64 (exponent 0); threshold 64 * H
OSC_UNIT = 64  # oscillator latch weights (exponent 6): 64 * 2^6 = 4096 = the latch threshold
OSC_THETA = OSC_UNIT << 6


@dataclass(frozen=True)
class NCAPSpec:
    """Body size, weight sharing, the oscillator and the neuron parameters of the circuit."""

    n_joints: int = 2  # actuated joints = links - 1 (Swimmer-v5: 2)
    # the param fields are the config's [controller] keys (evolve.swimmer_experiment.SCHEMA reads them)
    shared: bool = param(True, "one set of weights for all joints (transfers to any body length)")
    period: int = param(60, "head oscillator period in control steps (initial value when evolved)", ge=2)
    evolve_period: bool = param(True, "the oscillator period is a gene in period_min..period_max")
    period_min: int = param(8, "smallest evolvable period (control steps)", ge=2, le=10_000)
    period_max: int = param(120, "largest evolvable period (control steps)", ge=3, le=10_000)
    velocity_feedback: bool = param(True, "B-neurons also sense the previous joint's angular velocity")
    neurons_per_unit: int = param(4, "LIF neurons per B-neuron / muscle unit", choices=(1, 2, 4, 8, 16))
    theta: int = 4096  # unit threshold: activation 1 = a current of theta
    b_dv: int = 4096  # membrane decay of B-neurons (4096 = no memory; see the module docstring)
    m_dv: int = 4096  # membrane decay of muscles
    out_dv: int = param(4096, "torque readout decay (4096: no smoothing; 1024: tau ~ 3.5 steps)", ge=64, le=4096)

    def __post_init__(self) -> None:
        check_params(self, "NCAP spec")
        checks = (
            ("n_joints", self.n_joints, 2, 127),
            ("theta", self.theta, 64, 1 << 20),
            ("b_dv", self.b_dv, 0, 4096),
            ("m_dv", self.m_dv, 0, 4096),
        )
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
                raise ValueError(f"NCAP spec: {name} must be an integer in {lo}..{hi}, got {value!r}")
        if not self.period_min < self.period_max:
            raise ValueError(f"NCAP spec: period_min {self.period_min} must be < period_max {self.period_max}")
        if not isinstance(self.period, int | np.integer) or not self.period_min <= self.period <= self.period_max:
            raise ValueError(
                f"NCAP spec: period must be an integer in period_min..period_max "
                f"({self.period_min}..{self.period_max}), got {self.period!r}"
            )

    @property
    def n_links(self) -> int:
        return self.n_joints + 1

    @property
    def log2_m(self) -> int:
        return self.neurons_per_unit.bit_length() - 1

    @property
    def n_inputs(self) -> int:
        """Angles (and velocities) of joints 0..n_joints-2: the proprioceptive sources."""
        return (self.n_joints - 1) * (2 if self.velocity_feedback else 1)

    def obs_index(self) -> list[int]:
        """Observation entries the inputs read, for the swimmer layout.

        Observation = [body angle, joint angles (n_links - 1)] + [vx, vy, body rate, joint rates]:
        joint j's angle is obs[1 + j], its angular velocity obs[n_links + 3 + j].
        """
        src = range(self.n_joints - 1)
        idx = [1 + j for j in src]
        if self.velocity_feedback:
            idx += [self.n_links + 3 + j for j in src]
        return idx

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> NCAPSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"NCAP spec: unknown field(s) {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)


def _readout_scaling(out_dv: int) -> tuple[int, float]:
    """Output shift and scale so that a steady difference of one full muscle unit reads as torque 1.

    An LI neuron with du = 4096 fed a constant input I settles where v = v - floor(v * dv / 4096) + I,
    i.e. v_ss ~ I * 4096 / dv (exactly I for dv = 4096). A full unit (all m dorsal muscle neurons,
    no ventral one) gives I = m * OUT_WEIGHT * 2^(OUT_EXPONENT - log2 m) = 2^16 per step, so
    v_ss = 2^28 / dv, at most 2^22 for dv >= 64: inside the 24-bit state. The shift keeps v_ss
    near 2^14 codes (int16 headroom of 2x for transients).
    """
    v_ss = (OUT_WEIGHT << OUT_EXPONENT) * 4096 / out_dv
    shift = max(0, math.ceil(math.log2(v_ss)) - 14)
    return shift, float(2**shift / v_ss)


class NCAPCodec(LayoutCodec):
    """Genome (real, bounded) <-> the integer NCAP network for a body of `spec.n_joints` joints."""

    def __init__(self, spec: NCAPSpec = NCAPSpec()) -> None:
        self.spec = spec
        self.layout = self._declare(spec)

    # -- genome declaration --------------------------------------------------------------------
    @staticmethod
    def _declare(s: NCAPSpec) -> GenomeLayout:
        """Genes in int8 weight units; initial values give every stage a gain of about 1.

        Gains, with theta = 4096 (rates in spikes per step):
        - w_osc: the on-side of the oscillator spikes every step, so the B current is w * 2^6 and
          the B rate w * 64 / theta: 64 -> rate 1 (saturated).
        - w_prop: current w * code * 2^-1 with code = angle / 1e-3 rad, so the B rate is
          w * angle * 500 / 4096 = 0.122 * w per rad: 32 -> ~3.9 per rad (saturates at ~15 deg).
        - w_vel: current w * code * 2^-2 with code = rate / 2e-3 rad/s: 0.0305 * w per rad/s.
        - w_exc / w_inh: each of a B unit's m neurons adds w * 2^(7 - log2 m) to the muscle
          current, a full unit w * 2^7: 32 <-> gain 1.
        """
        g = GenomeLayout()
        n = s.n_joints
        per = 1 if s.shared else n
        per_prop = 1 if s.shared else n - 1
        g.add("osc.w", 1, 0, 127, 64)
        g.add("prop.w", per_prop, 0, 127, 32)
        if s.velocity_feedback:
            g.add("prop.vel_w", per_prop, 0, 127, 16)
        g.add("muscle.exc", per, 0, 127, 48)
        g.add("muscle.inh", per, -128, 0, -16)
        if s.evolve_period:
            g.add("osc.period", 1, s.period_min, s.period_max, s.period)
        return g

    @property
    def n_params(self) -> int:
        return self.layout.size

    # -- per-joint weights ---------------------------------------------------------------------
    def joint_weights(self, genome: np.ndarray) -> dict[str, np.ndarray]:
        """The int8 weights per joint (shared genes broadcast to every joint) and the period.

        `prop` and `vel` have n_joints entries with entry 0 unused (joint 0 has the oscillator).
        Signs are those of the gene bounds: this is where the constraints are enforced.
        """
        s, L = self.spec, self.layout
        genome = L.check(genome)
        n = s.n_joints

        def per_joint(name: str, count: int) -> np.ndarray:
            return np.broadcast_to(L.ints(genome, name), (count,)).copy()

        zero = np.zeros(1, dtype=np.int64)
        w = {
            "osc": per_joint("osc.w", 1),
            "prop": np.concatenate([zero, per_joint("prop.w", n - 1)]),
            "vel": np.concatenate([zero, per_joint("prop.vel_w", n - 1)]) if s.velocity_feedback else np.zeros(n, int),
            "exc": per_joint("muscle.exc", n),
            "inh": per_joint("muscle.inh", n),
        }
        w["period"] = np.array([int(L.ints(genome, "osc.period")[0]) if s.evolve_period else s.period])
        return w

    # -- genome -> network ---------------------------------------------------------------------
    def decode(self, genome: np.ndarray) -> Network:
        s = self.spec
        n, n_src, m = s.n_joints, s.n_joints - 1, s.neurons_per_unit  # joints, proprioceptive sources, unit size
        w = self.joint_weights(genome)
        period = int(w["period"][0])
        h_d = period // 2
        h_v = period - h_d
        # unit j of a population is neurons j*m .. j*m + m - 1; `unit` spreads per-joint weights
        # over a unit's neurons, `block` makes the unit-to-unit (all-to-all within a joint) matrices
        block_mask = np.kron(np.eye(n, dtype=np.int64), np.ones((m, m), dtype=np.int64))

        def block(per_joint: np.ndarray) -> np.ndarray:
            return block_mask * np.repeat(per_joint, m)[None, :]

        def unit_pop(name: str, dv: int) -> Population:
            # staggered thresholds theta * (2k + 1) / (2m): k + 1 neurons of a unit spike when the
            # current reaches theta * (2k + 1) / (2m), i.e. round(m * clamp(I / theta, 0, 1)) of them
            theta = np.tile(np.maximum(1, (s.theta * (2 * np.arange(m) + 1)) // (2 * m)), n)
            return Population(Kind.LIF, n * m, du=4096, dv=dv, bias=0, theta=theta, reset=Reset.SOFT, name=name)

        pops = [
            # 0: D fires every step unless V is on (bias = threshold; memoryless: du = dv = 4096)
            #    V latches: v = 4096 * (V(t-1) + T_D(t-1) - 2 T_V(t-1)) >= 4096 (bias 0)
            Population(Kind.LIF, 2, du=4096, dv=4096, bias=[OSC_THETA, 0], theta=OSC_THETA, name="osc"),
            # 1: timers count their side's spikes with no leak (dv = 0) and fire on the H-th one
            Population(Kind.LIF, 2, du=4096, dv=0, theta=[TIMER_WEIGHT * h_d, TIMER_WEIGHT * h_v], name="osc_timer"),
            unit_pop("b_d", s.b_dv),  # 2
            unit_pop("b_v", s.b_dv),  # 3
            unit_pop("m_d", s.m_dv),  # 4
            unit_pop("m_v", s.m_dv),  # 5
            Population(Kind.LI, n, du=4096, dv=s.out_dv, name="torque"),  # 6
        ]
        u = OSC_UNIT
        head = np.zeros(n * m, dtype=np.int64)
        head[:m] = w["osc"][0]  # joint 0's unit
        projs = [
            # oscillator: rows = source [D, V], columns = destination [D, V]
            Projection(0, 0, np.array([[0, 0], [-u, u]]), exponent=6, recurrent=True),  # V inhibits D, V latches
            Projection(
                1, 0, np.array([[-u, u], [u, -2 * u]]), exponent=6, recurrent=True
            ),  # T_D: D off, V on; T_V: back
            Projection(0, 1, np.diag([TIMER_WEIGHT, TIMER_WEIGHT]), exponent=0),  # D -> T_D, V -> T_V (same step)
            # head: D drives joint 0's dorsal B-unit, V its ventral one
            Projection(0, 2, np.stack([head, 0 * head]), exponent=OSC_EXPONENT, sparse=True),
            Projection(0, 3, np.stack([0 * head, head]), exponent=OSC_EXPONENT, sparse=True),
        ]
        # proprioception: input j (angle of joint j) -> B-units of joint j + 1, +w into b_d, -w into b_v
        src_to_unit = np.zeros((n_src, n), dtype=np.int64)
        src_to_unit[np.arange(n_src), np.arange(1, n)] = 1
        prop = np.repeat(src_to_unit * w["prop"][None, :], m, axis=1)
        if s.velocity_feedback:
            zeros = np.zeros_like(prop)
            vel = np.vstack([zeros, np.repeat(src_to_unit * w["vel"][None, :], m, axis=1)])
            prop = np.vstack([prop, zeros])
        projs += [
            Projection(INPUT, 2, prop, exponent=PROP_EXPONENT, sparse=True),
            Projection(INPUT, 3, -prop, exponent=PROP_EXPONENT, sparse=True),
        ]
        if s.velocity_feedback:
            projs += [
                Projection(INPUT, 2, vel, exponent=VEL_EXPONENT, sparse=True),
                Projection(INPUT, 3, -vel, exponent=VEL_EXPONENT, sparse=True),
            ]
        e_mus, e_out = MUSCLE_EXPONENT - s.log2_m, OUT_EXPONENT - s.log2_m  # a unit's m spikes = one source
        readout = np.kron(np.eye(n, dtype=np.int64), np.full((m, 1), OUT_WEIGHT))  # (n*m, n)
        projs += [
            # muscles: excitation from their own side's unit, inhibition from the other side's
            Projection(2, 4, block(w["exc"]), exponent=e_mus, sparse=True),
            Projection(3, 4, block(w["inh"]), exponent=e_mus, sparse=True),
            Projection(3, 5, block(w["exc"]), exponent=e_mus, sparse=True),
            Projection(2, 5, block(w["inh"]), exponent=e_mus, sparse=True),
            # torque = (dorsal - ventral muscle spikes) / m, low-passed by the readout's leak
            Projection(4, 6, readout, exponent=e_out, sparse=True),
            Projection(5, 6, -readout, exponent=e_out, sparse=True),
        ]
        shift, scale = _readout_scaling(s.out_dv)
        outputs = [Output(6, j, shift=shift, scale=scale) for j in range(n)]
        scales = [ANGLE_SCALE] * n_src + ([VELOCITY_SCALE] * n_src if s.velocity_feedback else [])
        meta = {
            "family": "swimmer",
            "controller": "ncap",
            "n_links": s.n_links,
            "obs_index": s.obs_index(),
            "u_min": -U_MAX,
            "u_max": U_MAX,
            "ncap": s.to_dict(),
        }
        return Network(s.n_inputs, pops, projs, outputs, input_scale=scales, meta=meta, fail_safe=[0] * n)

    # -- network -> genome ---------------------------------------------------------------------
    def encode(self, net: Network) -> np.ndarray:
        """Read a network of this codec's spec back into a genome (exact for decoded networks)."""
        s, L = self.spec, self.layout
        spec = net.meta.get("ncap")
        if spec is not None and NCAPSpec.from_dict(spec) != s:
            raise ValueError(f"network was built for {spec}, codec is {s.to_dict()}")
        # projections in decode's order: 3 oscillator, osc->b_d, osc->b_v, angle->b_d, angle->b_v,
        # [velocity->b_d, velocity->b_v], b_d->m_d, b_v->m_d, b_v->m_v, b_d->m_v, 2 readout
        w = [q.weights.astype(np.int64) for q in net.projections]
        k = 9 if s.velocity_feedback else 7  # index of b_d -> m_d
        n = s.n_joints
        genome = np.zeros(L.size)

        def put(name: str, values: np.ndarray) -> None:
            values = np.asarray(values)
            L.put(genome, name, values[:1] if s.shared else values)

        first = np.arange(n) * s.neurons_per_unit  # first neuron of each joint's unit
        L.put(genome, "osc.w", w[3][0, 0])
        put("prop.w", w[5][np.arange(n - 1), first[1:]])
        if s.velocity_feedback:
            put("prop.vel_w", w[7][n - 1 + np.arange(n - 1), first[1:]])
        put("muscle.exc", w[k][first, first])
        put("muscle.inh", w[k + 1][first, first])
        if s.evolve_period:
            timer = net.populations[1].theta
            L.put(genome, "osc.period", int(timer.sum()) // TIMER_WEIGHT)
        return genome

    # -- transfer to another body --------------------------------------------------------------
    @classmethod
    def from_network(cls, net: Network) -> NCAPCodec:
        """The codec a network was built with, from its `meta` alone (a `.snn` file suffices)."""
        spec = net.meta.get("ncap")
        if not isinstance(spec, dict):
            raise ValueError("not an NCAP network: its meta has no 'ncap' spec (was it built by NCAPCodec?)")
        return cls(NCAPSpec.from_dict(spec))

    def resize(self, net: Network, n_joints: int) -> Network:
        """The same evolved weights on a body with `n_joints` joints: the circuit grows with it.

        Only a shared-weight circuit transfers: per-joint weights exist for one body length only.
        """
        if not self.spec.shared and n_joints != self.spec.n_joints:
            raise ValueError(
                f"this NCAP network has per-joint weights for {self.spec.n_joints} joints and cannot be rebuilt"
                f" for {n_joints}; only shared-weight circuits (shared = true) transfer to other body lengths"
            )
        genome = self.encode(net)
        out = NCAPCodec(dataclasses.replace(self.spec, n_joints=int(n_joints))).decode(genome)
        out.control_period_s = net.control_period_s  # the same circuit, made for the same loop rate
        return out


def resize_network(net: Network, n_joints: int) -> Network:
    """`NCAPCodec.from_network(net).resize(net, n_joints)`: rebuild a `.snn` NCAP for another body."""
    return NCAPCodec.from_network(net).resize(net, n_joints)
