"""Kernel throughput on the N-MNIST-shaped and SHD-shaped workloads, against a dense baseline
and, with ``--compare``, against another installation of asyncsim (e.g. the previous commit).

Run from the repository root (after ``pip install .``)::

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_kernel.py --out bench.json
    python benchmarks/bench_kernel.py --compare /path/to/other/venv/bin/python --rounds 3

For each workload (``benchmarks/workloads.py``), policy (random, momentum), forward group F
(1, 8, 64) and thread count (1, 2) it reports samples per second and delivered synaptic
operations per second:

* ``net_sops_per_s``: currents of network spikes (the paper's SOPs) / total run time;
* ``all_currents_per_s``: every delivered current, input included (NeuroBench's Effective_ACs
  plus zero-weight synapses) / total run time;
* ``ns_per_net_sop`` and ``ns_per_current``: the inverse, in nanoseconds per operation.

In the same run, the layer-synchronized NumPy pass (``benchmarks/layered_baseline.py``: the
same network layer by layer over the whole batch, float32 matrix products, no asynchrony) times
every workload: the ratio kernel / layered pass at F = 8 is the yardstick of "input
integration at matrix speed". The dense vectorized baseline (``benchmarks/dense_baseline.py``:
full-vector update and a full sort per forward step, as the paper's PyTorch code does) runs on a
subset, and the speedup ratio is printed (``--baseline-samples 0`` skips it).

``--compare PYTHON`` measures both installations in separate processes, round after round
(this one, the other, this one, ...), keeps each one's best time per configuration and prints
the throughput ratio (this / other) and whether both computed the same spikes. The machine is
shared and noisy: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import nmnist_case, shd_case  # noqa: E402

from asyncsim import Simulator  # noqa: E402


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def workloads(args) -> dict:
    return {"nmnist": nmnist_case(args["samples"], path=args.get("workload")),
            "shd": shd_case(args["shd_samples"])}


def measure(args: dict) -> list[dict]:
    """Kernel rows for every workload, policy, F and thread count."""
    rows = []
    for name, (net, inputs, _) in workloads(args).items():
        for n_threads in args["threads"]:
            for policy in ("random", "momentum"):
                for group in args["groups"]:
                    sim = Simulator(net, policy=policy, forward_group=group,
                                    momentum_noise=1e-6)
                    sim.run(inputs[:2], threads=n_threads)  # compile or load from cache
                    report = sim.run(inputs, threads=n_threads)
                    t = best_time(partial(sim.run, inputs, threads=n_threads), args["repeats"])
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
    return rows


def dense_rows(args: dict) -> list[dict]:
    """The dense baseline on a subset: batch 1 (Algorithm 1 as written, one sample's vectors)
    and batch = the subset (the paper's code structure: the whole batch advances together)."""
    from dense_baseline import dense_run

    rows = []
    for name, (net, inputs, _) in workloads(args).items():
        weights = [p.weight for p in net.projections]
        decay = float(np.exp(-net.dt_ms / net.layers[0].tau_m_ms))
        subset = inputs[:args["baseline_samples"]]
        for batch in (1, len(subset)):
            for group in args["groups"]:
                t = best_time(partial(dense_run, weights, subset, 0.3, decay, group,
                                      policy="random", seed=0, batch_size=batch), 2)
                rows.append({"workload": name, "policy": "random", "F": group,
                             "batch": batch, "samples": len(subset), "seconds": t,
                             "samples_per_s": len(subset) / t})
                print(json.dumps({"baseline": rows[-1]}), flush=True)
    return rows


def layered_rows(args: dict) -> list[dict]:
    """The layer-synchronized NumPy pass over each workload's whole batch, per thread count
    (the BLAS threads follow ``OPENBLAS_NUM_THREADS``; set it to 1 for one-thread figures)."""
    from layered_baseline import layered_pass

    rows = []
    for name, (net, inputs, _) in workloads(args).items():
        weights = [p.weight for p in net.projections]
        decay = float(np.exp(-net.dt_ms / net.layers[0].tau_m_ms))
        threshold = float(net.layers[0].threshold)
        t = best_time(partial(layered_pass, weights, inputs, threshold, decay), args["repeats"])
        rows.append({"workload": name, "samples": len(inputs), "seconds": t,
                     "samples_per_s": len(inputs) / t})
        print(json.dumps({"layered": rows[-1]}), flush=True)
    return rows


def compare(args: dict, other: str, rounds: int) -> dict:
    """Best rows of this installation and of ``other`` (a Python interpreter), measured in
    alternating processes."""
    spec = json.dumps({**args, "workload": str(args["workload"]) if args.get("workload")
                       else None})
    best: dict[str, dict] = {"this": {}, "other": {}}
    for r in range(rounds):
        for who, python in (("this", sys.executable), ("other", other)):
            out = subprocess.run([python, __file__, "--worker", spec], check=True,
                                 capture_output=True, text=True, cwd="/").stdout
            for row in json.loads(out.strip().splitlines()[-1]):
                key = f"{row['workload']}/{row['policy']}/F{row['F']}/t{row['threads']}"
                if key not in best[who] or row["seconds"] < best[who][key]["seconds"]:
                    best[who][key] = row
            print(f"round {r + 1}/{rounds}: {who} done", flush=True)
    ratios = {}
    print(f"\n{'configuration':<28}{'this':>12}{'other':>12}  ratio  same spikes")
    for key, row in best["this"].items():
        theirs = best["other"][key]
        ratio = row["samples_per_s"] / theirs["samples_per_s"]
        same = abs(row["spikes_per_sample"] - theirs["spikes_per_sample"]) < 1e-9
        ratios[key] = {"ratio": ratio, "same_spikes": same}
        print(f"{key:<28}{row['samples_per_s']:12.1f}{theirs['samples_per_s']:12.1f}"
              f"  {ratio:5.2f}  {'yes' if same else 'NO'}")
    return {"this": best["this"], "other": best["other"], "ratio": ratios}


def summary(results: dict, threads: list[int]) -> None:
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
        for layered in (r for r in results.get("layered", []) if r["workload"] == name):
            for group in sorted({f for f, _ in kernel}):
                k = kernel[(group, threads[0])]
                ratio = k["samples_per_s"] / layered["samples_per_s"]
                results.setdefault("ratio_to_layered", {})[f"{name}_F{group}"] = ratio
                print(f"  {name:7s} F={group:3d} kernel / layered NumPy pass ({threads[0]} "
                      f"thread): {ratio:.2f}")
        if (1, threads[0]) in kernel and (64, threads[0]) in kernel:
            for unit in ("ns_per_net_sop", "ns_per_current"):
                ratio = kernel[(1, threads[0])][unit] / kernel[(64, threads[0])][unit]
                results.setdefault("cost_ratio_F1_F64", {})[f"{name}_{unit}"] = ratio
                print(f"  {name:7s} cost ratio F=1 / F=64 ({unit}, {threads[0]} thread): "
                      f"{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--shd-samples", type=int, default=64)
    parser.add_argument("--baseline-samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--groups", default="1,8,64")
    parser.add_argument("--workload", type=Path, default=None,
                        help="an N-MNIST-shaped workload file instead of the generated case")
    parser.add_argument("--compare", default=None, metavar="PYTHON",
                        help="the interpreter of another asyncsim installation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.worker:
        print(json.dumps(measure(json.loads(a.worker))))
        return
    args = {"samples": a.samples, "shd_samples": a.shd_samples, "repeats": a.repeats,
            "baseline_samples": a.baseline_samples, "workload": a.workload,
            "threads": [int(v) for v in a.threads.split(",")],
            "groups": [int(v) for v in a.groups.split(",")]}
    results = {"machine": platform.processor() or platform.machine()}
    if a.compare:
        results["compare"] = compare(args, a.compare, a.rounds)
    else:
        results["rows"] = measure(args)
        for row in results["rows"]:
            print(json.dumps(row), flush=True)
        results["layered"] = layered_rows(args)
        results["baseline"] = dense_rows(args) if a.baseline_samples > 0 else []
        summary(results, args["threads"])
    if a.out:
        a.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
