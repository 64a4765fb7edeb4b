"""Running a network on an emulated chip: a profile's synchronization style mapped onto the
kernel's mechanisms, a core placement, and the cost models.

=============  ===============================================================================
style          kernel settings (before the user's overrides)
=============  ===============================================================================
barrier        layer-order policy, ``F`` = largest layer (or the profile's), synchronization
               threshold = fan-in, barrier messages on: layer-synchronized execution
timer          the profile's policy; each core selects up to ``F_core`` (neurons per core, or
               the profile's integer) of its own pending spikes per forward step (one tick),
               so cores proceed in parallel
asynchronous   the profile's policy and ``F``; synchronization threshold 1, no barriers
=============  ===============================================================================
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..network import Network
from ..report import Report
from ..simulator import Simulator
from .cost import energy_joules, latency_seconds, unknown_figures
from .mapping import map_network
from .profile import HardwareProfile, load_profile


def profile_settings(profile: HardwareProfile, network: Network) -> tuple[dict[str, Any], int]:
    """Simulator settings implied by ``profile`` for ``network``, and the per-core quota."""
    largest = max(layer.size for layer in network.layers)
    group = profile.forward_group
    per_core = profile.core_limit("neurons_per_core")
    if group == "layer":
        group = largest
    elif group == "core":
        group = per_core
    if profile.style == "barrier":
        return dict(policy="layer", forward_group=group, sync_threshold="fan-in",
                    emit_barriers=True), 0
    if profile.style == "timer":
        # every core may deliver up to `group` spikes per tick; F caps the whole chip
        return dict(policy=profile.policy, forward_group=10**9, sync_threshold=0,
                    emit_barriers=False), int(group)
    return dict(policy=profile.policy, forward_group=group, sync_threshold=1,
                emit_barriers=False), 0


def quantize_weights(network: Network, bits: int | None) -> tuple[Network, list[float]]:
    """A copy of ``network`` with each projection's weights rounded to ``bits``-bit signed
    integers times a per-projection scale (max |w| / (2^(bits-1) - 1)), and the scales; None
    keeps floats (scales of 0)."""
    if bits is None:
        return network, [0.0] * len(network.projections)
    levels = 2 ** (bits - 1) - 1
    projections, scales = [], []
    for p in network.projections:
        scale = float(np.max(np.abs(p.weight))) / levels if np.any(p.weight) else 1.0
        projections.append(replace(p, weight=np.round(p.weight / scale) * scale))
        scales.append(scale)
    return replace(network, projections=projections), scales


def state_bounds(network: Network, scales: list[float], bits: int | None) -> np.ndarray:
    """(neurons,) largest membrane magnitude with ``bits``-bit state counted in units of the
    neuron's incoming weight step (the largest step among its incoming projections); inf where
    there is no such step or no state precision."""
    sizes = [layer.size for layer in network.layers]
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    step = np.zeros(first[-1])
    for p, scale in zip(network.projections, scales, strict=True):
        sl = slice(first[index[p.target]], first[index[p.target] + 1])
        step[sl] = np.maximum(step[sl], scale)
    if bits is None:
        return np.full(first[-1], np.inf)
    return np.where(step > 0, step * (2 ** (bits - 1) - 1), np.inf)


class ChipSimulator:
    """A :class:`~asyncsim.simulator.Simulator` configured by a chip profile.

    Example::

        chip = ChipSimulator(net, "loihi")               # or a profile file path
        report = chip.run(inputs, labels)
        report.hardware["energy_j"]["total"], report.hardware["latency_s"]

    Keyword arguments override the profile's settings (``policy``, ``forward_group``, ...);
    ``report.config`` and ``report.hardware["settings"]`` say which values were used.
    ``quantize`` rounds weights to the profile's ``neuron.weight_bits`` and clips membranes to
    ``neuron.state_bits`` (see :func:`state_bounds`).
    """

    def __init__(self, network: Network, profile: str | HardwareProfile,
                 mapping: str = "sequential", quantize: bool = True, **overrides: Any):
        self.profile = profile if isinstance(profile, HardwareProfile) else load_profile(
            profile)
        self.quantized = quantize and self.profile.weight_bits is not None
        self.original = network
        self.network, scales = quantize_weights(
            network, self.profile.weight_bits if quantize else None)
        settings, quota = profile_settings(self.profile, network)
        user_group = overrides.get("forward_group")
        if self.profile.style == "timer" and user_group is not None:
            quota = int(user_group)  # on a timer chip F is the per-core group
            overrides = {k: v for k, v in overrides.items() if k != "forward_group"}
        settings.update(overrides)
        self.settings = settings
        self.simulator = Simulator(self.network, **settings)
        self.simulator.mapping = map_network(self.simulator.compiled, self.profile, mapping)
        self.simulator.core_quota = quota
        if self.quantized:
            bound = state_bounds(network, scales, self.profile.state_bits)
            self.simulator.u_low, self.simulator.u_high = -bound, bound
        used = sorted({layer.neuron for layer in network.layers})
        self.warnings = [f"the model uses {kind} neurons; {self.profile.name} supports "
                         f"{', '.join(self.profile.neuron_models)}"
                         for kind in used if kind not in self.profile.neuron_models]

    def run(self, inputs: Any, labels: np.ndarray | None = None, **options: Any) -> Report:
        """Simulate and attach energy, latency and mapping to ``report.hardware``."""
        report = self.simulator.run(inputs, labels, **options)
        latency = latency_seconds(report.per_sample, self.profile)
        energy, apart = energy_joules(report.per_sample, self.profile, latency)
        accuracy_float = None
        if self.quantized and report.labels is not None:
            exact = Simulator(self.original, **self.settings)
            exact.mapping, exact.core_quota = self.simulator.mapping, self.simulator.core_quota
            plain = {k: v for k, v in options.items() if k != "record"}
            accuracy_float = exact.run(inputs, labels, **plain).accuracy
        report.per_sample["latency_s"] = latency
        report.per_sample["energy_j"] = energy["total"]
        if self.simulator.core_quota:
            report.config["forward_group"] = f"{self.simulator.core_quota} per core"
        report.hardware = {
            "profile": self.profile.name,
            "style": self.profile.style,
            "settings": {k: (v.name if hasattr(v, "code") else v)
                         for k, v in self.settings.items()},
            "core_quota": self.simulator.core_quota or None,
            "weights_quantized_bits": self.profile.weight_bits if self.quantized else None,
            "accuracy_unquantized": accuracy_float,
            "mapping": self.simulator.mapping.summary(),
            "energy_j": {k: float(np.mean(v)) for k, v in energy.items()},
            "energy_apart_j": {k: float(np.mean(v)) for k, v in apart.items()},
            "latency_s": float(np.mean(latency)),
            "unknown_figures": unknown_figures(self.profile),
            "warnings": self.warnings,
        }
        return report
