"""Energy and latency of a simulated run on a chip, from the kernel's event counts.

Dynamic energy per inference (joules) is a sum of terms, each a count times a figure:

=====================  ==================================================  ======================
term                   count                                               figure (pJ)
=====================  ==================================================  ======================
``sops``               synaptic operations of network spikes               ``sop_pj``
``input_sops``         synaptic operations of input spikes                 ``sop_pj``
``neuron_access``      neurons placed x timesteps (every neuron, every     ``neuron_access_pj``
                       timestep, as chips that sweep their cores do)
``neuron_updates``     neuron integrations (``neuron_updates``)            ``neuron_update_pj``
``spikes``             spikes fired                                        ``spike_pj``
``routed_spikes``      spike messages: one per target core of a delivered  ``spike_routed_pj``
                       spike, input spikes included
``hops``               mesh hops travelled by those messages               ``hop_pj``
``barrier_messages``   barrier messages (per receiving neuron)             ``barrier_message_pj``
=====================  ==================================================  ======================

Static energy is ``static_power_mw`` times the latency, and is reported apart from the dynamic
energy; the total is their sum. Latency per inference follows the profile's synchronization
style (:mod:`asyncsim.sync`).

Unknown is never zero: a figure that is unknown (``null``) and whose count is not zero in this
run makes its term, the dynamic energy and the total unknown (None), and a latency that needs it
unknown. The known parts are still given, and their sum as a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .profile import HardwareProfile
from .timesteps import WEIGHTS, busiest_core_ns

#: dynamic energy terms: name -> (count in the run's per-sample arrays, energy figure)
ENERGY_TERMS = {
    "sops": ("sops", "sop_pj"),
    "input_sops": ("input_sops", "sop_pj"),
    "neuron_access": ("neuron_timesteps", "neuron_access_pj"),
    "neuron_updates": ("neuron_updates", "neuron_update_pj"),
    "spikes": ("spikes", "spike_pj"),
    "routed_spikes": ("messages", "spike_routed_pj"),
    "hops": ("hops", "hop_pj"),
    "barrier_messages": ("barrier_messages", "barrier_message_pj"),
}


@dataclass
class Estimate:
    """Per-sample amounts of one quantity, and what is unknown about them.

    Attributes:
        total: (S,) the amount, or None when a figure it needs is unknown.
        lower_bound: (S,) the sum of the known parts (equal to ``total`` when known).
        missing: figures (``section.field``) it needs and the profile does not know.
        parts: named parts (energy terms), each (S,) or None where unknown.
    """

    total: np.ndarray | None
    lower_bound: np.ndarray
    missing: list[str] = field(default_factory=list)
    parts: dict[str, np.ndarray | None] = field(default_factory=dict)


def event_counts(per_sample: dict[str, np.ndarray], neurons_placed: int,
                 input_messages: np.ndarray) -> dict[str, np.ndarray]:
    """The counts :data:`ENERGY_TERMS` reads, from a report's per-sample arrays: the kernel's
    counters, neurons x timesteps, spikes fired, and spike messages (the kernel's routed spikes
    plus ``input_messages``, the messages of input spikes delivered at the start of a pass)."""
    n_samples, n_steps = per_sample["steps"].shape
    counts = {k: np.asarray(per_sample[k], dtype=np.float64) for k in (
        "sops", "input_sops", "neuron_updates", "hops", "barrier_messages")}
    counts["neuron_timesteps"] = np.full(n_samples, float(neurons_placed * n_steps))
    counts["spikes"] = per_sample["spikes_per_layer"].sum(axis=1).astype(np.float64)
    counts["messages"] = per_sample["routed_spikes"].astype(np.float64) + input_messages
    return counts


def energy_joules(counts: dict[str, np.ndarray], profile: HardwareProfile) -> Estimate:
    """Dynamic energy per sample (joules) by term (:data:`ENERGY_TERMS`)."""
    parts: dict[str, np.ndarray | None] = {}
    missing: list[str] = []
    lower = np.zeros_like(counts["sops"])
    for name, (count, figure_name) in ENERGY_TERMS.items():
        figure = profile.energy[figure_name]
        if figure.known:
            parts[name] = counts[count] * figure.value * 1e-12
            lower = lower + parts[name]
        elif np.any(counts[count] > 0):
            parts[name] = None
            if f"energy.{figure_name}" not in missing:
                missing.append(f"energy.{figure_name}")
        else:
            parts[name] = np.zeros_like(lower)
    return Estimate(None if missing else lower, lower, missing, parts)


def static_joules(latency: Estimate, profile: HardwareProfile) -> Estimate:
    """Static energy per sample: ``static_power_mw`` over the latency (joules)."""
    power = profile.energy["static_power_mw"]
    watts = (power.value or 0.0) * 1e-3
    missing = ([] if power.known else ["energy.static_power_mw"]) + latency.missing
    lower = latency.lower_bound * watts
    known = power.known and latency.total is not None
    return Estimate(lower if known else None, lower, missing)


def latency_seconds(per_sample: dict[str, np.ndarray], profile: HardwareProfile,
                    tiles: int = 1, timesteps: dict[str, Any] | None = None) -> Estimate:
    """Latency per sample (seconds) by the rule of the profile's synchronization style.

    ``tiles`` (tiles the placement uses) picks the barrier time from the profile's table;
    ``timesteps`` holds what the barrier rule's per-timestep walk needs (see
    :func:`asyncsim.hardware.timesteps.busiest_core_ns`: ``trace``, ``mapping``,
    ``n_neurons``, ``inputs``, ``queued_input``, ``output_counts``)."""
    style = profile.sync
    lanes = profile.core_limit("lanes_per_core") or 1
    timing = {name: figure.value for name, figure in profile.timing.items()}
    timing["barrier_ns"] = profile.timing["barrier_ns"].for_tiles(tiles)
    used = style.timing_used(per_sample)
    missing = [f"timing.{name}" for name in used if timing[name] is None]
    values = {name: value or 0.0 for name, value in timing.items()}
    counts = dict(per_sample)
    if style.per_timestep:
        if timesteps is None:
            raise ValueError(f"the {style.name} style's latency needs the run's recorded "
                             f"schedule (timesteps=...)")
        counts["busiest_core_ns"] = busiest_core_ns(
            weights={name: values[name] for name in WEIGHTS}, lanes=lanes, **timesteps)
    lower = style.latency_seconds(counts, values, lanes)
    return Estimate(None if missing else lower, lower, missing)


def input_messages(inputs: np.ndarray, mapping: Any, n_neurons: int,
                   input_sops: np.ndarray, queued_input: bool) -> np.ndarray:
    """(S,) spike messages of input spikes delivered at the start of a pass (one per input spike
    and target core); queued inputs are counted by the kernel instead. Under input dropout the
    count is scaled by the share of input SOPs that survived (exact without dropout)."""
    if queued_input:
        return np.zeros(inputs.shape[0])
    starts = mapping.route_start[n_neurons:]
    routes = np.diff(starts)
    feature = np.repeat(np.arange(routes.shape[0]), routes)
    fanout = np.bincount(feature, weights=mapping.route_synapses[starts[0]:starts[-1]],
                         minlength=routes.shape[0])
    spikes = inputs.sum(axis=1).astype(np.float64)  # (S, features)
    messages = spikes @ routes.astype(np.float64)
    offered = spikes @ fanout
    share = np.divide(input_sops, offered, out=np.ones_like(offered), where=offered > 0)
    return messages * share
