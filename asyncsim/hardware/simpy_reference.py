"""A small process-based model of a chip, written with simpy: the executable specification of
the synchronization styles.

Each core is a simpy process that owns its neurons and an inbox (a ``simpy.Store``) of spike and
barrier messages. An arbiter process runs the forward steps: it starts a step, waits for every
core to integrate its inbox and evaluate its neurons, checks the stop condition, selects pending
spikes (for the whole chip, or per core for the timer style) and routes their messages into the
target cores' inboxes. One simpy time unit is one forward step.

It is slow and meant for tiny networks and deterministic policies (``fifo``, ``layer``); tests
check that the compiled kernel gives the same spikes, SOPs, barrier messages and forward steps.
"""

from __future__ import annotations

import numpy as np
import simpy

from ..network import Network
from .chip import profile_settings
from .mapping import CoreMapping
from .profile import HardwareProfile


class _Core:
    """One core: its neurons' state and an inbox of (target, weight, is_spike) messages."""

    def __init__(self, env: simpy.Environment, neurons: list[int]):
        self.env = env
        self.neurons = neurons
        self.inbox = simpy.Store(env)


def simpy_run(network: Network, profile: HardwareProfile, mapping: CoreMapping,
              inputs: np.ndarray, policy: str | None = None,
              forward_group: int | None = None) -> dict[str, np.ndarray]:
    """Simulate ``inputs`` (samples, timesteps, features) on ``profile``'s synchronization
    style with the placement ``mapping``; returns per-sample counts named as in the report.
    ``policy`` and ``forward_group`` override the profile's (the group is per core on timer
    chips)."""
    settings, quota = profile_settings(profile, network)
    policy = policy or settings["policy"]
    group = settings["forward_group"]
    if forward_group is not None:
        if quota:
            quota = forward_group
        else:
            group = forward_group
    sizes = [layer.size for layer in network.layers]
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n, n_layers = int(first[-1]), len(sizes)
    layer_of = np.repeat(np.arange(n_layers), sizes)
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    outgoing: list[list[tuple[int, float]]] = [[] for _ in range(n + network.input_size)]
    for p in sorted(network.projections, key=lambda p: index[p.target]):
        src0 = n if p.source == "input" else int(first[index[p.source]])
        tgt0 = int(first[index[p.target]])
        rows, cols, where = p.synapses()
        values = p.weight.ravel()
        for j, i, k in sorted(zip(cols.tolist(), rows.tolist(), where.tolist(), strict=True)):
            outgoing[src0 + j].append((tgt0 + i, float(values[k])))
    fanin = np.zeros(n, dtype=int)
    input_fanin = np.zeros(n, dtype=int)
    for s, targets in enumerate(outgoing):
        for t, _ in targets:
            fanin[t] += 1
            input_fanin[t] += s >= n
    sync = {"fan-in": fanin, 0: np.zeros(n, int), 1: np.ones(n, int)}[settings["sync_threshold"]]
    barriers = settings["emit_barriers"]
    decay = [network.layers[layer_of[i]].decay_per_step(network.dt_ms) for i in range(n)]
    thr = [network.layers[layer_of[i]].threshold for i in range(n)]

    S, T, _ = inputs.shape
    out = {key: np.zeros(S, dtype=np.int64) for key in ("sops", "barrier_messages")}
    out["spikes_per_layer"] = np.zeros((S, n_layers), dtype=np.int64)
    out["steps"] = np.zeros((S, T), dtype=np.int64)
    for s in range(S):
        env = simpy.Environment()
        cores = [_Core(env, [i for i in range(n) if mapping.core_of[i] == c])
                 for c in range(mapping.n_cores)]
        u = [0.0] * n
        env.process(_arbiter(env, cores, s, inputs[s], outgoing, n, layer_of, n_layers, sync,
                             barriers, decay, thr, input_fanin, mapping, policy, group, quota,
                             u, out))
        env.run()
    return out


def _arbiter(env, cores, s, frames, outgoing, n, layer_of, n_layers, sync, barriers, decay,
             thr, input_fanin, mapping, policy, group, quota, u, out):
    def key(i, step):
        return float(step) if policy == "fifo" else float(layer_of[i])

    for t in range(frames.shape[0]):
        for i in range(n):
            u[i] *= decay[i]
        state = {"refractory": set(), "fired": set(), "barrier_sent": set(),
                 "messages": list(input_fanin), "pending": [], "outbox": []}
        touched: set[int] = set()
        x: dict[int, float] = {}
        for f, count in enumerate(frames[t]):  # aggregated input currents
            for tgt, w in outgoing[n + f]:
                x[tgt] = x.get(tgt, 0.0) + w * int(count) if count else x.get(tgt, 0.0)
                if count:
                    touched.add(tgt)
        if np.any(sync > 0):
            touched |= {i for i in range(n) if input_fanin[i] > 0}
        step = 0
        while True:
            # every core integrates its inbox and evaluates its neurons, in parallel
            done = [env.process(_core_step(env, core, x, touched, state, u, sync, barriers,
                                           thr, layer_of, n_layers, key, step, outgoing, s,
                                           out))
                    for core in cores]
            yield env.all_of(done)
            touched = set()
            x = {}
            step += 1
            for tgt in state["outbox"]:
                out["barrier_messages"][s] += 1
                cores[mapping.core_of[tgt]].inbox.put((tgt, 0.0, False))
            state["outbox"] = []
            pending = state["pending"]
            in_flight = any(len(core.inbox.items) for core in cores)
            if not pending and not in_flight:
                break
            pending.sort()
            if quota:
                taken: dict[int, int] = {}
                chosen, rest = [], []
                for entry in pending:
                    c = mapping.core_of[entry[2]]
                    if taken.get(c, 0) < quota:
                        taken[c] = taken.get(c, 0) + 1
                        chosen.append(entry)
                    else:
                        rest.append(entry)
            else:
                chosen, rest = pending[:group], pending[group:]
            state["pending"] = rest
            for src in sorted(entry[2] for entry in chosen):
                out["sops"][s] += len(outgoing[src])
                for tgt, w in outgoing[src]:
                    cores[mapping.core_of[tgt]].inbox.put((tgt, w, True))
            yield env.timeout(1)
        out["steps"][s, t] = step


def _core_step(env, core, x, touched, state, u, sync, barriers, thr, layer_of, n_layers, key,
               step, outgoing, s, out):
    messages = state["messages"]
    while core.inbox.items:
        tgt, w, is_spike = yield core.inbox.get()
        messages[tgt] += 1
        touched.add(tgt)
        if is_spike:
            x[tgt] = x.get(tgt, 0.0) + w
    for i in sorted(i for i in core.neurons if i in touched):
        if i in state["refractory"]:
            continue
        u[i] += x.get(i, 0.0)
        if messages[i] < sync[i]:
            continue
        if u[i] > thr[i]:
            out["spikes_per_layer"][s, layer_of[i]] += 1
            u[i] = 0.0
            state["refractory"].add(i)
            state["fired"].add(i)
            if layer_of[i] < n_layers - 1:
                state["pending"].append((key(i, step), i, i))
        elif barriers and i not in state["barrier_sent"] and i not in state["fired"]:
            # barriers leave through the arbiter after the step, like spikes: a message never
            # reaches another core within the step it was sent in
            state["barrier_sent"].add(i)
            state["outbox"].extend(tgt for tgt, _ in outgoing[i])
    yield env.timeout(0)
