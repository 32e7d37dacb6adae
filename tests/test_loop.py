"""The sensing-to-action loop: equivalence with run_episode, every fault kind, timing, backends, CLI, bench."""

import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.blimp import BlimpAltitudeEnv
from sim.blimp_loop import BLIMP_LAYOUT, BLIMP_LOOP, BLIMP_SAFE_U, BLIMP_SENSING, fly_blimp_heldout
from sim.blimp_metrics import run_episode
from sim.faults import parse_faults
from sim.loop import LoopRunner, loop_spec, sensor_layout
from sim.monitor import ReliabilityMonitor
from sim.sensing import FixedRate, SendOnDelta, make_sensing
from snnctl import snnfile
from snnctl.controllers.blimp_snn import BlimpSNNCodec, BlimpSNNSpec
from snnctl.controllers.factory import load_backend, load_controller
from snnctl.controllers.loop_backends import (
    Action,
    Backend,
    FloatReferenceBackend,
    IntegerSNNBackend,
    PIDBackend,
)
from snnctl.controllers.pid import PID
from snnctl.controllers.snn import SNNController
from snnctl.quantize import from_integer
from snnctl.reference import FloatStepper, simulate
from tests.randnet import networks

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def net():
    codec = BlimpSNNCodec(BlimpSNNSpec())
    return codec.decode(codec.initial_genome)


@pytest.fixture(scope="module")
def snn_path(net, tmp_path_factory):
    return snnfile.save(net, tmp_path_factory.mktemp("loop") / "blimp.snn")


def blimp(episode_s=60.0, **kw):
    return BlimpAltitudeEnv(episode_s=episode_s, **kw)


# -- equivalence with the plain episode runner --------------------------------------------------------


def test_fixed_sensing_no_faults_acts_exactly_as_run_episode(net):
    env = blimp()
    rec = run_episode(env, SNNController(net), seed=7)
    res = LoopRunner(env, IntegerSNNBackend(net)).run(seed=7)
    assert len(res.records) == len(rec.t) == 600
    assert np.array_equal(res.column("action"), rec.action.astype(np.float32))
    assert np.array_equal(res.column("spikes"), rec.extras["spikes"])
    assert np.array_equal(res.column("measurement"), rec.measurement)
    assert np.array_equal(res.column("truth"), rec.altitude) and np.array_equal(res.column("t"), rec.t)
    s = res.summary()
    m = rec.metrics()
    assert s["rmse_m"] == m["rmse_m"] and s["steady_state_error_m"] == m["steady_state_error_m"]
    assert s["samples"] == 600 and s["samples_per_s"] == 10.0 and s["flagged_steps"] == 0
    assert s["deadline_misses"] == 0 and s["controller_calls"] == 600 and s["flags"] == {}
    assert s["spikes_per_s"] == rec.extras["spikes"].sum() / 60.0


class _FreezeWatcher(PIDBackend):
    """The PID, noting how many objects the collector has frozen at each call."""

    def __init__(self, dt: float) -> None:
        super().__init__(dt)
        self.frozen: list[int] = []

    def act(self, obs):
        import gc

        self.frozen.append(gc.get_freeze_count())
        return super().act(obs)


def test_an_episode_runs_with_the_earlier_heap_frozen_and_gives_it_back():
    """Objects that exist before an episode stay out of the collector's full walks during it (a
    generation-2 pause in a big process is a missed deadline), and are handed back after it; a caller
    that froze the heap itself keeps its arrangement, and the flight is the same either way."""
    import gc

    assert gc.get_freeze_count() == 0
    env = blimp(5.0)
    kept_alive = [[i] for i in range(10_000)]  # tracked objects made before the episode
    watcher = _FreezeWatcher(env.dt)
    first = LoopRunner(env, watcher).run(seed=3)
    assert min(watcher.frozen) >= len(kept_alive) and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        again = _FreezeWatcher(env.dt)
        second = LoopRunner(env, again).run(seed=3)
        # not frozen again (the count would grow by the runner's own objects) nor unfrozen; it may only
        # shrink as frozen objects are freed
        assert 0 < min(again.frozen) <= max(again.frozen) <= before and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert np.array_equal(first.column("action"), second.column("action"))
    del kept_alive


def test_pid_backend_acts_as_the_pid():
    env = blimp(30.0)
    rec = run_episode(env, PID.for_blimp(dt=env.dt), seed=3)
    res = LoopRunner(env, PIDBackend(env.dt)).run(seed=3)
    assert np.array_equal(res.column("action"), rec.action.astype(np.float32))


def test_held_samples_reach_the_controller_with_the_error_recomputed(net):
    """With every 4th sample, the controller's observation is [held, ref, ref - held]."""

    class Spy(Backend):
        def __init__(self):
            self.seen = []

        def reset(self):
            self.seen.clear()

        def act(self, obs):
            self.seen.append(np.array(obs))
            return Action(np.array([1.0], np.float32))

    env, spy = blimp(10.0), Spy()
    res = LoopRunner(env, spy, FixedRate(4)).run(seed=1)
    seen = np.array(spy.seen)
    assert res.column("sensed").nonzero()[0].tolist() == list(range(0, 100, 4))
    meas = res.column("measurement")
    assert np.array_equal(seen[:, 0], meas.astype(np.float32))
    assert np.array_equal(seen[:, 1], res.column("reference").astype(np.float32))
    held = ~res.column("sensed").astype(bool)  # a fresh sample passes the env's own observation through
    want = (seen[:, 1].astype(np.float64) - seen[:, 0]).astype(np.float32)
    assert np.array_equal(seen[held, 2], want[held]) and np.allclose(seen[~held, 2], want[~held], atol=1e-6)
    for k in range(1, 4):  # held: steps 1..3 saw the sample of step 0
        assert seen[k, 0] == seen[0, 0]


# -- float reference --------------------------------------------------------------------------------


@given(networks(), st.integers(0, 2**32 - 1), st.integers(1, 25))
@settings(max_examples=60, deadline=None)
def test_float_stepper_equals_simulate(inet, seed, steps):
    fnet = from_integer(inet, dt=0.01)
    x = np.random.default_rng(seed).normal(0, 2.0, (steps, inet.n_inputs)) * inet.input_scale
    ref = simulate(fnet, x)
    st_ = FloatStepper(fnet)
    off = fnet.offsets()
    for t in range(steps):
        out = st_.step(x[t])
        np.testing.assert_array_equal(out, ref.outputs[t])
        assert st_.spikes == int(ref.spikes[t].sum())
        # synops recounted from simulate's spike trace (docs/integer-model.md section 5)
        want = 0
        for q in fnet.projections:
            if q.src == -1:
                rows = np.flatnonzero(x[t])
            elif t >= q.lag:
                rows = np.flatnonzero(ref.spikes[t - q.lag, off[q.src] : off[q.src + 1]])
            else:
                rows = np.zeros(0, int)
            want += int(np.count_nonzero(q.weights[rows])) if q.sparse else rows.size * q.weights.shape[1]
        assert st_.synops == want
    st_.reset()
    np.testing.assert_array_equal(st_.step(x[0]), ref.outputs[0])


def test_float_reference_backend_flies_close_to_the_integer_network(net):
    env = blimp()
    i = LoopRunner(env, IntegerSNNBackend(net)).run(seed=2).summary()
    f = LoopRunner(env, FloatReferenceBackend(net)).run(seed=2).summary()
    assert f["rmse_m"] < 0.5 and abs(f["rmse_m"] - i["rmse_m"]) < 0.25 * i["rmse_m"]
    assert f["spikes_per_s"] > 0
    # NaN is "no signal" (0) and huge values saturate at the int16 code range, as on a device
    fb = FloatReferenceBackend(net)
    assert np.isfinite(fb.act(np.array([np.nan, 1.0, np.nan])).u).all()
    assert np.isfinite(fb.act(np.array([0.0, 1.0, 1e30])).u).all()


def test_load_backend(snn_path):
    assert isinstance(load_backend("pid", 0.1), PIDBackend)
    assert isinstance(load_backend(str(snn_path), 0.1), IntegerSNNBackend)
    assert isinstance(load_backend(f"float:{snn_path}", 0.1), FloatReferenceBackend)
    with pytest.raises(ValueError, match="nope.snn: no such file .*'float:NET.snn'"):
        load_backend("nope.snn", 0.1)


def test_load_backend_tries_the_extensions_first(snn_path):
    """Board URLs are an extension the caller composes in: the core factory knows no board."""
    seen = []

    def ext(spec, dt, force):
        seen.append((spec, dt, force))
        return PIDBackend(dt) if spec.startswith("mine:") else None

    assert isinstance(load_backend("mine:x", 0.2, extensions=[ext]), PIDBackend)
    assert isinstance(load_backend(str(snn_path), 0.1, force=True, extensions=[ext]), IntegerSNNBackend)
    assert seen == [("mine:x", 0.2, False), (str(snn_path), 0.1, True)]


def test_board_extension_takes_net_at_url_only(snn_path):
    from firmware_bridge.loop_device import board_extension

    ext = board_extension(deadline_s=0.05)
    for spec in ("pid", str(snn_path), f"float:{snn_path}", "nope.snn@socket://127.0.0.1:1"):
        assert ext(spec, 0.1, False) is None


def test_load_controller_one_factory_for_every_kind(snn_path, tmp_path):
    from snnctl.controllers.linear import LinearPolicy
    from snnctl.controllers.mlp import MLPPolicy

    pid = load_controller("pid", 0.2)
    assert isinstance(pid, PID) and pid.dt == 0.2
    with pytest.raises(ValueError, match="control period"):
        load_controller("pid")
    ctl = load_controller(str(snn_path), 0.1)
    assert isinstance(ctl, SNNController)
    lin = LinearPolicy(np.ones((2, 8)), np.zeros(2)).save(tmp_path / "lin.npz")
    assert isinstance(load_controller(lin), LinearPolicy)
    mlp = MLPPolicy([np.ones((3, 8)), np.ones((2, 3))], [np.zeros(3), np.zeros(2)]).save(tmp_path / "mlp.npz")
    assert isinstance(load_controller(mlp), MLPPolicy)
    np.savez(tmp_path / "other.npz", kind=np.array("other"))
    with pytest.raises(ValueError, match="other.npz: not a float baseline"):
        load_controller(tmp_path / "other.npz")
    calls = []
    load_controller(str(snn_path), 0.1, fit=lambda kind, path, obj: calls.append((kind, path)) or obj)
    assert calls == [("snn", Path(snn_path))]


def test_run_heldout_is_the_loop_over_the_seeds_the_env_declares(snn_path):
    """The one loop held-out runner: the env's declared held-out set, the same flights as LoopRunner by hand."""
    from sim.loop import heldout_seeds, run_heldout
    from sim.profiles import HELDOUT_SEEDS

    env = BlimpAltitudeEnv(episode_s=10.0)
    assert heldout_seeds(env, 2, 3) == list(HELDOUT_SEEDS[3:5])
    with pytest.raises(ValueError, match="only 20 held-out"):
        heldout_seeds(env, 2, 19)
    backend = load_backend(str(snn_path), env.dt)
    got = run_heldout(env, backend, "delta", 2, 1, faults="dropout@2:1")
    by_hand = LoopRunner(env, backend, "delta", faults="dropout@2:1", seed=1)
    want = [by_hand.run(seed=s) for s in HELDOUT_SEEDS[1:3]]
    assert [r.summary()["rmse_m"] for r in got] == [r.summary()["rmse_m"] for r in want]
    assert [r.seed for r in got] == list(HELDOUT_SEEDS[1:3])
    env.close()


# -- every fault kind --------------------------------------------------------------------------------

# (spec, stated steps to flag from sim/monitor.py's table, expected reason)
FAULTS = [
    ("dropout@20:3", 0, "nan"),
    ("stuck@20:3", 1, "stuck"),
    ("noise@20:3:0.5", 5, "jump"),
    ("spike@20:0.1:0.5", 0, "jump"),
    ("spike@20:0.1:10", 0, "range"),
    ("delay@20:3:150", 0, "timeout"),
    ("drop@20:3:1", 0, "timeout"),
    ("corrupt@20:3:1", 0, "timeout"),
    ("silent@20:3", 0, "timeout"),
    ("unplug@20:3", 0, "disconnected"),
]


@pytest.mark.parametrize("spec, bound, reason", FAULTS)
@pytest.mark.parametrize("policy", ["fixed", "delta", "adaptive"])
def test_every_fault_is_flagged_the_safe_action_holds_and_the_loop_goes_on(net, spec, bound, reason, policy):
    env = blimp(40.0)
    runner = LoopRunner(env, IntegerSNNBackend(net), policy, faults=spec, seed=1)  # by name: the blimp's defaults
    res = runner.run(seed=11)  # never raises
    assert len(res.records) == 400
    flagged = res.column("flagged").astype(bool)
    act = res.column("action")
    assert np.all(act[flagged] == np.float32(BLIMP_SAFE_U))  # the safe action, every flagged step
    assert not flagged[:200].any() and not flagged[-50:].any()  # nothing before; recovered by the end
    (hit,) = res.steps_to_flag()
    sensor = reason in ("nan", "stuck", "jump", "range")
    if policy == "delta" and reason in ("nan", "range"):
        bound = 0  # the node reads every step and sends an invalid reading or a jump > delta at once
        # (a 0.5-m spike is sent at once too, but against a last good sample up to 1 s old the jump
        # bound is 1.08 m: the monitor cannot tell it from motion)
    elif policy == "adaptive" and reason == "nan":
        bound = 9  # the next sample comes within the longest interval (10 steps)
    elif policy != "fixed" and sensor:
        bound = None  # the monitor judges only samples it is given: stuck waits for heartbeats, etc.
    if bound is not None:  # the stated bound (link faults: whatever the sensing policy)
        assert hit["steps"] is not None and hit["steps"] <= bound, hit
    if hit["steps"] is not None:
        assert res.records[200 + hit["steps"]].reason.startswith(reason)
    if sensor:  # while the sensor flag is up the controller is not stepped
        sensor_flag = np.array([r.reason is not None and r.reason.split("+")[0] == reason for r in res.records])
        assert not res.column("called").astype(bool)[sensor_flag].any()
    s = res.summary()
    assert s["flags"].get(reason, 0) >= (1 if hit["steps"] is not None else 0)


@pytest.mark.parametrize("seed", range(10))
def test_noise_bursts_and_smallest_stated_spikes_flagged_over_seeds(net, seed):
    faults = "noise@10:5:0.5,spike@20.3:0.1:0.35,spike@24.7:0.1:-0.35"
    res = LoopRunner(blimp(30.0), IntegerSNNBackend(net), faults=faults, seed=seed).run(seed=seed)
    noise, up, down = (f["steps"] for f in res.steps_to_flag())
    assert noise <= 5 and up == 0 and down == 0


def test_exact_recovery_steps_after_dropout_and_unplug(net):
    res = LoopRunner(blimp(30.0), IntegerSNNBackend(net), faults="dropout@10:1,unplug@20:1").run(seed=4)
    flagged = res.column("flagged").astype(bool)
    # dropout: steps 100..109 NaN; samples 110..113 sane -> the 5th sane sample (114) clears the flag
    assert flagged[100:114].all() and not flagged[99] and not flagged[114]
    # unplug: 200..209 disconnected; replies at 210, 211 on time, the 3rd (212) clears the flag
    assert flagged[200:212].all() and not flagged[212]
    assert res.column("fault")[200:210].tolist() == ["disconnected"] * 10
    assert res.column("called")[200:212].all()  # the loop keeps calling to see the link come back


def test_after_an_unplug_the_controller_restarts_from_reset_state(net):
    """The in-process model of a board that is sent RESET before its next STEP after a fault."""

    class Recorder(IntegerSNNBackend):
        def act(self, obs):
            self.seen.append(np.array(obs))
            return super().act(obs)

    rec = Recorder(net)
    rec.seen = []
    res = LoopRunner(blimp(30.0), rec, faults="unplug@10:2").run(seed=6)
    after = np.array(rec.seen[100:])  # observations of the calls that got through after the window
    fresh = SNNController(net)
    want = np.array([fresh.act(o)[0] for o in after])
    got = res.column("controller_u")[120:]
    assert np.array_equal(got, want)


def test_realtime_pacing_and_late_replies_are_deadline_misses():
    class Slow(Backend):
        def __init__(self, s):
            self.s = s

        def reset(self):
            pass

        def act(self, obs):
            time.sleep(self.s)
            return Action(np.array([2.0], np.float32))

    env = BlimpAltitudeEnv(control_rate_hz=50.0, episode_s=0.4)  # 20 steps of 20 ms
    t0 = time.perf_counter()
    res = LoopRunner(env, Slow(0.0), realtime=True).run(seed=0)
    assert time.perf_counter() - t0 >= 20 * 0.02 - 1e-3  # paced to the wall clock
    assert res.summary()["latency_max_ms"] is not None
    # a reply 30 ms into a 10-ms deadline is late every time: counted, flagged, safe action applied
    res = LoopRunner(env, Slow(0.03), deadline_s=0.01).run(seed=0)
    s = res.summary()
    assert s["deadline_misses"] == 20 and s["flags"] == {"late": 1} and s["flagged_steps"] == 20
    assert np.all(res.column("action") == np.float32(BLIMP_SAFE_U))
    assert s["latency_p50_ms"] >= 30.0


def test_delay_below_the_timeout_is_latency_not_a_fault(net):
    res = LoopRunner(blimp(3.0), IntegerSNNBackend(net), faults="delay@1:1:15").run(seed=0)
    lat = res.column("latency_s")
    assert res.summary()["flagged_steps"] == 0
    assert np.all(lat[10:20] >= 0.015) and res.steps_to_flag()[0]["steps"] is None


def test_delta_sensing_takes_fewer_samples_and_counts_them(net):
    env = blimp()
    res = LoopRunner(env, IntegerSNNBackend(net), SendOnDelta(0.03, 10)).run(seed=5)
    s = res.summary()
    assert s["reads_per_s"] == 10.0 and s["samples"] == res.column("sensed").sum() < 300
    assert s["samples_per_s"] == s["samples"] / 60.0


# -- any gymnasium env ---------------------------------------------------------------------------------


def test_a_generic_gymnasium_env():
    class PD(Backend):
        def reset(self):
            pass

        def act(self, obs):  # Pendulum: obs = [cos th, sin th, th_dot]
            return Action(np.array([-2.0 * obs[1] - 0.5 * obs[2]], np.float32))

    env = gym.make("Pendulum-v1", max_episode_steps=50)
    res = LoopRunner(env, PD(), FixedRate(2), faults="dropout@1:0.5").run(seed=0)
    s = res.summary()
    # every 2nd step (25), plus every step while the flag is up: NaN at 20..29 (t = 1.0 .. 1.45 s), 5 sane
    # samples 30..34 clear it, so steps 21..34 sample; the odd ones are extra: 21, 23, .., 33 (7)
    assert s["steps"] == 50 and s["samples"] == 25 + 7 and s["flagged_steps"] == 34 - 20
    assert "rmse_m" not in s and np.isfinite(s["total_reward"]) and s["flags"] == {"nan": 1}
    assert res.control_hz == 20.0  # from the env's dt (0.05 s)
    assert sensor_layout(env).index == (0, 1, 2) and sensor_layout(env, 2).index == (2,)
    assert sensor_layout(blimp()) is BLIMP_LAYOUT
    assert loop_spec(env) is None and loop_spec(blimp()) is BLIMP_LOOP  # the blimp declares its own
    by_name = LoopRunner(blimp(), PD(), "delta").sensing
    assert by_name.describe() == make_sensing("delta", BLIMP_SENSING).describe()
    assert by_name.describe() == "send-on-delta (delta 0.03, heartbeat every 10 steps)"
    with pytest.raises(ValueError, match="control_hz = 10.0 but one env step is 0.05 s"):
        LoopRunner(env, PD(), control_hz=10.0)


# -- plots, CLI, bench -----------------------------------------------------------------------------


def test_timeline_plot(net, tmp_path):
    from sim.loop_plots import flagged_spans, plot_timeline

    res = LoopRunner(blimp(30.0), IntegerSNNBackend(net), "delta",
                     faults="dropout@5:2,spike@12:0.1:10,unplug@20:2").run(seed=0)  # fmt: skip
    spans = flagged_spans(res)
    assert [s[2] for s in spans] == ["nan", "range", "disconnected"] and spans[0][0] == 5.0
    out = plot_timeline(tmp_path / "t.png", res)
    assert out.read_bytes()[:8] == PNG


def test_timeline_is_readable(net, monkeypatch, tmp_path):
    """loop.png / hil.png: units on every axis, legends and fault labels off the curves and the title,
    the sample ticks out of the altitude panel (at 10 Hz they hid the true and measured lines)."""
    from sim.blimp_loop import blimp_plot_labels
    from sim.loop_plots import timeline_figure
    from tests.plot_checks import (
        assert_distinct,
        assert_labels_inside,
        assert_legends_off_the_axes,
        assert_unit,
        drawn,
        legend_texts,
    )

    res = LoopRunner(blimp(30.0), IntegerSNNBackend(net), "delta",
                     faults="dropout@5:2,noise@12:3:0.5,unplug@20:2").run(seed=0)  # fmt: skip
    fig = drawn(timeline_figure(res, "best.snn, first flight", **blimp_plot_labels(0.045)))
    ax, ax_u, ax_s = fig.axes
    assert ax.get_ylabel() == "altitude (m)" and "45 mN thrust per unit" in ax_u.get_ylabel()
    for a in fig.axes:
        assert_unit(a.get_ylabel())
    assert ax_s.get_xlabel() == "time (s)"
    assert legend_texts(ax)[:3] == ["reference", "true", "measurement used (held)"]
    assert_distinct(line.get_color() for line in ax.get_lines()[:3])
    assert assert_legends_off_the_axes(fig) == 3
    assert_labels_inside(fig)
    # every sample is a tick in the sensing panel, none over the altitude
    assert not [line for line in ax.get_lines() if line.get_marker() == "|"]
    (rug,) = [line for line in ax_s.get_lines() if line.get_marker() == "|"]
    sample = res.column("sample")
    np.testing.assert_array_equal(
        rug.get_xdata(), res.column("t")[res.column("sensed").astype(bool) & np.isfinite(sample)]
    )
    # fault labels inside the top panel, under the title, above every curve
    box, title = ax.get_window_extent(), ax.title.get_window_extent()
    labels = [txt.get_window_extent() for txt in ax.texts]
    assert [txt.get_text() for txt in ax.texts] == ["dropout", "noise", "unplug"]
    curve_top = max(ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))[:, 1].max()
                    for line in ax.get_lines()[:3])  # fmt: skip
    for lab in labels:
        assert box.x0 <= lab.x0 and lab.x1 <= box.x1 and box.y0 <= lab.y0 and lab.y1 <= box.y1
        assert not lab.overlaps(title) and lab.y0 > curve_top

    # snnctl hil's plot names the blimp's quantities too
    from snnctl.cli import loop as cli_loop

    seen = {}
    monkeypatch.setattr("sim.loop_plots.plot_timeline", lambda path, result, **kw: seen.update(kw))
    cli_loop._plot(tmp_path / "hil.png", res, "best.snn on host", 0.045)
    assert seen["value_label"] == "altitude (m)" and "mN" in seen["action_label"]


@pytest.fixture
def cfg_file(tmp_path):
    p = tmp_path / "blimp.toml"
    p.write_text('[experiment]\nfamily = "blimp"\n\n[run]\nepisodes = 2\nepisode_s = 40.0\n')
    return str(p)


def test_cli_run_with_sensing_and_faults(cfg_file, snn_path, tmp_path, capsys):
    from snnctl import cli

    png = tmp_path / "loop.png"
    args = ["run", cfg_file, "--controller", str(snn_path), "--sensing", "delta", "--faults",
            "dropout@10:2,unplug@20:2", "--json", "--plot", str(png)]  # fmt: skip
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["episodes"] == 2 and out["flags"] == {"nan": 2, "disconnected": 2}
    assert [f["worst_steps"] for f in out["steps_to_flag"]] == [0, 0]
    assert out["samples_per_s"] < 10 and png.read_bytes()[:8] == PNG
    # the same flights via the library give the same numbers
    same, _ = fly_blimp_heldout({"episode_s": 40.0, "profile": "steps"}, str(snn_path), "delta",
                                "dropout@10:2,unplug@20:2", episodes=2)  # fmt: skip
    assert same["rmse_m"] == out["rmse_m"]
    assert cli.main(["run", cfg_file, "--controller", "pid", "--faults", "stuck@5:2"]) == 0
    text = capsys.readouterr().out
    assert "sensing-to-action loop" in text and "stuck@5.0:2.0" in text and "steps to flag" in text


def test_cli_run_without_loop_flags_is_unchanged(cfg_file, capsys):
    from evolve.blimp_experiment import fly_heldout, format_comparison
    from snnctl import cli

    assert cli.main(["run", cfg_file, "--controller", "pid"]) == 0
    text = capsys.readouterr().out
    cfg = {"env": {}, "run": {"episodes": 2, "episode_s": 40.0, "profile": "steps"}}
    metrics, _ = fly_heldout(cfg, "pid")
    assert text == format_comparison({"pid": metrics}, 2) + "\n"


def test_cli_run_bad_faults_is_a_one_line_error(cfg_file, capsys):
    from snnctl import cli

    assert cli.main(["run", cfg_file, "--controller", "pid", "--faults", "dropout@10"]) == 2
    err = capsys.readouterr().err
    assert "--faults: fault 'dropout@10': dropout takes 2 numbers" in err and "Traceback" not in err


def test_bench_loop_counts_link_bytes_by_hand(net, tmp_path, capsys):
    from evolve.bench_loop import BoardBytes, run_loop_bench, sensor_frame_bytes

    # STEP request: header 6 + flags 1 + one int16 code 2 + CRC 4 = 13 B, COBS +1, delimiter +1 = 15;
    # reply: 6 + (u32 step, u8 status, 2 int16 outputs, u16 + u32 + u32 counts = 19) + 4 = 29 -> 31
    b = BoardBytes(IntegerSNNBackend(net))
    a = b.act(np.array([1.0, 1.2, 0.2], np.float32))
    assert (a.bytes_out, a.bytes_in) == (15, 31)
    assert sensor_frame_bytes() == 6 + 2 + 4 + 1 + 1
    p = tmp_path / "net.snn"
    snnfile.save(net, p)
    result = run_loop_bench(json_out=True, controller=p, episodes=1, progress=False)
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result))
    rows = {(r["controller"], r["policy"]): r for r in result["rows"]}
    assert rows[("snn", "fixed")]["bytes_per_s"] == 46 * 10.0 and rows[("pid", "fixed")]["bytes_per_s"] is None
    assert rows[("snn", "fixed")]["samples_per_s"] == 10.0 and rows[("snn", "fixed")]["sensor_bytes_per_s"] == 140.0
    assert rows[("snn", "delta")]["samples_reduction"] > 0.5


def test_monitor_default_for_generic_envs_checks_nan_only():
    env = gym.make("Pendulum-v1", max_episode_steps=5)
    runner = LoopRunner(env, PIDLike(), faults=parse_faults("spike@0:1:100"))
    assert runner.monitor.max_rate is None and runner.monitor.stuck_samples == 0
    assert runner.run(seed=0).summary()["flagged_steps"] == 0
    assert isinstance(LoopRunner(blimp(), PIDBackend(0.1)).monitor, ReliabilityMonitor)


class PIDLike(Backend):
    def reset(self):
        pass

    def act(self, obs):
        return Action(np.zeros(1, np.float32))


def test_tuning_refuses_heldout_seeds(net):
    from evolve.bench_loop import tune_sensing
    from sim.profiles import HELDOUT_SEEDS

    with pytest.raises(ValueError, match="training seeds"):
        tune_sensing(net, seeds=[0, HELDOUT_SEEDS[0]])
