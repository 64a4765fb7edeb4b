"""Flatten a :class:`~asyncsim.network.Network` into the arrays the kernel reads.

Sources are numbered ``0 .. N-1`` for neurons (layer after layer, in the network's layer order)
and ``N .. N+N_in-1`` for input features. Outgoing synapses of source ``s`` are
``targets[fanout_start[s]:fanout_start[s+1]]`` with matching ``weights``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .limits import check_memory
from .network import INPUT, DenseProjection, Network


@dataclass(frozen=True)
class CompiledNetwork:
    """Flat, kernel-ready form of a network (all arrays are read-only views).

    Attributes:
        fanout_start: (N + N_in + 1,) int64 CSR row pointers over sources.
        targets: (synapses,) int64 target neuron index of each synapse.
        weights: (synapses,) float64 synaptic weight.
        target_first: (N + N_in,) int64 first target of each source whose targets form one
            contiguous run (as every dense projection's do), else -1; the kernel delivers
            such runs with vectorized loops.
        nonzero_fanout: (N + N_in,) int64 synapses with a non-zero weight per source.
        layer_of: (N,) int64 layer index of each neuron.
        threshold, decay: (N,) float64 firing threshold and per-timestep membrane factor.
        soft_reset, refractory, is_output: (N,) uint8 flags.
        fanin: (N,) int64 number of presynaptic sources (neurons and input features).
        input_fanin: (N,) int64 number of presynaptic input features.
        layer_offsets: (L + 1,) int64 first neuron index of each layer, then N.
    """

    fanout_start: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    target_first: np.ndarray
    nonzero_fanout: np.ndarray
    layer_of: np.ndarray
    threshold: np.ndarray
    decay: np.ndarray
    soft_reset: np.ndarray
    refractory: np.ndarray
    is_output: np.ndarray
    fanin: np.ndarray
    input_fanin: np.ndarray
    layer_offsets: np.ndarray
    n_inputs: int

    @property
    def n_neurons(self) -> int:
        return int(self.layer_of.shape[0])

    @property
    def n_layers(self) -> int:
        return int(self.layer_offsets.shape[0] - 1)

    @property
    def output_offset(self) -> int:
        return int(self.layer_offsets[-2])

    @property
    def n_outputs(self) -> int:
        return int(self.layer_offsets[-1] - self.layer_offsets[-2])


#: bytes per synapse while compiling (index arrays, sort order, the final CSR table)
BYTES_PER_SYNAPSE = 100


def compile_network(network: Network, allow_large: bool = False) -> CompiledNetwork:
    """Build the flat arrays of ``network`` (cost: one pass over all synapses). A network whose
    synapses would not fit in this machine's memory share is refused first, with the estimate
    (unless ``allow_large``)."""
    n_synapses = sum(p.n_synapses for p in network.projections)
    check_memory(float(n_synapses) * BYTES_PER_SYNAPSE,
                 f"network '{network.name}' ({network.n_neurons:,} neurons, {n_synapses:,} "
                 f"synapses)", allow_large)
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    n = int(offsets[-1])
    n_in = network.input_size
    first = {layer.name: int(offsets[i]) for i, layer in enumerate(network.layers)}
    first[INPUT] = n

    structure = _structure(network, offsets, n, n_in, first)
    order = structure["order"]
    weights = np.concatenate([p.weight.ravel() for p in network.projections])[
        structure["weight_index"][order]] if network.projections else np.zeros(0)
    sources = structure["sources"]
    nonzero_fanout = np.bincount(sources[weights != 0], minlength=n + n_in).astype(np.int64)
    per_neuron = {key: np.empty(n) for key in ("threshold", "decay")}
    flags = {key: np.zeros(n, dtype=np.uint8) for key in ("soft_reset", "refractory", "is_output")}
    layer_of = np.empty(n, dtype=np.int64)
    for i, layer in enumerate(network.layers):
        sl = slice(int(offsets[i]), int(offsets[i + 1]))
        layer_of[sl] = i
        per_neuron["threshold"][sl] = layer.threshold
        per_neuron["decay"][sl] = layer.decay_per_step(network.dt_ms)
        flags["soft_reset"][sl] = layer.reset == "soft"
        flags["refractory"][sl] = layer.refractory
    flags["is_output"][int(offsets[-2]):] = 1

    arrays = dict(
        fanout_start=structure["fanout_start"],
        targets=structure["targets"],
        weights=weights.astype(np.float64),
        target_first=structure["target_first"],
        nonzero_fanout=nonzero_fanout,
        layer_of=layer_of,
        fanin=structure["fanin"],
        input_fanin=structure["input_fanin"],
        layer_offsets=offsets,
        **per_neuron,
        **flags,
    )
    for a in arrays.values():
        a.setflags(write=False)
    return CompiledNetwork(n_inputs=n_in, **arrays)


_STRUCTURES: dict = {}  # topology signature -> synapse order and CSR arrays (weights excluded)


def _structure(network: Network, offsets, n: int, n_in: int, first: dict) -> dict:
    """The parts of the flat form that depend on the topology only, cached: training compiles
    the same topology with new weights at every batch."""
    signature = (n_in, tuple(offsets.tolist()),
                 tuple(p.topology_key() for p in network.projections))
    if signature in _STRUCTURES:
        return _STRUCTURES[signature]
    src_parts, tgt_parts, weight_parts, owner_parts = [], [], [], []
    weight_start = 0
    for k, p in enumerate(network.projections):
        rows, cols, weight_index = p.synapses()
        src_parts.append(cols + first[p.source])
        tgt_parts.append(rows + first[p.target])
        weight_parts.append(weight_index + weight_start)
        owner_parts.append(np.full(rows.shape[0], k, dtype=np.int64))
        weight_start += p.weight.size
    empty = np.zeros(0, np.int64)
    sources = np.concatenate(src_parts) if src_parts else empty
    targets = np.concatenate(tgt_parts) if tgt_parts else empty
    weight_index = np.concatenate(weight_parts) if weight_parts else empty
    projection_of = np.concatenate(owner_parts) if owner_parts else empty
    order = np.argsort(sources * (n + 1) + targets, kind="stable")
    sources, targets = sources[order], targets[order].astype(np.int64)
    fanout_start = np.zeros(n + n_in + 1, dtype=np.int64)
    fanout_start[1:] = np.cumsum(np.bincount(sources, minlength=n + n_in))
    position = np.empty_like(order)
    position[order] = np.arange(order.shape[0])
    structure = {
        "order": order, "position": position, "sources": sources, "targets": targets,
        "weight_index": weight_index, "projection_of": projection_of,
        "fanout_start": fanout_start,
        "target_first": _contiguous_run_starts(fanout_start, targets),
        "fanin": np.bincount(targets, minlength=n).astype(np.int64),
        "input_fanin": np.bincount(targets[sources >= n], minlength=n).astype(np.int64),
    }
    for a in structure.values():
        a.setflags(write=False)
    if len(_STRUCTURES) >= 16:
        _STRUCTURES.clear()
    _STRUCTURES[signature] = structure
    return structure


def _contiguous_run_starts(fanout_start: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per source: its first target if its targets are ``first, first + 1, ...``, else -1."""
    n_sources = fanout_start.shape[0] - 1
    fanout = np.diff(fanout_start)
    first = np.full(n_sources, -1, dtype=np.int64)
    has = fanout > 0
    first[has] = targets[fanout_start[:-1][has]]
    # along a contiguous run, target - position is constant
    owner = np.repeat(np.arange(n_sources), fanout)
    offset = targets - (np.arange(targets.shape[0]) - fanout_start[:-1][owner])
    broken = np.zeros(n_sources, dtype=bool)
    np.logical_or.at(broken, owner, offset != first[owner])
    first[broken] = -1
    return first


def projection_gradients(network: Network, flat: np.ndarray) -> list[np.ndarray]:
    """Per-synapse values in compiled order (e.g. gradients) summed back onto each
    projection's weight array (a shared convolution weight gets the sum over its synapses)."""
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    n = int(offsets[-1])
    first = {layer.name: int(offsets[i]) for i, layer in enumerate(network.layers)}
    first[INPUT] = n
    structure = _structure(network, offsets, n, network.input_size, first)
    # structure arrays are in construction order, one projection after the other; ``position``
    # maps them to compiled order
    flat = np.asarray(flat)
    counts = np.bincount(structure["projection_of"], minlength=len(network.projections))
    out, start, weight_start = [], 0, 0
    for p, count in zip(network.projections, counts.tolist(), strict=True):
        slots = structure["position"][start:start + count]
        if isinstance(p, DenseProjection):  # one synapse per weight, in weight order
            out.append(flat[slots].reshape(p.weight.shape))
        else:
            local = structure["weight_index"][start:start + count] - weight_start
            out.append(np.bincount(local, weights=flat[slots],
                                   minlength=p.weight.size).reshape(p.weight.shape))
        start += count
        weight_start += p.weight.size
    return out
