"""The gym family: any gymnasium env by its id, an integer SNN controller evolved for it (issue 17).

`snnctl evolve configs/gym_cartpole.toml` reads the env's spaces (`evolve.gym`), measures the
range of unbounded observation dimensions with a short random-action rollout (`calibration.json`
in the run folder, which the network's input scales then hold), evolves the network of
`[network]` (`snnctl.controllers.gym_snn`) by mean training return, picks the export on validation
episodes (`evolve.selection`), writes `best.snn` and ends with a held-out table (`heldout.json`:
return over `[run] episodes` episodes with seeds from 1,000,000, never trained or chosen on;
neurons, synapses, spikes per step, evolution wall time) and `episode.png` (the network during the
first held-out episode).

`snnctl run CONFIG --controller best.snn [--episodes N] [--json] [--plot OUT.png] [--video OUT.gif]`
plays a saved network on held-out episodes (the video films the first one through the env's
`rgb_array` rendering: MuJoCo envs offscreen; classic-control envs need pygame).
`snnctl bench evolve CONFIG --seeds 1 2 3` tabulates seeds
(`BENCH_METRICS`, `bench_result`; goals from `[goals]`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from evolve.gym import EnvConfigError, GymProblem, calibrate, control_period, episode, make_env, observation_bounds
from evolve.run_options import RunOptions
from evolve.runner import EVOLVE_SECTION, EvolveSettings, evolve
from sim.metrics import summarize
from sim.seeds import HELDOUT_START, heldout_seed
from snnctl.config import Key, OpenTable, Section, spec_keys
from snnctl.controllers.gym_io import UnboundedObservationError, observation_full_scale
from snnctl.controllers.gym_snn import GymSNNSpec
from snnctl.errors import SnnctlError
from snnctl.text import plural

SCHEMA = Section(
    "a gymnasium env with an evolved integer SNN controller (issue 17)",
    experiment=Section("what this file is", family=Key(str, "gym", "controller family", choices=("gym",))),
    evolve=EVOLVE_SECTION,
    env=Section(
        "the env",
        id=Key(str, "CartPole-v1", "a registered gymnasium id, 'module:RegisteredId-v0', or 'module.path:EnvClass'"),
        module=Key(str, "", "a module to import first (it registers your own ids); empty = none"),
        max_episode_steps=Key(int, 0, "episode limit; 0 = the env's own (an env class without one needs it)", ge=0),
        kwargs=OpenTable("keyword arguments of the env (gymnasium.make or the class)"),
    ),
    calibration=Section(
        "the random-action rollout that measures unbounded observation dimensions (calibration.json)",
        episodes=Key(int, 20, "episodes; 0 = none (then every observation dimension must be bounded)", ge=0, le=10_000),
        steps=Key(int, 200, "steps per episode at most", ge=1, le=1_000_000),
        headroom=Key(float, 1.5, "full scale = headroom x the largest |value| seen", ge=1, le=100),
    ),
    network=Section("the integer network (snnctl/controllers/gym_snn.py)", **spec_keys(GymSNNSpec)),
    train=Section("fitness during evolution", **spec_keys(GymProblem)),
    run=Section(
        "held-out evaluation (snnctl run, and the table at the end of snnctl evolve)",
        episodes=Key(int, 100, "held-out episodes", ge=1, le=100_000),
        episode_steps=Key(int, 0, "steps of a held-out episode at most; 0 = until the env ends it", ge=0),
    ),
    goals=Section(
        "what `snnctl bench evolve` checks on each seed's held-out table (pass/fail computed, not judged)",
        min_return=Key(float, 0.0, "mean held-out return at least this", ge=-1e12, le=1e12),
        max_neurons=Key(int, 1024, "neurons of the network at most", ge=1),
        wall_s=Key(float, 900.0, "wall time of one seed's main job (evolution, selection, held-out table) (s)", gt=0),
    ),
)

BENCH_METRICS = [
    ("return_mean", "return (mean of episodes)", "higher"),
    ("return_std", "return (std over episodes)", "lower"),
    ("return_min", "return (worst episode)", "higher"),
    ("neurons", "neurons", "lower"),
    ("synapses", "synapses", "lower"),
    ("spikes_per_step", "spikes per step", "lower"),
    ("evolution_s", "evolution wall time (s)", "lower"),
]

RUN_OPTIONS: frozenset[str] = frozenset({"video"})
EVOLVE_OPTIONS = {"episode_steps": "train.episode_steps"}


def _user_error(e: Exception) -> SnnctlError:
    return SnnctlError(str(e))


def full_scale_of(cfg: dict, out_dir: Path | None) -> np.ndarray:
    """Each observation dimension's full scale (bounds, or the calibration rollout, written to out_dir)."""
    env = make_env(cfg["env"])
    try:
        low, high = observation_bounds(env, cfg["env"]["id"])
        cal = None
        c = cfg["calibration"]
        if c["episodes"] and not (np.isfinite(low) & np.isfinite(high)).all():
            cal = calibrate(env, c["episodes"], c["steps"], cfg["evolve"]["seed"])
        scale = observation_full_scale(low, high, cal, c["headroom"], key="calibration.episodes")
    finally:
        env.close()
    if out_dir is not None:
        record = {"env": cfg["env"]["id"], "low": _finite(low), "high": _finite(high),
                  "calibration_max": None if cal is None else cal.tolist(), **{k: c[k] for k in c},
                  "seed": cfg["evolve"]["seed"], "full_scale": scale.tolist()}  # fmt: skip
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "calibration.json").write_text(json.dumps(record, indent=2) + "\n")
    return scale


def _finite(a: np.ndarray) -> list[float | None]:
    """The values, an infinite bound as None (JSON has no inf: null)."""
    return [float(x) if np.isfinite(x) else None for x in a]


def problem_of(cfg: dict, out_dir: Path | None = None) -> GymProblem:
    """The config's problem; every user mistake a SnnctlError naming the key."""
    try:
        scale = full_scale_of(cfg, out_dir)
        return GymProblem(cfg["env"], GymSNNSpec(**cfg["network"]), tuple(scale.tolist()), seed=cfg["evolve"]["seed"],
                          validation_steps=cfg["run"]["episode_steps"], **cfg["train"])  # fmt: skip
    except (EnvConfigError, UnboundedObservationError) as e:
        raise _user_error(e) from None
    except ValueError as e:
        raise SnnctlError(f"{cfg['env']['id']}: {e}") from None


def evolve_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> None:
    """`snnctl evolve` on a gym config: calibrate, evolve, export best.snn, then the held-out table."""
    out_dir = Path(out_dir)
    problem = problem_of(cfg, out_dir)
    settings = EvolveSettings.from_dict(cfg["evolve"])
    if settings.algorithm == "nsga2" and not problem.spikes_objective:
        raise SnnctlError("evolve.algorithm = 'nsga2' needs a second objective: set train.spikes_objective = true")
    t0 = time.perf_counter()
    result = evolve(problem, settings, out_dir, resume=resume and (out_dir / "checkpoint.pkl").exists(),
                    progress=progress, config=cfg)  # fmt: skip
    wall = time.perf_counter() - t0
    path = out_dir / "best.snn"
    res = heldout(cfg, path, progress=progress)
    table = {**res, "evaluations": int(result.evaluations), "generations": int(result.generations),
             "evolution_s": float(result.elapsed), "wall_s": wall, "best_file": path.name}  # fmt: skip
    (out_dir / "heldout.json").write_text(json.dumps(table, indent=2) + "\n")
    plot_episode(cfg, path, out_dir / "episode.png", 0)
    if progress:
        print(format_table(table))


def heldout(cfg: dict, path: Path, episodes: int | None = None, first: int = 0, force_rate: bool = False,
            progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """The saved network on held-out episodes `first ..`: returns and their summary, size, spikes per step."""
    from snnctl.controllers.factory import load_controller

    ctl, t = play_heldout(cfg, lambda env: load_controller(path, control_period(env), force=force_rate, env=env),
                          episodes, first, progress)  # fmt: skip
    return {"env": cfg["env"]["id"], "controller": path.name, **t, "neurons": ctl.net.n_neurons,
            "synapses": ctl.net.n_synapses}  # fmt: skip


def play_heldout(cfg: dict, make_ctl: Any, episodes: int | None = None, first: int = 0,
                 progress: bool = False) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Any controller (`make_ctl(env)`: `act`, `reset`, `last_spike_count`) on held-out episodes `first ..`:
    (the controller, its returns, their summary, spikes per step)."""
    from snnctl.progress import progress_bar

    n = episodes or cfg["run"]["episodes"]
    env = make_env(cfg["env"])
    try:
        ctl = make_ctl(env)
        rows = []
        with progress_bar(progress, n, "held-out episodes", "episode") as bar:
            for k in range(n):
                rows.append(episode(env, ctl, heldout_seed(first + k), cfg["run"]["episode_steps"] or None))
                bar.update(1)
    finally:
        env.close()
    returns = [r[0] for r in rows]
    s = summarize([{"return": r} for r in returns], ["return"], better="higher")["return"]
    return ctl, {"episodes": n, "first_seed": HELDOUT_START + first, "return_mean": s["mean"],
                 "return_std": s["std"], "return_min": s["worst"], "return_max": float(max(returns)),
                 "returns": returns, "spikes_per_step": sum(r[2] for r in rows) / max(1, sum(r[1] for r in rows)),
                 "steps": int(sum(r[1] for r in rows))}  # fmt: skip


def format_table(t: dict) -> str:
    last = t["first_seed"] + t["episodes"] - 1
    lines = [f"{t['controller']} on {t['env']}, {plural(t['episodes'], 'held-out episode')} (seeds"
             f" {t['first_seed']}..{last})",
             f"  return  mean {t['return_mean']:.1f}  std {t['return_std']:.1f}  min {t['return_min']:.1f}"
             f"  max {t['return_max']:.1f}",
             f"  {plural(t['neurons'], 'neuron')}, {plural(t['synapses'], 'synapse')},"
             f" {t['spikes_per_step']:.2f} spikes per step"]  # fmt: skip
    if "evolution_s" in t:
        lines.append(f"  evolution {t['evolution_s']:.0f} s, {plural(t['evaluations'], 'evaluation')}")
    return "\n".join(lines)


def bench_result(cfg: dict, out_dir: Path, wall_s: float) -> dict:
    """One seed's row of `snnctl bench evolve` (evolve.multiseed): held-out metrics and the goals."""
    t = json.loads((Path(out_dir) / "heldout.json").read_text())
    g = cfg["goals"]
    metrics = {k: float(t[k]) for k, _, _ in BENCH_METRICS}
    goals = [
        (f"mean held-out return >= {g['min_return']:g}", t["return_mean"] >= g["min_return"]),
        (f"neurons <= {g['max_neurons']}", t["neurons"] <= g["max_neurons"]),
        (f"wall time <= {g['wall_s']:g} s", wall_s <= g["wall_s"]),
    ]
    return {"metrics": metrics, "baseline": None, "baseline_name": "", "episodes": t["episodes"],
            "goals": [{"goal": label, "passed": bool(ok)} for label, ok in goals]}  # fmt: skip


def run_main(cfg: dict, opts: RunOptions) -> int:
    """`snnctl run` on a gym config: held-out returns (table or JSON), optional plot."""
    from snnctl.snnfile import SnnFormatError

    path = Path(opts.controller)
    if not path.is_file() or path.suffix != ".snn":
        raise SnnctlError(f"{path}: no such .snn file (give the best.snn of snnctl evolve)")
    if opts.video is not None:  # what filming needs (GL, the writer, the folder), before any episode
        from sim.video import VideoError, VideoWriter, ensure_offscreen_gl

        try:
            ensure_offscreen_gl()
            VideoWriter(opts.video, fps=1.0)  # checks only: nothing is written before the first frame
        except VideoError as e:
            raise SnnctlError(f"--video {e}") from None
    try:
        t = heldout(cfg, path, opts.episodes, opts.seed, opts.force_rate, progress=not opts.quiet)
    except (EnvConfigError, SnnFormatError, ValueError) as e:
        raise _user_error(e) from None
    if opts.plot:
        t["plot"] = str(plot_episode(cfg, path, Path(opts.plot), opts.seed, opts.force_rate))
    if opts.video:
        video = record_video(cfg, path, Path(opts.video), opts.seed, opts.force_rate)
        t["video"], t["video_bytes"] = str(video), video.stat().st_size
    if opts.json:
        print(json.dumps(t, indent=2))
    else:
        print(format_table(t) + (f"\nplot: {t['plot']}" if "plot" in t else "")
              + (f"\nvideo: {t['video']} ({t['video_bytes'] / 1e6:.1f} MB)" if "video" in t else ""))  # fmt: skip
    return 0


def record_video(cfg: dict, path: Path, out: Path, first: int = 0, force_rate: bool = False) -> Path:
    """Film held-out episode `first` to `out` (.gif / .mp4) through the env's `rgb_array` rendering."""
    import gymnasium

    from sim.video import VideoError, record_episode
    from snnctl.controllers.factory import load_controller

    env = make_env(cfg["env"], render_mode="rgb_array")
    try:
        ctl = load_controller(path, control_period(env), force=force_rate, env=env)
        steps = cfg["run"]["episode_steps"] or None
        record_episode(env, ctl, out, seed=heldout_seed(first), max_steps=steps, fps=env.metadata.get("render_fps")
                       or (1.0 / (control_period(env) or 0.05)))  # fmt: skip
    except (VideoError, gymnasium.error.DependencyNotInstalled) as e:
        raise SnnctlError(f"--video: {e}") from None
    finally:
        env.close()
    return out


def plot_episode(cfg: dict, path: Path, out: Path, first: int = 0, force_rate: bool = False) -> Path:
    """The network during held-out episode `first`: the observation codes it was given, replayed from reset
    (`snnctl.network_plot.network_figure`: inputs, spikes, membranes, output codes)."""
    from snnctl.controllers.factory import load_controller
    from snnctl.network_plot import network_figure

    env = make_env(cfg["env"])
    try:
        ctl = load_controller(path, control_period(env), force=force_rate, env=env)
        obs, _ = env.reset(seed=heldout_seed(first))
        ctl.reset()
        codes, total, done = [], 0.0, False
        while not done and (not cfg["run"]["episode_steps"] or len(codes) < cfg["run"]["episode_steps"]):
            codes.append(ctl.encode(obs).copy())
            obs, r, term, trunc, _ = env.step(ctl.act(obs))
            total += float(r)
            done = term or trunc
    finally:
        env.close()
    title = f"{path.name} on {cfg['env']['id']}: held-out episode {first}, return {total:.1f}"
    fig, _ = network_figure(ctl.net, np.array(codes), title=title)
    fig.savefig(out, dpi=100)
    return out


def hil_main(cfg: dict, opts: Any) -> dict[str, Any]:
    """`snnctl hil` on a gym config: held-out episodes with the network stepped on a board (`opts`:
    `evolve.run_options.HilOptions`), every action compared bit for bit with the in-process network's.

    The board's output codes become the action on the host (`SNNController.decode`, which
    `DeviceBackend` reuses: for a `Discrete` action the argmax of the board's integer codes). The
    env is driven by the board's actions; an episode with a step the board did not answer ends there
    and is counted in `faults`."""
    from firmware_bridge.loop_device import DeviceBackend
    from snnctl.controllers.factory import load_controller
    from snnctl.controllers.loop_backends import BackendFault
    from snnctl.progress import progress_bar

    path = Path(opts.controller)
    env = make_env(cfg["env"])
    try:
        period = control_period(env)
        try:
            ctl = load_controller(path, period, force=opts.force_rate, env=env)
        except ValueError as e:
            raise SnnctlError(str(e)) from None
        returns, steps, action_diff, code_diff, faults, spikes = [], 0, 0, 0, 0, 0
        limit = cfg["run"]["episode_steps"] or None
        board = DeviceBackend(ctl.net, opts.url, deadline_s=opts.deadline_s, dt=period, force_rate=opts.force_rate)
        with board, progress_bar(not opts.quiet, opts.episodes, f"hil {opts.board}", "episode") as bar:
            for k in range(opts.episodes):
                obs, _ = env.reset(seed=heldout_seed(opts.seed + k))
                ctl.reset()
                board.reset()
                total, n, done = 0.0, 0, False
                while not done and (limit is None or n < limit):
                    try:
                        a = board.act(obs)
                    except BackendFault:
                        faults += 1
                        break
                    u = ctl.act(obs)
                    action_diff += np.asarray(a.u).tobytes() != np.asarray(u).tobytes()
                    code_diff += not np.array_equal(a.codes, ctl.last_codes)
                    spikes += int(ctl.last_spike_count)
                    obs, r, term, trunc, _ = env.step(a.u)
                    total += float(r)
                    n += 1
                    done = term or trunc
                returns.append(total)
                steps += n
                bar.update(1)
    finally:
        env.close()
    s = summarize([{"return": r} for r in returns], ["return"], better="higher")["return"]
    return {"controller": str(path), "env": cfg["env"]["id"], "board": opts.board, "url": opts.url,
            "episodes": len(returns), "first_seed": HELDOUT_START + opts.seed, "steps": steps,
            "return_mean": s["mean"], "return_std": s["std"], "return_min": s["worst"], "returns": returns,
            "spikes_per_step": spikes / max(1, steps), "faults": faults, "action_mismatches": int(action_diff),
            "code_mismatches": int(code_diff),
            "identical": bool(steps > 0 and faults == 0 and action_diff == 0 and code_diff == 0)}  # fmt: skip


def format_hil(r: dict[str, Any]) -> str:
    """The `snnctl hil` summary of a gym config."""
    verdict = "every action bit-identical to in-process" if r["identical"] else "NOT identical to in-process"
    return "\n".join([
        f"hardware in the loop: {Path(r['controller']).name} on {r['board']} ({r['url']}), {r['env']}",
        f"  {plural(r['episodes'], 'held-out episode')} (seeds {r['first_seed']}.."
        f"{r['first_seed'] + r['episodes'] - 1}), {plural(r['steps'], 'step')}",
        f"  return  mean {r['return_mean']:.1f}  std {r['return_std']:.1f}  min {r['return_min']:.1f}",
        f"  action mismatches {r['action_mismatches']}, output-code mismatches {r['code_mismatches']},"
        f" unanswered steps {r['faults']}: {verdict}",
    ])  # fmt: skip
