"""The family registry: `[experiment] family` in a config names a module in `evolve/` (`FAMILIES`).

`FAMILIES` is the one table of families: `snnctl evolve/train/run/bench evolve` find a family's code
only through it, so adding a family is one line here (the checklist is in docs/architecture.md,
"Adding a family"). Every family module (`evolve/<family>_experiment.py`) has the same face, so the
CLI needs no per-family branches:

- `SCHEMA`: the config schema (`snnctl.config.Section`), its `[experiment] family` fixed to the family;
- `evolve_main(cfg, out_dir, resume, progress)`: `snnctl evolve`, and/or
  `train_main(cfg, out_dir, resume, progress)`: `snnctl train` (the command whose function a family
  lacks is refused with a line naming the other);
- `run_main(cfg, opts) -> int`: `snnctl run`; `opts` is an `evolve.run_options.RunOptions` (typed
  fields, built from the command line by `snnctl/cli/experiments.py`; a family never sees argparse);
- `RUN_OPTIONS`: the family-specific `snnctl run` flags it accepts (see `reject_options`);
- optional `EVOLVE_OPTIONS`: family-specific `snnctl evolve` flags (dest -> config key, see
  `evolve_overrides`);
- optional `BENCH_METRICS` and `bench_result(cfg, out_dir, wall_s)`: its `snnctl bench evolve`
  table (`evolve.multiseed`); a family without them may name its own `SEED_TABLE` command instead;
- optional `TRAIN_SEED_KEY`: the config key `snnctl train --seed` sets (default `evolve.seed`).

A family reports a user's mistake (a bad file, option or data) as `snnctl.errors.SnnctlError`,
which the CLI prints as one line.

Modules are imported only when a config asks for them, so `snnctl --help` stays light.
"""

from __future__ import annotations

import argparse
import importlib
import tomllib
from pathlib import Path
from types import ModuleType

from snnctl.cli.common import UserError

FAMILIES = {
    "blimp": "evolve.blimp_experiment",
    "swimmer": "evolve.swimmer_experiment",
    "har": "evolve.har_experiment",
    "gym": "evolve.gym_experiment",
}

# `snnctl run` flags that only some families understand, with the argparse dest they set.
FAMILY_RUN_FLAGS = {
    "--n-links": "n_links",
    "--video": "video",
    "--data": "data",
    "--length": "length",
    "--length-mode": "length_mode",
    "--nan": "nan",
    "--channels": "channels",
    "--normalise": "normalise",
    "--rate-hz": "rate_hz",
    "--port": "port",
    "--sensing": "sensing",
    "--faults": "faults",
}


# `snnctl evolve` flags that set a key only some families have: flag -> argparse dest. A family
# module's `EVOLVE_OPTIONS` maps the dests it takes to its config keys (another family's is an error).
FAMILY_EVOLVE_FLAGS = {
    "--mimic-generations": "mimic_generations",
    "--episode-s": "episode_s",
    "--episode-steps": "episode_steps",
}


def shipped_configs() -> Path | None:
    """The example configs' folder beside the packages (a source checkout or an editable install),
    as an absolute path; None when this installation has none (a wheel does not carry them)."""
    folder = Path(__file__).resolve().parents[2] / "configs"
    return folder if folder.is_dir() and any(folder.glob("*.toml")) else None


def where_configs_are(name: str = "") -> str:
    """Where the example configs are, said so that it works from any folder (the absolute path)."""
    folder = shipped_configs()
    if folder is None:
        return "the example configs are in the configs/ folder of the snnctl source repository (not installed)"
    if name and (folder / name).is_file():
        return f"the shipped {name} is {folder / name}"
    return f"the example configs are in {folder}: {', '.join(sorted(p.name for p in folder.glob('*.toml')))}"


def family_of(path: str | Path) -> str:
    """Read `[experiment] family` without validating the rest (the family's schema does that)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such config file; {where_configs_are(path.name)}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    family = data.get("experiment", {}).get("family") if isinstance(data.get("experiment"), dict) else None
    if family is None:
        raise UserError(f"{path}: [experiment] family is missing; one of: {', '.join(FAMILIES)}")
    if family not in FAMILIES:
        raise UserError(f"{path}: [experiment] family = {family!r} is unknown; one of: {', '.join(FAMILIES)}")
    return family


def module_of(family: str) -> ModuleType:
    return importlib.import_module(FAMILIES[family])


def load(path: str | Path, overrides: dict | None = None) -> tuple[ModuleType, dict]:
    """The family module and the validated config (errors name the file and the key)."""
    from snnctl.config import ConfigError, load_config

    mod = module_of(family_of(path))
    try:
        return mod, load_config(str(path), mod.SCHEMA, overrides=overrides or {})
    except ConfigError as e:
        raise UserError(str(e)) from None


def reject_options(args: argparse.Namespace, family: str, allowed: frozenset[str] | set[str]) -> None:
    """A flag meant for another family is an error, not silently ignored."""
    for flag, dest in FAMILY_RUN_FLAGS.items():
        if dest not in allowed and getattr(args, dest, None) is not None:
            ok = [f for f, d in FAMILY_RUN_FLAGS.items() if d in allowed]
            raise UserError(
                f"{flag} does not apply to a {family} experiment"
                + (f" (its options: {', '.join(ok)})" if ok else " (it takes no family-specific options)")
            )


def evolve_overrides(args: argparse.Namespace, family: str, mod: ModuleType) -> dict:
    """Config overrides from the family-specific `snnctl evolve` flags; another family's flag is an error."""
    options: dict = getattr(mod, "EVOLVE_OPTIONS", {})
    out = {}
    for flag, dest in FAMILY_EVOLVE_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest not in options:
            ok = [f for f, d in FAMILY_EVOLVE_FLAGS.items() if d in options]
            raise UserError(f"{flag} does not apply to a {family} experiment"
                            + (f" (its options: {', '.join(ok)})" if ok else ""))  # fmt: skip
        out[options[dest]] = value
    return out
