"""Energy and latency of a simulated run on a chip, from the kernel's event counts.

Energy per inference (joules), per term:

* ``sops``: network synaptic operations x ``energy.sop_pj``;
* ``neuron_updates``: neuron integrations x ``energy.neuron_update_pj``;
* ``routed_spikes``: spikes routed to a core (one per target core of a delivered spike) x
  ``energy.spike_routed_pj``;
* ``hops``: mesh hops travelled by routed spikes x ``energy.hop_pj``;
* ``barrier_messages``: barrier messages (per receiving neuron) x ``energy.barrier_message_pj``;
* ``static``: ``energy.static_power_mw`` x latency.

Input synaptic operations are reported apart (``input_sops_j``) and not included, as in the
paper's table 3.

Latency per inference (seconds):

* timer style: one tick (``timing.tick_period_us``) per forward step;
* other styles: per forward step, the busiest core's synaptic operations x ``timing.sop_ns``
  / ``cores.lanes_per_core``,
  plus its neuron updates x ``timing.neuron_update_ns``, plus the step's longest route x
  ``timing.hop_ns``; barrier style adds ``timing.barrier_ns`` per forward step (each step ends
  with a barrier).
"""

from __future__ import annotations

import numpy as np

from .profile import HardwareProfile

ENERGY_TERMS = {
    "sops": ("sops", "sop_pj"),
    "neuron_updates": ("neuron_updates", "neuron_update_pj"),
    "routed_spikes": ("routed_spikes", "spike_routed_pj"),
    "hops": ("hops", "hop_pj"),
    "barrier_messages": ("barrier_messages", "barrier_message_pj"),
}


def latency_seconds(per_sample: dict[str, np.ndarray], profile: HardwareProfile) -> np.ndarray:
    """(S,) latency of each inference, seconds, by the rule of the profile's synchronization
    style (:mod:`asyncsim.sync`)."""
    timing = {name: figure.amount for name, figure in profile.timing.items()}
    lanes = profile.core_limit("lanes_per_core") or 1
    return profile.sync.latency_seconds(per_sample, timing, lanes)


def energy_joules(per_sample: dict[str, np.ndarray], profile: HardwareProfile,
                  latency: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample energy terms (joules) and their ``total``; the energy of input synaptic
    operations comes apart, as ``input_sops`` in the second dict."""
    e = profile.energy
    terms = {name: per_sample[count] * e[figure].amount * 1e-12
             for name, (count, figure) in ENERGY_TERMS.items()}
    terms["static"] = latency * e["static_power_mw"].amount * 1e-3
    terms["total"] = sum(terms.values())
    apart = {"input_sops": per_sample["input_sops"] * e["sop_pj"].amount * 1e-12}
    return terms, apart


def unknown_figures(profile: HardwareProfile) -> list[str]:
    """Energy and timing figures that this profile's style uses but does not know (counted
    as 0)."""
    unused = profile.sync.ignored_figures
    return [name for name, fig in profile.figures()
            if fig.value is None and not name.startswith("cores.") and name not in unused]
