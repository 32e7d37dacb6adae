"""The ``snnctl`` command line.

Every subcommand imports what it needs inside its handler, so ``snnctl --help`` stays fast and
``import snnctl.cli`` pulls in neither numba nor the other packages. Mistakes a user can fix (a
missing file, a damaged ``.snn``, a bad argument) end as one line ``snnctl: error: ...`` on stderr
and exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from snnctl import __version__

EXIT_USAGE = 2


from snnctl.cli_common import UserError, load_network  # noqa: E402  (UserError: re-exported)

# -- inspect --------------------------------------------------------------------------------------

_INSPECT_EPILOG = """\
examples:
  snnctl inspect blimp.snn           readable summary of the network
  snnctl inspect blimp.snn --json    the same as JSON (for scripts)
"""


def _cmd_inspect(args: argparse.Namespace) -> int:
    summary = inspect_summary(args.path)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0


def inspect_summary(path: str) -> dict[str, Any]:
    """Load ``path`` and describe it as plain data (what ``snnctl inspect --json`` prints)."""
    import struct

    from snnctl import snnfile
    from snnctl.network import INPUT

    try:
        net = snnfile.load(path)
        with open(path, "rb") as f:
            head = f.read(6)
    except snnfile.SnnFormatError as exc:
        msg = str(exc)
        raise UserError(msg if path in msg else f"{path}: {msg}") from None
    except ValueError as exc:  # snnctl.network.NetworkError: parsed, but breaks the model's rules
        raise UserError(f"{path}: {exc}") from None
    except OSError as exc:  # missing file, a directory, no permission, ...
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    format_version = struct.unpack_from("<H", head, 4)[0]

    populations = [
        {
            "index": i,
            "name": p.name,
            "kind": p.kind.name,
            "n": p.n,
            "reset": p.reset.name,
            "refractory": int(p.refractory),
        }
        for i, p in enumerate(net.populations)
    ]
    projections = [
        {
            "index": k,
            "src": "INPUT" if q.src == INPUT else q.src,
            "dst": q.dst,
            "storage": "sparse" if q.sparse else "dense",
            "synapses": q.nnz,
            "exponent": q.exponent,
            "recurrent": q.recurrent,
            "delay": q.delay,
        }
        for k, q in enumerate(net.projections)
    ]
    outputs = [
        {"index": k, "pop": o.pop, "neuron": o.neuron, "shift": o.shift, "scale": _f32(o.scale), "zero": o.zero}
        for k, o in enumerate(net.outputs)
    ]
    return {
        "file": os.path.basename(path),
        "file_bytes": os.path.getsize(path),
        "format_version": format_version,
        "name": net.meta.get("name", "") if isinstance(net.meta, dict) else "",
        "n_inputs": net.n_inputs,
        "n_outputs": net.n_outputs,
        "control_period_s": net.control_period_s,
        "inputs": [
            {"index": c, "scale": _f32(s), "zero": int(z)}
            for c, (s, z) in enumerate(zip(net.input_scale, net.input_zero, strict=True))
        ],
        "outputs": outputs,
        "populations": populations,
        "projections": projections,
        "totals": {"neurons": net.n_neurons, "synapses": net.n_synapses},
        "device_memory": _device_memory(net),
    }


def _f32(x: Any) -> float:
    """A float32 field as the shortest decimal that reads back to it (0.001, not 0.0010000000474974513)."""
    return float(f"{float(x):.7g}")


def _device_memory(net: Any) -> dict[str, Any]:
    """Bytes the network needs on a device, from firmware_bridge.memory (None where unavailable)."""
    try:
        from firmware_bridge.memory import device_bytes
    except ImportError as exc:
        return {"unavailable": f"firmware_bridge.memory not importable ({exc})"}
    return {key: int(value) for key, value in device_bytes(net).items()}


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable form of :func:`inspect_summary`'s result."""
    lines = [f"{s['file']}  ({s['file_bytes']} bytes, .snn format version {s['format_version']})"]
    if s["name"]:
        lines.append(f"name: {s['name']}")
    lines.append(f"inputs: {s['n_inputs']}    outputs: {s['n_outputs']}")
    period = s.get("control_period_s")
    lines.append(
        "control period: unspecified"
        if period is None
        else f"control period: {period:.6g} s ({1.0 / period:.6g} Hz), the loop rate it was made for"
    )

    lines.append("")
    lines.append("inputs (code = round(x / scale) + zero)")
    lines.append(_table(["#", "scale", "zero"], [[c["index"], f"{c['scale']:.6g}", c["zero"]] for c in s["inputs"]]))

    lines.append("")
    lines.append("populations")
    lines.append(
        _table(
            ["#", "name", "kind", "n", "reset", "refractory"],
            [[p["index"], p["name"] or "-", p["kind"], p["n"], p["reset"], p["refractory"]] for p in s["populations"]],
        )
    )

    lines.append("")
    lines.append("projections")
    if s["projections"]:
        lines.append(
            _table(
                ["#", "src->dst", "storage", "synapses", "exponent", "recurrent", "delay"],
                [
                    [
                        q["index"],
                        f"{q['src']}->{q['dst']}",
                        q["storage"],
                        q["synapses"],
                        q["exponent"],
                        "yes" if q["recurrent"] else "no",
                        q["delay"],
                    ]
                    for q in s["projections"]
                ],
            )
        )
    else:
        lines.append("  (none)")

    lines.append("")
    lines.append("outputs (x = (code - zero) * scale)")
    lines.append(
        _table(
            ["#", "pop", "neuron", "shift", "scale", "zero"],
            [[o["index"], o["pop"], o["neuron"], o["shift"], f"{o['scale']:.6g}", o["zero"]] for o in s["outputs"]],
        )
    )

    lines.append("")
    lines.append(f"totals: {s['totals']['neurons']} neurons, {s['totals']['synapses']} synapses")
    mem = s["device_memory"]
    if "unavailable" in mem:
        lines.append(f"device memory: {mem['unavailable']}")
    else:
        main = [k for k in ("arena_bytes", "weight_bytes", "blob_bytes") if k in mem]
        rest = [k for k in mem if k not in main]
        lines.append("device memory: " + ", ".join(f"{k.removesuffix('_bytes')} {mem[k]} B" for k in main))
        if rest:
            lines.append("  arena detail: " + ", ".join(f"{k.removesuffix('_bytes')} {mem[k]} B" for k in rest))
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """Plain-text table, two-space indented; text columns left-aligned, numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]
    out = []
    for row in cells:
        out.append(
            "  "
            + "  ".join(
                c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
            ).rstrip()
        )
    return "\n".join(out)


# -- bench ----------------------------------------------------------------------------------------

_BENCH_EPILOG = """\
examples:
  snnctl bench runtime                 time the integer runtime (and snnTorch/Norse if installed)
  snnctl bench runtime --steps 5000    longer timed runs
  snnctl bench runtime --json          results as JSON
  snnctl bench firmware                firmware size, instructions per step, serial round trip
  snnctl bench loop                    sensing policies on the blimp (--board: highest control rate)
  snnctl bench robustness CONFIG --controller NET.snn   the blimp under perturbed physics, vs the PID
  snnctl bench evolve CONFIG --seeds 1 2 3 4 5         a config's main job over seeds: spread, worst, goals
"""

_BENCH_RUNTIME_EPILOG = """\
examples:
  snnctl bench runtime
  snnctl bench runtime --steps 5000 --json > runtime.json

Measures the blimp-shaped 160-neuron network: one network stepped from Python, one T-step call,
a batch of 64 networks, and the same network in snnTorch and Norse when they are installed
(pip install -e '.[bench]'). Timings are printed, never asserted.
"""


def _cmd_bench_runtime(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    from snnctl.bench_runtime import run_runtime_bench

    run_runtime_bench(steps=args.steps, json_out=args.json)
    return 0


# -- device, deploy, firmware ---------------------------------------------------------------------

_DEVICE_EPILOG = """\
examples:
  snnctl device info --port /dev/ttyUSB0            board, firmware, limits and the running network
  snnctl device info --port socket://127.0.0.1:5555 --json
  snnctl device run --port /dev/ttyUSB0 --inputs codes.npy --outputs out.npy

PORT is any pyserial URL: /dev/ttyUSB0, /dev/pts/N, socket://HOST:PORT, rfc2217://HOST:PORT, loop://.
"""

_DEVICE_RUN_EPILOG = """\
examples:
  snnctl device run --port /dev/ttyUSB0 --inputs codes.npy --outputs out.npy
  snnctl device run --port /dev/ttyUSB0 --inputs errors.csv --net blimp.snn --outputs thrust.csv

--inputs is either a .npy array of int16 input codes, shape (T, n_inputs), which needs no network
file, or a CSV of real values, one row per step, which are quantised with --net (the .snn file
that is deployed; the device holds no float scales); with --net the outputs are de-quantised to
real values too. --outputs takes .npy or .csv. Steps run from the device's current state; the
network is not reset first.
"""

_DEPLOY_EPILOG = """\
examples:
  snnctl deploy blimp.snn --port /dev/ttyUSB0
  snnctl deploy blimp.snn --port socket://127.0.0.1:5555    (an emulator: snnctl firmware emulate)

Checks the network against the device's limits before sending anything, uploads it in chunks,
commits (the device validates, then swaps it in atomically: a failed upload leaves the old network
running) and verifies the size and CRC the device reports.
"""

_FIRMWARE_EPILOG = """\
examples:
  snnctl firmware build --board lm3s6965evb    cross-compile the Cortex-M3 image, print its size
  snnctl firmware build --board host           the POSIX virtual device
  snnctl firmware emulate --board host         run a virtual device, print its serial URL
"""


def _device_errors(fn):
    """Run a device command; DeviceError (and tool/build failures) become one-line UserErrors."""

    def wrapper(args: argparse.Namespace) -> int:
        from firmware_bridge.device import DeviceError

        try:
            return fn(args)
        except DeviceError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def _open(args: argparse.Namespace):
    from firmware_bridge.device import open_device

    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout}")
    return open_device(args.port, timeout=args.timeout, connect_timeout=max(args.timeout, args.connect_timeout))


@_device_errors
def _cmd_device_info(args: argparse.Namespace) -> int:
    from firmware_bridge.protocol import record_dict

    with _open(args) as dev:
        info, net, stats = dev.info, dev.netinfo(), dev.stats()
    if args.json:
        out = {"port": args.port, "info": record_dict(info), "capabilities": info.capability_names,
               "network": record_dict(net), "stats": record_dict(stats)}  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    lines = [
        f"{info.name or '(unnamed board)'} at {args.port}",
        f"  firmware {info.firmware_version}, protocol {info.protocol_version}, "
        f"capabilities: {', '.join(info.capability_names) or 'none'}",
        f"  limits: {info.max_neurons} neurons, {info.max_synapses} synapses, blob {info.max_blob_bytes} B,"
        f" arena {info.arena_bytes} B, payload {info.max_payload} B",
    ]
    if info.free_ram:
        lines.append(f"  free RAM: {info.free_ram} B")
    if net.loaded:
        lines.append(
            f"  network: {net.n_inputs} inputs, {net.n_outputs} outputs, {net.n_neurons} neurons, {net.n_synapses}"
            f" synapses; blob {net.blob_bytes} B (crc32 0x{net.blob_crc32:08x}), arena {net.arena_used} B"
        )
    else:
        lines.append("  network: none loaded (snnctl deploy NET.snn --port URL)")
    cyc = ""
    if stats.max_step_cycles:
        unit = "ns" if info.tick_hz == 1_000_000_000 else "cycles"
        cyc = f", last step {stats.last_step_cycles} {unit} (max {stats.max_step_cycles})"
    lines.append(
        f"  stats: {stats.steps} steps{cyc}; errors: {stats.crc_errors} crc, {stats.framing_errors} framing,"
        f" {stats.dropped_frames} dropped, {stats.errors_sent} error replies; watchdog trips {stats.watchdog_trips}"
    )
    print("\n".join(lines))
    return 0


@_device_errors
def _cmd_deploy(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    net, blob = load_network(args.path)
    with _open(args) as dev:
        info = dev.info
        from firmware_bridge.device import check_limits

        check_limits(info, net, len(blob))  # before anything is sent (deploy checks again)
        with tqdm(total=len(blob), unit="B", unit_scale=True, desc="upload", file=sys.stderr,
                  disable=args.quiet or None, leave=False) as bar:  # fmt: skip
            ni = dev.deploy(blob, progress=lambda sent, _total: bar.update(sent - bar.n))
    if args.json:
        from firmware_bridge.protocol import record_dict

        print(json.dumps({"port": args.port, "board": info.name, "network": record_dict(ni)}, indent=2))
        return 0
    print(f"deployed {os.path.basename(args.path)} to {info.name or 'device'} at {args.port}"
          f" (firmware {info.firmware_version})")  # fmt: skip
    print(f"  now running: {ni.n_inputs} inputs, {ni.n_outputs} outputs, {ni.n_neurons} neurons,"
          f" {ni.n_synapses} synapses")  # fmt: skip
    print(f"  blob {ni.blob_bytes} B of {info.max_blob_bytes} B (crc32 0x{ni.blob_crc32:08x}),"
          f" arena {ni.arena_used} B of {info.arena_bytes} B")  # fmt: skip
    return 0


def _read_inputs(path: str, net) -> tuple:
    """(codes (T, n_in) int16, real-valued?) from a .npy of codes or a CSV of real values."""
    import numpy as np

    try:
        if path.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            if not np.issubdtype(arr.dtype, np.integer):
                raise UserError(f"{path}: a .npy input holds int16 codes, got {arr.dtype} (use a CSV of real values"
                                " with --net to quantise)")  # fmt: skip
            if arr.size and (arr.min() < -32768 or arr.max() > 32767):
                raise UserError(f"{path}: input codes must lie in -32768..32767")
            arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
            return arr.astype(np.int16), False
        if net is None:
            raise UserError(f"{path}: CSV inputs are real values; pass --net NET.snn (the deployed network) to"
                            " quantise them, or give int16 codes as .npy")  # fmt: skip
        with open(path) as f:
            first = f.readline()
        skip = 1 if any(c.isalpha() for c in first.replace("e", "").replace("E", "").replace("nan", "")) else 0
        x = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=skip)
        return net.quantize_inputs(x), True
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


@_device_errors
def _cmd_device_run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from snnctl import snnfile

    net = blob = None
    if args.net:
        net, blob = load_network(args.net)
    codes, real = _read_inputs(args.inputs, net)
    with _open(args) as dev:
        ni = dev.netinfo()
        if not ni.loaded:
            raise UserError(f"no network is loaded on {args.port}; deploy one first (snnctl deploy NET.snn --port"
                            f" {args.port})")  # fmt: skip
        if blob is not None and (len(blob), snnfile.network_crc(blob)) != (ni.blob_bytes, ni.blob_crc32):
            raise UserError(f"{args.net} is not the network deployed on {args.port} (device: {ni.blob_bytes} B,"
                            f" crc32 0x{ni.blob_crc32:08x}); deploy it first or pass the deployed file")  # fmt: skip
        if codes.shape[1] != ni.n_inputs:
            raise UserError(f"{args.inputs}: {codes.shape[1]} input columns, the deployed network takes {ni.n_inputs}")
        t0 = time.perf_counter()
        out = dev.run(codes, window=args.window)
        seconds = time.perf_counter() - t0
    values = net.dequantize_outputs(out) if net is not None else out
    if args.outputs:
        try:
            if args.outputs.endswith(".npy"):
                np.save(args.outputs, values)
            else:
                fmt = "%.9g" if net is not None else "%d"
                np.savetxt(args.outputs, values, delimiter=",", fmt=fmt,
                           header=",".join(f"out{k}" for k in range(values.shape[1])), comments="")  # fmt: skip
        except OSError as exc:
            raise UserError(f"{args.outputs}: {exc.strerror or exc}") from None
    summary = {"port": args.port, "steps": int(codes.shape[0]), "seconds": round(seconds, 6),
               "steps_per_second": round(codes.shape[0] / seconds, 1) if seconds > 0 else None,
               "outputs_file": args.outputs, "real_values": bool(real or net is not None)}  # fmt: skip
    if args.json:
        if not args.outputs:
            summary["outputs"] = values.tolist()
        print(json.dumps(summary, indent=2))
        return 0
    print(f"ran {summary['steps']} steps on {args.port} in {seconds:.3f} s ({summary['steps_per_second']} steps/s)")
    if args.outputs:
        print(f"outputs ({'real values' if net is not None else 'int16 codes'}) written to {args.outputs}")
    elif len(values):
        print(f"last outputs: {', '.join(str(v) for v in values[-1].tolist())}")
    return 0


def _cmd_firmware_build(args: argparse.Namespace) -> int:
    from firmware_bridge import build

    try:
        if args.board == "host":
            path = build.build_host_device()
            sizes = {"file": path.stat().st_size}
        else:
            path = build.build_firmware(args.board)
            sizes = build.firmware_size(path)
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(str(exc).splitlines()[0] if args.board == "host" else str(exc)) from None
    if args.json:
        print(json.dumps({"board": args.board, "path": str(path), **sizes}, indent=2))
        return 0
    print(f"{args.board}: {path}")
    if "flash" in sizes:
        print(f"  flash {sizes['flash']} B (text {sizes['text']} B + data {sizes['data']} B), "
              f"RAM {sizes['ram']} B (data {sizes['data']} B + bss {sizes['bss']} B) before the stack")  # fmt: skip
    else:
        print(f"  executable {sizes['file']} B")
    return 0


def _cmd_firmware_emulate(args: argparse.Namespace) -> int:
    import time

    from firmware_bridge.emulators import start_emulator

    try:
        emu = start_emulator(args.board, icount=not args.no_icount)
    except (RuntimeError, ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    with emu:
        print(f"serving {args.board} at {emu.url}", flush=True)
        print(f"  try: snnctl device info --port {emu.url}", flush=True)
        print(f"       snnctl deploy NET.snn --port {emu.url}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        try:
            while emu.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
            return 0
    raise UserError(f"the {args.board} emulator exited unexpectedly: {emu.output().strip()[-500:]}")


_BENCH_FIRMWARE_EPILOG = """\
examples:
  snnctl bench firmware
  snnctl bench firmware --json > firmware.json

Builds the lm3s6965evb image, runs it under QEMU with -icount (instructions per step are then
deterministic), deploys the blimp-shaped network and reports image flash/RAM, the network's blob
and arena bytes, instructions per step and the host<->device round trip per step (median); the
host virtual device's round trip too. Boards whose tools are missing are reported as skipped.
"""


def _cmd_bench_firmware(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise UserError(f"--steps must be at least 1, got {args.steps}")
    from firmware_bridge.bench_firmware import run_firmware_bench
    from firmware_bridge.device import DeviceError  # noqa: I001 - after the bench import, which may fail

    try:
        run_firmware_bench(steps=args.steps, json_out=args.json)
    except (DeviceError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    return 0


_BENCH_LOOP_EPILOG = """\
examples:
  snnctl bench loop
  snnctl bench loop --controller runs/blimp_pid/best.snn --episodes 5 --json
  snnctl bench loop --board lm3s6965evb

Flies the blimp SNN (and the PID) on held-out profiles under fixed 10-Hz, send-on-delta and
action-to-sensing policies and prints RMSE, samples, sensor and link bytes and spikes per second.
--board adds the highest control rate the emulated board answers with no deadline miss (real-time
pacing, a few seconds per rate; wall-clock timing: other load on the machine lowers it).
"""


def _cmd_bench_loop(args: argparse.Namespace) -> int:
    if not 1 <= args.episodes <= 20:
        raise UserError(f"--episodes must be in 1..20 (the held-out set), got {args.episodes}")
    if args.controller is not None:
        load_network(args.controller)  # a missing or damaged file is one line, before any flight
    from firmware_bridge.device import DeviceError
    from snnctl.bench_loop import run_loop_bench

    try:
        run_loop_bench(json_out=args.json, controller=args.controller, episodes=args.episodes, board=args.board)
    except (DeviceError, RuntimeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    return 0


_BENCH_ROBUSTNESS_EPILOG = """\
examples:
  snnctl bench robustness configs/blimp_pid.toml --controller runs/blimp_pid/best.snn
  snnctl bench robustness configs/blimp_pid.toml --controller best.snn --episodes 3 --json

Flies the controller and the PID on the config's held-out flights ([run] episodes, episode_s)
under: nominal; excess mass x1.5 and x0.5; motor lag x2; sensor noise 3 cm; gusts 0.1 N; buoyancy
drift 4 g; a 5-Hz lidar under the config's control rate (evolve/blimp_robustness.py). Each condition
changes the config's [env]. The goal columns are computed: no floor/ceiling contact, RMSE <= 1.1 x
the PID's, steady-state error <= the PID's + 1 cm. The exit status is 0 whether or not they pass.
"""


def _cmd_bench_robustness(args: argparse.Namespace) -> int:
    from snnctl import experiments

    if experiments.family_of(args.config) != "blimp":
        raise UserError(f"{args.config}: bench robustness flies the blimp; this is not a blimp config")
    if args.episodes is not None and not 1 <= args.episodes <= 20:
        raise UserError(f"--episodes must be in 1..20 (the held-out set), got {args.episodes}")
    if args.controller != "pid":
        load_network(args.controller)  # a missing or damaged file is one line, before any flight
    _mod, cfg = experiments.load(args.config)
    from evolve.blimp_robustness import format_robustness, robustness
    from snnctl.snnfile import SnnFormatError

    try:
        result = robustness(cfg, args.controller, episodes=args.episodes, progress=not args.json)
    except (SnnFormatError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(json.dumps(result, indent=2) if args.json else format_robustness(result))
    return 0


_BENCH_EVOLVE_EPILOG = """\
examples:
  snnctl bench evolve configs/blimp_pid.toml --seeds 1 2 3 4 5
  snnctl bench evolve configs/swimmer_ncap.toml --seeds 1 2 3 --out runs/bench_swimmer
  snnctl bench evolve configs/blimp_pid.toml --seeds 1 2 3 4 5 --reuse --json > blimp_seeds.json

Runs the config's main job (`snnctl evolve`: evolution, validated selection, held-out table) once
per seed, each into OUT/seed<N>, then prints one table: each seed's held-out metrics, mean ± std,
the worst seed, the family's baseline, wall time, and pass/fail for every goal in the config's
[goals] section (evolve/multiseed.py). --reuse reads back seeds that already finished in OUT.
"""


def _cmd_bench_evolve(args: argparse.Namespace) -> int:
    from snnctl import experiments

    mod, cfg = experiments.load(args.config)
    if not hasattr(mod, "bench_result"):
        raise UserError(f"{args.config}: the {cfg['experiment']['family']} family has no multi-seed benchmark")
    if len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        raise UserError(f"--seeds must be distinct non-negative integers, got {args.seeds}")
    from pathlib import Path

    from evolve.multiseed import format_table, run_seeds

    out = Path(args.out or Path("runs") / f"bench_{Path(args.config).stem}")

    try:
        result = run_seeds(mod, cfg, args.seeds, out, reuse=args.reuse, progress=not args.quiet)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    title = f"snnctl bench evolve {args.config} --seeds {' '.join(map(str, args.seeds))}"
    print(json.dumps(result, indent=2) if args.json else format_table(mod, result, title))
    return 0


def _add_port_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, metavar="URL", help="serial port or pyserial URL of the device")
    p.add_argument("--timeout", type=float, default=0.5, metavar="S",
                   help="seconds to wait for each reply before re-sending (default 0.5)")  # fmt: skip
    p.add_argument("--connect-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to keep pinging a device that does not answer yet (default 5)")  # fmt: skip


# -- parser and entry point -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snnctl",
        description="Integer spiking neural network controllers: inspect networks, benchmark the runtime,"
        " deploy to microcontrollers.",
        epilog="examples:\n  snnctl inspect blimp.snn\n  snnctl bench runtime\n"
        "  snnctl firmware emulate --board host\n  snnctl deploy blimp.snn --port /dev/ttyUSB0\n\n"
        "Run 'snnctl COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"snnctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_inspect = sub.add_parser(
        "inspect",
        help="print a readable summary of a .snn network file",
        description="Print a .snn network file's populations, projections, totals and device memory.",
        epilog=_INSPECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_inspect.add_argument("path", metavar="NET.snn", help="network file to read")
    p_inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_inspect.set_defaults(handler=_cmd_inspect)

    p_bench = sub.add_parser(
        "bench",
        help="run a benchmark and print its table",
        description="Benchmarks that print a table (and JSON with --json).",
        epilog=_BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench_sub = p_bench.add_subparsers(dest="bench", metavar="BENCHMARK")
    p_runtime = bench_sub.add_parser(
        "runtime",
        help="steps per second of the integer runtime vs snnTorch and Norse",
        description="Time the integer runtime on the blimp-shaped 160-neuron network.",
        epilog=_BENCH_RUNTIME_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_runtime.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_runtime.add_argument("--steps", type=int, default=2000, metavar="N", help="steps per timed run (default 2000)")
    p_runtime.set_defaults(handler=_cmd_bench_runtime)
    p_bfw = bench_sub.add_parser(
        "firmware",
        help="firmware size, instructions per step and serial round trip on emulated boards",
        description="Measure the blimp-shaped network on the lm3s6965evb firmware (QEMU) and the host device.",
        epilog=_BENCH_FIRMWARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_bfw.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_bfw.add_argument("--steps", type=int, default=500, metavar="N", help="round trips timed per board (default 500)")
    p_bfw.set_defaults(handler=_cmd_bench_firmware)
    p_bloop = bench_sub.add_parser(
        "loop",
        help="fixed vs event-driven vs adaptive sensing on the blimp; the highest rate a board sustains",
        description="Compare sensing policies on held-out blimp flights (RMSE, samples, bytes, spikes per second).",
        epilog=_BENCH_LOOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_bloop.add_argument("--controller", metavar="NET.snn",
                         help="the blimp SNN (default runs/blimp_pid/best.snn)")  # fmt: skip
    p_bloop.add_argument("--episodes", type=int, default=10, metavar="N", help="held-out flights (1..20, default 10)")
    p_bloop.add_argument("--board", choices=("host", "lm3s6965evb"),
                         help="also the highest control rate this emulated board sustains")  # fmt: skip
    p_bloop.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_bloop.set_defaults(handler=_cmd_bench_loop)
    p_brob = bench_sub.add_parser(
        "robustness",
        help="a blimp controller and the PID under perturbed physics, with pass/fail goals",
        description="Fly a blimp controller and the PID on held-out flights under perturbed physics; one table.",
        epilog=_BENCH_ROBUSTNESS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_brob.add_argument("config", help="blimp experiment TOML file, e.g. configs/blimp_pid.toml")
    p_brob.add_argument("--controller", required=True, metavar="NET.snn", help="a .snn network (or 'pid')")
    p_brob.add_argument("--episodes", type=int, metavar="N", help="held-out flights per condition (1..20)")
    p_brob.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_brob.set_defaults(handler=_cmd_bench_robustness)
    p_bevo = bench_sub.add_parser(
        "evolve",
        help="run a config's main job for several seeds: held-out metrics, spread, worst seed, goals",
        description="Run `snnctl evolve CONFIG` once per seed and tabulate the held-out results with pass/fail goals.",
        epilog=_BENCH_EVOLVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_bevo.add_argument("config", help="experiment TOML file, e.g. configs/blimp_pid.toml")
    p_bevo.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], metavar="N",
                        help="run seeds (default 1 2 3)")  # fmt: skip
    p_bevo.add_argument("--out", metavar="DIR", help="root folder (default runs/bench_<config name>)")
    p_bevo.add_argument("--reuse", action="store_true", help="read back seeds that already finished in --out")
    p_bevo.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_bevo.add_argument("--quiet", action="store_true", help="no per-seed progress output")
    p_bevo.set_defaults(handler=_cmd_bench_evolve)

    p_deploy = sub.add_parser(
        "deploy",
        help="upload a .snn network to a device and make it the running one",
        description="Check, upload, commit and verify a network on a device running the snnctl firmware.",
        epilog=_DEPLOY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_deploy.add_argument("path", metavar="NET.snn", help="network file to deploy")
    _add_port_args(p_deploy)
    p_deploy.add_argument("--json", action="store_true", help="print what now runs as JSON")
    p_deploy.add_argument("--quiet", action="store_true", help="no progress bar")
    p_deploy.set_defaults(handler=_cmd_deploy)

    p_device = sub.add_parser(
        "device",
        help="talk to a device running the snnctl firmware (info, run)",
        description="Query a device or stream inputs through its network over a serial port.",
        epilog=_DEVICE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    device_sub = p_device.add_subparsers(dest="device_command", metavar="ACTION")
    p_info = device_sub.add_parser(
        "info",
        help="board, firmware version, limits, running network and statistics",
        description="Say HELLO to a device and print what it is, what it holds and its counters.",
        epilog=_DEVICE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_info)
    p_info.add_argument("--json", action="store_true", help="print as JSON")
    p_info.set_defaults(handler=_cmd_device_info)
    p_run = device_sub.add_parser(
        "run",
        help="stream inputs through the deployed network and collect its outputs",
        description="Send one STEP per input row and collect the outputs.",
        epilog=_DEVICE_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_args(p_run)
    p_run.add_argument("--inputs", required=True, metavar="FILE", help=".npy int16 codes (T, n_inputs) or CSV of reals")
    p_run.add_argument("--outputs", metavar="FILE", help="write the outputs to FILE (.npy or .csv)")
    p_run.add_argument(
        "--net", metavar="NET.snn", help="the deployed network: quantises CSV inputs, de-quantises outputs"
    )
    p_run.add_argument("--window", type=int, default=4, metavar="N",
                       help="STEP requests in flight at once (default 4; 1 = wait for each reply)")  # fmt: skip
    p_run.add_argument("--json", action="store_true", help="print a JSON summary (with the outputs if no --outputs)")
    p_run.set_defaults(handler=_cmd_device_run)
    p_device.set_defaults(handler=lambda _args: _print_help(p_device))

    p_fw = sub.add_parser(
        "firmware",
        help="build the device firmware or run it on an emulator",
        description="Build firmware images for a board, or serve an emulated board on a serial URL.",
        epilog=_FIRMWARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fw_sub = p_fw.add_subparsers(dest="firmware_command", metavar="ACTION")
    boards = ("host", "lm3s6965evb")
    p_build = fw_sub.add_parser(
        "build",
        help="compile the firmware for a board and print its path and size",
        description="Compile the firmware (or the POSIX virtual device for --board host).",
        epilog=_FIRMWARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_build.add_argument("--board", required=True, choices=boards, help="target board")
    p_build.add_argument("--json", action="store_true", help="print path and sizes as JSON")
    p_build.set_defaults(handler=_cmd_firmware_build)
    p_emu = fw_sub.add_parser(
        "emulate",
        help="run an emulated board and print its serial URL (until Ctrl-C)",
        description="Start the board's emulator and serve it until interrupted.",
        epilog=_FIRMWARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_emu.add_argument("--board", required=True, choices=boards, help="board to emulate")
    p_emu.add_argument("--no-icount", action="store_true",
                       help="QEMU: run at full speed instead of deterministic instruction counting")  # fmt: skip
    p_emu.set_defaults(handler=_cmd_firmware_emulate)
    p_fw.set_defaults(handler=lambda _args: _print_help(p_fw))
    p_bench.set_defaults(handler=lambda _args: _print_help(p_bench))
    from snnctl.cli_interchange import add_parsers as _add_interchange  # import / export (NIR, C header)

    _add_interchange(sub)
    from snnctl.cli_experiments import add_parsers as _add_experiments  # evolve / run (configs/*.toml)

    _add_experiments(sub)
    from snnctl.cli_loop import add_parsers as _add_loop  # hil (hardware in the loop)

    _add_loop(sub)
    parser.set_defaults(handler=lambda _args: _print_help(parser))
    return parser


def _print_help(parser: argparse.ArgumentParser) -> int:
    """A command given without its subcommand: show what it offers."""
    parser.print_help()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"snnctl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("snnctl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or similar, which closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
