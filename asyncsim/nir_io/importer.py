"""NIR import: a NIR graph (or file) to a :class:`~asyncsim.network.Network`.

Every neuron node (``LIF``, ``IF``, ``CubaLIF``, ``LI``, ``CubaLI``) becomes a layer; every chain
of linear nodes (``Linear``, ``Affine``, ``Scale``, ``Flatten``, ``Conv2d``, ``SumPool2d``,
``Delay``, and the ``Input``/``Output`` nodes of subgraphs) between two of them becomes one
projection: its matrix the product of the chain, its bias (from ``Affine`` and ``Conv2d``
biases, carried through the chain) the target layer's bias, its ``Delay`` a whole number of
timesteps. The node feeding the graph's ``Output`` is the output layer. Recurrent and feedback
chains are kept (their spikes arrive in the next timestep under layer synchronization).

The discrete update of each node comes from a convention (:mod:`.conventions`), because
exporters write their own updates into NIR's continuous-time equations differently; the input
gain is folded into the incoming weights and the bias. Parameters may differ per neuron.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from ..errors import InputError
from ..network import INPUT, ConvProjection, DenseProjection, Layer, Network
from .conventions import discretize, get_convention, to_milliseconds, uniform_or_array

NEURON_NODES = ("LIF", "IF", "CubaLIF", "LI", "CubaLI")
CONV_NODES = ("Conv2d", "SumPool2d")
LINEAR_NODES = ("Linear", "Affine", "Scale", "Flatten", "Conv2d", "SumPool2d", "Delay",
                "Input", "Output")
#: NIR's defaults for fields an older file may lack
DEFAULTS = {"v_reset": 0.0, "v_leak": 0.0, "w_in": 1.0, "r": 1.0}


def _nir():
    try:
        import nir
    except ImportError:
        raise InputError("NIR support needs the nir package: pip install 'asyncsim[nir]'") from None
    return nir


def read_graph(path: str | Path) -> Any:
    """``nir.read`` of ``path``; a file that fails nir's type check (as Rockpool's and sinabs'
    exports do) is read again without it, with a warning."""
    nir = _nir()
    try:
        return nir.read(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as first:  # h5py and nir raise many types for broken files
        try:
            graph = nir.read(str(path), type_check=False)
        except Exception:
            raise InputError(f"{path}: not a readable NIR file ({type(first).__name__}: "
                             f"{' '.join(str(first).split())[:200]})") from None
        warnings.warn(f"{path}: nir's type check failed ({' '.join(str(first).split())[:120]}); "
                      f"read without it, shapes inferred from the parameters", stacklevel=3)
        return graph


def load_nir(path: str | Path, dt_ms: float | None = None, *, convention: str = "nir",
             **options: Any) -> Network:
    """Read a NIR file (HDF5, ``nir.write``) and build a network; see :func:`from_nir`."""
    path = Path(path)
    rules = get_convention(convention)
    if dt_ms is None:
        dt_ms = rules.default_dt_ms
        if dt_ms is None:
            raise InputError(f"{path}: NIR stores no timestep; give dt in milliseconds (--dt) "
                             f"or a framework convention (--nir-convention)")
    graph = read_graph(path)
    try:
        network = from_nir(graph, dt_ms, convention=convention, name=path.stem, **options)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    network.metadata["imported_from"] = str(path)
    return network


def from_nir(graph: Any, dt_ms: float, *, convention: str = "nir", reset: str | None = None,
             refractory: bool = True, name: str = "nir-model",
             max_dense_weights: int = 50_000_000) -> Network:
    """Build a :class:`Network` from a ``nir.NIRGraph``.

    Args:
        graph: the graph.
        dt_ms: the timestep the model runs with, milliseconds.
        convention: how to read the exporter's parameters (:data:`.conventions.CONVENTIONS`:
            ``nir``, ``snntorch``, ``norse``, ``sinabs``, ``rockpool``).
        reset: the reset of every layer (``zero``, ``subtract``, ``subtract_delayed``,
            ``zero_hold``); default: the one asyncsim wrote in the node's metadata, else the
            convention's.
        refractory: asyncsim's refractoriness within a forward pass (NIR has no such notion).
        name: the network's name.
        max_dense_weights: refuse a convolution composed with other linear nodes (expanded
            densely) when its matrix would exceed this many weights.
    """
    if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
        raise InputError(f"dt: expected a timestep in milliseconds > 0, got {dt_ms!r}")
    rules = get_convention(convention)
    g, nodes, kinds, source, sink = _graph(graph)
    neurons = [n for n in nodes if kinds[n] in NEURON_NODES]
    if not neurons:
        raise InputError(f"the graph has no neuron node ({', '.join(NEURON_NODES)})")
    shapes = {source: _io_shape(nodes[source], "input_type")}
    for n in neurons:
        shapes[n] = _neuron_shape(n, nodes[n], [nodes[p] for p in g.predecessors(n)])
    dynamics = {n: _neuron(n, nodes[n], shapes[n], dt_ms, rules, reset, refractory)
                for n in neurons}
    chains, output = _chains(g, kinds, source, sink, dynamics)
    projections: dict[tuple[str, str], Any] = {}
    bias: dict[str, np.ndarray] = defaultdict(float)
    for (src, tgt), paths in chains.items():
        projection, offset = _projection(src, tgt, paths, nodes, kinds, shapes, dynamics,
                                         dt_ms, max_dense_weights)
        projections[(src, tgt)] = projection
        bias[tgt] = bias[tgt] + offset
    order = [n for n in nx.topological_sort(_neuron_graph(projections, neurons, source))
             if n in neurons and n != output]
    names = {source: INPUT, **{n: _layer_name(n, nodes[n]) for n in neurons}}
    layers = []
    for n in [*order, output]:
        params = dynamics[n]["layer"]
        params["reset"] = rules.reset_of(params["reset"], kinds[n].startswith("Cuba"),
                                         (n, n) in projections)
        params["bias"] = uniform_or_array(dynamics[n]["gain"] * bias[n]
                                          + dynamics[n]["drive"])
        layers.append(Layer(names[n], int(np.prod(shapes[n])), **params))
    built = []
    for (s_, t_), p in projections.items():
        p.source, p.target = names[s_], names[t_]
        built.append(p)
    return Network(int(np.prod(shapes[source])), layers, built, dt_ms=float(dt_ms), name=name,
                   metadata={"imported_from": "NIR", "nir_convention": convention})


# -- the graph ----------------------------------------------------------------------------------


def _graph(graph: Any):
    nodes, edges = _flatten(graph)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    kinds = {n: type(node).__name__ for n, node in nodes.items()}
    for n, kind in kinds.items():
        if kind not in NEURON_NODES + LINEAR_NODES:
            raise InputError(f"node '{n}' ({kind}): not supported (supported: "
                             f"{', '.join(NEURON_NODES + LINEAR_NODES)})")
    inputs = [n for n in nodes if kinds[n] == "Input" and g.in_degree(n) == 0]
    outputs = [n for n in nodes if kinds[n] == "Output" and g.out_degree(n) == 0]
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputError(f"expected one Input and one Output node, got inputs {inputs} and "
                         f"outputs {outputs}")
    return g, nodes, kinds, inputs[0], outputs[0]


def _chains(g, kinds, source, sink, dynamics):
    """Linear chains from every source (input, neuron nodes) to the next neuron nodes, and
    the neuron node feeding the output."""
    chains: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    output_layers = set()
    for start in [source, *dynamics]:
        stack = [(succ, []) for succ in g.successors(start)]
        while stack:
            node, chain = stack.pop()
            if node in dynamics:
                chains[(start, node)].append(chain)
            elif node == sink:
                if start == source:
                    raise InputError("a path from Input to Output crosses no neuron node")
                output_layers.add(start)
            elif g.out_degree(node) == 0:
                raise InputError(f"node '{node}' ({kinds[node]}): a dead end (no path onwards)")
            else:
                stack.extend((succ, [*chain, node]) for succ in g.successors(node))
    if len(output_layers) != 1:
        raise InputError(f"expected one neuron node feeding Output, got {sorted(output_layers)}")
    return chains, output_layers.pop()


def _projection(src, tgt, paths, nodes, kinds, shapes, dynamics, dt_ms, max_dense):
    """The projection from ``src`` to ``tgt`` (its weights scaled by the target's input gain)
    and the bias its chains add to the target (before the gain)."""
    gain = dynamics[tgt]["gain"]
    steps = [[n for n in path if kinds[n] not in ("Input", "Output")] for path in paths]
    delays = {_chain_delay(path, nodes, kinds, dt_ms) for path in steps}
    if len(delays) != 1:
        raise InputError(f"nodes '{src}' -> '{tgt}': chains with different delays {delays}")
    delay = delays.pop()
    size = int(np.prod(shapes[tgt]))
    if len(steps) == 1 and len(steps[0]) == 1 and kinds[steps[0][0]] in CONV_NODES and (
            np.all(gain == gain[0])):
        conv, offset = _conv_projection(steps[0][0], nodes[steps[0][0]], kinds[steps[0][0]],
                                        shapes[src])
        if conv.target_size != size:
            raise InputError(f"node '{tgt}': receives {conv.target_size} values, has {size} "
                             f"neurons")
        conv.weight = conv.weight * gain[0]
        conv.delay = delay
        return conv, offset
    total, offset = 0, np.zeros(size)
    for path in steps:
        matrix, shift, shape = np.eye(int(np.prod(shapes[src]))), 0.0, shapes[src]
        for n in path:
            matrix, shift, shape = _apply(n, nodes[n], kinds[n], matrix, shift, shape,
                                          max_dense)
        if matrix.shape[0] != size:
            raise InputError(f"node '{tgt}': receives {matrix.shape[0]} values, has {size} "
                             f"neurons")
        total = total + matrix
        offset = offset + shift
    return DenseProjection("s", "t", total * gain[:, None], delay=delay), offset


def _chain_delay(path: list[str], nodes, kinds, dt_ms: float) -> int:
    """The chain's ``Delay`` nodes as whole timesteps."""
    seconds = 0.0
    for n in path:
        if kinds[n] == "Delay":
            d = np.asarray(nodes[n].delay, dtype=np.float64).ravel()
            if d.size == 0 or not np.allclose(d, d[0], rtol=1e-9, atol=0):
                raise InputError(f"node '{n}' (Delay): delays differ between elements; one "
                                 f"delay per projection is supported")
            seconds += float(d[0])
    steps = seconds / (dt_ms / 1000.0)
    if not math.isfinite(steps) or steps < -1e-9 or abs(steps - round(steps)) > 1e-6:
        raise InputError(f"delay of {seconds:g} s: expected a whole number of timesteps of "
                         f"{dt_ms:g} ms")
    return int(round(steps))


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges with nested graphs inlined (their Input/Output become pass-throughs)."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        if type(node).__name__ == "NIRGraph":
            inner, inner_edges = _flatten(node, f"{prefix}{name}.")
            nodes.update(inner)
            edges += inner_edges
            ins = [n for n in inner if type(inner[n]).__name__ == "Input"
                   and n.count(".") == (prefix + name).count(".") + 1]
            outs = [n for n in inner if type(inner[n]).__name__ == "Output"
                    and n.count(".") == (prefix + name).count(".") + 1]
            if len(ins) != 1 or len(outs) != 1:
                raise InputError(f"node '{prefix}{name}' (NIRGraph): expected one Input and "
                                 f"one Output inside")
            entry[name], exit_[name] = ins[0], outs[0]
        else:
            nodes[prefix + name] = node
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in graph.nodes:
                raise InputError(f"edge ({src}, {dst}): node '{end}' does not exist")
        edges.append((exit_.get(src, prefix + src), entry.get(dst, prefix + dst)))
    return nodes, edges


# -- shapes and neurons -------------------------------------------------------------------------


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A leading batch or time dimension of 1 in a vector shape (``[1, 24]``) is dropped."""
    return shape[1:] if len(shape) == 2 and shape[0] == 1 else shape


def _io_shape(node: Any, field: str) -> tuple[int, ...]:
    types = getattr(node, field)
    value = next(iter(types.values())) if isinstance(types, dict) else types
    shape = _squeeze(tuple(int(v) for v in np.atleast_1d(np.asarray(value))))
    if not shape or min(shape) < 1:
        raise InputError(f"Input node: {field} {value!r}: expected a shape of sizes >= 1")
    return shape


def _neuron_shape(name: str, node: Any, feeders: list[Any] = ()) -> tuple[int, ...]:
    """Layer shape from per-neuron parameters, else the node's input type, else the weights
    of the node feeding it."""
    for field in ("v_threshold", "tau", "tau_mem", "r"):
        value = np.asarray(getattr(node, field, 0.0))
        if value.size > 1:
            return _squeeze(value.shape)
    declared = getattr(node, "input_type", None) or {}
    for v in declared.values():
        shape = _squeeze(tuple(int(x) for x in np.ravel(v)))
        if shape and min(shape) >= 1:
            return shape
    for feeder in feeders:
        weight = getattr(feeder, "weight", None)
        if type(feeder).__name__ in ("Linear", "Affine") and weight is not None:
            return (int(np.shape(weight)[0]),)
    raise InputError(f"node '{name}' ({type(node).__name__}): cannot tell its number of "
                     f"neurons (scalar parameters, no input type, not fed by Linear)")


def _field(name: str, kind: str, node: Any, field: str, size: int) -> np.ndarray:
    """A parameter as ``size`` finite numbers (missing fields take NIR's defaults)."""
    value = getattr(node, field, None)
    if value is None:
        value = DEFAULTS.get(field, 0.0)
    a = np.asarray(value, dtype=np.float64).ravel()
    if a.size not in (1, size) or not np.all(np.isfinite(a)):
        raise InputError(f"node '{name}' ({kind}): field '{field}': expected 1 or {size} "
                         f"finite numbers, got {a.size}")
    return np.broadcast_to(a, (size,)).copy()


def _neuron(name: str, node: Any, shape: tuple[int, ...], dt_ms: float, rules,
            reset: str | None, refractory: bool) -> dict[str, Any]:
    """The layer parameters of a neuron node, its input gain (per neuron) and drive."""
    kind = type(node).__name__
    meta = (getattr(node, "metadata", None) or {}).get("asyncsim", {})
    size = int(np.prod(shape))
    fields = {"IF": ("r",), "LIF": ("tau", "r", "v_leak"), "LI": ("tau", "r", "v_leak"),
              "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
              "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in")}[kind]
    p = {f: _field(name, kind, node, f, size) for f in fields}
    fires = kind not in ("LI", "CubaLI")
    if fires and np.any(_field(name, kind, node, "v_reset", size) != 0):
        raise InputError(f"node '{name}' ({kind}): field 'v_reset' must be 0 (the reset mode "
                         f"is chosen with --reset)")
    d = discretize(kind, p, rules, dt_ms / 1000.0, f"node '{name}' ({kind})")
    layer: dict[str, Any] = dict(
        reset=reset or meta.get("reset", rules.default_reset),
        refractory=bool(meta.get("refractory", refractory)))
    if fires:
        layer["threshold"] = uniform_or_array(_field(name, kind, node, "v_threshold", size))
    if d["beta"] is None:
        layer.update(neuron="if", tau_m_ms=float(meta.get("tau_m_ms", 1.0)))
    else:
        layer.update(neuron="lif" if fires else "li", tau_m_ms=to_milliseconds(d["beta"], dt_ms))
    if d["alpha"] is not None:
        layer["synapse"] = "current"
        layer["tau_syn_ms"] = to_milliseconds(np.maximum(d["alpha"], 1e-300), dt_ms)
    return {"layer": layer, "gain": d["gain"], "drive": d["drive"]}


# -- linear nodes -------------------------------------------------------------------------------


def _apply(name: str, node: Any, kind: str, matrix: np.ndarray, shift: Any,
           shape: tuple[int, ...], max_dense: int):
    """The chain's matrix, constant offset and value shape after a linear node."""
    n = matrix.shape[0]
    if kind in ("Input", "Output", "Delay"):
        return matrix, shift, shape
    if kind == "Flatten":
        return matrix, shift, (n,)
    if kind == "Scale":
        scale = np.asarray(node.scale, dtype=np.float64).ravel()
        if scale.size not in (1, n):
            raise InputError(f"node '{name}' (Scale): {scale.size} factors for {n} values")
        return matrix * scale[:, None], shift * scale, shape
    if kind in ("Linear", "Affine"):
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != n:
            raise InputError(f"node '{name}' ({kind}): weight shape {w.shape}, expected "
                             f"(outputs, {n})")
        shift = w @ np.broadcast_to(shift, (n,))
        if kind == "Affine":
            shift = shift + np.broadcast_to(np.asarray(node.bias, dtype=np.float64).ravel(),
                                            (w.shape[0],))
        return w @ matrix, shift, (w.shape[0],)
    conv, offset = _conv_projection(name, node, kind, shape)
    if conv.target_size * n > max_dense:
        raise InputError(f"node '{name}' ({kind}): composed with other nodes it needs a dense "
                         f"matrix of {conv.target_size * n} weights (more than {max_dense}); "
                         f"put neurons directly after it for a convolutional projection")
    rows, cols, where = conv.synapses()
    dense = np.zeros((conv.target_size, n))
    np.add.at(dense, (rows, cols), conv.weight.ravel()[where])
    return dense @ matrix, dense @ np.broadcast_to(shift, (n,)) + offset, conv.output_shape


def _conv_projection(name: str, node: Any, kind: str, shape: tuple[int, ...]):
    """A Conv2d or SumPool2d node on a source of ``shape`` as a convolutional projection,
    and its bias per output neuron."""
    n = int(np.prod(shape))
    raw = getattr(node, "input_shape", None)
    declared = () if raw is None else tuple(int(v) for v in np.ravel(raw))
    in_shape = shape
    if kind == "Conv2d" and len(declared) == 2:
        in_shape = (int(np.shape(node.weight)[1]) * int(node.groups), *declared)
    if len(in_shape) != 3 or int(np.prod(in_shape)) != n:
        raise InputError(f"node '{name}' ({kind}): input shape {in_shape} does not fit "
                         f"{n} values; expected (channels, height, width)")
    if isinstance(getattr(node, "padding", 0), str):
        raise InputError(f"node '{name}' ({kind}): string padding {node.padding!r} is not "
                         f"supported; give numbers")
    try:
        if kind == "Conv2d":
            conv = ConvProjection("s", "t", np.asarray(node.weight, dtype=np.float64),
                                  in_shape, node.stride, node.padding,
                                  getattr(node, "dilation", 1), int(node.groups))
            channels, height, width = conv.output_shape
            bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64).ravel(),
                                   (channels,))
            return conv, np.repeat(bias, height * width)
        kh, kw = (int(v) for v in np.broadcast_to(np.ravel(node.kernel_size), (2,)))
        conv = ConvProjection("s", "t", np.ones((in_shape[0], 1, kh, kw)), in_shape,
                              node.stride, node.padding, 1, in_shape[0])
        return conv, np.zeros(conv.target_size)
    except InputError as exc:
        raise InputError(f"node '{name}' ({kind}): {exc}") from None


def _neuron_graph(projections: dict[tuple[str, str], Any], neurons: list[str],
                  source: str) -> nx.DiGraph:
    """Layers in an order where every source comes first: edges that close a cycle in a
    depth-first walk from the input (recurrent and feedback projections) are left out."""
    g = nx.DiGraph()
    g.add_nodes_from([source, *neurons])
    g.add_edges_from(k for k in projections if k[0] != k[1])
    back, stack = set(), []
    for u, v, direction in nx.dfs_labeled_edges(g, source):
        if direction == "forward":
            stack.append(v)
        elif direction == "reverse":
            stack.pop()
        elif direction == "nontree" and v in stack:
            back.add((u, v))
    g.remove_edges_from(back)
    while not nx.is_directed_acyclic_graph(g):
        g.remove_edge(*nx.find_cycle(g)[-1])
    return g


def _layer_name(key: str, node: Any) -> str:
    """The layer's asyncsim name if it was exported by asyncsim, else the node's key."""
    meta = (getattr(node, "metadata", None) or {}).get("asyncsim", {})
    name = str(meta.get("name", key))
    return "input_" if name == INPUT else name
