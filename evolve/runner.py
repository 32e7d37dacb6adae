"""The evolution loop: generations, checkpoints, logs, plots and the run folder.

::

    from evolve.runner import EvolveSettings, evolve
    result = evolve(problem, EvolveSettings(algorithm="cmaes", generations=50, seed=1), "runs/blimp")
    result = evolve(problem, settings, "runs/blimp", resume=True)   # continue a killed run

One folder per run::

    run.json           the resolved config and command line a run folder was started with (written by
                       ``snnctl evolve`` before any work: :func:`write_run_record`, :func:`check_run_record`)
    config.toml        the resolved config the run used (evolve settings included)
    checkpoint.pkl     everything needed to continue: algorithm state (CMA strategy, population,
                       hall of fame), logbook, next generation, RNG states, config hash
    log.csv            one row per generation: gen, evals, evals_total, invalid,
    log.jsonl          <objective>_best/_mean/_std/_best_ever, hof_size, time, gen_time
    selection.csv      validated selection: every candidate's training score and validation mean ± s.e.
    selection.json     (+ per-episode scores); see evolve.selection
    best_genome.npy    the exported genome in real units: the candidate best on validation episodes
                       (+ best_genome.json with its training and validation scores)
    front.npz          NSGA-II: the validated Pareto front (genomes, validation values, training values)
    fitness.png        best / mean per generation for each objective (+ the front for NSGA-II)
    ...                whatever ``problem.export_best(genome, out_dir)`` writes (e.g. best.snn)

**Determinism and resume.** Generation ``g`` reseeds the global ``random``/``numpy.random``
generators from ``SeedSequence([seed, g], spawn_key=("algo", phase))`` right before the algorithm's
``ask`` (variation) and again before its ``tell`` (selection, strategy update); individual ``i`` is
evaluated with the seed from ``SeedSequence([seed, g, i])``. A generation therefore depends only on
the algorithm state at its start — exactly what the checkpoint (written atomically after every
generation: temp file + ``os.replace``) holds — so ``resume=True`` continues bit-exactly where a
killed run stopped, and the worker count or backend never changes a result. The checkpoint also
stores the RNG states (restored on resume, although the reseeding makes them redundant).

**Interrupts.** Ctrl-C (``KeyboardInterrupt``) during the generations leaves the last checkpoint,
exports the best validated candidate so far (the initial genome before the first generation) and
raises :class:`Interrupted`; the command that continues the run is the CLI's to print.

A resumed run must use the same settings, except those that cannot change the search:
``generations`` (so a finished run can be extended), ``backend``, ``workers``, ``ray_address``,
``start_method`` and the selection settings (``validation_episodes``, ``recent_generations``).
Anything else differing from the checkpoint's config hash is an error.

**What is exported.** Not the hall of fame's best recorded score (the minimum of many noisy draws),
but the candidate best on validation episodes (`evolve.selection`), when the problem has a
``validate`` hook and ``validation_episodes > 0``; otherwise the hall of fame's best, and the run
says so.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import pickle
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evolve import tb_log
from evolve.algorithms import (
    ALGORITHMS,
    GA,
    NSGA2,
    PHASE_ASK,
    PHASE_TELL,
    Algorithm,
    individual_seeds,
    make_algorithm,
    seed_global_rngs,
)
from evolve.backends import BACKENDS, Backend, make_backend
from evolve.problem import check_problem
from evolve.selection import Selection, gather_candidates, select
from snnctl.config import Key, Limits, Section, config_hash, dump_toml, signature_keys
from snnctl.text import plural

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from matplotlib.figure import Figure

__all__ = [
    "EVOLVE_SECTION",
    "EvolveSettings",
    "EvolveError",
    "Interrupted",
    "RunResult",
    "evolve",
    "load_checkpoint",
    "RUN_RECORD",
    "write_run_record",
    "read_run_record",
    "check_run_record",
    "resume_command",
    "RESUME_FREE_KEYS",
]

CHECKPOINT = "checkpoint.pkl"
CHECKPOINT_VERSION = 1

# Settings that never change a run's results: a resumed run may differ from its checkpoint in these.
RESUME_FREE_KEYS = (
    "generations",
    "backend",
    "workers",
    "ray_address",
    "start_method",
    "validation_episodes",
    "recent_generations",
)

EVOLVE_SECTION = Section(
    "the evolution run (evolve/)",
    algorithm=Key(
        str, "cmaes", "search algorithm: cmaes, ga (mu+lambda) or nsga2 (two objectives)", choices=ALGORITHMS
    ),
    generations=Key(int, 100, "generations to run (a resumed run may raise it)", ge=1, le=10_000_000),
    population=Key(
        int, 0, "population per generation; 0 = default (CMA-ES 4 + 3 ln n, GA/NSGA-II 100)", ge=0, le=1_000_000
    ),
    sigma=Key(float, 0.3, "CMA-ES initial step size, as a fraction of each gene's range", gt=0, le=1),
    seed=Key(int, 0, "run seed: same seed, same run, whatever the backend or worker count", ge=0, le=2**32 - 1),
    backend=Key(str, "process", "where evaluations run: serial, process (local pool) or ray", choices=BACKENDS),
    workers=Key(int, 0, "worker processes (ray: parallel chunks); 0 = all CPUs", ge=0, le=65536),
    ray_address=Key(str, "", 'Ray cluster address ("auto", "ray://head:10001"); empty = local Ray'),
    start_method=Key(str, "spawn", "process backend start method (never fork: numba)", choices=("spawn", "forkserver")),
    hall_of_fame=Key(
        int, 10, "best individuals kept (single objective; NSGA-II keeps the whole front)", ge=1, le=100_000
    ),
    validation_episodes=Key(
        int,
        20,
        "episodes (seeds disjoint from training and held-out) on which every candidate is re-scored after the "
        "run to choose what is exported; 0 = export the hall of fame's best recorded score, unvalidated",
        ge=0,
        le=100_000,
    ),
    recent_generations=Key(
        int, 5, "the best individual of each of the last N generations is a selection candidate", ge=0, le=1000
    ),
    ga=Section(  # defaults: the GA constructor's
        "(mu + lambda) GA operators, in unit-box gene units",
        **signature_keys(
            GA,
            offspring=Limits("lambda: offspring per generation; 0 = population", ge=0, le=1_000_000),
            cxpb=Limits("probability an offspring comes from blend crossover", ge=0, le=1),
            mutpb=Limits("probability an offspring comes from gaussian mutation (cxpb + mutpb <= 1)", ge=0, le=1),
            blend_alpha=Limits("cxBlend alpha", ge=0, le=10),
            mut_sigma=Limits("gaussian mutation sigma, as a fraction of each gene's range", gt=0, le=1),
            indpb=Limits("probability each gene mutates", gt=0, le=1),
            tournsize=Limits("tournament size of the (mu + lambda) selection", ge=1, le=1000),
        ),
    ),
    nsga2=Section(  # defaults: the NSGA2 constructor's
        "NSGA-II operators",
        **signature_keys(
            NSGA2,
            cxpb=Limits("probability a pair undergoes SBX crossover", ge=0, le=1),
            eta_cx=Limits("SBX crowding degree (high: children near parents)", gt=0, le=1000),
            eta_mut=Limits("polynomial mutation crowding degree", gt=0, le=1000),
            indpb=Limits("probability each gene mutates; 0 = 1 / n_genes", ge=0, le=1),
        ),
    ),
)


class EvolveError(RuntimeError):
    """A run that cannot start or resume (occupied folder, missing or mismatched checkpoint)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`evolve`: the checkpoint holds ``done`` of ``target`` generations and
    ``exported`` says what the run folder's export now is (None: nothing was exported).

    A ``KeyboardInterrupt``, so callers that only catch that still stop; callers that know a run
    (the CLI, a family's phases) read the fields to say what was kept.
    """

    def __init__(self, out_dir: Path, done: int, target: int, exported: str | None):
        super().__init__(f"{out_dir}: interrupted after {done} of {plural(target, 'generation')}")
        self.out_dir, self.done, self.target, self.exported = Path(out_dir), done, target, exported


@dataclass
class EvolveSettings:
    """The ``[evolve]`` section as an object (defaults as in :data:`EVOLVE_SECTION`)."""

    algorithm: str = "cmaes"
    generations: int = 100
    population: int = 0
    sigma: float = 0.3
    seed: int = 0
    backend: str = "process"
    workers: int = 0
    ray_address: str = ""
    start_method: str = "spawn"
    hall_of_fame: int = 10
    validation_episodes: int = 20
    recent_generations: int = 5
    ga: dict = field(default_factory=dict)
    nsga2: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Validate through the schema so that a settings object can never hold what a file cannot.
        from snnctl.config import validate

        resolved = validate({"evolve": self._raw()}, Section("", evolve=EVOLVE_SECTION), "EvolveSettings")["evolve"]
        for k, v in resolved.items():
            setattr(self, k, v)

    def _raw(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> EvolveSettings:
        """From a resolved ``[evolve]`` table (or any subset of its keys)."""
        return cls(**d)

    def to_dict(self) -> dict:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._raw().items()}


@dataclass
class RunResult:
    """What :func:`evolve` returns; everything is also in the run folder."""

    out_dir: Path
    best_genome: np.ndarray
    best_fitness: np.ndarray
    front_genomes: np.ndarray
    front_fitness: np.ndarray
    logbook: list[dict]
    generations: int
    evaluations: int
    elapsed: float
    resumed_from: int | None = None
    selection: Selection | None = None  # None: the problem has no validate hook or validation_episodes = 0

    def history(self, objective: str, stat: str = "best") -> np.ndarray:
        """One column of the log over generations, e.g. ``history("error", "best_ever")``."""
        return np.array([r[f"{objective}_{stat}"] for r in self.logbook], dtype=np.float64)


# -- the loop ---------------------------------------------------------------------------------------


def evolve(
    problem: Any,
    settings: EvolveSettings | dict,
    out_dir: str | os.PathLike,
    resume: bool = False,
    backend: Backend | None = None,
    progress: bool = True,
    config: dict | None = None,
) -> RunResult:
    """Run (or with ``resume=True`` continue) an evolution of ``problem`` into ``out_dir``.

    ``settings``: :class:`EvolveSettings` or a resolved ``[evolve]`` table. ``backend``: an open
    backend to use (the caller closes it); ``None`` builds one from the settings and closes it at
    the end. ``config``: the whole resolved config (all sections) to store in ``config.toml`` and
    fingerprint; its ``evolve`` section is replaced by ``settings``. ``progress``: tqdm bar and the
    summary table. Ctrl-C leaves the last generation's checkpoint in place, exports the best
    validated candidate so far (``problem.export_best``) and raises :class:`Interrupted`.
    """
    s = settings if isinstance(settings, EvolveSettings) else EvolveSettings.from_dict(settings)
    bounds, weights = check_problem(problem)
    objectives = tuple(str(o) for o in problem.objectives)
    name = str(getattr(problem, "name", type(problem).__name__))
    out = Path(out_dir)
    full_config = {**(config or {}), "evolve": s.to_dict()}
    chash = config_hash(full_config, exclude=[f"evolve.{k}" for k in RESUME_FREE_KEYS])

    algo = make_algorithm(
        s.algorithm,
        bounds,
        weights,
        population=s.population,
        sigma=s.sigma,
        initial_genome=getattr(problem, "initial_genome", None),
        hall_of_fame=s.hall_of_fame,
        ga=s.ga,
        nsga2=s.nsga2,
    )
    ckpt_path = out / CHECKPOINT
    if resume:
        load_checkpoint(out)  # a clear error before anything is created when there is none
    elif ckpt_path.exists():
        raise EvolveError(f"{out} already holds a run ({CHECKPOINT}); resume it or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    with _run_lock(out):
        return _run(
            problem, s, out, resume, backend, progress, algo, bounds, weights, objectives, name, full_config, chash
        )


@contextmanager
def _run_lock(out: Path):
    """An exclusive lock on ``out/.lock`` so two processes never write one run folder (POSIX)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(out / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise EvolveError(f"{out}: another process is running in this folder") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(problem, s, out, resume, backend, progress, algo, bounds, weights, objectives, name, full_config, chash):
    logbook: list[dict] = []
    recent: list[tuple[int, np.ndarray, np.ndarray]] = []  # (generation, best genome, its fitness), newest last
    start_gen, evals_total, elapsed_before, resumed_from = 0, 0, 0.0, None
    ckpt_path = out / CHECKPOINT
    if resume:
        ck = load_checkpoint(out)
        _check_resumable(ck, out, name, bounds, objectives, s, chash)
        algo.load_state_dict(ck["algorithm"])
        logbook = [dict(r) for r in ck["logbook"]]
        start_gen, evals_total, elapsed_before = ck["generation"], ck["evaluations"], ck["elapsed"]
        recent = list(ck.get("recent", []))
        random.setstate(ck["rng"]["random"])
        np.random.set_state(ck["rng"]["numpy"])
        resumed_from = start_gen
    elif ckpt_path.exists():  # appeared while we waited for the lock
        raise EvolveError(f"{out} already holds a run ({CHECKPOINT}); resume it or choose another folder")
    _atomic_write(out / "config.toml", dump_toml(full_config).encode("utf-8"))
    header = _header(objectives)
    _rewrite_logs(out, header, logbook)  # on resume: drop log lines written after the checkpoint

    own_backend = backend is None
    if own_backend:
        backend = make_backend(s.backend, s.workers, s.ray_address or None, start_method=s.start_method)
    bar = _progress_bar(progress, name, s.generations, start_gen)
    t_run = time.perf_counter()
    finished = False
    try:
        for gen in range(start_gen, s.generations):
            t0 = time.perf_counter()
            seed_global_rngs(s.seed, gen, PHASE_ASK)
            genomes = algo.ask()
            seeds = individual_seeds(s.seed, gen, len(genomes))
            fitness = backend.evaluate(problem, genomes, seeds, gen)
            fitness, invalid = _sanitise(fitness, weights)
            seed_global_rngs(s.seed, gen, PHASE_TELL)
            algo.tell(fitness)
            evals_total += len(genomes)
            recent = _keep_recent(recent, gen, genomes, fitness, weights, s.recent_generations)
            now = time.perf_counter()
            rec = _record(
                gen, fitness, invalid, evals_total, objectives, weights, algo, logbook[-1] if logbook else None
            )
            rec["time"] = round(elapsed_before + now - t_run, 6)
            rec["gen_time"] = round(now - t0, 6)
            logbook.append(rec)
            _save_checkpoint(
                ckpt_path,
                {
                    "version": CHECKPOINT_VERSION,
                    "problem": name,
                    "n_genes": len(bounds),
                    "objectives": objectives,
                    "weights": weights,
                    "algorithm_name": algo.name,
                    "config_hash": chash,
                    "settings": s.to_dict(),
                    "generation": gen + 1,
                    "evaluations": evals_total,
                    "elapsed": elapsed_before + now - t_run,
                    "logbook": logbook,
                    "algorithm": algo.state_dict(),
                    "recent": recent,
                    "rng": {"random": random.getstate(), "numpy": np.random.get_state()},
                },
            )
            _append_logs(out, header, rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(_postfix(rec, objectives, now - t0, len(genomes)), refresh=False)
        finished = bool(logbook)
    except KeyboardInterrupt:
        interrupted = True
    else:
        interrupted = False
    finally:
        if bar is not None:
            bar.close()
        if own_backend and not finished:
            backend.close()  # a finished run keeps its workers for validated selection
    if interrupted:
        raise _export_interrupted(problem, algo, recent, s, out, objectives, weights, logbook) from None

    if not logbook:
        raise EvolveError(f"{out}: no generation was run (generations={s.generations})")
    try:
        selection = _validate(problem, algo, recent, backend, s, weights, progress)
    except KeyboardInterrupt:
        # every generation is checkpointed; only the choice of the export was cut short, and a resume
        # (zero generations left) makes it again
        gens = ("all " if len(logbook) > 1 else "") + plural(len(logbook), "generation is", "generations are")
        print(f"\ninterrupted during validated selection: {gens} checkpointed in "
              f"{out}; the export was not written (resuming makes the selection again)", file=sys.stderr)  # fmt: skip
        raise Interrupted(out, len(logbook), s.generations, None) from None
    finally:
        if own_backend:
            backend.close()
    if selection is not None:
        selection.write(out)
    best, best_fit = _write_outputs(
        problem, algo, out, objectives, weights, logbook, s, export=True, selection=selection
    )
    front_g, front_f = algo.front() if selection is None or not algo.multi_objective else selection.front_arrays()[:2]
    result = RunResult(
        out_dir=out,
        best_genome=best,
        best_fitness=best_fit,
        front_genomes=front_g,
        front_fitness=front_f,
        logbook=logbook,
        generations=len(logbook),
        evaluations=evals_total,
        elapsed=logbook[-1]["time"],
        resumed_from=resumed_from,
        selection=selection,
    )
    if progress:
        print(summary_table(name, s, result, objectives, backend, algo.population_size))
        print(selection.summary() if selection is not None else _unvalidated_note(problem, s))
    return result


def _keep_recent(recent, gen: int, genomes: np.ndarray, fitness: np.ndarray, weights, keep: int) -> list:
    """The last ``keep`` generations' best individuals (first objective), for validated selection."""
    if keep <= 0:
        return []
    key = fitness[:, 0] * weights[0]
    if not np.isfinite(key).any():
        return recent[-keep:]
    i = int(np.nanargmax(np.where(np.isfinite(key), key, -np.inf)))
    return [*recent, (gen, np.array(genomes[i], dtype=np.float64), np.array(fitness[i], dtype=np.float64))][-keep:]


def _validate(problem, algo: Algorithm, recent, backend, s: EvolveSettings, weights, progress: bool):
    """Validated selection (evolve.selection), or None when the problem cannot be validated."""
    if s.validation_episodes <= 0 or not callable(getattr(problem, "validate", None)):
        return None
    cands = gather_candidates(algo, recent, problem, getattr(problem, "initial_genome", None))
    if progress:
        print(
            f"validating {plural(len(cands), 'candidate')} on "
            f"{plural(s.validation_episodes, 'validation episode')} ...",
            file=sys.stderr,
            flush=True,
        )
    return select(problem, cands, backend, s.validation_episodes, weights)


def _export_interrupted(problem, algo: Algorithm, recent, s: EvolveSettings, out: Path, objectives, weights,
                        logbook) -> Interrupted:  # fmt: skip
    """Ctrl-C: export the best validated candidate so far (the checkpoint already holds the search).

    Validation runs on a fresh backend (the interrupt may have reached the old one's workers). Before
    the first generation the only candidate is the problem's initial genome. A second Ctrl-C skips.
    """
    name = getattr(problem, "name", type(problem).__name__)
    print(f"\ninterrupted: {len(logbook)} of {plural(s.generations, 'generation')} of {name} checkpointed in {out}",
          file=sys.stderr, flush=True)  # fmt: skip
    initial = getattr(problem, "initial_genome", None)
    exported = None
    try:
        if logbook:
            selection = None
            if s.validation_episodes > 0 and callable(getattr(problem, "validate", None)):
                print("choosing the export: validating the candidates so far (Ctrl-C again to skip) ...",
                      file=sys.stderr, flush=True)  # fmt: skip
                with make_backend(s.backend, s.workers, s.ray_address or None, start_method=s.start_method) as b:
                    selection = _validate(problem, algo, recent, b, s, weights, progress=False)
                selection.write(out)
            _write_outputs(problem, algo, out, objectives, weights, logbook, s, export=True, selection=selection)
            exported = "the best validated candidate so far" if selection else "the hall of fame's best (not validated)"
        elif initial is not None and callable(getattr(problem, "export_best", None)):
            problem.export_best(np.asarray(initial, dtype=np.float64), out)
            exported = "the initial genome (no generation finished yet)"
    except KeyboardInterrupt:
        print("export skipped (second Ctrl-C)", file=sys.stderr, flush=True)
    return Interrupted(out, len(logbook), s.generations, exported)


def _unvalidated_note(problem, s: EvolveSettings) -> str:
    why = (
        "validation_episodes = 0"
        if s.validation_episodes <= 0
        else f"problem {getattr(problem, 'name', problem)!r} has no validate hook"
    )
    return f"exported the hall of fame's best recorded score, NOT validated ({why})"


# -- the run record: what a run folder was started with ----------------------------------------------

RUN_RECORD = "run.json"


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _free_keys(extra_free: tuple[str, ...]) -> list[str]:
    return [f"evolve.{k}" for k in RESUME_FREE_KEYS] + list(extra_free)


def write_run_record(out_dir: str | os.PathLike, config: dict, argv: list[str]) -> None:
    """``run.json``: the resolved config a run folder holds and the command line that started it
    (``argv`` without the folder: ``["snnctl", "evolve", CONFIG, *flags]``).

    Written before any work, so a ``--resume`` with another config is refused before it touches
    the folder (:func:`check_run_record`), even when no generation has been checkpointed yet.
    """
    rec = {"config": config, "argv": list(argv)}
    _atomic_write(Path(out_dir) / RUN_RECORD, (json.dumps(rec, indent=2) + "\n").encode("utf-8"))


def read_run_record(out_dir: str | os.PathLike) -> dict | None:
    """The run folder's ``run.json`` (None if it has none; :class:`EvolveError` if unreadable)."""
    path = Path(out_dir) / RUN_RECORD
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvolveError(f"{path}: cannot read the run record ({exc})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("config"), dict):
        raise EvolveError(f"{path}: not a run record of this snnctl version")
    return rec


def resume_command(argv: list[str], out_dir: str | os.PathLike) -> str:
    """The shell command that continues the run in ``out_dir`` started by ``argv`` (see :func:`write_run_record`)."""
    import shlex

    return shlex.join([*argv[:3], "--resume", str(out_dir), *argv[3:]])


def check_run_record(rec: dict, config: dict, out_dir: str | os.PathLike, extra_free: tuple[str, ...] = ()) -> None:
    """Refuse to continue a run folder with a config that changes the search (one line naming the keys
    and the command that continues the run). Only :data:`RESUME_FREE_KEYS` (+ ``extra_free``) may differ."""
    free = set(_free_keys(extra_free))
    old, new = _flatten(rec["config"]), _flatten(config)
    diff = sorted(k for k in old.keys() | new.keys() if k not in free and old.get(k) != new.get(k))
    if not diff:
        return
    again = f"; continue it with: {resume_command(rec['argv'], out_dir)}" if rec.get("argv") else ""
    fam_old, fam_new = old.get("experiment.family"), new.get("experiment.family")
    if fam_old != fam_new:
        raise EvolveError(f"{out_dir} holds a {fam_old} run, not a {fam_new} experiment{again}")
    shown = ", ".join(f"{k}: {old.get(k, '(unset)')!r} -> {new.get(k, '(unset)')!r}" for k in diff[:4])
    more = f" and {len(diff) - 4} more" if len(diff) > 4 else ""
    raise EvolveError(f"{out_dir}: cannot resume, the config differs from the run's ({shown}{more}){again}")


# -- checkpoints ------------------------------------------------------------------------------------


def load_checkpoint(out_dir: str | os.PathLike) -> dict:
    """The checkpoint dict of a run folder (raises :class:`EvolveError` if missing or unreadable)."""
    path = Path(out_dir) / CHECKPOINT
    try:
        with open(path, "rb") as f:
            ck = pickle.load(f)
    except FileNotFoundError:
        raise EvolveError(f"{out_dir}: no {CHECKPOINT} to resume from") from None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise EvolveError(f"{path}: cannot read the checkpoint ({exc})") from None
    if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
        raise EvolveError(f"{path}: not a checkpoint of this snnctl version")
    return ck


def _check_resumable(ck: dict, out: Path, name: str, bounds, objectives, s: EvolveSettings, chash: str) -> None:
    problems = []
    if ck["problem"] != name:
        problems.append(f"problem {ck['problem']!r} vs {name!r}")
    if ck["n_genes"] != len(bounds):
        problems.append(f"{ck['n_genes']} genes vs {len(bounds)}")
    if tuple(ck["objectives"]) != objectives:
        problems.append(f"objectives {tuple(ck['objectives'])} vs {objectives}")
    if ck["config_hash"] != chash:
        old = ck.get("settings", {})
        diff = [k for k, v in s.to_dict().items() if k not in RESUME_FREE_KEYS and old.get(k) != v]
        what = ", ".join(f"evolve.{k}: {old.get(k)!r} -> {getattr(s, k)!r}" for k in diff) or "a problem section"
        problems.append(f"the config differs ({what})")
    if problems:
        raise EvolveError(
            f"{out}: cannot resume: {'; '.join(problems)}. Only {', '.join(RESUME_FREE_KEYS)} may change on resume"
        )


def _save_checkpoint(path: Path, state: dict) -> None:
    _atomic_write(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- per-generation records and logs ----------------------------------------------------------------


def _sanitise(fitness: np.ndarray, weights: tuple[float, ...]) -> tuple[np.ndarray, int]:
    """nan -> the worst value of its objective (+inf when minimising, -inf when maximising)."""
    fitness = np.array(fitness, dtype=np.float64)
    bad = np.isnan(fitness)
    if bad.any():
        worst = np.where(np.asarray(weights) < 0, np.inf, -np.inf)
        fitness = np.where(bad, worst[None, :], fitness)
    return fitness, int(bad.any(axis=1).sum())


def _header(objectives: tuple[str, ...]) -> list[str]:
    cols = ["gen", "evals", "evals_total", "invalid"]
    for o in objectives:
        cols += [f"{o}_best", f"{o}_mean", f"{o}_std", f"{o}_best_ever"]
    return [*cols, "hof_size", "time", "gen_time"]


def _record(gen, fitness, invalid, evals_total, objectives, weights, algo: Algorithm, prev) -> dict:
    rec: dict[str, Any] = {"gen": gen, "evals": len(fitness), "evals_total": evals_total, "invalid": invalid}
    for k, (o, w) in enumerate(zip(objectives, weights, strict=True)):
        col = fitness[:, k]
        finite = col[np.isfinite(col)]
        if finite.size:
            best = float(finite.min() if w < 0 else finite.max())
            mean, std = float(finite.mean()), float(finite.std())
        else:
            best = mean = std = math.nan
        ever = best
        if prev is not None and not math.isnan(prev[f"{o}_best_ever"]):
            p = prev[f"{o}_best_ever"]
            ever = p if math.isnan(best) else (min(p, best) if w < 0 else max(p, best))
        rec.update({f"{o}_best": best, f"{o}_mean": mean, f"{o}_std": std, f"{o}_best_ever": ever})
    rec["hof_size"] = len(algo.hall_of_fame)
    return rec


def _rewrite_logs(out: Path, header: list[str], logbook: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    for r in logbook:
        w.writerow(r)
    _atomic_write(out / "log.csv", buf.getvalue().encode("utf-8"))
    _atomic_write(out / "log.jsonl", "".join(_json_line(r) for r in logbook).encode("utf-8"))
    tb_log.rewrite(out, logbook)  # tensorboard/: the same rows as a TensorBoard event file


def _append_logs(out: Path, header: list[str], rec: dict) -> None:
    with open(out / "log.csv", "a", newline="") as f:
        csv.DictWriter(f, fieldnames=header, lineterminator="\n").writerow(rec)
    with open(out / "log.jsonl", "a") as f:
        f.write(_json_line(rec))
    tb_log.append(out, rec)


def _json_line(rec: dict) -> str:
    clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in rec.items()}
    return json.dumps(clean) + "\n"


# -- outputs ----------------------------------------------------------------------------------------


def _write_outputs(problem, algo: Algorithm, out: Path, objectives, weights, logbook, s, export: bool, selection=None):
    if selection is None:
        best, best_fit = algo.best()
        chosen = {"chosen": "hall of fame's best recorded score (not validated)"}
    else:
        c = selection.best
        best = c.genome
        best_fit = selection.means[selection.chosen]
        chosen = {
            "chosen": c.label,
            "training_objectives": None if c.train is None else [float(v) for v in c.train],
            "validation_episodes": selection.episodes,
            "validation_se": [float(v) for v in selection.standard_errors[selection.chosen]],
        }
    np.save(out / "best_genome.npy", best)
    info = {
        "problem": getattr(problem, "name", type(problem).__name__),
        "algorithm": s.algorithm,
        "seed": s.seed,
        "generations": len(logbook),
        "objectives": dict(zip(objectives, (float(v) for v in best_fit), strict=True)),
        "weights": list(weights),
        **chosen,
        "genome": np.asarray(best).tolist(),
    }
    _atomic_write(out / "best_genome.json", (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    if algo.multi_objective:
        if selection is None:
            g, v = algo.front()
            t = v
        else:
            g, v, t = selection.front_arrays()
        order = np.argsort(v[:, 0], kind="stable")
        with open(out / "front.npz.tmp", "wb") as f:
            np.savez(f, genomes=g[order], values=v[order], training_values=t[order], objectives=np.array(objectives))
        os.replace(out / "front.npz.tmp", out / "front.npz")
    plot_fitness(
        logbook, objectives, weights, out / "fitness.png", front=algo.front() if algo.multi_objective else None,
        labels=getattr(problem, "objective_labels", None), references=getattr(problem, "objective_references", None),
    )  # fmt: skip
    if export and callable(getattr(problem, "export_best", None)):
        problem.export_best(best, out)
    return best, best_fit


def plot_fitness(
    logbook: list[dict],
    objectives: Sequence[str],
    weights: Sequence[float],
    path: Path,
    front: tuple[np.ndarray, np.ndarray] | None = None,
    labels: Mapping[str, str] | None = None,
    references: Mapping[str, tuple[float, str]] | None = None,
) -> None:
    """Write `fitness_figure` (best / mean ± std per generation, the Pareto front with ``front``) to ``path``."""
    fig = fitness_figure(logbook, objectives, weights, front, labels, references)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)


def fitness_figure(
    logbook: list[dict],
    objectives: Sequence[str],
    weights: Sequence[float],
    front: tuple[np.ndarray, np.ndarray] | None = None,
    labels: Mapping[str, str] | None = None,
    references: Mapping[str, tuple[float, str]] | None = None,
) -> Figure:
    """Best / mean ± std per generation for each objective; with ``front`` also the Pareto front.

    ``labels`` (objective -> axis label with its unit) and ``references`` (objective -> (value,
    name), e.g. ``(0.0, "PID")`` for a cost scored relative to the PID) come from the problem's
    optional ``objective_labels`` / ``objective_references``: without them a reader cannot tell what
    a negative cost means. An axis without a label says which way is better. A reference is a
    dotted line; legends sit below the axes, off the curves. When the mean's spread dwarfs the
    best's range (early generations), the axis is symmetric-log, so the best curve and the
    reference stay readable. Matplotlib's Agg canvas directly (no pyplot, no global backend switch).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, references = dict(labels or {}), dict(references or {})
    n = len(objectives) + (1 if front is not None and len(objectives) >= 2 else 0)
    fig = Figure(figsize=(5.5 * n, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    gens = np.array([r["gen"] for r in logbook])
    for k, o in enumerate(objectives):
        ax = fig.add_subplot(1, n, k + 1)
        col = {
            st: np.array([r[f"{o}_{st}"] for r in logbook], dtype=float) for st in ("best", "mean", "std", "best_ever")
        }
        lo, hi = col["mean"] - col["std"], col["mean"] + col["std"]
        # the band never crosses the generation's best (keeps it drawable on a log axis)
        lo, hi = (np.fmax(lo, col["best"]), hi) if weights[k] < 0 else (lo, np.fmin(hi, col["best"]))
        ax.fill_between(gens, lo, hi, alpha=0.2, color="C0", lw=0)
        ax.plot(gens, col["mean"], color="C0", label="mean ± std")
        ax.plot(gens, col["best"], color="C1", label="best of generation")
        ax.plot(gens, col["best_ever"], color="C3", ls="--", label="best so far")
        if o in references:
            value, name = references[o]
            ax.axhline(float(value), color="k", ls=":", lw=1.2, label=f"{name} ({float(value):g})")
        best = np.concatenate([v[np.isfinite(v)] for v in (col["best"], col["best_ever"])])
        everything = np.concatenate([best, hi[np.isfinite(hi)], lo[np.isfinite(lo)]])
        if best.size and best.min() > 0 and best.max() / best.min() > 100:
            ax.set_yscale("log")
        elif best.size and everything.size:
            spread = max(float(np.ptp(best)), 1e-3 * max(float(np.max(np.abs(best))), 1e-12))
            if float(np.ptp(everything)) > 10 * spread:
                ax.set_yscale("symlog", linthresh=max(float(np.max(np.abs(best))), spread), linscale=2.0)
        ax.set_xlabel("generation")
        better = "lower" if weights[k] < 0 else "higher"
        ax.set_ylabel(labels.get(o, f"{o} ({better} is better)"))
        ax.set_title(o)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    if n > len(objectives):
        g, v = front
        ax = fig.add_subplot(1, n, n)
        order = np.argsort(v[:, 0])
        ax.plot(v[order, 0], v[order, 1], "o-", ms=3, color="C2")
        ax.set_xlabel(labels.get(objectives[0], objectives[0]))
        ax.set_ylabel(labels.get(objectives[1], objectives[1]))
        ax.set_title(f"Pareto front ({len(v)} points)")
        ax.grid(alpha=0.3)
    return fig


def _progress_bar(progress: bool, name: str, total: int, initial: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (a log file gets the summary, not bar frames)
    return tqdm(total=total, initial=initial, desc=name, unit="gen", dynamic_ncols=True, file=sys.stderr, disable=None)


def _postfix(rec: dict, objectives, dt: float, n: int) -> dict:
    post = {o: f"{rec[f'{o}_best_ever']:.4g}" for o in objectives[:2]}
    post["evals/s"] = f"{n / dt:.0f}" if dt > 0 else "-"
    return post


def summary_table(name: str, s: EvolveSettings, result: RunResult, objectives, backend, population: int) -> str:
    """The table printed at the end of a run."""
    last = result.logbook[-1]
    rate = result.evaluations / result.elapsed if result.elapsed > 0 else float("nan")
    rows = [
        ("problem", name),
        ("algorithm", f"{s.algorithm} (population {population})"),
        (
            "generations",
            f"{result.generations}" + (f" (resumed at {result.resumed_from})" if result.resumed_from else ""),
        ),
        ("evaluations", f"{result.evaluations} in {result.elapsed:.1f} s ({rate:.0f}/s)"),
        ("backend", f"{getattr(backend, 'kind', s.backend)} x {getattr(backend, 'workers', s.workers)}"),
        ("seed", str(s.seed)),
    ]
    for o in objectives:
        rows.append(
            (f"best recorded {o}", f"{last[f'{o}_best_ever']:.6g}  (last generation mean {last[f'{o}_mean']:.6g})")
        )
    if len(objectives) > 1:
        rows.append(("Pareto front", f"{len(result.front_fitness)} genomes -> front.npz"))
        vals = ", ".join(f"{o} {v:.4g}" for o, v in zip(objectives, result.best_fitness, strict=True))
        rows.append(("best_genome.npy", f"front member best on {objectives[0]} ({vals})"))
    rows.append(("run folder", str(result.out_dir)))
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line, *(f"{k:<{width}}  {v}" for k, v in rows), line])
