"""The blimp flight plot, checked on their matplotlib Figures (tests/plot_checks.py).

What issue 13 asked of them: legends off the data, units on every axis, distinct colours, and a PID
reference line wherever the point is a comparison with the PID.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from evolve.blimp_experiment import flight_figure, plot_flight
from tests.plot_checks import PNG, assert_distinct, assert_legends_off_the_axes, assert_unit, legend_texts


def flight(seed: int, wobble: float) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    t = 0.1 * np.arange(600)
    reference = np.where(t < 30, 1.3, 0.9)
    altitude = reference + wobble * np.sin(t) + 0.005 * rng.standard_normal(t.size)
    return SimpleNamespace(t=t, reference=reference, altitude=altitude, action=rng.uniform(-3.3, 3.3, t.size))


def test_flight_figure_names_controllers_by_role_next_to_the_pid(tmp_path):
    snn, pid = flight(0, 0.02), flight(1, 0.05)
    fig = flight_figure({"SNN (best.snn)": snn, "PID": pid}, "command u\n(45 mN thrust per unit)")
    ax, ax_u = fig.axes
    assert legend_texts(ax) == ["reference", "SNN (best.snn)", "PID"]
    assert legend_texts(ax_u) == ["SNN (best.snn)", "PID"]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["PID"].get_ydata(), pid.altitude)
    np.testing.assert_array_equal(lines["reference"].get_ydata(), snn.reference)
    assert_distinct(line.get_color() for line in ax.get_lines())
    # the same controller has the same colour in both panels; the PID's command is drawn on top
    u = {line.get_label(): line for line in ax_u.get_lines()}
    assert all(u[n].get_color() == lines[n].get_color() for n in u)
    assert u["PID"].get_zorder() >= u["SNN (best.snn)"].get_zorder()
    assert ax_u.get_lines()[-1].get_label() == "PID"
    assert ax.get_ylabel() == "altitude (m)" and "mN" in ax_u.get_ylabel()
    for a in fig.axes:
        assert_unit(a.get_ylabel())
    assert ax_u.get_xlabel() == "time (s)"
    assert assert_legends_off_the_axes(fig) == 2
    plot_flight(tmp_path / "flight.png", {"PID": pid})
    assert (tmp_path / "flight.png").read_bytes()[:8] == PNG
