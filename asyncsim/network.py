"""Network description: layers of spiking neurons joined by projections.

Objects here describe a model and validate themselves; they know nothing of the kernel.
:func:`asyncsim.compile.compile_network` turns a :class:`Network` into the kernel's flat arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from .errors import InputError

NEURON_TYPES = ("lif", "if")
RESET_MODES = ("hard", "soft")
INPUT = "input"


def _require(condition: bool, field_name: str, expected: str, got: Any) -> None:
    if not condition:
        raise InputError(f"field '{field_name}': expected {expected}, got {got!r}")


@dataclass
class Layer:
    """A population of identical spiking neurons.

    Attributes:
        name: unique layer name (not ``"input"``).
        size: number of neurons.
        neuron: ``"lif"`` (leaky; decays between forward passes) or ``"if"`` (no decay).
        tau_m_ms: membrane time constant in milliseconds (LIF only).
        threshold: firing threshold ``U_thr``; a neuron fires when ``u > U_thr``.
        reset: ``"hard"`` (``u <- 0``) or ``"soft"`` (``u <- u - U_thr``).
        refractory: a neuron that fired cannot fire again in the same forward pass.
    """

    name: str
    size: int
    neuron: str = "lif"
    tau_m_ms: float = 1.0
    threshold: float = 0.3
    reset: str = "hard"
    refractory: bool = True

    def __post_init__(self) -> None:
        where = f"layers[{self.name}]"
        _require(isinstance(self.name, str) and self.name != "" and self.name != INPUT,
                 "layers[].name", "a non-empty name other than 'input'", self.name)
        _require(isinstance(self.size, (int, np.integer)) and not isinstance(self.size, bool)
                 and self.size >= 1, f"{where}.size", "an integer >= 1", self.size)
        self.size = int(self.size)
        _require(self.neuron in NEURON_TYPES, f"{where}.neuron", f"one of {NEURON_TYPES}",
                 self.neuron)
        _require(_is_finite_number(self.tau_m_ms) and self.tau_m_ms > 0, f"{where}.tau_m_ms",
                 "a finite number > 0 (milliseconds)", self.tau_m_ms)
        _require(_is_finite_number(self.threshold), f"{where}.threshold", "a finite number",
                 self.threshold)
        _require(self.reset in RESET_MODES, f"{where}.reset", f"one of {RESET_MODES}",
                 self.reset)
        _require(isinstance(self.refractory, (bool, np.bool_)), f"{where}.refractory",
                 "true or false", self.refractory)
        self.tau_m_ms = float(self.tau_m_ms)
        self.threshold = float(self.threshold)
        self.refractory = bool(self.refractory)

    def decay_per_step(self, dt_ms: float) -> float:
        """Membrane factor applied between two forward passes ``dt_ms`` apart."""
        return 1.0 if self.neuron == "if" else math.exp(-dt_ms / self.tau_m_ms)


def _check_ends(p: Any) -> None:
    for end in ("source", "target"):
        value = getattr(p, end)
        _require(isinstance(value, str) and value != "", f"projections[].{end}",
                  "a layer name (or 'input' as source)", value)


@dataclass
class DenseProjection:
    """All-to-all synapses from ``source`` (a layer name or ``"input"``) to ``target``.

    ``weight`` has shape ``(target size, source size)``: ``current = weight @ spikes``.
    """

    source: str
    target: str
    weight: np.ndarray

    def __post_init__(self) -> None:
        _check_ends(self)
        where = f"projections[{self.source}->{self.target}].weight"
        w = np.asarray(self.weight)
        _require(w.ndim == 2, where, "a 2-D array (target x source)", f"shape {w.shape}")
        _require(np.issubdtype(w.dtype, np.number) and not np.iscomplexobj(w), where,
                 "a real numeric array", str(w.dtype))
        _require(bool(np.all(np.isfinite(w))), where, "finite values", "NaN or infinity")
        self.weight = w.astype(np.float64, copy=False)

    @property
    def source_size(self) -> int:
        return int(self.weight.shape[1])

    @property
    def target_size(self) -> int:
        return int(self.weight.shape[0])

    def topology_key(self) -> tuple:
        """Everything but the weight values (compiled structure is cached on it)."""
        return ("dense", self.source, self.target, self.weight.shape)

    @property
    def n_synapses(self) -> int:
        """Synapses this projection compiles to."""
        return int(self.weight.size)

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(target index, source index, index into ``weight.ravel()``) of every synapse."""
        rows, cols = np.indices(self.weight.shape)
        return rows.ravel(), cols.ravel(), np.arange(self.weight.size)


@dataclass
class ConvProjection:
    """A 2-D convolution from ``source`` (a ``(channels, height, width)`` layer, flattened
    row-major) to ``target`` (``(out_channels, out_height, out_width)``, flattened).

    Only the synapses the kernel, stride, padding and dilation create are compiled (each
    carries its shared weight), never a dense matrix; the gradient of a shared weight is the
    sum over its synapses.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kernel_height, kernel_width)``.
        input_shape: ``(in_channels, height, width)`` of the source.
        stride, padding, dilation: ``(rows, columns)`` pairs (an integer means both).
        groups: channel groups.
    """

    source: str
    target: str
    weight: np.ndarray
    input_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        _check_ends(self)
        where = f"projections[{self.source}->{self.target}]"
        w = np.asarray(self.weight)
        _require(w.ndim == 4 and np.issubdtype(w.dtype, np.number), f"{where}.weight",
                 "a 4-D numeric array (out, in / groups, kh, kw)", f"shape {w.shape}")
        _require(bool(np.all(np.isfinite(w))), f"{where}.weight", "finite values",
                 "NaN or infinity")
        self.weight = w.astype(np.float64, copy=False)
        shape = tuple(int(v) for v in np.ravel(self.input_shape))
        _require(len(shape) == 3 and min(shape) >= 1, f"{where}.input_shape",
                 "(channels, height, width) >= 1", self.input_shape)
        self.input_shape = shape
        for name, low in (("stride", 1), ("padding", 0), ("dilation", 1)):
            pair = tuple(int(v) for v in np.broadcast_to(np.ravel(getattr(self, name)), (2,)))
            _require(min(pair) >= low, f"{where}.{name}", f"integers >= {low}",
                     getattr(self, name))
            setattr(self, name, pair)
        self.groups = int(self.groups)
        _require(self.groups >= 1 and shape[0] % self.groups == 0
                 and w.shape[0] % self.groups == 0 and w.shape[1] * self.groups == shape[0],
                 f"{where}.groups", f"a divisor of the channels ({shape[0]} in, {w.shape[0]} "
                 f"out) with weight.shape[1] x groups = in channels", self.groups)
        _require(min(self.output_shape) >= 1, f"{where}.input_shape",
                 "an input large enough for the kernel", shape)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        _, h, w = self.input_shape
        kh, kw = self.weight.shape[2:]
        out = [(size + 2 * pad - dil * (k - 1) - 1) // st + 1 for size, pad, dil, k, st in (
            (h, self.padding[0], self.dilation[0], kh, self.stride[0]),
            (w, self.padding[1], self.dilation[1], kw, self.stride[1]))]
        return (int(self.weight.shape[0]), out[0], out[1])

    @property
    def source_size(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def target_size(self) -> int:
        return int(np.prod(self.output_shape))

    @property
    def n_synapses(self) -> int:
        """At most this many synapses (padding drops some): every output neuron's kernel."""
        _, per_group, kh, kw = self.weight.shape
        return int(self.target_size) * int(per_group) * int(kh) * int(kw)

    def topology_key(self) -> tuple:
        return ("conv", self.source, self.target, self.weight.shape, self.input_shape,
                self.stride, self.padding, self.dilation, self.groups)

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(target index, source index, index into ``weight.ravel()``) of every synapse that
        lands inside the (unpadded) input."""
        c_out, per_group, kh, kw = self.weight.shape
        c_in, h, w = self.input_shape
        _, oh, ow = self.output_shape
        co, ci, a, b, y, x = np.meshgrid(np.arange(c_out), np.arange(per_group), np.arange(kh),
                                         np.arange(kw), np.arange(oh), np.arange(ow),
                                         indexing="ij")
        yy = y * self.stride[0] - self.padding[0] + a * self.dilation[0]
        xx = x * self.stride[1] - self.padding[1] + b * self.dilation[1]
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        channel = (co // (c_out // self.groups)) * per_group + ci
        target = ((co * oh + y) * ow + x)[inside]
        source = ((channel * h + yy) * w + xx)[inside]
        weight_index = (((co * per_group + ci) * kh + a) * kw + b)[inside]
        return target, source, weight_index


Projection = DenseProjection | ConvProjection


@dataclass
class Network:
    """A spiking network: ``input_size`` input features, layers, and projections.

    The last layer is the output layer and has no outgoing projection. ``dt_ms`` is the length
    of one timestep (one forward pass) in milliseconds. ``metadata`` holds free-form facts such as
    ``trained`` and the command that produced the model.
    """

    input_size: int
    layers: list[Layer]
    projections: list[Projection]
    dt_ms: float = 1.0
    name: str = "network"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(isinstance(self.input_size, (int, np.integer)) and self.input_size >= 1,
                 "input_size", "an integer >= 1", self.input_size)
        self.input_size = int(self.input_size)
        _require(_is_finite_number(self.dt_ms) and self.dt_ms > 0, "dt_ms",
                 "a finite number > 0 (milliseconds)", self.dt_ms)
        self.dt_ms = float(self.dt_ms)
        _require(len(self.layers) >= 1, "layers", "at least one layer", len(self.layers))
        names = [layer.name for layer in self.layers]
        _require(len(set(names)) == len(names), "layers[].name", "unique names", names)
        sizes = {layer.name: layer.size for layer in self.layers}
        sizes[INPUT] = self.input_size
        seen = set()
        for p in self.projections:
            key = f"projections[{p.source}->{p.target}]"
            _require(p.source in sizes, f"{key}.source", f"one of {sorted(sizes)}", p.source)
            _require(p.target in sizes and p.target != INPUT, f"{key}.target",
                     f"one of {names}", p.target)
            _require((p.source, p.target) not in seen, key, "one projection per pair",
                     "a duplicate")
            seen.add((p.source, p.target))
            expected = (sizes[p.target], sizes[p.source])
            _require((p.target_size, p.source_size) == expected, f"{key}.weight",
                     f"(target, source) sizes {expected}", (p.target_size, p.source_size))
        graph = self.graph()
        output = self.layers[-1].name
        _require(graph.out_degree(output) == 0, f"layers[{output}]",
                 "the output (last) layer to have no outgoing projection",
                 list(graph.successors(output)))
        for name in names:
            _require(nx.has_path(graph, INPUT, name), f"layers[{name}]",
                     "a layer reachable from the input", "no path from 'input'")

    def graph(self) -> nx.DiGraph:
        """Topology: nodes are ``"input"`` and layer names, edges are projections."""
        g = nx.DiGraph()
        g.add_node(INPUT, size=self.input_size)
        for layer in self.layers:
            g.add_node(layer.name, size=layer.size)
        for p in self.projections:
            g.add_edge(p.source, p.target, projection=p)
        return g

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    @property
    def n_neurons(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def n_hidden(self) -> int:
        return self.n_neurons - self.output_layer.size

    def architecture(self) -> str:
        """Short form such as ``2312-64-64-64-10``."""
        return "-".join(str(s) for s in [self.input_size] + [lay.size for lay in self.layers])


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and math.isfinite(float(value))


def feedforward(
    weights: list[np.ndarray],
    *,
    neuron: str = "lif",
    tau_m_ms: float = 1.0,
    threshold: float = 0.3,
    reset: str = "hard",
    refractory: bool = True,
    dt_ms: float = 1.0,
    name: str = "network",
    **metadata: Any,
) -> Network:
    """A chain ``input -> hidden_1 -> ... -> output`` of dense projections.

    ``weights[l]`` has shape ``(N_{l+1}, N_l)``; every layer shares the neuron parameters.
    """
    if len(weights) < 1:
        raise InputError("field 'weights': expected at least one weight matrix, got none")
    n_in = int(np.asarray(weights[0]).shape[-1])
    layers, projections = [], []
    source = INPUT
    for i, w in enumerate(weights):
        w = np.asarray(w)
        lname = "output" if i == len(weights) - 1 else f"hidden{i + 1}"
        layers.append(Layer(lname, int(w.shape[0]) if w.ndim == 2 else -1, neuron, tau_m_ms,
                            threshold, reset, refractory))
        projections.append(DenseProjection(source, lname, w))
        source = lname
    return Network(n_in, layers, projections, dt_ms=dt_ms, name=name, metadata=dict(metadata))


def random_feedforward(
    sizes: list[int],
    seed: int = 0,
    *,
    gain: float = 1.0,
    **kwargs: Any,
) -> Network:
    """A chain with Xavier-uniform random weights: ``sizes = [N_in, N_1, ..., N_out]``.

    ``gain`` scales the weight range; other keyword arguments go to :func:`feedforward`.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = gain * math.sqrt(6.0 / (n_in + n_out))
        weights.append(rng.uniform(-bound, bound, size=(n_out, n_in)))
    return feedforward(weights, **kwargs)
