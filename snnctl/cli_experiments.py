"""`snnctl evolve` and `snnctl run`: experiments described by one TOML file in configs/.

Kept apart from snnctl/cli.py; `cli.build_parser` calls `add_parsers(sub)`. The
experiment code (MuJoCo, DEAP) is imported inside the handlers only, so `import snnctl` and
`snnctl --help` stay light.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from snnctl.cli_common import UserError

_EVOLVE_EPILOG = """\
examples:
  snnctl evolve configs/blimp_pid.toml                      the main job on the file's settings
  snnctl evolve configs/blimp_pid.toml --generations 20 --workers 1 --out runs/quick
  snnctl evolve configs/blimp_pid.toml --resume runs/blimp  continue a stopped run exactly
  snnctl evolve configs/blimp_closed_loop.toml --backend ray --ray-address auto

The run folder holds the resolved config, log.csv / log.jsonl, best_genome.npy, best.snn,
checkpoint.pkl, and PNG plots (fitness.png, flight.png, raster.png). The same --seed gives the same
result with any --workers or --backend.
"""

_RUN_EPILOG = """\
examples:
  snnctl run configs/blimp_pid.toml --controller runs/blimp/best.snn
  snnctl run configs/blimp_pid.toml --controller pid --episodes 20 --json
  snnctl run configs/blimp_pid.toml --controller runs/blimp/best.snn --plot flight.png

Flies held-out reference profiles (never used in training) with sensor noise and prints the
metrics: RMSE, steady-state error (mean |e| over the last 10 s of each step), overshoot (worst
error within 30 s after an up/down step), mean |u| and spikes per second.
"""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evolve", help="evolve a controller (the main job)", epilog=_EVOLVE_EPILOG, formatter_class=fmt,
                       description="Evolve an SNN controller as a config file describes.")  # fmt: skip
    p.add_argument("config", help="experiment TOML file, e.g. configs/blimp_pid.toml")
    p.add_argument("--generations", type=int, help="override [evolve] generations (closed-loop phase)")
    p.add_argument("--population", type=int, help="override [evolve] population")
    p.add_argument("--workers", type=int, help="worker processes (0 = all CPUs)")
    p.add_argument("--backend", choices=("serial", "process", "ray"), help="where evaluations run")
    p.add_argument("--ray-address", help="Ray cluster address (with --backend ray)")
    p.add_argument("--seed", type=int, help="run seed")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=_cmd_evolve)

    r = sub.add_parser("run", help="fly a controller on held-out profiles", epilog=_RUN_EPILOG, formatter_class=fmt,
                       description="Run a controller closed-loop and print the metrics table.")  # fmt: skip
    r.add_argument("config", help="experiment TOML file")
    r.add_argument("--controller", required=True, help="a .snn file, or 'pid'")
    r.add_argument("--episodes", type=int, help="held-out flights (default: [run] episodes)")
    r.add_argument("--seed", type=int, default=0, help="first held-out profile index (default 0)")
    r.add_argument("--json", action="store_true", help="print the metrics as JSON")
    r.add_argument("--plot", metavar="OUT.png", help="plot the first flight (altitude, reference, command)")
    r.set_defaults(handler=_cmd_run)


def _load(path: str, overrides: dict | None = None) -> dict:
    from snnctl.config import ConfigError, load_config

    if not Path(path).is_file():
        raise UserError(f"{path}: no such config file (examples live in configs/)")
    from evolve.blimp_experiment import SCHEMA

    try:
        return load_config(path, SCHEMA, overrides=overrides or {})
    except ConfigError as e:
        raise UserError(str(e)) from None


def _cmd_evolve(args: argparse.Namespace) -> int:
    overrides = {f"evolve.{k}": v for k, v in (("generations", args.generations), ("population", args.population),
                 ("workers", args.workers), ("backend", args.backend), ("ray_address", args.ray_address),
                 ("seed", args.seed)) if v is not None}  # fmt: skip
    cfg = _load(args.config, overrides)
    from evolve.backends import BackendError
    from evolve.blimp_experiment import copy_config, evolve_blimp
    from evolve.problem import ProblemError
    from evolve.runner import EvolveError

    out = Path(args.resume or args.out or Path("runs") / Path(args.config).stem)
    if args.resume and not any((d / "checkpoint.pkl").exists() for d in (out, out / "mimic")):
        raise UserError(f"{out}: no checkpoint.pkl to resume from")
    copy_config(Path(args.config), out)
    try:
        evolve_blimp(cfg, out, resume=bool(args.resume), progress=not args.quiet)
    except (EvolveError, BackendError, ProblemError) as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: snnctl evolve {args.config} --resume {out}")
        return 130
    print(f"run folder: {out}   (best network: {out / 'best.snn'})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    if args.episodes is not None and args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed < 0:
        raise UserError(f"--seed is the first held-out profile index and must be >= 0, got {args.seed}")
    cfg = _load(args.config)
    from evolve.blimp_experiment import fly_heldout, format_comparison, plot_flight
    from snnctl.snnfile import SnnFormatError

    if args.controller != "pid" and not Path(args.controller).is_file():
        raise UserError(f"{args.controller}: no such file (give a .snn network or 'pid')")
    try:
        metrics, rec = fly_heldout(cfg, args.controller, args.episodes, args.seed, record_first=bool(args.plot))
    except (SnnFormatError, ValueError) as e:
        raise UserError(str(e)) from None
    if args.plot:
        plot_flight(Path(args.plot), {Path(args.controller).stem if args.controller != "pid" else "PID": rec})
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_comparison({Path(args.controller).name: metrics}, metrics["episodes"]))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0
