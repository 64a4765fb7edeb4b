"""Training recipes per task: the paper's hyperparameters (its table 6) with the generated
stand-in dataset of each task (``asyncsim train --preset nmnist|shd|dvs``).

A preset fills what the user leaves out: every value given explicitly (an option of
``asyncsim train``, or a keyword of :func:`preset_config`) wins over the preset's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .training import TrainConfig


@dataclass(frozen=True)
class Preset:
    """One task's recipe.

    Attributes:
        data: the built-in dataset the task is trained on (``asyncsim data list``).
        architecture: layer sizes, inputs first (``build_network``'s architecture string).
        tau_m_ms: membrane time constant, milliseconds.
        dt_ms: timestep, milliseconds (the dataset's bin width).
        threshold: U_thr, membrane units.
        samples: training samples drawn from ``data``.
        settings: :class:`~asyncsim.training.TrainConfig` field values.
        note: where the recipe departs from the paper, and why.
    """

    data: str
    architecture: str
    tau_m_ms: float
    dt_ms: float
    threshold: float
    samples: int
    settings: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def network_options(self) -> dict[str, float]:
        """The neuron settings of the preset's architecture, as ``build_network`` takes them."""
        return dict(tau_m_ms=self.tau_m_ms, dt_ms=self.dt_ms, threshold=self.threshold)


#: the paper's table 6 per task; count_scale, stop and detach_reset are ours (see each note)
PRESETS: dict[str, Preset] = {
    "nmnist": Preset(
        data="nmnist-like", architecture="2312-64-64-64-10", tau_m_ms=1.0, dt_ms=10.0,
        threshold=0.3, samples=2048,
        settings=dict(batch_size=256, epochs=50, learning_rate=5e-4, weight_decay=1e-5,
                      alpha=2.0, input_dropout=0.25, forward_group=8, refractory_dropout=0.8,
                      momentum_noise=1e-6, stop="on_output"),
        note="stop on_output: trained with the inference stop (docs/reproduce.md)"),
    "shd": Preset(
        data="shd-like", architecture="350-128-128-128-20", tau_m_ms=100.0, dt_ms=10.0,
        threshold=0.3, samples=2048,
        settings=dict(batch_size=32, epochs=100, learning_rate=7e-4, weight_decay=1e-4,
                      alpha=10.0, input_dropout=0.2, forward_group=8, refractory_dropout=0.8,
                      momentum_noise=0.1, count_scale=0.2, stop="on_output",
                      detach_reset=True),
        note="detach_reset: without it unlayered training stayed at chance; count_scale 0.2: "
             "raw counts over 100 timesteps saturate the softmax, and 0.2 learned faster and "
             "sparser than 0.05; stop on_output as for nmnist (docs/reproduce.md)"),
    "dvs": Preset(
        data="dvs-like", architecture="2048-128-128-128-11", tau_m_ms=100.0, dt_ms=20.0,
        threshold=0.3, samples=2048,
        settings=dict(batch_size=32, epochs=70, learning_rate=1e-4, weight_decay=1e-5,
                      alpha=10.0, input_dropout=0.2, forward_group=8, refractory_dropout=0.8,
                      momentum_noise=0.1, count_scale=0.05, stop="drain"),
        note="count_scale 0.05: raw counts over 30 bins saturate the softmax; stop drain (the "
             "paper's training stop): trained with the on-output stop, unlayered training "
             "stayed at 0.41 (docs/reproduce.md)"),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an :class:`InputError` naming the choices otherwise."""
    if name not in PRESETS:
        raise InputError(f"preset '{name}': expected one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_config(name: str, **given: Any) -> TrainConfig:
    """A :class:`~asyncsim.training.TrainConfig` from preset ``name``, with ``given`` field
    values replacing the preset's."""
    return TrainConfig(**{**get_preset(name).settings, **given})
