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


def _xavier(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Xavier-uniform weights of a (out, in) matrix or (out, in, kh, kw) kernel."""
    receptive = int(np.prod(shape[2:])) if len(shape) == 4 else 1
    bound = math.sqrt(6.0 / (shape[1] * receptive + shape[0] * receptive))
    return rng.uniform(-bound, bound, size=shape)


def conv_stack(name: str, input_shape: tuple[int, int, int], blocks: list[tuple[int, int]],
               n_classes: int, neuron: dict, dt_ms: float, seed: int = 0,
               **metadata) -> Network:
    """A VGG-style stack: one 3x3 convolution (padding 1) per ``(channels, stride)`` block,
    stride 2 standing in for pooling (the simulator has no pooling layer), then a dense layer to
    ``n_classes`` outputs; Xavier-uniform weights drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    shape = input_shape
    layers, projections, source = [], [], "input"
    for k, (channels, stride) in enumerate(blocks):
        weight = _xavier(rng, (channels, shape[0], 3, 3))
        conv = ConvProjection(source, f"conv{k + 1}", weight, shape, stride=stride, padding=1)
        layers.append(Layer(conv.target, conv.target_size, **neuron))
        projections.append(conv)
        shape, source = conv.output_shape, conv.target
    flat = int(np.prod(shape))
    layers.append(Layer("output", n_classes, **neuron))
    projections.append(DenseProjection(source, "output", _xavier(rng, (n_classes, flat))))
    return Network(int(np.prod(input_shape)), layers, projections, dt_ms=dt_ms, name=name,
                   metadata=dict(metadata))


def cifar_vgg(seed: int = 0, **metadata) -> Network:
    """VGG-style network for the CIFAR-10-shaped input (3 x 32 x 32): 3x3 convolutions of 64,
    64 (stride 2), 128, 128 (stride 2), 256, 256 (stride 2) channels, then dense to 10;
    143 360 neurons, 1.2 M kernel parameters, 68 M synapses if expanded. Integrate-and-fire
    neurons, hard reset, threshold 0.5."""
    blocks = [(64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2)]
    return conv_stack("cifar-vgg-untrained", (3, 32, 32), blocks, 10,
                      dict(neuron="if", threshold=0.5, reset="hard"), 1.0, seed, **metadata)


def dvs_conv(seed: int = 0, **metadata) -> Network:
    """Convolutional network for the DVS-gesture-shaped input (2 x 32 x 32): 3x3 convolutions
    of 16 (stride 2), 32 (stride 2) and 64 (stride 2) channels, then dense to 11; LIF neurons
    with tau_m 100 ms at 20 ms timesteps, as the dvs preset."""
    blocks = [(16, 2), (32, 2), (64, 2)]
    return conv_stack("dvs-conv-untrained", (2, 32, 32), blocks, 11,
                      dict(tau_m_ms=100.0, threshold=0.3), 20.0, seed, **metadata)


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
    for make, dataset, what in ((cifar_vgg, "cifar-like", "VGG-style"),
                                (dvs_conv, "dvs-like", "convolutional")):
        net = make(0, trained=False, dataset=dataset, produced_by=f"{COMMAND} {folder}",
                   weight_seed=0)
        net.description = f"UNTRAINED placeholder ({dataset}, {what}; Xavier-uniform, seed 0)"
        save_model(net, Path(folder) / f"{net.name}.yaml")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
