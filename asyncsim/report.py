"""Simulation results: per-sample arrays, aggregate metrics, a readable summary and JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atomic import write_text_atomic
from .config import RunConfig
from .metrics import DEFAULT_METRICS
from .units import fraction, si, split_si


@dataclass
class HardwareResult:
    """The chip part of a report (means per inference).

    Attributes:
        profile: the profile's name.
        style: its synchronization style (``barrier``, ``timer``, ``asynchronous``).
        settings: the simulator settings the profile implied, after the user's overrides.
        core_quota: spikes per core and forward step on a timer chip, else None.
        weights_quantized_bits: weight precision used, or None (float weights).
        accuracy_unquantized: accuracy of the same run with float weights, or None.
        mapping: the core placement's summary (strategy, cores and tiles used, ...).
        energy_j: energy per inference (joules): each dynamic term, ``dynamic`` (their sum),
            ``static`` (static power over the latency) and ``total``; None where a figure it
            needs is unknown.
        energy_lower_bound_j: the sum of the known parts of the total energy (equal to it when
            nothing is unknown).
        latency_s: latency per inference (seconds), or None when a figure it needs is unknown.
        latency_lower_bound_s: the latency with the unknown figures left out.
        latency_rule: how the latency, and so the period over which static power is charged,
            is set (per timestep with a barrier, a fixed tick, or per forward step).
        static_power_mw: the profile's static power (None: unknown).
        unknown_figures: figures this run needs that the profile does not know.
        warnings: what the user should know (e.g. a neuron model the chip lacks).
    """

    profile: str
    style: str
    settings: dict[str, Any]
    core_quota: int | None
    weights_quantized_bits: int | None
    accuracy_unquantized: float | None
    mapping: dict[str, Any]
    energy_j: dict[str, float | None]
    energy_lower_bound_j: float
    latency_s: float | None
    latency_lower_bound_s: float
    latency_rule: str = ""
    static_power_mw: float | None = None
    unknown_figures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HardwareResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class NetworkFacts:
    """What a report records of the network it ran.

    Attributes:
        name, architecture: identification (architecture such as ``2312-64-64-64-10``).
        layers: layer names, in order.
        n_neurons, n_hidden: all neurons, and those of every layer but the output layer.
        trained: the model's ``trained`` metadata (None: not said).
        connection_sparsity: zero weights / all weights.
        footprint_bytes: 4 bytes per weight and per neuron parameter or state value
            (membrane, threshold, decay).
        imported_from: the file format the model came from (``nir``), if not native.
        non_spiking: layers of leaky integrators (``li``), which never fire by design.
    """

    name: str
    architecture: str
    layers: list[str]
    n_neurons: int
    n_hidden: int
    trained: bool | None
    connection_sparsity: float
    footprint_bytes: int
    imported_from: str | None = None
    non_spiking: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, network: Any) -> NetworkFacts:
        weights = [p.weight for p in network.projections]
        n_weights = sum(w.size for w in weights)
        zeros = sum(int(np.sum(w == 0)) for w in weights)
        return cls(network.name, network.architecture(), [layer.name for layer in network.layers],
                   network.n_neurons, network.n_hidden, network.metadata.get("trained"),
                   zeros / max(1, n_weights), 4 * (n_weights + 3 * network.n_neurons),
                   network.metadata.get("imported_from"),
                   [layer.name for layer in network.layers if layer.neuron == "li"])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkFacts:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Report:
    """What one simulation measured.

    Attributes:
        per_sample: arrays whose first axis is the sample: ``output_counts`` (S, outputs),
            ``output_membrane`` (S, outputs), ``spikes_per_layer`` (S, layers), ``steps``
            and ``spikes_to_output`` (S, timesteps; -1 where no output fired), ``reactivity``
            (S, bins: spikes by number of currents integrated before them), and one array
            (S,) per name in :data:`COUNTER_NAMES`.
        labels: (S,) class indices, or None.
        network: facts about the network (name, architecture, neuron counts, sparsity).
        config: the simulation parameters that were used.
        trace: the recorded schedule (:class:`asyncsim.trace.Trace`) of a run with
            ``record=True``, else None.
        hardware: with a chip profile: the profile, the values it set, the core mapping,
            energy (joules, by term) and latency (seconds), means per inference.
    """

    per_sample: dict[str, np.ndarray]
    labels: np.ndarray | None
    network: NetworkFacts
    config: RunConfig
    hardware: HardwareResult | None = None
    trace: Any = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], labels: np.ndarray | None, network,
                    config: RunConfig) -> Report:
        return cls(arrays, labels, NetworkFacts.of(network), config)

    # -- basic facts -----------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.per_sample["steps"].shape[0])

    @property
    def n_timesteps(self) -> int:
        return int(self.per_sample["steps"].shape[1])

    @property
    def predictions(self) -> np.ndarray:
        """(S,) predicted class: argmax of output spike counts (or of output membranes with
        ``readout="membrane"``); ties go to the lowest class index."""
        key = "output_membrane" if self.config.readout == "membrane" else "output_counts"
        return np.argmax(self.per_sample[key], axis=1)

    @property
    def accuracy(self) -> float | None:
        return self.metrics()["accuracy"]

    def metrics(self) -> dict[str, float | None]:
        """Aggregate metrics by name (see :mod:`asyncsim.metrics`); a metric that does not
        apply is None, never NaN."""
        values = {m.name: m.compute(self) for m in DEFAULT_METRICS}
        return {k: None if v is not None and not np.isfinite(v) else v
                for k, v in values.items()}

    def spikes_per_layer(self) -> dict[str, float]:
        """Mean spikes per sample in each layer."""
        means = self.per_sample["spikes_per_layer"].mean(axis=0)
        return {name: float(v) for name, v in zip(self.network.layers, means, strict=True)}

    def reactivity_histogram(self) -> np.ndarray:
        """Spikes by the number of currents integrated before them, summed over samples."""
        return self.per_sample["reactivity"].sum(axis=0)

    def warnings(self) -> list[str]:
        """What may make the numbers mean less than they seem: layers that never fired (with
        the likely cause), passes cut short by the max-steps guard, and what the simulator
        noted while running."""
        out = list(self.notes)
        spikes = self.per_sample["spikes_per_layer"].sum(axis=0)
        silent = [i for i, n in enumerate(spikes)
                  if n == 0 and self.network.layers[i] not in self.network.non_spiking]
        if silent:
            first = self.network.layers[silent[0]]
            cause = ("the currents it receives never cross its threshold: weights too small or "
                     "the threshold too high")
            if self.network.imported_from:
                cause += ", or the wrong --dt for this NIR model (time constants scale with it)"
            later = [self.network.layers[i] for i in silent[1:]]
            text = (f"layer '{first}' never fired on any of {self.n_samples} samples: {cause}")
            if later:
                text += f"; silent after it: {', '.join(later)}"
            out.append(text)
        guard = int(self.per_sample["guard_stops"].sum())
        if guard:
            out.append(f"{guard} passes hit the max-steps guard ({self.config.max_steps} steps) "
                       f"and were cut short")
        return out

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """A readable table of the configuration and the aggregate metrics."""
        values = self.metrics()
        lines = self._header_lines() + self._metric_lines(values)
        if self.hardware:
            lines += self._hardware_lines(self.hardware)
        lines.append("")
        lines.append("spikes per layer (mean per sample): " + ", ".join(
            f"{k} {v:.1f}" for k, v in self.spikes_per_layer().items()))
        lines += [f"WARNING: {w}" for w in self.warnings()]
        return "\n".join(lines)

    def _header_lines(self) -> list[str]:
        net, cfg = self.network, self.config
        trained = {True: "trained", False: "UNTRAINED"}.get(net.trained, "")
        group = f"{cfg.core_quota} per core" if cfg.core_quota else cfg.forward_group
        where = f" on {self.hardware.profile}" if self.hardware else ""
        return [
            f"model        {net.name} ({net.architecture}) {trained}".rstrip(),
            f"samples      {self.n_samples} x {self.n_timesteps} timesteps",
            f"execution    {self._synchronization_story()}{where}: policy={cfg.policy}, "
            f"forward_group={group}, stop={cfg.stop}"
            + (f", compat={cfg.compat}" if cfg.compat != "none" else ""),
            "",
            f"{'metric':<28}{'value':>14}  unit",
            f"{'-' * 28}{'-' * 14}  {'-' * 16}",
        ]

    def _synchronization_story(self) -> str:
        """How the run was synchronized, from the settings the kernel used (a barrier chip
        and ``--sync layer`` read alike)."""
        cfg = self.config
        if cfg.synchronization == "layer":
            return "layer-synchronized (synchronization=layer)"
        if cfg.sync_threshold == "fan-in" and cfg.emit_barriers:
            return "barrier-synchronized (each neuron waits for all its inputs)"
        if cfg.core_quota:
            return "timer-stepped (each core sends its own group per tick)"
        if cfg.sync_threshold not in (0, "0"):
            return f"asynchronous with synchronization threshold {cfg.sync_threshold}"
        return "asynchronous"

    @staticmethod
    def _metric_lines(values: dict[str, float | None]) -> list[str]:
        from .metrics import DEFAULT_METRICS

        lines = []
        for m in DEFAULT_METRICS:
            v = values[m.name]
            if v is None:
                continue
            if m.unit:
                number, unit = split_si(v, m.unit)
            else:
                number, unit = (fraction(v) if 0.0 <= v <= 1.0 else f"{v:.3g}"), ""
            lines.append(f"{m.name:<28}{number:>14}  {unit}")
        return lines

    @staticmethod
    def _hardware_lines(hw: HardwareResult) -> list[str]:
        lines = ["", f"chip         {hw.profile} ({hw.style}); mapping: "
                 + ", ".join(f"{k} {v}" for k, v in hw.mapping.items())]
        energy = hw.energy_j

        def line(label: str, value: float | None, unit: str, note: str = "") -> str:
            number, unit = ("unknown", unit) if value is None else split_si(value, unit)
            return f"{label:<28}{number:>14}  {unit}{note}".rstrip()

        at_least = (f" (at least {si(hw.energy_lower_bound_j, 'J')} from the known parts)"
                    if hw.energy_lower_bound_j > 0 else " (no part of it is known)")
        lines.append(line("energy per inference", energy["total"], "J",
                          " = dynamic + static" if energy["total"] is not None else at_least))
        lines.append(line("  dynamic", energy["dynamic"], "J"))
        for term, value in energy.items():
            if term not in ("dynamic", "static", "total"):
                lines.append(line("    " + term, value, "J"))
        power = "unknown" if hw.static_power_mw is None else f"{hw.static_power_mw:g} mW"
        lines.append(line("  static", energy["static"], "J", f" ({power} over the latency)"))
        latency_note = "" if hw.latency_s is not None else (
            f" (at least {si(hw.latency_lower_bound_s, 's')})" if hw.latency_lower_bound_s > 0
            else " (no part of it is known)")
        lines.append(line("latency per inference", hw.latency_s, "s", latency_note))
        if hw.latency_rule:
            lines.append(f"{'  rule':<28}{hw.latency_rule}")
        if hw.weights_quantized_bits:
            text = f"weights quantized to {hw.weights_quantized_bits} bits"
            if hw.accuracy_unquantized is not None:
                text += f"; accuracy with float weights {fraction(hw.accuracy_unquantized)}"
            lines.append(text)
        lines += [f"WARNING: {warning}" for warning in hw.warnings]
        if hw.unknown_figures:
            lines.append("unknown figures (totals that need them are unknown): "
                         + ", ".join(hw.unknown_figures))
        return lines

    def to_dict(self, per_sample: bool = False) -> dict[str, Any]:
        """Plain data: network, config, metrics, spikes per layer, reactivity histogram and,
        with ``per_sample``, every per-sample array as nested lists."""
        d = {
            "network": self.network.to_dict(),
            "config": self.config.to_dict(),
            "n_samples": self.n_samples,
            "n_timesteps": self.n_timesteps,
            "metrics": self.metrics(),
            "spikes_per_layer": self.spikes_per_layer(),
            "reactivity_histogram": self.reactivity_histogram().tolist(),
            "hardware": self.hardware.to_dict() if self.hardware else None,
            "warnings": self.warnings(),
        }
        if per_sample:
            d["per_sample"] = {k: v.tolist() for k, v in self.per_sample.items()}
            d["per_sample"]["predictions"] = self.predictions.tolist()
            if self.labels is not None:
                d["per_sample"]["labels"] = self.labels.tolist()
        return d

    def to_json(self, path: str | os.PathLike, per_sample: bool = True,
                extra: dict[str, Any] | None = None) -> None:
        """Write :meth:`to_dict` (plus ``extra`` keys) as JSON; the file appears whole or not
        at all."""
        d = {**self.to_dict(per_sample), **(extra or {})}
        # strict JSON: NaN and infinity are not JSON, and no metric should produce them
        write_text_atomic(path, json.dumps(d, indent=1, default=_plain, allow_nan=False) + "\n")


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as JSON values; anything else is a bug, not a string."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON data: {type(value).__name__}")
