"""Check that a kernel change leaves every result unchanged: dump the results of many
configurations with one version, then compare them with another's, array by array, bit for bit.

    python benchmarks/same_results.py dump before.npz      # with the old version installed
    python benchmarks/same_results.py dump after.npz       # with the new one
    python benchmarks/same_results.py compare before.npz after.npz

The configurations cover every scheduling policy, forward groups 1 / 8 / 64, both input modes,
the three dropouts, the paper code's compatibility mode, layer synchronization, a recurrent
network with delays, current-based and biased neurons, a convolutional model, recorded traces,
replay gradients, short trainings (three modes, with and without resuming from a checkpoint)
and five chip profiles. Exit status 1 if any array differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from workloads import nmnist_case, shd_case  # noqa: E402

import asyncsim  # noqa: E402
from asyncsim import Simulator  # noqa: E402

SETTINGS = [
    {"policy": policy, "forward_group": group}
    for policy in ("random", "momentum", "fifo", "layer") for group in (1, 8, 64)
] + [
    {"input_mode": "queued", "policy": "random"},
    {"input_mode": "queued", "policy": "momentum", "prioritize_input": True},
    {"input_mode": "queued", "policy": "random", "prioritize_input": True},
    {"input_dropout": 0.2, "refractory_dropout": 0.5, "network_dropout": 0.1},
    {"stop": "on_output", "policy": "momentum"},
    {"compat": "asynctorch", "policy": "momentum"},
    {"synchronization": "layer", "emit_barriers": True},
]

#: chip profiles run on each network (Speck holds only the convolutional one)
PROFILES = {"nmnist": ("loihi", "spinnaker", "truenorth", "ubrain"),
            "conv": ("speck", "loihi", "seneca")}


def _networks() -> dict:
    nmnist, nmnist_inputs, _ = nmnist_case(12)
    shd, shd_inputs, _ = shd_case(4)
    rng = np.random.default_rng(3)
    recurrent = asyncsim.Network(
        20,
        [asyncsim.Layer("h", 16, tau_m_ms=20.0, threshold=0.5, synapse="current",
                        tau_syn_ms=5.0, bias=0.02, reset="subtract"),
         asyncsim.Layer("out", 4, tau_m_ms=20.0, threshold=0.5)],
        [asyncsim.DenseProjection("input", "h", rng.normal(0, 0.5, (16, 20))),
         asyncsim.DenseProjection("h", "h", rng.normal(0, 0.3, (16, 16)), delay=1),
         asyncsim.DenseProjection("h", "out", rng.normal(0, 0.5, (4, 16)), delay=2)],
        dt_ms=1.0, name="recurrent")
    recurrent_inputs = (rng.random((6, 12, 20)) < 0.2).astype(np.uint8)
    conv = asyncsim.load_model("nmnist-conv")
    conv_inputs = asyncsim.datasets.load_dataset("nmnist-like", n_samples=4).inputs
    return {"nmnist": (nmnist, nmnist_inputs), "shd": (shd, shd_inputs),
            "recurrent": (recurrent, recurrent_inputs), "conv": (conv, conv_inputs)}


def _report_arrays(prefix: str, report) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}/{k}": np.asarray(v) for k, v in report.per_sample.items()
              if isinstance(v, np.ndarray)}
    if report.trace is not None:
        for name in ("selection", "selection_offsets", "exemptions", "input_survivors"):
            part = getattr(report.trace, name, None)
            if part is not None:
                arrays[f"{prefix}/trace/{name}"] = np.asarray(part)
    return arrays


#: short trainings on every network: weights, biases and losses after them
TRAININGS = [
    {"mode": "unlayered-rs", "forward_group": 8, "train_biases": True, "weight_decay": 1e-3},
    {"mode": "layered", "count_scale": 0.5, "input_dropout": 0.2, "refractory_dropout": 0.5},
    {"mode": "unlayered-ms", "forward_group": 1, "silent_gradient": True, "detach_reset": True},
]


def _training_arrays(name: str, net, inputs: np.ndarray) -> dict[str, np.ndarray]:
    import tempfile

    from asyncsim.datasets import from_arrays
    from asyncsim.training import TrainConfig, train

    n_classes = net.layers[-1].size
    data = from_arrays(inputs, np.arange(len(inputs)) % n_classes, n_classes)
    arrays = {}
    for k, settings in enumerate(TRAININGS):
        config = TrainConfig(epochs=2, batch_size=4, learning_rate=1e-2, **settings)
        trained, history = train(net, data, config)
        with tempfile.TemporaryDirectory() as folder:  # one epoch, then resumed
            checkpoint = Path(folder) / "checkpoint.npz"
            train(net, data, TrainConfig(**{**config.__dict__, "epochs": 1}),
                  checkpoint=checkpoint)
            resumed, _ = train(net, data, config, checkpoint=checkpoint, resume=True)
        for label, result in (("", trained), ("resumed/", resumed)):
            for i, p in enumerate(result.projections):
                arrays[f"{name}/train/{k}/{label}weight/{i}"] = np.asarray(p.weight)
            for i, layer in enumerate(result.layers):
                arrays[f"{name}/train/{k}/{label}bias/{i}"] = np.asarray(layer.bias)
        arrays[f"{name}/train/{k}/loss"] = np.array([row["loss"] for row in history])
    return arrays


def dump(path: Path) -> None:
    from asyncsim.gradient import replay_gradient
    from asyncsim.hardware.chip import ChipSimulator

    arrays: dict[str, np.ndarray] = {}
    for name, (net, inputs) in _networks().items():
        for k, settings in enumerate(SETTINGS):
            if name == "recurrent" and settings.get("synchronization"):
                continue
            sim = Simulator(net, **settings)
            report = sim.run(inputs, threads=1,
                             record="compat" not in settings and "input_mode" not in settings)
            arrays.update(_report_arrays(f"{name}/{k}", report))
            if report.trace is not None and (k % 4 == 1 or "input_dropout" in settings):
                labels = np.arange(len(inputs)) % net.layers[-1].size
                grad = replay_gradient(net, inputs, labels, report.trace)
                for i, w in enumerate(grad.weights):
                    arrays[f"{name}/{k}/gradient/{i}"] = np.asarray(w)
        arrays.update(_training_arrays(name, net, inputs))
        for profile in PROFILES.get(name, ()):
            report = ChipSimulator(net, profile).run(inputs[:4])
            arrays.update(_report_arrays(f"{name}/chip/{profile}", report))
    np.savez_compressed(path, **arrays)
    print(f"{len(arrays)} arrays written to {path}")


def compare(before: Path, after: Path) -> int:
    a, b = np.load(before), np.load(after)
    missing = sorted(set(a.files) ^ set(b.files))
    differ = [k for k in sorted(set(a.files) & set(b.files))
              if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k], equal_nan=True)]
    for k in missing:
        print(f"only in one file: {k}")
    for k in differ:
        print(f"differs: {k}")
    print(f"{len(a.files)} / {len(b.files)} arrays; {len(differ)} differ, {len(missing)} "
          f"unmatched")
    return 1 if differ or missing else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dump").add_argument("path", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.path)
    else:
        sys.exit(compare(args.before, args.after))


if __name__ == "__main__":
    main()
