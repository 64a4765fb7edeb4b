"""Flatten a :class:`~asyncsim.network.Network` into the arrays the kernel reads.

Sources are numbered ``0 .. N-1`` for neurons (layer after layer, in the network's layer order)
and ``N .. N+N_in-1`` for input features. Synapses are stored in one array, immediate ones
first: the immediate synapses of source ``s`` are ``fanout_start[s]:fanout_start[s+1]``, its
delayed ones ``delay_start[s]:delay_start[s+1]`` (indices into ``targets``, ``weights`` and
``delays``).
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
        fanout_start: (N + N_in + 1,) int64 CSR row pointers of immediate synapses.
        delay_start: (N + N_in + 1,) int64 CSR row pointers of delayed synapses.
        targets: (synapses,) int64 target neuron index of each synapse.
        weights: (synapses,) float64 synaptic weight.
        delays: (synapses,) int64 delay in timesteps (0 for immediate synapses).
        max_delay: the longest delay (0: none).
        target_first: (N + N_in,) int64 first target of each source whose immediate targets
            form one contiguous run (as every dense projection's do), else -1; the kernel
            delivers such runs with vectorized loops.
        fanout: (N + N_in,) int64 synapses per source (immediate and delayed).
        nonzero_fanout: (N + N_in,) int64 synapses with a non-zero weight per source.
        layer_of: (N,) int64 layer index of each neuron.
        threshold: (N,) float64 firing threshold (infinite for leaky integrators).
        decay: (N,) float64 membrane factor between passes.
        reset_amount: (N,) float64 what a subtractive reset subtracts.
        bias: (N,) float64 current per timestep (membrane units).
        syn_decay: (N,) float64 synaptic current factor between passes.
        soft_reset, hold, is_current, refractory, is_output: (N,) uint8 flags: subtractive
            reset, held at zero for the pass after a spike, current-based synapse,
            refractoriness, output layer.
        fanin: (N,) int64 number of immediate presynaptic synapses (neurons and inputs).
        input_fanin: (N,) int64 number of immediate synapses from input features.
        layer_offsets: (L + 1,) int64 first neuron index of each layer, then N.
        recurrent_delay: the delay added to recurrent and feedback projections (0 or 1).
    """

    fanout_start: np.ndarray
    delay_start: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    delays: np.ndarray
    target_first: np.ndarray
    fanout: np.ndarray
    nonzero_fanout: np.ndarray
    layer_of: np.ndarray
    threshold: np.ndarray
    decay: np.ndarray
    reset_amount: np.ndarray
    bias: np.ndarray
    syn_decay: np.ndarray
    soft_reset: np.ndarray
    hold: np.ndarray
    is_current: np.ndarray
    refractory: np.ndarray
    is_output: np.ndarray
    fanin: np.ndarray
    input_fanin: np.ndarray
    layer_offsets: np.ndarray
    n_inputs: int
    max_delay: int = 0
    recurrent_delay: int = 0

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

    @property
    def has_current_synapses(self) -> bool:
        return bool(np.any(self.is_current))

    @property
    def has_bias(self) -> bool:
        return bool(np.any(self.bias != 0))


#: bytes per synapse while compiling (index arrays, sort order, the final CSR table)
BYTES_PER_SYNAPSE = 100


def compile_network(network: Network, allow_large: bool = False,
                    recurrent_delay: int = 0) -> CompiledNetwork:
    """Build the flat arrays of ``network`` (cost: one pass over all synapses). A network whose
    synapses would not fit in this machine's memory share is refused first, with the estimate
    (unless ``allow_large``). ``recurrent_delay`` (0 or 1) is added to the delay of every
    projection from a layer to itself or to an earlier layer (1: recurrent spikes arrive in the
    next timestep, as under layer synchronization)."""
    n_synapses = sum(p.n_synapses for p in network.projections)
    check_memory(float(n_synapses) * BYTES_PER_SYNAPSE,
                 f"network '{network.name}' ({network.n_neurons:,} neurons, {n_synapses:,} "
                 f"synapses)", allow_large)
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    n = int(offsets[-1])
    n_in = network.input_size
    structure = _structure(network, offsets, recurrent_delay)
    order = structure["order"]
    weights = np.concatenate([p.weight.ravel() for p in network.projections])[
        structure["weight_index"][order]] if network.projections else np.zeros(0)
    sources = structure["sources"]
    nonzero_fanout = np.bincount(sources[weights != 0], minlength=n + n_in).astype(np.int64)
    arrays = dict(
        fanout_start=structure["fanout_start"],
        delay_start=structure["delay_start"],
        targets=structure["targets"],
        weights=weights.astype(np.float64),
        delays=structure["delays"],
        target_first=structure["target_first"],
        fanout=structure["fanout"],
        nonzero_fanout=nonzero_fanout,
        fanin=structure["fanin"],
        input_fanin=structure["input_fanin"],
        layer_offsets=offsets,
        **_neuron_arrays(network, offsets),
    )
    for a in arrays.values():
        a.setflags(write=False)
    return CompiledNetwork(n_inputs=n_in, max_delay=int(structure["max_delay"]),
                           recurrent_delay=int(recurrent_delay), **arrays)


def _neuron_arrays(network: Network, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-neuron parameters and flags, layer by layer."""
    n = int(offsets[-1])
    floats = {key: np.zeros(n) for key in ("threshold", "decay", "reset_amount", "bias",
                                            "syn_decay")}
    flags = {key: np.zeros(n, dtype=np.uint8) for key in (
        "soft_reset", "hold", "is_current", "refractory", "is_output")}
    layer_of = np.empty(n, dtype=np.int64)
    dt = network.dt_ms
    for i, layer in enumerate(network.layers):
        sl = slice(int(offsets[i]), int(offsets[i + 1]))
        layer_of[sl] = i
        floats["threshold"][sl] = layer.threshold if layer.fires else np.inf
        floats["decay"][sl] = layer.decay_per_step(dt)
        floats["reset_amount"][sl] = layer.reset_amount(dt)
        floats["bias"][sl] = layer.bias
        floats["syn_decay"][sl] = layer.synaptic_decay(dt)
        flags["soft_reset"][sl] = layer.reset in ("subtract", "subtract_delayed")
        flags["hold"][sl] = layer.reset == "zero_hold"
        flags["is_current"][sl] = layer.synapse == "current"
        flags["refractory"][sl] = layer.refractory
    flags["is_output"][int(offsets[-2]):] = 1
    return dict(layer_of=layer_of, **floats, **flags)


def is_recurrent(network: Network, projection) -> bool:
    """A projection from a layer to itself or to an earlier layer."""
    order = {layer.name: i for i, layer in enumerate(network.layers)}
    return projection.source in order and order[projection.source] >= order[projection.target]


_STRUCTURES: dict = {}  # topology signature -> synapse order and CSR arrays (weights excluded)


def _structure(network: Network, offsets: np.ndarray, recurrent_delay: int) -> dict:
    """The parts of the flat form that depend on the topology only, cached: training compiles
    the same topology with new weights at every batch."""
    n, n_in = int(offsets[-1]), network.input_size
    signature = (n_in, tuple(offsets.tolist()), int(recurrent_delay),
                 tuple(p.topology_key() for p in network.projections))
    if signature in _STRUCTURES:
        return _STRUCTURES[signature]
    first = {layer.name: int(offsets[i]) for i, layer in enumerate(network.layers)}
    first[INPUT] = n
    src_parts, tgt_parts, weight_parts, owner_parts, delay_parts = [], [], [], [], []
    weight_start = 0
    for k, p in enumerate(network.projections):
        rows, cols, weight_index = p.synapses()
        src_parts.append(cols + first[p.source])
        tgt_parts.append(rows + first[p.target])
        weight_parts.append(weight_index + weight_start)
        owner_parts.append(np.full(rows.shape[0], k, dtype=np.int64))
        delay = p.delay + (recurrent_delay if is_recurrent(network, p) else 0)
        delay_parts.append(np.full(rows.shape[0], delay, dtype=np.int64))
        weight_start += p.weight.size
    empty = np.zeros(0, np.int64)
    sources = np.concatenate(src_parts) if src_parts else empty
    targets = np.concatenate(tgt_parts) if tgt_parts else empty
    weight_index = np.concatenate(weight_parts) if weight_parts else empty
    projection_of = np.concatenate(owner_parts) if owner_parts else empty
    delays = np.concatenate(delay_parts) if delay_parts else empty
    delayed = delays > 0
    # immediate synapses first, each part by source, then target
    order = np.argsort(sources * (n + 1) + targets + delayed * (n + n_in + 1) * (n + 1),
                       kind="stable")
    sources, targets, delays = sources[order], targets[order].astype(np.int64), delays[order]
    n_immediate = int(np.sum(~delayed))
    immediate_sources = sources[:n_immediate]
    fanout_start = np.zeros(n + n_in + 1, dtype=np.int64)
    fanout_start[1:] = np.cumsum(np.bincount(immediate_sources, minlength=n + n_in))
    delay_start = np.full(n + n_in + 1, n_immediate, dtype=np.int64)
    delay_start[1:] += np.cumsum(np.bincount(sources[n_immediate:], minlength=n + n_in))
    position = np.empty_like(order)
    position[order] = np.arange(order.shape[0])
    immediate_targets = targets[:n_immediate]
    structure = {
        "order": order, "position": position, "sources": sources, "targets": targets,
        "weight_index": weight_index, "projection_of": projection_of, "delays": delays,
        "fanout_start": fanout_start, "delay_start": delay_start,
        "max_delay": np.int64(delays.max(initial=0)),
        "fanout": np.bincount(sources, minlength=n + n_in).astype(np.int64),
        "target_first": _contiguous_run_starts(fanout_start, immediate_targets),
        "fanin": np.bincount(immediate_targets, minlength=n).astype(np.int64),
        "input_fanin": np.bincount(immediate_targets[immediate_sources >= n],
                                   minlength=n).astype(np.int64),
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


def projection_gradients(network: Network, flat: np.ndarray,
                         recurrent_delay: int = 0) -> list[np.ndarray]:
    """Per-synapse values in compiled order (e.g. gradients) summed back onto each
    projection's weight array (a shared convolution weight gets the sum over its synapses)."""
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    structure = _structure(network, offsets, recurrent_delay)
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
