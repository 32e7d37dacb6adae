"""PNG timeline of one sensing-to-action episode: what the plant did, what was sensed, when the monitor stepped in.

Three panels over time: the true value, the reference and the held measurement the controller saw,
the action applied (and the controller's own answer where the monitor replaced it); and the sensing
interval with a tick for every sensor sample taken. Steps with a monitor flag are shaded in every
panel, one colour per reason; injected fault windows are drawn as labelled bars along the top of
the first panel. Callers name the quantities with their units (`value_label`, `action_label`; the
blimp's are `sim.blimp_loop.blimp_plot_labels`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.loop import LoopResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_REASON_COLOURS = {
    "nan": "tab:red", "range": "tab:purple", "jump": "tab:orange", "stuck": "tab:brown",
    "timeout": "tab:pink", "disconnected": "tab:gray", "late": "tab:olive", "fault": "tab:cyan",
}  # fmt: skip
_LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 7}


def flagged_spans(result: LoopResult) -> list[tuple[float, float, str]]:
    """Contiguous runs of flagged steps as (start time, end time, reason of their first step)."""
    t = result.column("t")
    dt = 1.0 / result.control_hz
    spans: list[tuple[float, float, str]] = []
    start = None
    for r in result.records:
        if r.flagged and start is None:
            start, reason = r.t, r.reason or "?"
        elif not r.flagged and start is not None:
            spans.append((start, r.t, reason))
            start = None
    if start is not None:
        spans.append((start, float(t[-1]) + dt, reason))
    return spans


def timeline_figure(
    result: LoopResult, title: str | None = None, value_label: str | None = None, action_label: str | None = None
) -> Figure:
    """The figure ``plot_timeline`` writes (a matplotlib ``Figure``, no pyplot): for tests and further drawing.

    Legends sit outside the axes, on the right, and the fault bars inside the top panel's headroom,
    so neither covers a curve nor the title. Sample times are a rug in the sensing panel: a tick per
    sample over the altitude hid the true and measured lines at 10 Hz.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    t = result.column("t")
    sensed = result.column("sensed").astype(bool)
    fig = Figure(figsize=(11, 7), layout="constrained")
    ax, ax_u, ax_s = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 1.3])
    spans = flagged_spans(result)
    for a in (ax, ax_u, ax_s):
        for s, e, reason in spans:
            a.axvspan(s, e, color=_REASON_COLOURS.get(reason.split("+")[0], "tab:red"), alpha=0.18, lw=0)

    truth, ref, meas = result.column("truth"), result.column("reference"), result.column("measurement")
    if np.any(np.isfinite(ref)):
        ax.plot(t, ref, color="k", ls="--", lw=1, label="reference")
    if np.any(np.isfinite(truth)):
        ax.plot(t, truth, color="tab:blue", lw=1.4, label="true", zorder=3)  # smooth: on top of the noisy one
    ax.step(t, meas, where="post", color="tab:orange", lw=0.9, alpha=0.9, label="measurement used (held)")
    samples = result.column("sample")
    ok = sensed & np.isfinite(samples)
    rejected = ok & ~np.isclose(samples, meas, equal_nan=False)  # taken but not used: the monitor refused it
    if rejected.any():
        ax.plot(t[rejected], samples[rejected], "x", ms=3, mew=0.8, color="tab:red", label="sample refused")
    # limits from the world, not from faulty samples (a 10-m spike would flatten everything); the
    # top 15 % is kept free for the fault bars and their labels
    world = np.concatenate([v[np.isfinite(v)] for v in (truth, ref, meas)])
    if world.size:
        span = max(float(np.ptp(world)), 0.5)
        lo, hi = float(world.min()) - 0.08 * span, float(world.max()) + 0.08 * span
        ax.set_ylim(lo, hi + 0.18 * (hi - lo))
    if result.faults:
        bar_y = ax.get_xaxis_transform()  # x in data, y in axes fraction
        for f in result.faults:
            ax.plot([f.start_s, f.end_s], [0.965, 0.965], lw=4, color="tab:red", solid_capstyle="butt",
                    transform=bar_y)  # fmt: skip
            ax.text(f.start_s, 0.935, f.kind, fontsize=7, va="top", ha="left", color="tab:red", transform=bar_y)
    ax.set_ylabel(value_label or ("sensed value (m)" if np.any(np.isfinite(ref)) else "sensed value"))
    ax.legend(**_LEGEND)

    ax_u.step(t, result.column("action"), where="post", color="tab:blue", lw=0.9, label="applied")
    cu = result.column("controller_u")
    replaced = result.column("flagged").astype(bool) & np.isfinite(cu)
    if replaced.any():
        ax_u.plot(t[replaced], cu[replaced], ".", ms=2, color="0.35", label="controller (overridden)")
    ax_u.set_ylabel(action_label or "action")
    ax_u.legend(**_LEGEND)

    k_s = t[sensed]
    top = 0.15
    if k_s.size > 1:
        gaps = np.round(np.diff(k_s), 6)  # whole steps; rounding hides k * dt float noise
        ax_s.step(k_s[1:], gaps, where="post", lw=0.9, color="tab:green", label="interval")
        top = float(gaps.max())
    ax_s.set_ylim(0, top * 1.6)
    rug = ax_s.get_xaxis_transform()
    ax_s.plot(t[ok], np.full(int(ok.sum()), 0.86), "|", ms=6, mew=0.6, color="tab:purple", alpha=0.6,
              transform=rug, label=f"sample ({result.samples})")  # fmt: skip
    ax_s.set_ylabel("sensing\ninterval (s)")
    ax_s.set_xlabel("time (s)")
    handles, _ = ax_s.get_legend_handles_labels()
    handles += [Patch(color=_REASON_COLOURS.get(r, "tab:red"), alpha=0.3, label=f"flag: {r}")
                for r in sorted({s[2].split("+")[0] for s in spans})]  # fmt: skip
    ax_s.legend(handles=handles, **_LEGEND)
    summary = result.summary()
    head = title or "sensing-to-action loop"
    rmse = f"RMSE {summary['rmse_m']:.3f} m, " if "rmse_m" in summary else ""
    ax.set_title(f"{head}\n{result.sensing}: {rmse}{summary['samples_per_s']:.2f} samples/s, "
                 f"{summary['flagged_steps']} flagged steps", fontsize=9)  # fmt: skip
    return fig


def plot_timeline(path: str | Path, result: LoopResult, title: str | None = None, value_label: str | None = None,
                  action_label: str | None = None) -> Path:  # fmt: skip
    """Write the timeline PNG of `result` (see `timeline_figure`) to `path`; the labels name quantity and unit."""
    path = Path(path)
    timeline_figure(result, title, value_label, action_label).savefig(path, dpi=110)
    return path
