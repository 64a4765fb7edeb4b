"""Flatten a :class:`~asyncsim.network.Network` into the arrays the kernel reads.

Sources are numbered ``0 .. N-1`` for neurons (layer after layer, in the network's layer order)
and ``N .. N+N_in-1`` for input features. Synapses are stored in one array, immediate ones
first: the immediate synapses of source ``s`` are ``fanout_start[s]:fanout_start[s+1]``, its
delayed ones ``delay_start[s]:delay_start[s+1]`` (indices into ``targets``, ``weights`` and
``delays``).

Convolutional projections have no per-synapse rows (unless ``expand_conv``): each compiles to a
descriptor (shapes, stride, padding, dilation, groups, delay) and its kernel, and the kernel
derives a source's targets and weights from them at delivery time (:mod:`asyncsim.convolution`,
:mod:`asyncsim.kernel.conv`). Memory then follows neurons and kernel parameters, not synapses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import convolution
from .kernel.conv import (
    N_AXIS_COLUMNS,
    N_CONV_COLUMNS,
    SOURCE_FIRST,
    WEIGHT_START,
    kernel_layout,
    weight_layout,
)
from .limits import check_memory
from .network import INPUT, ConvProjection, DenseProjection, Network


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
        conv: (P, N_CONV_COLUMNS) int64 one descriptor per convolutional projection (columns in
            :mod:`asyncsim.kernel.conv`), sorted by source layer, then target layer; none with
            ``expand_conv``.
        conv_start: (L + 2,) int64 first descriptor of each source layer (index L: the input).
        conv_axes: (rows, N_AXIS_COLUMNS) int64 per input row and column of each convolution,
            the kernel offsets and outputs it reaches (:func:`asyncsim.kernel.conv.axis_table`).
        conv_weights: float64 the convolutions' kernels, in descriptor order, each in the order
            the kernel reads it (:func:`asyncsim.kernel.conv.kernel_layout`).
        recurrent_delay: the delay added to recurrent and feedback projections (0 or 1).
        expand_conv: convolutions were compiled to per-synapse rows.
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
    conv: np.ndarray
    conv_start: np.ndarray
    conv_axes: np.ndarray
    conv_weights: np.ndarray
    n_inputs: int
    max_delay: int = 0
    recurrent_delay: int = 0
    expand_conv: bool = False

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

    @property
    def n_parameters(self) -> int:
        """Weight values the kernel reads: one per per-synapse row, then every convolution
        kernel's (the length of a replay's flat gradient)."""
        return int(self.weights.shape[0] + self.conv_weights.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of every array of the compiled form."""
        return int(sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray)))


#: bytes per synapse while compiling (index arrays, sort order, the final CSR table)
BYTES_PER_SYNAPSE = 100
#: bytes of the compiled form per source (neuron or input feature): ``fanout_start``,
#: ``delay_start``, ``target_first``, ``fanout``, ``nonzero_fanout`` (int64 each)
BYTES_PER_SOURCE = 5 * 8
#: bytes of the compiled form per neuron besides its source arrays: ``layer_of``, ``fanin``,
#: ``input_fanin`` (int64), five float64 parameters (``threshold``, ``decay``, ``reset_amount``,
#: ``bias``, ``syn_decay``) and five uint8 flags
BYTES_PER_NEURON = 3 * 8 + 5 * 8 + 5
#: bytes per kernel weight of a convolution compiled to a descriptor (float64)
BYTES_PER_KERNEL_WEIGHT = 8


def compiled_size_bound(network: Network, expand_conv: bool = False) -> int:
    """Bytes the compiled form of ``network`` should take: per neuron and input feature its
    state (:data:`BYTES_PER_NEURON`, :data:`BYTES_PER_SOURCE`), per kernel weight 8 bytes and
    per per-synapse row (dense projections; convolutions too with ``expand_conv``) 24 bytes
    (target, weight, delay). Descriptors and layer tables are negligible."""
    n, n_in = network.n_neurons, network.input_size
    rows = sum(p.n_synapses for p in network.projections if not _implicit(p, expand_conv))
    kernel = sum(p.weight.size for p in network.projections if _implicit(p, expand_conv))
    return int(n * BYTES_PER_NEURON + (n + n_in) * BYTES_PER_SOURCE
               + kernel * BYTES_PER_KERNEL_WEIGHT + rows * 24)


def _implicit(p, expand_conv: bool) -> bool:
    """A projection compiled to a descriptor rather than per-synapse rows."""
    return isinstance(p, ConvProjection) and not expand_conv


def compile_network(network: Network, allow_large: bool = False,
                    recurrent_delay: int = 0, expand_conv: bool = False) -> CompiledNetwork:
    """Build the flat arrays of ``network`` (cost: one pass over the synapses of dense
    projections; convolutions cost their neurons and kernels). A network that would not fit in
    this machine's memory share is refused first, with the estimate (unless ``allow_large``).
    ``recurrent_delay`` (0 or 1) is added to the delay of every projection from a layer to
    itself or to an earlier layer (1: recurrent spikes arrive in the next timestep, as under
    layer synchronization). ``expand_conv`` compiles convolutions to per-synapse rows as dense
    projections are (the same results; for tests and comparisons)."""
    synapses = sum(p.n_synapses for p in network.projections)
    rows = sum(p.n_synapses for p in network.projections if not _implicit(p, expand_conv))
    check_memory(float(rows) * BYTES_PER_SYNAPSE + compiled_size_bound(network, expand_conv),
                 f"network '{network.name}' ({network.n_neurons:,} neurons, {synapses:,} "
                 f"synapses, {rows:,} of them in per-synapse rows)", allow_large)
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    structure = _structure(network, offsets, recurrent_delay, expand_conv)
    weights, conv_weights = _compiled_values(network, structure,
                                             [p.weight for p in network.projections])
    convs = [network.projections[k] for k in structure["conv_projection"]]
    arrays = dict(
        fanout_start=structure["fanout_start"],
        delay_start=structure["delay_start"],
        targets=structure["targets"],
        weights=weights.astype(np.float64),
        delays=structure["delays"],
        target_first=structure["target_first"],
        fanout=structure["fanout"],
        nonzero_fanout=_nonzero_fanout(structure, weights, convs),
        fanin=structure["fanin"],
        input_fanin=structure["input_fanin"],
        layer_offsets=offsets,
        conv=structure["conv"],
        conv_start=structure["conv_start"],
        conv_axes=structure["conv_axes"],
        conv_weights=conv_weights,
        **_neuron_arrays(network, offsets),
    )
    for a in arrays.values():
        a.setflags(write=False)
    return CompiledNetwork(n_inputs=network.input_size, max_delay=int(structure["max_delay"]),
                           recurrent_delay=int(recurrent_delay), expand_conv=bool(expand_conv),
                           **arrays)


def _compiled_values(network: Network, structure: dict, arrays: list[np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(per-synapse rows, convolution kernels) of ``arrays``, one per projection with its
    weight's shape (weights, or gradients or optimizer moments of them), in compiled order, as
    float64."""
    listed = structure["listed"].tolist()
    rows = np.concatenate([arrays[k].ravel() for k in listed])[
        structure["weight_index"][structure["order"]]] if listed else np.zeros(0)
    convs = structure["conv_projection"].tolist()
    kernels = np.concatenate([kernel_layout(arrays[k], network.projections[k].groups)
                              for k in convs]) if convs else np.zeros(0)
    return rows.astype(np.float64), kernels.astype(np.float64)


def compiled_order(network: Network, arrays: list[np.ndarray], recurrent_delay: int = 0,
                   expand_conv: bool = False) -> np.ndarray:
    """One array per projection, each of its weight's shape (weights, gradients, optimizer
    moments), as one float64 vector in the order of a replay's flat gradient (per-synapse rows
    in compiled order, then every convolution kernel; :attr:`CompiledNetwork.n_parameters`
    values). The inverse of :func:`projection_gradients` when every per-synapse row has a
    weight of its own (dense projections, convolutions without ``expand_conv``)."""
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    structure = _structure(network, offsets, recurrent_delay, expand_conv)
    return np.concatenate(_compiled_values(network, structure, arrays))


def with_values(c: CompiledNetwork, network: Network, values: np.ndarray,
                bias: np.ndarray | None = None) -> CompiledNetwork:
    """``c``, compiled from ``network`` (whose topology counts, not its weights), with other
    weights: ``values`` in the order of :func:`compiled_order` (``c.n_parameters`` float64)
    and, if given, other biases (``c.n_neurons`` float64, membrane units per timestep). Far
    cheaper than compiling again: the structure is kept. Counts of synapses with a non-zero
    weight follow the new weights. The new arrays are read-only views of ``values`` and
    ``bias``: change those only once the compiled network is no longer used."""
    n_rows = c.weights.shape[0]
    rows, kernels = values[:n_rows], values[n_rows:]
    nonzero = c.nonzero_fanout
    if not (np.array_equal(rows != 0, c.weights != 0)
            and np.array_equal(kernels != 0, c.conv_weights != 0)):
        structure = _structure(network, c.layer_offsets, c.recurrent_delay, c.expand_conv)
        convs = []
        for k, row in zip(structure["conv_projection"].tolist(), structure["conv"], strict=True):
            p, start = network.projections[k], int(row[WEIGHT_START])
            weight = weight_layout(kernels[start:start + p.weight.size], p.weight.shape, p.groups)
            convs.append(replace(p, weight=weight))
        nonzero = _nonzero_fanout(structure, rows, convs)
    arrays = dict(weights=rows, conv_weights=kernels, nonzero_fanout=nonzero)
    if bias is not None:
        arrays["bias"] = bias
    for name, a in arrays.items():
        arrays[name] = a.view()
        arrays[name].setflags(write=False)
    return replace(c, **arrays)


def _nonzero_fanout(structure: dict, weights: np.ndarray, convs: list) -> np.ndarray:
    """(N + N_in,) int64 synapses with a non-zero weight per source."""
    n_sources = structure["fanout"].shape[0]
    counts = np.bincount(structure["sources"][weights != 0], minlength=n_sources)
    counts = counts.astype(np.int64)
    for p, row in zip(convs, structure["conv"], strict=True):
        first = int(row[SOURCE_FIRST])
        counts[first:first + p.source_size] += convolution.source_nonzero_fanout(p)
    return counts


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


def _structure(network: Network, offsets: np.ndarray, recurrent_delay: int,
               expand_conv: bool = False) -> dict:
    """The parts of the flat form that depend on the topology only, cached: training compiles
    the same topology with new weights at every batch."""
    n_in = network.input_size
    signature = (n_in, tuple(offsets.tolist()), int(recurrent_delay), bool(expand_conv),
                 tuple(p.topology_key() for p in network.projections))
    if signature in _STRUCTURES:
        return _STRUCTURES[signature]
    first = {layer.name: int(offsets[i]) for i, layer in enumerate(network.layers)}
    first[INPUT] = int(offsets[-1])
    delays = [p.delay + (recurrent_delay if is_recurrent(network, p) else 0)
              for p in network.projections]
    listed = [k for k, p in enumerate(network.projections) if not _implicit(p, expand_conv)]
    structure = _synapse_rows(network, listed, first, delays, offsets)
    structure.update(_descriptors(network, expand_conv, first, delays))
    _add_conv_counts(network, structure, first, delays)
    for a in structure.values():
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    if len(_STRUCTURES) >= 16:
        _STRUCTURES.clear()
    _STRUCTURES[signature] = structure
    return structure


def _synapse_rows(network: Network, listed: list[int], first: dict, delays: list[int],
                  offsets: np.ndarray) -> dict:
    """The CSR table of the projections in ``listed`` (indices into ``network.projections``)
    and the per-neuron counts it implies."""
    n, n_in = int(offsets[-1]), network.input_size
    src_parts, tgt_parts, weight_parts, owner_parts, delay_parts = [], [], [], [], []
    weight_start = 0
    for k in listed:
        p = network.projections[k]
        rows, cols, weight_index = p.synapses()
        src_parts.append(cols + first[p.source])
        tgt_parts.append(rows + first[p.target])
        weight_parts.append(weight_index + weight_start)
        owner_parts.append(np.full(rows.shape[0], k, dtype=np.int64))
        delay_parts.append(np.full(rows.shape[0], delays[k], dtype=np.int64))
        weight_start += p.weight.size
    empty = np.zeros(0, np.int64)
    sources = np.concatenate(src_parts) if src_parts else empty
    targets = np.concatenate(tgt_parts) if tgt_parts else empty
    weight_index = np.concatenate(weight_parts) if weight_parts else empty
    projection_of = np.concatenate(owner_parts) if owner_parts else empty
    delays_of = np.concatenate(delay_parts) if delay_parts else empty
    delayed = delays_of > 0
    # immediate synapses first, each part by source, then target
    order = np.argsort(sources * (n + 1) + targets + delayed * (n + n_in + 1) * (n + 1),
                       kind="stable")
    sources, targets, delays_of = sources[order], targets[order].astype(np.int64), \
        delays_of[order]
    n_immediate = int(np.sum(~delayed))
    immediate_sources = sources[:n_immediate]
    fanout_start = np.zeros(n + n_in + 1, dtype=np.int64)
    fanout_start[1:] = np.cumsum(np.bincount(immediate_sources, minlength=n + n_in))
    delay_start = np.full(n + n_in + 1, n_immediate, dtype=np.int64)
    delay_start[1:] += np.cumsum(np.bincount(sources[n_immediate:], minlength=n + n_in))
    position = np.empty_like(order)
    position[order] = np.arange(order.shape[0])
    immediate_targets = targets[:n_immediate]
    return {
        "listed": np.array(listed, dtype=np.int64),
        "order": order, "position": position, "sources": sources, "targets": targets,
        "weight_index": weight_index, "projection_of": projection_of, "delays": delays_of,
        "fanout_start": fanout_start, "delay_start": delay_start,
        "max_delay": np.int64(delays_of.max(initial=0)),
        "fanout": np.bincount(sources, minlength=n + n_in).astype(np.int64),
        "fanin": np.bincount(immediate_targets, minlength=n).astype(np.int64),
        "input_fanin": np.bincount(immediate_targets[immediate_sources >= n],
                                   minlength=n).astype(np.int64),
    }


def _descriptors(network: Network, expand_conv: bool, first: dict, delays: list[int]) -> dict:
    """One descriptor row per convolution without per-synapse rows, sorted by source group
    (layer index; the input last), then by first target; ``conv_start`` per source group."""
    group = {layer.name: i for i, layer in enumerate(network.layers)}
    group[INPUT] = len(network.layers)
    picked = sorted((k for k, p in enumerate(network.projections) if _implicit(p, expand_conv)),
                    key=lambda k: (group[network.projections[k].source],
                                   first[network.projections[k].target]))
    rows, tables, weight_start, axes_start = [], [], 0, 0
    for k in picked:
        p = network.projections[k]
        tables.append(convolution.axes(p))
        rows.append(convolution.descriptor(p, first[p.source], first[p.target], delays[k],
                                           weight_start, axes_start))
        weight_start += p.weight.size
        axes_start += tables[-1].shape[0]
    table = np.stack(rows) if rows else np.zeros((0, N_CONV_COLUMNS), dtype=np.int64)
    axes = np.concatenate(tables) if tables else np.zeros((0, N_AXIS_COLUMNS), dtype=np.int64)
    per_group = np.bincount(np.array([group[network.projections[k].source] for k in picked],
                                     dtype=np.int64), minlength=len(network.layers) + 1)
    conv_start = np.zeros(len(network.layers) + 2, dtype=np.int64)
    conv_start[1:] = np.cumsum(per_group)
    return {"conv": np.ascontiguousarray(table), "conv_start": conv_start,
            "conv_axes": np.ascontiguousarray(axes),
            "conv_projection": np.array(picked, dtype=np.int64)}


def _add_conv_counts(network: Network, structure: dict, first: dict, delays: list[int]) -> None:
    """Add the convolutions' synapses to the per-neuron counts (fanout, fan-ins, longest
    delay) and find every source whose immediate targets, rows and convolutions together, form
    one contiguous run (``target_first``)."""
    fanout, fanin, input_fanin = (structure[key].copy() for key in (
        "fanout", "fanin", "input_fanin"))
    starts = structure["fanout_start"]
    count = np.diff(starts)
    has = count > 0
    low = np.full(count.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(count.shape[0], -1, dtype=np.int64)
    low[has] = structure["targets"][starts[:-1][has]]
    high[has] = structure["targets"][starts[1:][has] - 1]
    max_delay = int(structure["max_delay"])
    for k in structure["conv_projection"].tolist():
        p = network.projections[k]
        src = slice(first[p.source], first[p.source] + p.source_size)
        tgt = slice(first[p.target], first[p.target] + p.target_size)
        reach = convolution.source_fanout(p)
        fanout[src] += reach
        max_delay = max(max_delay, delays[k])
        if delays[k] > 0:
            continue
        fanin[tgt] += convolution.target_fanin(p)
        if p.source == INPUT:
            input_fanin[tgt] += convolution.target_fanin(p)
        span_first, span_last = convolution.source_target_span(p)
        reached = reach > 0
        low[src] = np.where(reached, np.minimum(low[src], span_first + tgt.start), low[src])
        high[src] = np.where(reached, np.maximum(high[src], span_last + tgt.start), high[src])
        count[src] += reach
    # targets of one source are distinct: they form one run exactly when they span its count
    run = (count > 0) & (high - low + 1 == count)
    structure.update(fanout=fanout, fanin=fanin, input_fanin=input_fanin,
                     max_delay=np.int64(max_delay),
                     target_first=np.where(run, low, -1).astype(np.int64))


def projection_gradients(network: Network, flat: np.ndarray, recurrent_delay: int = 0,
                         expand_conv: bool = False) -> list[np.ndarray]:
    """Per-weight values in compiled order (e.g. gradients: one per per-synapse row, then
    every convolution kernel's, see :attr:`CompiledNetwork.n_parameters`) put back onto each
    projection's weight array (a convolution weight shared by per-synapse rows gets the sum
    over its synapses)."""
    offsets = np.zeros(len(network.layers) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([layer.size for layer in network.layers])
    structure = _structure(network, offsets, recurrent_delay, expand_conv)
    # structure arrays are in construction order, one projection after the other; ``position``
    # maps them to compiled order
    flat = np.asarray(flat)
    n_rows = structure["targets"].shape[0]
    counts = np.bincount(structure["projection_of"], minlength=len(network.projections))
    out: list = [None] * len(network.projections)
    start, weight_start = 0, 0
    for k in structure["listed"].tolist():
        p, count = network.projections[k], int(counts[k])
        slots = structure["position"][start:start + count]
        if isinstance(p, DenseProjection):  # one synapse per weight, in weight order
            out[k] = flat[slots].reshape(p.weight.shape)
        else:
            local = structure["weight_index"][start:start + count] - weight_start
            out[k] = np.bincount(local, weights=flat[slots],
                                 minlength=p.weight.size).reshape(p.weight.shape)
        start += count
        weight_start += p.weight.size
    for k, row in zip(structure["conv_projection"].tolist(), structure["conv"], strict=True):
        p = network.projections[k]
        first = n_rows + int(row[WEIGHT_START])
        out[k] = weight_layout(flat[first:first + p.weight.size], p.weight.shape, p.groups)
    return out
