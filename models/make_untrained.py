"""Produce the untrained placeholder models shipped in this folder.

Command (run from anywhere after installing asyncsim)::

    python -m asyncsim.shipped_models.make_untrained OUTPUT_FOLDER

The weights are Xavier-uniform with a fixed seed; nobody trained these networks, so their
accuracy is chance level. They exist so that ``asyncsim run`` has something to run until
trained models replace them, and as the starting point of trained models (``nmnist-conv``
starts from ``nmnist-conv-untrained``: see ``models/README.md``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from asyncsim import ConvProjection, DenseProjection, Layer, Network, random_feedforward, save_model

COMMAND = "python -m asyncsim.shipped_models.make_untrained"

SPECS = {
    # name: (sizes, dataset, neuron parameters) following the paper's table 6
    "nmnist-untrained": ([2312, 64, 64, 64, 10], "nmnist-like",
                         dict(tau_m_ms=1.0, dt_ms=10.0, threshold=0.3)),
    "shd-untrained": ([350, 128, 128, 128, 20], "shd-like",
                      dict(tau_m_ms=100.0, dt_ms=10.0, threshold=0.3)),
}


def nmnist_conv(seed: int = 0, **metadata) -> Network:
    """A small convolutional network for the N-MNIST-shaped input (2 x 34 x 34) that fits
    Speck's cores: 8 channels 3x3 stride 2 (8 x 16 x 16), 16 channels 3x3 stride 2 (16 x 7 x 7),
    then dense to 10 classes; integrate-and-fire neurons (Speck has no leak), Xavier-uniform
    weights."""
    rng = np.random.default_rng(seed)

    def xavier(shape, fan_in, fan_out):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape)

    neuron = dict(neuron="if", threshold=0.5, reset="hard")
    layers = [Layer("conv1", 8 * 16 * 16, **neuron), Layer("conv2", 16 * 7 * 7, **neuron),
              Layer("output", 10, **neuron)]
    projections = [
        ConvProjection("input", "conv1", xavier((8, 2, 3, 3), 18, 72), (2, 34, 34), stride=2),
        ConvProjection("conv1", "conv2", xavier((16, 8, 3, 3), 72, 144), (8, 16, 16), stride=2),
        DenseProjection("conv2", "output", xavier((10, 784), 784, 10)),
    ]
    return Network(2312, layers, projections, dt_ms=10.0, name="nmnist-conv-untrained",
                   metadata=dict(metadata))


def main(folder: str) -> None:
    for name, (sizes, dataset, params) in SPECS.items():
        net = random_feedforward(sizes, seed=0, name=name, trained=False, dataset=dataset,
                                 produced_by=f"{COMMAND} {folder}", weight_seed=0, **params)
        net.description = f"UNTRAINED placeholder ({dataset}, Xavier-uniform, seed 0)"
        save_model(net, Path(folder) / f"{name}.yaml")
    conv = nmnist_conv(0, trained=False, dataset="nmnist-like",
                       produced_by=f"{COMMAND} {folder}", weight_seed=0)
    conv.description = ("UNTRAINED placeholder (nmnist-like, convolutional, fits Speck; "
                        "Xavier-uniform, seed 0)")
    save_model(conv, Path(folder) / f"{conv.name}.yaml")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
