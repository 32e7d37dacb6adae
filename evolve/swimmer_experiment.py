"""The swimmer experiment end to end: config schema, evolution, held-out table, transfer, plots, video.

`snnctl evolve configs/swimmer_ncap.toml` evolves a controller (`[controller] kind`: the spiking
NCAP circuit, or a float linear / MLP baseline) on the swimmer by return (`evolve.swimmer`), writes
`best.snn` (NCAP) or `best.npz` (baselines) and ends with a held-out table: parameters, mean +- std
return over `[run] episodes` held-out episodes (seeds from 1,000,000 up, never trained on),
evaluations and episodes used, wall time of the evolution (also in `heldout.json`), plus
`swim.png` (joint angles, forward velocity, cumulative return and the spike raster of the first
held-out episode).

`snnctl run configs/swimmer_ncap.toml --controller best.snn [--n-links K]` swims a saved
controller on held-out episodes; with `--n-links K` a shared-weight NCAP is rebuilt for a K-link
body (the circuit grows with the body, the evolved weights unchanged) and swims
`snnctl/SwimmerN-v0`. `--plot OUT.png` draws the first episode (`sim.swimmer_plots`),
`--video OUT.mp4|.gif` films it offscreen (MuJoCo's renderer; needs OSMesa without a display) and
prints the size written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from evolve.run_options import RunOptions
from evolve.runner import EVOLVE_SECTION, EvolveSettings, evolve
from evolve.swimmer import (
    ENVS,
    HELDOUT_SEED_START,
    KINDS,
    SwimmerProblem,
    heldout_seeds,
    load_controller,
    make_env,
)
from sim.metrics import episode_return, summarize
from sim.swimmer import MAX_EPISODE_STEPS, MAX_LINKS, MIN_LINKS
from snnctl.config import Key, Section, spec_keys
from snnctl.controllers.linear import LinearSpec
from snnctl.controllers.mlp import MLPSpec
from snnctl.controllers.ncap import NCAPSpec
from snnctl.text import plural

SCHEMA = Section(
    "a swimmer experiment (NCAP circuit prior, issue 5)",
    experiment=Section("what this file is", family=Key(str, "swimmer", "controller family", choices=("swimmer",))),
    evolve=EVOLVE_SECTION,
    env=Section(
        "the swimmer body",
        name=Key(str, "Swimmer-v5", "gymnasium env: Swimmer-v5 (3 links) or snnctl/SwimmerN-v0", choices=ENVS),
        # 3: the default env's body (Swimmer-v5), not SwimmerNEnv's own default (NCAP's 6 links)
        n_links=Key(int, 3, "body links (Swimmer-v5: 3; SwimmerN: 3..16)", ge=MIN_LINKS, le=MAX_LINKS),
    ),
    controller=Section(
        "what is evolved: the spiking NCAP circuit or a float baseline",
        kind=Key(str, "ncap", "ncap (integer SNN, best.snn), linear or mlp (float, best.npz)", choices=KINDS),
        # defaults and limits: NCAPSpec, MLPSpec and LinearSpec
        **spec_keys(NCAPSpec, help_prefix="ncap: "),
        hidden=spec_keys(MLPSpec, help_prefix="mlp: ")["hidden"],
        weight_bound=spec_keys(LinearSpec, help_prefix="linear / mlp: ")["weight_bound"],
    ),
    train=Section(
        "fitness during evolution",
        **spec_keys(SwimmerProblem),  # episodes_per_generation, episode_steps
    ),
    run=Section(
        "held-out evaluation (snnctl run, and the table at the end of snnctl evolve)",
        episodes=Key(int, 10, "held-out episodes", ge=1, le=1000),
        episode_steps=Key(int, MAX_EPISODE_STEPS, "steps of a held-out episode", ge=1, le=MAX_EPISODE_STEPS),
    ),
    goals=Section(
        "what `snnctl bench evolve` checks on each seed's held-out table (pass/fail computed, not judged)",
        min_return=Key(float, 300.0, "mean held-out return at least this", ge=-1e9, le=1e9),
        wall_s=Key(float, 900.0, "wall time of one seed's main job (evolution, selection, held-out table) (s)", gt=0),
    ),
)

BENCH_METRICS = [
    ("return_mean", "return (mean of episodes)", "higher"),
    ("return_std", "return (std over episodes)", "lower"),
    ("return_min", "return (worst episode)", "higher"),
]


def bench_result(cfg: dict, out_dir: Path, wall_s: float) -> dict:
    """One seed's row of `snnctl bench evolve` (evolve.multiseed): held-out returns and the goals."""
    table = json.loads((Path(out_dir) / "heldout.json").read_text())
    g = cfg["goals"]
    metrics = {"return_mean": table["return_mean"], "return_std": table["return_std"],
               "return_min": float(min(table["returns"]))}  # fmt: skip
    goals = [
        (f"mean held-out return >= {g['min_return']:g}", metrics["return_mean"] >= g["min_return"]),
        (f"wall time <= {g['wall_s']:g} s", wall_s <= g["wall_s"]),
    ]
    return {"metrics": metrics, "baseline": None, "baseline_name": "", "episodes": table["heldout_episodes"],
            "goals": [{"goal": label, "passed": bool(ok)} for label, ok in goals]}  # fmt: skip


RUN_OPTIONS: frozenset[str] = frozenset({"n_links", "video"})
# family-specific `snnctl evolve` flags (snnctl.cli.families.evolve_overrides): dest -> config key
EVOLVE_OPTIONS = {"episode_steps": "train.episode_steps"}

VIDEO_SIZE = (320, 240)


def check_config(cfg: dict) -> None:
    """Cross-key rules the schema cannot say (ValueError naming the keys)."""
    env = cfg["env"]
    if env["name"] == "Swimmer-v5" and env["n_links"] != 3:
        raise ValueError(f"env.n_links = {env['n_links']}: Swimmer-v5 has 3 links; use name = 'snnctl/SwimmerN-v0'")
    c = cfg["controller"]
    if not c["period_min"] < c["period_max"] or not c["period_min"] <= c["period"] <= c["period_max"]:
        raise ValueError(
            f"controller: need period_min < period_max and period in between, got period = {c['period']},"
            f" period_min = {c['period_min']}, period_max = {c['period_max']}"
        )


def problem_of(cfg: dict) -> SwimmerProblem:
    check_config(cfg)
    return SwimmerProblem(
        cfg["controller"]["kind"], dict(cfg["controller"]), cfg["env"]["name"], cfg["env"]["n_links"],
        cfg["train"]["episodes_per_generation"], cfg["train"]["episode_steps"], seed=cfg["evolve"]["seed"],
    )  # fmt: skip


def best_file(cfg: dict, out_dir: Path) -> Path:
    return Path(out_dir) / ("best.snn" if cfg["controller"]["kind"] == "ncap" else "best.npz")


def evolve_main(cfg: dict, out_dir: Path, resume: bool = False, progress: bool = True) -> None:
    """`snnctl evolve` on a swimmer config: evolve, export, then the held-out table."""
    try:
        problem = problem_of(cfg)
    except ValueError as e:
        from snnctl.errors import SnnctlError

        raise SnnctlError(str(e)) from None
    out_dir = Path(out_dir)
    settings = EvolveSettings.from_dict(cfg["evolve"])
    t0 = time.perf_counter()
    result = evolve(problem, settings, out_dir, resume=resume and (out_dir / "checkpoint.pkl").exists(),
                    progress=progress, config=cfg)  # fmt: skip
    wall = time.perf_counter() - t0
    path = best_file(cfg, out_dir)
    rows, first, ctl = heldout_returns(cfg, path, cfg["env"]["n_links"], record_first=True, progress=progress)
    ret = return_summary(rows)
    table = {
        "controller": cfg["controller"]["kind"],
        "env": cfg["env"]["name"],
        "n_links": cfg["env"]["n_links"],
        "params": int(problem.codec.n_params),
        "return_mean": ret["mean"],
        "return_std": ret["std"],
        "returns": [float(r) for r in rows],
        "heldout_episodes": len(rows),
        "heldout_seeds": [HELDOUT_SEED_START, HELDOUT_SEED_START + len(rows) - 1],
        "evaluations": int(result.evaluations),
        "episodes": int(result.evaluations * cfg["train"]["episodes_per_generation"]),
        "generations": int(result.generations),
        # the whole run's evolution time (resumed runs add up); this call's wall time as well
        "evolution_s": float(result.elapsed),
        "wall_s": wall,
        "best_file": path.name,
    }
    (out_dir / "heldout.json").write_text(json.dumps(table, indent=2) + "\n")
    plot_episode(out_dir / "swim.png", first, ctl, title=f"{path.name}: held-out episode 0")
    if progress:
        print(format_table([table]))


def heldout_returns(cfg: dict, path: Path, n_links: int, episodes: int | None = None, first: int = 0,
                    record_first: bool = False, force_rate: bool = False,
                    progress: bool = False) -> tuple[list[float], Any, Any]:  # fmt: skip
    """Returns of a saved controller on held-out episodes, the first one's recording (if asked), the controller.

    A network made for another control period than the env's is refused unless `force_rate`;
    `progress`: a bar of the episodes (`snnctl.progress`)."""
    from snnctl.progress import progress_bar

    n = episodes or cfg["run"]["episodes"]
    steps = cfg["run"]["episode_steps"]
    env = make_env(env_name_for(cfg, n_links), n_links)
    try:
        ctl = load_controller(path, n_links, env.unwrapped.dt, force_rate, env)
        seeds = heldout_seeds(n, first)
        rec = None
        rows = []
        with progress_bar(progress, len(seeds), "held-out episodes", "episode") as bar:
            for i, s in enumerate(seeds):
                if record_first and i == 0:
                    from sim.video import record_episode

                    rec = record_episode(env, ctl, None, seed=s, max_steps=steps)
                    # summed in step order, as episode_return does, so a plot never changes the reported mean
                    rows.append(sum(rec.rewards.tolist()))
                else:
                    rows.append(episode_return(env, ctl, s, steps))
                bar.update(1)
    finally:
        env.close()
    return rows, rec, ctl


def return_summary(returns: list[float]) -> dict[str, float]:
    """Mean, spread and worst (lowest) of held-out returns (`sim.metrics.summarize`)."""
    return summarize([{"return": r} for r in returns], ["return"], better="higher")["return"]


def env_name_for(cfg: dict, n_links: int) -> str:
    """Swimmer-v5 when the config uses it and the body is its 3 links, else the N-link swimmer."""
    return cfg["env"]["name"] if n_links == cfg["env"]["n_links"] else "snnctl/SwimmerN-v0"


def format_table(rows: list[dict]) -> str:
    """The results table: controller, parameters, held-out return, evaluations, wall time."""
    if not rows:
        return ""
    r0 = rows[0]
    lines = [
        f"held-out: {r0['env']} ({r0['n_links']} links), {plural(r0['heldout_episodes'], 'episode')}"
        f" (seeds {r0['heldout_seeds'][0]}..{r0['heldout_seeds'][1]})",
        f"  {'controller':12}{'params':>8}{'return (mean +- std)':>24}{'evaluations':>13}{'episodes':>10}"
        f"{'evolution (s)':>15}",
    ]
    for r in rows:
        ret = f"{r['return_mean']:.1f} +- {r['return_std']:.1f}"
        lines.append(f"  {r['controller']:12}{r['params']:>8}{ret:>24}{r['evaluations']:>13}{r['episodes']:>10}"
                     f"{r['evolution_s']:>15.0f}")  # fmt: skip
    return "\n".join(lines)


def run_main(cfg: dict, opts: RunOptions) -> int:
    """`snnctl run` on a swimmer config: held-out returns (table or JSON), optional plot and video."""
    from snnctl.errors import SnnctlError
    from snnctl.snnfile import SnnFormatError

    try:
        check_config(cfg)
    except ValueError as e:
        raise SnnctlError(str(e)) from None
    path = Path(opts.controller)
    if not path.is_file():
        raise SnnctlError(f"{path}: no such file (give a best.snn or best.npz from snnctl evolve)")
    n_links = cfg["env"]["n_links"] if opts.n_links is None else opts.n_links
    if not 3 <= n_links <= 16:
        raise SnnctlError(f"--n-links must be in 3..16 (the N-link swimmer's range), got {n_links}")
    if opts.video is not None:  # what filming needs (GL, the mp4 writer, the folder), before any episode
        from sim.video import VideoError, VideoWriter, ensure_offscreen_gl

        try:
            ensure_offscreen_gl()
            VideoWriter(opts.video, fps=1.0)  # checks only: nothing is written before the first frame
        except VideoError as e:
            raise SnnctlError(f"--video {e}") from None
    n = opts.episodes or cfg["run"]["episodes"]
    try:
        rows, rec, ctl = heldout_returns(cfg, path, n_links, n, opts.seed, record_first=bool(opts.plot),
                                         force_rate=opts.force_rate,
                                         progress=not opts.quiet)  # fmt: skip
    except (SnnFormatError, ValueError) as e:
        raise SnnctlError(str(e)) from None
    ret = return_summary(rows)
    result = {
        "controller": path.name,
        "env": env_name_for(cfg, n_links),
        "n_links": n_links,
        "episodes": len(rows),
        "first_seed": HELDOUT_SEED_START + opts.seed,
        "return_mean": ret["mean"],
        "return_std": ret["std"],
        "return_min": ret["worst"],
        "return_max": float(np.max(rows)),
        "returns": [float(r) for r in rows],
    }
    if opts.plot:
        plot_episode(Path(opts.plot), rec, ctl, title=f"{path.name} on {n_links} links: held-out episode {opts.seed}")
        result["plot"] = str(opts.plot)
    if opts.video:
        video = record_video(cfg, path, n_links, Path(opts.video), opts.seed,
                             force_rate=opts.force_rate, progress=not opts.quiet)  # fmt: skip
        result["video"], result["video_bytes"] = str(video), video.stat().st_size
    if opts.json:
        print(json.dumps(result, indent=2))
    else:
        last = result["first_seed"] + len(rows) - 1
        print(
            f"{path.name} on {result['env']} ({n_links} links), {plural(len(rows), 'held-out episode')} of "
            f"{plural(cfg['run']['episode_steps'], 'step')} (seeds {result['first_seed']}..{last})\n"
            f"  return  mean {result['return_mean']:.1f}  std {result['return_std']:.1f}  "
            f"min {result['return_min']:.1f}  max {result['return_max']:.1f}"
        )
        if "plot" in result:
            print(f"plot: {result['plot']}")
        if "video" in result:  # the size: a GIF of a long episode can be large (sim.video)
            print(f"video: {result['video']} ({result['video_bytes'] / 1e6:.1f} MB)")
    return 0


def record_video(cfg: dict, path: Path, n_links: int, out: Path, first: int = 0, force_rate: bool = False,
                 progress: bool = True) -> Path:  # fmt: skip
    """Film held-out episode `first` offscreen to `out` (.mp4 or .gif); `progress`: a bar of the frames
    (software rendering takes about a minute for 1000 steps)."""
    import gymnasium

    from sim.video import VideoError, record_episode
    from snnctl.errors import SnnctlError
    from snnctl.progress import progress_bar

    class EachStep(gymnasium.Wrapper):
        """The env, calling `on_step()` after every step (the bar advances as record_episode films)."""

        def __init__(self, env: Any, on_step: Any) -> None:
            super().__init__(env)
            self.on_step = on_step

        def step(self, action: Any) -> Any:
            out = self.env.step(action)
            self.on_step()
            return out

    w, h = VIDEO_SIZE
    try:
        env = make_env(env_name_for(cfg, n_links), n_links, render_mode="rgb_array", width=w, height=h)
    except VideoError as e:
        raise SnnctlError(str(e)) from None
    try:
        ctl = load_controller(path, n_links, env.unwrapped.dt, force_rate, env)
        steps = cfg["run"]["episode_steps"]
        with progress_bar(progress, steps, f"filming {out.name}", "step") as bar:
            record_episode(EachStep(env, lambda: bar.update(1)), ctl, out, seed=heldout_seeds(1, first)[0],
                           max_steps=steps)  # fmt: skip
    except VideoError as e:
        raise SnnctlError(str(e)) from None
    finally:
        env.close()
    return out


def plot_episode(out: Path, rec, controller, title: str) -> Path:
    """Joint angles, forward velocity, return and (for an SNN) the spike raster of a recorded episode."""
    from sim.swimmer_plots import plot_swim

    n_joints = rec.actions.shape[1]
    q = rec.observations[:-1, 1 : 1 + n_joints]  # the swimmer layout: obs[1 .. n_links - 1] are joint angles
    net = getattr(controller, "net", None)
    offsets = names = None
    if rec.spikes is not None and net is not None:
        offsets, names = net.offsets(), [p.name for p in net.populations]
    return plot_swim(out, rec.t[:-1], q, rec.spikes, offsets, names, title=title, x_position=rec.x_position,
                     rewards=rec.rewards)  # fmt: skip
