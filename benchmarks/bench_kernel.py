"""Kernel throughput on the N-MNIST-shaped and SHD-shaped workloads, against a dense baseline.

Run from the repository root (after ``pip install .``)::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_kernel.py --out bench.json

For each workload, policy (random, momentum), forward group F (1, 8, 64) and thread count (1, 2)
it reports samples per second and delivered synaptic operations per second:

* ``net_sops_per_s``: currents of network spikes (SPEC's SOPs) / total run time;
* ``all_currents_per_s``: every delivered current, input included (NeuroBench's Effective_ACs
  plus zero-weight synapses) / total run time;
* ``ns_per_net_sop`` and ``ns_per_current``: the inverse, in nanoseconds per operation.

In the same run, the dense vectorized baseline (``benchmarks/dense_baseline.py``: full-vector
update and a full sort per forward step, as the paper's PyTorch code does) runs on a subset, and
the speedup ratio is printed. Timings are the best of several repetitions; the machine is shared
and noisy, so compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dense_baseline import dense_run  # noqa: E402

from asyncsim import Simulator, feedforward, random_feedforward  # noqa: E402
from asyncsim.datasets import shd_like  # noqa: E402

WORKLOAD = HERE.parents[1] / "shared" / "workloads" / "nmnist_fc_case.npz"


def nmnist_workload(path: Path, n_samples: int):
    """2312-[64x3]-10, 10 timesteps, 150 active inputs per timestep (the shared fixed case)."""
    if path.exists():
        z = np.load(path)
        net = feedforward([z[f"W{i}"] for i in range(1, 5)], tau_m_ms=float(z["tau_m"]) / 1e3,
                          dt_ms=float(z["dt"]) / 1e3, threshold=float(z["threshold"]),
                          name="nmnist-fc-case")
        return net, z["inputs"][:n_samples]
    rng = np.random.default_rng(0)
    inputs = np.zeros((n_samples, 10, 2312), dtype=np.uint8)
    for s in range(n_samples):
        for t in range(10):
            inputs[s, t, rng.choice(2312, 150, replace=False)] = 1
    net = random_feedforward([2312, 64, 64, 64, 10], seed=0, tau_m_ms=1.0, dt_ms=10.0,
                             name="nmnist-shaped")
    return net, inputs


def shd_workload(n_samples: int):
    """350-[128x3]-20, 100 timesteps, inputs from the SHD-like generator."""
    data = shd_like(n_samples=n_samples, seed=0)
    net = random_feedforward([350, 128, 128, 128, 20], seed=0, tau_m_ms=100.0, dt_ms=10.0,
                             name="shd-shaped")
    return net, data.inputs


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_workload(name, net, inputs, groups, policies, threads, repeats, baseline_samples):
    rows = []
    for n_threads in threads:
        for policy in policies:
            for group in groups:
                sim = Simulator(net, policy=policy, forward_group=group,
                                momentum_noise=1e-6)
                sim.run(inputs[:2], threads=n_threads)  # compile or load from cache
                report = sim.run(inputs, threads=n_threads)
                t = best_time(partial(sim.run, inputs, threads=n_threads), repeats)
                ps = report.per_sample
                net_sops = float(ps["sops"].sum())
                all_currents = net_sops + float(ps["input_sops"].sum())
                rows.append({
                    "workload": name, "policy": policy, "F": group, "threads": n_threads,
                    "samples": len(inputs), "seconds": t,
                    "samples_per_s": len(inputs) / t,
                    "net_sops_per_sample": net_sops / len(inputs),
                    "net_sops_per_s": net_sops / t,
                    "all_currents_per_s": all_currents / t,
                    "ns_per_net_sop": t / net_sops * 1e9,
                    "ns_per_current": t / all_currents * 1e9,
                    "spikes_per_sample": float(ps["spikes_per_layer"].sum()) / len(inputs),
                })
                print(json.dumps(rows[-1]), flush=True)
    base_rows = []
    weights = [p.weight for p in net.projections]
    decay = float(np.exp(-net.dt_ms / net.layers[0].tau_m_ms))
    subset = inputs[:baseline_samples]
    # batch 1: Algorithm 1 as written (one sample's vectors); batch = all: the paper's code
    # structure (the whole batch advances while any sample has work)
    for batch in (1, len(subset)):
        for group in groups:
            t = best_time(partial(dense_run, weights, subset, 0.3, decay, group,
                                  policy="random", seed=0, batch_size=batch), 2)
            base_rows.append({"workload": name, "policy": "random", "F": group,
                              "batch": batch, "samples": len(subset), "seconds": t,
                              "samples_per_s": len(subset) / t})
            print(json.dumps({"baseline": base_rows[-1]}), flush=True)
    return rows, base_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--shd-samples", type=int, default=64)
    parser.add_argument("--baseline-samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workload", type=Path, default=WORKLOAD)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    groups, policies, threads = [1, 8, 64], ["random", "momentum"], [1, 2]
    results = {"machine": platform.processor() or platform.machine(), "rows": [],
               "baseline": []}
    for name, (net, inputs) in {
        "nmnist": nmnist_workload(args.workload, args.samples),
        "shd": shd_workload(args.shd_samples),
    }.items():
        rows, base = bench_workload(name, net, inputs, groups, policies, threads, args.repeats,
                                    args.baseline_samples)
        results["rows"] += rows
        results["baseline"] += base

    print("\nsummary (random scheduling; baseline batch 1 = Algorithm 1 per sample, "
          "batch B = whole subset advancing together):")
    for name in ("nmnist", "shd"):
        kernel = {(r["F"], r["threads"]): r for r in results["rows"]
                  if r["workload"] == name and r["policy"] == "random"}
        for base in (r for r in results["baseline"] if r["workload"] == name):
            for n_threads in threads:
                k = kernel[(base["F"], n_threads)]
                speedup = k["samples_per_s"] / base["samples_per_s"]
                key = f"{name}_F{base['F']}_batch{base['batch']}_threads{n_threads}"
                results.setdefault("speedup", {})[key] = speedup
                print(f"  {name:7s} F={base['F']:3d} threads={n_threads}: kernel "
                      f"{k['samples_per_s']:9.1f} samples/s; baseline batch {base['batch']:3d} "
                      f"{base['samples_per_s']:8.1f} samples/s; speedup {speedup:7.1f}x")
        for unit in ("ns_per_net_sop", "ns_per_current"):
            ratio = kernel[(1, 1)][unit] / kernel[(64, 1)][unit]
            results.setdefault("cost_ratio_F1_F64", {})[f"{name}_{unit}"] = ratio
            print(f"  {name:7s} cost ratio F=1 / F=64 ({unit}, 1 thread): {ratio:.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
