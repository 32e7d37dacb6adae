"""The Ray backend: a local Ray instance gives exactly the serial backend's results.

Skipped when Ray is not installed (``pip install 'snnctl[ray]'``). Starting Ray takes several
seconds, so one module-scoped instance serves every test here.
"""

from __future__ import annotations

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from evolve.algorithms import individual_seeds  # noqa: E402
from evolve.backends import RayBackend, SerialBackend, make_backend  # noqa: E402
from evolve.runner import EvolveSettings, evolve  # noqa: E402


class NoisySphere:
    name = "noisy-sphere"
    objectives = ("distance",)
    weights = (-1.0,)

    def __init__(self, n: int = 4):
        self.bounds = np.array([[-3.0, 3.0]] * n)

    def evaluate(self, genomes, seeds, generation):
        noise = np.array([np.random.default_rng(int(s)).normal(scale=1e-3) for s in seeds])
        return (np.sum((genomes - 1.0) ** 2, axis=1) + noise)[:, None]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_backend_matches_serial_on_one_batch(local_ray):
    p = NoisySphere()
    g = np.random.default_rng(1).uniform(-3, 3, (9, 4))
    seeds = individual_seeds(5, 0, 9)
    with make_backend("ray", workers=2) as b:
        assert isinstance(b, RayBackend) and b.workers == 2
        np.testing.assert_array_equal(b.evaluate(p, g, seeds, 0), SerialBackend().evaluate(p, g, seeds, 0))
    assert ray.is_initialized()  # the backend did not start Ray, so it leaves it running


def test_ray_evolution_identical_to_serial(local_ray, tmp_path):
    p = NoisySphere()
    s = EvolveSettings(generations=5, population=8, seed=3, backend="serial")
    serial = evolve(p, s, tmp_path / "serial", progress=False)
    with make_backend("ray", workers=2) as backend:
        remote = evolve(p, s, tmp_path / "ray", backend=backend, progress=False)

    def strip(log):
        return [{k: v for k, v in r.items() if k not in ("time", "gen_time")} for r in log]

    assert strip(remote.logbook) == strip(serial.logbook)
    np.testing.assert_array_equal(remote.best_genome, serial.best_genome)
