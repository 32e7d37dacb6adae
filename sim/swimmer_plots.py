"""A swim on one page: joint angles, forward velocity and return over time, above the spike raster.

``plot_swim(path, t, joint_angles, spikes, pop_offsets, pop_names, x_position=, rewards=)`` writes
the PNG; ``swim_figure`` builds the same matplotlib ``Figure`` without writing it (for tests or
further drawing). The figure is made without pyplot (no global state, no display needed).

Inputs, sampled per control step: ``t`` (T,) seconds; ``joint_angles`` (T, J) radians, drawn in
degrees (joint 1 is the one behind the head): one line per joint in distinct colours up to
``MAX_JOINT_LINES`` joints, a joints x time heat map above that (eleven overlapping sine waves are
unreadable as lines; the travelling wave shows as diagonal stripes); ``spikes`` (T, N) of 0/1 (or
counts, > 0 is a spike) or None for a controller without spikes; ``pop_offsets`` the first neuron
of each population (P values starting at 0, or P + 1 with the total N last, as
``Network.offsets()`` returns) and ``pop_names`` their labels, both optional: each population gets
its own colour, named in a legend beside the raster (tick labels of small populations overlapped);
``x_position`` (T + 1,) the torso's x before each step and after the last, and ``rewards`` (T,),
both optional: they add the forward-velocity and cumulative-return panels that say whether the
swimmer went anywhere. An ``EpisodeRecording`` of ``sim.video.record_episode`` provides them:
``rec.t[:-1]``, ``rec.observations[:-1, env.joint_angle_slice]``, ``rec.spikes``,
``rec.x_position``, ``rec.rewards``.

Legends sit outside the axes, to the right, so they never cover a curve; the raster's markers are
sized to the room one neuron and one step get, translucent where spikes are dense.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_JOINT_LINES = 6  # more joints: a heat map (ten distinct line colours is the most a reader separates)
_LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 7}


def _populations(pop_offsets: Sequence[int] | None, pop_names: Sequence[str] | None, n: int) -> list[tuple]:
    """[(start, stop, name)] of each population, checked against the N neurons of the raster."""
    if pop_offsets is None:
        if pop_names is not None:
            raise ValueError("pop_names needs pop_offsets (the first neuron of each population)")
        return []
    off = [int(o) for o in pop_offsets]
    if len(off) >= 2 and off[-1] == n:
        off = off[:-1]  # Network.offsets() style: P + 1 values ending with N
    if not off or off[0] != 0 or any(b <= a for a, b in zip(off, off[1:], strict=False)) or off[-1] >= n:
        raise ValueError(
            f"pop_offsets must rise strictly from 0 and stay below the {n} neurons, got {list(pop_offsets)}"
        )
    names = [str(i) for i in range(len(off))] if pop_names is None else [str(s) for s in pop_names]
    if len(names) != len(off):
        raise ValueError(f"{len(names)} pop_names for {len(off)} populations")
    return [(a, b, name) for a, b, name in zip(off, off[1:] + [n], names, strict=True)]


def _distinct_colours(n: int) -> list:
    """n colours a reader tells apart: tab10 up to 10, then evenly spaced hues of turbo."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def _running_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred running mean over n samples, the same length as x; NaN (not drawn) where the window
    runs off either end: a part-window over part of a stroke would show a velocity swing that is not there."""
    if n <= 1:
        return x.copy()
    out = np.full(x.shape, np.nan)
    if x.size >= n:
        out[(n - 1) // 2 : (n - 1) // 2 + x.size - n + 1] = np.convolve(x, np.ones(n) / n, mode="valid")
    return out


def swim_figure(
    t: Any,
    joint_angles: Any,
    spikes: Any = None,
    pop_offsets: Sequence[int] | None = None,
    pop_names: Sequence[str] | None = None,
    title: str | None = None,
    x_position: Any = None,
    rewards: Any = None,
) -> Figure:
    """The figure ``plot_swim`` writes: joint angles (degrees), velocity and return if given, the raster if any."""
    from matplotlib.figure import Figure

    t = np.asarray(t, dtype=np.float64)
    q = np.asarray(joint_angles, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"t must be a non-empty 1-D array of times, got shape {t.shape}")
    if q.ndim != 2 or q.shape[0] != t.size:
        raise ValueError(f"joint_angles must be (T, J) with T = len(t) = {t.size}, got shape {q.shape}")
    s = None
    if spikes is not None:
        s = np.asarray(spikes)
        if s.ndim != 2 or s.shape[0] != t.size or s.shape[1] == 0:
            raise ValueError(f"spikes must be (T, N) with T = len(t) = {t.size} and N >= 1, got shape {s.shape}")
    pops = _populations(pop_offsets, pop_names, s.shape[1]) if s is not None else []
    if s is None and pop_offsets is not None:
        raise ValueError("pop_offsets without spikes: there is no raster to label")
    x = r = None
    if x_position is not None:
        x = np.asarray(x_position, dtype=np.float64)
        if x.shape != (t.size + 1,) or t.size < 2:
            raise ValueError(f"x_position must be (T + 1,) = ({t.size + 1},) with T >= 2, got shape {x.shape}")
    if rewards is not None:
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape != t.shape:
            raise ValueError(f"rewards must be (T,) = ({t.size},), got shape {r.shape}")

    shown = {"q": True, "v": x is not None, "r": r is not None, "s": s is not None}
    panels = [p for p, there in shown.items() if there]
    ratios = {"q": 1.3, "v": 0.7, "r": 0.7, "s": 1.8}
    height = 1.0 + sum(2.3 * ratios[p] for p in panels)
    fig = Figure(figsize=(10, height), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, height_ratios=[ratios[p] for p in panels], squeeze=False)[:, 0]
    ax = dict(zip(panels, axes, strict=True))
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0

    ax_q = ax["q"]
    n_joints = q.shape[1]
    deg = np.degrees(q)
    if n_joints <= MAX_JOINT_LINES:
        for j, colour in enumerate(_distinct_colours(n_joints)):
            ax_q.plot(t, deg[:, j], lw=1.0, color=colour, label=f"joint {j + 1}")
        ax_q.set_ylabel("joint angle (deg)")
        ax_q.legend(**_LEGEND)
    else:
        lim = float(np.nanmax(np.abs(deg))) if np.isfinite(deg).any() else 1.0
        im = ax_q.imshow(deg.T, aspect="auto", origin="lower", interpolation="nearest", cmap="RdBu_r",
                         vmin=-lim, vmax=lim, extent=(t[0] - dt / 2, t[-1] + dt / 2, 0.5, n_joints + 0.5))  # fmt: skip
        # the colour bar where the other panels have their legends, so the time axes stay aligned
        fig.colorbar(im, cax=ax_q.inset_axes((1.01, 0.0, 0.02, 1.0)), label="joint angle (deg)")
        ax_q.set_ylabel("joint (1 = behind head)")
        ax_q.set_yticks(np.unique(np.linspace(1, n_joints, min(n_joints, 6)).round().astype(int)))
    ax_q.set_title(title or f"joint angles ({n_joints} joints)")

    if x is not None:
        v = np.diff(x) / dt
        w = max(1, int(round(1.0 / dt)))  # a 1-s running mean: the undulation averaged out
        ax["v"].plot(t, v, lw=0.6, color="tab:blue", alpha=0.35, label="per step")
        ax["v"].plot(t, _running_mean(v, w), lw=1.6, color="tab:blue", label=f"{w * dt:g}-s mean")
        ax["v"].axhline(0.0, color="0.5", lw=0.7, ls=":")
        ax["v"].set_ylabel("forward velocity\n(m/s)")
        ax["v"].legend(**_LEGEND)
    if r is not None:
        ax["r"].plot(t, np.cumsum(r), lw=1.4, color="tab:green", label=f"return {np.sum(r):.1f}")
        ax["r"].axhline(0.0, color="0.5", lw=0.7, ls=":")
        ax["r"].set_ylabel("cumulative return\n(sum of rewards)")
        ax["r"].legend(**_LEGEND)

    if s is not None:
        ax_s = ax["s"]
        k, i = np.nonzero(s > 0)
        groups = pops or [(0, s.shape[1], None)]
        colours = _distinct_colours(len(pops)) if pops else ["k"]
        # translucent where spikes are dense; the markers are sized once the layout is known (below)
        alpha = 1.0 if k.size / s.size < 0.05 else 0.45
        width = float(np.clip(0.8 * fig.get_figwidth() * 72.0 / t.size, 0.2, 1.0))  # at most one step wide
        spike_lines = []
        for (a, b, name), colour in zip(groups, colours, strict=True):
            sel = (i >= a) & (i < b)
            label = None if name is None else f"{name} ({b - a})"
            spike_lines += ax_s.plot(t[k[sel]], i[sel], ls="none", marker="|", mew=width, color=colour,
                                     alpha=alpha, label=label)  # fmt: skip
        for a, _, _ in pops[1:]:
            ax_s.axhline(a - 0.5, color="0.8", lw=0.5)
        ax_s.set_ylim(-0.5, s.shape[1] - 0.5)
        ax_s.set_ylabel("neuron (index)")
        ax_s.set_title(f"spikes ({int(np.count_nonzero(s > 0))} in {s.shape[1]} neurons)")
        if pops:
            leg = ax_s.legend(title="population (neurons)", **_LEGEND)
            for h in leg.legend_handles:
                h.set_alpha(1.0)
                h.set_markersize(8.0)
    axes[-1].set_xlabel("time (s)")
    if s is not None:  # a marker one neuron's row tall (points), from the laid-out raster axes
        fig.draw_without_rendering()
        row = ax["s"].get_window_extent().height * 72.0 / fig.dpi / s.shape[1]
        for line in spike_lines:
            line.set_markersize(float(np.clip(0.9 * row, 0.5, 8.0)))
    return fig


def plot_swim(
    path: str | os.PathLike,
    t: Any,
    joint_angles: Any,
    spikes: Any = None,
    pop_offsets: Sequence[int] | None = None,
    pop_names: Sequence[str] | None = None,
    title: str | None = None,
    x_position: Any = None,
    rewards: Any = None,
) -> Path:
    """Write the swim figure (see ``swim_figure``) to ``path`` as PNG; return the path."""
    fig = swim_figure(t, joint_angles, spikes, pop_offsets, pop_names, title, x_position, rewards)
    path = Path(path)
    fig.savefig(path, dpi=110, format="png")
    return path
