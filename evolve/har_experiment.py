"""The HAR experiment: an L2MU (spiking Legendre Memory Unit) classifying raw IMU windows.

`snnctl train configs/har_l2mu.toml` builds the network from [model], trains its readout in closed
form on the integer network's own spike counts (`evolve.har`), and writes to the run folder:
`best.snn` (the integer network, what a board runs), `report.json`, `confusion.png`, and prints the
table (integer accuracy beside the float reference's, macro-F1, spikes and synaptic operations per
window, device memory, early exit). `snnctl run configs/har_l2mu.toml --controller best.snn`
evaluates a trained network on the test split, in numba or (`--port URL`) on a board.

The spiking part is fixed by [model] for `snnctl train`; `snnctl evolve configs/har_l2mu.toml` first
tunes it (the [search] ranges: theta, hidden gains, intercepts, input weight, time constants) with
the closed-form readout's leave-one-out error on the training split as the fitness, then trains and
reports the best as `snnctl train` does. The test split is only ever scored, never used to choose.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from evolve.har import PARAM_KEYS, L2MUProblem, train_l2mu
from evolve.run_options import RunOptions
from evolve.runner import EVOLVE_SECTION
from sim.har_data.dataset import LENGTH_MODES, NAN_MODES
from sim.har_data.prepare import NORMALISE_MODES
from snnctl.config import Key, Limits, Section, signature_keys, spec_keys
from snnctl.controllers.l2mu import L2MUParams, L2MUSpec
from snnctl.text import plural

_MODEL_KEYS = {
    **spec_keys(L2MUSpec),
    **spec_keys(L2MUParams, rename=PARAM_KEYS),
    **signature_keys(
        train_l2mu,
        state_bits=Limits("quantisation: a population's largest state lands near 2^state_bits", ge=8, le=21),
    ),
}

SCHEMA = Section(
    "an L2MU human-activity-recognition experiment",
    experiment=Section("what this file is", family=Key(str, "har", "controller family", choices=("har",))),
    evolve=EVOLVE_SECTION,
    data=Section(
        "the dataset (sim.har_data.load_dataset)",
        path=Key(
            str,
            "",
            "dataset name or path (folder with <name>_TRAIN.ts/_TEST.ts, WISDM folder, .csv); empty = basicmotions",
        ),  # fmt: skip
        rate_hz=Key(float, 0.0, "sample rate (Hz) when the data does not say; 0 = take it from the data", ge=0),
        # how the windows are prepared (sim.har_data.prepare); the trained network keeps them, `run` repeats them
        length=Key(int, 0, "steps per window (--length); 0 = the data's own, which must be one length", ge=0),
        length_mode=Key(
            str,
            "resample",
            "how a window gets `length` steps (--length-mode): resample (linear,"
            " same span), pad (hold the last value; never shortens), crop (keep the first steps;"
            " never lengthens)",
            choices=LENGTH_MODES,
        ),  # fmt: skip
        nan=Key(
            str,
            "refuse",
            "missing values (--nan): refuse (an error naming file and line), interpolate"
            " (linear), hold (last valid value carried forward)",
            choices=NAN_MODES,
        ),  # fmt: skip
        channels=Key(
            list,
            [],
            'channels used, by name or 0-based index as text, e.g. ["0", "2"] (--channels 0,2); empty = all',
            item=str,
        ),  # fmt: skip
        normalise=Key(
            str,
            "none",
            "per channel (--normalise): none (sensor units), series (each window"
            " z-scored), dataset (z-scored with the training split's mean/std, saved with the"
            " network), auto (none or series, whichever the trained readout's leave-one-out accuracy"
            " on the training split prefers; one extra training)",
            choices=NORMALISE_MODES,
        ),  # fmt: skip
    ),
    model=Section(
        "the L2MU (snnctl.controllers.l2mu): memory, hidden layer, time step",
        theta_fraction=Key(
            float, 0.25, "window theta of the longest LMU memory, as a fraction of the data's window", gt=0, le=100
        ),  # fmt: skip
        hidden_per_channel=Key(
            int, 0, "hidden neurons per input channel; 0 = 128 over all channels, >= 16 each", ge=0, le=1024
        ),  # fmt: skip
        steps_per_sample=Key(
            int,
            0,
            "network steps per input sample (each sample held that long); "
            "0 = about 1000 steps per window, >= 1 per sample",
            ge=0,
            le=1000,
        ),  # fmt: skip
        # defaults and limits: L2MUSpec, L2MUParams and train_l2mu's state_bits; the order as configs write it
        **{
            name: _MODEL_KEYS[name]
            for name in (
                "order",
                "memories",
                "theta_ratio",
                "seed",
                "encoder_neurons",
                "memory_neurons",
                "hidden_gain",
                "gain_spread",
                "intercept",
                "input_weight",
                "hidden_tau_syn_s",
                "hidden_tau_mem_s",
                "state_bits",
            )  # fmt: skip
        },
    ),
    train=Section(
        "readout fit (snnctl.controllers.readout_fit): ridge regression on the integer network's spike counts",
        alphas=Key(
            list,
            [],
            "ridge penalties (relative: x N x mean count variance) chosen from by leave-one-out; "
            "empty = 1e-5..1e2 (29 values)",
            item=float,
        ),  # fmt: skip
        **signature_keys(
            train_l2mu,
            calibration_windows=Limits(
                "training windows (spread over the classes) the quantiser calibrates on (at most 8000 steps)",
                ge=1,
                le=100000,
            ),
            max_accuracy_drop=Limits(
                "refuse to save when the integer network's training accuracy is this far below"
                " the readout's leave-one-out accuracy",
                ge=0,
                le=1,
            ),
            max_score_jitter=Limits(
                "readout penalty raised until the float reference's counts move the training"
                " scores (targets +-1) by at most this rms",
                gt=0,
                le=10,
            ),
            exit_agreement=Limits(
                "early exit: the fitted margin's decisions agree with the full window's on this"
                " share of the training windows",
                gt=0,
                le=1,
            ),  # fmt: skip
        ),
        float_reference=Key(
            bool, True, "also score the float reference (the same network in floats) on the test split"
        ),
        validation_fraction=Key(
            float,
            0.0,
            "share of each class's training windows held apart to report (and check)"
            " the integer network's validation accuracy; 0 = none (the readout's leave-one-out"
            " accuracy stands in)",
            ge=0,
            lt=0.9,
        ),  # fmt: skip
    ),
    search=Section(
        "snnctl evolve: the spiking part's ranges (real units; [] = keep [model]'s value); fitness = the readout's "
        "leave-one-out squared error on the training split",
        theta_fraction=Key(list, [0.1, 1.0], "longest LMU window, fraction of the data's window", item=float),
        theta_ratio=Key(list, [], "ratio of one memory's window to the next", item=float),
        hidden_gain=Key(list, [0.1, 1.0], "hidden rate (spikes/step) at the 99th-percentile drive", item=float),
        gain_spread=Key(list, [], "hidden gain spread", item=float),
        intercept=Key(list, [0.1, 0.45], "hidden intercept quantiles 0.5 +- this", item=float),
        input_weight=Key(list, [0.2, 5.0], "raw-current axis weight against the memory axes", item=float),
        hidden_tau_syn_s=Key(list, [0.02, 0.5], "hidden synaptic time constant (s)", item=float),
        hidden_tau_mem_s=Key(list, [], "hidden membrane time constant (s)", item=float),
        calibration_windows=spec_keys(L2MUProblem)["calibration_windows"],
        validation_fraction=Key(
            float,
            0.25,
            "share of each class's training windows held apart from the fitness to choose the export "
            "(validated selection); 0 = none",
            ge=0,
            lt=0.9,
        ),  # fmt: skip
    ),
    run=Section(
        "evaluation (snnctl run, and the table at the end of snnctl train)",
        early_exit_margins=Key(
            list, [0.25, 0.5, 1.0, 2.0], "early-exit margins (score units) for the table", item=float
        ),  # fmt: skip
        device_measure_windows=Key(
            int, 2, "windows stepped one by one on a board to count instructions", ge=1, le=100000
        ),  # fmt: skip
    ),
)

TRAIN_SEED_KEY = "model.seed"  # what `snnctl train --seed` sets (snnctl.cli.experiments)
RUN_OPTIONS: frozenset[str] = frozenset({"data", "port", "length", "length_mode", "nan", "channels", "normalise",
                                         "rate_hz"})  # fmt: skip
SEED_TABLE = "python -m evolve.har_experiment CONFIG --seeds ..."  # no `bench evolve` table: `main` below


def load_data(cfg: dict, trained: dict | None = None) -> Any:
    """The dataset the config names (`sim.har_data.load_dataset`), prepared as its [data] options say
    (`sim.har_data.prepare`); errors become SnnctlError. ``trained``: a network's `data_meta`, whose
    normalisation (and its statistics) the run repeats, refusing a config that asks for another."""
    from sim.har_data import HARDataError, load_dataset
    from sim.har_data.prepare import DataOptions, prepare
    from snnctl.errors import SnnctlError

    try:
        opts = DataOptions.from_config(cfg["data"])
        saved = (trained or {}).get("data")
        if saved is not None and opts.normalise == "auto":  # what training chose is what the run repeats
            opts = replace(opts, normalise=saved["normalise"])
        if saved is not None and saved["normalise"] != opts.normalise:
            raise SnnctlError(f"the network was trained with [data] normalise = \"{saved['normalise']}\", the"
                              f" config says \"{opts.normalise}\"; a run normalises as its training did:"
                              f" --normalise {saved['normalise']}")  # fmt: skip
        ds = load_dataset(cfg["data"]["path"] or None, **opts.loader_options())
        ds, _ = prepare(ds, opts, None if saved is None else saved["stats"])
    except HARDataError as e:
        raise SnnctlError(str(e)) from None
    return ds


def data_meta(ds: Any, rate: float) -> dict:
    """What a trained network keeps of its data (the .snn metadata): classes, channels, rate, window
    length, and how the windows were prepared (`prepare`'s record: options and normalisation stats)."""
    return {"classes": list(ds.classes), "channels": list(ds.channels), "rate_hz": rate, "dataset": ds.name,
            "window_samples": int(ds.X_train.shape[2]), "data": ds.prep}  # fmt: skip


def check_run_data(ds: Any, rate: float, meta: dict, controller: str, cfg: dict) -> None:
    """`snnctl run` refuses data the network was not trained for: other channels, another sample rate, or
    windows of another length (unless resampled to it: --length N)."""
    from snnctl.errors import SnnctlError

    chans = meta.get("channels")
    if chans is not None and list(ds.channels) != list(chans):
        raise SnnctlError(f"{ds.name}: channels {', '.join(ds.channels)}, but {controller} was trained on"
                          f" {', '.join(chans)}: select them with --channels {','.join(chans)}")  # fmt: skip
    trained_rate = meta.get("rate_hz")
    if trained_rate is not None and abs(float(trained_rate) - rate) > 1e-9 * rate:
        raise SnnctlError(f"{ds.name}: sampled at {rate:g} Hz, but {controller} was trained at {trained_rate:g} Hz;"
                          f" its time constants are in steps of that rate (--rate-hz {trained_rate:g} if the data"
                          " does not say its rate)")  # fmt: skip
    steps = meta.get("window_samples")
    if steps is not None and ds.n_steps != steps:
        how = "" if cfg["data"]["length_mode"] == "resample" else " --length-mode resample"
        raise SnnctlError(f"{ds.name}: windows of {ds.n_steps} steps, but {controller} was trained on"
                          f" {steps}-step windows; resample them with --length {steps}{how}"
                          f" (or [data] length = {steps})")  # fmt: skip


def rate_of(ds: Any, cfg: dict) -> float:
    from snnctl.errors import SnnctlError

    rate = ds.rate_hz or cfg["data"]["rate_hz"]
    if not rate:
        raise SnnctlError(f"{ds.name}: the data does not give its sample rate; set [data] rate_hz in the config")
    return float(rate)


def train_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """`snnctl train` on a HAR config: train, evaluate, write best.snn / report.json / confusion.png.

    Returns the report (what report.json holds). Besides its sections, flat keys a benchmark reads:
    `train_accuracy_int`, `val_accuracy_int` (only with [train] validation_fraction > 0),
    `test_accuracy_int`, `test_accuracy_float` (None without [train] float_reference), `neurons`,
    `arena_bytes`, `synops_per_window`, `train_s` (data loaded to best.snn saved, seconds) and
    `peak_rss_mb` (the process's peak resident memory so far). A network that would fail silently is
    not saved (`evolve.har.check_deployable`): SnnctlError, one line.
    """
    from evolve.har import spec_params

    t0 = time.perf_counter()
    cfg = resolve_auto_normalisation(cfg, progress)
    ds = load_data(cfg)
    rate = rate_of(ds, cfg)
    spec, params = spec_params(len(ds.channels), len(ds.classes), rate, cfg["model"], ds.X_train.shape[2])
    if progress:
        print(_data_line(ds, rate))
    return train_and_report(cfg, ds, rate, spec, params, Path(out_dir), t0, progress)


AUTO_CANDIDATES = ("none", "series")


def resolve_auto_normalisation(cfg: dict, progress: bool = False) -> dict:
    """[data] normalise = "auto": the config with "none" or "series", whichever network (trained as
    configured) has the higher readout leave-one-out accuracy on the training split; "none" on a tie
    (a sensor's level and scale are kept unless shape alone does better). A candidate that cannot be
    trained counts as 0. Costs one extra training; other modes pass through."""
    from evolve.har import HARTrainError, spec_params

    if cfg["data"]["normalise"] != "auto":
        return cfg
    loo = {}
    for mode in AUTO_CANDIDATES:
        trial = {**cfg, "data": {**cfg["data"], "normalise": mode}}
        ds = load_data(trial)
        spec, params = spec_params(len(ds.channels), len(ds.classes), rate_of(ds, trial), cfg["model"],
                                   ds.X_train.shape[2])  # fmt: skip
        try:
            tr = train_l2mu(spec, params, ds.X_train, ds.y_train, cfg["train"]["alphas"] or None,
                            cfg["train"]["calibration_windows"], cfg["model"]["state_bits"])  # fmt: skip
            loo[mode] = float(tr.ridge.loo_accuracy)
        except HARTrainError:
            loo[mode] = 0.0
    chosen = max(AUTO_CANDIDATES, key=lambda m: (loo[m], m == "none"))
    if progress:
        said = ", ".join(f"{m} {100 * a:.1f} %" for m, a in loo.items())
        print(f'normalise = "auto": {chosen} (readout leave-one-out on the training split: {said})')
    return {**cfg, "data": {**cfg["data"], "normalise": chosen}}


def evolve_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """`snnctl evolve` on a HAR config: tune the spiking part by evolution ([search] ranges, [evolve]
    settings), the fitness being the closed-form readout's leave-one-out error on the training split;
    then train the best parameters as `snnctl train` does and write the same run folder and table."""
    from evolve.har import HARTrainError, L2MUProblem, spec_params, validation_split
    from evolve.runner import EvolveSettings, Interrupted, evolve
    from snnctl.errors import SnnctlError
    from snnctl.progress import progress_bar

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    cfg = resolve_auto_normalisation(cfg, progress)
    ds = load_data(cfg)
    rate = rate_of(ds, cfg)
    spec, params = spec_params(len(ds.channels), len(ds.classes), rate, cfg["model"], ds.X_train.shape[2])
    search = cfg["search"]
    ranges = {k: v for k, v in search.items() if k not in ("calibration_windows", "validation_fraction") and v}
    for k, v in ranges.items():
        if len(v) != 2:
            raise SnnctlError(f"[search] {k} = {v}: give [low, high] or [] to keep [model]'s value")
    try:
        fit, val = validation_split(ds.y_train, search["validation_fraction"])
        problem = L2MUProblem(spec, params, ranges, ds.X_train[fit], ds.y_train[fit], cfg["train"]["alphas"] or None,
                              search["calibration_windows"], cfg["model"]["state_bits"], x_val=ds.X_train[val],
                              y_val=ds.y_train[val])  # fmt: skip
    except HARTrainError as e:
        raise SnnctlError(str(e)) from None
    # every held-apart window is one validation episode (none: the export is not validated, and says so)
    settings = EvolveSettings.from_dict(
        {**cfg["evolve"], "validation_episodes": len(val) if cfg["evolve"]["validation_episodes"] > 0 else 0}
    )
    if progress:
        print(_data_line(ds, rate))
        print(f"evolving {', '.join(g for g, _, _ in problem.genes)} on {plural(len(fit), 'training window')}"
              f" (leave-one-out); {len(val)} held apart to choose the export")  # fmt: skip
    try:
        result = evolve(problem, settings, out_dir, resume=resume, progress=progress, config=cfg)
    except Interrupted as e:
        raise _train_interrupted(e, problem, cfg, ds, rate, spec, out_dir, t0) from None
    best = problem.params(result.best_genome)
    with progress_bar(progress, 2, "leave-one-out of the start and the choice", "network") as bar:  # ~5 s each
        start_fit = problem.evaluate(problem.initial_genome[None, :], np.zeros(1, np.uint64), 0)[0, 0]
        bar.update(1)
        chosen_loo = problem.evaluate(result.best_genome[None, :], np.zeros(1, np.uint64), 0)[0, 0]
        bar.update(1)
    evolved = {"params": {f: getattr(best, f) for _, f, _ in problem.genes},
               "loo_squared_error": float(chosen_loo), "start_loo_squared_error": float(start_fit),
               "validation_squared_error": None if result.selection is None else float(result.best_fitness[0]),
               "fitness_windows": len(fit), "validation_windows": len(val),
               "evaluations": result.evaluations, "evolve_wall_s": result.elapsed}  # fmt: skip
    if progress:
        print("evolved: " + ", ".join(f"{k} = {v:.4g}" for k, v in evolved["params"].items())
              + f"  (LOO squared error {start_fit:.4f} -> {evolved['loo_squared_error']:.4f})")  # fmt: skip
    return train_and_report(cfg, ds, rate, spec, best, out_dir, t0, progress, extra={"evolved": evolved})


def _train_interrupted(e: Any, problem: Any, cfg: dict, ds: Any, rate: float, spec: Any, out_dir: Path,
                       t0: float) -> Any:  # fmt: skip
    """Ctrl-C during evolution: best.snn with its readout trained (closed form) on the best validated
    parameters so far (`best_genome.npy`), or on the initial ones before any generation; a second
    Ctrl-C skips the training. Returns the `Interrupted` to raise, saying what was exported."""
    import sys

    from evolve.runner import Interrupted

    validated = e.exported is not None and (out_dir / "best_genome.npy").is_file()
    genome = np.load(out_dir / "best_genome.npy") if validated else problem.initial_genome
    what = "the best validated parameters so far" if validated else "the initial parameters (no generation yet)"
    print(f"training best.snn's readout on {what} (Ctrl-C again to skip) ...", file=sys.stderr, flush=True)
    try:
        train_and_report(cfg, ds, rate, spec, problem.params(genome), out_dir, t0, progress=False,
                         extra={"interrupted_after_generations": e.done})  # fmt: skip
    except KeyboardInterrupt:
        print("training skipped (second Ctrl-C): best.snn not written", file=sys.stderr)
        return Interrupted(out_dir, e.done, e.target, None)
    return Interrupted(out_dir, e.done, e.target, f"{what}, readout trained")


def _data_line(ds: Any, rate: float) -> str:
    return (f"{ds.name}: {len(ds.X_train)} train / {plural(len(ds.X_test), 'test window')},"
            f" {plural(len(ds.channels), 'channel')} x {plural(ds.X_train.shape[2], 'sample')} at {rate:g} Hz,"
            f" {plural(len(ds.classes), 'class', 'classes')}")  # fmt: skip


def train_and_report(cfg: dict, ds: Any, rate: float, spec: Any, params: Any, out_dir: Path, t0: float,
                     progress: bool, extra: dict | None = None) -> dict:  # fmt: skip
    """Train the readout for (spec, params), score it on the test split, write the run folder."""
    from dataclasses import asdict

    from evolve.har import HARTrainError, check_deployable, evaluate, float_predictions, metrics, train_l2mu
    from firmware_bridge.memory import device_bytes
    from snnctl import snnfile
    from snnctl.controllers.l2mu import memory_error
    from snnctl.errors import SnnctlError

    x_fit, y_fit, x_val, y_val = ds.X_train, ds.y_train, None, None
    if cfg["train"]["validation_fraction"] > 0:
        from evolve.har import validation_split

        fit, val = validation_split(ds.y_train, cfg["train"]["validation_fraction"])
        x_fit, y_fit, x_val, y_val = ds.X_train[fit], ds.y_train[fit], ds.X_train[val], ds.y_train[val]
    try:
        tr = train_l2mu(spec, params, x_fit, y_fit, cfg["train"]["alphas"] or None, cfg["train"]["calibration_windows"],
                        cfg["model"]["state_bits"], progress, cfg["train"]["max_accuracy_drop"],
                        cfg["train"]["exit_agreement"], cfg["train"]["max_score_jitter"])  # fmt: skip
        val_acc = None
        if x_val is not None and len(x_val):
            val_acc = float(np.mean(evaluate(tr.net, spec, x_val).predictions == y_val))
            check_deployable(val_acc, tr.ridge.loo_accuracy, y_val, cfg["train"]["max_accuracy_drop"])
    except (HARTrainError, ValueError) as e:
        raise SnnctlError(str(e)) from None
    net = tr.net
    net.meta.update(data_meta(ds, rate))
    snnfile.save(net, out_dir / "best.snn")
    train_s = time.perf_counter() - t0
    ev = evaluate(net, spec, ds.X_test)
    report: dict = {"dataset": ds.name, "classes": list(ds.classes), "train_wall_s": train_s, **(extra or {})}
    report["l2mu_params"] = asdict(params)
    report["integer"] = {**metrics(ds.y_test, ev.predictions, spec.n_classes),
                         "train_accuracy": tr.train_accuracy_int,
                         "spikes_per_window": ev.spikes_per_window,
                         "synops_per_window": ev.synops_per_window}  # fmt: skip
    if val_acc is not None:
        report["integer"]["validation_accuracy"] = val_acc
    if cfg["train"]["float_reference"]:
        fpred = float_predictions(tr.fnet, spec, ds.X_test, progress)
        report["float_reference"] = metrics(ds.y_test, fpred, spec.n_classes)
        report["float_reference"]["agreement_with_integer"] = float(np.mean(fpred == ev.predictions))
    report["readout"] = {"alpha": tr.ridge.alpha, "loo_accuracy": tr.ridge.loo_accuracy,
                         "loo_squared_error": tr.ridge.loo_mse, **tr.score_check}  # fmt: skip
    report["memory_error"] = memory_error(net, tr.fnet, ds.X_test[per_class(ds.y_test, 2)])
    report["early_exit"] = _early(cfg, ev, ds.y_test, spec, net)
    report["early_exit_fitted"] = _fitted_exit(ev, ds.y_test, net)
    report["device_bytes"] = device_bytes(net)
    report["network"] = {"neurons": net.n_neurons, "synapses": net.n_synapses, "populations": len(net.populations),
                         "projections": len(net.projections),
                         "steps_per_window": int(spec.held(ds.X_test[:1]).shape[1])}  # fmt: skip
    report["total_wall_s"] = time.perf_counter() - t0
    # the flat keys a benchmark reads (train_main's docstring lists them)
    report.update(train_accuracy_int=tr.train_accuracy_int, test_accuracy_int=report["integer"]["accuracy"],
                  test_accuracy_float=report.get("float_reference", {}).get("accuracy"), neurons=net.n_neurons,
                  arena_bytes=report["device_bytes"]["arena_bytes"], synops_per_window=ev.synops_per_window,
                  train_s=train_s, peak_rss_mb=peak_rss_mb())  # fmt: skip
    if val_acc is not None:
        report["val_accuracy_int"] = val_acc
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_confusion(out_dir / "confusion.png", np.array(report["integer"]["confusion"]), ds.classes,
                   f"{ds.name} test, integer L2MU: accuracy {report['integer']['accuracy']:.1%}")  # fmt: skip
    if progress:
        print(format_report(report))
    return report


def per_class(y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the first k windows of every class: a small sample that covers all activities."""
    y = np.asarray(y)
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)]))


def _early(cfg: dict, ev: Any, y: np.ndarray, spec: Any, net: Any) -> list[dict]:
    """The early-exit table over the config's margins and the margin fitted in training (if any)."""
    from evolve.har import early_exit

    margins = list(cfg["run"]["early_exit_margins"])
    fitted = (net.meta.get("early_exit") or {}).get("margin")
    if fitted is not None and fitted not in margins:
        margins = sorted([*margins, float(fitted)])
    return early_exit(ev.scores, y, margins, spec.steps_per_sample)


def _fitted_exit(ev: Any, y: np.ndarray, net: Any) -> dict | None:
    """Accuracy at fixed fractions of the window and of the rule fitted in training (`evolve.har_exit`)."""
    from evolve.har_exit import exit_table

    ee = net.meta.get("early_exit")
    if not ee:
        return None
    at = np.asarray(ee["check_steps"], dtype=np.int64)
    margin = math.inf if ee["margin"] is None else float(ee["margin"])
    return exit_table(ev.scores[:, at, :], y, at, ev.scores.shape[1], margin)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; ru_maxrss is KB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_main(cfg: dict, opts: RunOptions) -> int:
    """`snnctl run` on a HAR config: a trained .snn on the test split (numba, and a board with --port)."""
    from evolve.har import evaluate, metrics, run_on_device
    from firmware_bridge.memory import device_bytes
    from snnctl.controllers.l2mu import L2MUSpec
    from snnctl.controllers.snn import describe_io
    from snnctl.errors import SnnctlError, load_network

    if not Path(opts.controller).is_file():
        raise SnnctlError(f"{opts.controller}: no such file (give the best.snn that snnctl train wrote)")
    net, _ = load_network(opts.controller)
    if net.meta.get("family") != "har" or "l2mu_spec" not in net.meta:
        raise SnnctlError(f"{opts.controller} ({describe_io(net)}) is not an L2MU HAR network, one input per"
                          f" channel and one output per class (train one with snnctl train {opts.config})")  # fmt: skip
    spec = L2MUSpec(**net.meta["l2mu_spec"])
    ds = load_data(cfg, net.meta)
    check_run_data(ds, rate_of(ds, cfg), net.meta, opts.controller, cfg)
    if len(ds.channels) != spec.n_channels or len(ds.classes) != spec.n_classes:
        raise SnnctlError(f"{ds.name}: {len(ds.channels)} channels / {len(ds.classes)} classes, but the network was "
                        f"trained for {spec.n_channels} / {spec.n_classes}")  # fmt: skip
    ev = evaluate(net, spec, ds.X_test)
    res: dict = {"dataset": ds.name, "windows": len(ds.X_test), **metrics(ds.y_test, ev.predictions, spec.n_classes),
                 "spikes_per_window": ev.spikes_per_window, "synops_per_window": ev.synops_per_window,
                 "device_bytes": device_bytes(net), "early_exit": _early(cfg, ev, ds.y_test, spec, net),
                 "early_exit_fitted": _fitted_exit(ev, ds.y_test, net)}  # fmt: skip
    if opts.port:
        from firmware_bridge.device import DeviceError

        try:
            dev = run_on_device(opts.port, net, spec, ds.X_test, cfg["run"]["device_measure_windows"],
                                progress=not opts.json)  # fmt: skip
        except DeviceError as e:
            raise SnnctlError(f"{opts.port}: {e}") from None
        same = bool(np.array_equal(dev["predictions"], ev.predictions))
        codes_same = bool(np.array_equal(dev["final_codes"], ev.codes[:, -1, :]))
        res["device"] = {k: v for k, v in dev.items() if k not in ("final_codes", "predictions")}
        res["device"].update(accuracy=float(np.mean(dev["predictions"] == ds.y_test)),
                             predictions_equal_numba=same, output_codes_equal_numba=codes_same)  # fmt: skip
    if opts.plot:
        plot_confusion(Path(opts.plot), np.array(res["confusion"]), ds.classes,
                       f"{ds.name} test: accuracy {res['accuracy']:.1%}")  # fmt: skip
        res["plot"] = str(opts.plot)
    if opts.json:
        print(json.dumps(res, indent=2))
    else:
        print(format_run(res, ds.classes) + (f"\nplot: {opts.plot}" if opts.plot else ""))
    return 0 if "device" not in res or res["device"]["predictions_equal_numba"] else 1


# -- tables and plots ---------------------------------------------------------------------------------


def _confusion_lines(conf: list, classes: Any) -> list[str]:
    w = max(8, *(len(c) for c in classes))
    lines = [
        "  confusion (rows: true, columns: predicted)",
        "  " + " " * w + "".join(f"{c[:w]:>{w + 1}}" for c in classes),
    ]
    for c, row in zip(classes, conf, strict=True):
        lines.append(f"  {c:<{w}}" + "".join(f"{n:>{w + 1}}" for n in row))
    return lines


def _early_lines(rows: list[dict]) -> list[str]:
    lines = ["  early exit: stop once top - second score >= margin (checked every sample)",
             "    margin   accuracy   mean steps   of window"]  # fmt: skip
    for r in rows:
        lines.append(
            f"    {r['margin']:<8g} {r['accuracy']:>8.1%}   {r['mean_steps']:>10.1f}   {r['fraction_of_window']:>8.1%}"
        )
    return lines


def _fitted_lines(fx: dict | None) -> list[str]:
    if not fx:
        return []
    cells = "   ".join(f"{row['fraction']:.0%}: {row['accuracy']:.1%}" for row in fx["at_fraction"])
    rule = (f"margin {fx['margin']:.3g} (fitted on the training split): accuracy {fx['rule_accuracy']:.1%} using"
            f" {fx['rule_fraction_of_window']:.0%} of the window on average" if fx["margin"] is not None
            else "no margin decides before the window's end on the training split")  # fmt: skip
    return ["  accuracy at a fraction of the window: " + cells, "  early exit " + rule]


def format_report(r: dict) -> str:
    i, dev, net, mem = r["integer"], r["device_bytes"], r["network"], r["memory_error"]
    f = r.get("float_reference")
    lines = [f"{r['dataset']} test split, {plural(sum(map(sum, i['confusion'])), 'window')}",
             f"  {'':34}{'integer':>12}{'float ref':>12}",
             f"  {'accuracy':34}{i['accuracy']:>12.1%}{format(f['accuracy'], '.1%') if f else '-':>12}",
             f"  {'macro-F1':34}{i['macro_f1']:>12.3f}{format(f['macro_f1'], '.3f') if f else '-':>12}",
             f"  {'train accuracy':34}{i['train_accuracy']:>12.1%}",
             *([f"  {'validation accuracy':34}{i['validation_accuracy']:>12.1%}"] if "validation_accuracy" in i
               else []),
             f"  {'readout: LOO accuracy (alpha)':34}{r['readout']['loo_accuracy']:>12.1%}"
             f"   ({r['readout']['alpha']:.3g})",
             f"  {'spikes per window':34}{i['spikes_per_window']:>12.0f}",
             f"  {'synaptic operations per window':34}{i['synops_per_window']:>12.0f}",
             f"  {'network':34}{net['neurons']:>5} neurons, {net['synapses']} synapses (readout included),"
             f" {net['steps_per_window']} steps/window",
             f"  {'device memory (arena / blob)':34}{dev['arena_bytes']:>7} B / {dev['blob_bytes']} B",
             f"  {'memory vs float LMU (rms / signal)':34}{mem['rms']:>12.4f}"
             f" / {mem['rms_signal']:.4f} = {mem['rms'] / mem['rms_signal']:.2f}",
             f"  {'wall time: train / total':34}{r['train_wall_s']:>10.1f} s / {r['total_wall_s']:.1f} s"]  # fmt: skip
    return "\n".join(
        lines
        + _confusion_lines(i["confusion"], r["classes"])
        + _early_lines(r["early_exit"])
        + _fitted_lines(r.get("early_exit_fitted"))
    )


def format_run(r: dict, classes: Any) -> str:
    dev = r["device_bytes"]
    lines = [f"{r['dataset']} test split, {plural(r['windows'], 'window')} (integer network, numba)",
             f"  accuracy                        {r['accuracy']:.1%}",
             f"  macro-F1                        {r['macro_f1']:.3f}",
             f"  spikes per window               {r['spikes_per_window']:.0f}",
             f"  synaptic operations per window  {r['synops_per_window']:.0f}",
             f"  device memory (arena / blob)    {dev['arena_bytes']} B / {dev['blob_bytes']} B"]  # fmt: skip
    if "device" in r:
        d = r["device"]
        lines += [f"  on {d['board']} ({d['url']}):",
                  f"    accuracy                      {d['accuracy']:.1%}",
                  f"    predictions equal numba       {'yes' if d['predictions_equal_numba'] else 'NO'}"
                  f" (output codes {'equal' if d['output_codes_equal_numba'] else 'DIFFER'})",
                  f"    round trip per window         {d['round_trip_s_per_window'] * 1e3:.1f} ms"]  # fmt: skip
        if "instructions_per_window" in d:
            lines.append(f"    instructions per window       {d['instructions_per_window']:,}"
                         f" ({d['instructions_per_step']:,} per step)")  # fmt: skip
        if "device_s_per_window" in d:
            lines.append(f"    device time per window        {d['device_s_per_window'] * 1e3:.2f} ms (device clock)")
    return "\n".join(
        lines
        + _confusion_lines(r["confusion"], classes)
        + _early_lines(r["early_exit"])
        + _fitted_lines(r.get("early_exit_fitted"))
    )


def plot_confusion(path: Path, conf: np.ndarray, classes: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 * k + 2.5, 1.0 * k + 2))
    ax.imshow(conf, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(conf[i, j]), ha="center", va="center",
                    color="white" if conf[i, j] > conf.max() / 2 else "black")  # fmt: skip
    ax.set_xticks(range(k), classes, rotation=30, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the seed table: how much the result depends on the hidden layer's random draw -------------------


def seed_table(cfg: dict, seeds: list[int], progress: bool = True) -> list[dict]:
    """Train and score the config once per model seed (test split only scored, never used to choose).

    Each row: seed, integer and float-reference test accuracy, their gap in points, the readout's
    LOO accuracy and alpha (all chosen on the training split), and the wall time of the training.
    """
    from evolve.har import evaluate, float_predictions, spec_params, train_l2mu

    ds = load_data(cfg)
    rate = rate_of(ds, cfg)
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        spec, params = spec_params(len(ds.channels), len(ds.classes), rate, {**cfg["model"], "seed": int(seed)},
                                   ds.X_train.shape[2])  # fmt: skip
        tr = train_l2mu(spec, params, ds.X_train, ds.y_train, cfg["train"]["alphas"] or None,
                        cfg["train"]["calibration_windows"], cfg["model"]["state_bits"])  # fmt: skip
        train_s = time.perf_counter() - t0
        acc_i = float(np.mean(evaluate(tr.net, spec, ds.X_test).predictions == ds.y_test))
        acc_f = float(np.mean(float_predictions(tr.fnet, spec, ds.X_test) == ds.y_test))
        rows.append({"seed": int(seed), "integer": acc_i, "float": acc_f, "gap_points": 100 * abs(acc_i - acc_f),
                     "loo_accuracy": tr.ridge.loo_accuracy, "alpha": tr.ridge.alpha, "train_s": train_s})  # fmt: skip
        if progress:
            print(format_seed_row(rows[-1]), flush=True)
    return rows


def format_seed_row(r: dict) -> str:
    return (f"  {r['seed']:>4}  {r['integer']:>8.1%}  {r['float']:>8.1%}  {r['gap_points']:>5.1f}  "
            f"{r['loo_accuracy']:>8.1%}  {r['alpha']:>8.3g}  {r['train_s']:>7.1f}")  # fmt: skip


SEED_HEADER = "  seed   integer     float    gap  LOO(train)    alpha  train s"


def main(argv: list[str] | None = None) -> int:
    """`python -m evolve.har_experiment CONFIG --seeds 0 1 2 3 4`: the seed table of a HAR config."""
    import argparse

    from snnctl.config import load_config

    ap = argparse.ArgumentParser(prog="python -m evolve.har_experiment", description=main.__doc__)
    ap.add_argument("config")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--data", help="dataset folder or file (overrides [data] path)")
    ap.add_argument("--json", metavar="OUT.json", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, SCHEMA, overrides={"data.path": args.data} if args.data else {})
    print(SEED_HEADER)
    rows = seed_table(cfg, args.seeds)
    i = np.array([r["integer"] for r in rows])
    f = np.array([r["float"] for r in rows])
    print(f"  mean  {i.mean():>8.1%}  {f.mean():>8.1%}   (min {i.min():.1%} / {f.min():.1%}; "
          f"max gap {max(r['gap_points'] for r in rows):.1f} points)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
