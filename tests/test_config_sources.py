"""Config defaults and limits are written once: every family's schema agrees with the code it configures.

Each key that sets a spec field or an env constructor argument is listed here by hand (the table
below is the independent truth of which code a key feeds); the schema's default must equal that
code's own default, and a value outside the key's limits must be refused by the config loader with
one line naming the dotted key and the limits — and, for a spec field, by the spec itself.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve import blimp_experiment, gym_experiment, har_experiment, swimmer_experiment
from evolve.blimp import ClosedLoopProblem, MimicProblem
from evolve.gym import GymProblem
from evolve.har import (
    PARAM_KEYS,
    L2MUProblem,
    auto_hidden_per_channel,
    auto_steps_per_sample,
    spec_params,
    theta_seconds,
    train_l2mu,
)
from evolve.swimmer import SwimmerProblem
from sim.blimp import BlimpAltitudeEnv
from snnctl.config import ConfigError, Key, Section, apply_overrides, defaults
from snnctl.controllers.blimp_snn import BlimpSNNSpec
from snnctl.controllers.gym_snn import GymSNNSpec
from snnctl.controllers.l2mu import L2MUParams, L2MUSpec
from snnctl.controllers.linear import LinearSpec
from snnctl.controllers.mlp import MLPSpec
from snnctl.controllers.ncap import NCAPSpec

SCHEMAS = {"blimp": blimp_experiment.SCHEMA, "swimmer": swimmer_experiment.SCHEMA, "har": har_experiment.SCHEMA,
           "gym": gym_experiment.SCHEMA}  # fmt: skip


def _ctor_default(func, name):
    return inspect.signature(func).parameters[name].default


def _field_default(cls, name):
    return {f.name: f.default for f in fields(cls)}[name]


# (family, dotted key) -> the default of the code that key configures
SOURCES = {}
for _k in ("excess_mass_kg", "sensor_noise_m", "control_rate_hz", "gust_force_n", "gust_rate_hz",
           "gust_duration_s", "buoyancy_drift_kg", "buoyancy_drift_period_s", "motor_tau_s", "thrust_gain_n",
           "dead_zone", "envelope_semi_major_m", "envelope_radius_m", "envelope_areal_density_kg_m2",
           "air_density_kg_m3", "ceiling_m"):  # fmt: skip
    SOURCES["blimp", f"env.{_k}"] = _ctor_default(BlimpAltitudeEnv, _k)
for _k in ("episode_s", "profile"):
    SOURCES["blimp", f"run.{_k}"] = _ctor_default(BlimpAltitudeEnv, _k)
for _k in ("pd_pairs", "i_pairs", "i_adaptive", "pd_range_m", "i_range_m"):
    SOURCES["blimp", f"network.{_k}"] = _field_default(BlimpSNNSpec, _k)
for _k in ("shared", "period", "evolve_period", "period_min", "period_max", "velocity_feedback",
           "neurons_per_unit", "out_dv"):  # fmt: skip
    SOURCES["swimmer", f"controller.{_k}"] = _field_default(NCAPSpec, _k)
SOURCES["swimmer", "controller.hidden"] = list(_field_default(MLPSpec, "hidden"))
SOURCES["swimmer", "controller.weight_bound"] = _field_default(LinearSpec, "weight_bound")
for _k in ("order", "memories", "seed", "encoder_neurons", "memory_neurons"):
    SOURCES["har", f"model.{_k}"] = _field_default(L2MUSpec, _k)
for _f in ("theta_ratio", "hidden_gain", "gain_spread", "intercept", "input_weight", "hidden_tau_syn",
           "hidden_tau_mem"):  # fmt: skip
    SOURCES["har", f"model.{PARAM_KEYS.get(_f, _f)}"] = _field_default(L2MUParams, _f)
SOURCES["har", "model.state_bits"] = _ctor_default(train_l2mu, "state_bits")
for _k in ("calibration_windows", "max_accuracy_drop", "exit_agreement", "max_score_jitter"):
    SOURCES["har", f"train.{_k}"] = _ctor_default(train_l2mu, _k)
SOURCES["har", "search.calibration_windows"] = _field_default(L2MUProblem, "calibration_windows")
SOURCES["blimp", "mimic.sequences_per_generation"] = _field_default(MimicProblem, "sequences_per_generation")
for _k in ("episodes_per_generation", "w_rmse", "w_steady_state", "w_overshoot_up", "w_overshoot_down", "w_effort",
           "w_overshoot_excess", "spikes_objective", "relative_to_pid"):  # fmt: skip
    SOURCES["blimp", f"closed_loop.{_k}"] = _field_default(ClosedLoopProblem, _k)
for _k in ("episodes_per_generation", "episode_steps"):
    SOURCES["swimmer", f"train.{_k}"] = _field_default(SwimmerProblem, _k)
for _k in ("encoding", "hidden", "neuron", "recurrent", "connectivity", "prune", "skip", "input_gain", "spike_gain",
           "evolve_leak", "encoder_delay", "hidden_delay", "recurrent_delay"):  # fmt: skip
    SOURCES["gym", f"network.{_k}"] = _field_default(GymSNNSpec, _k)
for _k in ("episodes_per_generation", "episode_steps", "spikes_objective"):
    SOURCES["gym", f"train.{_k}"] = _field_default(GymProblem, _k)

# keys whose schema default is deliberately not the code's default, and why
NOT_THE_CODES = {
    ("blimp", "env.sensor_rate_hz"): "the env's None (= the control rate) has no TOML spelling",
    ("swimmer", "env.n_links"): "3 is the default env's body (Swimmer-v5), not SwimmerNEnv's 6",
    ("har", "train.alphas"): "[] is how TOML writes train_l2mu's None (the default penalty grid)",
    ("har", "model.hidden_per_channel"): "0 = evolve.har.auto_hidden_per_channel (scaled to the channels)",
    ("har", "model.steps_per_sample"): "0 = evolve.har.auto_steps_per_sample (scaled to the window length)",
}


def _keys(section: Section, prefix: str = ""):
    for name, entry in section.fields.items():
        path = f"{prefix}{name}"
        if isinstance(entry, Section):
            yield from _keys(entry, path + ".")
        elif isinstance(entry, Key):  # an OpenTable's keys are the env's to check
            yield path, entry


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.mark.parametrize(("family", "dotted"), sorted(SOURCES))
def test_schema_default_is_the_codes_default(family, dotted) -> None:
    code = SOURCES[family, dotted]
    got = _get(defaults(SCHEMAS[family]), dotted)
    assert got == code and type(got) is type(code) or (isinstance(code, int) and got == float(code))


def test_every_key_that_feeds_code_is_checked() -> None:
    """A key named after a spec field or env argument is in SOURCES (or NOT_THE_CODES, with a reason)."""
    feeds = {
        "blimp": {
            "env": BlimpAltitudeEnv,
            "network": BlimpSNNSpec,
            "run": BlimpAltitudeEnv,
            "mimic": MimicProblem,
            "closed_loop": ClosedLoopProblem,
        },  # fmt: skip
        "swimmer": {"controller": (NCAPSpec, MLPSpec, LinearSpec), "train": SwimmerProblem},
        "har": {"model": (L2MUSpec, L2MUParams, train_l2mu), "train": train_l2mu, "search": L2MUProblem},
        "gym": {"network": GymSNNSpec, "train": GymProblem},
    }
    for family, sections in feeds.items():
        for section, owners in sections.items():
            names = set()
            for owner in owners if isinstance(owners, tuple) else (owners,):
                if isinstance(owner, type) and hasattr(owner, "__dataclass_fields__"):
                    names |= {PARAM_KEYS.get(f.name, f.name) for f in fields(owner)}
                else:
                    names |= set(inspect.signature(owner).parameters)
            for name in SCHEMAS[family][section].fields:
                if name in names:
                    assert (family, f"{section}.{name}") in SOURCES or (family, f"{section}.{name}") in NOT_THE_CODES


def test_the_default_config_builds_the_default_specs() -> None:
    """The property end to end: an empty config section gives exactly the spec a caller gets with no arguments."""
    assert BlimpSNNSpec(**defaults(SCHEMAS["blimp"])["network"]) == BlimpSNNSpec()
    model = defaults(SCHEMAS["har"])["model"]
    spec, params = spec_params(3, 4, 10.0, model, window_samples=100)
    # the keys that scale with the data resolve through their documented rules
    auto = {"hidden_per_channel": auto_hidden_per_channel(3), "steps_per_sample": auto_steps_per_sample(100)}
    assert spec == L2MUSpec(3, 4, dt=0.1, **auto)
    assert params == L2MUParams(theta=theta_seconds(model["theta_fraction"], 100, 0.1))
    ctl = defaults(SCHEMAS["swimmer"])["controller"]
    ncap = {f.name for f in fields(NCAPSpec)}
    assert NCAPSpec(**{k: v for k, v in ctl.items() if k in ncap}) == NCAPSpec()
    assert MLPSpec(5, 2, hidden=ctl["hidden"], weight_bound=ctl["weight_bound"]) == MLPSpec(5, 2)
    assert GymSNNSpec(**defaults(SCHEMAS["gym"])["network"]) == GymSNNSpec()


def _outside(key: Key) -> list:
    """Values just outside a key's limits (by hand from ge/gt/le/lt/choices)."""
    t = key.item if key.type is list else key.type
    out = []
    if key.choices is not None:
        bad = "no-such-choice" if t is str else (max(key.choices) + 1 if t is int else None)
        out += [bad] if bad is not None else []
    step = 1 if t is int else 1e-6
    if key.ge is not None:
        out.append(t(key.ge) - step if t is int else key.ge - max(step, abs(key.ge) * 1e-6))
    if key.gt is not None:
        out.append(t(key.gt))
    if key.le is not None:
        out.append(t(key.le) + step if t is int else key.le + max(step, abs(key.le) * 1e-6))
    if key.lt is not None:
        out.append(t(key.lt))
    return [[v] if key.type is list else v for v in out]


BOUNDED = [
    (family, dotted, key, bad)
    for family, schema in SCHEMAS.items()
    for dotted, key in _keys(schema)
    for bad in _outside(key)
]


@pytest.mark.parametrize(("family", "dotted", "key", "bad"), BOUNDED, ids=[f"{f}:{d}={b!r}" for f, d, _, b in BOUNDED])
def test_out_of_bounds_is_refused_naming_key_and_limits(family, dotted, key, bad) -> None:
    schema = SCHEMAS[family]
    with pytest.raises(ConfigError) as exc:
        apply_overrides(defaults(schema), schema, {dotted: bad})
    msg = str(exc.value)
    assert "\n" not in msg and exc.value.key.startswith(dotted) and key.allowed() in msg


SPEC_FIELDS = [
    (BlimpSNNSpec, {}, "blimp", "network"),
    (NCAPSpec, {}, "swimmer", "controller"),
    (L2MUSpec, {"n_channels": 2, "n_classes": 3}, "har", "model"),
    (L2MUParams, {}, "har", "model"),
    (ClosedLoopProblem, {"spec": BlimpSNNSpec(pd_pairs=1, i_pairs=1), "env_kwargs": {}}, "blimp", "closed_loop"),
    (SwimmerProblem, {"kind": "linear", "options": {}}, "swimmer", "train"),
]


@pytest.mark.parametrize(("cls", "base", "family", "section"), SPEC_FIELDS, ids=lambda x: getattr(x, "__name__", ""))
def test_a_spec_refuses_what_its_config_key_refuses(cls, base, family, section) -> None:
    """Same limits in the spec and the schema: every out-of-limit value is a ValueError naming field and limits."""
    inv = {v: k for k, v in PARAM_KEYS.items()} if cls is L2MUParams else {}
    names = {f.name for f in fields(cls)}
    checked = 0
    for name, key in SCHEMAS[family][section].fields.items():
        field_name = inv.get(name, name)
        if field_name not in names or (family, f"{section}.{name}") in NOT_THE_CODES:
            continue  # a key whose value the family resolves first (e.g. HAR's 0 = auto) has its own limits
        for bad in _outside(key):
            with pytest.raises(ValueError, match=field_name) as exc:
                cls(**base, **{field_name: bad})
            assert key.allowed() in str(exc.value)
            checked += 1
    assert checked


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_values_inside_the_limits_build_the_spec(data) -> None:
    """Any value the schema accepts for a blimp network or HAR model key builds the spec (limits agree)."""
    for family, section, build in (
        ("blimp", "network", lambda sec: BlimpSNNSpec(**sec)),
        ("har", "model", lambda sec: spec_params(2, 3, 10.0, sec)),
    ):
        resolved = defaults(SCHEMAS[family])[section]
        for name, key in SCHEMAS[family][section].fields.items():
            if key.type is bool:
                resolved[name] = data.draw(st.booleans())
            elif key.type is int:
                resolved[name] = data.draw(st.integers(int(key.ge), int(key.le)))
            elif key.type is float:
                lo = key.ge if key.ge is not None else key.gt
                hi = key.le if key.le is not None else key.lt
                v = data.draw(st.floats(lo, hi, exclude_min=key.ge is None, exclude_max=key.le is None))
                assert math.isfinite(v)
                resolved[name] = v
        build(resolved)


def test_evolve_section_agrees_with_its_code() -> None:
    """[evolve]: the GA/NSGA-II operator defaults are the constructors'; EvolveSettings() is the empty section."""
    from evolve.algorithms import GA, NSGA2
    from evolve.runner import EVOLVE_SECTION, EvolveSettings

    resolved = defaults(Section("", evolve=EVOLVE_SECTION))["evolve"]
    for name, cls in (("ga", GA), ("nsga2", NSGA2)):
        for key, value in resolved[name].items():
            assert value == _ctor_default(cls, key), (name, key)
    assert EvolveSettings().to_dict() == resolved


def test_swimmer_env_physics_defaults_are_the_model_generators() -> None:
    """SwimmerNEnv takes swimmer_mjcf's body and fluid parameters as gymnasium kwargs: same defaults."""
    from sim.swimmer import SwimmerNEnv, swimmer_mjcf

    model = inspect.signature(swimmer_mjcf).parameters
    env = inspect.signature(SwimmerNEnv).parameters
    shared = [n for n in model if n != "n_links"]
    assert shared and all(n in env for n in shared)
    assert {n: env[n].default for n in shared} == {n: model[n].default for n in shared}
