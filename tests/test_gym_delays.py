"""Synaptic delays of the gym network (`[network] encoder_delay`, `hidden_delay`, `recurrent_delay`).

Independent truths: a system at rest whose only change is a delay on the path into it answers the
same inputs the same way, later by exactly the delay (so with zero biases the delayed network's
output codes are the undelayed ones shifted, zeros before); a neuron exciting itself once per
spike through a lag of 1 + d fires with period 1 + d (worked by hand); the delayed network steps
bit-identically on the host board (C) over whole episodes; and a delay with no projection to carry
it is one line naming the key.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnctl import cli, snnfile
from snnctl.controllers.gym_io import ActionIO
from snnctl.controllers.gym_snn import GymSNNCodec, GymSNNSpec
from snnctl.network import MAX_DELAY
from snnctl.runtime import run, run_trace

BOX = ActionIO("box", 2, (-1.0, -1.0), (1.0, 1.0))


def _random_genome(codec: GymSNNCodec, seed: int, zero_biases: bool) -> np.ndarray:
    b = codec.bounds
    g = np.random.default_rng(seed).uniform(b[:, 0], b[:, 1])
    if zero_biases:  # a neuron at rest stays at rest until input reaches it: the system is time-invariant from reset
        for name in ("hid_bias", "out_bias"):
            if name in codec.layout.genes:
                codec.layout.put(g, name, 0.0)
    return g


@settings(max_examples=40, deadline=None)
@given(
    encoding=st.sampled_from(["current", "pm"]),
    neuron=st.sampled_from(["lif", "alif"]),
    recurrent=st.booleans(),
    enc_delay=st.integers(0, MAX_DELAY),
    hid_delay=st.integers(0, MAX_DELAY),
    n_obs=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_output_lags_by_exactly_the_path_delay(encoding, neuron, recurrent, enc_delay, hid_delay, n_obs, seed) -> None:
    enc_delay = enc_delay if encoding == "pm" else 0
    common = dict(encoding=encoding, hidden=3, neuron=neuron, recurrent=recurrent, input_gain=8.0)
    plain = GymSNNCodec(GymSNNSpec(**common), np.ones(n_obs), BOX)
    late = GymSNNCodec(GymSNNSpec(**common, encoder_delay=enc_delay, hidden_delay=hid_delay), np.ones(n_obs), BOX)
    genome = _random_genome(plain, seed, zero_biases=True)  # the delays are no genes: one genome for both
    rng = np.random.default_rng(seed)
    codes = rng.integers(-32768, 32768, size=(80, n_obs)).astype(np.int16)
    lag = enc_delay + hid_delay  # every path input -> readout passes both delays (no skip)
    y0, y1 = run(plain.decode(genome), codes), run(late.decode(genome), codes)
    assert not y1[:lag].any()
    assert np.array_equal(y1[lag:], y0[: len(codes) - lag])


@pytest.mark.parametrize("d", [0, 1, 4, MAX_DELAY])
def test_self_exciting_neuron_fires_with_period_one_plus_recurrent_delay(d) -> None:
    """One hidden LIF neuron, memoryless (leak 1), no bias, a full self-weight worth >= 1 threshold
    (spike_gain 2: 127 * 2**10 = 130048 >= 65536). One input pulse at step 3 fires it; each spike
    re-fires it 1 + d steps later, so it fires at 3, 3 + (1 + d), 3 + 2 (1 + d), ... and nowhere else."""
    spec = GymSNNSpec(hidden=1, recurrent=True, recurrent_delay=d, spike_gain=2.0)
    codec = GymSNNCodec(spec, np.ones(1), ActionIO("box", 1, (-1.0,), (1.0,)))
    g = codec.initial_genome.copy()
    for name, value in (("w_in_hid", 1.0), ("hid_leak", 1.0), ("w_rec", 1.0), ("w_hid_out", 1.0)):
        codec.layout.put(g, name, value)
    codes = np.zeros((60, 1), np.int16)
    codes[3] = 32767  # 2 thresholds of drive (input_gain 2): one spike
    spikes = run_trace(codec.decode(g), codes).spikes[:, 0]
    assert np.flatnonzero(spikes).tolist() == list(range(3, 60, 1 + d))


def test_delays_round_trip_and_a_foreign_delay_is_refused() -> None:
    spec = GymSNNSpec(encoding="pm", hidden=2, recurrent=True, skip=True, encoder_delay=2, hidden_delay=3,
                      recurrent_delay=1)  # fmt: skip
    codec = GymSNNCodec(spec, np.ones(2), BOX)
    net = codec.decode(_random_genome(codec, 7, zero_biases=False))
    assert sorted((q.src, q.dst, q.lag) for q in net.projections if q.src >= 0) == [
        (0, 1, 2), (0, 2, 2), (1, 1, 2), (1, 2, 3)]  # fmt: skip
    assert np.array_equal(codec.decode(codec.encode(net)).projections[3].weights, net.projections[3].weights)
    other = GymSNNCodec(GymSNNSpec(encoding="pm", hidden=2, recurrent=True, skip=True), np.ones(2), BOX)
    with pytest.raises(ValueError, match="has delay 2, this codec's spec 0"):
        other.encode(net)


@pytest.mark.parametrize(
    ("network", "needle"),
    [
        (
            "hidden = 2\nencoder_delay = 1",
            'network.encoder_delay = 1 has no projection to delay: it needs encoding = "pm"',
        ),
        ("hidden = 0\nhidden_delay = 2", "network.hidden_delay = 2 has no projection to delay: it needs hidden >= 1"),
        ("hidden = 2\nrecurrent_delay = 3", "network.recurrent_delay = 3 has no projection to delay"),
        ("hidden = 2\nhidden_delay = 16", "network.hidden_delay"),
    ],
)
def test_a_delay_without_its_projection_is_one_line_naming_the_key(tmp_path, capsys, network, needle) -> None:
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[experiment]\nfamily = "gym"\n[env]\nid = "Pendulum-v1"\n[network]\n{network}\n')
    assert cli.main(["evolve", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snnctl: error: ") and needle in lines[0], lines


def test_delayed_network_is_bit_identical_on_the_host_board(tmp_path, capsys) -> None:
    """A network with all three delays (random genes) flies the user's point mass on the host board (the C
    core): every action and output code over whole episodes equals the in-process network's."""
    from tests.optional_tools import require_board

    require_board("host")
    spec = GymSNNSpec(encoding="pm", hidden=4, recurrent=True, skip=True, encoder_delay=1, hidden_delay=2,
                      recurrent_delay=3, input_gain=4.0)  # fmt: skip
    codec = GymSNNCodec(spec, np.array([2.0, 1.0]), ActionIO("box", 1, (-1.0,), (1.0,)), control_period_s=0.05)
    path = snnfile.save(codec.decode(_random_genome(codec, 3, zero_biases=False)), tmp_path / "late.snn")
    assert [q.lag for q in snnfile.load(path).projections if q.src >= 0] == [1, 4, 2, 1]
    cfg = tmp_path / "pm.toml"
    cfg.write_text('[experiment]\nfamily = "gym"\n[env]\nid = "tests.gym_user_env:PointMassEnv"\n'
                   'max_episode_steps = 60\n[calibration]\nepisodes = 2\nsteps = 20\n')  # fmt: skip
    assert cli.main(["hil", str(cfg), "--controller", str(path), "--board", "host", "--episodes", "2",
                     "--json", "--quiet"]) == 0  # fmt: skip
    r = json.loads(capsys.readouterr().out)
    assert r["identical"] and r["steps"] == 120 and r["faults"] == 0, r
