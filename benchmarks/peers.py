"""The peer half of the runtime benchmark: the blimp-shaped 160-neuron net in snnTorch and Norse.

The code lives in ``snnctl.bench_peers`` (torch imported lazily there) so that ``snnctl bench
runtime`` finds it in an installed package; this script runs it on its own:

    python benchmarks/peers.py [--steps 2000] [--json]
"""

from snnctl.bench_peers import main, norse_us_per_step, peer_status, snntorch_us_per_step

__all__ = ["norse_us_per_step", "peer_status", "snntorch_us_per_step"]

if __name__ == "__main__":
    raise SystemExit(main())
