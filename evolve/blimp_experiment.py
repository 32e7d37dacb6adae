"""The blimp experiment end to end: config schema, the evolution phases, held-out comparison, plots.

`snnctl evolve configs/blimp_pid.toml` runs `evolve_blimp`; `snnctl run configs/blimp_pid.toml
--controller best.snn|pid` runs `fly_heldout`. Phases (each a normal `evolve.runner` run folder):

1. `mimic/` (optional, `[mimic] generations > 0`): the paper's fitness, MAE + (1 - r) against the
   PID's commands on error sequences recorded from PID flights — cheap, batched in numba. The PID
   is the tuned baseline (`target = "pid"`, as in the paper) or the PID the initial network is
   derived from (`"banded_pid"`: D of the error, the I net's integral band). Mimicking the baseline
   pulls the network's integrator back to the baseline's wind-up; the banded one keeps the network
   what it was designed to be. The flights last `[mimic] flight_s`, independent of the held-out
   `[run] episode_s` (an evaluation setting must not change what evolution sees).
2. the closed-loop phase in the run folder itself, started from phase 1's best genome (or the
   codec's PID-derived initial genome): the MuJoCo blimp flies every genome.

The run folder then gets `best.snn`, a comparison table against the PID on held-out profiles
(`heldout.json`), `flight.png` (altitude vs reference, SNN and PID) and `raster.png` (the SNN's
spikes during that flight).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evolve.blimp import ClosedLoopProblem, MimicProblem, banded_pid, record_pid_flights
from evolve.run_options import RunOptions
from evolve.runner import EVOLVE_SECTION, EvolveSettings, Interrupted, evolve
from sim.blimp import BlimpAltitudeEnv
from sim.profiles import KINDS as PROFILE_KINDS
from snnctl.config import Key, Limits, Section, signature_keys, spec_keys
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.factory import load_controller
from snnctl.progress import progress_bar
from snnctl.text import plural

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCHEMA = Section(
    "a blimp altitude experiment",
    experiment=Section("what this file is", family=Key(str, "blimp", "controller family", choices=("blimp",))),
    evolve=EVOLVE_SECTION,
    env=Section(
        "the simulated blimp (sim.blimp.BlimpAltitudeEnv)",  # defaults: the constructor's
        **signature_keys(
            BlimpAltitudeEnv,
            excess_mass_kg=Limits("mass above neutral buoyancy (kg)", ge=0, le=0.1),
            sensor_noise_m=Limits("lidar noise standard deviation (m)", ge=0, le=0.5),
            control_rate_hz=Limits("control rate (Hz); 1 / (rate * 2 ms) must be whole", gt=0, le=500),
        ),
        # the env's default (None) is the control rate, which TOML cannot write: 10 Hz, the paper's lidar
        sensor_rate_hz=Key(
            float,
            10.0,
            "lidar rate (Hz); control_rate_hz / rate must be whole (the loop holds the last sample)",
            gt=0,
            le=500,
        ),
        **signature_keys(
            BlimpAltitudeEnv,
            gust_force_n=Limits("vertical gust force amplitude (N)", ge=0, le=1),
            gust_rate_hz=Limits("mean rate at which gusts start (1/s, Poisson)", ge=0, le=10),
            gust_duration_s=Limits("length of one gust (s)", gt=0, le=60),
            buoyancy_drift_kg=Limits("slow buoyancy drift amplitude (kg)", ge=0, le=0.1),
            buoyancy_drift_period_s=Limits("period of the buoyancy drift (s)", gt=0, le=3600),
            motor_tau_s=Limits("motor time constant (s; 0 = no lag)", ge=0, le=5),
            thrust_gain_n=Limits("thrust per unit of command (N); u = 3.3 is full thrust", gt=0, le=1),
            dead_zone=Limits("commands with |u| below this give no thrust", ge=0, le=3.3),
            envelope_semi_major_m=Limits("envelope semi-major axis (m, horizontal)", gt=0, le=5),
            envelope_radius_m=Limits("envelope radius (m); at most the semi-major axis", gt=0, le=5),
            envelope_areal_density_kg_m2=Limits("envelope fabric (kg/m^2)", gt=0, le=1),
            air_density_kg_m3=Limits("air density (kg/m^3)", ge=0.5, le=1.5),
            ceiling_m=Limits("room height (m); the profiles reach 2.5 m", ge=3.5, le=100),
        ),
    ),
    network=Section("the SNN (snnctl.controllers.blimp_snn.BlimpSNNSpec)", **spec_keys(BlimpSNNSpec)),
    mimic=Section(
        "phase 1: mimic the PID on recorded flights (skipped when generations = 0)",
        generations=Key(int, 0, "generations of the mimic phase", ge=0, le=1_000_000),
        sigma=Key(float, 0.1, "CMA-ES step size of the mimic phase", gt=0, le=1),
        flights=Key(int, 40, "PID flights recorded for training sequences", ge=1, le=10_000),
        flight_s=Key(float, 120.0, "length of a recorded PID flight (s)", gt=0, le=3600),
        target=Key(
            str,
            "pid",
            "PID to mimic: the tuned baseline ('pid', as in the paper) or 'banded_pid', the network's own "
            "derivation (D of the error, the I net's integral band)",
            choices=("pid", "banded_pid"),
        ),
        **spec_keys(MimicProblem),  # sequences_per_generation
    ),
    closed_loop=Section(
        "phase 2: fly the MuJoCo blimp (generations and population from [evolve])",
        episode_s=Key(float, 60.0, "length of a training flight (s)", gt=0, le=3600),
        **spec_keys(ClosedLoopProblem),  # episodes_per_generation, the cost weights, the objectives
    ),
    run=Section(
        "held-out evaluation (snnctl run, and the table at the end of snnctl evolve)",
        episodes=Key(int, 10, "held-out flights", ge=1, le=1000),
        **signature_keys(
            BlimpAltitudeEnv,
            episode_s=Limits("length of a held-out flight (s)", gt=0, le=3600),
            profile=Limits("reference profile kind", choices=PROFILE_KINDS),
        ),
    ),
    goals=Section(
        "what `snnctl bench evolve` checks on each seed's held-out table (pass/fail computed, not judged)",
        steady_state_m=Key(float, 0.02, "steady-state error at most this (m)", gt=0, le=1),
        rmse_vs_pid=Key(float, 1.05, "RMSE at most this times the PID's", gt=0, le=100),
        overshoot_vs_pid=Key(float, 1.0, "mean and worst overshoot, up and down, at most this times the PID's", gt=0),
        wall_s=Key(float, 300.0, "wall time of one seed's main job (evolution, selection, held-out table) (s)", gt=0),
    ),
)

# family-specific `snnctl run` flags (snnctl.cli.families): the sensing-to-action loop's
RUN_OPTIONS: frozenset[str] = frozenset({"sensing", "faults"})
# family-specific `snnctl evolve` flags (snnctl.cli.families.evolve_overrides): dest -> config key
EVOLVE_OPTIONS = {"mimic_generations": "mimic.generations", "episode_s": "closed_loop.episode_s"}

BENCH_METRICS = [
    ("rmse_m", "RMSE (m)", "lower"),
    ("steady_state_error_m", "steady-state error (m)", "lower"),
    ("overshoot_up_m", "overshoot up (m)", "lower"),
    ("overshoot_down_m", "overshoot down (m)", "lower"),
    ("worst_overshoot_up_m", "worst overshoot up (m)", "lower"),
    ("worst_overshoot_down_m", "worst overshoot down (m)", "lower"),
    ("control_effort", "mean |u|", "lower"),
    ("spikes_per_s", "spikes per second", "lower"),
]


def bench_result(cfg: dict, out_dir: Path, wall_s: float) -> dict:
    """One seed's row of `snnctl bench evolve` (evolve.multiseed): held-out SNN vs PID and the goals."""
    table = json.loads((Path(out_dir) / "heldout.json").read_text())
    snn, pid, g = table["snn"], table["pid"], cfg["goals"]
    over = g["overshoot_vs_pid"]
    goals = [
        (f"steady-state error <= {g['steady_state_m'] * 100:g} cm", snn["steady_state_error_m"] <= g["steady_state_m"]),
        (f"RMSE <= {g['rmse_vs_pid']:g} x PID", snn["rmse_m"] <= g["rmse_vs_pid"] * pid["rmse_m"]),
    ]
    for key, label in (("overshoot_up_m", "overshoot up"), ("overshoot_down_m", "overshoot down"),
                       ("worst_overshoot_up_m", "worst overshoot up"),
                       ("worst_overshoot_down_m", "worst overshoot down")):  # fmt: skip
        goals.append((f"{label} <= {'' if over == 1 else f'{over:g} x '}PID", snn[key] <= over * pid[key]))
    goals.append((f"wall time <= {g['wall_s']:g} s", wall_s <= g["wall_s"]))
    return {
        "metrics": {k: snn[k] for k, _, _ in BENCH_METRICS},
        "baseline": {k: pid[k] for k, _, _ in BENCH_METRICS},
        "baseline_name": "PID",
        "episodes": snn["episodes"],
        "goals": [{"goal": label, "passed": bool(ok)} for label, ok in goals],
    }


METRICS = ("rmse_m", "steady_state_error_m", "overshoot_up_m", "overshoot_down_m", "control_effort", "spikes_per_s")


def env_kwargs(cfg: dict, episode_s: float, profile: str = "steps") -> dict:
    return {**cfg["env"], "episode_s": episode_s, "profile": profile}


def spec_of(cfg: dict) -> BlimpSNNSpec:
    return BlimpSNNSpec(**cfg["network"])


def evolve_blimp(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> dict:
    """Run the phases into `out_dir`; returns the held-out comparison (SNN vs PID)."""
    out_dir = Path(out_dir)
    spec = spec_of(cfg)
    settings = EvolveSettings.from_dict(cfg["evolve"])
    prior = start = BlimpSNNCodec(spec).initial_genome
    t0 = time.time()
    closed_started = resume and (out_dir / "checkpoint.pkl").exists()
    try:
        if cfg["mimic"]["generations"] > 0:
            start = mimic_phase(cfg, spec, settings, out_dir / "mimic", resume, progress)
        extra = {} if start is prior else {"PID-derived genome": prior}
        problem = closed_loop_problem(cfg, spec, initial=start, extra=extra)
        if start is not prior and not closed_started:
            # the mimic phase optimises a proxy; whether its result flies better than the prior it started
            # from is decided in closed loop on validation flights, before CMA-ES is centred on either
            starts = {"mimic phase's export": start, "PID-derived genome": prior}
            start = choose_start(problem, starts, settings, progress)
            problem = closed_loop_problem(cfg, spec, initial=start, extra={"PID-derived genome": prior})
    except KeyboardInterrupt as e:
        if closed_started:  # out_dir/best.snn is already the closed-loop phase's export
            raise
        raise _export_before_closed_loop(cfg, spec, settings, out_dir, e) from None
    if progress:
        print("phase 2/2: closed loop in the MuJoCo blimp" if cfg["mimic"]["generations"] else "closed loop in MuJoCo")
    evolve(problem, settings, out_dir, resume=resume and (out_dir / "checkpoint.pkl").exists(), progress=progress,
           config=cfg)  # fmt: skip
    evolve_s = time.time() - t0
    table = compare_heldout(cfg, out_dir / "best.snn", out_dir, progress=progress)
    table["evolution_wall_s"] = evolve_s
    (out_dir / "heldout.json").write_text(json.dumps(table, indent=2))
    return table


def mimic_phase(cfg: dict, spec: BlimpSNNSpec, settings: EvolveSettings, mdir: Path, resume: bool,
                progress: bool) -> np.ndarray:  # fmt: skip
    """Phase 1 in `mdir`: record PID flights, evolve the network to mimic them; its validated export."""
    if progress:
        print(f"phase 1/2: mimic the PID ({cfg['mimic']['flights']} recorded flights)")
    target = banded_pid(spec) if cfg["mimic"]["target"] == "banded_pid" else None
    kw = env_kwargs(cfg, cfg["mimic"]["flight_s"])
    errors, targets = record_pid_flights(cfg["mimic"]["flights"], kw, seed=settings.seed, pid=target,
                                         progress=progress)  # fmt: skip
    val_errors, val_targets = record_pid_flights(
        max(1, settings.validation_episodes), kw, seed=settings.seed, pid=target, validation=True, progress=progress
    )
    problem = MimicProblem(spec, errors, targets, cfg["mimic"]["sequences_per_generation"], seed=settings.seed,
                           val_errors=val_errors, val_targets=val_targets)  # fmt: skip
    msettings = EvolveSettings.from_dict(
        {**cfg["evolve"], "generations": cfg["mimic"]["generations"], "sigma": cfg["mimic"]["sigma"]}
    )
    result = evolve(problem, msettings, mdir, resume=resume and (mdir / "checkpoint.pkl").exists(),
                    progress=progress, config=cfg)  # fmt: skip
    return result.best_genome


def _export_before_closed_loop(cfg: dict, spec: BlimpSNNSpec, settings: EvolveSettings, out_dir: Path,
                               e: KeyboardInterrupt) -> Interrupted:  # fmt: skip
    """Ctrl-C before the closed-loop phase: best.snn is the better of the mimic phase's validated export
    and the PID-derived genome on closed-loop validation flights (the prior alone before the mimic
    phase has exported anything); a second Ctrl-C skips the flights and leaves the prior."""
    if not isinstance(e, Interrupted):  # the runner has said what it kept otherwise
        where = (f"before the closed-loop phase (the mimic phase is checkpointed in {out_dir / 'mimic'})"
                 if (out_dir / "mimic" / "checkpoint.pkl").is_file() else
                 f"no generation checkpointed yet in {out_dir}")  # fmt: skip
        print(f"\ninterrupted: {where}", file=sys.stderr, flush=True)
    prior = BlimpSNNCodec(spec).initial_genome
    mimic_best = out_dir / "mimic" / "best_genome.npy"
    problem = closed_loop_problem(cfg, spec, initial=prior, extra={})
    genome, what = prior, "the PID-derived genome (the only candidate before the mimic phase exports)"
    if mimic_best.is_file():  # written only by the mimic phase's (validated) export
        print("choosing best.snn: the mimic phase's export or the PID-derived genome, on closed-loop validation "
              "flights (Ctrl-C again to skip) ...", file=sys.stderr, flush=True)  # fmt: skip
        try:
            starts = {"mimic phase's export": np.load(mimic_best), "PID-derived genome": prior}
            genome = choose_start(problem, starts, settings, progress=False)
            what = "the best validated candidate so far (mimic phase's export vs the PID-derived genome)"
        except KeyboardInterrupt:
            print("validation skipped (second Ctrl-C): best.snn is the PID-derived genome", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)  # evolve_blimp called directly: the folder may not exist yet
    problem.export_best(genome, out_dir)
    done = e.done if isinstance(e, Interrupted) else 0
    target = e.target if isinstance(e, Interrupted) else cfg["mimic"]["generations"]
    return Interrupted(out_dir, done, target, what)


def closed_loop_problem(cfg: dict, spec: BlimpSNNSpec, initial: np.ndarray, extra: dict) -> ClosedLoopProblem:
    """The closed-loop phase's problem; validation flights are `snnctl run`'s kind of flight on validation seeds."""
    cl, seed = cfg["closed_loop"], cfg["evolve"]["seed"]
    return ClosedLoopProblem(
        spec, env_kwargs(cfg, cl["episode_s"]), **{k: cl[k] for k in spec_keys(ClosedLoopProblem)}, initial=initial,
        seed=seed, validation_env_kwargs=env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"]),
        extra_candidates=extra,
    )  # fmt: skip


def choose_start(problem: ClosedLoopProblem, starts: dict, settings: EvolveSettings, progress: bool) -> np.ndarray:
    """The start (label -> genome) best on the closed-loop validation flights (`evolve.selection.select`)."""
    from evolve.backends import make_backend
    from evolve.selection import Candidate, select

    cands = [Candidate(label, np.asarray(g, dtype=np.float64)) for label, g in starts.items()]
    n = max(1, settings.validation_episodes)
    with make_backend(settings.backend, settings.workers, settings.ray_address or None,
                      start_method=settings.start_method) as backend:  # fmt: skip
        sel = select(problem, cands, backend, n, problem.weights)
    if progress:
        means = ", ".join(f"{c.label} {m:+.4f}" for c, m in zip(cands, sel.means[:, 0], strict=True))
        print(f"closed-loop start: {sel.best.label} (validation cost over {plural(n, 'flight')}: {means})")
    return sel.best.genome


def evolve_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> None:
    """`snnctl evolve` on a blimp config."""
    evolve_blimp(cfg, out_dir, resume=resume, progress=progress)


def run_main(cfg: dict, opts: RunOptions) -> int:
    """`snnctl run` on a blimp config: held-out flights, the metrics table (or JSON), a plot.

    `--plot` draws the first flight with the PID flying the same profile beside a network (the
    comparison a reader wants; the table stays the network's alone).

    With `--sensing` or `--faults` the flights go through the sensing-to-action loop instead
    (`sim.blimp_loop.fly_blimp_heldout`: sensing policy, reliability monitor, fault injection; the
    controller may also be `float:NET.snn`, the network's float reference), and `--plot` draws the
    loop's timeline. Without them the output is exactly the plain held-out table.
    """
    from snnctl.errors import SnnctlError
    from snnctl.snnfile import SnnFormatError

    sensing, fault_spec = opts.sensing, opts.faults
    if sensing is not None or fault_spec is not None:
        from sim.blimp_loop import fly_blimp_heldout, format_loop_summary
        from sim.faults import FaultSpecError, parse_faults

        try:
            faults = parse_faults(fault_spec)
        except FaultSpecError as e:
            raise SnnctlError(f"--faults: {e}") from None
        path = opts.controller.removeprefix("float:")
        if opts.controller != "pid" and not Path(path).is_file():
            raise SnnctlError(f"{path}: no such file (give a .snn network, 'float:NET.snn' or 'pid')")
        kwargs = env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"])
        try:
            summary, first = fly_blimp_heldout(kwargs, opts.controller, sensing or "fixed", faults,
                                               opts.episodes or cfg["run"]["episodes"], opts.seed,
                                               record_first=bool(opts.plot),
                                               force_rate=opts.force_rate,
                                               progress=not opts.quiet)  # fmt: skip
        except (SnnFormatError, ValueError) as e:
            raise SnnctlError(str(e)) from None
        if opts.plot:
            from sim.blimp_loop import blimp_plot_labels
            from sim.loop_plots import plot_timeline

            plot_timeline(Path(opts.plot), first, title=f"{Path(path).name if path != 'pid' else 'PID'}, first flight",
                          **blimp_plot_labels(cfg["env"]["thrust_gain_n"]))  # fmt: skip
        if opts.json:
            print(json.dumps(summary, indent=2))
        else:
            print(format_loop_summary(opts.controller, summary))
            if opts.plot:
                print(f"plot: {opts.plot}")
        return 0

    if opts.controller.startswith("float:"):
        raise SnnctlError(f"{opts.controller}: the float reference flies in the sensing-to-action loop only;"
                          " add --sensing fixed (every sample, as without it)")  # fmt: skip
    if opts.controller != "pid" and not Path(opts.controller).is_file():
        raise SnnctlError(f"{opts.controller}: no such file (give a .snn network or 'pid')")
    try:
        metrics, rec = fly_heldout(cfg, opts.controller, opts.episodes, opts.seed, record_first=bool(opts.plot),
                                   force_rate=opts.force_rate,
                                   progress=not opts.quiet)  # fmt: skip
    except (SnnFormatError, ValueError) as e:
        raise SnnctlError(str(e)) from None
    name = Path(opts.controller).name if opts.controller != "pid" else "pid"
    if opts.plot:
        recs = {"PID": rec}
        if opts.controller != "pid":  # the reference a reader compares with: the PID on the same flight
            _, pid_rec = fly_heldout(cfg, "pid", 1, opts.seed, record_first=True)
            recs = {f"SNN ({name})": rec, "PID": pid_rec}
        plot_flight(Path(opts.plot), recs, u_label(cfg))
    if opts.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_comparison({name: metrics}, metrics["episodes"]))
        if opts.plot:
            print(f"plot: {opts.plot}")
    return 0


def u_label(cfg: dict) -> str:
    """The command axis label, with what one unit of u pushes (`sim.blimp_loop.blimp_plot_labels`)."""
    from sim.blimp_loop import blimp_plot_labels

    return blimp_plot_labels(cfg["env"]["thrust_gain_n"])["action_label"]


def fly_heldout(cfg: dict, controller_spec: str, episodes: int | None = None, seed: int = 0,
                record_first: bool = False, force_rate: bool = False,
                progress: bool = False) -> tuple[dict, Any]:  # fmt: skip
    """Fly held-out profiles; returns mean metrics (and the first flight's record if asked).

    `progress`: a bar of the flights (`snnctl.progress`; a 120-s flight takes about 0.2 s)."""
    from sim.blimp import BlimpAltitudeEnv
    from sim.blimp_metrics import heldout_means, run_episode
    from sim.loop import heldout_seeds

    n = episodes or cfg["run"]["episodes"]
    env = BlimpAltitudeEnv(**env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"]))
    try:
        seeds = heldout_seeds(env, n, seed)  # the held-out set the blimp declares (sim.blimp_loop.BLIMP_LOOP)
        ctl = load_controller(controller_spec, env.dt, force=force_rate, env=env)
    except BaseException:
        env.close()
        raise
    rows, first = [], None
    with progress_bar(progress, len(seeds), "held-out flights", "flight") as bar:
        for s in seeds:
            rec = run_episode(env, ctl, seed=s)
            m = rec.metrics()
            spikes = rec.extras.get("spikes")
            m["spikes_per_s"] = float(spikes.sum() / (len(rec.t) * env.dt)) if spikes is not None else 0.0
            rows.append(m)
            first = first or rec
            bar.update(1)
    env.close()
    mean = heldout_means(rows, METRICS)
    mean["episodes"] = n
    return mean, (first if record_first else None)


def compare_heldout(cfg: dict, snn_path: Path, out_dir: Path, progress: bool = True) -> dict:
    snn, snn_rec = fly_heldout(cfg, str(snn_path), record_first=True, progress=progress)
    pid, pid_rec = fly_heldout(cfg, "pid", record_first=True, progress=progress)
    plot_flight(out_dir / "flight.png", {f"SNN ({snn_path.name})": snn_rec, "PID": pid_rec}, u_label(cfg))
    plot_raster(out_dir / "raster.png", snn_path, snn_rec)
    table = {"snn": snn, "pid": pid}
    if progress:
        print(format_comparison(table, cfg["run"]["episodes"]))
    return table


def format_comparison(table: dict, episodes: int) -> str:
    rows = [("RMSE (m)", "rmse_m"), ("steady-state error (m)", "steady_state_error_m"),
            ("overshoot up (m)", "overshoot_up_m"), ("overshoot down (m)", "overshoot_down_m"),
            ("worst overshoot up (m)", "worst_overshoot_up_m"), ("worst overshoot down (m)", "worst_overshoot_down_m"),
            ("mean |u|", "control_effort"), ("spikes per second", "spikes_per_s")]  # fmt: skip
    names = list(table)
    lines = [f"held-out profiles: {plural(episodes, 'flight')} (mean over flights)", f"  {'metric':26}" + "".join(
        f"{n.upper():>12}" for n in names)]  # fmt: skip
    for label, key in rows:
        lines.append(f"  {label:26}" + "".join(f"{table[n][key]:12.4f}" for n in names))
    return "\n".join(lines)


def flight_figure(recs: dict[str, Any], u_label: str = "command u") -> Figure:
    """The figure `plot_flight` writes (a matplotlib `Figure`, no pyplot), for tests and further drawing.

    `recs` maps a legend label (the controller's role, e.g. "SNN (best.snn)", "PID") to a flight's
    record; all fly the first one's reference. The PID keeps one colour in every plot, and the
    commands are drawn PID last (on top): the SNN's chattering command would hide it otherwise.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax, ax_u = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    first = next(iter(recs.values()))
    ax.plot(first.t, first.reference, color="k", ls="--", lw=1, label="reference")
    others = iter(["tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"])
    colours = {name: "tab:orange" if name == "PID" else next(others) for name in recs}
    for name in sorted(recs, key=lambda n: n == "PID"):
        rec, pid = recs[name], name == "PID"
        ax.plot(rec.t, rec.altitude, lw=1.3, color=colours[name], label=name)
        ax_u.plot(rec.t, rec.action, lw=1.0 if pid else 0.6, alpha=1.0 if pid else 0.7, color=colours[name],
                  label=name)  # fmt: skip
    legend = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8}
    ax.set_ylabel("altitude (m)")
    ax.legend(**legend)
    ax_u.set_ylabel(u_label)
    ax_u.set_xlabel("time (s)")
    ax_u.legend(**legend)
    ax.set_title("held-out flight: altitude vs reference" + (", same profile and noise" if len(recs) > 1 else ""))
    return fig


def plot_flight(path: Path, recs: dict[str, Any], u_label: str = "command u") -> None:
    """Write `flight_figure(recs, u_label)` as a PNG: the controllers' altitude and command over one flight."""
    flight_figure(recs, u_label).savefig(path, dpi=110)


def plot_raster(path: Path, snn_path: Path, rec) -> None:
    """Replay the flight's error through the network: inputs, spikes by population, membranes, command."""
    from snnctl import snnfile
    from snnctl.network_plot import network_figure

    net = snnfile.load(snn_path)
    codes = net.quantize_inputs((rec.reference - rec.measurement)[:, None])
    fig, _ = network_figure(net, codes, title="the SNN during the held-out flight (input: altitude error)")
    fig.savefig(path, dpi=110)
