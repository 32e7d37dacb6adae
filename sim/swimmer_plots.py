"""A swim on one page: joint angles over time above the controller's spike raster.

``plot_swim(path, t, joint_angles, spikes, pop_offsets, pop_names)`` writes the PNG;
``swim_figure`` builds the same matplotlib ``Figure`` without writing it (for tests or further
drawing). The figure is made without pyplot (no global state, no display needed).

Inputs, sampled per control step: ``t`` (T,) seconds; ``joint_angles`` (T, J) radians, drawn in
degrees, one line per joint (joint 1 is the one behind the head); ``spikes`` (T, N) of 0/1 (or
counts, > 0 is a spike) or None for a controller without spikes; ``pop_offsets`` the first neuron
of each population (P values starting at 0, or P + 1 with the total N last, as
``Network.offsets()`` returns) and ``pop_names`` their labels, both optional. An ``EpisodeRecording``
of ``sim.video.record_episode`` provides them: ``rec.t[:-1]``,
``rec.observations[:-1, env.joint_angle_slice]``, ``rec.spikes``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


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


def swim_figure(
    t: Any,
    joint_angles: Any,
    spikes: Any = None,
    pop_offsets: Sequence[int] | None = None,
    pop_names: Sequence[str] | None = None,
    title: str | None = None,
):
    """The figure ``plot_swim`` writes: joint angles (degrees) on top, the spike raster below if any."""
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

    fig = Figure(figsize=(9, 6.5 if s is not None else 3.5))
    if s is not None:
        ax_q, ax_s = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.6])
    else:
        ax_q, ax_s = fig.subplots(1, 1), None
    for j in range(q.shape[1]):
        ax_q.plot(t, np.degrees(q[:, j]), lw=1.0, label=f"joint {j + 1}")
    ax_q.set_ylabel("joint angle (deg)")
    if q.shape[1] <= 12:
        ax_q.legend(loc="upper right", fontsize=7, ncol=min(q.shape[1], 6))
    ax_q.set_title(title or f"joint angles ({q.shape[1]} joints)")
    if ax_s is not None:
        k, i = np.nonzero(s > 0)
        ax_s.scatter(t[k], i, s=4, c="k", marker="|", linewidths=0.6)
        for a, _, _ in pops[1:]:
            ax_s.axhline(a - 0.5, color="0.75", lw=0.6)
        if pops:
            ax_s.set_yticks([(a + b - 1) / 2 for a, b, _ in pops], [name for _, _, name in pops], fontsize=7)
        ax_s.set_ylim(-0.5, s.shape[1] - 0.5)
        ax_s.set_ylabel("neuron" if not pops else "population")
        ax_s.set_title(f"spikes ({int(np.count_nonzero(s > 0))} in {s.shape[1]} neurons)")
    (ax_s or ax_q).set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def plot_swim(
    path: str | os.PathLike,
    t: Any,
    joint_angles: Any,
    spikes: Any = None,
    pop_offsets: Sequence[int] | None = None,
    pop_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write the joint-angle and spike-raster figure (see ``swim_figure``) to ``path`` as PNG; return the path."""
    fig = swim_figure(t, joint_angles, spikes, pop_offsets, pop_names, title)
    path = Path(path)
    fig.savefig(path, dpi=110, format="png")
    return path
