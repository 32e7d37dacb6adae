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
import time
from pathlib import Path
from typing import Any

import numpy as np

from evolve.blimp import ClosedLoopProblem, MimicProblem, banded_pid, record_pid_flights
from evolve.runner import EVOLVE_SECTION, EvolveSettings, evolve
from snnctl.config import Key, Section
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.factory import load_controller
from snnctl.progress import progress_bar
from snnctl.text import plural

SCHEMA = Section(
    "a blimp altitude experiment",
    experiment=Section("what this file is", family=Key(str, "blimp", "controller family", choices=("blimp",))),
    evolve=EVOLVE_SECTION,
    env=Section(
        "the simulated blimp (sim.blimp.BlimpAltitudeEnv)",
        excess_mass_kg=Key(float, 0.005, "mass above neutral buoyancy (kg)", ge=0, le=0.1),
        sensor_noise_m=Key(float, 0.01, "lidar noise standard deviation (m)", ge=0, le=0.5),
        control_rate_hz=Key(float, 10.0, "control rate (Hz); 1 / (rate * 2 ms) must be whole", gt=0, le=500),
        sensor_rate_hz=Key(
            float,
            10.0,
            "lidar rate (Hz); control_rate_hz / rate must be whole (the loop holds the last sample)",
            gt=0,
            le=500,
        ),
        gust_force_n=Key(float, 0.0, "vertical gust force amplitude (N)", ge=0, le=1),
        gust_rate_hz=Key(float, 0.05, "mean rate at which gusts start (1/s, Poisson)", ge=0, le=10),
        gust_duration_s=Key(float, 1.0, "length of one gust (s)", gt=0, le=60),
        buoyancy_drift_kg=Key(float, 0.0, "slow buoyancy drift amplitude (kg)", ge=0, le=0.1),
        buoyancy_drift_period_s=Key(float, 60.0, "period of the buoyancy drift (s)", gt=0, le=3600),
        motor_tau_s=Key(float, 0.1, "motor time constant (s; 0 = no lag)", ge=0, le=5),
        thrust_gain_n=Key(float, 0.045, "thrust per unit of command (N); u = 3.3 is full thrust", gt=0, le=1),
        dead_zone=Key(float, 0.1, "commands with |u| below this give no thrust", ge=0, le=3.3),
        envelope_semi_major_m=Key(float, 0.6, "envelope semi-major axis (m, horizontal)", gt=0, le=5),
        envelope_radius_m=Key(float, 0.3, "envelope radius (m); at most the semi-major axis", gt=0, le=5),
        envelope_areal_density_kg_m2=Key(float, 0.05, "envelope fabric (kg/m^2)", gt=0, le=1),
        air_density_kg_m3=Key(float, 1.2, "air density (kg/m^3)", ge=0.5, le=1.5),
        ceiling_m=Key(float, 4.0, "room height (m); the profiles reach 2.5 m", ge=3.5, le=100),
    ),
    network=Section(
        "the SNN (snnctl.controllers.blimp_snn.BlimpSNNSpec)",
        pd_pairs=Key(int, 12, "+/- comparator pairs of the PD net (fast and slow groups each)", ge=1, le=40),
        i_pairs=Key(int, 8, "+/- comparator pairs of the I net", ge=1, le=40),
        i_adaptive=Key(bool, False, "I-net encoders with adaptive thresholds (ALIF), as in the paper"),
        pd_range_m=Key(
            float, 1.0, "largest PD comparator threshold: the error range the PD net resolves (m)", ge=0.001, le=4.0
        ),
        i_range_m=Key(float, 0.1, "largest I comparator threshold: the integral band (m)", ge=0.001, le=4.0),
    ),
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
        sequences_per_generation=Key(int, 3, "sequences each generation is scored on", ge=1, le=1000),
    ),
    closed_loop=Section(
        "phase 2: fly the MuJoCo blimp (generations and population from [evolve])",
        episode_s=Key(float, 60.0, "length of a training flight (s)", gt=0, le=3600),
        episodes_per_generation=Key(int, 2, "training flights per genome and generation", ge=1, le=100),
        w_rmse=Key(float, 1.0, "cost weight of the RMSE (m)", ge=0),
        w_steady_state=Key(float, 5.0, "cost weight of the steady-state error (m)", ge=0),
        w_overshoot_up=Key(float, 0.5, "cost weight of the overshoot after up steps (m)", ge=0),
        w_overshoot_down=Key(float, 0.5, "cost weight of the overshoot after down steps (m)", ge=0),
        w_effort=Key(float, 0.0, "cost weight of the mean |u|", ge=0),
        w_overshoot_excess=Key(
            float, 0.0, "cost weight of a flight's overshoot (up and down) beyond the PID's on the same flight", ge=0
        ),
        spikes_objective=Key(bool, False, "second objective: spikes per second (use with algorithm = nsga2)"),
        relative_to_pid=Key(bool, False, "score the cost minus the PID's on the same flights (a paired comparison)"),
    ),
    run=Section(
        "held-out evaluation (snnctl run, and the table at the end of snnctl evolve)",
        episodes=Key(int, 10, "held-out flights", ge=1, le=1000),
        episode_s=Key(float, 120.0, "length of a held-out flight (s)", gt=0, le=3600),
        profile=Key(str, "steps", "reference profile kind", choices=("steps", "alternating", "ramps", "random")),
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
    if cfg["mimic"]["generations"] > 0:
        mdir = out_dir / "mimic"
        if progress:
            print(f"phase 1/2: mimic the PID ({plural(cfg['mimic']['flights'], 'recorded flight')})")
        target = banded_pid(spec) if cfg["mimic"]["target"] == "banded_pid" else None
        kw = env_kwargs(cfg, cfg["mimic"]["flight_s"])
        errors, targets = record_pid_flights(cfg["mimic"]["flights"], kw, seed=settings.seed, pid=target)
        val_errors, val_targets = record_pid_flights(
            max(1, settings.validation_episodes), kw, seed=settings.seed, pid=target, validation=True
        )
        problem = MimicProblem(spec, errors, targets, cfg["mimic"]["sequences_per_generation"], seed=settings.seed,
                               val_errors=val_errors, val_targets=val_targets)  # fmt: skip
        msettings = EvolveSettings.from_dict(
            {**cfg["evolve"], "generations": cfg["mimic"]["generations"], "sigma": cfg["mimic"]["sigma"]}
        )
        result = evolve(problem, msettings, mdir, resume=resume and (mdir / "checkpoint.pkl").exists(),
                        progress=progress, config=cfg)  # fmt: skip
        start = result.best_genome
    extra = {} if start is prior else {"PID-derived genome": prior}
    problem = closed_loop_problem(cfg, spec, initial=start, extra=extra)
    if start is not prior and not (resume and (out_dir / "checkpoint.pkl").exists()):
        # the mimic phase optimises a proxy; whether its result flies better than the prior it started
        # from is decided in closed loop on validation flights, before CMA-ES is centred on either
        start = choose_start(problem, {"mimic phase's export": start, "PID-derived genome": prior}, settings, progress)
        problem = closed_loop_problem(cfg, spec, initial=start, extra={"PID-derived genome": prior})
    if progress:
        print("phase 2/2: closed loop in the MuJoCo blimp" if cfg["mimic"]["generations"] else "closed loop in MuJoCo")
    evolve(problem, settings, out_dir, resume=resume and (out_dir / "checkpoint.pkl").exists(), progress=progress,
           config=cfg)  # fmt: skip
    evolve_s = time.time() - t0
    table = compare_heldout(cfg, out_dir / "best.snn", out_dir, progress=progress)
    table["evolution_wall_s"] = evolve_s
    (out_dir / "heldout.json").write_text(json.dumps(table, indent=2))
    return table


def closed_loop_problem(cfg: dict, spec: BlimpSNNSpec, initial: np.ndarray, extra: dict) -> ClosedLoopProblem:
    """The closed-loop phase's problem; validation flights are `snnctl run`'s kind of flight on validation seeds."""
    cl, seed = cfg["closed_loop"], cfg["evolve"]["seed"]
    return ClosedLoopProblem(
        spec, env_kwargs(cfg, cl["episode_s"]), cl["episodes_per_generation"], w_rmse=cl["w_rmse"],
        w_steady_state=cl["w_steady_state"], w_overshoot_up=cl["w_overshoot_up"],
        w_overshoot_down=cl["w_overshoot_down"], w_effort=cl["w_effort"], spikes_objective=cl["spikes_objective"],
        w_overshoot_excess=cl["w_overshoot_excess"], relative_to_pid=cl["relative_to_pid"], initial=initial, seed=seed,
        validation_env_kwargs=env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"]), extra_candidates=extra,
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


def run_main(cfg: dict, args: Any) -> int:
    """`snnctl run` on a blimp config: held-out flights, the metrics table (or JSON), a plot.

    With `--sensing` or `--faults` the flights go through the sensing-to-action loop instead
    (`sim.blimp_loop.fly_blimp_heldout`: sensing policy, reliability monitor, fault injection; the
    controller may also be `float:NET.snn`, the network's float reference), and `--plot` draws the
    loop's timeline. Without them the output is exactly the plain held-out table.
    """
    from snnctl.errors import SnnctlError
    from snnctl.snnfile import SnnFormatError

    sensing, fault_spec = getattr(args, "sensing", None), getattr(args, "faults", None)
    if sensing is not None or fault_spec is not None:
        from sim.blimp_loop import fly_blimp_heldout, format_loop_summary
        from sim.faults import FaultSpecError, parse_faults

        try:
            faults = parse_faults(fault_spec)
        except FaultSpecError as e:
            raise SnnctlError(f"--faults: {e}") from None
        path = args.controller.removeprefix("float:")
        if args.controller != "pid" and not Path(path).is_file():
            raise SnnctlError(f"{path}: no such file (give a .snn network, 'float:NET.snn' or 'pid')")
        kwargs = env_kwargs(cfg, cfg["run"]["episode_s"], cfg["run"]["profile"])
        try:
            summary, first = fly_blimp_heldout(kwargs, args.controller, sensing or "fixed", faults,
                                               args.episodes or cfg["run"]["episodes"], args.seed,
                                               record_first=bool(args.plot),
                                               force_rate=bool(getattr(args, "force_rate", False)),
                                               progress=not getattr(args, "quiet", False))  # fmt: skip
        except (SnnFormatError, ValueError) as e:
            raise SnnctlError(str(e)) from None
        if args.plot:
            from sim.loop_plots import plot_timeline

            plot_timeline(Path(args.plot), first, title=f"{Path(path).name if path != 'pid' else 'PID'}, first flight")
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(format_loop_summary(args.controller, summary))
            if args.plot:
                print(f"plot: {args.plot}")
        return 0

    if args.controller.startswith("float:"):
        raise SnnctlError(f"{args.controller}: the float reference flies in the sensing-to-action loop only;"
                          " add --sensing fixed (every sample, as without it)")  # fmt: skip
    if args.controller != "pid" and not Path(args.controller).is_file():
        raise SnnctlError(f"{args.controller}: no such file (give a .snn network or 'pid')")
    try:
        metrics, rec = fly_heldout(cfg, args.controller, args.episodes, args.seed, record_first=bool(args.plot),
                                   force_rate=bool(getattr(args, "force_rate", False)),
                                   progress=not getattr(args, "quiet", False))  # fmt: skip
    except (SnnFormatError, ValueError) as e:
        raise SnnctlError(str(e)) from None
    name = Path(args.controller).name if args.controller != "pid" else "pid"
    if args.plot:
        plot_flight(Path(args.plot), {Path(args.controller).stem if args.controller != "pid" else "PID": rec})
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_comparison({name: metrics}, metrics["episodes"]))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


def fly_heldout(cfg: dict, controller_spec: str, episodes: int | None = None, seed: int = 0,
                record_first: bool = False, force_rate: bool = False,
                progress: bool = False) -> tuple[dict, Any]:  # fmt: skip
    """Fly held-out profiles; returns mean metrics (and the first flight's record if asked).

    `progress`: a bar of the flights (`snnctl.progress`; a 120-s flight takes about 0.2 s)."""
    from sim.blimp import BlimpAltitudeEnv
    from sim.loop import heldout_seeds
    from sim.metrics import run_episode

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
    mean = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    mean["worst_overshoot_up_m"] = float(max(r["overshoot_up_m"] for r in rows))
    mean["worst_overshoot_down_m"] = float(max(r["overshoot_down_m"] for r in rows))
    mean["episodes"] = n
    return mean, (first if record_first else None)


def compare_heldout(cfg: dict, snn_path: Path, out_dir: Path, progress: bool = True) -> dict:
    snn, snn_rec = fly_heldout(cfg, str(snn_path), record_first=True, progress=progress)
    pid, pid_rec = fly_heldout(cfg, "pid", record_first=True, progress=progress)
    plot_flight(out_dir / "flight.png", {"SNN": snn_rec, "PID": pid_rec})
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


def plot_flight(path: Path, recs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_u) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=[2, 1])
    first = next(iter(recs.values()))
    ax.plot(first.t, first.reference, "k--", lw=1, label="reference")
    for name, rec in recs.items():
        ax.plot(rec.t, rec.altitude, lw=1.2, label=f"{name} altitude")
        ax_u.plot(rec.t, rec.action, lw=0.8, label=name)
    ax.set_ylabel("altitude (m)")
    ax.legend(loc="upper right", fontsize=8)
    ax_u.set_ylabel("command u")
    ax_u.set_xlabel("time (s)")
    ax.set_title("held-out flight: altitude vs reference")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_raster(path: Path, snn_path: Path, rec) -> None:
    """Replay the flight's error through the network to draw every neuron's spikes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnctl import runtime, snnfile

    net = snnfile.load(snn_path)
    codes = net.quantize_inputs((rec.reference - rec.measurement)[:, None])
    tr = runtime.run_trace(net, codes)
    fig, ax = plt.subplots(figsize=(9, 4))
    t_idx, n_idx = np.nonzero(tr.spikes)
    ax.scatter(rec.t[t_idx], n_idx, s=1, c="k", marker="|")
    off = net.offsets()
    for i, p in enumerate(net.populations):
        ax.axhline(off[i] - 0.5, color="0.8", lw=0.5)
        ax.text(rec.t[-1] * 1.01, (off[i] + off[i + 1]) / 2, p.name or str(i), fontsize=7, va="center")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    ax.set_title("SNN spikes during the held-out flight")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
