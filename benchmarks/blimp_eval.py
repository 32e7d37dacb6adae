"""Seconds per closed-loop blimp evaluation: the 2-ms reference path against the default (issue 11, part 6).

One evaluation is what `evolve.blimp.ClosedLoopProblem.evaluate` does for one genome: build the
controller of the PID-derived initial genome and fly the two 60-s training flights of a generation
(`configs/blimp_pid.toml`'s env: 1-cm lidar noise, 10 Hz), scoring each. Both paths fly the same
flights (same profile seeds and noise stream) in this process, alternating, so machine load hits all:

* ``today``: the code before the change — ``sim/blimp.py`` and ``sim/blimp_metrics.py`` of ``--baseline-rev``
  loaded from git into this process (2 ms, plain loop, a profile lookup three times a step);
* ``old``: the former default, MuJoCo ``implicitfast`` at 2 ms (50 substeps per control step), stepped
  through the plain gymnasium loop (``run_episode(..., lean=False)``: obs and info dict every step);
* ``new``: the env's default (RK4 at the 0.1-s control period, `sim.blimp.default_timestep`) through
  ``run_episode``'s lean loop (``step_lean``);
* ``problem``: ``ClosedLoopProblem.evaluate`` itself on one genome (what evolution calls; new path).

``physics`` is the time of the same number of ``mj_step`` calls alone (from a hovering state),
``python`` the rest (controller, env step, loop, metrics).

    python benchmarks/blimp_eval.py [--repeats 15] [--baseline-rev 7ff61a6] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import mujoco
import numpy as np

from evolve.blimp import ClosedLoopProblem
from sim.blimp import BlimpAltitudeEnv
from sim.blimp_metrics import run_episode
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.snn import SNNController

ENV = {"excess_mass_kg": 0.005, "sensor_noise_m": 0.01, "control_rate_hz": 10.0, "episode_s": 60.0}
BASELINE_REV = "7ff61a6"  # the last commit before the fast path
PATHS = {
    "old": ({"timestep_s": 0.002, "integrator": "implicitfast"}, False),
    "new": ({}, True),
}


def physics_s_per_step(env: BlimpAltitudeEnv, n: int = 600) -> float:
    """Seconds of ``mj_step`` per control step alone, from a hovering state (no Python around it)."""
    env.reset(seed=0)
    env.data.qpos[0] = 1.5
    env.data.ctrl[0] = 1.09
    m, d, nsub = env.model, env.data, env.n_substeps
    t0 = time.perf_counter()
    for _ in range(n):
        mujoco.mj_step(m, d, nstep=nsub)
    return (time.perf_counter() - t0) / n


def load_baseline(rev: str) -> tuple[type, object] | None:
    """(BlimpAltitudeEnv, run_episode) of ``sim/blimp.py`` and ``sim/blimp_metrics.py`` (before issue 12:
    ``sim/metrics.py``) at git revision ``rev``."""
    root = Path(__file__).resolve().parents[1]
    mods = []
    for paths in (("sim/blimp.py",), ("sim/blimp_metrics.py", "sim/metrics.py")):
        for path in paths:
            try:
                src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True,
                                     check=True)  # fmt: skip
                break
            except (OSError, subprocess.CalledProcessError):
                continue
        else:
            return None
        name = f"_baseline_{rev}_{Path(path).stem}"
        mod = types.ModuleType(name)
        mod.__file__ = f"{rev}:{path}"
        sys.modules[name] = mod  # dataclasses look their module up
        exec(compile(src.stdout, mod.__file__, "exec"), mod.__dict__)
        mods.append(mod)
    return mods[0].BlimpAltitudeEnv, mods[1].run_episode


def evaluate_once(problem: ClosedLoopProblem, env, genome: np.ndarray, lean: bool | None, gen: int, runner=None):
    """One evaluation as ClosedLoopProblem.evaluate does it; returns (seconds, control steps, costs).
    ``lean`` None: ``runner`` (a baseline ``run_episode``) without the argument."""
    flights = problem.episode_seeds(gen)
    t0 = time.perf_counter()
    ctl = SNNController(problem._codec.decode(genome))
    costs, steps = [], 0
    for s in flights:
        rec = runner(env, ctl, seed=s) if lean is None else run_episode(env, ctl, seed=s, lean=lean)
        costs.append(problem.cost(rec.metrics()))
        steps += rec.t.size
    return time.perf_counter() - t0, steps, costs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="evaluations per path (generations 0..n-1)")
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the 'today' row ('' skips it)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args(argv)

    spec = BlimpSNNSpec()
    genome = BlimpSNNCodec(spec).initial_genome
    problem = ClosedLoopProblem(spec, dict(ENV))
    paths = dict(PATHS)
    envs = {name: BlimpAltitudeEnv(**ENV, **kw) for name, (kw, _) in PATHS.items()}
    runner = None
    baseline = load_baseline(args.baseline_rev) if args.baseline_rev else None
    if baseline is not None:
        env_cls, runner = baseline
        paths = {"today": ({}, None), **paths}
        envs = {"today": env_cls(**ENV), **envs}
    for name, env in envs.items():  # warm-up: numba compile, caches
        evaluate_once(problem, env, genome, paths[name][1], 0, runner)
    problem.evaluate(genome[None], np.zeros(1, np.uint64), 0)

    times: dict[str, list[float]] = {name: [] for name in [*paths, "problem"]}
    steps: dict[str, int] = {}
    costs: dict[str, list[float]] = {name: [] for name in paths}
    for g in range(args.repeats):  # interleaved: a load spike hits every path
        for name, env in envs.items():
            sec, n, c = evaluate_once(problem, env, genome, paths[name][1], g, runner)
            times[name].append(sec)
            steps[name] = n
            costs[name].append(float(np.mean(c)))
        t0 = time.perf_counter()
        problem.evaluate(genome[None], np.zeros(1, np.uint64), g)
        times["problem"].append(time.perf_counter() - t0)

    rows = {}
    for name in times:
        env = envs.get(name, envs["new"])
        sec = float(np.median(times[name]))
        row = {"s_per_eval": sec, "min_s": float(np.min(times[name]))}
        if name in paths:
            phys = physics_s_per_step(env) * steps[name]
            row.update(
                timestep_s=float(env.model.opt.timestep),
                integrator=getattr(env, "integrator", "implicitfast"),
                substeps=env.n_substeps,
                lean=bool(paths[name][1]),
                physics_s=phys,
                python_s=sec - phys,
                mean_cost=float(np.mean(costs[name])),
            )
        rows[name] = row
    base = "today" if "today" in rows else "old"
    speedup = rows[base]["s_per_eval"] / rows["new"]["s_per_eval"]
    cost_diff = float(np.max(np.abs(np.subtract(costs["new"], costs["old"]))))
    out = {
        "repeats": args.repeats,
        "flights_per_eval": problem.episodes_per_generation,
        "env": ENV,
        "baseline": f"{base} ({args.baseline_rev})" if base == "today" else base,
        "paths": rows,
        "speedup": speedup,
        "speedup_vs_old": rows["old"]["s_per_eval"] / rows["new"]["s_per_eval"],
        "speedup_problem": rows[base]["s_per_eval"] / rows["problem"]["s_per_eval"],
        "max_cost_diff": cost_diff,
    }
    if base == "today":
        out["today_equals_old"] = bool(np.array_equal(costs["today"], costs["old"]))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"closed-loop evaluation of the initial genome: {problem.episodes_per_generation} x {ENV['episode_s']:g}-s")
    print(f"flights, median of {args.repeats} (ms)")
    print(f"  {'path':8s} {'step':>14s} {'eval':>8s} {'physics':>8s} {'python':>8s} {'cost':>8s}")
    for name, r in rows.items():
        if name in paths:
            step = f"{r['integrator']} {r['timestep_s'] * 1e3:g}ms"
            line = f"{r['physics_s'] * 1e3:8.1f} {r['python_s'] * 1e3:8.1f} {r['mean_cost']:8.4f}"
        else:
            step, line = "(evaluate)", ""
        print(f"  {name:8s} {step:>14s} {r['s_per_eval'] * 1e3:8.1f} {line}")
    print(
        f"speedup {base}/new: {speedup:.1f}x  ({base}/problem.evaluate: {out['speedup_problem']:.1f}x, "
        f"old/new: {out['speedup_vs_old']:.1f}x)"
    )
    if base == "today":
        print(f"today's costs equal the old path's: {out['today_equals_old']} (same physics, same stream)")
    print(f"largest difference of an evaluation's cost, new - old: {cost_diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
