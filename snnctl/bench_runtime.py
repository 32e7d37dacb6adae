"""``snnctl bench runtime``: how fast the integer runtime steps the blimp-shaped network.

Measured on the blimp-shaped 160-neuron network (``snnctl.models.blimp_shaped_network``):

- ``us_per_step_single``: one network stepped from Python, one call per step
  (``snnctl.runtime.Stepper``) — the control-loop case a robot runs;
- ``us_per_step_in_kernel``: the same network inside one T-step call (``snnctl.runtime.run``);
- ``batch64_net_steps_per_s``: 64 networks (different seeds) in one call
  (``snnctl.runtime.run_batch``) — the evolution case, counted in network-steps per second;
- the same network in snnTorch and Norse, stepped from Python with batch 1
  (``snnctl.bench_peers``; plain and with the two sub-networks fused into one set of layers),
  when they are installed, and the speed-up of the single-network stepper over each.

Every figure is the median of a few timed runs after a warm-up that also triggers numba's
compilation. Nothing here asserts a timing; the numbers are for the table in the README.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from snnctl.text import plural

BATCH = 64
REPEATS = 5
WARMUP_STEPS = 200


def run_runtime_bench(steps: int = 2000, json_out: bool = False) -> dict[str, Any]:
    """Run the benchmark, print a table (or JSON with ``json_out``) and return the results."""
    from tqdm import tqdm

    result: dict[str, Any] = {
        "benchmark": "runtime",
        "network": "blimp-shaped: 2 x (1 input -> 40 CUBA-LIF +/- encoders -> 40 hidden (LIF | ALIF) -> 1 LI)",
        "steps": steps,
        "repeats": REPEATS,
        "machine": machine_info(),
        "us_per_step_single": None,
        "us_per_step_in_kernel": None,
        "batch64_net_steps_per_s": None,
    }
    with tqdm(total=4, desc="bench runtime", unit="stage", file=sys.stderr, disable=None, leave=False) as bar:
        result.update(_measure_snnctl(steps, bar))
        bar.set_postfix_str("snnTorch / Norse")
        from snnctl.bench_peers import measure_peers

        peers = measure_peers(steps)
        bar.update(1)
    result["machine"]["torch_threads"] = peers.pop("torch_threads")
    result["machine"]["torch"] = peers["peer_status"]["torch"]
    result.update(peers)
    single = result["us_per_step_single"]
    for name in ("snntorch", "norse", "snntorch_fused", "norse_fused"):
        peer_us = result.get(f"{name}_us_per_step")
        if peer_us is not None and single:
            result[f"speedup_vs_{name}"] = peer_us / single

    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return result


def _measure_snnctl(steps: int, bar: Any) -> dict[str, Any]:
    """The three integer-runtime figures; where the runtime is missing, None and the reason."""
    out: dict[str, Any] = {}
    try:
        from snnctl import runtime
        from snnctl.models import blimp_shaped_network
    except ImportError as exc:
        bar.update(3)
        return {"snnctl_status": f"unavailable: {type(exc).__name__}: {exc}"}

    bar.set_postfix_str("snnctl: one network, stepped")
    net = blimp_shaped_network(seed=0)
    kinds: dict[str, int] = {}
    for pop in net.populations:
        kinds[pop.kind.name] = kinds.get(pop.kind.name, 0) + pop.n
    out["snnctl_network"] = (
        f"{net.n_neurons} neurons ({', '.join(f'{k} {n}' for k, n in kinds.items())}), {net.n_synapses} synapses,"
        f" {plural(net.n_inputs, 'input')}, {plural(net.n_outputs, 'output')}"
    )
    codes = _input_codes(net, WARMUP_STEPS + steps)
    stepper = runtime.Stepper(net)
    step = stepper.step
    rows = list(codes)  # one (n_inputs,) int16 row per step, made before timing

    def stepped() -> None:
        for i in range(WARMUP_STEPS, WARMUP_STEPS + steps):
            step(rows[i])

    for i in range(WARMUP_STEPS):  # first call compiles
        step(rows[i])
    out["us_per_step_single"] = _median_seconds(stepped) * 1e6 / steps
    bar.update(1)

    bar.set_postfix_str("snnctl: one T-step call")
    run_codes = np.ascontiguousarray(codes[WARMUP_STEPS:])
    runtime.run(net, run_codes[:10])  # compile
    out["us_per_step_in_kernel"] = _median_seconds(lambda: runtime.run(net, run_codes)) * 1e6 / steps
    _, counts = runtime.run(net, run_codes, counts=True)
    out["spikes_per_step"], out["synops_per_step"] = (float(x) for x in counts.mean(axis=0))
    bar.update(1)

    bar.set_postfix_str(f"snnctl: batch of {BATCH}")
    nets = [blimp_shaped_network(seed=s) for s in range(BATCH)]
    batch_codes = np.ascontiguousarray(np.broadcast_to(run_codes, (BATCH, *run_codes.shape)))
    runtime.run_batch(nets, batch_codes[:, :10])  # compile
    out["batch64_net_steps_per_s"] = BATCH * steps / _median_seconds(lambda: runtime.run_batch(nets, batch_codes))
    bar.update(1)
    return out


def _input_codes(net: Any, n: int) -> np.ndarray:
    """The peers' error signal (slow sine plus noise) on every input channel, as (n, n_inputs) int16."""
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(n) * 0.01) + 0.1 * rng.standard_normal(n)
    return net.quantize_inputs(np.repeat(x[:, None], net.n_inputs, axis=1))


def _median_seconds(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine_info() -> dict[str, Any]:
    """CPU model, cores and the versions that decide the numbers."""
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
    }


def format_table(r: dict[str, Any]) -> str:
    """The plain-text report: machine, then one row per measured case."""
    m = r["machine"]
    lines = [
        f"snnctl runtime benchmark: {r['network']}",
        f"{r['steps']} steps per run, median of {r['repeats']} runs after warm-up",
        *([f"integer network: {r['snnctl_network']}"] if "snnctl_network" in r else []),
        *(
            [
                f"activity on the bench input: {r['spikes_per_step']:.1f} spikes and"
                f" {r['synops_per_step']:.0f} synops per step"
            ]
            if "spikes_per_step" in r
            else []
        ),
        "",
        f"  cpu      {m['cpu']} ({m['cores']} cores)",
        f"  python   {m['python']}    numba {m['numba']}    numpy {m['numpy']}",
        f"  torch    {m.get('torch', '-')}    threads {m.get('torch_threads', '-')}",
        "",
    ]
    single = r["us_per_step_single"]
    rows: list[list[str]] = []

    def add(case: str, us: float | None, speedup: float | None = None, note: str = "") -> None:
        rows.append(
            [
                case,
                "-" if us is None else f"{us:,.2f}",
                "-" if us is None else f"{1e6 / us:,.0f}",
                "" if speedup is None else f"{speedup:,.1f}x",
                note,
            ]
        )

    status = r.get("snnctl_status", "")
    add("snnctl, one network stepped from Python", single, note=status)
    add("snnctl, inside one T-step run()", r["us_per_step_in_kernel"])
    batch = r["batch64_net_steps_per_s"]
    add(f"snnctl, batch of {BATCH} (run_batch), per net-step", None if batch is None else 1e6 / batch)
    peer_status = r.get("peer_status", {})
    for name, label in (("snntorch", "snnTorch"), ("norse", "Norse")):
        version = peer_status.get(name, "")
        if version.startswith("unavailable"):
            add(f"{label}, stepped from Python", None, note=version)
            continue
        add(f"{label} {version}, stepped from Python", r.get(f"{name}_us_per_step"), r.get(f"speedup_vs_{name}"))
        add(
            f"{label} {version}, fused sub-networks",
            r.get(f"{name}_fused_us_per_step"),
            r.get(f"speedup_vs_{name}_fused"),
        )
    header = ["case", "us/step", "steps/s", "speed-up", ""]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in (1, 2, 3)] + [row[4]]
        lines.append("  " + "  ".join(cells).rstrip())
    lines.append("")
    lines.append("speed-up = peer us/step / snnctl one-network us/step (both: batch 1, one Python call per step)")
    lines.append("fused = the peer's two sub-networks run as one set of 80-neuron layers (block-diagonal weights)")
    return "\n".join(lines)
