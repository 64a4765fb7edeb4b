"""Simulation results: per-sample arrays, aggregate metrics, a readable summary and JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .atomic import write_text_atomic
from .metrics import DEFAULT_METRICS


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
    network: dict[str, Any]
    config: dict[str, Any]
    hardware: dict[str, Any] | None = None
    trace: Any = None

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], labels: np.ndarray | None, network,
                    config: dict[str, Any]) -> Report:
        weights = [p.weight for p in network.projections]
        n_weights = sum(w.size for w in weights)
        zeros = sum(int(np.sum(w == 0)) for w in weights)
        info = {
            "name": network.name,
            "architecture": network.architecture(),
            "layers": [layer.name for layer in network.layers],
            "n_neurons": network.n_neurons,
            "n_hidden": network.n_hidden,
            "trained": network.metadata.get("trained"),
            "connection_sparsity": zeros / max(1, n_weights),
            "footprint_bytes": 4 * (n_weights + 3 * network.n_neurons),
        }
        return cls(arrays, labels, info, config)

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
        key = "output_membrane" if self.config.get("readout") == "membrane" else "output_counts"
        return np.argmax(self.per_sample[key], axis=1)

    @property
    def accuracy(self) -> float | None:
        return self.metrics()["accuracy"]

    def metrics(self) -> dict[str, float | None]:
        """Aggregate metrics by name (see :mod:`asyncsim.metrics`)."""
        return {m.name: m.compute(self) for m in DEFAULT_METRICS}

    def spikes_per_layer(self) -> dict[str, float]:
        """Mean spikes per sample in each layer."""
        means = self.per_sample["spikes_per_layer"].mean(axis=0)
        return {name: float(v) for name, v in zip(self.network["layers"], means, strict=True)}

    def reactivity_histogram(self) -> np.ndarray:
        """Spikes by the number of currents integrated before them, summed over samples."""
        return self.per_sample["reactivity"].sum(axis=0)

    def latency_distribution(self) -> np.ndarray:
        """Spikes delivered before the first output spike, for every pass that had one."""
        s = self.per_sample["spikes_to_output"]
        return s[s >= 0]

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """A readable table of the configuration and the aggregate metrics."""
        from .metrics import DEFAULT_METRICS as metrics

        net = self.network
        trained = {True: "trained", False: "UNTRAINED"}.get(net.get("trained"), "")
        lines = [
            f"model        {net['name']} ({net['architecture']}) {trained}".rstrip(),
            f"samples      {self.n_samples} x {self.n_timesteps} timesteps",
            "execution    " + ", ".join(
                f"{k}={self.config[k]}" for k in ("policy", "forward_group", "stop",
                                                  "synchronization") if k in self.config),
            "",
            f"{'metric':<28}{'value':>14}  unit",
            f"{'-' * 28}{'-' * 14}  {'-' * 16}",
        ]
        values = self.metrics()
        for m in metrics:
            v = values[m.name]
            if v is None:
                continue
            text = f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"
            lines.append(f"{m.name:<28}{text:>14}  {m.unit}")
        if self.hardware:
            hw = self.hardware
            lines += ["", f"chip         {hw['profile']} ({hw['style']}); mapping: "
                      + ", ".join(f"{k} {v}" for k, v in hw["mapping"].items())]
            lines.append(f"{'energy per inference':<28}{hw['energy_j']['total']:>14.4e}  J")
            for term, value in hw["energy_j"].items():
                if term != "total":
                    lines.append(f"{'  ' + term:<28}{value:>14.4e}  J")
            for term, value in hw["energy_apart_j"].items():
                lines.append(f"{'  (apart) ' + term:<28}{value:>14.4e}  J, not in the total")
            lines.append(f"{'latency per inference':<28}{hw['latency_s']:>14.4e}  s")
            if hw.get("weights_quantized_bits"):
                text = f"weights quantized to {hw['weights_quantized_bits']} bits"
                if hw.get("accuracy_unquantized") is not None:
                    text += f"; accuracy with float weights {hw['accuracy_unquantized']:.4g}"
                lines.append(text)
            for warning in hw.get("warnings", []):
                lines.append(f"WARNING: {warning}")
            if hw["unknown_figures"]:
                lines.append("unknown figures (counted as 0): " + ", ".join(hw["unknown_figures"]))
        lines.append("")
        lines.append("spikes per layer (mean per sample): " + ", ".join(
            f"{k} {v:.1f}" for k, v in self.spikes_per_layer().items()))
        guard = values["guard_stops"]
        if guard:
            lines.append(f"WARNING: {int(guard)} passes hit the max-steps guard "
                         f"({self.config.get('max_steps')} steps) and were cut short")
        return "\n".join(lines)

    def to_dict(self, per_sample: bool = False) -> dict[str, Any]:
        """Plain data: network, config, metrics, spikes per layer, reactivity histogram and,
        with ``per_sample``, every per-sample array as nested lists."""
        d = {
            "network": self.network,
            "config": self.config,
            "n_samples": self.n_samples,
            "n_timesteps": self.n_timesteps,
            "metrics": self.metrics(),
            "spikes_per_layer": self.spikes_per_layer(),
            "reactivity_histogram": self.reactivity_histogram().tolist(),
            "hardware": self.hardware,
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
        write_text_atomic(path, json.dumps(d, indent=1, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
