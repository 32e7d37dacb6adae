"""PNG timeline of one sensing-to-action episode: what the plant did, what was sensed, when the monitor stepped in.

Three panels over time: the true value, the reference and the held measurement the controller saw,
with a tick for every sensor sample taken; the action applied (and the controller's own answer where
the monitor replaced it); and the sensing interval. Steps with a monitor flag are shaded in every
panel, one colour per reason; injected fault windows are drawn as labelled bars along the top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.loop import LoopResult

_REASON_COLOURS = {
    "nan": "tab:red", "range": "tab:purple", "jump": "tab:orange", "stuck": "tab:brown",
    "timeout": "tab:pink", "disconnected": "tab:gray", "late": "tab:olive", "fault": "tab:cyan",
}  # fmt: skip


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


def plot_timeline(path: str | Path, result: LoopResult, title: str | None = None) -> Path:
    """Write the timeline PNG of `result` to `path` (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    t = result.column("t")
    sensed = result.column("sensed").astype(bool)
    fig, (ax, ax_u, ax_s) = plt.subplots(3, 1, figsize=(10, 7), sharex=True, height_ratios=[3, 2, 1])
    spans = flagged_spans(result)
    for a in (ax, ax_u, ax_s):
        for s, e, reason in spans:
            a.axvspan(s, e, color=_REASON_COLOURS.get(reason.split("+")[0], "tab:red"), alpha=0.18, lw=0)

    truth, ref, meas = result.column("truth"), result.column("reference"), result.column("measurement")
    if np.any(np.isfinite(ref)):
        ax.plot(t, ref, "k--", lw=1, label="reference")
    if np.any(np.isfinite(truth)):
        ax.plot(t, truth, lw=1.3, label="true")
    ax.step(t, meas, where="post", lw=0.8, alpha=0.8, label="measurement used (held)")
    samples = result.column("sample")
    ok = sensed & np.isfinite(samples)
    ax.plot(t[ok], samples[ok], "|", ms=5, color="tab:green", alpha=0.7, label=f"samples ({result.samples})")
    # limits from the world, not from faulty samples (a 10-m spike would flatten everything)
    world = np.concatenate([v[np.isfinite(v)] for v in (truth, ref, meas)])
    if world.size:
        pad = 0.1 * max(float(np.ptp(world)), 0.5)
        ax.set_ylim(float(world.min()) - pad, float(world.max()) + 2 * pad)
    ymin, ymax = ax.get_ylim()
    for f in result.faults:
        ax.plot([f.start_s, f.end_s], [ymax, ymax], lw=4, color="tab:red", solid_capstyle="butt", clip_on=False)
        ax.text(f.start_s, ymax, f" {f.kind}", fontsize=7, va="bottom", color="tab:red")
    ax.set_ylabel("value (m)" if np.any(np.isfinite(ref)) else "sensor")
    ax.legend(loc="upper right", fontsize=7, ncol=2)

    ax_u.step(t, result.column("action"), where="post", lw=0.9, label="applied")
    cu = result.column("controller_u")
    replaced = result.column("flagged").astype(bool) & np.isfinite(cu)
    if replaced.any():
        ax_u.plot(t[replaced], cu[replaced], ".", ms=2, color="0.4", label="controller (overridden)")
    ax_u.set_ylabel("action")
    ax_u.legend(loc="upper right", fontsize=7)

    k_s = t[sensed]
    if k_s.size > 1:
        gaps = np.round(np.diff(k_s), 6)  # whole steps; rounding hides k * dt float noise
        ax_s.step(k_s[1:], gaps, where="post", lw=0.9, color="tab:green")
        ax_s.set_ylim(0, float(gaps.max()) * 1.3)
    ax_s.set_ylabel("sensing\ninterval (s)")
    ax_s.set_xlabel("time (s)")
    handles = [Patch(color=_REASON_COLOURS.get(r, "tab:red"), alpha=0.3, label=f"flag: {r}")
               for r in sorted({s[2].split("+")[0] for s in spans})]  # fmt: skip
    if handles:
        ax_s.legend(handles=handles, loc="upper right", fontsize=7, ncol=len(handles))
    summary = result.summary()
    head = title or "sensing-to-action loop"
    rmse = f"RMSE {summary['rmse_m']:.3f} m, " if "rmse_m" in summary else ""
    ax.set_title(f"{head}\n{result.sensing}: {rmse}{summary['samples_per_s']:.2f} samples/s, "
                 f"{summary['flagged_steps']} flagged steps", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
