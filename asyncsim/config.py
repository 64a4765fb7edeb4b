"""One parameter schema: every setting of a simulation (:class:`SimConfig`) and of training
(:class:`~asyncsim.training.TrainConfig`) is a dataclass field that carries its help text,
choices and range. Validation, the ``asyncsim run``/``train`` command-line options
(:mod:`asyncsim.cli.options`) and the sweep spec's parameter list are derived from these fields,
so a parameter is settable, and checked with the same error text, everywhere.

:class:`RunConfig` is the effective configuration of a run: the values the kernel actually
used, as plain data that reports and traces carry.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

#: largest integer a setting may take (the kernel's integers are 64-bit)
INT_MAX = 2**62


def parameter(default: Any, help: str, *, kind: str, choices: tuple[str, ...] = (),
              minimum: float | None = None, maximum: float | None = None,
              cli: tuple[str, ...] | None = None, nullable: bool = False,
              positive: bool = False) -> Any:
    """A dataclass field with its schema.

    Args:
        default: the default value.
        help: one line for users (units included).
        kind: ``int``, ``float``, ``bool``, ``choice``, ``policy`` (a choice or a policy object)
            or ``sync`` (an integer, ``fan-in`` or a per-neuron array).
        choices: the accepted names (``choice``, ``policy``); the first ones are shown.
        minimum, maximum: the accepted range (``int``, ``float``).
        cli: the command-line option names (default: ``--field-name``); ``()``: no option.
        nullable: None is accepted (meaning "not set").
        positive: the value must be above 0 (``float``).
    """
    meta = {"help": help, "kind": kind, "choices": tuple(choices), "minimum": minimum,
            "maximum": maximum, "cli": cli, "nullable": nullable, "positive": positive}
    return field(default=default, metadata=meta)


def schema_fields(config_class: type) -> list[dataclasses.Field]:
    """The fields of ``config_class`` that carry a schema."""
    return [f for f in dataclasses.fields(config_class) if "kind" in f.metadata]


def check_value(f: dataclasses.Field, value: Any) -> Any:
    """``value`` checked against field ``f``'s schema (and normalized: ints and floats to
    Python numbers); a mismatch raises :class:`InputError` naming the field."""
    meta = f.metadata
    kind = meta["kind"]
    if value is None and meta["nullable"]:
        return None
    if kind == "int":
        return _check_int(f.name, value, meta["minimum"], meta["maximum"])
    if kind == "float":
        value = _check_float(f.name, value, meta["minimum"], meta["maximum"])
        if meta["positive"] and not value > 0:
            raise InputError(f"field '{f.name}': expected a number > 0, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise InputError(f"field '{f.name}': expected true or false, got {value!r}")
        return bool(value)
    if kind == "choice":
        if value not in meta["choices"]:
            raise InputError(f"field '{f.name}': expected one of {list(meta['choices'])}, got "
                             f"{value!r}")
        return value
    return value  # policy and sync: checked by their owners


def check_fields(obj: Any) -> None:
    """Check (and normalize) every schema field of the dataclass instance ``obj``."""
    for f in schema_fields(type(obj)):
        object.__setattr__(obj, f.name, check_value(f, getattr(obj, f.name)))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name: str, value: Any, low: float | None, high: float | None) -> int:
    high = INT_MAX if high is None else high
    if not _is_int(value) or (low is not None and value < low):
        expected = "an integer" if low is None else f"an integer >= {low:g}"
        raise InputError(f"field '{name}': expected {expected}, got {value!r}")
    if value > high:
        raise InputError(f"field '{name}': expected an integer <= {int(high)}, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, low: float | None, high: float | None) -> float:
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value)))
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        if low == 0.0 and high == 1.0:
            expected = "a probability in [0, 1]"
        elif low is not None and high is not None:
            expected = f"a number in [{low:g}, {high:g}]"
        elif low is not None:
            expected = f"a number >= {low:g}"
        else:
            expected = "a finite number"
        raise InputError(f"field '{name}': expected {expected}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------------------------
# Simulation settings

POLICY_CHOICES = ("random", "momentum", "fifo", "layer", "rs", "ms")
STOPS = ("drain", "on_output")
INPUT_MODES = ("aggregated", "queued")
SYNCHRONIZATIONS = ("none", "layer")
RECURRENT_DELIVERIES = ("same_pass", "next_timestep")
READOUTS = ("auto", "spike_count", "membrane")
COMPATS = ("none", "asynctorch")


def probability(help: str, cli: tuple[str, ...] | None = None) -> Any:
    return parameter(0.0, help, kind="float", minimum=0.0, maximum=1.0, cli=cli)


@dataclass
class SimConfig:
    """Parameters of a simulation (paper table 4). Defaults follow the paper's inference setup
    except ``stop`` (drain, so that all activity is accounted for). Each field's help text
    (``asyncsim run --help``) says what it does; invalid values raise :class:`InputError`
    naming the field."""

    policy: Any = parameter(
        "random", "Scheduling policy: random (rs), momentum (ms), fifo, layer; in Python also "
        "a SchedulingPolicy (e.g. asyncsim.user_policy).", kind="policy",
        choices=POLICY_CHOICES)
    forward_group: int = parameter(
        8, "Forward group size F: most spikes delivered per forward step (per core on timer "
        "chips).", kind="int", minimum=1, cli=("--forward-group", "-F"))
    stop: str = parameter("drain", "When a forward pass stops: drain (nothing pending) or "
                          "on_output (after the first output spike).", kind="choice",
                          choices=STOPS)
    steps_after_output: int = parameter(
        1, "Forward steps that still run after the first output spike (--stop on_output).",
        kind="int", minimum=0)
    momentum_noise: float = parameter(
        1e-6, "lambda_MS: amplitude of the uniform noise added to momentum keys (membrane "
        "units).", kind="float", minimum=0.0)
    input_mode: str = parameter(
        "aggregated", "aggregated: all input currents at once (Algorithm 1); queued: input "
        "spikes are events like any other.", kind="choice", choices=INPUT_MODES)
    prioritize_input: bool = parameter(
        False, "Queued input events are selected before network spikes.", kind="bool")
    refractory_dropout: float = probability(
        "Probability that a spike does not make its neuron refractory (a training "
        "regularizer; keep 0 for inference).")
    input_dropout: float = probability("Probability that an input spike is removed.")
    network_dropout: float = probability(
        "Probability that a selected network spike is not delivered.")
    synchronization: str = parameter(
        "none", "layer: layer-synchronized execution (layer-order policy, F = largest layer, "
        "sync threshold = fan-in, barrier messages; overrides those settings).",
        kind="choice", choices=SYNCHRONIZATIONS, cli=("--sync",))
    sync_threshold: Any = parameter(
        0, "Messages (currents and barriers) a neuron must receive in a pass before it may "
        "fire: an integer for all neurons or fan-in (in Python also a per-neuron array).",
        kind="sync")
    emit_barriers: bool = parameter(
        False, "A neuron that reaches its sync threshold without firing sends a barrier "
        "message to its targets.", kind="bool")
    recurrent_delivery: str = parameter(
        "same_pass", "When spikes of recurrent and feedback projections arrive: same_pass (as "
        "soon as delivered, as on an asynchronous chip) or next_timestep (at the start of the "
        "next pass; always so under layer synchronization and fan-in sync thresholds).",
        kind="choice", choices=RECURRENT_DELIVERIES)
    max_steps: int = parameter(100_000, "Forward steps after which a pass is cut short (the "
                               "report counts these guard stops).", kind="int", minimum=1)
    readout: str = parameter(
        "auto", "Prediction: argmax of output spike counts (ties to the lowest class) or of "
        "the output membranes after the last timestep; auto: membranes for a leaky-integrator "
        "(li) output layer, spike counts otherwise.", kind="choice", choices=READOUTS)
    seed: int = parameter(0, "Seed of the per-sample random streams.", kind="int", minimum=0)
    compat: str = parameter(
        "none", "none: Algorithm 1 of the paper; asynctorch: the queue and on-output stop of "
        "the paper's public code (queue carried across timesteps with spike counts, stop one "
        "step late, output spikes take group places; momentum or random policy only).",
        kind="choice", choices=COMPATS)
    histogram_bins: int = parameter(
        64, "Bins of the currents-before-spike histogram (the last bin collects the rest).",
        kind="int", minimum=1, maximum=1_000_000)
    energy_per_sop_pj: float | None = parameter(
        None, "Energy of one synaptic operation, picojoules (e.g. 26 for uBrain); unset: no "
        "energy metric.", kind="float", minimum=0.0, nullable=True)

    def __post_init__(self) -> None:
        from .policies import resolve_policy

        check_fields(self)
        self.policy = resolve_policy(self.policy)
        self.sync_threshold = check_sync_threshold(self.sync_threshold)
        if self.compat == "asynctorch":
            self._check_asynctorch_compat()

    def _check_asynctorch_compat(self) -> None:
        """The paper's code has momentum and random scheduling, aggregated input and no
        synchronization: other settings have no meaning there."""
        def refuse(field_name: str, value: Any, expected: str) -> None:
            raise InputError(f"field '{field_name}': expected {expected} with "
                             f"compat='asynctorch', got {value!r}")

        if self.policy.name not in ("momentum", "random"):
            refuse("policy", self.policy.name, "momentum or random")
        if self.input_mode != "aggregated":
            refuse("input_mode", self.input_mode, "aggregated")
        if self.synchronization != "none":
            refuse("synchronization", self.synchronization, "none")
        if isinstance(self.sync_threshold, str) or np.any(np.asarray(self.sync_threshold) > 0):
            refuse("sync_threshold", self.sync_threshold, "0")
        if self.emit_barriers:
            refuse("emit_barriers", self.emit_barriers, "false")


def check_sync_threshold(value: Any) -> Any:
    """An integer >= 0, ``"fan-in"`` or a 1-D array of integers >= 0."""
    if isinstance(value, str):
        if value == "fan-in":
            return value
        try:
            value = int(value)
        except ValueError:
            raise InputError(f"field 'sync_threshold': expected an integer >= 0, 'fan-in' or "
                             f"an array, got {value!r}") from None
    if np.ndim(value) == 0:
        return _check_int("sync_threshold", value, 0, None)
    array = np.asarray(value)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0):
        raise InputError(f"field 'sync_threshold': expected integers >= 0 (one per neuron), "
                         f"got {array.dtype} array of shape {array.shape}")
    return array.astype(np.int64)


def simulation_parameters() -> tuple[str, ...]:
    """Names of the simulation parameters (SimConfig fields)."""
    return tuple(f.name for f in schema_fields(SimConfig))


# --------------------------------------------------------------------------------------------
# The effective configuration of a run


@dataclass(frozen=True)
class RunConfig:
    """The settings a run actually used (after synchronization styles and chip profiles set
    theirs), as plain data.

    Attributes: as in :class:`SimConfig`, with ``policy`` a name, ``forward_group`` the group
    the kernel used and ``core_quota`` the per-core group of a timer chip (None otherwise);
    ``sync_threshold`` is an integer, ``"fan-in"`` or ``"per-neuron array"``.
    """

    policy: str = "random"
    forward_group: int = 8
    core_quota: int | None = None
    stop: str = "drain"
    steps_after_output: int = 1
    momentum_noise: float = 1e-6
    input_mode: str = "aggregated"
    prioritize_input: bool = False
    refractory_dropout: float = 0.0
    input_dropout: float = 0.0
    network_dropout: float = 0.0
    synchronization: str = "none"
    sync_threshold: int | str = 0
    emit_barriers: bool = False
    recurrent_delivery: str = "same_pass"
    max_steps: int = 100_000
    readout: str = "spike_count"
    seed: int = 0
    compat: str = "none"
    histogram_bins: int = 64
    energy_per_sop_pj: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Read back :meth:`to_dict` (unknown keys are ignored, missing ones take their
        defaults: traces written by earlier versions read)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        group = values.get("forward_group")
        if isinstance(group, str) and group.endswith(" per core"):  # written before 0.2
            values["core_quota"] = int(group.split()[0])
            values["forward_group"] = 10**9
        return cls(**values)
