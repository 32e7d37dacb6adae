"""The HAR experiment: an L2MU (spiking Legendre Memory Unit) classifying raw IMU windows.

`snnctl train configs/har_l2mu.toml` builds the network from [model], trains its readout in closed
form on the integer network's own spike counts (`evolve.har`), and writes to the run folder:
`best.snn` (the integer network, what a board runs), `report.json`, `confusion.png`, and prints the
table (integer accuracy beside the float reference's, macro-F1, spikes and synaptic operations per
window, device memory, early exit). `snnctl run configs/har_l2mu.toml --controller best.snn`
evaluates a trained network on the test split, in numba or (`--port URL`) on a board.

The spiking part is frozen (fixed by [model]); there is no evolutionary phase.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from snnctl.config import Key, Section

SCHEMA = Section(
    "an L2MU human-activity-recognition experiment",
    experiment=Section("what this file is", family=Key(str, "har", "controller family", choices=("har",))),
    data=Section(
        "the dataset (sim.har_data.load_dataset)",
        path=Key(
            str,
            "",
            "dataset name or path (folder with <name>_TRAIN.ts/_TEST.ts, WISDM folder, .csv); empty = basicmotions",
        ),  # fmt: skip
        rate_hz=Key(float, 0.0, "sample rate (Hz) when the data does not say; 0 = take it from the data", ge=0),
    ),
    model=Section(
        "the L2MU (snnctl.l2mu): memory, hidden layer, time step",
        order=Key(int, 4, "LMU order d (Legendre dimensions per channel)", ge=1, le=32),
        theta_s=Key(float, 1.0, "LMU window theta (s)", gt=0, le=3600),
        hidden_per_channel=Key(int, 32, "hidden neurons per input channel", ge=1, le=1024),
        steps_per_sample=Key(int, 10, "network steps per input sample (each sample held that long)", ge=1, le=1000),
        seed=Key(int, 0, "seed of the hidden neurons' random tuning", ge=0, le=2**32 - 1),
        hidden_gain=Key(float, 2.0, "hidden rate (spikes/step) per unit of drive, median", gt=0, le=1000),
        gain_spread=Key(float, 4.0, "hidden gains log-uniform in [gain/spread, gain*spread]", ge=1, le=1000),
        intercept=Key(float, 0.3, "hidden intercepts uniform in [-intercept, intercept]", gt=0, le=10),
        input_weight=Key(float, 1.0, "weight of the raw-current axis against the memory axes", ge=0, le=100),
        hidden_tau_syn_s=Key(float, 0.1, "hidden synaptic time constant (s)", gt=0, le=3600),
        hidden_tau_mem_s=Key(float, 0.2, "hidden membrane time constant (s)", gt=0, le=3600),
        state_bits=Key(int, 20, "quantisation: a population's largest state lands near 2^state_bits", ge=8, le=21),
    ),
    train=Section(
        "readout fit (snnctl.readout_fit): ridge regression on the integer network's spike counts",
        alphas=Key(
            list, [], "ridge penalties to choose from by leave-one-out; empty = 1e-3..1e4 (29 values)", item=float
        ),  # fmt: skip
        calibration_windows=Key(int, 20, "training windows the quantiser calibrates state ranges on", ge=1, le=100000),
        float_reference=Key(bool, True, "also score the float reference on the test split (slower)"),
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

RUN_OPTIONS: frozenset[str] = frozenset({"data", "port"})


def load_data(cfg: dict) -> Any:
    """The dataset the config names (`sim.har_data.load_dataset`); errors become UserError."""
    from sim.har_data import HARDataError, load_dataset
    from snnctl.cli_common import UserError

    try:
        ds = load_dataset(cfg["data"]["path"] or None)
    except HARDataError as e:
        raise UserError(str(e)) from None
    return ds


def rate_of(ds: Any, cfg: dict) -> float:
    from snnctl.cli_common import UserError

    rate = ds.rate_hz or cfg["data"]["rate_hz"]
    if not rate:
        raise UserError(f"{ds.name}: the data does not give its sample rate; set [data] rate_hz in the config")
    return float(rate)


def train_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """`snnctl train` on a HAR config: train, evaluate, write best.snn / report.json / confusion.png."""
    from evolve.har import HARTrainError, evaluate, float_predictions, metrics, spec_params, train_l2mu
    from firmware_bridge.memory import device_bytes
    from snnctl import snnfile
    from snnctl.cli_common import UserError
    from snnctl.l2mu import memory_error

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    ds = load_data(cfg)
    rate = rate_of(ds, cfg)
    spec, params = spec_params(len(ds.channels), len(ds.classes), rate, cfg["model"])
    if progress:
        print(f"{ds.name}: {len(ds.X_train)} train / {len(ds.X_test)} test windows, {len(ds.channels)} channels x "
              f"{ds.X_train.shape[2]} samples at {rate:g} Hz, {len(ds.classes)} classes")  # fmt: skip
    try:
        tr = train_l2mu(spec, params, ds.X_train, ds.y_train, cfg["train"]["alphas"] or None,
                        cfg["train"]["calibration_windows"], cfg["model"]["state_bits"], progress)  # fmt: skip
    except (HARTrainError, ValueError) as e:
        raise UserError(str(e)) from None
    net = tr.net
    net.meta.update(classes=list(ds.classes), channels=list(ds.channels), rate_hz=rate, dataset=ds.name,
                    window_samples=int(ds.X_train.shape[2]))  # fmt: skip
    snnfile.save(net, out_dir / "best.snn")
    train_s = time.perf_counter() - t0
    ev = evaluate(net, spec, ds.X_test)
    report: dict = {"dataset": ds.name, "classes": list(ds.classes), "train_wall_s": train_s}
    report["integer"] = {**metrics(ds.y_test, ev.predictions, spec.n_classes),
                         "train_accuracy": float(np.mean(evaluate(net, spec, ds.X_train).predictions == ds.y_train)),
                         "spikes_per_window": ev.spikes_per_window,
                         "synops_per_window": ev.synops_per_window}  # fmt: skip
    if cfg["train"]["float_reference"]:
        fpred = float_predictions(tr.fnet, spec, ds.X_test)
        report["float_reference"] = metrics(ds.y_test, fpred, spec.n_classes)
        report["float_reference"]["agreement_with_integer"] = float(np.mean(fpred == ev.predictions))
    report["readout"] = {"alpha": tr.ridge.alpha, "loo_accuracy": tr.ridge.loo_accuracy, **tr.score_check}
    report["memory_error"] = memory_error(net, tr.fnet, ds.X_test[: min(8, len(ds.X_test))])
    report["early_exit"] = _early(cfg, ev, ds.y_test, spec)
    report["device_bytes"] = device_bytes(net)
    report["network"] = {"neurons": net.n_neurons, "synapses": net.n_synapses, "populations": len(net.populations),
                         "projections": len(net.projections),
                         "steps_per_window": int(spec.held(ds.X_test[:1]).shape[1])}  # fmt: skip
    report["total_wall_s"] = time.perf_counter() - t0
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_confusion(out_dir / "confusion.png", np.array(report["integer"]["confusion"]), ds.classes,
                   f"{ds.name} test, integer L2MU: accuracy {report['integer']['accuracy']:.1%}")  # fmt: skip
    if progress:
        print(format_report(report))
    return report


def _early(cfg: dict, ev: Any, y: np.ndarray, spec: Any) -> list[dict]:
    from evolve.har import early_exit

    return early_exit(ev.scores, y, list(cfg["run"]["early_exit_margins"]), spec.steps_per_sample)


def run_main(cfg: dict, args: Any) -> int:
    """`snnctl run` on a HAR config: a trained .snn on the test split (numba, and a board with --port)."""
    from evolve.har import evaluate, metrics, run_on_device
    from firmware_bridge.memory import device_bytes
    from snnctl.cli_common import UserError, load_network
    from snnctl.l2mu import L2MUSpec

    if not Path(args.controller).is_file():
        raise UserError(f"{args.controller}: no such file (give the best.snn that snnctl train wrote)")
    net, _ = load_network(args.controller)
    if net.meta.get("family") != "har" or "l2mu_spec" not in net.meta:
        raise UserError(f"{args.controller}: not an L2MU HAR network (train one with snnctl train {args.config})")
    spec = L2MUSpec(**net.meta["l2mu_spec"])
    ds = load_data(cfg)
    if len(ds.channels) != spec.n_channels or len(ds.classes) != spec.n_classes:
        raise UserError(f"{ds.name}: {len(ds.channels)} channels / {len(ds.classes)} classes, but the network was "
                        f"trained for {spec.n_channels} / {spec.n_classes}")  # fmt: skip
    ev = evaluate(net, spec, ds.X_test)
    res: dict = {"dataset": ds.name, "windows": len(ds.X_test), **metrics(ds.y_test, ev.predictions, spec.n_classes),
                 "spikes_per_window": ev.spikes_per_window, "synops_per_window": ev.synops_per_window,
                 "device_bytes": device_bytes(net), "early_exit": _early(cfg, ev, ds.y_test, spec)}  # fmt: skip
    if args.port:
        from firmware_bridge.device import DeviceError

        try:
            dev = run_on_device(args.port, net, spec, ds.X_test, cfg["run"]["device_measure_windows"],
                                progress=not args.json)  # fmt: skip
        except DeviceError as e:
            raise UserError(f"{args.port}: {e}") from None
        same = bool(np.array_equal(dev["predictions"], ev.predictions))
        codes_same = bool(np.array_equal(dev["final_codes"], ev.codes[:, -1, :]))
        res["device"] = {k: v for k, v in dev.items() if k not in ("final_codes", "predictions")}
        res["device"].update(accuracy=float(np.mean(dev["predictions"] == ds.y_test)),
                             predictions_equal_numba=same, output_codes_equal_numba=codes_same)  # fmt: skip
    if args.plot:
        plot_confusion(Path(args.plot), np.array(res["confusion"]), ds.classes,
                       f"{ds.name} test: accuracy {res['accuracy']:.1%}")  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(format_run(res, ds.classes))
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


def format_report(r: dict) -> str:
    i, dev, net = r["integer"], r["device_bytes"], r["network"]
    f = r.get("float_reference")
    lines = [f"{r['dataset']} test split, {sum(map(sum, i['confusion']))} windows",
             f"  {'':34}{'integer':>12}{'float ref':>12}",
             f"  {'accuracy':34}{i['accuracy']:>12.1%}{(f['accuracy'] if f else float('nan')):>12.1%}",
             f"  {'macro-F1':34}{i['macro_f1']:>12.3f}{(f['macro_f1'] if f else float('nan')):>12.3f}",
             f"  {'train accuracy':34}{i['train_accuracy']:>12.1%}",
             f"  {'readout: LOO accuracy (alpha)':34}{r['readout']['loo_accuracy']:>12.1%}"
             f"   ({r['readout']['alpha']:.3g})",
             f"  {'spikes per window':34}{i['spikes_per_window']:>12.0f}",
             f"  {'synaptic operations per window':34}{i['synops_per_window']:>12.0f}",
             f"  {'network':34}{net['neurons']:>5} neurons, {net['synapses']} synapses,"
             f" {net['steps_per_window']} steps/window",
             f"  {'device memory (arena / blob)':34}{dev['arena_bytes']:>7} B / {dev['blob_bytes']} B",
             f"  {'memory vs float LMU (rms / signal)':34}{r['memory_error']['rms']:>12.4f}"
             f" / {r['memory_error']['rms_signal']:.4f}",
             f"  {'wall time: train / total':34}{r['train_wall_s']:>10.1f} s / {r['total_wall_s']:.1f} s"]  # fmt: skip
    return "\n".join(lines + _confusion_lines(i["confusion"], r["classes"]) + _early_lines(r["early_exit"]))


def format_run(r: dict, classes: Any) -> str:
    dev = r["device_bytes"]
    lines = [f"{r['dataset']} test split, {r['windows']} windows (integer network, numba)",
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
    return "\n".join(lines + _confusion_lines(r["confusion"], classes) + _early_lines(r["early_exit"]))


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
