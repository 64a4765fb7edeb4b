"""Placing neurons on cores, and the routing tables that follow from a placement.

A core holds at most ``neurons_per_core`` neurons and ``synapses_per_core`` incoming synapses
(input synapses included). Input features live off-chip and reach their cores without hops.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..compile import CompiledNetwork
from ..errors import InputError
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
        capacity: neurons per core (None: unlimited).
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
    capacity: int | None

    @property
    def n_cores(self) -> int:
        return int(self.neurons.shape[0])

    @property
    def utilization(self) -> float:
        """Placed neurons / neuron slots of the cores used (1.0 with unlimited cores)."""
        if self.capacity is None:
            return 1.0
        return float(self.neurons.sum() / (self.capacity * self.n_cores))

    def summary(self) -> dict:
        return {"strategy": self.strategy, "cores_used": self.n_cores,
                "neuron_utilization": round(self.utilization, 4),
                "max_neurons_per_core": int(self.neurons.max()),
                "max_synapses_per_core": int(self.synapses.max())}


def map_network(compiled: CompiledNetwork, profile: HardwareProfile,
                strategy: str = "sequential") -> CoreMapping:
    """Place ``compiled``'s neurons on ``profile``'s cores.

    ``sequential`` fills cores in neuron order; ``traffic`` also starts every layer on a fresh
    core and lays the cores out on the mesh in the order of a breadth-first walk of the
    core-to-core traffic graph (networkx), along a snake path, so that cores that talk sit close.
    Raises :class:`InputError` if the network needs more cores than the chip has.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"field 'mapping': expected one of {list(STRATEGIES)}, got {strategy!r}")
    npc = profile.core_limit("neurons_per_core")
    spc = profile.core_limit("synapses_per_core")
    fanin = compiled.fanin
    if spc is not None and fanin.max(initial=0) > spc:
        worst = int(np.argmax(fanin))
        raise InputError(f"profile '{profile.name}': neuron {worst} has {int(fanin[worst])} "
                         f"incoming synapses, more than cores.synapses_per_core = {spc}")
    core_of = np.empty(compiled.n_neurons, dtype=np.int64)
    core, held, synapses = 0, 0, 0
    layer_start = set(compiled.layer_offsets[:-1].tolist()) if strategy == "traffic" else set()
    for n in range(compiled.n_neurons):
        full = (npc is not None and held >= npc) or (
            spc is not None and synapses + fanin[n] > spc)
        if held and (full or n in layer_start):
            core, held, synapses = core + 1, 0, 0
        core_of[n] = core
        held += 1
        synapses += int(fanin[n])
    n_cores = core + 1
    chip_cores = profile.core_limit("cores_per_chip")
    if chip_cores is not None and n_cores > chip_cores:
        raise InputError(f"profile '{profile.name}': the network needs {n_cores} cores "
                         f"({compiled.n_neurons} neurons, {int(fanin.sum())} synapses), the "
                         f"chip has cores_per_chip = {chip_cores}")
    neurons = np.bincount(core_of, minlength=n_cores)
    syn = np.bincount(core_of, weights=fanin, minlength=n_cores).astype(np.int64)
    order = _traffic_order(compiled, core_of, n_cores) if strategy == "traffic" else np.arange(
        n_cores)
    position = _mesh_positions(order, profile.mesh, snake=strategy == "traffic")
    tables = _routes(compiled, core_of, position)
    return CoreMapping(core_of, position, neurons, syn, *tables, strategy=strategy,
                       capacity=npc)


def _traffic_order(compiled: CompiledNetwork, core_of: np.ndarray, n_cores: int) -> np.ndarray:
    """Cores in breadth-first order of the core traffic graph, heaviest links first."""
    n = compiled.n_neurons
    sources = np.repeat(np.arange(n), np.diff(compiled.fanout_start[: n + 1]))
    pairs = np.stack([core_of[sources], core_of[compiled.targets[: sources.shape[0]]]], axis=1)
    graph = nx.Graph()
    graph.add_nodes_from(range(n_cores))
    links, counts = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0, return_counts=True)
    for (a, b), w in zip(links.tolist(), counts.tolist(), strict=True):
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
    """(column, row) of each core from its slot on the mesh (row-major, or snake order)."""
    columns = max(1, mesh[0])
    row, col = np.divmod(slot, columns)
    if snake:
        col = np.where(row % 2 == 1, columns - 1 - col, col)
    return np.stack([col, row], axis=1).astype(np.int64)


def _routes(compiled: CompiledNetwork, core_of: np.ndarray, position: np.ndarray):
    n, n_sources = compiled.n_neurons, compiled.fanout_start.shape[0] - 1
    starts, cores, counts, hops = [0], [], [], []
    for s in range(n_sources):
        tgt = np.concatenate([
            compiled.targets[compiled.fanout_start[s]:compiled.fanout_start[s + 1]],
            compiled.targets[compiled.delay_start[s]:compiled.delay_start[s + 1]]])
        c, k = np.unique(core_of[tgt], return_counts=True)
        if s < n:
            h = np.abs(position[c] - position[core_of[s]]).sum(axis=1)
        else:
            h = np.zeros(c.shape[0], dtype=np.int64)  # input arrives at its cores directly
        cores.append(c)
        counts.append(k)
        hops.append(h)
        starts.append(starts[-1] + c.shape[0])
    cat = [np.concatenate(a).astype(np.int64) if a else np.zeros(0, np.int64)
           for a in (cores, counts, hops)]
    return (np.array(starts, dtype=np.int64), *cat)
