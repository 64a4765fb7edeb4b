"""Training cost: seconds and peak memory per epoch against F, and against dense autograd.

Run after ``pip install .`` and ``pip install torch==2.13.0`` (for the baseline)::

    python benchmarks/bench_training.py --samples 256

Each configuration runs in a fresh subprocess with ``--threads`` threads (default one:
``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``torch.set_num_threads``), so that its peak
resident memory (``ru_maxrss``) is its own and the comparison is per core (or, with
``--threads 2``, per two cores for both). The memory of a subprocess that only
imports everything and compiles is reported as the floor. Workloads (``--workload``):

* ``nmnist``: the N-MNIST-shaped case of ``workloads.py`` (2312-[64x3]-10, 10 timesteps, 150
  active inputs per timestep; its weights as the starting point, its random labels);
* ``shd``: SHD-shaped, 350-[128x3]-20, 100 timesteps of ``shd-like`` samples, tau_m 100 ms,
  Xavier-uniform weights (seed 0).

One epoch of ``--samples`` samples in batches of 32, unlayered random scheduling, with the
training defaults (for unlayered modes: no surrogate gradient through silent hidden
evaluations); one more row at F = 8 with it (``--silent-gradient``, layered training's
default). The baseline trains the same batches with ``dense_autograd.py`` (the paper's approach)
at F = 8. Each configuration reports the shortest of ``--epochs`` timed epochs (default 3).
Each asyncsim epoch is a ``train`` call of its own from the same starting weights (later
epochs of one training run a sparser network and cost less), timed as ``train`` times an
epoch (its batches; the baseline's epoch is its batches too); the work done once per call
(compiling the network, building the trained one, 2-5 ms) is printed apart. Until 2026-12-08
the whole call was timed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent


def workload(name: str, samples: int):
    """(network, inputs, labels, n_classes) of a benchmark workload (``workloads.py``), with
    float64 weights: training updates them in float64."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from workloads import nmnist_case, shd_case

    from asyncsim import feedforward

    net, inputs, labels = nmnist_case(samples) if name == "nmnist" else shd_case(samples)
    layer = net.layers[0]
    net = feedforward([p.weight.astype(np.float64) for p in net.projections],
                      tau_m_ms=layer.tau_m_ms, dt_ms=net.dt_ms, threshold=layer.threshold)
    return net, inputs, labels.astype(np.int64), net.layers[-1].size


def best_of(repeats: int, fn) -> tuple[float, float]:
    """The shortest of ``repeats`` timed calls of ``fn`` (seconds: single epochs on a shared
    machine vary by tens of percent) and the peak resident memory after the first (MB: later
    calls add the garbage of earlier ones, not memory that an epoch needs)."""
    best, peak_mb = float("inf"), 0.0
    for k in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if k == 0:
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return best, peak_mb


def child(kind: str, group: int, samples: int, name: str, repeats: int) -> None:
    sys.path.insert(0, str(HERE))
    from asyncsim.datasets import from_arrays
    from asyncsim.training import TrainConfig, train

    net, inputs, labels, n_classes = workload(name, samples)
    data = from_arrays(inputs, labels, n_classes)
    warm = TrainConfig(mode="unlayered-rs", forward_group=group, epochs=1, batch_size=32,
                       silent_gradient=kind == "asyncsim-silent")
    if kind == "floor":
        train(net, from_arrays(inputs[:4], labels[:4], n_classes), warm)  # compile only
        seconds, peak_mb = 0.0, None
    elif kind == "torch-floor":
        import torch  # noqa: F401  (the baseline's own floor: torch imported, nothing run)

        seconds, peak_mb = 0.0, None
    elif kind.startswith("asyncsim"):
        train(net, from_arrays(inputs[:4], labels[:4], n_classes), warm)
        # every timed epoch starts from the same weights (a later epoch of one training runs
        # a sparser network, which is cheaper); the epoch as train() times it (its batches),
        # the once-per-call work (compiling the network, the trained network) apart
        seconds, setup, peak_mb = float("inf"), float("inf"), 0.0
        for k in range(repeats):
            start = time.perf_counter()
            _, history = train(net, data, warm)
            total = time.perf_counter() - start
            seconds = min(seconds, history[0]["seconds"])
            setup = min(setup, total - history[0]["seconds"])
            if k == 0:
                peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    else:
        import torch
        from dense_autograd import dense_train_step

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        params = [torch.tensor(p.weight, dtype=torch.float32, requires_grad=True)
                  for p in net.projections]
        decay = float(net.layers[0].decay_per_step(net.dt_ms))

        def epoch() -> None:
            for b in range(0, samples, 32):
                dense_train_step(params, inputs[b:b + 32], labels[b:b + 32],
                                 float(net.layers[0].threshold), decay, group, seed=b)

        seconds, peak_mb = best_of(repeats, epoch)
    if peak_mb is None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "F": group, "seconds": seconds, "peak_mb": peak_mb,
                      "setup_seconds": locals().get("setup")}))


def run(kind: str, group: int, samples: int, name: str, threads: int, repeats: int) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(group), str(samples),
                          name, str(repeats)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--workload", choices=["nmnist", "shd"], default="nmnist")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every configuration, the baseline's included")
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per configuration; the shortest is reported")
    parser.add_argument("--child", nargs=5, default=None)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3],
              int(args.child[4]))
        return
    name = args.workload
    runs = partial(run, samples=args.samples, name=name, threads=args.threads,
                   repeats=args.epochs)
    floor = runs("floor", 8)
    torch_floor = runs("torch-floor", 8)
    rows = [runs("asyncsim", f) for f in (16, 8, 4, 2, 1)]
    silent = runs("asyncsim-silent", 8)
    base = runs("dense", 8)
    print(f"{name}: one epoch of {args.samples} samples (best of {args.epochs}), batch 32, "
          f"unlayered RS, {args.threads} thread(s)")
    print(f"memory floor (imports + compiled code): {floor['peak_mb']:.0f} MB")
    for r in rows:
        print(f"asyncsim F={r['F']:2d}: {r['seconds']:7.3f} s/epoch, peak {r['peak_mb']:6.0f} MB "
              f"(+{r['peak_mb'] - floor['peak_mb']:.0f} MB over the floor); once per train() "
              f"call {r['setup_seconds']:.3f} s")
    print(f"asyncsim F= 8 with the silent gradient: {silent['seconds']:7.3f} s/epoch, peak "
          f"{silent['peak_mb']:6.0f} MB")
    f16 = rows[0]["seconds"]
    print(f"F=1 / F=16 time: {rows[-1]['seconds'] / f16:.2f}x")
    eight = rows[1]
    print(f"dense autograd F= 8: {base['seconds']:7.3f} s/epoch, peak {base['peak_mb']:6.0f} MB "
          f"(+{base['peak_mb'] - torch_floor['peak_mb']:.0f} MB over its floor with torch "
          f"imported, {torch_floor['peak_mb']:.0f} MB)")
    print(f"speedup at F=8: {base['seconds'] / eight['seconds']:.1f}x; memory over the floors: "
          f"dense {base['peak_mb'] - torch_floor['peak_mb']:.0f} MB, asyncsim "
          f"{eight['peak_mb'] - floor['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
