"""What the sensing-to-action loop needs to know of the blimp, declared next to the blimp.

`BlimpAltitudeEnv.loop_spec` is `BLIMP_LOOP`: the generic loop (`sim.loop`), monitor
(`sim.monitor`) and sensing policies (`sim.sensing`) read the blimp's sensor layout, monitor, tuned
sensing defaults and flight metrics from it, and know no family themselves. Below them, the blimp's
held-out flights through the loop (`fly_blimp_heldout`, `snnctl run --sensing/--faults`), their
mean figures (`aggregate`) and table (`format_loop_summary`). The held-out set is `BLIMP_LOOP.heldout_seeds`
(`sim.profiles.HELDOUT_SEEDS`), read by `sim.loop.heldout_seeds` wherever held-out flights are flown.

Safe action (`BLIMP_SAFE_U` = 1.0): 92 % of the hover command (1.09 for the default 5-g-heavy trim),
so a blimp that lost its altitude sensor or its controller sinks gently (terminal speed ~0.11 m/s
instead of 0.38 m/s with the motor off) and can never climb into the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.loop import LoopResult, LoopSpec, SensorLayout, heldout_seeds, run_heldout
from sim.monitor import ReliabilityMonitor
from sim.profiles import HELDOUT_SEEDS
from snnctl.text import plural


def _blimp_derive(obs: np.ndarray) -> None:
    # the env computes the error in float64 from the unrounded values; here from the float32 entries
    obs[2] = float(obs[1]) - float(obs[0])


BLIMP_LAYOUT = SensorLayout((0,), _blimp_derive, lambda obs: float(obs[2]), "altitude_m", "reference_m")
"""`BlimpAltitudeEnv`: obs = [lidar altitude, reference, error]; the lidar is entry 0."""

BLIMP_SAFE_U = 1.0
BLIMP_MAX_RATE_M_S = 1.0  # the default blimp's fastest motion is a full-thrust descent at 0.76 m/s


def blimp_monitor(env: Any = None, **overrides: Any) -> ReliabilityMonitor:
    """The blimp's monitor; `env` (a `BlimpAltitudeEnv`, wrapped or not) sets range and noise margins."""
    u = getattr(env, "unwrapped", env)
    noise = float(getattr(u, "sensor_noise_m", 0.01))
    high = float(getattr(u, "altitude_max_m", 3.75)) + 0.25
    kw: dict[str, Any] = {
        "low": -0.25,  # the lidar at the floor reads 0 +- noise
        "high": high,  # the slide joint stops the blimp below the ceiling
        "max_rate": BLIMP_MAX_RATE_M_S,
        # 5 sigma of the difference of two noisy readings, plus 1 cm: false alarms ~1e-7 per sample
        "jump_margin": max(0.05, 5.0 * math.sqrt(2.0) * noise + 0.01),
        "stuck_samples": 3 if noise > 0 else 0,
    }
    safe = overrides.pop("safe_action", [BLIMP_SAFE_U])
    kw.update(overrides)
    return ReliabilityMonitor(safe, **kw)


# Sensing defaults, chosen with `evolve.bench_loop.tune_sensing` on training profiles (seeds 0..19, never
# the held-out ones): send-on-delta with delta = 3 lidar-noise sigmas and a 1-s heartbeat (-80 % samples,
# RMSE +0.4 % on training flights); action-to-sensing on the error, 0.1..1 s (-64 %, RMSE +2.9 %).
# Both keep a sample at least every second, so a dead or stuck sensor is noticed within seconds.
BLIMP_DELTA_M = 0.03
BLIMP_MAX_INTERVAL_STEPS = 10
BLIMP_ADAPTIVE = {"min_interval": 1, "max_interval": 10, "gain": 20.0, "signal": "error"}
BLIMP_SENSING = {
    "fixed": {"every_k": 1},
    "delta": {"delta": BLIMP_DELTA_M, "max_interval_steps": BLIMP_MAX_INTERVAL_STEPS},
    "adaptive": BLIMP_ADAPTIVE,
}
"""`sim.sensing.make_sensing` name -> the blimp's default arguments."""


def blimp_metrics(result: LoopResult) -> dict[str, Any]:
    """`sim.blimp_metrics.flight_metrics` of a flight (truth and reference known at every step); else {}."""
    truth, ref = result.column("truth"), result.column("reference")
    if not result.records or not (np.all(np.isfinite(truth)) and np.all(np.isfinite(ref))):
        return {}
    from sim.blimp_metrics import flight_metrics

    return flight_metrics(result.column("t"), truth, ref, result.column("action"), result.step_times)


def blimp_plot_labels(thrust_gain_n: float = 0.045) -> dict[str, str]:
    """`sim.loop_plots.plot_timeline`'s axis labels for the blimp, with units.

    `u` is in the paper's units, not SI; the label says what one unit pushes (`thrust_gain_n`, the
    `[env]` key), so a reader can turn the command into a force."""
    return {"value_label": "altitude (m)", "action_label": f"command u\n({1e3 * thrust_gain_n:.0f} mN thrust per unit)"}


BLIMP_LOOP = LoopSpec(BLIMP_LAYOUT, blimp_monitor, BLIMP_SENSING, blimp_metrics, HELDOUT_SEEDS)
"""`BlimpAltitudeEnv.loop_spec`."""


# -- blimp held-out flights through the loop (`snnctl run --sensing/--faults`) ---------------------------

_MEAN_KEYS = ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "control_effort",
              "spikes_per_s", "synops_per_s", "samples_per_s", "reads_per_s", "bytes_per_s")  # fmt: skip


def aggregate(results: Sequence[LoopResult]) -> dict[str, Any]:
    """Mean figures over flights, summed flags and misses, and per fault the worst steps-to-flag."""
    per = [r.summary() for r in results]
    from sim.blimp_metrics import heldout_means

    out: dict[str, Any] = heldout_means(per, _MEAN_KEYS)
    flags: dict[str, int] = {}
    for s in per:
        for k, v in s["flags"].items():
            flags[k] = flags.get(k, 0) + v
    to_flag = []
    for i, f in enumerate(per[0]["faults"] if per else []):
        steps = [s["steps_to_flag"][i]["steps"] for s in per if s["steps_to_flag"][i]["window_steps"]]
        flagged = [x for x in steps if x is not None]
        to_flag.append({"fault": f, "flights": len(steps), "flagged_in": len(flagged),
                        "worst_steps": max(flagged) if flagged else None})  # fmt: skip
    out.update({
        "episodes": len(per), "sensing": per[0]["sensing"] if per else "", "faults": per[0]["faults"] if per else [],
        "flags": flags, "flagged_steps": int(sum(s["flagged_steps"] for s in per)),
        "steps": int(sum(s["steps"] for s in per)),
        "deadline_misses": int(sum(s["deadline_misses"] for s in per)), "steps_to_flag": to_flag,
    })  # fmt: skip
    return out


def fly_blimp_heldout(env_kwargs: dict, controller: str, sensing: str = "fixed", faults: Any = (),
                      episodes: int = 10, first: int = 0, record_first: bool = False,
                      sensing_overrides: dict | None = None, force_rate: bool = False,
                      progress: bool = False) -> tuple[dict[str, Any], LoopResult | None]:  # fmt: skip
    """Held-out blimp flights (`HELDOUT_SEEDS[first:first + episodes]`) through the loop, in-process
    (`sim.loop.run_heldout`).

    `controller`: ``pid``, ``NET.snn`` or ``float:NET.snn`` (`snnctl.controllers.factory.load_backend`,
    built for the env's control period; a network made for another is refused unless `force_rate`);
    `sensing`: a `sim.sensing.make_sensing` name; `faults`: specs or a spec string (fault draws
    seeded by `first`). Returns `aggregate` of the flights and, if asked, the first flight's result.
    `progress`: a bar of the control steps (`snnctl.progress`).
    """
    from sim.blimp import BlimpAltitudeEnv
    from sim.sensing import make_sensing
    from snnctl.controllers.factory import load_backend
    from snnctl.progress import progress_bar

    env = BlimpAltitudeEnv(**env_kwargs)
    backend = None
    try:
        seeds = heldout_seeds(env, episodes, first)  # before the controller is loaded
        backend = load_backend(controller, env.dt, force=force_rate, env=env)
        policy = make_sensing(sensing, BLIMP_SENSING, **(sensing_overrides or {}))
        steps = len(seeds) * int(round(env.episode_s / env.dt))
        with progress_bar(progress, steps, "held-out flights", "step") as bar:
            results = run_heldout(env, backend, policy, first=first, seeds=seeds, faults=faults,
                                  on_step=lambda _k, _t: bar.update(1))  # fmt: skip
    finally:
        if backend is not None:
            backend.close()
        env.close()
    return aggregate(results), (results[0] if record_first else None)


def format_loop_summary(controller: str, s: dict[str, Any]) -> str:
    """The `snnctl run --sensing/--faults` table."""

    def num(x: Any) -> str:
        return "-" if x is None else f"{x:.4f}"

    lines = [
        f"held-out profiles: {plural(s['episodes'], 'flight')} through the sensing-to-action loop (mean over flights)",
        f"  controller: {controller}",
        f"  sensing:    {s['sensing']}",
        f"  faults:     {', '.join(s['faults']) if s['faults'] else 'none'}",
        "",
        f"  {'metric':34}{'value':>12}",
    ]
    rows = (("RMSE (m)", "rmse_m"), ("steady-state error (m)", "steady_state_error_m"),
            ("overshoot up (m)", "overshoot_up_m"), ("overshoot down (m)", "overshoot_down_m"),
            ("worst overshoot up (m)", "worst_overshoot_up_m"), ("worst overshoot down (m)", "worst_overshoot_down_m"),
            ("mean |u|", "control_effort"), ("spikes per second", "spikes_per_s"),
            ("sensor samples per second", "samples_per_s"))  # fmt: skip
    for label, key in rows:
        if key in s:
            lines.append(f"  {label:34}{num(s[key]):>12}")
    lines.append(f"  {'steps with the safe action':34}{s['flagged_steps']:>12} of {s['steps']}")
    if s["flags"]:
        lines.append(f"  {'monitor flags':34}" + ", ".join(f"{k} {v}" for k, v in sorted(s["flags"].items())))
    if s["steps_to_flag"]:
        lines += ["", f"  {'fault':28}{'flagged in':>12}{'steps to flag (worst)':>24}"]
        for f in s["steps_to_flag"]:
            worst = "-" if f["worst_steps"] is None else str(f["worst_steps"])
            lines.append(f"  {f['fault']:28}{f['flagged_in']:>5} of {f['flights']:<4}{worst:>24}")
    return "\n".join(lines)
