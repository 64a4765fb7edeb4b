"""Spikes per sample under Algorithm 1 (asyncsim's default) and under the paper code's queue and
stop (``compat="asynctorch"``), on the N-MNIST-shaped case (``benchmarks/workloads.py``).

    python benchmarks/compare_paper_code.py [--samples 256] [--workload FILE.npz]

With ``--reference RESULTS.npz`` per configuration (arrays ``per_ts_layer`` (samples,
timesteps, layers) of spike counts from the paper's code, named ``<policy>_F<F>_<stop>...``
as listed in ``CASES``) it also counts the samples whose spikes per layer are identical.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from workloads import nmnist_case

from asyncsim import Simulator

#: (name, policy, F, stop, steps after output)
CASES = [
    ("mom_F1_drain", "momentum", 1, "drain", 0),
    ("mom_F64_drain", "momentum", 64, "drain", 0),
    ("mom_F1_out_k0", "momentum", 1, "on_output", 0),
    ("mom_F1_out_k1", "momentum", 1, "on_output", 1),
    ("mom_F8_out_k0", "momentum", 8, "on_output", 0),
    ("mom_F8_out_k1", "momentum", 8, "on_output", 1),
    ("rnd_F1_out_k0", "random", 1, "on_output", 0),
    ("rnd_F1_out_k1", "random", 1, "on_output", 1),
    ("rnd_F8_out_k0", "random", 8, "on_output", 0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--workload", type=Path, default=None)
    parser.add_argument("--reference", type=Path, default=None,
                        help="folder of the paper code's results, one <name>.npz per case")
    args = parser.parse_args()
    net, inputs, _ = nmnist_case(args.samples, path=args.workload)
    print(f"{'case':<16}{'Algorithm 1':>12}{'asynctorch':>12}"
          + (f"{'paper code':>12}{'identical':>11}" if args.reference else ""))
    for name, policy, group, stop, after in CASES:
        spikes = {}
        for compat in ("none", "asynctorch"):
            report = Simulator(net, policy=policy, momentum_noise=0.0, forward_group=group,
                               stop=stop, steps_after_output=after, compat=compat).run(inputs)
            spikes[compat] = report.per_sample["spikes_per_layer"]
        line = (f"{name:<16}{spikes['none'].sum(1).mean():>12.2f}"
                f"{spikes['asynctorch'].sum(1).mean():>12.2f}")
        reference = args.reference / f"{name}.npz" if args.reference else None
        if reference is not None and reference.is_file():
            per_layer = np.load(reference)["per_ts_layer"][:args.samples].sum(axis=1)
            same = int((per_layer == spikes["asynctorch"]).all(axis=1).sum())
            line += f"{per_layer.sum(1).mean():>12.2f}{same:>7}/{len(per_layer)}"
        print(line)


if __name__ == "__main__":
    main()
