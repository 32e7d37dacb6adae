"""Where fitness evaluations run: in this process, in a local process pool, or on a Ray cluster.

Every backend has one method that matters::

    backend.evaluate(problem, genomes, seeds, generation) -> (P, n_objectives) float64

It cuts the population into contiguous chunks (one per worker), hands each chunk to
``problem.evaluate`` and stacks the results in order. Because a problem's score for an individual
depends only on ``(genome, seed)`` (see :mod:`evolve.problem`), the result is bit-identical
whatever the worker count or backend — the tests check this.

- ``serial``: ``problem.evaluate`` on the whole population, in this process.
- ``process``: a :class:`concurrent.futures.ProcessPoolExecutor` started with ``spawn`` (default)
  or ``forkserver`` — never plain ``fork``, which can deadlock numba's and OpenMP's thread pools.
  The problem is pickled once and handed to each worker by the pool's initializer; tasks carry only
  the genome/seed arrays. The pool starts on first use and is restarted if a different problem
  object arrives.
- ``ray``: ``ray.init(address=...)`` (or a local instance, or the one already initialised by the
  caller); the problem is put in the object store once and each worker process unpickles it once
  and caches it; one remote task per chunk.

With ``validation=True`` the same machinery calls ``problem.validate(genomes, episodes)`` instead
(``seeds`` then holds validation episode indices; see :mod:`evolve.selection`), so validated selection
runs on the workers that evolution already started.

Backends are context managers; ``close()`` shuts pools down (and Ray, if the backend started it).
"""

from __future__ import annotations

import abc
import multiprocessing
import os
import pickle
import signal
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from evolve.problem import check_result

__all__ = [
    "Backend",
    "SerialBackend",
    "ProcessBackend",
    "RayBackend",
    "make_backend",
    "check_backend",
    "split_chunks",
    "BackendError",
]

BACKENDS = ("serial", "process", "ray")


class BackendError(RuntimeError):
    """A backend that cannot start or lost its workers."""


def split_chunks(n: int, parts: int) -> list[slice]:
    """``n`` items cut into at most ``parts`` contiguous, non-empty slices of near-equal size."""
    parts = max(1, min(parts, n))
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def default_workers() -> int:
    """Worker count for ``workers=0``: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def score(problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool) -> np.ndarray:
    """One chunk, wherever it runs: ``problem.evaluate`` (training) or ``problem.validate`` (validation)."""
    n_obj = len(tuple(problem.objectives))
    out = problem.validate(genomes, seeds) if validation else problem.evaluate(genomes, seeds, generation)
    return check_result(problem, out, len(genomes), n_obj)


class Backend(abc.ABC):
    """Base class: evaluates a population of genomes for a problem, in order."""

    kind = "base"
    workers = 1

    def evaluate(
        self, problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool = False
    ) -> np.ndarray:
        """Fitness (P, n_obj) of `genomes`, row i scored with seeds[i] (validation: on episode seeds[i])."""
        genomes, seeds, n_obj = self._inputs(problem, genomes, seeds)
        if len(genomes) == 0:
            return np.empty((0, n_obj))
        return self._evaluate(problem, genomes, seeds, int(generation), validation)

    @abc.abstractmethod
    def _evaluate(
        self, problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool
    ) -> np.ndarray:
        """`evaluate` on checked, non-empty inputs (contiguous float64 genomes, uint64 seeds)."""

    def close(self) -> None:  # noqa: B027 - a default, not abstract: the serial backend has nothing to release
        """Release workers. Safe to call more than once."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"

    @staticmethod
    def _inputs(problem: Any, genomes: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        genomes = np.ascontiguousarray(genomes, dtype=np.float64)
        seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
        if genomes.ndim != 2 or seeds.shape != (genomes.shape[0],):
            raise ValueError(f"genomes {genomes.shape} and seeds {seeds.shape} do not match")
        return genomes, seeds, len(tuple(problem.objectives))


class SerialBackend(Backend):
    """Everything in this process, one ``problem.evaluate`` call per population."""

    kind = "serial"

    def _evaluate(
        self, problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool
    ) -> np.ndarray:
        return score(problem, genomes, seeds, int(generation), validation)


# -- process pool -----------------------------------------------------------------------------------

_WORKER_PROBLEM: Any = None


def _init_worker(problem_bytes: bytes) -> None:
    """Pool initializer: unpickle the problem once per worker process.

    Workers ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and the main process
    alone decides what an interrupt means (it shuts the pool down); a worker killed by it would only
    print a traceback and break the pool."""
    global _WORKER_PROBLEM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_PROBLEM = pickle.loads(problem_bytes)


def _eval_in_worker(genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool) -> np.ndarray:
    return score(_WORKER_PROBLEM, genomes, seeds, generation, validation)


class ProcessBackend(Backend):
    """A local process pool (``spawn`` or ``forkserver`` start method), one chunk per worker."""

    kind = "process"

    def __init__(self, workers: int = 0, start_method: str = "spawn"):
        if start_method not in ("spawn", "forkserver"):
            raise ValueError(
                f"start_method must be 'spawn' or 'forkserver' (fork can deadlock numba), got {start_method!r}"
            )
        self.workers = int(workers) if workers and workers > 0 else default_workers()
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._problem: Any = None

    def _ensure_pool(self, problem: Any) -> ProcessPoolExecutor:
        if self._pool is not None and self._problem is problem:
            return self._pool
        self.close()
        try:
            blob = pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means the same thing
            raise BackendError(
                f"problem {getattr(problem, 'name', problem)!r} cannot be pickled for worker processes ({exc}); "
                "build heavy members lazily and leave them out of __getstate__"
            ) from exc
        ctx = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(blob,)
        )
        self._problem = problem
        return self._pool

    def _evaluate(
        self, problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool
    ) -> np.ndarray:
        pool = self._ensure_pool(problem)
        chunks = split_chunks(len(genomes), self.workers)
        try:
            futures = [pool.submit(_eval_in_worker, genomes[c], seeds[c], int(generation), validation) for c in chunks]
            parts = [f.result() for f in futures]
        except BrokenProcessPool as exc:
            self.close()
            raise BackendError(
                f"a worker process died while evaluating generation {generation} ({exc}); if evolve() "
                "runs from a script, put the call under `if __name__ == '__main__':` (spawned workers "
                "re-import the main module)"
            ) from exc
        return np.concatenate(parts, axis=0)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._problem = None


# -- Ray --------------------------------------------------------------------------------------------

# Per Ray worker process: problem token -> unpickled problem, so a problem (and whatever it builds
# lazily, e.g. a MuJoCo model) is unpickled once per worker process, not once per task.
_RAY_CACHE: dict[str, Any] = {}


def _ray_eval_chunk(
    token: str, problem_box: list, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool
):
    problem = _RAY_CACHE.get(token)
    if problem is None:
        import ray

        problem = ray.get(problem_box[0])  # boxed in a list so Ray does not fetch it for every task
        _RAY_CACHE.clear()  # one problem per worker at a time
        _RAY_CACHE[token] = problem
    return score(problem, genomes, seeds, generation, validation)


class RayBackend(Backend):
    """Remote tasks on a Ray cluster (or a local Ray instance), one chunk per worker.

    ``address=None``: use Ray if the caller already initialised it, else start a local instance
    with ``workers`` CPUs (shut down again on ``close()``). ``address="auto"`` or
    ``"ray://head:10001"`` connects to a running cluster. ``workers=0`` means one chunk per CPU
    the cluster reports.
    """

    kind = "ray"

    def __init__(self, workers: int = 0, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise BackendError("the ray backend needs Ray: pip install 'snnctl[ray]'") from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if address:
                kwargs["address"] = address
            elif workers and workers > 0:
                kwargs["num_cpus"] = int(workers)
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - connection errors come in many types
                # Ray's own text names its CLI's `--address` flag; snnctl's is --ray-address
                why = str(exc)
                if "Could not find any running Ray instance" in why:
                    why = ("no running Ray instance found; start one (`ray start --head`) or give its address with "
                           "--ray-address HOST:6379 (empty: a local Ray)")  # fmt: skip
                why = why.replace("`--address` flag", "--ray-address")
                where = f"connect to Ray at {address!r}" if address else "start a local Ray instance"
                raise BackendError(f"cannot {where}: {why}") from exc
            self._started = True
        self.workers = int(workers) if workers and workers > 0 else max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(_ray_eval_chunk)
        self._problem: Any = None
        self._problem_ref = None
        self._token = ""

    def _evaluate(
        self, problem: Any, genomes: np.ndarray, seeds: np.ndarray, generation: int, validation: bool
    ) -> np.ndarray:
        if self._problem is not problem:
            self._problem_ref = self._ray.put(problem)
            self._problem = problem
            self._token = uuid.uuid4().hex
        refs = [
            self._remote.remote(self._token, [self._problem_ref], genomes[c], seeds[c], int(generation), validation)
            for c in split_chunks(len(genomes), self.workers)
        ]
        return np.concatenate(self._ray.get(refs), axis=0)

    def close(self) -> None:
        self._problem = None
        self._problem_ref = None
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False


def check_backend(kind: str, workers: int = 0, ray_address: str | None = None) -> None:
    """Fail fast (:class:`BackendError`) on a backend that cannot start, before a caller's long work:
    Ray not installed, or no cluster at ``ray_address`` (connected to and left again). A local Ray
    is not started here (that is the slow part, and it rarely fails)."""
    if kind != "ray":
        return
    if not ray_address:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise BackendError("the ray backend needs Ray: pip install 'snnctl[ray]'") from exc
        return
    RayBackend(workers, address=ray_address).close()


def make_backend(kind: str = "process", workers: int = 0, ray_address: str | None = None, **options: Any) -> Backend:
    """A backend by name: ``"serial"``, ``"process"`` (``start_method=`` option) or ``"ray"``.

    ``workers=0`` means all available CPUs (for Ray: the cluster's CPUs). ``ray_address`` is only
    used by the Ray backend (``None`` or ``""``: local, or the instance already initialised).
    """
    if kind == "serial":
        return SerialBackend()
    if kind == "process":
        return ProcessBackend(workers, start_method=options.get("start_method", "spawn"))
    if kind == "ray":
        return RayBackend(workers, address=ray_address or None)
    raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")
