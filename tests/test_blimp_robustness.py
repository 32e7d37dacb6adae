"""Robustness sweep (evolve.blimp_robustness, `snnctl bench robustness`) and the blimp's [env] keys."""

import json

import numpy as np
import pytest

pytest.importorskip("mujoco")

from evolve.blimp_experiment import SCHEMA  # noqa: E402
from evolve.blimp_robustness import CONDITIONS, GOALS, Goal, format_robustness, robustness  # noqa: E402
from sim.blimp import BlimpAltitudeEnv  # noqa: E402
from snnctl.config import ConfigError, defaults, load_config  # noqa: E402

SHORT = 40.0  # s: one reference step (30-s steps), enough for every metric


def short_cfg(**env) -> dict:
    cfg = defaults(SCHEMA)
    cfg["run"].update(episode_s=SHORT, episodes=1)
    cfg["env"].update(env)
    return cfg


class FullDown:
    """A planted failure: always full thrust down, so the blimp lands on the floor."""

    def reset(self) -> None:
        pass

    def act(self, obs):
        return np.array([-3.3], np.float32)


@pytest.fixture
def planted(monkeypatch):
    import evolve.blimp_experiment as be

    real = be.load_controller
    monkeypatch.setattr(
        be, "load_controller", lambda spec, *a, **k: FullDown() if spec == "down" else real(spec, *a, **k)
    )


def test_conditions_cover_the_issue_and_are_relative_to_the_config():
    names = [c.name for c in CONDITIONS]
    assert names == ["nominal", "excess_mass_x1.5", "excess_mass_x0.5", "motor_lag_x2", "sensor_noise_3cm",
                     "gusts_0.1N", "buoyancy_drift_4g", "sensor_rate_5hz"]  # fmt: skip
    base = {**defaults(SCHEMA)["env"], "excess_mass_kg": 0.004, "motor_tau_s": 0.2}
    by = {c.name: c.env(base) for c in CONDITIONS}
    assert by["nominal"] == base
    assert by["excess_mass_x1.5"]["excess_mass_kg"] == pytest.approx(0.006)
    assert by["excess_mass_x0.5"]["excess_mass_kg"] == pytest.approx(0.002)
    assert by["motor_lag_x2"]["motor_tau_s"] == pytest.approx(0.4)
    assert by["sensor_noise_3cm"]["sensor_noise_m"] == 0.03 and by["gusts_0.1N"]["gust_force_n"] == 0.1
    assert by["buoyancy_drift_4g"]["buoyancy_drift_kg"] == 0.004
    env = BlimpAltitudeEnv(**by["sensor_rate_5hz"])
    assert env.dt == pytest.approx(0.1) and env.sensor_every == 2  # the loop stays at 10 Hz
    for c in CONDITIONS:  # every condition is a valid env on the default config
        BlimpAltitudeEnv(**c.env(defaults(SCHEMA)["env"]))


def test_goal_bounds():
    pid = {"rmse_m": 0.2, "steady_state_error_m": 0.01, "contact_steps": 0}
    g = {x.name: x for x in GOALS}
    assert g["rmse"].met({"rmse_m": 0.22}, pid) and not g["rmse"].met({"rmse_m": 0.2201}, pid)
    assert g["steady_state"].met({"steady_state_error_m": 0.02}, pid)
    assert not g["steady_state"].met({"steady_state_error_m": 0.0201}, pid)
    assert g["no_contact"].met({"contact_steps": 0}, pid) and not g["no_contact"].met({"contact_steps": 1}, pid)
    with pytest.raises(ValueError, match="unknown goal kind"):
        Goal("x", "x", "rmse_m", "bogus", 1.0).met({"rmse_m": 0}, pid)


def test_pid_against_itself_passes_everything_with_ratio_one():
    res = robustness(short_cfg(), "pid", episodes=1)
    assert [r["name"] for r in res["conditions"]] == [c.name for c in CONDITIONS]
    for r in res["conditions"]:
        assert r["controller"] == r["pid"]  # the same flights, the same numbers
        assert r["rmse_ratio"] == 1.0
        assert r["controller"]["contact_steps"] == 0
        assert r["passed"] and all(r["goals"].values())
    assert res["all_passed"]
    json.dumps(res)  # JSON-ready
    # the perturbations do something: every condition but the nominal changes the flight
    nominal = res["conditions"][0]["pid"]["rmse_m"]
    assert all(r["pid"]["rmse_m"] != nominal for r in res["conditions"][1:])
    table = format_robustness(res)
    assert "FAIL" not in table and table.endswith("all goals met in every condition")


def test_a_controller_that_hits_the_floor_fails_the_contact_goal(planted):
    conds = CONDITIONS[:2]
    res = robustness(short_cfg(), "down", episodes=1, conditions=conds)
    assert not res["all_passed"]
    for r in res["conditions"]:
        assert r["controller"]["contact_steps"] > 0 and r["controller"]["flights_with_contact"] == 1
        assert r["pid"]["contact_steps"] == 0
        assert r["goals"]["no_contact"] is False and not r["passed"]
    table = format_robustness(res)
    assert "FAIL" in table and "goals NOT met: nominal (no contact" in table


def test_env_keys_have_range_checks(tmp_path):
    p = tmp_path / "b.toml"
    for key, bad in (("motor_tau_s", -0.1), ("thrust_gain_n", 0.0), ("dead_zone", 4.0), ("control_rate_hz", 0.0),
                     ("sensor_rate_hz", 600.0), ("gust_rate_hz", -1.0), ("gust_duration_s", 0.0),
                     ("buoyancy_drift_period_s", 0.0), ("air_density_kg_m3", 3.0), ("ceiling_m", 2.0),
                     ("envelope_radius_m", 0.0)):  # fmt: skip
        p.write_text(f'[experiment]\nfamily = "blimp"\n[env]\n{key} = {bad}\n')
        with pytest.raises(ConfigError, match=f"env.{key}"):
            load_config(str(p), SCHEMA)
    p.write_text('[experiment]\nfamily = "blimp"\n[env]\nmotor_tau_s = 0.2\nsensor_rate_hz = 5.0\n')
    env = BlimpAltitudeEnv(**load_config(str(p), SCHEMA)["env"])
    assert env.motor_tau_s == 0.2 and env.sensor_every == 2


def _config(tmp_path, env: str = "") -> str:
    p = tmp_path / "blimp.toml"
    p.write_text(f'[experiment]\nfamily = "blimp"\n[env]\n{env}\n[run]\nepisodes = 1\nepisode_s = {SHORT}\n')
    return str(p)


def test_cli_bench_robustness(tmp_path, capsys):
    from snnctl.cli import main

    cfg = _config(tmp_path)
    assert main(["bench", "robustness", cfg, "--controller", "pid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["episodes"] == 1 and out["all_passed"] and len(out["conditions"]) == len(CONDITIONS)


def test_cli_bench_robustness_user_errors(tmp_path, capsys):
    from snnctl.cli import main

    cfg = _config(tmp_path)
    assert main(["bench", "robustness", cfg, "--controller", str(tmp_path / "missing.snn")]) == 2
    assert main(["bench", "robustness", cfg, "--controller", "pid", "--episodes", "21"]) == 2
    bad = _config(tmp_path, "sensor_rate_hz = 20.0")  # a 20-Hz lidar under the 10-Hz loop
    assert main(["bench", "robustness", bad, "--controller", "pid"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("snnctl: error: ") for line in err)
    assert "missing.snn" in err[0] and "1..20" in err[1] and "whole multiple of the control period" in err[2]
