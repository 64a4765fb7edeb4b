"""Running a network on an emulated chip: the profile's synchronization style
(:mod:`asyncsim.sync`) gives the kernel settings, the core mapping and the state precision give
the chip model (:class:`~asyncsim.placement.ChipModel`) the simulator runs with, and the cost
model turns the kernel's counts into energy and latency.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..compile import compile_network
from ..config import SimConfig, check_value, schema_fields
from ..errors import InputError
from ..network import Network
from ..placement import ChipModel
from ..report import HardwareResult, Report
from ..simulator import Simulator
from ..sync import Schedule
from .cost import (
    Estimate,
    energy_joules,
    event_counts,
    input_messages,
    latency_seconds,
    static_joules,
)
from .mapping import map_network
from .profile import HardwareProfile, load_profile

FORWARD_GROUP = next(f for f in schema_fields(SimConfig) if f.name == "forward_group")


def profile_schedule(profile: HardwareProfile, network: Network,
                     forward_group: int | None = None) -> Schedule:
    """Kernel settings implied by ``profile`` for ``network``; ``forward_group`` is the
    user's F, which replaces the profile's (per core on timer chips)."""
    group = profile.forward_group
    if group == "layer":
        group = max(layer.size for layer in network.layers)
    elif group == "core":
        group = profile.core_limit("neurons_per_core")
    schedule = profile.sync.schedule(int(group), profile.policy)
    if forward_group is not None:
        check_value(FORWARD_GROUP, forward_group)  # per core on timer chips: still >= 1
        schedule = profile.sync.with_group(schedule, int(forward_group))
    return schedule


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


def neuron_model(layer: Any) -> str:
    """A layer's neuron model in a profile's terms (``lif``, ``cuba_lif``, ...)."""
    return ("cuba_" if layer.synapse == "current" else "") + layer.neuron


def neuron_warnings(profile: HardwareProfile, network: Network) -> list[str]:
    """What the chip cannot run as the model says: an error for what it cannot run at all
    (current-based synapses on a chip without them, delays longer than its maximum), a warning
    where it can approximate (a leak on an integrate-and-fire chip, a leaky-integrator readout
    computed off the chip) or cannot check (delays on a chip whose maximum is unknown)."""
    warnings = []
    for layer in network.layers:
        kind = neuron_model(layer)
        if kind in profile.neuron_models:
            continue
        supported = ", ".join(profile.neuron_models)
        if kind.startswith("cuba_"):
            raise InputError(f"profile '{profile.name}': layer '{layer.name}' has "
                             f"current-based synapses ({kind}); the chip runs {supported}")
        if kind == "lif" and "if" in profile.neuron_models:
            warnings.append(f"layer '{layer.name}': the model uses lif neurons; "
                            f"{profile.name} supports {supported}: simulated with the leak, "
                            f"which the chip lacks")
        elif kind == "li":
            warnings.append(f"layer '{layer.name}': a leaky-integrator readout; "
                            f"{profile.name} supports {supported}: take it as computed off the "
                            f"chip")
        else:
            raise InputError(f"profile '{profile.name}': layer '{layer.name}' uses {kind} "
                             f"neurons; the chip runs {supported}")
    longest = max((p.delay for p in network.projections), default=0)
    limit = profile.max_delay_steps
    if longest and limit is not None and limit.value is not None and longest > limit.value:
        raise InputError(f"profile '{profile.name}': a projection delay of {longest} timesteps; "
                         f"the chip supports at most {int(limit.value)}")
    if longest and limit is not None and limit.value is None:
        warnings.append(f"the model has delays (up to {longest} timesteps); {profile.name}'s "
                        f"maximum delay is unknown, so they are not checked")
    return warnings


class ChipSimulator:
    """A :class:`~asyncsim.simulator.Simulator` configured by a chip profile.

    Example::

        chip = ChipSimulator(net, "loihi")               # or a profile file path
        report = chip.run(inputs, labels)
        report.hardware.energy_j["total"], report.hardware.latency_s

    Keyword arguments override the profile's settings (``policy``, ``forward_group``, ...);
    ``report.config`` and ``report.hardware.settings`` say which values were used.
    ``quantize`` rounds weights to the profile's ``neuron.weight_bits`` and clips membranes to
    ``neuron.state_bits`` (see :func:`state_bounds`).
    """

    def __init__(self, network: Network, profile: str | HardwareProfile,
                 mapping: str = "sequential", quantize: bool = True, allow_large: bool = False,
                 **overrides: Any):
        self.profile = profile if isinstance(profile, HardwareProfile) else load_profile(
            profile)
        self.quantized = quantize and self.profile.weight_bits is not None
        self.original = network
        self.network, scales = quantize_weights(
            network, self.profile.weight_bits if quantize else None)
        schedule = profile_schedule(self.profile, network, overrides.pop("forward_group", None))
        self.settings = {**schedule.settings(), **overrides}
        low = high = None
        if self.quantized:
            bound = state_bounds(network, scales, self.profile.state_bits)
            low, high = -bound, bound
        self.allow_large = allow_large
        placement = map_network(compile_network(self.network, allow_large), self.profile,
                                mapping, self.network)
        self.chip = ChipModel(placement, schedule.core_quota, low, high)
        self.simulator = Simulator(self.network, chip=self.chip, allow_large=allow_large,
                                   **self.settings)
        self.warnings = neuron_warnings(self.profile, network)

    def run(self, inputs: Any, labels: np.ndarray | None = None, **options: Any) -> Report:
        """Simulate and attach energy, latency and mapping to ``report.hardware``. On a
        barrier-style chip the schedule is recorded (the run takes twice as long) to find the
        busiest core of every timestep; ``report.trace`` keeps it only with ``record=True``."""
        record = bool(options.pop("record", False))
        per_timestep = self.profile.sync.per_timestep
        report = self.simulator.run(inputs, labels, record=record or per_timestep, **options)
        frames = np.asarray(getattr(inputs, "inputs", inputs))
        costs = self._costs(report, frames)
        if not record:
            report.trace = None
        accuracy_float = None
        if self.quantized and report.labels is not None:
            # the same placement and quota, float weights and unbounded membranes
            unbounded = replace(self.chip, u_low=None, u_high=None)
            exact = Simulator(self.original, chip=unbounded, allow_large=self.allow_large,
                              **self.settings)
            accuracy_float = exact.run(inputs, labels, **options).accuracy
        report.hardware = self._result(*costs, accuracy_float)
        latency, dynamic, static = costs
        if latency.total is not None:
            report.per_sample["latency_s"] = latency.total
        if dynamic.total is not None and static.total is not None:
            report.per_sample["energy_j"] = dynamic.total + static.total
        return report

    def _result(self, latency: Estimate, dynamic: Estimate, static: Estimate,
                accuracy_float: float | None) -> HardwareResult:
        """The chip part of the report: means per inference, None where unknown."""
        total = None if dynamic.total is None or static.total is None else (
            dynamic.total + static.total)
        energy = {name: _mean(value) for name, value in dynamic.parts.items()}
        energy.update(dynamic=_mean(dynamic.total), static=_mean(static.total),
                      total=_mean(total))
        return HardwareResult(
            profile=self.profile.name,
            style=self.profile.style,
            settings={k: (v.name if hasattr(v, "code") else v) for k, v in self.settings.items()},
            core_quota=self.chip.core_quota or None,
            weights_quantized_bits=self.profile.weight_bits if self.quantized else None,
            accuracy_unquantized=accuracy_float,
            mapping=self.chip.mapping.summary(),
            energy_j=energy,
            energy_lower_bound_j=float(np.mean(dynamic.lower_bound + static.lower_bound)),
            latency_s=_mean(latency.total),
            latency_lower_bound_s=float(np.mean(latency.lower_bound)),
            latency_rule=self._latency_rule(),
            static_power_mw=self.profile.energy["static_power_mw"].value,
            unknown_figures=list(dict.fromkeys(dynamic.missing + static.missing
                                               + latency.missing)),
            warnings=self.warnings,
        )

    def _costs(self, report: Report, frames: np.ndarray) -> tuple[Estimate, Estimate, Estimate]:
        """Latency, dynamic energy and static energy estimates of ``report``'s run."""
        mapping = self.chip.mapping
        n_neurons = self.simulator.compiled.n_neurons
        queued = self.simulator.config.input_mode == "queued"
        counts = event_counts(report.per_sample, int(mapping.neurons.sum()), input_messages(
            frames, mapping, n_neurons, report.per_sample["input_sops"], queued))
        timesteps = None
        if self.profile.sync.per_timestep:
            timesteps = {"trace": report.trace, "mapping": mapping, "n_neurons": n_neurons,
                         "inputs": frames, "queued_input": queued,
                         "output_counts": report.per_sample["output_counts"]}
        latency = latency_seconds({**report.per_sample, **counts}, self.profile,
                                  mapping.n_tiles, timesteps)
        return latency, energy_joules(counts, self.profile), static_joules(latency, self.profile)

    def _latency_rule(self) -> str:
        """How the latency (and so the period over which static power is charged) is set."""
        timing = self.profile.timing
        if self.profile.style == "timer":
            tick = timing["tick_period_us"].value
            return f"one tick of {tick:g} us per forward step (a fixed timer)"
        if self.profile.style == "barrier":
            tiles = self.chip.mapping.n_tiles
            barrier = timing["barrier_ns"].for_tiles(tiles)
            text = "unknown length" if barrier is None else f"{barrier:g} ns"
            return (f"per timestep: the busiest core, then a barrier of {text} ({tiles} tile"
                    f"{'s' if tiles > 1 else ''} used)")
        return "per forward step: the busiest core and the longest route"


def _mean(values: np.ndarray | None) -> float | None:
    return None if values is None else float(np.mean(values))
