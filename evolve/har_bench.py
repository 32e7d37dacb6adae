"""`snnctl bench har`: the HAR classifier trained on every UEA/UCR classification dataset that ships
inside sktime, over seeds, against 1-NN Euclidean and MiniRocket on the same splits; one table.

Each dataset is trained exactly as `snnctl train CONFIG --data FOLDER --seed N` would (the config
unchanged but for the data; `evolve.har_experiment.train_main`), each (dataset, seed) in a fresh
process so that its peak memory is its own. Classification is read from each ``.ts`` header
(``@classLabel true``); regression sets (``@targetLabel true``) are listed as skipped. A dataset of
unequal lengths is resampled ([data] length, length_mode resample) to its training split's median
length. The targets (issue 14) are checked per row and a row that misses one says which (`misses`).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evolve.har_baselines import minirocket_accuracy, nearest_neighbour_accuracy

MOTION_SETS = ("BasicMotions", "GunPoint")
"""The motion/sensor sets among those sktime ships, where the network must come within
`MINIROCKET_POINTS` of MiniRocket (the others only have to beat 1-NN)."""
MINIROCKET_POINTS = 5.0
MAX_GAP_POINTS = 2.0  # integer vs float reference, every seed
MAX_TRAIN_S = 60.0  # `snnctl train` wall time, every seed
MAX_PEAK_MB = 1000.0  # peak resident memory of the training process (1 GB = 1000 MB), every seed
ARENA_BOARD = "lm3s6965evb"  # univariate networks must fit this board's arena slot (10 KB)
_EPS = 1e-9  # accuracies equal up to rounding count as equal


@dataclass(frozen=True)
class BenchSet:
    """One dataset to train on: its folder, and the window length to resample to (0: its own)."""

    name: str
    folder: Path
    length: int


def find_datasets(roots: list[Path]) -> tuple[list[BenchSet], list[dict]]:
    """Classification datasets in ``roots`` (folders holding ``NAME/NAME_TRAIN.ts`` and ``_TEST.ts``),
    sorted by name, and the skipped ones with the reason (regression, or no labels)."""
    from sim.har_data import load_ts, read_ts_header

    found, skipped = [], []
    for root in roots:
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            train, test = folder / f"{folder.name}_TRAIN.ts", folder / f"{folder.name}_TEST.ts"
            if not (train.is_file() and test.is_file()):
                continue
            head = read_ts_header(train)
            if head["class_labels"] is None:
                why = "regression (@targetLabel true)" if head["target_label"] else "no class labels"
                skipped.append({"dataset": folder.name, "reason": why})
                continue
            heads = (head, read_ts_header(test))
            if all(h["equal_length"] and h["series_length"] == head["series_length"] for h in heads):
                length = 0  # both headers declare one length (the reader checks the data against it)
            else:
                train_lengths = load_ts(train)[2]["lengths"]
                lengths = set(train_lengths) | set(load_ts(test)[2]["lengths"])
                length = 0 if len(lengths) == 1 else max(2, int(round(float(np.median(train_lengths)))))
            found.append(BenchSet(folder.name, folder, length))
    return found, skipped


def packaged_roots() -> list[Path]:
    """Where sktime (or aeon) keeps the datasets it ships, if either is installed."""
    from sim.har_data import find_packaged_dataset

    folder = find_packaged_dataset("BasicMotions")
    return [] if folder is None else [folder.parent]


def dataset_config(cfg: dict, ds: BenchSet, seed: int) -> dict:
    """The config with only the data (and the model seed) changed: what `snnctl train --data --seed` runs."""
    out = copy.deepcopy(cfg)
    out["data"]["path"] = str(ds.folder)
    if ds.length:
        out["data"].update(length=ds.length, length_mode="resample")
    out["model"]["seed"] = int(seed)
    return out


def baseline_config(cfg: dict) -> dict:
    """The preparation the baselines see: the network's, except that normalise = "auto" (decided per
    seed by training) gives the data as published ("none"), the convention of the UCR baselines."""
    if cfg["data"]["normalise"] != "auto":
        return cfg
    return {**cfg, "data": {**cfg["data"], "normalise": "none"}}


def train_in_child(cfg: dict, out_dir: str) -> dict:
    """One `snnctl train` in this (fresh) process: its report or its refusal, wall time and peak memory."""
    import resource

    from evolve.har_experiment import train_main
    from snnctl.errors import SnnctlError

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        report, error = train_main(cfg, Path(out_dir), progress=False), None
    except SnnctlError as e:
        report, error = None, str(e)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # Linux: KiB
    return {"report": report, "error": error, "wall_s": wall, "peak_rss_mb": peak_mb}


def _get(rep: dict, key: str, *path: str) -> Any:
    """A report figure: the flat key if the report has it, else the nested one, else None."""
    if key in rep or not path:
        return rep.get(key)
    node: Any = rep
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def seed_row(seed: int, out: dict) -> dict:
    """One seed's figures from `train_in_child`'s result (report keys as they are today or as planned)."""
    row: dict = {"seed": seed, "wall_s": out["wall_s"], "peak_rss_mb": out["peak_rss_mb"], "error": out["error"]}
    rep = out["report"]
    if rep is None:
        return row
    row.update(
        int_acc=_get(rep, "test_accuracy_int", "integer", "accuracy"),
        float_acc=_get(rep, "test_accuracy_float", "float_reference", "accuracy"),
        train_int_acc=_get(rep, "train_accuracy_int", "integer", "train_accuracy"),
        val_int_acc=_get(rep, "val_accuracy_int"),
        neurons=_get(rep, "neurons", "network", "neurons"),
        arena_bytes=_get(rep, "arena_bytes", "device_bytes", "arena_bytes"),
        synops_per_window=_get(rep, "synops_per_window", "integer", "synops_per_window"),
        report_train_s=_get(rep, "train_s", "train_wall_s"),
    )
    if row["int_acc"] is not None and row["float_acc"] is not None:
        row["gap_points"] = 100 * abs(row["int_acc"] - row["float_acc"])
    return row


def summarise_dataset(name: str, shape: dict, seeds: list[dict], nn: float, mr: list[float | None]) -> dict:
    """A table row: figures over the seeds that trained (`sim.metrics.summarize`), the baselines, the misses."""
    from sim.metrics import summarize

    ok = [s for s in seeds if s["error"] is None]
    better = {"int_acc": "higher", "float_acc": "higher"}
    keys = [k for k in ("int_acc", "float_acc", "gap_points", "neurons", "arena_bytes", "synops_per_window")
            if ok and all(s.get(k) is not None for s in ok)]  # fmt: skip
    summ = summarize(ok, keys, better)
    summ.update(summarize(seeds, ["wall_s", "peak_rss_mb"]))
    mrs = [m for m in mr if m is not None]
    row = {"dataset": name, **shape, "seeds": seeds, "summary": summ, "nn_acc": nn,
           "minirocket_acc": float(np.mean(mrs)) if mrs else None,
           "refused": [s["seed"] for s in seeds if s["error"] is not None]}  # fmt: skip
    row["misses"] = misses(row)
    return row


def misses(row: dict) -> list[str]:
    """The targets (issue 14) this row does not meet, by short name; [] = all met.

    Accuracy targets use the mean over seeds; integer-vs-float, arena, time and memory every seed
    (the worst). A seed that refused to save, or a figure the reports lack, is a miss too.
    """
    from firmware_bridge.boards import get

    s, out = row["summary"], []
    if row["refused"]:
        out.append("refused")
    acc = s.get("int_acc", {}).get("mean")
    if acc is None:
        return out + ["no int acc"]
    if acc < row["nn_acc"] - _EPS:
        out.append(">=1-NN")
    if row["dataset"] in MOTION_SETS and row["minirocket_acc"] is not None:
        if 100 * (row["minirocket_acc"] - acc) > MINIROCKET_POINTS + _EPS:
            out.append(f"MiniRocket-{MINIROCKET_POINTS:g}")
    gap = s.get("gap_points", {}).get("worst")
    if gap is None or gap > MAX_GAP_POINTS + _EPS:
        out.append(f"int~float {MAX_GAP_POINTS:g}pt")
    arena = s.get("arena_bytes", {}).get("worst")
    if row["channels"] == 1 and (arena is None or arena > get(ARENA_BOARD).arena_bytes):
        out.append(f"arena {get(ARENA_BOARD).arena_bytes // 1024}KB")
    if s["wall_s"]["worst"] > MAX_TRAIN_S:
        out.append(f"{MAX_TRAIN_S:g}s")
    if s["peak_rss_mb"]["worst"] > MAX_PEAK_MB:
        out.append("1GB")
    return out


def run_bench(cfg: dict, sets: list[BenchSet], seeds: list[int], out_dir: Path, progress: bool = True) -> list[dict]:
    """Train every set for every seed (a fresh process each), score the baselines; the table's rows."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from evolve.har_experiment import load_data
    from snnctl.progress import progress_bar

    rows = []
    ctx = multiprocessing.get_context("spawn")  # fork can deadlock numba; a fresh process: its own peak memory
    with progress_bar(progress, len(sets) * (len(seeds) + 1), "bench har", "step") as bar:
        for ds_set in sets:
            bar.set_description(f"bench har: {ds_set.name} baselines")
            ds = load_data(baseline_config(dataset_config(cfg, ds_set, seeds[0])))
            nn = nearest_neighbour_accuracy(ds.X_train, ds.y_train, ds.X_test, ds.y_test)
            try:
                mr = [minirocket_accuracy(ds.X_train, ds.y_train, ds.X_test, ds.y_test, seed) for seed in seeds]
            except ValueError:  # e.g. windows shorter than MiniRocket's 9-step kernels
                mr = [None]
            bar.update(1)
            per_seed = []
            for seed in seeds:
                bar.set_description(f"bench har: {ds_set.name} seed {seed}")
                with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    got = pool.submit(train_in_child, dataset_config(cfg, ds_set, seed),
                                      str(out_dir / ds_set.name / f"seed{seed}")).result()  # fmt: skip
                per_seed.append(seed_row(seed, got))
                bar.update(1)
            shape = {"channels": len(ds.channels), "length": ds.n_steps, "classes": len(ds.classes),
                     "train_windows": len(ds.X_train), "test_windows": len(ds.X_test),
                     "resampled_from_unequal": bool(ds_set.length)}  # fmt: skip
            rows.append(summarise_dataset(ds_set.name, shape, per_seed, nn, mr))
            (out_dir / "rows_so_far.json").write_text(json.dumps(rows, indent=2))  # a stopped bench keeps its rows
    return rows


# -- the table ---------------------------------------------------------------------------------------

_HEAD = ("dataset", "ch", "len", "cls", "integer % mean±std (worst)", "float %", "1-NN %", "MiniRkt %", "neurons",
         "arena B", "synops/win", "train s", "peak MB", "targets")  # fmt: skip


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _cells(row: dict) -> list[str]:
    s = row["summary"]

    def mean(k: str, fmt: str = ",.0f") -> str:
        return format(s[k]["mean"], fmt) if k in s else "—"

    acc = s.get("int_acc")
    int_cell = "—" if acc is None else f"{100 * acc['mean']:.1f}±{100 * acc['std']:.1f} ({100 * acc['worst']:.1f})"
    length = f"{row['length']}*" if row["resampled_from_unequal"] else str(row["length"])
    return [row["dataset"], str(row["channels"]), length, str(row["classes"]), int_cell,
            _pct(s["float_acc"]["mean"]) if "float_acc" in s else "—", _pct(row["nn_acc"]),
            _pct(row["minirocket_acc"]), mean("neurons"), mean("arena_bytes"), mean("synops_per_window"),
            f"{s['wall_s']['worst']:.0f}", f"{s['peak_rss_mb']['worst']:.0f}",
            "ok" if not row["misses"] else "MISS: " + ", ".join(row["misses"])]  # fmt: skip


def format_table(result: dict) -> str:
    """The README table: one line per dataset, then what the columns and marks mean."""
    body = [list(_HEAD)] + [_cells(r) for r in result["rows"]]
    widths = [max(len(line[i]) for line in body) for i in range(len(_HEAD))]
    lines = [result["command"], ""]
    for k, line in enumerate(body):
        lines.append("  ".join(c.ljust(w) if i in (0, len(_HEAD) - 1) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip())  # fmt: skip
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    seeds = result["seeds"]
    lines += ["",
              f"{len(seeds)} seed(s) ({' '.join(map(str, seeds))}): accuracy mean ± std (worst seed) on the test split;"
              " neurons, arena, synops: mean; train s, peak MB: worst seed (a fresh process each).",
              "len* = unequal lengths, resampled to the training split's median. 1-NN: Euclidean, same split and"
              " preparation (normalise = auto: the data as published); MiniRocket: sktime's + RidgeClassifierCV,"
              " mean over the seeds.",
              f"targets: integer >= 1-NN; within {MINIROCKET_POINTS:g} points of MiniRocket on"
              f" {', '.join(MOTION_SETS)}; |integer - float| <= {MAX_GAP_POINTS:g} points every seed; arena <="
              f" the {ARENA_BOARD} slot for univariate; train <= {MAX_TRAIN_S:g} s and <= 1 GB every"
              " seed."]  # fmt: skip
    for r in result["rows"]:
        for s in r["seeds"]:
            if s["error"]:
                lines.append(f"{r['dataset']} seed {s['seed']} refused: {s['error']}")
    if result["skipped"]:
        lines.append("skipped: " + ", ".join(f"{s['dataset']} ({s['reason']})" for s in result["skipped"]))
    lines.append(result["machine"])
    return "\n".join(lines)


def write_result(result: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "bench_har.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
