"""Per-timestep work of each core, from a run's recorded schedule.

A chip that synchronizes once per timestep (Loihi, Loihi 2) runs all its cores in parallel
within a timestep and waits for the slowest: the time of a timestep is that of its busiest core,
plus the barrier. The kernel counts work per forward step, not per timestep and core, so the
chip backend records the schedule (:mod:`asyncsim.trace`) and this module walks it again: which
spikes were delivered in which pass, and so which core sent, received and integrated what.

A core's time in a timestep (nanoseconds) is the larger of what it sends and what it receives,
which proceed side by side:

* sending: every neuron it holds is visited (``neuron_access_ns``) and updated
  (``neuron_update_ns``; under barrier synchronization every neuron integrates every timestep),
  each of its spikes costs ``spike_ns``, each spike message it sends ``spike_routed_ns``;
* receiving: each message that arrives costs ``message_in_ns``, each synaptic operation
  ``sop_ns`` / ``lanes_per_core``;

and the timestep's longest route adds ``hop_ns`` per hop. Input spikes arrive as messages too
(one per input spike and target core), without hops. Output neurons send nothing, so the kernel
never queues their spikes and the schedule does not say when they fired: each core's output
spikes of a sample are spread evenly over its timesteps.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

#: per-event times the walk needs, in this order (nanoseconds; an unknown one as 0)
WEIGHTS = ("neuron_access_ns", "neuron_update_ns", "spike_ns", "spike_routed_ns",
           "message_in_ns", "sop_ns", "hop_ns")


def busiest_core_ns(trace: Any, mapping: Any, n_neurons: int, inputs: np.ndarray,
                    queued_input: bool, output_counts: np.ndarray, weights: dict[str, float],
                    lanes: int) -> np.ndarray:
    """(S,) sum over timesteps of the busiest core's time, nanoseconds.

    Args:
        trace: the run's :class:`~asyncsim.trace.Trace`.
        mapping: its :class:`~asyncsim.hardware.mapping.CoreMapping`.
        n_neurons: neurons of the network (sources below this index are neurons).
        inputs: (S, T, features) input spike counts of the run.
        queued_input: inputs were queued as events (then they are in the selection stream).
        output_counts: (S, outputs) spikes of the output neurons (the last ones).
        weights: per-event times by the names in :data:`WEIGHTS` (ns).
        lanes: synaptic lanes per core (SOP time is divided by it).
    """
    n_samples, n_steps = trace.steps.shape
    counts = _input_counts(trace, inputs)
    n_cores = mapping.n_cores
    send_base = mapping.neurons.astype(np.float64) * (weights["neuron_access_ns"]
                                                      + weights["neuron_update_ns"])
    # input spikes delivered at the start of a pass: messages and SOPs per target core
    feature_routes = _feature_routes(mapping, n_neurons, counts.shape[2], n_cores)
    output_core = mapping.core_of[n_neurons - output_counts.shape[1]:]
    out = np.zeros(n_samples)
    for s in range(n_samples):
        spikes, sent, received, sops, hops = _walk(
            trace.selection[trace.selection_offsets[s]:trace.selection_offsets[s + 1]],
            trace.steps[s], counts[s], n_neurons, mapping.core_of, mapping.route_start,
            mapping.route_core, mapping.route_synapses, mapping.route_hops, n_cores,
            queued_input)
        if not queued_input:
            received += counts[s] @ feature_routes[0]
            sops += counts[s] @ feature_routes[1]
        spikes += np.bincount(output_core, weights=output_counts[s], minlength=n_cores) / max(
            1, n_steps)
        send = send_base + spikes * weights["spike_ns"] + sent * weights["spike_routed_ns"]
        receive = received * weights["message_in_ns"] + sops * weights["sop_ns"] / max(1, lanes)
        out[s] = np.maximum(send, receive).max(axis=1).sum() + hops.sum() * weights["hop_ns"]
    return out


def _input_counts(trace: Any, inputs: np.ndarray) -> np.ndarray:
    """(S, T, features) input spikes that reached the network: the inputs, or the survivors of
    input dropout where the trace recorded them."""
    if trace.input_survivors.shape[0] == 0:
        return inputs.astype(np.float64)
    counts = np.zeros(inputs.shape, dtype=np.float64)
    s, t, f, c = trace.input_survivors.T
    counts[s, t, f] = c
    return counts


def _feature_routes(mapping: Any, n_neurons: int, n_features: int,
                    n_cores: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, cores) messages and synapses one spike of each input feature brings to each
    core."""
    messages = np.zeros((n_features, n_cores))
    synapses = np.zeros((n_features, n_cores))
    for f in range(n_features):
        lo, hi = mapping.route_start[n_neurons + f], mapping.route_start[n_neurons + f + 1]
        messages[f, mapping.route_core[lo:hi]] = 1.0
        synapses[f, mapping.route_core[lo:hi]] = mapping.route_synapses[lo:hi]
    return messages, synapses


@nb.njit(cache=True)
def _walk(selection, steps, counts, n_neurons, core_of, route_start, route_core,
          route_synapses, route_hops, n_cores, queued_input):
    """Per pass and core: spikes fired, messages sent, messages received and SOPs, and per pass
    the longest route, from one sample's selection stream (see :mod:`asyncsim.trace`)."""
    n_steps = steps.shape[0]
    spikes = np.zeros((n_steps, n_cores))
    sent = np.zeros((n_steps, n_cores))
    received = np.zeros((n_steps, n_cores))
    sops = np.zeros((n_steps, n_cores))
    hops = np.zeros(n_steps)
    at = 0
    for t in range(n_steps):
        for _ in range(max(0, steps[t] - 1)):  # a pass's last step only evaluates
            n = selection[at]
            at += 1
            for k in range(n):
                src = selection[at + k]
                if src < 0:  # fired, then removed by network dropout: never sent
                    spikes[t, core_of[-(src + 1)]] += 1.0
                    continue
                amount = 1.0
                if src < n_neurons:
                    spikes[t, core_of[src]] += 1.0
                elif queued_input:
                    amount = counts[t, src - n_neurons]
                for e in range(route_start[src], route_start[src + 1]):
                    if src < n_neurons:
                        sent[t, core_of[src]] += 1.0
                    received[t, route_core[e]] += amount
                    sops[t, route_core[e]] += amount * route_synapses[e]
                    if route_hops[e] > hops[t]:
                        hops[t] = route_hops[e]
            at += n
    return spikes, sent, received, sops, hops
