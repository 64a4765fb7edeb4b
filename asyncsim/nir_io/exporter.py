"""NIR export: a :class:`~asyncsim.network.Network` to a NIR graph (or file).

Written so that reading it back with the ``nir`` convention (forward Euler) and the same
``dt_ms`` gives the same network: ``LIF``/``LI`` with ``tau = dt / (1 - decay)`` and ``r = tau /
dt`` (input gain 1), ``CubaLIF``/``CubaLI`` with ``tau_syn = dt / (1 - alpha)`` and ``w_in =
tau_syn / dt`` as well, ``IF`` with ``r = 1``; per-neuron parameters as arrays; a layer's bias on
the ``Affine`` (or ``Conv2d``) of its first incoming projection; a delayed projection as
``Linear -> Delay``. asyncsim-only settings (reset, refractoriness, names) travel in each node's
``metadata["asyncsim"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..network import INPUT, ConvProjection, Layer, Network
from .importer import _nir


def to_nir(network: Network) -> Any:
    """A ``nir.NIRGraph`` of ``network`` (see the module documentation). Populations that a
    convolution reads or writes keep their ``(channels, height, width)`` shape, with a
    ``Flatten`` before any dense projection they feed."""
    nir = _nir()
    key_of = _node_keys(network)
    shapes: dict[str, tuple[int, ...]] = {INPUT: (network.input_size,)}
    shapes.update({layer.name: (layer.size,) for layer in network.layers})
    for p in network.projections:
        if isinstance(p, ConvProjection):
            shapes[p.source], shapes[p.target] = p.input_shape, p.output_shape
    nodes: dict[str, Any] = {INPUT: nir.Input(input_type={"input": np.array(shapes[INPUT])})}
    for layer in network.layers:
        nodes[key_of[layer.name]] = _neuron_node(nir, layer, shapes[layer.name],
                                                 network.dt_ms / 1000.0)
    edges = []
    biased = set()
    for p in network.projections:
        bias = None
        if p.target not in biased and np.any(network.layers[_index(network, p.target)].bias):
            bias = np.broadcast_to(network.layers[_index(network, p.target)].bias,
                                   (int(np.prod(shapes[p.target])),))
            biased.add(p.target)
        edges += _projection_nodes(nir, p, key_of, shapes, bias, nodes, network.dt_ms)
    out = "output" if "output" not in nodes else "output_node"
    nodes[out] = nir.Output(output_type={"output": np.array(shapes[network.layers[-1].name])})
    edges.append((key_of[network.layers[-1].name], out))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={
        "asyncsim": {"name": network.name, "dt_ms": network.dt_ms}})


def save_nir(network: Network, path: str | Path) -> None:
    """Write ``network`` as a NIR file (HDF5)."""
    nir = _nir()
    from ..atomic import write_bytes_atomic

    tmp = Path(path).with_name(f".{Path(path).name}.tmp.nir")
    try:
        nir.write(str(tmp), to_nir(network))
        write_bytes_atomic(path, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)


def _index(network: Network, name: str) -> int:
    return next(i for i, layer in enumerate(network.layers) if layer.name == name)


def _neuron_node(nir: Any, layer: Layer, shape: tuple[int, ...], dt_s: float) -> Any:
    def per_neuron(value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).copy()

    zeros = np.zeros(shape)
    threshold = per_neuron(layer.threshold)
    meta = {"asyncsim": {"reset": layer.reset, "refractory": layer.refractory,
                         "name": layer.name, "tau_m_ms": _plain(layer.tau_m_ms),
                         "synapse": layer.synapse}}
    if layer.neuron == "if":
        if layer.synapse == "current":
            raise InputError(f"layer '{layer.name}': NIR has no integrate-and-fire node with "
                             f"a current-based synapse; give it a membrane time constant")
        node = nir.IF(r=np.ones(shape), v_threshold=threshold, v_reset=zeros)
    else:
        tau = dt_s / (1.0 - per_neuron(layer.decay_per_step(dt_s * 1000.0)))
        if layer.synapse == "current":
            tau_syn = dt_s / (1.0 - per_neuron(layer.synaptic_decay(dt_s * 1000.0)))
            common = dict(tau_syn=tau_syn, tau_mem=tau, r=tau / dt_s, v_leak=zeros,
                          w_in=tau_syn / dt_s)
            node = (nir.CubaLIF(**common, v_threshold=threshold, v_reset=zeros)
                    if layer.fires else nir.CubaLI(**common))
        elif layer.fires:
            node = nir.LIF(tau=tau, r=tau / dt_s, v_leak=zeros, v_threshold=threshold,
                           v_reset=zeros)
        else:
            node = nir.LI(tau=tau, r=tau / dt_s, v_leak=zeros)
    node.metadata = meta
    return node


def _projection_nodes(nir, p, key_of, shapes, bias, nodes, dt_ms) -> list[tuple[str, str]]:
    """The nodes of one projection (added to ``nodes``) and its edges."""
    source, target = key_of[p.source], key_of[p.target]
    key = f"{source}->{target}"
    if isinstance(p, ConvProjection):
        channels = p.output_shape[0]
        conv_bias = np.zeros(channels)
        if bias is not None:
            per_channel = bias.reshape(channels, -1)
            if not np.all(per_channel == per_channel[:, :1]):
                raise InputError(f"layer '{p.target}': a bias that differs within a channel "
                                 f"cannot be written on its convolution")
            conv_bias = per_channel[:, 0]
        nodes[key] = nir.Conv2d(input_shape=p.input_shape[1:], weight=np.array(p.weight),
                                stride=p.stride, padding=p.padding, dilation=p.dilation,
                                groups=p.groups, bias=conv_bias)
        edges = [(source, key)]
    else:
        nodes[key] = (nir.Affine(weight=np.array(p.weight), bias=np.array(bias))
                      if bias is not None else nir.Linear(weight=np.array(p.weight)))
        edges = []
        if len(shapes[p.source]) > 1:
            flat = f"{source}.flatten"
            if flat not in nodes:
                nodes[flat] = nir.Flatten(start_dim=0, end_dim=-1, input_type={
                    "input": np.array(shapes[p.source])})
                edges.append((source, flat))
            edges.append((flat, key))
        else:
            edges.append((source, key))
    last = key
    if p.delay:
        delay = f"{key}.delay"
        size = int(np.prod(shapes[p.target]))
        nodes[delay] = nir.Delay(delay=np.full(size, p.delay * dt_ms / 1000.0))
        edges.append((key, delay))
        last = delay
    edges.append((last, target))
    return edges


def _node_keys(network: Network) -> dict[str, str]:
    """NIR node names for the input and every layer: the layer names, with ``/`` (which HDF5
    reads as a nested group) replaced; the original name travels in the node's metadata."""
    keys = {INPUT: INPUT}
    used = {INPUT, "output"}
    for layer in network.layers:
        key = layer.name.replace("/", "_")
        while key in used:
            key += "_"
        keys[layer.name] = key
        used.add(key)
    return keys


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value
