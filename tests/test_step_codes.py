"""The compiled host side of a control step (snnctl/step_codes.py) against the numpy expressions it
replaced, bit for bit, over wide inputs: NaN, +-inf, overflow, float32 and float64 observations, every
int16 output code."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from snnctl.step_codes import decode_into, encode_into


def numpy_encode(obs: np.ndarray, inv_scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    x = np.asarray(obs, dtype=np.float64).reshape(-1) * inv_scale
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=40000.0, neginf=-40000.0)
    np.rint(x, out=x)
    x += zero
    np.clip(x, -32768, 32767, out=x)
    out = np.zeros(x.size, np.int16)
    out[:] = x
    return out


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    arrays(st.sampled_from([np.float32, np.float64]), n, elements=st.floats(allow_nan=True, width=32)),
    arrays(np.float64, n, elements=st.floats(1e-6, 1e9)),
    arrays(np.float64, n, elements=st.integers(-40000, 40000).map(float)))))  # fmt: skip
def test_encode_equals_numpy(case) -> None:
    obs, inv_scale, zero = case
    out = np.zeros(obs.size, np.int16)
    encode_into(obs, inv_scale, zero, out)
    assert np.array_equal(out, numpy_encode(obs, inv_scale, zero))


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-9, 10.0), st.integers(-100, 100).map(float), st.floats(-10, 0), st.floats(0, 10))
@example(1.0, 0.0, 0.0, 0.0)  # a bound of 0 met exactly by code 0
def test_decode_equals_numpy_for_every_code(scale, zero, low, high) -> None:
    codes = np.arange(-32768, 32768, dtype=np.int16)
    n = codes.size
    # bounds as SNNController passes them: -0.0 made +0.0 (numpy's own clip gives either sign for a -0.0
    # bound depending on its path, and (code - zero) * scale is never -0.0)
    sc, z, lo, hi = (np.full(n, v, dtype=np.float64) for v in (scale, zero, low + 0.0, high + 0.0))
    out = np.empty(n, np.float32)
    decode_into(codes, z, sc, lo, hi, out)
    ref = np.clip((codes - z) * sc, lo, hi).astype(np.float32)
    assert out.tobytes() == ref.tobytes()


_FIRST_ACT_COMPILES_NOTHING = """
import dataclasses, numpy as np
from snnctl import kernel
from snnctl.controllers.snn import SNNController
from snnctl.models import blimp_shaped_network
from snnctl.runtime import run
from snnctl.step_codes import decode_into, encode_into

net = blimp_shaped_network(seed=3)
net = dataclasses.replace(net, meta={**net.meta, "u_min": -1.0, "u_max": 1.0})
ctl = SNNController(net)
compiled = [list(f.signatures) for f in (encode_into, decode_into, kernel.step)]
assert all(compiled), compiled
rng = np.random.default_rng(0)
obs = [rng.normal(0, 0.3, net.n_inputs).astype(dt) for dt in (np.float64, np.float32) * 10]
codes = np.array([ctl.encode(o).copy() for o in obs])
acts = [ctl.act(o) for o in obs]
assert [list(f.signatures) for f in (encode_into, decode_into, kernel.step)] == compiled
ref, _ = run(net, codes, counts=True)
assert all(np.array_equal(ctl.decode(r), a) for r, a in zip(ref, acts)), "the warm-up left state behind"
print("ok")
"""


def test_a_new_controller_has_compiled_its_hot_path_and_left_no_state() -> None:
    """In a fresh interpreter: after `SNNController(net)` the first acts (float64 and float32
    observations) compile nothing more (the first call of a numba function costs ~0.3 s, which in a
    paced loop is a missed deadline), and they equal `runtime.run` from reset state."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _FIRST_ACT_COMPILES_NOTHING], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
