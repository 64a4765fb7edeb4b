"""The work a forward group size F implies, whatever the implementation: per sample, currents
delivered by network spikes (SOPs) and by inputs, neuron evaluations (a neuron integrating and
checking its threshold in a forward step) and forward steps, on the benchmark workloads.

    python benchmarks/schedule_work.py --workload shd --groups 1 16 64

At F = 1 every delivered spike makes its targets evaluate in a step of their own; at larger F
the spikes of a group share their targets' evaluations. If an evaluation cost no more than
one delivered current and a step cost nothing, the time ratio between two group sizes would
be the ratio of (currents + evaluations): the printed lower bounds. A target such as "F = 1
within 1.5x of F = 16" is out of reach where that bound exceeds it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_training import workload  # noqa: E402

from asyncsim import Simulator  # noqa: E402


def work(name: str, group: int, samples: int) -> dict[str, float]:
    """Mean per-sample counts of one run, random scheduling, seed 0."""
    net, inputs, _, _ = workload(name, samples)
    per_sample = Simulator(net, policy="random", forward_group=group, seed=0).run(
        inputs, threads=1).per_sample
    return {key: float(per_sample[key].mean())
            for key in ("sops", "input_sops", "neuron_updates", "steps")} | {
        "steps": float(per_sample["steps"].sum(axis=1).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["nmnist", "shd"], default="shd")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8, 16, 64])
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    rows = {g: work(args.workload, g, args.samples) for g in args.groups}
    print(f"{args.workload}: per sample, {args.samples} samples, random scheduling")
    print(f"{'F':>4} {'SOPs':>10} {'input SOPs':>11} {'evaluations':>12} {'steps':>7} "
          f"{'(all)/SOP':>10}")
    for g, r in rows.items():
        total = r["sops"] + r["input_sops"] + r["neuron_updates"]
        print(f"{g:>4} {r['sops']:>10.0f} {r['input_sops']:>11.0f} {r['neuron_updates']:>12.0f} "
              f"{r['steps']:>7.0f} {total / r['sops']:>10.2f}")
    first, *others = args.groups
    for g in others:
        a, b = rows[first], rows[g]
        whole = (a["sops"] + a["input_sops"] + a["neuron_updates"]) / (
            b["sops"] + b["input_sops"] + b["neuron_updates"])
        per_sop = whole * b["sops"] / a["sops"]
        print(f"lower bound F={first} / F={g}: {whole:.2f}x per sample, {per_sop:.2f}x per "
              f"network SOP")


if __name__ == "__main__":
    main()
