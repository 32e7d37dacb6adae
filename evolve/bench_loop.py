"""`snnctl bench loop`: fixed 10-Hz vs send-on-delta vs action-to-sensing on held-out blimp flights.

For each controller (the SNN, and the PID for reference) and each sensing policy
(`sim.blimp_loop.BLIMP_SENSING` defaults, tuned on training profiles only) the blimp flies the first
``episodes`` held-out profiles (`sim.profiles.HELDOUT_SEEDS`, "steps", 120 s, default env: 10 Hz,
1-cm lidar noise) through `sim.loop.LoopRunner`, no faults. Reported per row, mean over flights:

* RMSE and steady-state error (`sim.blimp_metrics.flight_metrics`), and the RMSE change against fixed 10 Hz;
* sensor samples per second, and the reduction against fixed 10 Hz;
* sensor bytes per second: each sample as one frame of the serial protocol carrying its int16 code
  (`firmware_bridge.protocol.frame`: header, code, CRC-32, COBS, delimiter = 14 bytes);
* link bytes per second (SNN only): what the board backend puts on the serial line, one STEP
  request (flags + input codes) and its reply (outputs + spike/synop/cycle counts) per control step,
  counted frame by frame with `firmware_bridge.protocol` on the codes of the flight. The network
  steps every control step whatever the policy (a held sample is sent again), so this does not
  shrink with fewer samples: the saving is on the sensor side;
* spikes per second.

With ``board`` given, a row on the emulated board is added by
`firmware_bridge.loop_device.max_control_rate` (issue 7 part 2; see the hook below).

It lives in `evolve/`, the layer that may import both `sim` (the loop) and `firmware_bridge` (the
board); `snnctl bench loop` (`snnctl.cli.bench`) calls `run_loop_bench`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sim.metrics import summarize
from snnctl.text import plural

POLICIES = ("fixed", "delta", "adaptive")
DEFAULT_CONTROLLER = Path("runs/blimp_pid/best.snn")


class BoardBytes:
    """Wraps an `IntegerSNNBackend`; each step's Action gets the bytes a board backend would exchange."""

    def __init__(self, inner: Any) -> None:
        from firmware_bridge import protocol as P

        self.inner = inner
        self.name = inner.name
        self._P = P
        self._seq = 0
        self._step = 0

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: np.ndarray):
        P = self._P
        a = self.inner.act(obs)
        self._seq = (self._seq + 1) & 0xFFFF
        self._step += 1
        request = P.pack_request(P.MsgType.STEP, P.STEP_FLAG_COUNTS, tail=self.inner.last_input_codes)
        counts = P.STEP_COUNTS.pack(min(a.spikes, 0xFFFF), a.synops, 0)
        reply = P.pack_response(P.MsgType.STEP, self._step, P.STATUS_COUNTS,
                                tail=np.asarray(a.codes, dtype="<i2").tobytes() + counts)  # fmt: skip
        a.bytes_out = len(P.frame(P.MsgType.STEP, self._seq, request))
        a.bytes_in = len(P.frame(P.MsgType.STEP | P.RESPONSE_BIT, self._seq, reply))
        return a

    def close(self) -> None:
        self.inner.close()


def sensor_frame_bytes() -> int:
    """Bytes of one sensor sample sent as a protocol frame with one int16 code."""
    from firmware_bridge import protocol as P

    return len(P.frame(P.MsgType.STEP, 1, np.zeros(1, "<i2").tobytes()))


def _controller_spec(controller: str | Path | None) -> tuple[str | None, str]:
    """The benchmarked network as a factory spec and its label: the one given, `runs/blimp_pid/best.snn`,
    or None (the codec's PID-derived initial genome)."""
    if controller is not None:
        return str(controller), str(controller)
    if DEFAULT_CONTROLLER.is_file():
        return str(DEFAULT_CONTROLLER), str(DEFAULT_CONTROLLER)
    return None, "the codec's PID-derived initial genome (no runs/blimp_pid/best.snn)"


def fly_policy(backend: Any, policy: str, episodes: int, first: int = 0, seeds: Any = None,
               **overrides: Any) -> dict[str, float]:  # fmt: skip
    """Mean loop figures of `backend` under `policy` (`make_sensing` arguments in `overrides`) over
    held-out flights, or over the given `seeds` (training seeds for tuning): `sim.loop.run_heldout`."""
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_loop import BLIMP_SENSING
    from sim.loop import run_heldout
    from sim.sensing import make_sensing

    env = BlimpAltitudeEnv()
    try:
        results = run_heldout(env, backend, make_sensing(policy, BLIMP_SENSING, **overrides), episodes, first,
                              seeds=seeds)  # fmt: skip
    finally:
        env.close()
    rows = [r.summary() for r in results]
    keys = ("rmse_m", "steady_state_error_m", "samples_per_s", "bytes_out_per_s", "bytes_in_per_s", "bytes_per_s",
            "spikes_per_s", "synops_per_s")  # fmt: skip
    out: dict[str, Any] = {k: s["mean"] for k, s in summarize(rows, keys).items()}
    out["episodes"] = len(rows)
    out["sensing"] = rows[0]["sensing"]
    return out


TUNE_GRID = {
    "delta": [{"delta": d, "max_interval_steps": h} for d in (0.02, 0.03, 0.05, 0.08) for h in (10, 20, 50)],
    "adaptive": [{"min_interval": 1, "max_interval": m, "gain": g} for m in (5, 10, 20, 30) for g in (5, 10, 20, 50)],
}


def tune_sensing(net: Any, seeds: Any = range(20)) -> list[dict[str, Any]]:
    """The grid the blimp's sensing defaults (`sim.blimp_loop.BLIMP_SENSING`) were chosen from, on *training* profiles.

    Seeds must lie below `sim.profiles.HELDOUT_SEED_START`; each row: the policy, its arguments, the
    RMSE change against fixed 10 Hz and the sample reduction (means over the seeds). The defaults:
    the fewest samples whose RMSE stays within a few % of fixed, with a heartbeat / longest interval
    of at most 1 s so that a dead or stuck sensor is still noticed within seconds.
    """
    from sim.profiles import HELDOUT_SEED_START
    from snnctl.controllers.loop_backends import IntegerSNNBackend

    seeds = list(seeds)
    if any(s >= HELDOUT_SEED_START for s in seeds):
        raise ValueError(f"tune on training seeds (< {HELDOUT_SEED_START}), never on held-out ones")
    backend = IntegerSNNBackend(net)
    base = fly_policy(backend, "fixed", 0, seeds=seeds)
    rows = []
    for policy, grid in TUNE_GRID.items():
        for kw in grid:
            r = fly_policy(backend, policy, 0, seeds=seeds, **kw)
            rows.append({"policy": policy, **kw, "rmse_change": r["rmse_m"] / base["rmse_m"] - 1.0,
                         "samples_reduction": 1.0 - r["samples_per_s"] / base["samples_per_s"]})  # fmt: skip
    return rows


def run_loop_bench(json_out: bool = False, controller: str | Path | None = None, episodes: int = 10,
                   board: str | None = None, progress: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run the comparison, print the table (or JSON) and return the results."""
    from tqdm import tqdm

    from snnctl.controllers.factory import load_backend, load_controller
    from snnctl.controllers.loop_backends import IntegerSNNBackend

    if not 1 <= episodes <= 20:
        raise ValueError(f"episodes must be in 1..20 (the held-out set), got {episodes}")
    from sim.blimp import BlimpAltitudeEnv

    spec, label = _controller_spec(controller)
    probe = BlimpAltitudeEnv()  # the default env fly_policy flies: its control period builds the PID
    dt = probe.dt
    try:
        if spec is None:
            from snnctl.controllers.blimp_snn import default_network

            net = default_network()
        else:  # a network of another shape or rate is refused here, before any flight
            net = load_controller(spec, dt, env=probe).net
    finally:
        probe.close()
    per_sample = sensor_frame_bytes()
    result: dict[str, Any] = {
        "benchmark": "loop",
        "controller": label,
        "episodes": episodes,
        "profiles": "held-out step-profile, 120 s",
        "sensor_frame_bytes": per_sample,
        "rows": [],
    }
    jobs = [(name, pol) for name in ("snn", "pid") for pol in POLICIES]
    with tqdm(total=len(jobs), desc="bench loop", unit="row", file=sys.stderr, disable=None if progress else True,
              leave=False) as bar:  # fmt: skip
        for name, pol in jobs:
            backend = BoardBytes(IntegerSNNBackend(net, dt)) if name == "snn" else load_backend("pid", dt)
            row = {"controller": name, "policy": pol, **fly_policy(backend, pol, episodes)}
            row["sensor_bytes_per_s"] = row["samples_per_s"] * per_sample
            if name == "pid":  # no board: the PID runs in-process
                for k in ("bytes_out_per_s", "bytes_in_per_s", "bytes_per_s"):
                    row[k] = None
            result["rows"].append(row)
            bar.update(1)
    for row in result["rows"]:
        base = next(r for r in result["rows"] if r["controller"] == row["controller"] and r["policy"] == "fixed")
        row["rmse_change"] = row["rmse_m"] / base["rmse_m"] - 1.0
        row["samples_reduction"] = 1.0 - row["samples_per_s"] / base["samples_per_s"]
    snn = [r for r in result["rows"] if r["controller"] == "snn" and r["policy"] != "fixed"]
    result["goal_met_by"] = [r["policy"] for r in snn if r["samples_reduction"] >= 0.5 and r["rmse_change"] <= 0.10]

    if board is not None:
        # -- HOOK (issue 7 part 2): the highest control rate the emulated board sustains with no deadline
        # misses. `firmware_bridge.loop_device.max_control_rate(board, net)` belongs to the board-backend
        # work; it returns a `RateSearch` (`max_rate_hz`, `as_dict()`).
        try:
            from firmware_bridge.loop_device import max_control_rate
        except ImportError as e:
            raise RuntimeError(f"--board needs firmware_bridge.loop_device.max_control_rate ({e})") from None
        result["board"] = max_control_rate(board, net).as_dict()

    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return result


def _fmt(v: float | None, width: int, prec: int = 1) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:{width}.{prec}f}"


def format_table(result: dict[str, Any]) -> str:
    lines = [
        f"snnctl loop benchmark: blimp, {plural(result['episodes'], result['profiles'] + ' flight')}, "
        "default env (10 Hz, 1-cm noise)",
        f"controller: {result['controller']}",
        "",
        f"  {'controller':10} {'sensing':9} {'RMSE m':>8} {'vs fixed':>9} {'SS err m':>9} {'samples/s':>10} "
        f"{'fewer':>6} {'sensor B/s':>11} {'link B/s':>9} {'spikes/s':>9}",
    ]  # fmt: skip
    for r in result["rows"]:
        lines.append(
            f"  {r['controller']:10} {r['policy']:9} {r['rmse_m']:8.4f} {r['rmse_change'] * 100:+8.1f}% "
            f"{r['steady_state_error_m']:9.4f} {r['samples_per_s']:10.2f} {r['samples_reduction'] * 100:5.0f}% "
            f"{r['sensor_bytes_per_s']:11.1f} {_fmt(r['bytes_per_s'], 9)} {r['spikes_per_s']:9.1f}"
        )
    lines += [
        "",
        "policies: " + "; ".join(f"{r['policy']} = {r['sensing']}" for r in result["rows"] if r["controller"] == "snn"),
        f"sensor B/s: samples x {result['sensor_frame_bytes']} B (one protocol frame per int16 reading); "
        "link B/s: STEP request + reply per control step, as the board backend sends them",
        "goal (>= 50 % fewer samples, RMSE <= +10 %): "
        + (f"met by {', '.join(result['goal_met_by'])}" if result["goal_met_by"] else "not met"),
    ]
    if "board" in result:
        b = result["board"]
        dev = "" if b.get("device_step_us") is None else f", {b['device_step_us']:.1f} us per step on the device"
        lines.append(f"{b['board']}: highest control rate with no deadline misses: {b['max_rate_hz']:g} Hz{dev}")
    return "\n".join(lines)
