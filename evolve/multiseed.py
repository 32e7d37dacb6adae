"""Multi-seed results: one config run for several seeds, one table with spread, worst case and goals.

A number from one hand-picked run is not a result. ``snnctl bench evolve CONFIG --seeds 1 2 3``
runs the config's main job (the family's ``evolve_main``: evolution, validated selection, held-out
evaluation) once per seed, each into its own folder, and tabulates each seed's held-out metrics
next to the family's baseline, with mean ± standard deviation, the worst seed, the wall time, and a
pass/fail for every goal of the config's ``[goals]`` section — computed here, never judged by eye.

What a family module adds to its face for this (`snnctl.cli.families`):

- ``BENCH_METRICS``: ``(key, label, better)`` rows, ``better`` being ``"lower"`` or ``"higher"``;
- ``bench_result(cfg, out_dir, wall_s) -> dict``: ``metrics`` (key -> value of the exported
  controller on held-out episodes), ``baseline`` (key -> value, or None), ``baseline_name``,
  ``episodes`` and ``goals`` (a list of ``{"goal": label, "passed": bool}``).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import shutil
import time
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from sim.metrics import summarize

__all__ = ["run_seeds", "format_table", "machine_line"]


def run_seeds(
    mod: ModuleType,
    cfg: dict,
    seeds: list[int],
    out_root: Path,
    reuse: bool = False,
    progress: bool = True,
    redo_unfinished: bool = False,
) -> dict:
    """Run ``cfg`` once per seed into ``out_root/seed<N>``; returns the per-seed results and the summary.

    ``reuse``: a seed whose folder already holds a finished run of the same config (its
    ``bench.json``) is read back instead of run again (e.g. after an interrupted benchmark).
    ``redo_unfinished``: a seed folder without that (an interrupted run, or one of another config) is
    emptied and run again instead of refused — for callers whose folders are their own cache.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"give distinct seeds, got {seeds}")
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, seed in enumerate(seeds):
        c = copy.deepcopy(cfg)
        c["evolve"]["seed"] = int(seed)
        out = out_root / f"seed{seed}"
        done = out / "bench.json"
        if reuse and done.is_file() and json.loads(done.read_text()).get("config") == _jsonable(c):
            row = json.loads(done.read_text())
            if progress:
                print(f"seed {seed}: reusing the finished run in {out}")
        else:
            if redo_unfinished and out.exists():
                shutil.rmtree(out)
            if out.exists() and any(out.iterdir()):
                raise FileExistsError(f"{out} already holds a run; pass --reuse to keep finished seeds or choose --out")
            if progress:
                print(f"seed {seed} ({k + 1}/{len(seeds)}): {out}", flush=True)
            t0 = time.perf_counter()
            mod.evolve_main(c, out, resume=False, progress=progress)
            wall = time.perf_counter() - t0
            row = {"seed": int(seed), "wall_s": wall, **mod.bench_result(c, out, wall), "config": _jsonable(c)}
            done.write_text(json.dumps(row, indent=2) + "\n")
        rows.append(row)
    return {"seeds": rows, "summary": summarise(mod.BENCH_METRICS, rows)}


def summarise(metrics: list[tuple[str, str, str]], rows: list[dict]) -> dict:
    """Mean, standard deviation and worst seed of every metric; goals passed per goal."""
    out: dict[str, Any] = {"metrics": {}, "goals": {}}
    spec = [*metrics, ("wall_s", "", "lower")]
    per_seed = [{**r["metrics"], "wall_s": r["wall_s"]} for r in rows]
    out["metrics"] = summarize(per_seed, [k for k, _, _ in spec], better={k: b for k, _, b in spec})
    for g in rows[0]["goals"]:
        passed = [next(x["passed"] for x in r["goals"] if x["goal"] == g["goal"]) for r in rows]
        out["goals"][g["goal"]] = {"passed": int(sum(passed)), "of": len(passed)}
    out["all_goals_met"] = all(v["passed"] == v["of"] for v in out["goals"].values())
    return out


def machine_line() -> str:
    """Where and when a table was made (it goes into the README next to the table)."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    py = platform.python_version()
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs{load}, Python {py}, {date.today()}"


def format_table(mod: ModuleType, result: dict, title: str) -> str:
    """Metrics (rows) x seeds (columns) with mean ± std, worst and the baseline; then the goals."""
    rows, summ = result["seeds"], result["summary"]
    seeds = [f"seed {r['seed']}" for r in rows]
    base_name = rows[0].get("baseline_name") or ""
    has_base = rows[0].get("baseline") is not None
    w = max(len(label) for _, label, _ in mod.BENCH_METRICS) + 2
    w = max(w, max(len(g["goal"]) for g in rows[0]["goals"]) + 2 if rows[0]["goals"] else w)
    head = f"  {'':{w}}" + "".join(f"{s:>10}" for s in seeds) + f"{'mean ± std':>22}{'worst':>10}"
    head += f"{base_name:>10}" if has_base else ""
    lines = [
        title,
        f"  printed on {machine_line()}",
        f"held-out: {rows[0].get('episodes', '?')} episode{'' if rows[0].get('episodes') == 1 else 's'} per seed",
        head,
    ]
    for key, label, _ in [*mod.BENCH_METRICS, ("wall_s", "wall time (s)", "lower")]:
        vals = [r["wall_s"] if key == "wall_s" else r["metrics"][key] for r in rows]
        s = summ["metrics"][key]
        d = _decimals(s["mean"])
        line = f"  {label:{w}}" + "".join(f"{_fmt(v, d):>10}" for v in vals)
        line += f"{_fmt(s['mean'], d) + ' ± ' + _fmt(s['std'], d):>22}{_fmt(s['worst'], d):>10}"
        if has_base:
            b = rows[0]["baseline"].get(key) if key != "wall_s" else None
            line += f"{_fmt(b, d) if b is not None else '':>10}"
        lines.append(line)
    if rows[0]["goals"]:
        lines.append(f"  {'goal':{w}}" + "".join(f"{s:>10}" for s in seeds) + f"{'seeds met':>22}")
        for g in rows[0]["goals"]:
            marks = [next(x["passed"] for x in r["goals"] if x["goal"] == g["goal"]) for r in rows]
            tally = summ["goals"][g["goal"]]
            line = f"  {g['goal']:{w}}" + "".join(f"{'pass' if m else 'FAIL':>10}" for m in marks)
            lines.append(line + f"{tally['passed']:>18}/{tally['of']:<3}")
        lines.append("all goals met on every seed" if summ["all_goals_met"] else "NOT all goals met on every seed")
    return "\n".join(lines)


def _decimals(typical: float) -> int:
    """One number of decimals per row, from the row's mean: 4 for metres, 1 for spikes/s, 0 for seconds."""
    a = abs(typical) if math.isfinite(typical) else 0.0
    return 0 if a >= 100 else 1 if a >= 10 else 3 if a >= 1 else 4


def _fmt(v: float | None, decimals: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{decimals}f}"


def _jsonable(cfg: dict) -> Any:
    return json.loads(json.dumps(cfg, default=str))
