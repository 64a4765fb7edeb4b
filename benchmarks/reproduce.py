"""Reproduce, in kind, the paper's table 2: what layer synchronization costs, and what unlayered
training recovers.

Run after ``pip install .`` (it uses the trained models shipped in ``models/``)::

    python benchmarks/reproduce.py --samples 512

For each task (N-MNIST-like, SHD-like, DVS-like, and DVS-like with the convolutional models
``dvs-conv-*``) it evaluates, on held-out samples generated
with a seed the training never saw:

* layered-trained model, layered inference (layer-synchronized execution);
* layered-trained model, asynchronous inference with random scheduling;
* unlayered-RS-trained model, asynchronous random scheduling;
* unlayered-MS-trained model, asynchronous momentum scheduling;

asynchronous inference with F = 8 and the paper's inference stop (on output, one more forward
step). It prints accuracy, activation density, SOPs, energy at 26 pJ/SOP (uBrain, as the paper's
table 3), forward steps per pass and spikes until the first output spike.

``--compat asynctorch`` runs the asynchronous rows with the queue and on-output stop of the
paper's public code (``docs/concepts.md``, "Compatibility with the paper's code"), the
semantics its table 2 was measured with; ``--compat both`` prints each asynchronous row twice.
"""

from __future__ import annotations

import argparse

from asyncsim import Simulator, load_model, shipped_models
from asyncsim.datasets import load_dataset

TEST_SEED = 1_000_000  # training used seed 0; `asyncsim train` tests on seed + 1_000_000
ROWS = [
    ("layered", "layered", dict(synchronization="layer")),
    ("layered", "async RS", dict(policy="random", forward_group=8, stop="on_output")),
    ("unlayered-rs", "async RS", dict(policy="random", forward_group=8, stop="on_output")),
    ("unlayered-ms", "async MS", dict(policy="momentum", forward_group=8, stop="on_output")),
]
TASKS = {"nmnist": ("nmnist-like", 1e-6), "shd": ("shd-like", 0.1), "dvs": ("dvs-like", 0.1),
         "dvs-conv": ("dvs-like", 0.1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--compat", choices=["none", "asynctorch", "both"], default="none",
                        help="semantics of the asynchronous rows (default: Algorithm 1)")
    args = parser.parse_args()
    compats = ["none", "asynctorch"] if args.compat == "both" else [args.compat]
    header = (f"{'task':<10}{'training':<14}{'inference':<17}{'accuracy':>9}{'density':>9}"
              f"{'SOPs':>10}{'energy uJ':>11}{'steps/pass':>11}{'to output':>10}")
    print(header)
    print("-" * len(header))
    shipped = shipped_models()
    for task in args.tasks:
        dataset, noise = TASKS[task]
        data = load_dataset(dataset, n_samples=args.samples, seed=TEST_SEED)
        for training, inference, options in ROWS:
            if f"{task}-{training}" not in shipped:
                print(f"{task:<10}{training:<14}{inference:<17}  (no shipped model)")
                continue
            net = load_model(f"{task}-{training}")
            if options.get("policy") == "momentum":
                options = {**options, "momentum_noise": noise}
            layered = "synchronization" in options
            for compat in ["none"] if layered else compats:
                label = inference + (" (code)" if compat == "asynctorch" else "")
                m = Simulator(net, energy_per_sop_pj=26.0, seed=1, compat=compat,
                              **options).run(data).metrics()
                print(f"{task:<10}{training:<14}{label:<17}{m['accuracy']:>9.3f}"
                      f"{m['density']:>9.2f}{m['sops']:>10.0f}{m['energy'] * 1e6:>11.4f}"
                      f"{m['forward_steps']:>11.1f}{m['spikes_to_first_output'] or 0:>10.1f}")


if __name__ == "__main__":
    main()
