"""`snnctl bench`: the benchmarks that print a table (and JSON with --json).

Each benchmark lives with what it measures; this module only parses the options, calls it and
turns its errors into one line: `runtime` (`snnctl.bench_runtime`), `firmware`
(`firmware_bridge.bench_firmware`), `loop` (`evolve.bench_loop`), `robustness`
(`evolve.blimp_robustness`), `evolve` (`evolve.multiseed`), `gym` (`evolve.gym_bench`), `har`
(`evolve.har_bench`). Each is imported in its handler.
"""

from __future__ import annotations

import argparse
import json

from firmware_bridge import boards
from snnctl.cli import families
from snnctl.cli.common import UserError, load_network, print_help

_BENCH_EPILOG = """\
examples:
  snnctl bench runtime                 time the integer runtime (and snnTorch/Norse if installed)
  snnctl bench runtime --steps 5000    longer timed runs
  snnctl bench runtime --json          results as JSON
  snnctl bench firmware                firmware size, instructions per step, serial round trip
  snnctl bench loop                    sensing policies on the blimp (--board: highest control rate)
  snnctl bench robustness CONFIG --controller NET.snn   the blimp under perturbed physics, vs the PID
  snnctl bench evolve CONFIG --seeds 1 2 3 4 5         a config's main job over seeds: spread, worst, goals
  snnctl bench gym --seeds 1 2 3      every configs/gym_*.toml: SNN vs a float linear policy, one table
  snnctl bench har                     HAR on every UEA/UCR dataset sktime ships, vs 1-NN and MiniRocket
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
    from evolve.bench_loop import run_loop_bench
    from firmware_bridge.device import DeviceError

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
    if families.family_of(args.config) != "blimp":
        raise UserError(f"{args.config}: bench robustness flies the blimp; this is not a blimp config")
    if args.episodes is not None and not 1 <= args.episodes <= 20:
        raise UserError(f"--episodes must be in 1..20 (the held-out set), got {args.episodes}")
    if args.controller != "pid":
        load_network(args.controller)  # a missing or damaged file is one line, before any flight
    _mod, cfg = families.load(args.config)
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
    mod, cfg = families.load(args.config)
    if not hasattr(mod, "bench_result"):
        fam = cfg["experiment"]["family"]
        hint = f" (its seed table: {mod.SEED_TABLE})" if hasattr(mod, "SEED_TABLE") else ""
        raise UserError(f"{args.config}: the {fam} family has no `bench evolve` table{hint}")
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


_BENCH_GYM_EPILOG = """\
examples:
  snnctl bench gym --seeds 1 2 3                              every shipped configs/gym_*.toml
  snnctl bench gym configs/gym_cartpole.toml configs/gym_acrobot.toml --seeds 1 2 3 --json
  snnctl bench gym --seeds 1 2 3 --fresh                      recompute everything

For each config and seed, `snnctl evolve` of the integer SNN (evolution, validated selection,
held-out episodes) and of a float linear policy with the same budget and observation scaling, then
one table: held-out return per seed and across seeds, the worst seed, neurons, synapses, spikes per
step, evolution wall time, the env's published threshold (met / NOT MET) and the linear baseline
(evolve/gym_bench.py). Results are cached in OUT/<config>/<config hash>/<snn|linear>/seed<N>: a
rerun recomputes only what changed (a config's content, a new seed); --fresh recomputes all.
"""


def _cmd_bench_gym(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from evolve import gym_bench
    from evolve.multiseed import machine_line
    from snnctl.errors import SnnctlError

    if len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        raise UserError(f"--seeds must be distinct non-negative integers, got {args.seeds}")
    paths = list(args.configs)
    if not paths:
        shipped = families.shipped_configs()
        paths = sorted(str(p) for p in shipped.glob("gym_*.toml")) if shipped is not None else []
        if not paths:
            raise UserError("no shipped configs/gym_*.toml here; give gym configs: snnctl bench gym CONFIG ...")
    configs = []
    for path in paths:
        _mod, cfg = families.load(path)
        if cfg["experiment"]["family"] != "gym":
            raise UserError(f"{path}: bench gym takes gym configs; this is a {cfg['experiment']['family']} config")
        configs.append((Path(path).stem, cfg))
    names = [n for n, _ in configs]
    if len(set(names)) != len(names):
        raise UserError(f"two configs share a file name ({', '.join(names)}): their results would share a folder")
    out = Path(args.out or Path("runs") / "bench_gym")
    try:
        rows = gym_bench.run_bench(configs, args.seeds, out, fresh=args.fresh, progress=not args.quiet)
    except (SnnctlError, ValueError) as e:
        raise UserError(str(e)) from None
    command = shlex.join(["snnctl", "bench", "gym", *args.configs, "--seeds", *map(str, args.seeds)])
    result = {"command": command, "seeds": list(args.seeds), "machine": machine_line(), "rows": rows}
    gym_bench.write_result(result, out)
    print(json.dumps(result, indent=2) if args.json else gym_bench.format_table(result))
    return 0


_BENCH_HAR_EPILOG = """\
examples:
  snnctl bench har                                   every shipped classification set, seeds 0 1 2
  snnctl bench har --datasets GunPoint,BasicMotions --seeds 0
  snnctl bench har --from path/to/UCR --config my_har.toml --json > har.json

Trains the HAR config (default: the shipped configs/har_l2mu.toml) on each UEA/UCR classification
dataset that sktime ships (or that --from holds: folders NAME/NAME_TRAIN.ts + NAME_TEST.ts), with
only the data and the model seed changed, each run in a fresh process (OUT/NAME/seed<N>), and
prints one table: integer and float accuracy, 1-NN Euclidean and MiniRocket on the same split,
neurons, arena bytes, synaptic operations per window, train time, peak memory, and the targets a
row misses (evolve/har_bench.py). Regression sets are skipped; unequal lengths are resampled to
the training split's median. The exit status is 0 whether or not the targets are met.
"""


def _cmd_bench_har(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from evolve import har_bench
    from evolve.multiseed import machine_line
    from snnctl.errors import SnnctlError

    if not args.seeds or len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        raise UserError(f"--seeds must be distinct non-negative integers, got {args.seeds}")
    config = args.config
    if config is None:
        shipped = families.shipped_configs()
        if shipped is None or not (shipped / "har_l2mu.toml").is_file():
            raise UserError("no shipped configs/har_l2mu.toml here; give a HAR config with --config")
        config = str(shipped / "har_l2mu.toml")
    mod, cfg = families.load(config)
    if cfg["experiment"]["family"] != "har":
        raise UserError(f"{config}: bench har trains a HAR config; this is a {cfg['experiment']['family']} config")
    roots = [Path(args.from_)] if args.from_ else har_bench.packaged_roots()
    if args.from_ and not roots[0].is_dir():
        raise UserError(f"--from {args.from_}: no such folder")
    if not roots:
        raise UserError("the UEA/UCR datasets come with sktime: pip install -e '.[har]', or give --from FOLDER")
    try:
        sets, skipped = har_bench.find_datasets(roots)
    except ValueError as e:  # a malformed .ts header (HARDataError) names its file and line
        raise UserError(str(e)) from None
    if args.datasets:
        wanted = [w.strip() for w in args.datasets.split(",") if w.strip()]
        by_name = {s.name.lower(): s for s in sets}
        unknown = [w for w in wanted if w.lower() not in by_name]
        if unknown:
            raise UserError(f"--datasets: {', '.join(unknown)} not among the classification sets in"
                            f" {', '.join(map(str, roots))}: {', '.join(s.name for s in sets)}")  # fmt: skip
        sets = [by_name[w.lower()] for w in wanted]
    if not sets:
        raise UserError(
            f"no classification dataset (NAME/NAME_TRAIN.ts + NAME_TEST.ts) in {', '.join(map(str, roots))}"
        )
    out = Path(args.out or Path("runs") / "bench_har")
    try:
        rows = har_bench.run_bench(cfg, sets, args.seeds, out, progress=not args.quiet)
    except (SnnctlError, ValueError) as e:
        raise UserError(str(e)) from None
    command = ["snnctl", "bench", "har", "--seeds", *map(str, args.seeds)]
    for flag, v in (("--datasets", args.datasets), ("--config", args.config), ("--from", args.from_)):
        command += [flag, v] if v else []
    command = shlex.join(command)
    result = {"command": command, "config": config, "seeds": list(args.seeds), "rows": rows,
              "skipped": skipped if not args.datasets else [], "machine": machine_line()}  # fmt: skip
    har_bench.write_result(result, out)
    print(json.dumps(result, indent=2) if args.json else har_bench.format_table(result))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
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
    p_bloop.add_argument("--board", choices=boards.names("bench-loop"), type=boards.argparse_type("bench-loop"),
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
    p_bgym = bench_sub.add_parser(
        "gym",
        help="every gym config over seeds, the SNN vs a float linear policy: one table (cached per config)",
        description="Evolve each gym config's SNN and a float linear baseline over seeds; one table.",
        epilog=_BENCH_GYM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_bgym.add_argument("configs", nargs="*", metavar="CONFIG", help="gym configs (default: every configs/gym_*.toml)")
    p_bgym.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], metavar="N",
                        help="run seeds (default 1 2 3)")  # fmt: skip
    p_bgym.add_argument("--out", metavar="DIR", help="cache and bench_gym.json (default runs/bench_gym)")
    p_bgym.add_argument("--fresh", action="store_true", help="recompute every result instead of reading the cache")
    p_bgym.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_bgym.add_argument("--quiet", action="store_true", help="no progress bar")
    p_bgym.set_defaults(handler=_cmd_bench_gym)
    p_bhar = bench_sub.add_parser(
        "har",
        help="HAR on every UEA/UCR dataset sktime ships: accuracy vs 1-NN and MiniRocket, cost, targets",
        description="Train a HAR config on each shipped UEA/UCR classification dataset over seeds; one table.",
        epilog=_BENCH_HAR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_bhar.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], metavar="N",
                        help="model seeds (default 0 1 2)")  # fmt: skip
    p_bhar.add_argument("--datasets", metavar="A,B", help="only these datasets (comma-separated names)")
    p_bhar.add_argument("--config", metavar="CONFIG", help="HAR config (default: the shipped configs/har_l2mu.toml)")
    p_bhar.add_argument("--from", dest="from_", metavar="DIR",
                        help="folder of UEA/UCR dataset folders (default: those sktime ships)")  # fmt: skip
    p_bhar.add_argument("--out", metavar="DIR", help="run folders and bench_har.json (default runs/bench_har)")
    p_bhar.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p_bhar.add_argument("--quiet", action="store_true", help="no progress bar")
    p_bhar.set_defaults(handler=_cmd_bench_har)
    p_bench.set_defaults(handler=lambda _args: print_help(p_bench))
