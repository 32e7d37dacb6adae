"""Peer simulators for `snnctl bench runtime`: the blimp-shaped network in snnTorch and in Norse.

The network has the shape of the blimp altitude controller (design brief, section 1): two parallel
sub-networks ("PD" and "I") that both read the same error input. Each sub-network is

    1 error input -> 40 encoding neurons (CUBA-LIF, +/- pairs: input weight +w for even neurons,
                     -w for odd ones, one shared bias)
                  -> 40 hidden neurons (CUBA-LIF, all-to-all nn.Linear 40 -> 40)
                  -> 1 leaky-integrator readout (nn.Linear 40 -> 1 + a non-spiking leaky state)

so 160 spiking neurons and 2 readouts in all. Weights are random and fixed: what is measured is the
cost of one control step with the same shape and per-step work as the integer network, not what it
computes. The case timed is the control loop: one network, batch size 1, stepped one step at a time
from Python under ``torch.no_grad()`` with ``torch.set_num_threads(1)``.

Two builds per peer: the plain one (each sub-network its own layers, as the shape is described) and
a *fused* one (both sub-networks in one set of layers of 80 neurons, with block-diagonal weights),
which halves the number of library calls per step and is the fastest way to run this shape in a
library whose cost per call dwarfs the arithmetic. Both are reported so a speed-up is never quoted
against a needlessly slow peer.

torch, snnTorch and Norse are optional (the ``bench`` extra) and are imported only inside the
functions here, so importing this module costs nothing. Nothing here asserts a timing.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

N_SUBNETS = 2
N_ENCODING = 40
N_HIDDEN = 40
TORCH_THREADS = 1

# Per-step decay factors and scales shared by both peers (dt = 1 step). They only need to make the
# neurons spike now and then; the work per step does not depend on them.
_SYN_DECAY = 0.8  # synaptic current kept per step (snnTorch alpha; Norse 1 - dt * tau_syn_inv)
_MEM_DECAY = 0.9  # membrane potential kept per step (snnTorch beta; Norse 1 - dt * tau_mem_inv)
_OUT_DECAY = 0.95  # readout leak
_INPUT_WEIGHT = 2.0
_SHARED_BIAS = 0.05

_PEERS = ("snntorch", "norse")


def peer_status() -> dict[str, str]:
    """For torch and each peer: its version if it imports, else ``"unavailable: <reason>"``."""
    return {name: _status(name) for name in ("torch", *_PEERS)}


def snntorch_us_per_step(
    steps: int = 2000, repeats: int = 5, warmup: int = 200, seed: int = 0, fused: bool = False
) -> float | None:
    """Microseconds per control step of the blimp-shaped net in snnTorch; None if snnTorch is missing."""
    if not _available("snntorch"):
        return None
    import snntorch

    return _peer_us_per_step(lambda torch, gen, n: _SnnTorchSubnet(snntorch, torch, gen, n),
                             steps, repeats, warmup, seed, fused)  # fmt: skip


def norse_us_per_step(
    steps: int = 2000, repeats: int = 5, warmup: int = 200, seed: int = 0, fused: bool = False
) -> float | None:
    """Microseconds per control step of the blimp-shaped net in Norse; None if Norse is missing."""
    if not _available("norse"):
        return None
    import norse.torch as norse_torch

    return _peer_us_per_step(lambda torch, gen, n: _NorseSubnet(norse_torch, torch, gen, n),
                             steps, repeats, warmup, seed, fused)  # fmt: skip


def _peer_us_per_step(make: Any, steps: int, repeats: int, warmup: int, seed: int, fused: bool) -> float:
    """Time a peer's subnets (`make(torch, generator, n_subnets)`): one fused module or one per subnet.

    A subnet's `initial_state()` is its state before the first step (Norse: None, its cells create it).
    """
    import torch

    with _single_thread(torch), torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        subnets = [make(torch, gen, N_SUBNETS)] if fused else [make(torch, gen, 1) for _ in range(N_SUBNETS)]
        states = [s.initial_state() for s in subnets]

        def step(x: Any) -> Any:
            outs = []
            for k, net in enumerate(subnets):
                out, states[k] = net(x, states[k])
                outs.append(out)
            return outs

        return _time_steps(step, _error_inputs(torch, gen, steps + warmup), steps, repeats, warmup)


def measure_peers(steps: int = 2000) -> dict[str, Any]:
    """Time every peer that imports, plain and fused (keys ``<peer>_us_per_step``,
    ``<peer>_fused_us_per_step``); the result always carries ``peer_status`` and ``torch_threads``."""
    status = peer_status()
    result: dict[str, Any] = {"peer_status": status, "torch_threads": TORCH_THREADS}
    for name, fn in (("snntorch", snntorch_us_per_step), ("norse", norse_us_per_step)):
        if not status[name].startswith("unavailable"):
            result[f"{name}_us_per_step"] = fn(steps)
            result[f"{name}_fused_us_per_step"] = fn(steps, fused=True)
    return result


# -- helpers --------------------------------------------------------------------------------------


def _status(name: str) -> str:
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising something else
        return f"unavailable: {type(exc).__name__}: {exc}".splitlines()[0]
    return str(getattr(module, "__version__", "unknown version"))


def _available(name: str) -> bool:
    return not _status(name).startswith("unavailable")


class _single_thread:
    """Context manager: torch.set_num_threads(1) inside, the previous setting restored after."""

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def __enter__(self) -> None:
        self.previous = self.torch.get_num_threads()
        self.torch.set_num_threads(TORCH_THREADS)

    def __exit__(self, *exc: object) -> None:
        self.torch.set_num_threads(self.previous)


def _error_inputs(torch: Any, gen: Any, n: int) -> list[Any]:
    """A slow sine with noise, one (1, 1) tensor per step, made before timing starts."""
    t = torch.arange(n, dtype=torch.float32)
    x = torch.sin(t * 0.01) + 0.1 * torch.randn(n, generator=gen)
    return [x[i].reshape(1, 1).clone() for i in range(n)]


def _encoding_weights(torch: Any, blocks: int) -> Any:
    """(1, blocks * 40): +w for even, -w for odd encoding neurons of every sub-network."""
    sign = torch.tensor([1.0 if j % 2 == 0 else -1.0 for j in range(N_ENCODING)])
    return (_INPUT_WEIGHT * sign).repeat(blocks).reshape(1, blocks * N_ENCODING)


def _linear(torch: Any, gen: Any, n_in: int, n_out: int, blocks: int) -> Any:
    """nn.Linear(blocks * n_in -> blocks * n_out), random weights, block-diagonal across sub-networks."""
    layer = torch.nn.Linear(blocks * n_in, blocks * n_out)
    with torch.no_grad():
        w = [torch.randn(n_out, n_in, generator=gen) / n_in**0.5 for _ in range(blocks)]
        layer.weight.copy_(torch.block_diag(*w))
        layer.bias.zero_()
    return layer


def _time_steps(step: Callable[[Any], Any], inputs: Sequence[Any], steps: int, repeats: int, warmup: int) -> float:
    """Median over `repeats` of the mean microseconds per call of `step`, after `warmup` calls."""
    for i in range(warmup):
        step(inputs[i])
    per_step = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for i in range(warmup, warmup + steps):
            step(inputs[i])
        per_step.append((time.perf_counter_ns() - t0) / 1e3 / steps)
    return statistics.median(per_step)


class _SnnTorchSubnet:
    """`blocks` sub-networks in snnTorch: Synaptic (CUBA-LIF) layers and a Leaky readout without reset."""

    def __init__(self, snntorch: Any, torch: Any, gen: Any, blocks: int) -> None:
        self.torch, self.blocks = torch, blocks
        self.w_in = _encoding_weights(torch, blocks)
        self.enc = snntorch.Synaptic(alpha=_SYN_DECAY, beta=_MEM_DECAY)
        self.fc_hidden = _linear(torch, gen, N_ENCODING, N_HIDDEN, blocks)
        self.hidden = snntorch.Synaptic(alpha=_SYN_DECAY, beta=_MEM_DECAY)
        self.fc_out = _linear(torch, gen, N_HIDDEN, 1, blocks)
        self.readout = snntorch.Leaky(beta=_OUT_DECAY, reset_mechanism="none")

    def initial_state(self) -> tuple[Any, ...]:
        z, b = self.torch.zeros, self.blocks
        return z(1, b * N_ENCODING), z(1, b * N_ENCODING), z(1, b * N_HIDDEN), z(1, b * N_HIDDEN), z(1, b)

    def __call__(self, x: Any, state: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        syn_e, mem_e, syn_h, mem_h, mem_o = state
        spk_e, syn_e, mem_e = self.enc(x * self.w_in + _SHARED_BIAS, syn_e, mem_e)
        spk_h, syn_h, mem_h = self.hidden(self.fc_hidden(spk_e), syn_h, mem_h)
        _, mem_o = self.readout(self.fc_out(spk_h), mem_o)
        return mem_o, (syn_e, mem_e, syn_h, mem_h, mem_o)


class _NorseSubnet:
    """`blocks` sub-networks in Norse: LIFCell (CUBA-LIF) layers and an LICell readout."""

    def __init__(self, norse_torch: Any, torch: Any, gen: Any, blocks: int) -> None:
        dt = 1e-3
        lif = norse_torch.LIFParameters(
            tau_syn_inv=torch.tensor((1.0 - _SYN_DECAY) / dt),
            tau_mem_inv=torch.tensor((1.0 - _MEM_DECAY) / dt),
        )
        li = norse_torch.LIParameters(
            tau_syn_inv=torch.tensor((1.0 - _SYN_DECAY) / dt),
            tau_mem_inv=torch.tensor((1.0 - _OUT_DECAY) / dt),
        )
        self.w_in = _encoding_weights(torch, blocks)
        self.enc = norse_torch.LIFCell(lif, dt=dt)
        self.fc_hidden = _linear(torch, gen, N_ENCODING, N_HIDDEN, blocks)
        self.hidden = norse_torch.LIFCell(lif, dt=dt)
        self.fc_out = _linear(torch, gen, N_HIDDEN, 1, blocks)
        self.readout = norse_torch.LICell(li, dt=dt)

    def initial_state(self) -> None:
        """None: Norse cells create their state on the first call."""
        return None

    def __call__(self, x: Any, state: tuple[Any, ...] | None) -> tuple[Any, tuple[Any, ...]]:
        s_e, s_h, s_o = state if state is not None else (None, None, None)
        spk_e, s_e = self.enc(x * self.w_in + _SHARED_BIAS, s_e)
        spk_h, s_h = self.hidden(self.fc_hidden(spk_e), s_h)
        v_o, s_o = self.readout(self.fc_out(spk_h), s_o)
        return v_o, (s_e, s_h, s_o)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the peers' microseconds per step (the script form of benchmarks/peers.py)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Time the blimp-shaped 160-neuron net in snnTorch and Norse.")
    parser.add_argument("--steps", type=int, default=2000, help="steps per timed repeat (default 2000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    result = measure_peers(args.steps)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"blimp-shaped net, batch 1, stepped from Python, torch threads = {TORCH_THREADS}")
    for name in ("torch", *_PEERS):
        print(f"  {name:<9} {result['peer_status'][name]}")
    for name in _PEERS:
        for variant, key in (("", f"{name}_us_per_step"), (" fused", f"{name}_fused_us_per_step")):
            us = result.get(key)
            print(f"  {name + variant:<15} {'-' if us is None else f'{us:9.1f} us/step'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
