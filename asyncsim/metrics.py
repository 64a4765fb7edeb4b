"""Metrics over a :class:`~asyncsim.report.Report`, one small class each.

Notation: ``S`` samples, ``T`` timesteps per sample, ``H`` hidden neurons (all layers but the
output layer), ``N`` all neurons. Per-sample quantities are averaged over samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Metric:
    """Base class: ``compute`` returns a float, or None when the metric does not apply."""

    name = ""
    unit = ""

    def compute(self, report: Any) -> float | None:
        """The metric of ``report`` (an :class:`asyncsim.report.Report`)."""
        raise NotImplementedError


class Accuracy(Metric):
    """Correct predictions / samples. Needs labels."""

    name = "accuracy"

    def compute(self, report):
        if report.labels is None:
            return None
        return float(np.mean(report.predictions == report.labels))


class ActivationDensity(Metric):
    """Paper eq. 10: mean over samples of (hidden-layer spikes in the whole sample) / H."""

    name = "density"
    unit = "spikes/neuron"

    def compute(self, report):
        hidden = report.per_sample["spikes_per_layer"][:, :-1].sum(axis=1)
        return float(np.mean(hidden) / max(1, report.network.n_hidden))


class SynapticOperations(Metric):
    """Mean over samples of the currents delivered by network spikes (hidden and output
    layers' incoming synapses of every delivered spike; input currents excluded)."""

    name = "sops"
    unit = "SOP/sample"

    def compute(self, report):
        return float(np.mean(report.per_sample["sops"]))


class InputSynapticOperations(Metric):
    """Mean over samples of the currents delivered by input spikes (count x fan-out)."""

    name = "input_sops"
    unit = "SOP/sample"

    def compute(self, report):
        return float(np.mean(report.per_sample["input_sops"]))


class EffectiveACs(Metric):
    """NeuroBench ``Effective_ACs``: mean over samples of delivered currents with a non-zero
    weight, input currents included (all inputs are spikes, so every operation is an AC)."""

    name = "Effective_ACs"
    unit = "AC/sample"

    def compute(self, report):
        return float(np.mean(report.per_sample["effective_sops"]))


class ActivationSparsity(Metric):
    """NeuroBench ``ActivationSparsity``: 1 - spikes / (N x T), over all samples; a neuron that
    fires more than once in a pass (no refractoriness) counts each spike."""

    name = "ActivationSparsity"

    def compute(self, report):
        spikes = report.per_sample["spikes_per_layer"].sum()
        slots = report.network.n_neurons * report.n_timesteps * report.n_samples
        return float(1.0 - min(1.0, spikes / max(1, slots)))


class ConnectionSparsity(Metric):
    """NeuroBench ``ConnectionSparsity``: zero weights / all weights."""

    name = "ConnectionSparsity"

    def compute(self, report):
        return float(report.network.connection_sparsity)


class Footprint(Metric):
    """NeuroBench ``Footprint``: bytes of parameters and state buffers, counting 4 bytes per
    weight and per neuron parameter/state value (membrane, threshold, decay)."""

    name = "Footprint"
    unit = "bytes"

    def compute(self, report):
        return float(report.network.footprint_bytes)


class Energy(Metric):
    """Mean over samples of SOPs x energy per SOP (only when an energy per SOP is set)."""

    name = "energy"
    unit = "J/sample"

    def compute(self, report):
        e = report.config.energy_per_sop_pj
        if e is None:
            return None
        return float(np.mean(report.per_sample["sops"]) * e * 1e-12)


class ForwardSteps(Metric):
    """Mean forward steps per forward pass (over samples and timesteps)."""

    name = "forward_steps"
    unit = "steps/pass"

    def compute(self, report):
        return float(np.mean(report.per_sample["steps"]))


class SpikesToFirstOutput(Metric):
    """Mean, over passes in which an output neuron fired, of the spikes (and queued input
    events) delivered before the first output spike (paper figure 6)."""

    name = "spikes_to_first_output"
    unit = "spikes"

    def compute(self, report):
        s = report.per_sample["spikes_to_output"]
        s = s[s >= 0]
        return float(np.mean(s)) if s.size else None


class PassesWithOutput(Metric):
    """Fraction of forward passes in which an output neuron fired."""

    name = "passes_with_output"

    def compute(self, report):
        return float(np.mean(report.per_sample["spikes_to_output"] >= 0))


class _MeanCounter(Metric):
    key = ""

    def compute(self, report):
        return float(np.mean(report.per_sample[self.key]))


class DroppedPending(_MeanCounter):
    """Mean per sample of spikes still pending when a pass stopped (dropped)."""

    name = key = "dropped_pending"
    unit = "spikes/sample"


class DroppedByDropout(_MeanCounter):
    """Mean per sample of selected network spikes removed by network spike dropout."""

    name = key = "dropped_by_network_dropout"
    unit = "spikes/sample"


class BarrierMessages(_MeanCounter):
    """Mean per sample of barrier messages, counted per receiving neuron."""

    name = key = "barrier_messages"
    unit = "messages/sample"


class NeuronUpdates(_MeanCounter):
    """Mean per sample of neuron updates: each forward step, every neuron that integrated a
    message counts once."""

    name = key = "neuron_updates"
    unit = "updates/sample"


class GuardStops(Metric):
    """Passes stopped by the max-steps guard (a total, not a mean)."""

    name = "guard_stops"
    unit = "passes"

    def compute(self, report):
        return float(np.sum(report.per_sample["guard_stops"]))


DEFAULT_METRICS: tuple[Metric, ...] = (
    Accuracy(), ActivationDensity(), SynapticOperations(), InputSynapticOperations(), Energy(),
    ForwardSteps(), SpikesToFirstOutput(), PassesWithOutput(), DroppedPending(),
    DroppedByDropout(), BarrierMessages(), NeuronUpdates(), GuardStops(), EffectiveACs(),
    ActivationSparsity(),
    ConnectionSparsity(), Footprint(),
)
