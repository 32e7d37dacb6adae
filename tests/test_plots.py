"""The blimp flight plot and the fitness plot, checked on their matplotlib Figures (tests/plot_checks.py).

What issue 13 asked of them: legends off the data, units on every axis, distinct colours, and a PID
reference line wherever the point is a comparison with the PID.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from evolve.blimp_experiment import flight_figure, plot_flight
from evolve.runner import fitness_figure, plot_fitness
from tests.plot_checks import (
    PNG,
    assert_distinct,
    assert_labels_inside,
    assert_legends_off_the_axes,
    assert_unit,
    legend_texts,
)


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
    assert_labels_inside(fig)
    plot_flight(tmp_path / "flight.png", {"PID": pid})
    assert (tmp_path / "flight.png").read_bytes()[:8] == PNG


def logbook(n: int = 40) -> list[dict]:
    """A run scored relative to the PID: the population's mean far above, the best crossing below 0."""
    gens = np.arange(n)
    best = 0.05 - 0.15 * (1 - np.exp(-gens / 10))
    mean = 1.2 * np.exp(-gens / 15) + 0.05
    rows = zip(gens, best, mean, np.minimum.accumulate(best), strict=True)
    return [{"gen": int(g), "tracking_cost_best": b, "tracking_cost_mean": m, "tracking_cost_std": 0.8 * m,
             "tracking_cost_best_ever": e} for g, b, m, e in rows]  # fmt: skip


def test_fitness_figure_says_what_the_cost_is_and_where_the_pid_stands(tmp_path):
    from evolve.blimp import ClosedLoopProblem
    from snnctl.controllers.blimp_snn import BlimpSNNSpec

    labels = ClosedLoopProblem(BlimpSNNSpec(), {}, relative_to_pid=True).objective_labels
    fig = fitness_figure(logbook(), ("tracking_cost",), (-1.0,), labels=labels,
                         references={"tracking_cost": (0.0, "PID")})  # fmt: skip
    (ax,) = fig.axes
    assert ax.get_ylabel() == labels["tracking_cost"]
    assert_unit(ax.get_ylabel())
    (pid,) = [line for line in ax.get_lines() if line.get_label() == "PID (0)"]
    assert set(pid.get_ydata()) == {0.0} and pid.get_linestyle() == ":"
    assert legend_texts(ax) == ["mean ± std", "best of generation", "best so far", "PID (0)"]
    assert_distinct(line.get_color() for line in ax.get_lines())
    assert assert_legends_off_the_axes(fig) == 1
    assert_labels_inside(fig)
    # the mean's early spread is 20x the best's range: a symmetric-log axis keeps the best readable
    assert ax.get_yscale() == "symlog"
    lo, hi = ax.get_ylim()
    assert lo < min(r["tracking_cost_best_ever"] for r in logbook()) and hi > 1.2
    plot_fitness(logbook(), ("tracking_cost",), (-1.0,), tmp_path / "fitness.png")
    assert (tmp_path / "fitness.png").read_bytes()[:8] == PNG


def test_fitness_figure_without_labels_says_which_way_is_better():
    rows = [{"gen": g, **{f"f_{k}": v for k, v in (("best", 1.0 / (g + 1)), ("mean", 2.0), ("std", 0.1),
                                                    ("best_ever", 1.0 / (g + 1)))}} for g in range(5)]  # fmt: skip
    (ax,) = fitness_figure(rows, ("f",), (-1.0,)).axes
    assert ax.get_ylabel() == "f (lower is better)" and ax.get_yscale() == "linear"
    (ax,) = fitness_figure(rows, ("f",), (1.0,)).axes
    assert ax.get_ylabel() == "f (higher is better)"


class RelativeSphere:
    """A cost scored relative to a baseline, declaring its axis label and the baseline's line."""

    name = "relative-sphere"
    objectives = ("cost",)
    weights = (-1.0,)
    objective_labels = {"cost": "cost minus the baseline's (m)"}
    objective_references = {"cost": (0.0, "baseline")}
    bounds = np.array([[-1.0, 1.0]] * 3)

    def evaluate(self, genomes, seeds, generation):
        return (np.sum(genomes**2, axis=1) - 0.5)[:, None]


def test_the_runner_draws_the_problems_labels_and_reference(tmp_path, monkeypatch):
    import evolve.runner as runner

    seen = []
    real = runner.fitness_figure
    monkeypatch.setattr(runner, "fitness_figure", lambda *a, **kw: seen.append(a) or real(*a, **kw))
    runner.evolve(RelativeSphere(), runner.EvolveSettings(generations=2, population=6, backend="serial"), tmp_path,
                  progress=False)  # fmt: skip
    *_, labels, references = seen[-1]
    assert labels == RelativeSphere.objective_labels and references == RelativeSphere.objective_references
    assert (tmp_path / "fitness.png").read_bytes()[:8] == PNG


def test_blimp_problems_declare_their_fitness_axes():
    from evolve.blimp import ClosedLoopProblem
    from snnctl.controllers.blimp_snn import BlimpSNNSpec

    spec = BlimpSNNSpec()
    paired = ClosedLoopProblem(spec, {"episode_s": 10.0}, relative_to_pid=True)
    assert paired.objective_references == {"tracking_cost": (0.0, "PID")}
    assert "better than the PID" in paired.objective_labels["tracking_cost"]
    alone = ClosedLoopProblem(spec, {"episode_s": 10.0}, spikes_objective=True)
    assert alone.objective_references == {} and "PID" not in alone.objective_labels["tracking_cost"]
    for label in alone.objective_labels.values():
        assert_unit(label)
