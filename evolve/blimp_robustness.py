"""Robustness of a blimp controller: the held-out flights under perturbed physics, next to the PID.

`snnctl bench robustness CONFIG --controller X` runs `robustness` and prints `format_robustness`.
Each condition (`CONDITIONS`) changes the config's `[env]` — a factor on the config's value or a
value of its own — and both the controller and the tuned PID (built for the env's control period)
fly the same held-out profiles (`sim.profiles.HELDOUT_SEEDS`, `[run] episodes` x `[run] episode_s`)
through `evolve.blimp_experiment.fly_heldout`, so the numbers are those `snnctl run` prints for that
`[env]`. The conditions:

=====================  ==========================================================
nominal                the config's `[env]` as it is
excess mass x1.5/x0.5  a heavier / lighter trim (`excess_mass_kg`)
motor lag x2           `motor_tau_s` doubled
sensor noise 3 cm      `sensor_noise_m = 0.03`
gusts 0.1 N            `gust_force_n = 0.1` (the config's gust rate and duration)
buoyancy drift 4 g     `buoyancy_drift_kg = 0.004` (the config's drift period)
sensor rate 5 Hz       `sensor_rate_hz = 5`: the loop keeps its control rate and holds each sample
=====================  ==========================================================

Per condition and controller: mean RMSE, steady-state error and overshoots over the flights, the
worst overshoots, and `contact_steps`, the control steps that ended at the floor or the ceiling
(`info["contact"]`) summed over the flights. The goals (`GOALS`) are data, checked per condition on
the controller: no contact (the blimp hit the room: a failure whatever the tracking says), RMSE <=
1.1 x the PID's, steady-state error <= the PID's + 1 cm.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from snnctl.text import plural

MEAN_METRICS = ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "control_effort")


@dataclass(frozen=True)
class Condition:
    """A perturbation of the config's `[env]`: `scale` multiplies keys, `set` replaces them."""

    name: str
    label: str
    scale: Mapping[str, float] = field(default_factory=dict)
    set: Mapping[str, float] = field(default_factory=dict)

    def env(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """The `[env]` of this condition, from the config's."""
        return {**base, **{k: base[k] * f for k, f in self.scale.items()}, **self.set}


CONDITIONS: tuple[Condition, ...] = (
    Condition("nominal", "nominal"),
    Condition("excess_mass_x1.5", "excess mass x1.5", scale={"excess_mass_kg": 1.5}),
    Condition("excess_mass_x0.5", "excess mass x0.5", scale={"excess_mass_kg": 0.5}),
    Condition("motor_lag_x2", "motor lag x2", scale={"motor_tau_s": 2.0}),
    Condition("sensor_noise_3cm", "sensor noise 3 cm", set={"sensor_noise_m": 0.03}),
    Condition("gusts_0.1N", "gusts 0.1 N", set={"gust_force_n": 0.1}),
    Condition("buoyancy_drift_4g", "buoyancy drift 4 g", set={"buoyancy_drift_kg": 0.004}),
    Condition("sensor_rate_5hz", "sensor rate 5 Hz", set={"sensor_rate_hz": 5.0}),
)


@dataclass(frozen=True)
class Goal:
    """`controller[metric] <= bound`, the bound being `value` ("abs"), `value x PID` ("ratio") or
    `PID + value` ("plus")."""

    name: str
    label: str
    metric: str
    kind: str
    value: float

    def bound(self, pid: Mapping[str, float]) -> float:
        if self.kind == "abs":
            return self.value
        if self.kind == "ratio":
            return self.value * pid[self.metric]
        if self.kind == "plus":
            return pid[self.metric] + self.value
        raise ValueError(f"unknown goal kind {self.kind!r}")

    def met(self, ctl: Mapping[str, float], pid: Mapping[str, float]) -> bool:
        return bool(ctl[self.metric] <= self.bound(pid))


GOALS: tuple[Goal, ...] = (
    Goal("no_contact", "no contact", "contact_steps", "abs", 0),
    Goal("rmse", "RMSE<=1.1xPID", "rmse_m", "ratio", 1.1),
    Goal("steady_state", "SS<=PID+1cm", "steady_state_error_m", "plus", 0.01),
)


def _summary(recs: list) -> dict[str, float]:
    """Mean metrics over flights, the worst overshoots and the contact steps (summed)."""
    from sim.blimp_metrics import heldout_means

    rows = [r.metrics() for r in recs]
    out = heldout_means(rows, MEAN_METRICS)
    out["contact_steps"] = int(sum(m["contact_steps"] for m in rows))
    out["flights_with_contact"] = int(sum(m["contact_steps"] > 0 for m in rows))
    return out


def robustness(
    cfg: dict,
    controller: str,
    episodes: int | None = None,
    conditions: tuple[Condition, ...] = CONDITIONS,
    goals: tuple[Goal, ...] = GOALS,
    progress: bool = False,
    on_flight: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Fly `controller` ('pid' or a .snn path) and the PID under every condition; JSON-ready results.

    Raises ValueError for an impossible condition (e.g. an env the config's values make invalid)
    and whatever `fly_heldout` raises for a bad controller file.
    """
    from tqdm import tqdm

    from evolve.blimp_experiment import fly_heldout
    from sim.profiles import HELDOUT_SEEDS

    n = episodes or cfg["run"]["episodes"]
    if not 1 <= n <= len(HELDOUT_SEEDS):
        raise ValueError(f"episodes must be in 1..{len(HELDOUT_SEEDS)} (the held-out set), got {n}")
    rows = []
    with tqdm(total=len(conditions) * n, desc="bench robustness", unit="flight", file=sys.stderr,
              disable=None if progress else True, leave=False) as bar:  # fmt: skip
        for cond in conditions:
            ccfg = {**cfg, "env": cond.env(cfg["env"])}
            recs: dict[str, list] = {"controller": [], "pid": []}
            for i in range(n):
                for who, spec in (("controller", controller), ("pid", "pid")):
                    recs[who].append(fly_heldout(ccfg, spec, episodes=1, seed=i, record_first=True)[1])
                bar.update(1)
                if on_flight is not None:
                    on_flight()
            ctl, pid = _summary(recs["controller"]), _summary(recs["pid"])
            met = {g.name: g.met(ctl, pid) for g in goals}
            rows.append({
                "name": cond.name, "label": cond.label, "env": {k: ccfg["env"][k] for k in (*cond.scale, *cond.set)},
                "controller": ctl, "pid": pid,
                "rmse_ratio": ctl["rmse_m"] / pid["rmse_m"] if pid["rmse_m"] > 0 else float("nan"),
                "goals": met, "passed": all(met.values()),
            })  # fmt: skip
    return {
        "controller": controller,
        "episodes": n,
        "episode_s": cfg["run"]["episode_s"],
        "profile": cfg["run"]["profile"],
        "goals": [
            {"name": g.name, "label": g.label, "metric": g.metric, "kind": g.kind, "value": g.value} for g in goals
        ],
        "conditions": rows,
        "all_passed": all(r["passed"] for r in rows),
    }


def format_robustness(result: dict[str, Any]) -> str:
    """The table: per condition the controller (C) next to the PID (P), then one pass/FAIL column per goal."""
    goals = result["goals"]
    head = (f"{'condition':19} {'RMSE C':>7} {'RMSE P':>7} {'ratio':>6} {'SS C':>7} {'SS P':>7} {'ovUp C':>7} "
            f"{'ovUp P':>7} {'ovDn C':>7} {'ovDn P':>7} {'cont C':>6} {'cont P':>6}")  # fmt: skip
    head += "".join(f"  {g['label']}" for g in goals)
    lines = [
        f"robustness of {result['controller']} vs the PID: {plural(result['episodes'], 'held-out flight')} of "
        f"{result['episode_s']:g} s ({result['profile']}) per condition; means over flights (m), "
        "cont = control steps at the floor or ceiling (summed)",
        head,
    ]
    for r in result["conditions"]:
        c, p = r["controller"], r["pid"]
        line = (f"{r['label']:19} {c['rmse_m']:7.4f} {p['rmse_m']:7.4f} {r['rmse_ratio']:6.3f} "
                f"{c['steady_state_error_m']:7.4f} {p['steady_state_error_m']:7.4f} {c['overshoot_up_m']:7.4f} "
                f"{p['overshoot_up_m']:7.4f} {c['overshoot_down_m']:7.4f} {p['overshoot_down_m']:7.4f} "
                f"{c['contact_steps']:6d} {p['contact_steps']:6d}")  # fmt: skip
        line += "".join(f"  {'pass' if r['goals'][g['name']] else 'FAIL':>{len(g['label'])}}" for g in goals)
        lines.append(line)
    failed = [f"{r['label']} ({', '.join(g['label'] for g in goals if not r['goals'][g['name']])})"
              for r in result["conditions"] if not r["passed"]]  # fmt: skip
    lines.append("all goals met in every condition" if not failed else "goals NOT met: " + "; ".join(failed))
    return "\n".join(lines)
