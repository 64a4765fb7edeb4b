"""A small, readable pure-Python simulation of the forward pass: the executable specification.

It follows ``docs/concepts.md`` step by step with plain lists and per-projection weight
matrices, independently of the compiled kernel's data structures. It is slow (use tiny
networks) and covers the policies whose selection is deterministic: ``fifo``, ``layer``,
``momentum`` without noise, and user key functions. Tests compare it with the kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import InputError
from .network import INPUT, Network

KEYS: dict[str, Callable] = {
    # (source, layer, membrane, step) -> priority; smallest first, ties by source index
    "fifo": lambda source, layer, membrane, step: float(step),
    "layer": lambda source, layer, membrane, step: float(layer),
    "momentum": lambda source, layer, membrane, step: -membrane,
}


def reference_run(
    network: Network,
    inputs: np.ndarray,
    *,
    policy: str | Callable = "fifo",
    forward_group: int = 1,
    stop: str = "drain",
    steps_after_output: int = 1,
    input_mode: str = "aggregated",
    prioritize_input: bool = False,
    sync_threshold: int | np.ndarray = 0,
    emit_barriers: bool = False,
    max_steps: int = 100_000,
    histogram_bins: int = 64,
    trace=None,
) -> dict[str, np.ndarray]:
    """Simulate ``inputs`` (samples, timesteps, features); returns per-sample arrays named as
    in :class:`~asyncsim.report.Report` (a subset).

    With ``trace`` (:class:`asyncsim.trace.Trace`) this is a replay: each forward step delivers
    the recorded selection instead of asking the policy, each pass runs the recorded number of
    steps, and the recorded dropout outcomes replace random draws. A trace that selects a spike
    which is not pending does not belong to these weights and inputs: InputError.
    """
    key = KEYS[policy] if isinstance(policy, str) else policy
    sizes = [layer.size for layer in network.layers]
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(first[-1])
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    n_out = sizes[-1]

    # Outgoing synapses of every source as (target, weight) lists, targets ascending.
    outgoing: list[list[tuple[int, float]]] = [[] for _ in range(n + network.input_size)]
    for p in sorted(network.projections, key=lambda p: index[p.target]):
        src_first = n if p.source == INPUT else int(first[index[p.source]])
        tgt_first = int(first[index[p.target]])
        rows, cols, where = p.synapses()
        values = p.weight.ravel()
        for j, i, k in sorted(zip(cols.tolist(), rows.tolist(), where.tolist(), strict=True)):
            outgoing[src_first + j].append((tgt_first + i, float(values[k])))
    input_fanin = [0] * n
    for s in range(n, n + network.input_size):
        for tgt, _ in outgoing[s]:
            input_fanin[tgt] += 1
    sync = np.broadcast_to(np.asarray(sync_threshold), (n,))
    params = [network.layers[layer_of[i]] for i in range(n)]

    S, T, _ = inputs.shape
    result = {
        "output_counts": np.zeros((S, n_out), dtype=np.int64),
        "output_membrane": np.zeros((S, n_out)),
        "spikes_per_layer": np.zeros((S, len(sizes)), dtype=np.int64),
        "sops": np.zeros(S, dtype=np.int64),
        "input_sops": np.zeros(S, dtype=np.int64),
        "delivered_spikes": np.zeros(S, dtype=np.int64),
        "dropped_pending": np.zeros(S, dtype=np.int64),
        "barrier_messages": np.zeros(S, dtype=np.int64),
        "guard_stops": np.zeros(S, dtype=np.int64),
        "steps": np.zeros((S, T), dtype=np.int64),
        "spikes_to_output": np.full((S, T), -1, dtype=np.int64),
        "reactivity": np.zeros((S, histogram_bins), dtype=np.int64),
    }
    for s in range(S):
        u = [0.0] * n
        schedule = trace.schedule(s) if trace is not None else None
        exempt = set() if trace is None else {
            (int(t), int(step), int(i)) for _, t, step, i in
            trace.exemptions[trace.exemptions[:, 0] == s]}
        for t in range(T):
            # 1. decay, fresh pass state
            for i in range(n):
                u[i] *= params[i].decay_per_step(network.dt_ms)
            refractory = [False] * n
            fired = [False] * n
            barrier_sent = [False] * n
            messages = list(input_fanin)
            currents = [0] * n
            incoming: dict[int, float] = {}  # neuron -> summed current since its last update
            pending: list[tuple[float, int, int]] = []  # (priority, tie, source)
            counts = [int(c) for c in inputs[s, t]]
            if trace is not None and trace.config.get("input_dropout", 0) > 0:
                rows = trace.input_survivors[(trace.input_survivors[:, 0] == s)
                                             & (trace.input_survivors[:, 1] == t)]
                counts = [0] * len(counts)
                for _, _, feature, kept in rows:
                    counts[int(feature)] = int(kept)

            def deliver(source, amplitude, incoming, messages=messages, currents=currents):
                for tgt, w in outgoing[source]:
                    incoming[tgt] = incoming.get(tgt, 0.0) + w * amplitude
                    messages[tgt] += 1
                    currents[tgt] += 1

            # 2. input: currents at once, or queued events
            for i, c in enumerate(counts):
                if c == 0:
                    continue
                source = n + i
                if input_mode == "queued":
                    for tgt, _ in outgoing[source]:
                        messages[tgt] -= 1
                    priority = -np.inf if prioritize_input else (
                        0.0 if policy == "momentum" else
                        key(source, -1, float(c), -1) if callable(policy) else -1.0)
                    pending.append((priority, source, source))
                else:
                    result["input_sops"][s] += c * len(outgoing[source])
                    deliver(source, float(c), incoming)
                    for tgt, _ in outgoing[source]:
                        messages[tgt] -= 1  # deliver() counted the message already
            if np.any(sync > 0):
                for i in range(n):
                    if input_fanin[i] > 0:
                        incoming.setdefault(i, 0.0)

            barriers_sent: dict[int, int] = {}
            step, first_output, delivered = 0, -1, 0
            while True:
                # 3a. integrate and evaluate neurons that received messages; barriers sent
                # in the previous step count from now on
                for tgt, count in barriers_sent.items():
                    messages[tgt] += count
                barriers_sent = {}
                arrived, incoming = incoming, {}
                for i in sorted(arrived):
                    if refractory[i]:
                        continue
                    u[i] += arrived[i]
                    if messages[i] < sync[i]:
                        continue
                    if u[i] > params[i].threshold:
                        membrane = u[i]
                        result["reactivity"][s, min(currents[i], histogram_bins - 1)] += 1
                        currents[i] = 0
                        result["spikes_per_layer"][s, layer_of[i]] += 1
                        fired[i] = True
                        u[i] = u[i] - params[i].threshold if params[i].reset == "soft" else 0.0
                        refractory[i] = params[i].refractory and (t, step, i) not in exempt
                        if layer_of[i] == len(sizes) - 1:
                            result["output_counts"][s, i - first[-2]] += 1
                            if first_output < 0:
                                first_output = step
                                result["spikes_to_output"][s, t] = delivered
                        else:
                            pending.append((key(i, int(layer_of[i]), membrane, step), i, i))
                    elif emit_barriers and not barrier_sent[i] and not fired[i]:
                        barrier_sent[i] = True
                        for tgt, _ in outgoing[i]:
                            barriers_sent[tgt] = barriers_sent.get(tgt, 0) + 1
                            incoming.setdefault(tgt, 0.0)
                            result["barrier_messages"][s] += 1
                # 3b. stop conditions
                step += 1
                if trace is not None:
                    if step == trace.steps[s, t]:
                        break
                elif stop == "on_output" and first_output >= 0 and (
                        step > first_output + steps_after_output):
                    break
                elif not pending and not incoming:
                    break
                elif step >= max_steps:
                    result["guard_stops"][s] += 1
                    break
                # 3c. select the F best pending spikes (or the recorded ones), 3d. deliver them
                if trace is not None:
                    sources, dropped = schedule[t][step - 1]
                    chosen = []
                    for source in sources.tolist():
                        match = next((e for e in pending if e[2] == source), None)
                        if match is None:
                            raise InputError(f"trace: sample {s}, timestep {t}, step {step}: "
                                             f"source {source} is not pending (the trace "
                                             f"belongs to other weights or inputs)")
                        pending.remove(match)
                        chosen.append(match)
                    delivered_sources = sources[~dropped].tolist()
                else:
                    pending.sort()
                    chosen, pending = pending[:forward_group], pending[forward_group:]
                    delivered_sources = [source for _, _, source in chosen]
                for source in sorted(delivered_sources):
                    delivered += 1
                    if source < n:
                        result["sops"][s] += len(outgoing[source])
                        result["delivered_spikes"][s] += 1
                        deliver(source, 1.0, incoming)
                    else:
                        c = counts[source - n]
                        result["input_sops"][s] += c * len(outgoing[source])
                        deliver(source, float(c), incoming)
            result["steps"][s, t] = step
            result["dropped_pending"][s] += len(pending)
        result["output_membrane"][s] = u[int(first[-2]):]
    return result
