"""`snnctl evolve`, `snnctl train` and `snnctl run`: experiments described by one TOML file in configs/.

`snnctl.cli.build_parser` calls `add_parsers(sub)`. The config's `[experiment] family` picks the
code (`snnctl.cli.families`); that code (MuJoCo, DEAP) is imported inside the handlers only, so
`import snnctl` and `snnctl --help` stay light.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import sys
from pathlib import Path

from snnctl.cli import families
from snnctl.cli.common import UserError, image_suffixes, output_file

_EVOLVE_EPILOG = """\
examples:
  snnctl evolve configs/blimp_pid.toml                      the main job on the file's settings
  snnctl evolve configs/blimp_pid.toml --generations 20 --workers 1 --out runs/quick
  snnctl evolve configs/blimp_pid.toml --resume runs/blimp_pid  continue a stopped run exactly
  snnctl evolve configs/blimp_pid.toml --mimic-generations 20 --generations 10 --episode-s 30 --out runs/short
  snnctl evolve configs/blimp_closed_loop.toml --backend ray --ray-address auto
  snnctl evolve configs/swimmer_ncap.toml                   the spiking NCAP swimmer

The run folder holds the resolved config, log.csv / log.jsonl, best_genome.npy, best.snn,
checkpoint.pkl, run.json (the config and command it was started with), and PNG plots (fitness.png,
flight.png, raster.png). The same --seed gives the same result with any --workers or --backend.
Ctrl-C keeps the last checkpoint, exports the best validated candidate so far (best.snn) and prints
the one command that continues the run to the same target: --resume with the same config and flags.
"""

_RUN_EPILOG = """\
examples:
  snnctl run configs/blimp_pid.toml --controller runs/blimp_pid/best.snn
  snnctl run configs/blimp_pid.toml --controller pid --episodes 20 --json
  snnctl run configs/blimp_pid.toml --controller runs/blimp_pid/best.snn --plot flight.png
  snnctl run configs/blimp_pid.toml --controller runs/blimp_pid/best.snn --sensing delta \\
      --faults 'dropout@30:5,unplug@60:5' --plot loop.png
  snnctl run configs/swimmer_ncap.toml --controller runs/swimmer_ncap/best.snn --n-links 8 --video swim.mp4
  snnctl run configs/har_l2mu.toml --controller runs/har_l2mu/best.snn --json
  snnctl run configs/har_l2mu.toml --controller runs/har/best.snn --data path/to/GunPoint --length 100

Runs a controller on held-out episodes (never used in training) and prints the metrics. Blimp:
RMSE, steady-state error (mean |e| over the last 10 s of each step), overshoot (worst error within
30 s after an up/down step), mean |u| and spikes per second. The options below the common ones
belong to one family each; giving one to another family is an error.
"""

_TRAIN_EPILOG = """\
examples:
  snnctl train configs/har_l2mu.toml
  snnctl train configs/har_l2mu.toml --data path/to/BasicMotions --out runs/har
  snnctl train configs/har_l2mu.toml --data path/to/PLAID --length 300 --normalise series

The data options (window length, missing values, channels, normalisation, rate) are kept in
best.snn; `snnctl run` repeats them and refuses data of another length unless --length resamples it.

The same as `snnctl evolve` for families whose training is not (only) evolution: HAR fits the
L2MU's readout in closed form on the integer network's own features.
"""


# The HAR [data] options a flag sets: (argparse dest, flag, config key under [data]); `_add_data_flags`.
_DATA_FLAGS = (("data", "--data", "path"), ("length", "--length", "length"),
               ("length_mode", "--length-mode", "length_mode"), ("nan", "--nan", "nan"),
               ("channels", "--channels", "channels"), ("normalise", "--normalise", "normalise"),
               ("rate_hz", "--rate-hz", "rate_hz"))  # fmt: skip


def _add_data_flags(group: argparse._ActionsContainer) -> None:
    """The [data] flags of `snnctl evolve/train/run` on a HAR config (each overrides its config key)."""
    group.add_argument("--data", help="dataset folder or file (overrides [data] path)")
    group.add_argument("--length", type=int, metavar="N", help="steps per window ([data] length; 0 = the data's own)")
    group.add_argument("--length-mode", metavar="MODE",
                       help="resample | pad | crop: how a window gets --length steps ([data] length_mode)")  # fmt: skip
    group.add_argument("--nan", metavar="MODE", help="refuse | interpolate | hold: missing values ([data] nan)")
    group.add_argument("--channels", metavar="A,B",
                       help="channels used, names or 0-based indices, comma-separated ([data] channels)")  # fmt: skip
    group.add_argument("--normalise", metavar="MODE", help="none | series | dataset | auto ([data] normalise)")
    group.add_argument("--rate-hz", type=float, metavar="HZ",
                       help="sample rate when the data does not say it ([data] rate_hz)")  # fmt: skip


def _data_overrides(args: argparse.Namespace) -> dict:
    """Config overrides from the [data] flags given (a comma list becomes the channels list)."""
    out = {}
    for dest, _, key in _DATA_FLAGS:
        v = getattr(args, dest, None)
        if v is not None:
            out[f"data.{key}"] = [c.strip() for c in v.split(",") if c.strip()] if dest == "channels" else v
    return out


def _data_argv(args: argparse.Namespace) -> list[str]:
    """The [data] flags of this command line, to repeat in a suggested command."""
    return [x for dest, flag, _ in _DATA_FLAGS if getattr(args, dest, None) is not None
            for x in (flag, str(getattr(args, dest)))]  # fmt: skip


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("evolve", help="evolve a controller (the main job)", epilog=_EVOLVE_EPILOG, formatter_class=fmt,
                       description="Evolve an SNN controller as a config file describes.")  # fmt: skip
    p.add_argument("config", help="experiment TOML file, e.g. configs/blimp_pid.toml")
    p.add_argument("--generations", type=int, help="override [evolve] generations (closed-loop phase)")
    p.add_argument("--mimic-generations", type=int, metavar="N",
                   help="override [mimic] generations (blimp; 0 skips the mimic phase)")  # fmt: skip
    p.add_argument("--episode-s", type=float, metavar="S",
                   help="override [closed_loop] episode_s, the training flight's length (blimp)")  # fmt: skip
    p.add_argument("--episode-steps", type=int, metavar="N",
                   help="override [train] episode_steps, the training episode's length (swimmer)")  # fmt: skip
    p.add_argument("--population", type=int, help="override [evolve] population")
    p.add_argument("--workers", type=int, help="worker processes (0 = all CPUs)")
    p.add_argument("--backend", choices=("serial", "process", "ray"), help="where evaluations run")
    p.add_argument("--ray-address", help="Ray cluster address (with --backend ray)")
    p.add_argument("--seed", type=int, help="run seed")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (same config and flags: Ctrl-C prints the command)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_flags(p.add_argument_group("HAR data options"))
    p.set_defaults(handler=_cmd_evolve)

    t = sub.add_parser("train", help="train a classifier (HAR)", epilog=_TRAIN_EPILOG, formatter_class=fmt,
                       description="Train what a config file describes (run folder as evolve).")  # fmt: skip
    t.add_argument("config", help="experiment TOML file, e.g. configs/har_l2mu.toml")
    t.add_argument("--seed", type=int, help="seed of the model's random parts (HAR: [model] seed)")
    t.add_argument("--out", help="run folder (default runs/<config name>)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_flags(t.add_argument_group("data options ([data] in the config)"))
    t.set_defaults(handler=_cmd_train)

    r = sub.add_parser("run", help="fly a controller on held-out profiles", epilog=_RUN_EPILOG, formatter_class=fmt,
                       description="Run a controller closed-loop and print the metrics table.")  # fmt: skip
    r.add_argument("config", help="experiment TOML file")
    r.add_argument("--controller", required=True, help="a .snn file, or a baseline the family names (blimp: 'pid')")
    r.add_argument("--episodes", type=int, help="held-out episodes (default: [run] episodes)")
    r.add_argument("--seed", type=int, default=0, help="first held-out episode index (default 0)")
    r.add_argument("--json", action="store_true", help="print the metrics as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--plot", metavar="OUT.png", help="plot the first episode")
    r.add_argument("--force-rate", action="store_true",
                   help="run a .snn at another control period than the one it records (refused otherwise)")  # fmt: skip
    sw = r.add_argument_group("swimmer options")
    sw.add_argument("--n-links", type=int, help="body length to run on (the circuit grows with it)")
    sw.add_argument("--video", metavar="OUT.mp4", help="render the first episode offscreen (.mp4 or .gif)")
    har = r.add_argument_group("HAR options")
    _add_data_flags(har)
    har.add_argument("--port", help="run on a board: serial device or URL (e.g. socket://127.0.0.1:5555)")
    loop = r.add_argument_group("sensing-to-action options (blimp)")
    loop.add_argument("--sensing", choices=("fixed", "delta", "adaptive"), help="sensing policy")
    loop.add_argument("--faults", metavar="SPEC", help="fault injection, e.g. 'dropout@30:5,stuck@60:10'")
    r.set_defaults(handler=_cmd_run)


def _overrides(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {f"evolve.{k}": getattr(args, k) for k in names if getattr(args, k, None) is not None}


# `snnctl evolve` flags a resume hint repeats (dest, flag), in the order the parser lists them
_EVOLVE_FLAGS = (("generations", "--generations"), ("mimic_generations", "--mimic-generations"),
                 ("episode_s", "--episode-s"), ("episode_steps", "--episode-steps"), ("population", "--population"),
                 ("workers", "--workers"), ("backend", "--backend"), ("ray_address", "--ray-address"),
                 ("seed", "--seed"))  # fmt: skip


def _cmd_evolve(args: argparse.Namespace) -> int:
    overrides = _overrides(args, ("generations", "population", "workers", "backend", "ray_address", "seed"))
    overrides.update(_data_overrides(args))
    family = families.family_of(args.config)
    overrides.update(families.evolve_overrides(args, family, families.module_of(family)))
    mod, cfg = families.load(args.config, overrides)
    return _train_or_evolve(args, mod, cfg, "evolve")


def _evolve_argv(args: argparse.Namespace) -> list[str]:
    """This command line without its folder: what a resume must repeat to reach the same target."""
    parts = ["snnctl", "evolve", args.config]
    for dest, flag in _EVOLVE_FLAGS:
        v = getattr(args, dest, None)
        if v is not None:
            parts += [flag, str(v)]
    parts += _data_argv(args)
    return [*parts, "--quiet"] if args.quiet else parts


def _run_folder(args: argparse.Namespace, verb: str) -> Path:
    """The run folder, checked before any work: creatable, a folder, not another run's (one-line errors)."""
    resume = getattr(args, "resume", None)
    if resume and args.out and Path(args.out) != Path(resume):
        raise UserError(f"--out {args.out} and --resume {resume}: a resumed run stays in its folder; give one of them")
    out = Path(resume or args.out or Path("runs") / Path(args.config).stem)
    flag = "--resume" if resume else "--out"
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag} {out}: exists and is not a folder")
    if resume and not out.is_dir():
        raise UserError(f"--resume {out}: no such run folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{flag} {out}: cannot create the run folder ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {out}: the run folder is not writable")
    return out


def _prepare_evolve(args: argparse.Namespace, cfg: dict, out: Path) -> bool:
    """Check the folder against the run it holds and record this one; True: a checkpoint to continue."""
    from evolve.runner import EvolveError, check_run_record, read_run_record, resume_command, write_run_record

    checkpointed = any(out.glob("**/checkpoint.pkl"))
    try:
        rec = read_run_record(out)
        if args.resume:
            if rec is None and not checkpointed:
                raise UserError(f"--resume {out}: not a run folder (no run.json, no checkpoint.pkl); "
                                f"start one with: snnctl evolve {args.config} --out {out}")  # fmt: skip
            if rec is not None:
                check_run_record(rec, cfg, out)
            if not checkpointed:
                print(f"{out}: no generation was checkpointed yet; starting the run again", file=sys.stderr)
        elif checkpointed:
            again = resume_command((rec or {}).get("argv") or _evolve_argv(args), out)
            raise UserError(f"{out} already holds a run; choose another --out, or continue it with: {again}")
        elif rec is not None:  # a run stopped before its first checkpoint (or refused at its start): nothing to keep
            print(f"{out}: no generation was checkpointed there; starting a new run", file=sys.stderr)
        write_run_record(out, cfg, _evolve_argv(args))
    except EvolveError as e:
        raise UserError(str(e)) from None
    if not args.resume:
        shutil.copyfile(args.config, out / "source_config.toml")
    return checkpointed


def _cmd_train(args: argparse.Namespace) -> int:
    mod = families.module_of(families.family_of(args.config))
    overrides = {}
    if args.seed is not None:  # what the seed drives in training: the family says (HAR: the model's random parts)
        overrides[getattr(mod, "TRAIN_SEED_KEY", "evolve.seed")] = args.seed
    overrides.update(_data_overrides(args))
    mod, cfg = families.load(args.config, overrides)
    if not hasattr(mod, "train_main"):
        raise UserError(f"{args.config}: a {cfg['experiment']['family']} experiment is evolved, not trained: "
                        f"snnctl evolve {args.config}")  # fmt: skip
    return _train_or_evolve(args, mod, cfg, "train")


def _train_or_evolve(args: argparse.Namespace, mod, cfg: dict, verb: str) -> int:
    from evolve.backends import BackendError
    from evolve.problem import ProblemError
    from evolve.runner import EvolveError

    main = mod.train_main if verb == "train" else getattr(mod, "evolve_main", None)
    if main is None:
        family = cfg["experiment"]["family"]
        raise UserError(f"{args.config}: a {family} experiment is trained: snnctl train {args.config}")
    target = Path(getattr(args, "resume", None) or args.out or Path("runs") / Path(args.config).stem)
    made = [p for p in (target, *target.parents) if not p.exists()]  # folders this run makes, deepest first
    out = _run_folder(args, verb)
    written = [out / "source_config.toml", out / "config.toml", out / "run.json"]
    if verb == "train":  # evolve's runner writes the resolved config itself
        from snnctl.config import dump_toml

        shutil.copyfile(args.config, out / "source_config.toml")
        (out / "config.toml").write_text(dump_toml(cfg, mod.SCHEMA))
        resume = False
    else:
        from evolve.backends import check_backend

        try:  # before the folder is touched: a bad --backend/--ray-address is refused ahead of any work
            check_backend(cfg["evolve"]["backend"], cfg["evolve"]["workers"], cfg["evolve"]["ray_address"] or None)
        except BackendError as e:
            raise UserError(str(e)) from None
        resume = _prepare_evolve(args, cfg, out)
    try:
        try:
            main(cfg, out, resume=resume, progress=not args.quiet)
        except (EvolveError, BackendError, ProblemError) as e:
            raise UserError(str(e)) from None
    except UserError:
        if made:
            _remove_if_only(made, written)
        raise
    except KeyboardInterrupt as e:
        exported = getattr(e, "exported", None)
        best = next((out / n for n in ("best.snn", "best.npz") if (out / n).exists()), None)
        if verb == "train":  # training keeps no checkpoint: the same command line starts it again
            again = ["snnctl", "train", args.config, "--out", str(out)]
            again += _data_argv(args) + (["--seed", str(args.seed)] if args.seed is not None else [])
            again += ["--quiet"] if args.quiet else []
            print(f"\ninterrupted; start again with: {shlex.join(again)}", file=sys.stderr)
        else:
            if exported and best is not None:
                print(f"{best}: {exported}", file=sys.stderr)
            from evolve.runner import resume_command

            print(f"continue with: {resume_command(_evolve_argv(args), out)}", file=sys.stderr)
        return 130
    best = next((out / n for n in ("best.snn", "best.npz") if (out / n).exists()), None)
    print(f"run folder: {out}" + (f"   (best controller: {best})" if best else ""))
    return 0


def _remove_if_only(made: list[Path], written: list[Path]) -> None:
    """A run refused at its start (bad data, a config the family cannot use) leaves no run folder
    behind: the folders it made (`made`, deepest first) go if the run folder holds nothing but the
    config copies written before the family ran."""
    if set(made[0].iterdir()) <= set(written):
        for path in written:
            path.unlink(missing_ok=True)
        for folder in made:
            with contextlib.suppress(OSError):  # a parent someone else filled meanwhile stays
                folder.rmdir()


def _cmd_run(args: argparse.Namespace) -> int:
    if args.episodes is not None and args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed < 0:
        raise UserError(f"--seed is the first held-out episode index and must be >= 0, got {args.seed}")
    overrides = _data_overrides(args)
    family = families.family_of(args.config)
    families.reject_options(args, family, families.module_of(family).RUN_OPTIONS)
    mod, cfg = families.load(args.config, overrides)
    # files the run writes, checked before it flies (a name without a suffix gets the one written)
    if args.plot is not None:
        args.plot = output_file(args.plot, "--plot", image_suffixes(), ".png")
    if getattr(args, "video", None) is not None:
        args.video = output_file(args.video, "--video", (".mp4", ".gif"))
    return mod.run_main(cfg, _run_options(args))


def _run_options(args: argparse.Namespace):
    """The parsed `snnctl run` line as the typed options a family's `run_main` takes."""
    from dataclasses import fields

    from evolve.run_options import RunOptions

    return RunOptions(**{f.name: getattr(args, f.name) for f in fields(RunOptions) if hasattr(args, f.name)})
