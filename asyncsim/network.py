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

NEURON_TYPES = ("lif", "if", "li")
SYNAPSE_TYPES = ("instant", "current")
RESET_MODES = ("zero", "subtract", "subtract_delayed", "zero_hold")
RESET_ALIASES = {"hard": "zero", "soft": "subtract"}
INPUT = "input"
MAX_DELAY = 1000  # timesteps


def _require(condition: bool, field_name: str, expected: str, got: Any) -> None:
    if not condition:
        raise InputError(f"field '{field_name}': expected {expected}, got {got!r}")


@dataclass
class Layer:
    """A population of spiking (or, for ``li``, non-spiking) neurons.

    Parameters given as a number apply to every neuron; an array of ``size`` values gives each
    neuron its own (``tau_m_ms``, ``threshold``, ``bias``, ``tau_syn_ms``).

    Attributes:
        name: unique layer name (not ``"input"``).
        size: number of neurons.
        neuron: ``"lif"`` (leaky: ``u <- u exp(-dt / tau_m)`` between forward passes), ``"if"``
            (no decay) or ``"li"`` (leaky integrator that never fires: a readout).
        tau_m_ms: membrane time constant, milliseconds (``lif``, ``li``).
        threshold: firing threshold ``U_thr``; a neuron fires when ``u > U_thr``.
        reset: after a spike, ``"zero"`` (``u <- 0``; alias ``"hard"``), ``"subtract"``
            (``u <- u - U_thr`` at once; alias ``"soft"``), ``"subtract_delayed"`` (snnTorch's
            default: ``U_thr`` subtracted at the next timestep, before the new input; the same
            as subtracting ``U_thr / decay`` at once) or ``"zero_hold"`` (``u <- 0`` and the
            membrane stays 0 through the next timestep, its input lost: snnTorch's reset to
            zero of Synaptic, RLeaky and RSynaptic).
        refractory: a neuron that fired cannot fire again in the same forward pass.
        bias: a constant current per timestep, in membrane units; it enters at the start of
            each forward pass (into the synaptic current with current-based synapses).
        synapse: ``"instant"`` (a delivered current changes the membrane) or ``"current"``
            (current-based, CUBA: a synaptic current per neuron, decaying with
            ``tau_syn_ms``, that a delivered current changes together with the membrane; the
            current carried over from earlier timesteps enters at the start of each pass).
        tau_syn_ms: synaptic time constant, milliseconds (``synapse="current"``).
    """

    name: str
    size: int
    neuron: str = "lif"
    tau_m_ms: Any = 1.0
    threshold: Any = 0.3
    reset: str = "zero"
    refractory: bool = True
    bias: Any = 0.0
    synapse: str = "instant"
    tau_syn_ms: Any = 5.0

    def __post_init__(self) -> None:
        where = f"layers[{self.name}]"
        _require(isinstance(self.name, str) and self.name != "" and self.name != INPUT,
                 "layers[].name", "a non-empty name other than 'input'", self.name)
        _require(isinstance(self.size, (int, np.integer)) and not isinstance(self.size, bool)
                 and self.size >= 1, f"{where}.size", "an integer >= 1", self.size)
        self.size = int(self.size)
        _require(self.neuron in NEURON_TYPES, f"{where}.neuron", f"one of {NEURON_TYPES}",
                 self.neuron)
        self.reset = RESET_ALIASES.get(self.reset, self.reset) if isinstance(
            self.reset, str) else self.reset
        _require(self.reset in RESET_MODES, f"{where}.reset",
                 f"one of {RESET_MODES} (or hard, soft)", self.reset)
        _require(self.synapse in SYNAPSE_TYPES, f"{where}.synapse", f"one of {SYNAPSE_TYPES}",
                 self.synapse)
        _require(isinstance(self.refractory, (bool, np.bool_)), f"{where}.refractory",
                 "true or false", self.refractory)
        self.refractory = bool(self.refractory)
        self.tau_m_ms = _parameter(self.tau_m_ms, self.size, f"{where}.tau_m_ms",
                                   positive=True, unit="milliseconds")
        self.tau_syn_ms = _parameter(self.tau_syn_ms, self.size, f"{where}.tau_syn_ms",
                                     positive=True, unit="milliseconds")
        self.threshold = _parameter(self.threshold, self.size, f"{where}.threshold")
        self.bias = _parameter(self.bias, self.size, f"{where}.bias")
        if self.reset == "subtract_delayed" and self.neuron == "lif":
            _require(bool(np.all(self.decay_per_step(1.0) > 0)), f"{where}.reset",
                     "a decay above 0 for subtract_delayed", self.reset)

    def decay_per_step(self, dt_ms: float) -> Any:
        """Membrane factor applied between two forward passes ``dt_ms`` apart (a number, or
        one per neuron)."""
        if self.neuron == "if":
            return 1.0
        return np.exp(-dt_ms / np.asarray(self.tau_m_ms)) if isinstance(
            self.tau_m_ms, np.ndarray) else math.exp(-dt_ms / self.tau_m_ms)

    def synaptic_decay(self, dt_ms: float) -> Any:
        """Factor of the synaptic current between two passes (0 for instant synapses)."""
        if self.synapse == "instant":
            return 0.0
        return np.exp(-dt_ms / np.asarray(self.tau_syn_ms)) if isinstance(
            self.tau_syn_ms, np.ndarray) else math.exp(-dt_ms / self.tau_syn_ms)

    def reset_amount(self, dt_ms: float) -> Any:
        """What a subtractive reset subtracts: ``U_thr``, or ``U_thr / decay`` for
        ``subtract_delayed`` (0 where the reset is to zero)."""
        if self.reset == "subtract":
            return self.threshold
        if self.reset == "subtract_delayed":
            return np.asarray(self.threshold) / np.asarray(self.decay_per_step(dt_ms))
        return 0.0

    @property
    def fires(self) -> bool:
        return self.neuron != "li"


def _parameter(value: Any, size: int, where: str, positive: bool = False,
               unit: str = "") -> Any:
    """A finite number, or an array of ``size`` finite numbers (a one-element or constant
    array becomes a number)."""
    expected = "a finite number" + (" > 0" if positive else "") + (f" ({unit})" if unit else "")
    if isinstance(value, (list, tuple, np.ndarray)):
        array = np.asarray(value)
        _require(np.issubdtype(array.dtype, np.number) and not np.iscomplexobj(array)
                 and array.ndim <= 1 and array.size in (1, size), where,
                 f"{expected}, or {size} of them", f"array of shape {array.shape}")
        array = array.astype(np.float64).ravel()
        _require(bool(np.all(np.isfinite(array))) and (not positive or bool(np.all(array > 0))),
                 where, f"{expected} (each)", "a value out of range")
        if array.size == 1 or bool(np.all(array == array[0])):
            return float(array[0])
        return array
    _require(_is_finite_number(value) and (not positive or value > 0), where, expected, value)
    return float(value)


def _check_delay(p: Any) -> None:
    _require(isinstance(p.delay, (int, np.integer)) and not isinstance(p.delay, bool)
             and 0 <= p.delay <= MAX_DELAY, f"projections[{p.source}->{p.target}].delay",
             f"an integer number of timesteps in 0..{MAX_DELAY}", p.delay)
    p.delay = int(p.delay)


def _check_ends(p: Any) -> None:
    for end in ("source", "target"):
        value = getattr(p, end)
        _require(isinstance(value, str) and value != "", f"projections[].{end}",
                  "a layer name (or 'input' as source)", value)


@dataclass
class DenseProjection:
    """All-to-all synapses from ``source`` (a layer name or ``"input"``) to ``target``.

    ``weight`` has shape ``(target size, source size)``: ``current = weight @ spikes``.
    ``delay`` is the number of timesteps between a spike and the arrival of its currents (0:
    the same forward pass; ``d``: they enter at the start of the pass ``d`` timesteps later).
    """

    source: str
    target: str
    weight: np.ndarray
    delay: int = 0

    def __post_init__(self) -> None:
        _check_ends(self)
        _check_delay(self)
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
        return ("dense", self.source, self.target, self.weight.shape, self.delay)

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

    Compiled to a descriptor and its kernel, never to per-synapse rows or a dense matrix: the
    simulator derives a spike's targets and weights from the source's position when it delivers
    it (:meth:`synapses` lists them for code that wants them one by one); the gradient of a
    shared weight is the sum over its synapses.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kernel_height, kernel_width)``.
        input_shape: ``(in_channels, height, width)`` of the source.
        stride, padding, dilation: ``(rows, columns)`` pairs (an integer means both).
        groups: channel groups.
        delay: timesteps between a spike and its currents' arrival (0: the same pass).
    """

    source: str
    target: str
    weight: np.ndarray
    input_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    delay: int = 0

    def __post_init__(self) -> None:
        _check_ends(self)
        _check_delay(self)
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
        return ("conv", self.source, self.target, self.weight.shape, self.delay, self.input_shape,
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
        graph = self._topology()
        output = self.layers[-1].name
        _require(graph.out_degree(output) == 0, f"layers[{output}]",
                 "the output (last) layer to have no outgoing projection",
                 list(graph.successors(output)))
        for name in names:
            _require(nx.has_path(graph, INPUT, name), f"layers[{name}]",
                     "a layer reachable from the input", "no path from 'input'")

    def graph(self) -> nx.DiGraph:
        """Topology: nodes are ``"input"`` and layer names (attribute ``size``), edges are
        projections (attribute ``projection``)."""
        g = self._topology()
        nx.set_node_attributes(g, {INPUT: self.input_size,
                                   **{layer.name: layer.size for layer in self.layers}}, "size")
        nx.set_edge_attributes(g, {(p.source, p.target): p for p in self.projections},
                               "projection")
        return g

    def _topology(self) -> nx.DiGraph:
        """Nodes and edges only. Validation uses this: networkx caches views that refer back
        to the graph, so a graph holding the projections would keep their weights alive until
        Python's cycle collector ran."""
        g = nx.DiGraph()
        g.add_nodes_from([INPUT, *(layer.name for layer in self.layers)])
        g.add_edges_from((p.source, p.target) for p in self.projections)
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
    synapse: str = "instant",
    tau_syn_ms: float = 5.0,
    dt_ms: float = 1.0,
    name: str = "network",
    **metadata: Any,
) -> Network:
    """A chain ``input -> hidden_1 -> ... -> output`` of dense projections.

    ``weights[l]`` has shape ``(N_{l+1}, N_l)``; every layer shares the neuron parameters
    (times in milliseconds).
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
                            threshold, reset, refractory, synapse=synapse,
                            tau_syn_ms=tau_syn_ms))
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
