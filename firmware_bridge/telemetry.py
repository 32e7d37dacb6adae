"""A recording of an on-board run's TELEMETRY frames: the CSV a monitor writes and the figure it draws.

The board sends one frame every N timer periods (docs/protocol.md §8); `TelemetryLog` keeps each one
as it came (with the host's arrival time), so the CSV is the board's own account of every reported
period - which input codes it stepped on, what it output, how long the step took, and whether the
sample was fresh, held or missing long enough for the fail-safe.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .protocol import Telemetry

FLAG_COLUMNS = ("fresh", "stepped", "failsafe", "late")


@dataclass
class TelemetryLog:
    """Telemetry frames of one run; `period_us` and `tick_hz` turn periods and ticks into time."""

    period_us: int
    tick_hz: int
    frames: list[Telemetry] = field(default_factory=list)
    arrival_s: list[float] = field(default_factory=list)  # host monotonic clock, from the first frame

    def add(self, tm: Telemetry, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if not self.frames:
            self._t0 = now
        self.frames.append(tm)
        self.arrival_s.append(now - self._t0)

    def step_us(self, tm: Telemetry) -> float | None:
        """The frame's step time in microseconds (None if the board has no cycle counter)."""
        return tm.step_ticks * 1e6 / self.tick_hz if self.tick_hz else None

    def summary(self) -> dict:
        """Frames, fail-safe and late frames, and the longest step time seen (µs, None if unknown)."""
        steps = [self.step_us(t) for t in self.frames if t.stepped]
        known = [s for s in steps if s is not None]
        return {
            "frames": len(self.frames),
            "first_period": self.frames[0].period if self.frames else None,
            "last_period": self.frames[-1].period if self.frames else None,
            "failsafe_frames": sum(t.failsafe for t in self.frames),
            "late_frames": sum(t.late for t in self.frames),
            "held_frames": sum(not t.fresh for t in self.frames),
            "max_step_us": round(max(known), 1) if known else None,
        }

    def write_csv(self, path: str | Path) -> None:
        """One row per frame: period, board time, flags, sample seq, spikes, step time, codes."""
        n_in = len(self.frames[0].inputs) if self.frames else 0
        n_out = len(self.frames[0].outputs) if self.frames else 0
        head = ["period", "board_time_s", "host_time_s", *FLAG_COLUMNS, "sample_seq", "spikes", "step_ticks",
                "step_us", *(f"in{i}" for i in range(n_in)), *(f"out{j}" for j in range(n_out))]  # fmt: skip
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            for tm, host_t in zip(self.frames, self.arrival_s, strict=True):
                us = self.step_us(tm)
                w.writerow([tm.period, f"{tm.period * self.period_us / 1e6:.6f}", f"{host_t:.6f}",
                            *(int(getattr(tm, c)) for c in FLAG_COLUMNS), tm.sample_seq, tm.spikes, tm.step_ticks,
                            "" if us is None else f"{us:.3f}", *tm.inputs.tolist(), *tm.outputs.tolist()])  # fmt: skip

    def figure(self, title: str = "on-board run"):
        """Input codes, output codes and step time over the board's time; fail-safe periods shaded."""
        from matplotlib.figure import Figure

        t = np.array([f.period * self.period_us / 1e6 for f in self.frames])
        ins = np.array([f.inputs for f in self.frames]).reshape(len(self.frames), -1)
        outs = np.array([f.outputs for f in self.frames]).reshape(len(self.frames), -1)
        fig = Figure(figsize=(10, 7))
        ax_in, ax_out, ax_dt = fig.subplots(3, 1, sharex=True)
        for i in range(ins.shape[1]):
            ax_in.plot(t, ins[:, i], lw=1.0, label=f"input {i}")
        ax_in.set_ylabel("input (code)")
        for j in range(outs.shape[1]):
            ax_out.plot(t, outs[:, j], lw=1.0, label=f"output {j}")
        ax_out.set_ylabel("output (code)")
        stepped = np.array([f.stepped for f in self.frames], dtype=bool)
        us = np.array([self.step_us(f) or 0.0 for f in self.frames])
        ax_dt.plot(t[stepped], us[stepped], ".", ms=3, color="k", label="step")
        ax_dt.set_ylabel("step time (µs)" if self.tick_hz else "step time (unknown)")
        ax_dt.set_xlabel("board time (s)")
        failsafe = np.array([f.failsafe for f in self.frames], dtype=bool)
        for ax in (ax_in, ax_out, ax_dt):
            for a, b in _runs(failsafe):
                # a period's frame is sent at its end: shade from the first such period's start
                ax.axvspan(t[a] - self.period_us / 1e6, t[b - 1], color="tab:red", alpha=0.15, lw=0)
        for ax in (ax_in, ax_out):
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, borderaxespad=0)
        s = self.summary()
        fig.suptitle(f"{title}: {s['frames']} frames, {s['failsafe_frames']} fail-safe (shaded),"
                     f" {s['late_frames']} late", fontsize=10)  # fmt: skip
        fig.tight_layout()
        return fig


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where `mask` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
