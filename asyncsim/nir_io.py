"""NIR (Neuromorphic Intermediate Representation) import and export (optional extra ``nir``).

Import (:func:`from_nir`, :func:`load_nir`) turns a NIR graph into a :class:`Network`: every
``LIF`` or ``IF`` node becomes a layer; every chain of linear nodes (``Linear``, ``Affine`` with
zero bias, ``Scale``, ``Flatten``, ``Conv2d``, ``SumPool2d``, and the ``Input``/``Output`` nodes
inside subgraphs) between two of them becomes one projection, its matrix the product of the
chain. The node feeding the graph's ``Output`` is the output layer.

NIR stores continuous-time dynamics and no timestep; the importer takes ``dt_ms`` and
discretizes with forward Euler, ``v <- v + dt / tau (v_leak - v + r I)``, which is what the
exporting frameworks simulate:

* LIF: decay per timestep ``beta = 1 - dt / tau`` and input gain ``r dt / tau`` (folded into the
  incoming weights). asyncsim's decay is ``exp(-dt / tau_m)``, so ``tau_m_ms = -dt_ms /
  ln(beta)`` reproduces ``beta`` exactly. snnTorch exports ``tau = dt / (1 - beta)`` and
  ``r = tau / dt`` with its own ``dt = 1e-4`` s: import snnTorch graphs with ``dt_ms=0.1`` to get
  its ``beta`` and a gain of 1. Norse exports time constants in seconds for its ``dt`` (default
  1 ms): use that ``dt``. Rockpool and Lava-dl: use the timestep the model was trained with.
* IF: no decay, gain ``r``.
* Reset: NIR resets to ``v_reset`` (reset to zero: ``reset="hard"``, which must be 0). Some
  frameworks (sinabs, snnTorch's ``reset_mechanism="subtract"``) subtract the threshold
  instead, and export the same NIR: pass ``reset="soft"``.
* Weights are ``(out, in)`` as in NIR (PyTorch's convention). Rockpool's own matrices are
  ``(in, out)``, but its NIR export already transposes them.
* ``v_leak`` must be 0 and thresholds, time constants and resets uniform within a node;
  ``CubaLIF`` (current-based synapses) is refused: the kernel delivers each spike's current at
  once, it has no synaptic-current state. ``Affine`` biases must be 0 (constant input currents
  are not modelled).

``Conv2d`` and ``SumPool2d`` are expanded into dense matrices (exact; memory grows with
inputs x outputs, so large convolutional layers are refused above ``max_dense_weights``).

Export (:func:`to_nir`, :func:`save_nir`) writes ``Input -> Linear -> LIF/IF -> ... -> Output``
with ``tau = dt / (1 - decay)`` and ``r = tau / dt`` (gain 1), so that importing with the same
``dt_ms`` gives the same network back; asyncsim-only settings (soft reset, refractoriness, names)
travel in each node's ``metadata["asyncsim"]``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from .errors import InputError
from .network import INPUT, ConvProjection, DenseProjection, Layer, Network

NEURON_NODES = ("LIF", "IF")
CONV_NODES = ("Conv2d", "SumPool2d")
LINEAR_NODES = ("Linear", "Affine", "Scale", "Flatten", "Conv2d", "SumPool2d", "Input",
                "Output")


def _nir():
    try:
        import nir
    except ImportError:
        raise InputError("NIR support needs the nir package: pip install 'asyncsim[nir]'") from None
    return nir


def load_nir(path: str | Path, dt_ms: float | None, **options: Any) -> Network:
    """Read a NIR file (HDF5, ``nir.write``) and build a network; see :func:`from_nir`."""
    nir = _nir()
    path = Path(path)
    if dt_ms is None:
        raise InputError(f"{path}: NIR stores no timestep; give dt in milliseconds (--dt)")
    try:
        graph = nir.read(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # h5py and nir raise many types for broken files
        raise InputError(f"{path}: not a readable NIR file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    try:
        network = from_nir(graph, dt_ms, name=path.stem, **options)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    network.metadata.setdefault("imported_from", str(path))
    return network


def from_nir(graph: Any, dt_ms: float, *, reset: str | None = None, refractory: bool = True,
             name: str = "nir-model", max_dense_weights: int = 50_000_000) -> Network:
    """Build a :class:`Network` from a ``nir.NIRGraph``.

    Args:
        graph: the NIR graph (nested subgraphs are flattened).
        dt_ms: timestep in milliseconds used to discretize the dynamics (see the module
            documentation for each framework).
        reset: ``"hard"`` or ``"soft"`` for every layer; default: the node's
            ``metadata["asyncsim"]["reset"]`` if exported by asyncsim, else ``"hard"``.
        refractory: asyncsim's refractoriness within a forward pass (NIR has no such notion).
        name: the network's name.
        max_dense_weights: refuse a convolution composed with other linear nodes (expanded
            densely) when its matrix would exceed this many weights.
    """
    if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
        raise InputError(f"dt: expected a timestep in milliseconds > 0, got {dt_ms!r}")
    nodes, edges = _flatten(graph)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    kinds = {n: type(node).__name__ for n, node in nodes.items()}
    for n, kind in kinds.items():
        if kind == "CubaLIF":
            raise InputError(f"node '{n}' (CubaLIF): current-based synapses are not supported: "
                             f"the kernel delivers each spike's current at once and keeps no "
                             f"synaptic current state")
        if kind not in NEURON_NODES + LINEAR_NODES:
            raise InputError(f"node '{n}' ({kind}): not supported (supported: "
                             f"{', '.join(NEURON_NODES + LINEAR_NODES)})")
    inputs = [n for n in nodes if kinds[n] == "Input" and g.in_degree(n) == 0]
    outputs = [n for n in nodes if kinds[n] == "Output" and g.out_degree(n) == 0]
    if len(inputs) != 1 or len(outputs) != 1:
        raise InputError(f"expected one Input and one Output node, got inputs {inputs} and "
                         f"outputs {outputs}")
    neurons = [n for n in nodes if kinds[n] in NEURON_NODES]
    if not neurons:
        raise InputError("the graph has no LIF or IF node")
    shapes = {inputs[0]: _io_shape(nodes[inputs[0]], "input_type")}
    for n in neurons:
        shapes[n] = _neuron_shape(n, nodes[n], [nodes[p] for p in g.predecessors(n)])
    layers_params = {n: _neuron(n, nodes[n], shapes[n], dt_ms, reset, refractory)
                     for n in neurons}
    # projections: walk linear chains from every source to the next neuron nodes
    chains: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    output_layers = set()
    for source in [inputs[0], *neurons]:
        stack = [(succ, []) for succ in g.successors(source)]
        while stack:
            node, chain = stack.pop()
            if node in layers_params:
                chains[(source, node)].append(chain)
            elif node == outputs[0]:
                if source == inputs[0]:
                    raise InputError("a path from Input to Output crosses no neuron node")
                output_layers.add(source)
            elif g.out_degree(node) == 0:
                raise InputError(f"node '{node}' ({kinds[node]}): a dead end (no path onwards)")
            else:
                stack.extend((succ, [*chain, node]) for succ in g.successors(node))
    projections: dict[tuple[str, str], Any] = {}
    for (source, target), paths in chains.items():
        gain = layers_params[target]["gain"]
        steps = [[n for n in path if kinds[n] not in ("Input", "Output")] for path in paths]
        if len(steps) == 1 and len(steps[0]) == 1 and kinds[steps[0][0]] in CONV_NODES and (
                np.all(gain == gain[0])):
            conv = _conv_projection(steps[0][0], nodes[steps[0][0]], kinds[steps[0][0]],
                                    shapes[source])
            conv.weight = conv.weight * gain[0]
            if conv.target_size != int(np.prod(shapes[target])):
                raise InputError(f"node '{target}' ({kinds[target]}): receives "
                                 f"{conv.target_size} values, has {np.prod(shapes[target])} "
                                 f"neurons")
            projections[(source, target)] = conv
            continue
        total = 0
        for path in paths:
            matrix, shape = np.eye(int(np.prod(shapes[source]))), shapes[source]
            for n in path:
                matrix, shape = _apply(n, nodes[n], kinds[n], matrix, shape, max_dense_weights)
            expected = int(np.prod(shapes[target]))
            if matrix.shape[0] != expected:
                raise InputError(f"node '{target}' ({kinds[target]}): receives "
                                 f"{matrix.shape[0]} values, has {expected} neurons")
            total = total + matrix
        projections[(source, target)] = total * gain[:, None]
    if len(output_layers) != 1:
        raise InputError(f"expected one neuron node feeding Output, got {sorted(output_layers)}")
    output = output_layers.pop()
    order = [n for n in nx.topological_sort(_neuron_graph(projections, neurons))
             if n != output]
    names = {inputs[0]: INPUT, **{n: _layer_name(n, nodes[n]) for n in neurons}}
    layers = [Layer(names[n], int(np.prod(shapes[n])),
                    **{k: v for k, v in layers_params[n].items() if k != "gain"})
              for n in [*order, output]]
    built = []
    for (s_, t_), value in projections.items():
        if isinstance(value, ConvProjection):
            value.source, value.target = names[s_], names[t_]
            built.append(value)
        else:
            built.append(DenseProjection(names[s_], names[t_], value))
    return Network(int(np.prod(shapes[inputs[0]])), layers, built, dt_ms=float(dt_ms),
                   name=name, metadata={"imported_from": "NIR"})


def to_nir(network: Network) -> Any:
    """A ``nir.NIRGraph`` of ``network`` (see the module documentation). Populations that a
    convolution reads or writes keep their ``(channels, height, width)`` shape, with a
    ``Flatten`` before any dense projection they feed."""
    nir = _nir()
    dt_s = network.dt_ms / 1000.0
    key_of = _node_keys(network)
    shapes: dict[str, tuple[int, ...]] = {INPUT: (network.input_size,)}
    shapes.update({layer.name: (layer.size,) for layer in network.layers})
    for p in network.projections:
        if isinstance(p, ConvProjection):
            shapes[p.source], shapes[p.target] = p.input_shape, p.output_shape
    nodes: dict[str, Any] = {INPUT: nir.Input(input_type={"input": np.array(shapes[INPUT])})}
    edges = []
    for layer in network.layers:
        extra = {"asyncsim": {"reset": layer.reset, "refractory": layer.refractory,
                              "name": layer.name, "tau_m_ms": layer.tau_m_ms}}
        shape = shapes[layer.name]
        threshold = np.full(shape, layer.threshold)
        zeros = np.zeros(shape)
        if layer.neuron == "if":
            node = nir.IF(r=np.ones(shape), v_threshold=threshold, v_reset=zeros)
        else:
            decay = layer.decay_per_step(network.dt_ms)
            tau = np.full(shape, dt_s / (1.0 - decay))
            node = nir.LIF(tau=tau, r=tau / dt_s, v_leak=zeros, v_threshold=threshold,
                           v_reset=zeros)
        node.metadata = extra
        nodes[key_of[layer.name]] = node
    for p in network.projections:
        source, target = key_of[p.source], key_of[p.target]
        key = f"{source}->{target}"
        if isinstance(p, ConvProjection):
            nodes[key] = nir.Conv2d(input_shape=p.input_shape[1:], weight=np.array(p.weight),
                                    stride=p.stride, padding=p.padding, dilation=p.dilation,
                                    groups=p.groups, bias=np.zeros(p.weight.shape[0]))
            edges += [(source, key), (key, target)]
            continue
        nodes[key] = nir.Linear(weight=np.array(p.weight))
        if len(shapes[p.source]) > 1:
            flat = f"{source}.flatten"
            if flat not in nodes:
                nodes[flat] = nir.Flatten(start_dim=0, end_dim=-1, input_type={
                    "input": np.array(shapes[p.source])})
                edges.append((source, flat))
            edges.append((flat, key))
        else:
            edges.append((source, key))
        edges.append((key, target))
    out = "output" if "output" not in nodes else "output_node"
    nodes[out] = nir.Output(output_type={"output": np.array(shapes[network.layers[-1].name])})
    edges.append((key_of[network.layers[-1].name], out))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={
        "asyncsim": {"name": network.name, "dt_ms": network.dt_ms}})


def save_nir(network: Network, path: str | Path) -> None:
    """Write ``network`` as a NIR file (HDF5)."""
    nir = _nir()
    from .atomic import write_bytes_atomic

    tmp = Path(path).with_name(f".{Path(path).name}.tmp.nir")
    try:
        nir.write(str(tmp), to_nir(network))
        write_bytes_atomic(path, tmp.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)


# -- helpers --------------------------------------------------------------------------------
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


def _io_shape(node: Any, field: str) -> tuple[int, ...]:
    types = getattr(node, field)
    value = next(iter(types.values())) if isinstance(types, dict) else types
    shape = tuple(int(v) for v in np.atleast_1d(np.asarray(value)))
    if not shape or min(shape) < 1:
        raise InputError(f"Input node: {field} {value!r}: expected a shape of sizes >= 1")
    return shape


def _neuron_shape(name: str, node: Any, feeders: list[Any] = ()) -> tuple[int, ...]:
    """Layer shape from per-neuron parameters, else the node's input type, else the weights
    of the node feeding it."""
    value = np.asarray(node.v_threshold)
    if value.size > 1:
        return value.shape
    declared = getattr(node, "input_type", None) or {}
    for v in declared.values():
        shape = tuple(int(x) for x in np.ravel(v))
        if shape and min(shape) >= 1:
            return shape
    for feeder in feeders:
        weight = getattr(feeder, "weight", None)
        if type(feeder).__name__ in ("Linear", "Affine") and weight is not None:
            return (int(np.shape(weight)[0]),)
    raise InputError(f"node '{name}' ({type(node).__name__}): cannot tell its number of "
                     f"neurons (scalar parameters, no input type, not fed by Linear)")


def _uniform(name: str, kind: str, field: str, value: Any) -> float:
    a = np.asarray(value, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise InputError(f"node '{name}' ({kind}): field '{field}' must be finite numbers")
    if not np.allclose(a, a[0], rtol=1e-9, atol=0):
        raise InputError(f"node '{name}' ({kind}): field '{field}' differs between neurons; "
                         f"asyncsim layers share it")
    return float(a[0])


def _neuron(name: str, node: Any, shape: tuple[int, ...], dt_ms: float, reset: str | None,
            refractory: bool) -> dict[str, Any]:
    kind = type(node).__name__
    meta = (getattr(node, "metadata", None) or {}).get("asyncsim", {})
    size = int(np.prod(shape))
    if _uniform(name, kind, "v_reset", node.v_reset) != 0.0:
        raise InputError(f"node '{name}' ({kind}): field 'v_reset' must be 0 (reset to zero, "
                         f"or pass reset='soft' for reset by subtraction)")
    r = np.broadcast_to(np.asarray(node.r, dtype=np.float64).ravel(), (size,)) if np.size(
        node.r) in (1, size) else None
    if r is None:
        raise InputError(f"node '{name}' ({kind}): field 'r' has {np.size(node.r)} values for "
                         f"{size} neurons")
    params: dict[str, Any] = dict(threshold=_uniform(name, kind, "v_threshold", node.v_threshold),
                                  reset=reset or meta.get("reset", "hard"),
                                  refractory=bool(meta.get("refractory", refractory)))
    if kind == "IF":  # no decay; an asyncsim export keeps the unused time constant too
        params.update(neuron="if", gain=r.copy(), tau_m_ms=float(meta.get("tau_m_ms", 1.0)))
        return params
    if _uniform(name, kind, "v_leak", node.v_leak) != 0.0:
        raise InputError(f"node '{name}' ({kind}): field 'v_leak' must be 0")
    tau_s = _uniform(name, kind, "tau", node.tau)
    beta = 1.0 - (dt_ms / 1000.0) / tau_s
    if not 0.0 < beta < 1.0:
        raise InputError(f"node '{name}' ({kind}): tau {tau_s} s with dt {dt_ms} ms gives a "
                         f"decay of {beta:.4g} per step; expected dt < tau (check --dt)")
    params.update(neuron="lif", tau_m_ms=-dt_ms / math.log(beta),
                  gain=r * (dt_ms / 1000.0) / tau_s)
    return params


def _apply(name: str, node: Any, kind: str, matrix: np.ndarray, shape: tuple[int, ...],
           max_dense: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """The chain's matrix and value shape after a linear node."""
    n = matrix.shape[0]
    if kind in ("Input", "Output"):
        return matrix, shape
    if kind == "Flatten":
        return matrix, (n,)
    if kind == "Scale":
        scale = np.asarray(node.scale, dtype=np.float64).ravel()
        if scale.size not in (1, n):
            raise InputError(f"node '{name}' (Scale): {scale.size} factors for {n} values")
        return matrix * scale[:, None], shape
    if kind in ("Linear", "Affine"):
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != n:
            raise InputError(f"node '{name}' ({kind}): weight shape {w.shape}, expected "
                             f"(outputs, {n})")
        if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
            raise InputError(f"node '{name}' (Affine): non-zero bias: constant input currents "
                             f"are not modelled; fold it away or use Linear")
        return w @ matrix, (w.shape[0],)
    dense, out_shape = _conv_matrix(name, node, kind, shape, n, max_dense)
    return dense @ matrix, out_shape


def _conv_projection(name: str, node: Any, kind: str, shape: tuple[int, ...],
                     ) -> ConvProjection:
    """A Conv2d or SumPool2d node on a source of ``shape`` as a convolutional projection."""
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
            if np.any(np.asarray(node.bias) != 0):
                raise InputError(f"node '{name}' (Conv2d): non-zero bias is not modelled")
            return ConvProjection("s", "t", np.asarray(node.weight, dtype=np.float64),
                                  in_shape, node.stride, node.padding,
                                  getattr(node, "dilation", 1), int(node.groups))
        kh, kw = (int(v) for v in np.broadcast_to(np.ravel(node.kernel_size), (2,)))
        return ConvProjection("s", "t", np.ones((in_shape[0], 1, kh, kw)), in_shape,
                              node.stride, node.padding, 1, in_shape[0])
    except InputError as exc:
        raise InputError(f"node '{name}' ({kind}): {exc}") from None


def _conv_matrix(name: str, node: Any, kind: str, shape: tuple[int, ...], n: int,
                 max_dense: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Dense (outputs x inputs) matrix of a Conv2d or SumPool2d, for chains that compose it
    with other linear nodes."""
    conv = _conv_projection(name, node, kind, shape)
    if conv.target_size * n > max_dense:
        raise InputError(f"node '{name}' ({kind}): composed with other nodes it needs a dense "
                         f"matrix of {conv.target_size * n} weights (more than {max_dense}); "
                         f"put neurons directly after it for a convolutional projection")
    rows, cols, where = conv.synapses()
    dense = np.zeros((conv.target_size, n))
    np.add.at(dense, (rows, cols), conv.weight.ravel()[where])
    return dense, conv.output_shape


def _neuron_graph(matrices: dict[tuple[str, str], Any], neurons: list[str]) -> nx.DiGraph:
    """Layers in an order where every source comes first, recurrent edges ignored."""
    g = nx.DiGraph()
    g.add_nodes_from(neurons)
    g.add_edges_from(k for k in matrices if k[0] in neurons and k[0] != k[1])
    while not nx.is_directed_acyclic_graph(g):
        g.remove_edge(*nx.find_cycle(g)[-1])
    return g


def _layer_name(key: str, node: Any) -> str:
    """The layer's asyncsim name if it was exported by asyncsim, else the node's key."""
    meta = (getattr(node, "metadata", None) or {}).get("asyncsim", {})
    name = str(meta.get("name", key))
    return "input_" if name == INPUT else name

