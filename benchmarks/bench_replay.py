"""Where a training batch's time goes: the recording simulation and the replay gradient, per
sample, on the benchmark workloads (``workloads.py``), one thread, random scheduling.

Run from the repository root (after ``pip install .``)::

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_replay.py
    python benchmarks/bench_replay.py --cases nmnist:8 shd:1 shd:16 --repeats 5

Each case ``WORKLOAD:F`` records the schedule of every batch of 32 samples once, then times
``Simulator.run(..., record=True)`` and ``replay_gradient`` on it (the two kernel calls of a
training step) and reports the shortest of ``--repeats`` runs, in microseconds per sample. To
compare two versions, run this script with each (e.g. ``PYTHONPATH=OTHER_CHECKOUT``) one after
the other, on the same machine, and compare the ratios.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_kernel import best_time  # noqa: E402
from bench_training import workload as training_workload  # noqa: E402

from asyncsim import Simulator  # noqa: E402
from asyncsim.gradient import replay_gradient  # noqa: E402

BATCH = 32


def measure(name: str, group: int, repeats: int) -> tuple[float, float]:
    """(simulation with recording, replay gradient) in microseconds per sample."""
    net, inputs, labels, _ = training_workload(name, 256 if name == "nmnist" else 64)
    sim = Simulator(net, policy="random", forward_group=group)
    warm = sim.run(inputs[:2], threads=1, record=True)  # compile or load from the cache
    replay_gradient(net, inputs[:2], labels[:2], warm.trace, compiled=sim.compiled)
    simulate = replay = 0.0
    for b in range(0, len(inputs), BATCH):
        x, y = inputs[b:b + BATCH], labels[b:b + BATCH]
        trace = sim.run(x, threads=1, record=True).trace
        simulate += best_time(lambda x=x: sim.run(x, threads=1, record=True), repeats)
        replay += best_time(lambda x=x, y=y, trace=trace: replay_gradient(
            net, x, y, trace, compiled=sim.compiled), repeats)
    return simulate / len(inputs) * 1e6, replay / len(inputs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["nmnist:8", "shd:1", "shd:16"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for case in args.cases:
        name, group = case.split(":")
        simulate, replay = measure(name, int(group), args.repeats)
        print(f"{name:7s} F={int(group):3d}: simulation with recording {simulate:9.1f} us/sample, "
              f"replay gradient {replay:9.1f} us/sample", flush=True)


if __name__ == "__main__":
    main()
