"""Placing neurons on cores, and the routing tables that follow from a placement.

A core holds at most ``neurons_per_core`` neurons and ``synapses_per_core`` incoming synapses
(input synapses included). A convolutional layer is placed by feature-map channels: a channel
that fits in a core's remaining room is never split (one larger than a whole core is, since a
core of such a chip may hold part of a map). Chips that hold one whole layer per core, each core
with memories of its own (a profile's ``layer_cores``, Speck), place every layer on a core whose
neuron and kernel memories hold it. Input features live off-chip and reach their cores without
hops; cores of one tile reach each other without hops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..compile import CompiledNetwork
from ..convolution import synapse_blocks
from ..errors import InputError
from ..kernel.conv import DELAY
from ..network import ConvProjection, Network
from .profile import HardwareProfile

STRATEGIES = ("sequential", "traffic")


@dataclass(frozen=True)
class CoreMapping:
    """Where each neuron lives, and what each source's spikes cost to route.

    Attributes:
        core_of: (N,) core index of each neuron.
        position: (cores, 2) mesh coordinates (column, row) of each core.
        neurons, synapses: (cores,) neurons and incoming synapses placed on each core.
        route_start, route_core, route_synapses, route_hops: per source (neurons, then input
            features), CSR over the cores its synapses reach: ``route_core[e]`` receives
            ``route_synapses[e]`` synapses at ``route_hops[e]`` mesh hops (Manhattan).
        strategy: how the neurons were placed.
        capacity: neurons per core (None: unlimited), or (cores,) the neuron memory of each
            core used (chips with one layer per core).
        tile_of: (cores,) tile of each core (cores of one tile share a mesh position).
    """

    core_of: np.ndarray
    position: np.ndarray
    neurons: np.ndarray
    synapses: np.ndarray
    route_start: np.ndarray
    route_core: np.ndarray
    route_synapses: np.ndarray
    route_hops: np.ndarray
    strategy: str
    capacity: int | np.ndarray | None
    tile_of: np.ndarray | None = None

    @property
    def n_cores(self) -> int:
        return int(self.neurons.shape[0])

    @property
    def n_tiles(self) -> int:
        """Tiles that hold at least one core of this placement."""
        if self.tile_of is None:
            return self.n_cores
        return int(np.unique(self.tile_of).shape[0])

    @property
    def utilization(self) -> float:
        """Placed neurons / neuron slots of the cores used (1.0 with unlimited cores)."""
        if self.capacity is None:
            return 1.0
        slots = np.sum(self.capacity) if np.ndim(self.capacity) else self.capacity * self.n_cores
        return float(self.neurons.sum() / slots)

    def summary(self) -> dict:
        return {"strategy": self.strategy, "cores_used": self.n_cores,
                "tiles_used": self.n_tiles,
                "neuron_utilization": round(self.utilization, 4),
                "max_neurons_per_core": int(self.neurons.max()),
                "max_synapses_per_core": int(self.synapses.max())}


def map_network(compiled: CompiledNetwork, profile: HardwareProfile,
                strategy: str = "sequential", network: Network | None = None) -> CoreMapping:
    """Place ``compiled``'s neurons on ``profile``'s cores.

    ``sequential`` fills cores in neuron order; ``traffic`` also starts every layer on a fresh
    core and lays the cores out on the mesh in the order of a breadth-first walk of the
    core-to-core traffic graph (networkx), along a snake path, so that cores that talk sit close.
    With ``network`` (the network ``compiled`` came from), convolutional layers are placed by
    channels; a profile with ``layer_cores`` needs it. Raises :class:`InputError` if the network
    does not fit, naming the layer and the limit where one layer is the cause.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"field 'mapping': expected one of {list(STRATEGIES)}, got {strategy!r}")
    npc = profile.core_limit("neurons_per_core")
    if profile.layer_cores is not None:
        if network is None:
            raise InputError(f"profile '{profile.name}': placing layers on its cores needs the "
                             f"network's layer shapes")
        core_of, physical = _one_layer_per_core(compiled, profile, network)
        n_cores = physical.shape[0]
        slot = physical
        npc = np.array(profile.layer_cores.neuron_memory)[physical]
    else:
        names = [layer.name for layer in network.layers] if network is not None else [
            str(i) for i in range(compiled.n_layers)]
        core_of = _fill_cores(compiled, profile, strategy, _channel_sizes(compiled, network),
                              names)
        n_cores = int(core_of.max(initial=-1)) + 1
        slot = _traffic_order(compiled, core_of, n_cores) if strategy == "traffic" else (
            np.arange(n_cores))
    chip_cores = profile.core_limit("cores_per_chip")
    if chip_cores is not None and n_cores > chip_cores:
        raise InputError(f"profile '{profile.name}': the network needs {n_cores} cores "
                         f"({compiled.n_neurons} neurons, {int(compiled.fanin.sum())} synapses), "
                         f"the chip has cores_per_chip = {chip_cores}")
    neurons = np.bincount(core_of, minlength=n_cores)
    syn = np.bincount(core_of, weights=compiled.fanin, minlength=n_cores).astype(np.int64)
    per_tile = profile.cores_per_tile
    tile = slot // per_tile
    position = _mesh_positions(tile, profile.mesh, snake=strategy == "traffic")
    tables = _routes(compiled, core_of, position)
    return CoreMapping(core_of, position, neurons, syn, *tables, strategy=strategy,
                       capacity=npc, tile_of=tile.astype(np.int64))


def _channel_sizes(compiled: CompiledNetwork, network: Network | None) -> np.ndarray:
    """(layers,) neurons per feature-map channel of each layer (1 for a layer no convolution
    feeds)."""
    sizes = np.ones(compiled.n_layers, dtype=np.int64)
    if network is None:
        return sizes
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    for p in network.projections:
        if isinstance(p, ConvProjection) and sizes[index[p.target]] == 1:
            _, height, width = p.output_shape
            sizes[index[p.target]] = height * width
    return sizes


def _fill_cores(compiled: CompiledNetwork, profile: HardwareProfile, strategy: str,
                channel: np.ndarray, names: list[str]) -> np.ndarray:
    """(N,) core of each neuron, filling cores in neuron order within the per-core limits;
    a channel that would not fit in what is left of a core starts a new one."""
    npc = profile.core_limit("neurons_per_core")
    spc = profile.core_limit("synapses_per_core")
    fanin = compiled.fanin
    if spc is not None and fanin.max(initial=0) > spc:
        worst = int(np.argmax(fanin))
        layer = names[int(compiled.layer_of[worst])]
        raise InputError(f"profile '{profile.name}': neuron {worst} (layer '{layer}') has "
                         f"{int(fanin[worst])} incoming synapses, more than "
                         f"cores.synapses_per_core = {spc}")
    offsets = compiled.layer_offsets
    synapses_before = np.concatenate([[0], np.cumsum(fanin)])
    core_of = np.empty(compiled.n_neurons, dtype=np.int64)
    core, held, synapses = 0, 0, 0
    for layer in range(compiled.n_layers):
        unit = int(channel[layer])
        if held and strategy == "traffic":
            core, held, synapses = core + 1, 0, 0
        for first in range(int(offsets[layer]), int(offsets[layer + 1]), unit):
            last = min(first + unit, int(offsets[layer + 1]))
            unit_synapses = int(synapses_before[last] - synapses_before[first])
            fits_empty = (npc is None or last - first <= npc) and (
                spc is None or unit_synapses <= spc)
            fits_here = (npc is None or held + last - first <= npc) and (
                spc is None or synapses + unit_synapses <= spc)
            if held and fits_empty and not fits_here:
                core, held, synapses = core + 1, 0, 0
            for n in range(first, last):
                full = (npc is not None and held >= npc) or (
                    spc is not None and synapses + fanin[n] > spc)
                if held and full:
                    core, held, synapses = core + 1, 0, 0
                core_of[n] = core
                held += 1
                synapses += int(fanin[n])
    return core_of


def kernel_entries(projection: Any, source_shape: tuple[int, int, int] | None) -> int:
    """Weight-memory entries a projection takes on a core that holds its target layer, by the
    DYNAP-CNN addressing rule: input channels x 2^(ceil(log2(kernel height x width)) +
    ceil(log2(output channels))). A dense projection counts as a convolution whose kernel covers
    its source: a source with a (channels, height, width) shape gives the channels and the
    kernel size, a flat one counts each feature as a channel with a 1 x 1 kernel."""
    return _kernel_shape(projection, source_shape)[0]


def _kernel_shape(projection: Any, source_shape: tuple[int, int, int] | None) -> tuple[int, str]:
    """(entries, how they were counted) of :func:`kernel_entries`."""
    if isinstance(projection, ConvProjection):
        out_channels, per_group, kh, kw = projection.weight.shape
        channels = per_group * projection.groups
    else:
        out_channels = projection.target_size
        channels, kh, kw = source_shape if source_shape else (projection.source_size, 1, 1)
    entries = int(channels) * 2 ** (math.ceil(math.log2(kh * kw)) + math.ceil(math.log2(
        out_channels)))
    return entries, (f"{projection.source}: {int(channels)} input channels, a {kh}x{kw} kernel, "
                     f"{out_channels} output channels")


def _shapes(network: Network) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) of the input and of every layer a convolution feeds or reads."""
    shapes = {}
    for p in network.projections:
        if isinstance(p, ConvProjection):
            shapes.setdefault(p.source, p.input_shape)
            shapes.setdefault(p.target, p.output_shape)
    return shapes


def _one_layer_per_core(compiled: CompiledNetwork, profile: HardwareProfile,
                        network: Network) -> tuple[np.ndarray, np.ndarray]:
    """(N,) core of each neuron (cores numbered in chip order among those used) and the chip
    index of each used core, for a chip whose cores each hold one whole layer."""
    memory = profile.layer_cores
    name = profile.name
    n_chip = len(memory.neuron_memory)
    layers = network.layers
    if len(layers) > n_chip:
        raise InputError(f"profile '{name}': the network has {len(layers)} layers; the chip "
                         f"holds one layer per core and has {n_chip} cores")
    shapes = _shapes(network)
    needs = []
    for layer in layers:
        incoming = [p for p in network.projections if p.target == layer.name]
        kernels = [_kernel_shape(p, shapes.get(p.source)) for p in incoming]
        kernel = sum(k for k, _ in kernels)
        needs.append((layer.size, kernel))
        for what, need, have, why in (
                ("neuron", layer.size, memory.neuron_memory, f"{layer.size:,} neurons"),
                ("kernel", kernel, memory.kernel_memory, "; ".join(t for _, t in kernels))):
            if need > max(have):
                raise InputError(
                    f"profile '{name}': layer '{layer.name}' needs {need:,} {what}-memory "
                    f"entries ({why}); the largest core holds {max(have):,} "
                    f"(layer_cores.{what}_memory)")
        targets = {p.target for p in network.projections if p.source == layer.name}
        if len(targets) > 2:
            raise InputError(f"profile '{name}': layer '{layer.name}' sends to {len(targets)} "
                             f"layers; a core sends to at most 2 other cores")
    # integer nodes (layers 0..L-1, then cores): the matching found then does not depend on
    # the process's string-hash seed, as it did with ("layer", i) tuples
    n_layers = len(layers)
    graph = nx.Graph()
    graph.add_nodes_from(range(n_layers + n_chip))
    for i, (neurons, kernel) in enumerate(needs):
        for c in range(n_chip):
            if neurons <= memory.neuron_memory[c] and kernel <= memory.kernel_memory[c]:
                graph.add_edge(i, n_layers + c)
    matching = nx.bipartite.hopcroft_karp_matching(graph, top_nodes=range(n_layers))
    unplaced = [layers[i].name for i in range(n_layers) if i not in matching]
    if unplaced:
        raise InputError(f"profile '{name}': layers {', '.join(unplaced)} find no core of "
                         f"their own: each core holds one layer, and too few cores have the "
                         f"neuron and kernel memory they need (layer_cores)")
    chip_core = np.array([matching[i] - n_layers for i in range(n_layers)], dtype=np.int64)
    used = np.sort(chip_core)
    renumber = {int(c): k for k, c in enumerate(used)}
    core_of = np.empty(compiled.n_neurons, dtype=np.int64)
    for i in range(len(layers)):
        core_of[compiled.layer_offsets[i]:compiled.layer_offsets[i + 1]] = renumber[
            int(chip_core[i])]
    return core_of, used


def _traffic_order(compiled: CompiledNetwork, core_of: np.ndarray, n_cores: int) -> np.ndarray:
    """Cores in breadth-first order of the core traffic graph, heaviest links first."""
    sources, cores, counts = _synapses_per_core(compiled, core_of, n_cores, immediate_only=True)
    from_neuron = sources < compiled.n_neurons
    here, there = core_of[sources[from_neuron]], cores[from_neuron]
    between = here != there
    link = here[between] * n_cores + there[between]
    keys, inverse = np.unique(link, return_inverse=True)
    link_counts = np.bincount(inverse.ravel(), weights=counts[from_neuron][between]).astype(
        np.int64)
    links = np.stack(np.divmod(keys, n_cores), axis=1)
    graph = nx.Graph()
    graph.add_nodes_from(range(n_cores))
    for (a, b), w in zip(links.tolist(), link_counts.tolist(), strict=True):
        weight = graph.get_edge_data(a, b, {"weight": 0})["weight"] + w
        graph.add_edge(a, b, weight=weight)
    order: list[int] = []
    seen: set[int] = set()
    for start in range(n_cores):
        if start in seen:
            continue
        queue = [start]
        seen.add(start)
        while queue:
            core = queue.pop(0)
            order.append(core)
            heaviest_first = sorted(graph[core].items(), key=lambda item: -item[1]["weight"])
            for neighbour, _ in heaviest_first:
                if neighbour not in seen:
                    seen.add(neighbour)
                    queue.append(neighbour)
    slot = np.empty(n_cores, dtype=np.int64)
    slot[np.array(order)] = np.arange(n_cores)
    return slot


def _mesh_positions(slot: np.ndarray, mesh: tuple[int, int], snake: bool) -> np.ndarray:
    """(column, row) of each tile from its slot on the mesh (row-major, or snake order)."""
    columns = max(1, mesh[0])
    row, col = np.divmod(slot, columns)
    if snake:
        col = np.where(row % 2 == 1, columns - 1 - col, col)
    return np.stack([col, row], axis=1).astype(np.int64)


def _routes(compiled: CompiledNetwork, core_of: np.ndarray, position: np.ndarray):
    """Per source (neurons, then input features): CSR over the cores its synapses reach, in
    increasing core order, with the synapses on each and the mesh hops to it."""
    n, n_sources = compiled.n_neurons, compiled.fanout_start.shape[0] - 1
    n_cores = position.shape[0]
    sources, cores, counts = _synapses_per_core(compiled, core_of, n_cores, immediate_only=False)
    starts = np.zeros(n_sources + 1, dtype=np.int64)
    starts[1:] = np.cumsum(np.bincount(sources, minlength=n_sources))
    from_neuron = sources < n
    hops = np.zeros(sources.shape[0], dtype=np.int64)  # input arrives at its cores directly
    hops[from_neuron] = np.abs(position[cores[from_neuron]]
                               - position[core_of[sources[from_neuron]]]).sum(axis=1)
    return starts, cores.astype(np.int64), counts.astype(np.int64), hops


def _synapses_per_core(compiled: CompiledNetwork, core_of: np.ndarray, n_cores: int,
                       immediate_only: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source, target core, synapses) of every pair of a source and a core its synapses reach,
    sorted by source, then core: per-synapse rows, and convolutions one block of synapses at a
    time (:func:`asyncsim.convolution.synapse_blocks`), so that memory follows the pairs."""
    n_sources = compiled.fanout_start.shape[0] - 1
    end = compiled.delay_start[-1] if not immediate_only else compiled.fanout_start[-1]
    parts = [np.repeat(np.arange(n_sources), np.diff(compiled.fanout_start))]
    if not immediate_only:
        parts.append(np.repeat(np.arange(n_sources), np.diff(compiled.delay_start)))
    row_sources = np.concatenate(parts)
    keys, weights = [], []
    _add_pairs(keys, weights, row_sources, compiled.targets[:end], core_of, n_cores)
    for row in compiled.conv:
        if immediate_only and row[DELAY] > 0:
            continue
        for targets, sources in synapse_blocks(row):
            _add_pairs(keys, weights, sources, targets, core_of, n_cores)
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    counts = np.bincount(inverse.ravel(), weights=np.concatenate(weights)).astype(np.int64)
    sources, cores = np.divmod(unique, n_cores)
    return sources.astype(np.int64), cores.astype(np.int64), counts


def _add_pairs(keys: list, weights: list, sources: np.ndarray, targets: np.ndarray,
               core_of: np.ndarray, n_cores: int) -> None:
    """Append the (source, core) pairs of a block of synapses, counted (key: source x cores
    + core)."""
    unique, counts = np.unique(sources * n_cores + core_of[targets], return_counts=True)
    keys.append(unique.astype(np.int64))
    weights.append(counts.astype(np.float64))
