"""`snnctl hil`: the blimp flies in MuJoCo while its SNN runs on a board (emulated or real).

A family whose module has `hil_main(cfg, HilOptions)` (gym) plays its own env against the board
instead (`_family_hil`): the board is started here, the episodes and the bit-for-bit comparison with
the in-process network are the family's; the blimp's loop options (`--realtime`, `--sensing`,
`--faults`, ...) are refused for it.

`snnctl.cli.build_parser` calls `add_parsers(sub)`. Everything heavy (MuJoCo, pyserial, the
emulators) is imported inside the handler, so `snnctl --help` stays light.

The loop is `sim.loop.run_heldout` with a `firmware_bridge.loop_device.DeviceBackend` (built by the
controller factory from ``NET.snn@URL`` with the board's extension): each control
step the observation is quantised on the host (`SNNController.encode`), sent to the board in one
STEP, and the board's output codes are de-quantised (`SNNController.decode`). Link faults of
`--faults` are made for real by a `firmware_bridge.link_faults.LinkFaultProxy` between the client
and the board; sensor faults are applied by the loop, as in `snnctl run`.

With `--onboard` the board runs the network from its own timer instead (docs/protocol.md §8,
`firmware_bridge.onboard_backend.OnboardBackend`): the host plays the plant, sending each
observation as a SENSOR frame and applying the outputs of the board period that used it (its
TELEMETRY), so the board's clock paces the flight.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge import boards
from snnctl.cli import families
from snnctl.cli.common import UserError, image_suffixes, load_network, output_file
from snnctl.text import plural

_HIL_EPILOG = """\
examples:
  snnctl hil configs/blimp_pid.toml --controller runs/blimp_pid/best.snn --board lm3s6965evb --realtime
  snnctl hil configs/blimp_pid.toml --controller best.snn --board host --realtime --duration 20
  snnctl hil configs/blimp_pid.toml --controller best.snn --port socket://127.0.0.1:5555 --json
  snnctl hil configs/blimp_pid.toml --controller best.snn --board host --faults 'drop@30:5:0.2,unplug@60:5'
  snnctl hil configs/blimp_pid.toml --controller best.snn --board host --sensing delta --plot hil.png
  snnctl hil configs/blimp_pid.toml --controller best.snn --board host --log hil.npz --compare
  snnctl hil configs/blimp_pid.toml --controller best.snn --compare hil.npz     (check a saved log)
  snnctl hil configs/blimp_pid.toml --controller best.snn --board lm3s6965evb --onboard --compare
  snnctl hil configs/blimp_pid.toml --controller best.snn --board host --onboard --sensor-cut 30:1
  snnctl hil configs/gym_cartpole.toml --controller best.snn --board lm3s6965evb --episodes 5

Flies held-out profiles ([run] profile, and episode_s of the config or --duration) with the network
on a board: --board starts that board's emulator for the run (host: the POSIX virtual device; lm3s6965evb: the
Cortex-M3 image under QEMU), --port uses a running board (any pyserial URL). --realtime paces the
loop to the wall clock at the config's sensor rate; a reply after the control period is a deadline
miss. Faults (kind@start:duration[:param], seconds of flight time): sensor kinds dropout, stuck,
noise, spike; link kinds delay (ms), drop (p), corrupt (p), silent, unplug, made for real on the
link. After a link fault the board's network restarts from reset state; the monitor holds the safe
action until replies are on time again. --compare replays the observations the board was given
through the in-process integer network and reports whether every action is bit-identical.

--onboard: the board steps the network from its own timer at the control period (snnctl device
start); the host sends each observation as a SENSOR sample and applies the outputs of the first
board period that used it, so the flight runs in real time at the board's pace. Reported besides
the flight metrics: the board's own counters (missed deadlines, periods without a fresh sample,
fail-safe entries) and the samples that missed a period boundary (late samples: the board stepped
on the previous one meanwhile). --sensor-cut START:DURATION withholds the samples of that stretch
of flight (seconds): after --stale-limit periods the board holds its fail-safe outputs until they
return. --compare checks every period the board stepped against the in-process network.
--telemetry OUT.csv writes every board period (inputs, outputs, flags, step time) and plots it to OUT.png.
A gym config plays held-out episodes of its env with the board's actions and compares every action
and output code with the in-process network's (exit status 1 unless all are identical); of the
options above it takes --episodes, --seed, --deadline-ms (default 1 s), --force-rate, --json.
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hil",
        help="hardware in the loop: the blimp (or a gym env) simulated, its SNN on a board",
        description="Fly held-out blimp profiles in MuJoCo with the SNN running on a (emulated) board.",
        epilog=_HIL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="experiment TOML file, e.g. configs/blimp_pid.toml")
    p.add_argument("--controller", required=True, metavar="NET.snn", help="the network to run on the board")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", metavar="URL", help="a running board: serial device or pyserial URL")
    where.add_argument("--board", choices=boards.names("hil"), type=boards.argparse_type("hil"),
                       help="start this board's emulator for the run (and stop it after)")  # fmt: skip
    p.add_argument("--realtime", action="store_true", help="pace the loop to the wall clock")
    p.add_argument("--sensing", choices=("fixed", "delta", "adaptive"), default="fixed",
                   help="sensing policy (default fixed: a sample every step)")  # fmt: skip
    p.add_argument("--faults", metavar="SPEC", help="fault injection, e.g. 'dropout@30:5,unplug@60:5'")
    p.add_argument("--episodes", type=int, default=1, help="held-out flights (default 1)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="seconds per flight (default: [run] episode_s, 120 s in blimp_pid.toml)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="first held-out flight index; also seeds fault draws")
    p.add_argument("--force-rate", action="store_true",
                   help="fly a network made for another control period than the config's (else refused)")  # fmt: skip
    p.add_argument("--deadline-ms", type=float, metavar="MS",
                   help="how long a step waits for the board (default: the control period)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plot", metavar="OUT.png", help="timeline of the first flight (altitude, action, flags)")
    p.add_argument("--log", metavar="OUT.npz", help="save per-step observations, codes and actions")
    p.add_argument("--onboard", action="store_true",
                   help="run the network on board from its own timer; the host only feeds it samples")  # fmt: skip
    p.add_argument("--sensor-cut", metavar="START:DURATION", type=_span,
                   help="--onboard: withhold the samples of this stretch of flight (seconds)")  # fmt: skip
    p.add_argument("--stale-limit", type=int, default=3, metavar="K",
                   help="--onboard: the board's fail-safe after K periods without a sample (default 3)")  # fmt: skip
    p.add_argument("--telemetry", metavar="OUT.csv",
                   help="--onboard: every board period's telemetry as CSV, and its plot as OUT.png")  # fmt: skip
    p.add_argument("--compare", nargs="?", const="", metavar="LOG.npz",
                   help="check bit-identity with the in-process network: of this run, or of a saved log")  # fmt: skip
    p.set_defaults(handler=_cmd_hil)


def _span(text: str) -> tuple[float, float]:
    try:
        start, duration = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:DURATION in seconds, e.g. 30:1, got {text!r}") from None
    if not (math.isfinite(start) and math.isfinite(duration) and start >= 0 and duration > 0):
        raise argparse.ArgumentTypeError(f"START must be >= 0 and DURATION > 0 seconds, got {text!r}")
    return start, duration


# -- the command ---------------------------------------------------------------------------------


def _cmd_hil(args: argparse.Namespace) -> int:
    family = families.family_of(args.config)
    mod = families.module_of(family)
    if hasattr(mod, "hil_main"):  # a family that plays its own env against the board (gym)
        return _family_hil(args, family, mod)
    if family != "blimp":
        raise UserError(f"{args.config}: snnctl hil flies blimp and gym experiments; this one is a {family} experiment")
    net, _ = load_network(args.controller)
    if args.compare:  # a saved log: no flight
        if args.port or args.board:
            raise UserError("--compare LOG.npz checks a saved log; leave out --port/--board (or give --compare alone)")
        return _print_compare(_compare_file(net, args.compare, args.controller), args.json)
    if not (args.port or args.board):
        raise UserError(f"say where the network runs: --board {'|'.join(boards.names('hil'))} or --port URL")
    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed < 0:
        raise UserError(f"--seed is the first held-out flight index and must be >= 0, got {args.seed}")
    if args.deadline_ms is not None and not (math.isfinite(args.deadline_ms) and args.deadline_ms > 0):
        raise UserError(f"--deadline-ms must be a positive number, got {args.deadline_ms}")
    from sim.faults import FaultSpecError, parse_faults

    try:
        faults = parse_faults(args.faults)
    except FaultSpecError as e:
        raise UserError(f"--faults: {e}") from None
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise UserError(f"--duration must be a positive number of seconds, got {args.duration}")
    _, cfg = families.load(args.config, {"run.episode_s": args.duration} if args.duration is not None else None)
    if args.plot:
        try:
            import sim.loop_plots  # noqa: F401 - checked before the flight, not after it
        except ImportError as e:
            raise UserError(f"--plot needs sim.loop_plots ({e})") from None
        args.plot = output_file(args.plot, "--plot", image_suffixes(), ".png")
    if args.log:  # numpy adds .npz to a name without it
        args.log = output_file(args.log, "--log", (".npz",), ".npz")
    if args.onboard:
        if faults:
            raise UserError("--faults does not apply with --onboard (the board's clock runs the loop); cut the"
                            " sensor channel with --sensor-cut START:DURATION")  # fmt: skip
        for flag, given in (("--log", args.log), ("--deadline-ms", args.deadline_ms is not None)):
            if given:
                raise UserError(f"{flag} does not apply with --onboard (the board runs its own loop)")
        if not 0 <= args.stale_limit <= 0xFFFF:
            raise UserError(f"--stale-limit must be 0..65535, got {args.stale_limit}")
        if args.telemetry:
            args.telemetry = output_file(args.telemetry, "--telemetry", (".csv",), ".csv")
    elif args.sensor_cut is not None or args.telemetry:
        raise UserError("--sensor-cut and --telemetry belong to the on-board loop; add --onboard")
    from firmware_bridge.device import DeviceError

    try:
        report = fly_onboard(cfg, args, net) if args.onboard else fly(cfg, args, net, faults)
    except DeviceError as e:
        raise UserError(str(e)) from None
    if args.json:
        print(json.dumps(report, indent=2, default=_json_default))
    else:
        print(format_report(report))
    bad = report.get("compare") is not None and not report["compare"]["identical"]
    return 1 if bad else 0


# options of the blimp's loop that a family's own `hil_main` does not take (flag -> argparse dest, unset value)
_LOOP_ONLY = {"--realtime": ("realtime", False), "--sensing": ("sensing", "fixed"), "--faults": ("faults", None),
              "--duration": ("duration", None), "--plot": ("plot", None), "--log": ("log", None)}  # fmt: skip


def _family_hil(args: argparse.Namespace, family: str, mod: Any) -> int:
    """`snnctl hil` for a family with `hil_main(cfg, HilOptions)`: the board started here, the episodes the family's;
    every action is compared with the in-process network's (exit 1 unless all are bit-identical)."""
    from evolve.run_options import HilOptions
    from firmware_bridge.device import DeviceError

    for flag, (dest, unset) in _LOOP_ONLY.items():
        if getattr(args, dest, unset) != unset:
            raise UserError(f"{flag} does not apply to a {family} experiment (snnctl hil plays its env step by step)")
    if args.compare:
        raise UserError(f"--compare LOG.npz does not apply to a {family} experiment; every step is compared anyway")
    if not (args.port or args.board):
        raise UserError(f"say where the network runs: --board {'|'.join(boards.names('hil'))} or --port URL")
    if args.episodes < 1 or args.seed < 0:
        raise UserError(f"--episodes must be >= 1 and --seed >= 0, got {args.episodes} and {args.seed}")
    if args.deadline_ms is not None and not (math.isfinite(args.deadline_ms) and args.deadline_ms > 0):
        raise UserError(f"--deadline-ms must be a positive number, got {args.deadline_ms}")
    load_network(args.controller)  # a missing or broken file is one line before any board starts
    _, cfg = families.load(args.config)
    emu = _start_board(args.board, args.controller) if args.board else None
    try:
        opts = HilOptions(args.controller, emu.url if emu else args.port, args.board or args.port, args.episodes,
                          args.seed, 1.0 if args.deadline_ms is None else args.deadline_ms / 1e3, args.force_rate,
                          args.quiet)  # fmt: skip
        report = mod.hil_main(cfg, opts)
    except DeviceError as e:
        raise UserError(str(e)) from None
    finally:
        if emu is not None:
            emu.close()
    print(json.dumps(report, indent=2) if args.json else mod.format_hil(report))
    return 0 if report["identical"] else 1


def _json_default(x: Any) -> Any:
    if isinstance(x, np.integer | np.floating):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON: {type(x).__name__}")


def _flight_env(cfg: dict, args: argparse.Namespace, net: Any) -> tuple[Any, list[int], float]:
    """(env, held-out seeds, control period), the network checked against both before any board starts."""
    from evolve.blimp_experiment import env_kwargs
    from sim.blimp import BlimpAltitudeEnv
    from sim.loop import heldout_seeds
    from snnctl.controllers.snn import check_control_period, check_fits_env

    env = BlimpAltitudeEnv(**env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"]))
    period = float(env.dt)
    try:
        seeds = heldout_seeds(env, args.episodes, args.seed)
        check_fits_env(net, env, label=args.controller)
        check_control_period(net, period, args.force_rate, label=args.controller)
    except ValueError as e:  # ControlPeriodError and ShapeMismatchError are ones
        env.close()
        raise UserError(str(e)) from None
    return env, seeds, period


def fly(cfg: dict, args: argparse.Namespace, net: Any, faults: list) -> dict[str, Any]:
    """Start the board (if asked), fly the held-out profiles through `LoopRunner`, and report."""
    from tqdm import tqdm

    from firmware_bridge.link_faults import LinkFaultProxy, link_faults_of
    from firmware_bridge.loop_device import board_extension, replay
    from sim.loop import run_heldout
    from snnctl.controllers.factory import load_backend

    env, seeds, period = _flight_env(cfg, args, net)
    deadline = period if args.deadline_ms is None else args.deadline_ms / 1e3
    emu = proxy = backend = None
    try:
        url = args.port
        if args.board:
            emu = _start_board(args.board, args.controller)
            url = emu.url
        link = link_faults_of(faults)
        if link:
            try:
                proxy = LinkFaultProxy(url, link, seed=args.seed)
            except ValueError as e:
                raise UserError(f"--faults: link faults need a socket:// URL or a tty path: {e}") from None
        # paced to the clock, a step with no reply must still end inside its period: the backend gives
        # up after 80 % of the deadline, leaving the rest for the physics step and the monitor
        on_board = board_extension(deadline_s=deadline * (0.8 if args.realtime else 1))
        backend = load_backend(f"{args.controller}@{proxy.url if proxy else url}", period, force=args.force_rate,
                               extensions=[on_board])  # fmt: skip
        steps = args.episodes * int(round(cfg["run"]["episode_s"] / period))
        bar = tqdm(total=steps, unit="step", desc=f"hil {backend.info.name if backend.info else ''}", file=sys.stderr,
                   disable=True if args.quiet else None, leave=False)  # fmt: skip

        def on_step(_k: int, t: float) -> None:
            if proxy is not None:
                proxy.set_time(t)  # link faults switch on and off with flight time
            bar.update(1)

        # the sensing policy by name: LoopRunner builds it with the defaults the blimp declares
        with bar:
            results = run_heldout(env, backend, args.sensing, first=args.seed, seeds=seeds, faults=faults,
                                  realtime=args.realtime, deadline_s=deadline if args.realtime else None,
                                  link_faults_in_process=False, on_step=on_step)  # fmt: skip
        board = backend.info.name if backend.info else "device"
        journal = backend.journal.arrays()
        link_stats = None if proxy is None else proxy.stats.__dict__.copy()
        backend_stats = {"uploads": backend.uploads, "reconnects": backend.reconnects, "faults": dict(backend.faults),
                         "watchdog_trips": backend.watchdog_trips}  # fmt: skip
        image = None
        if args.board and not boards.get(args.board).is_program and backend.dev is not None:
            image = _image_report(args.board, _flash_network(args.board, args.controller), backend.dev.hello().free_ram)
    finally:
        for thing in (backend, proxy, emu):
            if thing is not None:
                thing.close()
        env.close()
    report = summarise(results, args, board, url, period)
    report["backend"] = backend_stats
    if image is not None:
        report["image"] = image
    if link_stats is not None:
        report["link"] = link_stats
    if args.log:
        save_log(Path(args.log), journal, results)
        report["log"] = args.log
    if args.compare is not None:
        report["compare"] = _compare_dict(replay(net, journal))
    if args.plot:
        _plot(Path(args.plot), results[0], f"{Path(args.controller).name} on {board}", cfg["env"]["thrust_gain_n"])
        report["plot"] = args.plot
    return report


def fly_onboard(cfg: dict, args: argparse.Namespace, net: Any) -> dict[str, Any]:
    """The held-out flights with the network running on board (`OnboardBackend`): the board paces them."""
    from tqdm import tqdm

    from firmware_bridge.onboard_backend import OnboardBackend
    from sim.loop import run_heldout

    env, seeds, period = _flight_env(cfg, args, net)
    emu = backend = None
    try:
        url = args.port
        if args.board:
            emu = _start_board(args.board, args.controller)
            url = emu.url
        backend = OnboardBackend(args.controller, url, period, stale_limit=args.stale_limit,
                                 force_rate=args.force_rate, sensor_cut=args.sensor_cut)  # fmt: skip
        steps = args.episodes * int(round(cfg["run"]["episode_s"] / period))
        with tqdm(total=steps, unit="step", desc=f"hil on board {backend.info.name}", file=sys.stderr,
                  disable=True if args.quiet else None, leave=False) as bar:  # fmt: skip
            # not paced here: every act waits for the board's period that used its sample
            results = run_heldout(env, backend, args.sensing, first=args.seed, seeds=seeds, realtime=False,
                                  deadline_s=None, on_step=lambda _k, _t: bar.update(1))  # fmt: skip
        backend.reset()  # STOP: the last periods' frames and the final counters
        board = backend.info.name or "device"
        c = backend.counters()
        onboard = {"period_us": backend.period_us, "stale_limit": backend.stale_limit,
                   "sensor_cut": list(args.sensor_cut) if args.sensor_cut else None, "frames": len(backend.frames),
                   "late_samples": backend.late_samples, "held_periods": backend.held_periods,
                   "tail_periods": backend.tail_periods,
                   "withheld_samples": backend.cut_steps, "device": c}  # fmt: skip
        rep = backend.replay() if args.compare is not None else None
        image = None
        if args.board and not boards.get(args.board).is_program:
            image = _image_report(args.board, _flash_network(args.board, args.controller), backend.dev.hello().free_ram)
        if args.telemetry:
            log = backend.telemetry_log()
            log.write_csv(args.telemetry)
            onboard["telemetry_csv"] = args.telemetry
            if log.frames:
                onboard["telemetry_plot"] = str(Path(args.telemetry).with_suffix(".png"))
                fig = log.figure(title=f"{Path(args.controller).name} on board {board}")
                fig.savefig(onboard["telemetry_plot"], dpi=110)
    finally:
        for thing in (backend, emu):
            if thing is not None:
                thing.close()
        env.close()
    report = summarise(results, args, board, url, period)
    report["onboard"] = onboard
    if image is not None:
        report["image"] = image
    report["mean"]["synops_per_s"] = None  # TELEMETRY carries spikes, not synaptic operations
    if rep is not None:
        report["compare"] = {"identical": rep.identical, "steps": rep.periods, "faulted_steps": 0,
                             "code_mismatches": rep.mismatches, "action_mismatches": 0, "count_mismatches": 0,
                             "first_mismatch": rep.first_mismatch, "inconsistencies": []}  # fmt: skip
    if args.plot:
        _plot(
            Path(args.plot), results[0], f"{Path(args.controller).name} on board {board}", cfg["env"]["thrust_gain_n"]
        )
        report["plot"] = args.plot
    return report


def _start_board(board: str, controller: str | None = None):
    """Start `board`'s emulator; with the `controller` compiled into the image when the board's upload
    slots cannot hold it (a 2 KB AVR runs the blimp controller only from flash, firmware-boards.md §3)."""
    from firmware_bridge.emulators import start_emulator

    try:
        return start_emulator(board, network=_flash_network(board, controller))
    except (RuntimeError, ValueError, OSError) as e:
        raise UserError(str(e)) from None


def _flash_network(board: str, controller: str | None) -> str | None:
    """`controller` if it must be compiled into `board`'s image (too large to upload), else None."""
    if controller is None or boards.get(board).is_program:
        return None
    from firmware_bridge.flash_network import fits_upload, read_network

    net, blob = read_network(controller)
    return None if fits_upload(net, len(blob), boards.get(board)) else controller


def _image_report(board: str, network: str | None, free_ram: int) -> dict[str, Any]:
    """Flash and static RAM of the image the emulator runs, and the stack headroom the board reports
    (HELLO free_ram: painted RAM the stack never touched, after the flight)."""
    from firmware_bridge import build

    sizes = build.firmware_size(build.build_firmware(board, network=network))
    spec = boards.get(board)
    return {"network_in_flash": network is not None, "flash_bytes": sizes["flash"], "ram_bytes": sizes["ram"],
            "free_ram": free_ram, "chip_flash_bytes": spec.flash_bytes, "chip_ram_bytes": spec.ram_bytes}  # fmt: skip


# -- summary ------------------------------------------------------------------------------------

_MEAN_KEYS = ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "control_effort", "samples_per_s",
              "bytes_out_per_s", "bytes_in_per_s", "bytes_per_s", "spikes_per_s", "synops_per_s")  # fmt: skip


def summarise(results: list, args: argparse.Namespace, board: str, url: str, period: float) -> dict[str, Any]:
    """Per-flight summaries, their mean, and latency pooled over every step of every flight."""
    per = [r.summary() for r in results]
    lat = np.concatenate([r.column("latency_s")[r.column("called").astype(bool)] for r in results])
    lat = lat[np.isfinite(lat)] * 1e3
    from sim.metrics import summarize

    mean = {k: s["mean"] for k, s in summarize(per, _MEAN_KEYS).items()}
    flags: dict[str, int] = {}
    for s in per:
        for k, v in s["flags"].items():
            flags[k] = flags.get(k, 0) + v
    return {
        "controller": args.controller,
        "board": board,
        "url": url,
        "realtime": bool(args.realtime),
        "control_hz": 1.0 / period,
        "sensing": per[0]["sensing"],
        "faults": per[0]["faults"],
        "episodes": len(per),
        "steps": int(sum(s["steps"] for s in per)),
        "controller_calls": int(sum(s["controller_calls"] for s in per)),
        "deadline_misses": int(sum(s["deadline_misses"] for s in per)),
        "answers": answers(results),
        "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "latency_max_ms": float(lat.max()) if lat.size else None,
        "flags": flags,
        "flagged_steps": int(sum(s["flagged_steps"] for s in per)),
        "mean": mean,
        "flights": per,
    }


def answers(results: list) -> dict[str, Any]:
    """What became of every controller call, in categories that add up to the calls: answered in time,
    answered after the deadline (a late reply, not used), and without an answer, by kind (timeout,
    disconnected, fault: the backend gave up, the step flew the safe action)."""
    in_time = late = 0
    none: dict[str, int] = {}
    for rec in (rec for res in results for rec in res.records if rec.called):
        if rec.fault is None:
            in_time += 1
        elif rec.fault == "late":
            late += 1
        else:
            none[rec.fault] = none.get(rec.fault, 0) + 1
    return {"in_time": in_time, "late": late, "none": sum(none.values()), "none_by_kind": dict(sorted(none.items()))}


def format_report(r: dict[str, Any]) -> str:
    m = r["mean"]
    pace = "real time" if r["realtime"] else "as fast as the board answers"
    if r.get("onboard"):
        pace = "on board, paced by the board's timer"
    lines = [
        f"hardware in the loop: {Path(r['controller']).name} on {r['board']} ({r['url']})",
        f"  {plural(r['episodes'], 'held-out flight')}, {plural(r['steps'], 'step')} at {r['control_hz']:g} Hz,"
        f" {pace}, sensing {r['sensing']}" + (f", faults {', '.join(r['faults'])}" if r["faults"] else ""),
        "",
        f"  {'metric':34}{'value':>14}",
    ]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:34}{value:>14}")

    def num(x: Any, fmt: str = "{:.4f}") -> str:
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)

    for label, key in (("RMSE (m)", "rmse_m"), ("steady-state error (m)", "steady_state_error_m"),
                       ("overshoot up (m)", "overshoot_up_m"), ("overshoot down (m)", "overshoot_down_m"),
                       ("mean |u|", "control_effort")):  # fmt: skip
        if key in m:
            row(label, num(m[key]))
    a = r["answers"]
    row("controller calls", str(r["controller_calls"]))
    if r["realtime"]:
        row("  answered in time", str(a["in_time"]))
        row("  answered after the deadline", str(a["late"]))
    else:  # not paced: no deadline, only the reply timeout
        row("  answered", str(a["in_time"] + a["late"]))
    kinds = ", ".join(f"{k} {v}" for k, v in a["none_by_kind"].items())
    row("  without an answer", str(a["none"]))
    if kinds:
        lines[-1] += f"   ({kinds})"
    lat = (num(r[k], "{:.2f}") for k in ("latency_p50_ms", "latency_p99_ms", "latency_max_ms"))
    row("latency p50 / p99 / max (ms)", " / ".join(lat))
    row("sensor samples per second", num(m.get("samples_per_s"), "{:.2f}"))
    row("bytes per second (out / in)", f"{num(m.get('bytes_out_per_s'), '{:.0f}')} / "
                                       f"{num(m.get('bytes_in_per_s'), '{:.0f}')}")  # fmt: skip
    row("spikes per second", num(m.get("spikes_per_s"), "{:.1f}"))
    row("synaptic operations per second", num(m.get("synops_per_s"), "{:.0f}"))
    flags = ", ".join(f"{k} {v}" for k, v in sorted(r["flags"].items())) or "none"
    row("monitor flags", flags)
    row("flagged steps", str(r["flagged_steps"]))
    to_flag = r["flights"][0].get("steps_to_flag", [])
    if to_flag:
        lines.append("  faults of the first flight, steps from the window's start to the monitor's flag:")
        for f in to_flag:
            lines.append(f"    {f['fault']:30}{'not flagged' if f['steps'] is None else f['steps']:>14}")
    ob = r.get("onboard")
    if ob:
        d = ob["device"]
        row("board periods (telemetry frames)", f"{d['run_periods']} ({ob['frames']})")
        row("  missed deadlines (board)", str(d["missed_deadlines"]))
        row("  periods without a fresh sample", str(d["missing_samples"]))
        row("  fail-safe entries", str(d["failsafe_entries"]))
        row("late samples (missed a period)", str(ob["late_samples"]))
        if ob["sensor_cut"]:
            row("samples withheld (--sensor-cut)", str(ob["withheld_samples"]))
        for key in ("telemetry_csv", "telemetry_plot"):
            if ob.get(key):
                lines.append(f"telemetry: {ob[key]}")
    b = r.get("backend")
    if b:
        faults = ", ".join(f"{k} {v}" for k, v in b["faults"].items() if v) or "none"
        ups, recs = plural(b["uploads"], "upload"), plural(b["reconnects"], "reconnect")
        lines.append(f"  board: {ups}, {recs}, link faults: {faults}")
    im = r.get("image")
    if im:
        where = "network compiled into flash" if im["network_in_flash"] else "network uploaded"
        lines.append(f"  image: {where}; flash {im['flash_bytes']:,} of {im['chip_flash_bytes']:,} B, static RAM"
                     f" {im['ram_bytes']:,} of {im['chip_ram_bytes']:,} B; stack headroom {im['free_ram']:,} B"
                     " (painted RAM the stack never touched, after the flight)")  # fmt: skip
    c = r.get("compare")
    if c:
        lines.append(_compare_line(c))
    for key, what in (("log", "log"), ("plot", "plot")):
        if r.get(key):
            lines.append(f"{what}: {r[key]}")
    return "\n".join(lines)


# -- logs and bit identity ----------------------------------------------------------------------


def save_log(path: Path, journal: dict[str, np.ndarray], results: list) -> None:
    """What the board was given and answered (`j_*`, per controller call) and what the loop did (`loop_*`, per step)."""
    loop: dict[str, np.ndarray] = {}
    for name in ("t", "truth", "reference", "action", "controller_u", "flagged", "called", "latency_s"):
        loop[f"loop_{name}"] = np.concatenate([r.column(name) for r in results])
    loop["loop_deadline_miss"] = np.concatenate([r.column("deadline_miss") for r in results])
    loop["loop_episode"] = np.concatenate([np.full(len(r.records), i) for i, r in enumerate(results)])
    try:
        np.savez_compressed(path, **{f"j_{k}": v for k, v in journal.items()}, **loop)
    except OSError as e:
        raise UserError(f"{path}: {e.strerror or e}") from None


def load_log(path: str) -> dict[str, np.ndarray]:
    """The journal part of a `--log` file, as `firmware_bridge.loop_device.replay` takes it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            log = {k[2:]: z[k] for k in z.files if k.startswith("j_")}
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a snnctl hil log ({e})") from None
    need = {"obs", "codes_in", "codes_out", "answered", "reset_before", "board_step"}
    if not need <= set(log):
        raise UserError(f"{path}: not a snnctl hil log (missing {', '.join(sorted(need - set(log)))})")
    return log


def _compare_file(net: Any, path: str, label: str) -> dict[str, Any]:
    """Replay a saved log through `net`: only a network of the logged one's shape can be compared."""
    from firmware_bridge.loop_device import replay
    from snnctl.controllers.snn import describe_io

    log = load_log(path)
    n_obs, n_in, n_out = (log[k].shape[1] if log[k].ndim == 2 else 1 for k in ("obs", "codes_in", "codes_out"))
    if (n_in, n_out) != (net.n_inputs, net.n_outputs):
        took = f"{plural(n_in, 'input code')} from {plural(n_obs, 'observation entry', 'observation entries')}"
        raise UserError(f"{label} ({describe_io(net)}) cannot have flown {path}: the board there took {took}"
                        f" and answered {plural(n_out, 'output code')}")  # fmt: skip
    return _compare_dict(replay(net, log))


def _compare_dict(rep: Any) -> dict[str, Any]:
    return {
        "identical": rep.identical,
        "steps": rep.steps,
        "faulted_steps": rep.faulted,
        "code_mismatches": rep.code_mismatches,
        "action_mismatches": rep.action_mismatches,
        "count_mismatches": rep.count_mismatches,
        "first_mismatch": rep.first_mismatch,
        "inconsistencies": rep.inconsistencies,
    }


def _compare_line(c: dict[str, Any]) -> str:
    if c["identical"]:
        return (f"bit-identical to the in-process network: yes ({c['steps']} answered steps"
                + (f"; {c['faulted_steps']} without an answer" if c["faulted_steps"] else "") + ")")  # fmt: skip
    parts = [plural(c["action_mismatches"], "action"), plural(c["code_mismatches"], "code vector"),
             plural(c["count_mismatches"], "spike/synop count")]  # fmt: skip
    first = f", first at call {c['first_mismatch']}" if c["first_mismatch"] is not None else ""
    extra = f"; {'; '.join(c['inconsistencies'][:3])}" if c["inconsistencies"] else ""
    return f"bit-identical to the in-process network: NO ({', '.join(parts)} differ of {c['steps']}{first}){extra}"


def _print_compare(c: dict[str, Any], as_json: bool) -> int:
    print(json.dumps(c, indent=2, default=_json_default) if as_json else _compare_line(c))
    return 0 if c["identical"] else 1


def _plot(path: Path, result: Any, title: str, thrust_gain_n: float) -> None:
    from sim import loop_plots
    from sim.blimp_loop import blimp_plot_labels

    try:
        loop_plots.plot_timeline(path, result, title=title, **blimp_plot_labels(thrust_gain_n))
    except OSError as e:
        raise UserError(f"{path}: {e.strerror or e}") from None
