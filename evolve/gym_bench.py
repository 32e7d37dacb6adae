"""`snnctl bench gym`: every gym config's SNN and its float linear baseline over seeds, in one table.

Each config runs twice per seed through `evolve.multiseed.run_seeds` (the per-seed machinery of
`snnctl bench evolve`): the integer SNN (`evolve.gym_experiment`) and the float linear policy with
the same budget (`evolve.gym_linear`). A result is cached per (config content, seed, controller
kind) in ``OUT/<config name>/<hash>/<snn|linear>/seed<k>/``, where ``<hash>`` is the first 12 hex
digits of the SHA-256 of what the resolved config sets away from the schema's defaults, without its
seed: a rerun reads back every finished seed (its ``bench.json``), so after one config changes only
its rows are recomputed, and a key the schema gains at its default changes none (a code change is
not seen: ``fresh``).
The table marks each env's published "solved" return (`EnvSpec.reward_threshold`), or the config's
`[goals] min_return` where the env publishes none, as met only when every seed's held-out mean
reaches it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from evolve import gym_experiment, gym_linear
from evolve.gym import published_threshold
from evolve.multiseed import run_seeds, summarise
from snnctl.config import config_hash, defaults

KINDS = {"snn": gym_experiment, "linear": gym_linear}
HASH_DIGITS = 12
RESULT_FILE = "bench_gym.json"


def config_key(cfg: dict) -> str:
    """The cache key of a resolved config: the hash of what it sets away from the schema's defaults, without
    `evolve.seed` (each seed sets it). A key the schema gains later, at its default, keeps every key."""
    return config_hash(_non_default(cfg, defaults(gym_experiment.SCHEMA)), exclude=["evolve.seed"])[:HASH_DIGITS]


def _non_default(values: dict, default: dict) -> dict:
    """The entries of `values` that differ from `default` (tables compared entry by entry)."""
    out = {}
    for k, v in values.items():
        d = default.get(k, _MISSING)
        if isinstance(v, dict) and isinstance(d, dict):
            sub = _non_default(v, d)
            if sub:
                out[k] = sub
        elif v != d:
            out[k] = v
    return out


_MISSING = object()


def bench_config(name: str, cfg: dict, seeds: list[int], out_root: Path, fresh: bool = False,
                 bar: Any = None) -> dict[str, Any]:  # fmt: skip
    """One config's row: each kind's per-seed results (run, or read back from the cache) and the threshold.

    `bar`: a progress bar (`snnctl.progress.progress_bar`) told each job before it starts and advanced after."""
    folder = Path(out_root) / name / config_key(cfg)
    if fresh and folder.exists():
        shutil.rmtree(folder)
    row: dict[str, Any] = {"config": name, "env": cfg["env"]["id"], "folder": str(folder)}
    for kind, mod in KINDS.items():
        rows = []
        for seed in seeds:
            if bar is not None:
                bar.set_description(f"{name} {kind} seed {seed}")
            done = folder / kind / f"seed{seed}" / "bench.json"  # the folder is the config's: its own cache
            if done.is_file():
                rows.append(json.loads(done.read_text()))
            else:
                rows += run_seeds(mod, cfg, [seed], folder / kind, progress=False, redo_unfinished=True)["seeds"]
            if bar is not None:
                bar.update(1)
        row[kind] = {"seeds": rows, "summary": summarise(mod.BENCH_METRICS, rows)}
    published = published_threshold(cfg["env"])
    row["threshold"] = published if published is not None else float(cfg["goals"]["min_return"])
    row["threshold_source"] = "gymnasium" if published is not None else "config goal"
    means = [r["metrics"]["return_mean"] for r in row["snn"]["seeds"]]
    row["seeds_met"] = int(sum(m >= row["threshold"] for m in means))
    row["met"] = row["seeds_met"] == len(means)
    return row


def run_bench(configs: list[tuple[str, dict]], seeds: list[int], out_root: Path, fresh: bool = False,
              progress: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Every (name, resolved config) over `seeds`, both kinds; a progress bar over the (config, kind, seed) jobs."""
    from snnctl.progress import progress_bar

    out: list[dict[str, Any]] = []
    total = len(configs) * len(seeds) * len(KINDS)
    with progress_bar(progress, total, "bench gym", "run") as bar:
        for name, cfg in configs:
            out.append(bench_config(name, cfg, seeds, out_root, fresh, bar))
    return out


def write_result(result: dict, out_root: Path) -> Path:
    path = Path(out_root) / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _num(v: float, like: float | None = None) -> str:
    """Two decimals below 10 (Reacher's -3.75), one above; `like`: the number whose decimals to use."""
    return f"{v:.2f}" if abs(v if like is None else like) < 10 else f"{v:.1f}"


def _pm(mean: float, std: float) -> str:
    return f"{_num(mean)} ± {_num(std, mean)}"


def _span(values: list[float]) -> str:
    """One number when every seed has it (neurons of a dense network), else min-max."""
    lo, hi = min(values), max(values)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def format_table(result: dict) -> str:
    """The README table: one line per env (see the legend printed under it)."""
    seeds = result["seeds"]
    head = ["env", *[f"seed {s}" for s in seeds], "mean ± sd (seeds)", "worst seed", "neurons", "synapses",
            "spikes/step", "evolution s", "threshold", "linear (float)"]  # fmt: skip
    body = []
    for r in result["rows"]:
        snn, lin = r["snn"], r["linear"]
        per = [_pm(x["metrics"]["return_mean"], x["metrics"]["return_std"]) for x in snn["seeds"]]
        means = [x["metrics"]["return_mean"] for x in snn["seeds"]]
        col = {k: [x["metrics"][k] for x in snn["seeds"]] for k in ("neurons", "synapses", "spikes_per_step",
                                                                     "evolution_s")}  # fmt: skip
        lin_means = [x["metrics"]["return_mean"] for x in lin["seeds"]]
        mark = "met" if r["met"] else "NOT MET"
        star = "" if r["threshold_source"] == "gymnasium" else "*"
        body.append([r["env"], *per, _pm(float(np.mean(means)), float(np.std(means))), _num(min(means)),
                     _span(col["neurons"]), _span(col["synapses"]), f"{np.mean(col['spikes_per_step']):.2f}",
                     f"{np.mean(col['evolution_s']):.0f}",
                     f"{r['threshold']:g}{star} {mark} {r['seeds_met']}/{len(means)}",
                     _pm(float(np.mean(lin_means)), float(np.std(lin_means)))])  # fmt: skip
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    line = lambda row: "  ".join(  # noqa: E731 - one formatting rule, used twice
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
    )
    n = result["rows"][0]["snn"]["seeds"][0]["episodes"] if result["rows"] else 0
    return "\n".join([
        f"$ {result['command']}",
        f"  printed on {result['machine']}",
        *[line(row) for row in [head, *body]],
        f"held-out return: mean ± sd over {n} episodes (seeds from 1,000,000, never trained or chosen on) for each"
        " seed; across seeds: mean ± sd of the seeds' means, and the worst seed's mean",
        "neurons, synapses, spikes/step, evolution s (wall time on the config's workers): the integer SNN, the"
        " mean over seeds (a range where seeds differ)",
        "threshold: the env's published reward_threshold (gymnasium), met when every seed's mean reaches it;"
        " * none published: the config's [goals] min_return",
        "linear (float): clip(W obs_scaled + b) / argmax evolved with the same budget, mean ± sd of the seeds' means",
    ])  # fmt: skip
