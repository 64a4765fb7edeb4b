"""Chip profiles: what a neuromorphic chip is, as far as the simulator needs to know.

A profile is a YAML file (schema in ``docs/profiles.md``) read into :class:`HardwareProfile`.
Every figure carries its provenance: ``verified`` (read in the primary source), ``quoted`` (cited
in a peer-reviewed table) or ``estimated`` (our assumption, with a reason).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..sync import STYLES, SyncStyle
from ..yamlfile import read_yaml

FORMAT = "asyncsim-profile"
FORMAT_VERSION = 1
STATUSES = ("verified", "quoted", "estimated")
ENERGY_FIELDS = ("sop_pj", "neuron_update_pj", "spike_routed_pj", "hop_pj",
                 "barrier_message_pj", "static_power_mw")
TIMING_FIELDS = ("sop_ns", "neuron_update_ns", "hop_ns", "barrier_ns", "tick_period_us")
NEURON_MODELS = ("if", "lif", "li", "cuba_if", "cuba_lif", "cuba_li")
CORE_FIELDS = ("neurons_per_core", "synapses_per_core", "lanes_per_core", "cores_per_chip")


@dataclass(frozen=True)
class Figure:
    """One number with its provenance. ``value`` None means unknown (counted as 0)."""

    value: float | None
    status: str = "estimated"
    source: str = ""
    note: str = ""

    @property
    def amount(self) -> float:
        return 0.0 if self.value is None else float(self.value)


@dataclass(frozen=True)
class HardwareProfile:
    """A chip: synchronization style, core geometry, neuron constraints, energy and timing.

    Attributes:
        name, description: identification.
        sources: citation keys -> full references.
        style: ``barrier`` (layer-synchronized), ``timer`` (per-core groups each tick) or
            ``asynchronous``.
        policy: default scheduling policy on this chip.
        forward_group: default F: an integer, ``"layer"`` (largest layer) or ``"core"``
            (neurons per core).
        cores: neurons_per_core, synapses_per_core, lanes_per_core, cores_per_chip (figures).
        mesh: (columns, rows) of the core mesh, for hop counts.
        neuron_models: neuron models the chip runs (:data:`NEURON_MODELS`: ``if``, ``lif``,
            ``li``, and ``cuba_if``, ``cuba_lif``, ``cuba_li`` with current-based synapses).
        weight_bits, state_bits: precision of weights and membrane state (None: float).
        max_delay_steps: the longest projection delay the chip supports, timesteps (a figure;
            None when the profile has no such field: no limit; a figure with value None:
            unknown, and delays are reported as not checked).
        energy: figures in ``ENERGY_FIELDS`` (picojoules; static power in milliwatts).
        timing: figures in ``TIMING_FIELDS`` (nanoseconds; tick period in microseconds).
    """

    name: str
    description: str
    sources: dict[str, str]
    style: str
    policy: str
    forward_group: int | str
    cores: dict[str, Figure]
    mesh: tuple[int, int]
    neuron_models: tuple[str, ...]
    weight_bits: int | None
    state_bits: int | None
    energy: dict[str, Figure]
    timing: dict[str, Figure]
    max_delay_steps: Figure | None = None
    path: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def sync(self) -> SyncStyle:
        """The synchronization style object (:mod:`asyncsim.sync`)."""
        return STYLES[self.style]

    def core_limit(self, key: str) -> int | None:
        figure = self.cores.get(key)
        return None if figure is None or figure.value is None else int(figure.value)

    def figures(self) -> list[tuple[str, Figure]]:
        """Every figure as (section.field, figure)."""
        out = [(f"cores.{k}", v) for k, v in self.cores.items()]
        out += [(f"energy.{k}", v) for k, v in self.energy.items()]
        out += [(f"timing.{k}", v) for k, v in self.timing.items()]
        return out


def shipped_profiles() -> dict[str, Path]:
    """Profiles installed with the package, by name."""
    folder = resources.files("asyncsim.shipped_profiles")
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir()
            if str(p).endswith(".yaml")}


def load_profile(path_or_name: str | Path) -> HardwareProfile:
    """Load and validate a profile file, or a shipped profile by name."""
    path = Path(path_or_name)
    if not path.is_file():
        shipped = shipped_profiles()
        if str(path_or_name) not in shipped:
            raise InputError(f"{path_or_name}: no such profile file, and not a shipped profile "
                             f"(shipped: {', '.join(sorted(shipped))})")
        path = shipped[str(path_or_name)]
    try:
        return parse_profile(read_yaml(path), str(path))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _fail(field_path: str, expected: str, got: Any = None) -> None:
    suffix = "" if got is None else f", got {got!r}"
    raise InputError(f"field '{field_path}': expected {expected}{suffix}")


def _mapping(doc: Any, field_path: str, allowed: tuple[str, ...] | None = None,
             required: tuple[str, ...] = ()) -> dict:
    if not isinstance(doc, dict):
        _fail(field_path or "(top level)", "a mapping", type(doc).__name__)
    if allowed is not None:
        for key in doc:
            if key not in allowed:
                raise InputError(f"field '{field_path}.{key}'".replace("'.", "'")
                                 + f": unknown (expected one of {', '.join(allowed)})")
    for key in required:
        if key not in doc:
            _fail(f"{field_path}.{key}".lstrip("."), "a value", "nothing (missing)")
    return doc


def _figure(doc: Any, field_path: str, sources: dict[str, str]) -> Figure:
    if doc is None or isinstance(doc, (int, float)) and not isinstance(doc, bool):
        _fail(field_path, "a mapping {value, status, source}", doc)
    d = _mapping(doc, field_path, ("value", "status", "source", "note"), ("value", "status"))
    value = d["value"]
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value):
            _fail(f"{field_path}.value", "a finite number or null", value)
        if value < 0:
            _fail(f"{field_path}.value", "a number >= 0", value)
    if d["status"] not in STATUSES:
        _fail(f"{field_path}.status", f"one of {list(STATUSES)}", d["status"])
    source = str(d.get("source", "") or "")
    if d["status"] in ("verified", "quoted") and source not in sources:
        _fail(f"{field_path}.source", f"a key of 'sources' ({', '.join(sources) or 'none'})",
              source or None)
    return Figure(None if value is None else float(value), d["status"], source,
                  str(d.get("note", "") or ""))


def parse_profile(doc: Any, path: str = "") -> HardwareProfile:
    """Validate a parsed YAML document; errors name the field path."""
    top = ("format", "format_version", "name", "description", "sources", "synchronization",
           "execution", "cores", "neuron", "energy", "timing", "notes")
    d = _mapping(doc, "", top, ("format", "format_version", "name", "synchronization",
                                "execution", "cores", "neuron", "energy", "timing"))
    if d["format"] != FORMAT:
        _fail("format", f"'{FORMAT}'", d["format"])
    if d["format_version"] != FORMAT_VERSION:
        _fail("format_version", str(FORMAT_VERSION), d["format_version"])
    sources = _mapping(d.get("sources") or {}, "sources")
    sources = {str(k): str(v) for k, v in sources.items()}

    sync = _mapping(d["synchronization"], "synchronization", ("style",), ("style",))
    if sync["style"] not in STYLES:
        _fail("synchronization.style", f"one of {list(STYLES)}", sync["style"])

    execution = _mapping(d["execution"], "execution", ("policy", "forward_group"),
                         ("policy", "forward_group"))
    from ..policies import BUILTIN, resolve_policy

    try:
        policy = resolve_policy(execution["policy"]).name
    except InputError:
        _fail("execution.policy", f"one of {sorted(BUILTIN)}", execution["policy"])
    group = execution["forward_group"]
    if not (group in ("layer", "core") or (isinstance(group, int) and not isinstance(group, bool)
                                          and group >= 1)):
        _fail("execution.forward_group", "an integer >= 1, 'layer' or 'core'", group)

    cores_doc = _mapping(d["cores"], "cores", CORE_FIELDS + ("mesh",),
                         CORE_FIELDS + ("mesh",))
    cores = {k: _figure(cores_doc[k], f"cores.{k}", sources) for k in CORE_FIELDS}
    for key, figure in cores.items():
        if figure.value is not None and (figure.value < 1 or figure.value != int(figure.value)):
            _fail(f"cores.{key}.value", "an integer >= 1 or null", figure.value)
    mesh = cores_doc["mesh"]
    if not (isinstance(mesh, list) and len(mesh) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in mesh)):
        _fail("cores.mesh", "[columns, rows], two integers >= 1", mesh)

    neuron = _mapping(d["neuron"], "neuron",
                      ("models", "weight_bits", "state_bits", "max_delay_steps"), ("models",))
    models = neuron["models"]
    if not (isinstance(models, list) and models and all(m in NEURON_MODELS for m in models)):
        _fail("neuron.models", f"a non-empty list of {', '.join(NEURON_MODELS)}", models)
    bits = {}
    for key in ("weight_bits", "state_bits"):
        value = neuron.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                      and 2 <= value <= 64):
            _fail(f"neuron.{key}", "an integer in 2..64 or null", value)
        bits[key] = value
    max_delay = None
    if "max_delay_steps" in neuron:
        max_delay = _figure(neuron["max_delay_steps"], "neuron.max_delay_steps", sources)
        if max_delay.value is not None and max_delay.value != int(max_delay.value):
            _fail("neuron.max_delay_steps.value", "a whole number of timesteps or null",
                  max_delay.value)

    energy_doc = _mapping(d["energy"], "energy", ENERGY_FIELDS, ENERGY_FIELDS)
    energy = {k: _figure(energy_doc[k], f"energy.{k}", sources) for k in ENERGY_FIELDS}
    timing_doc = _mapping(d["timing"], "timing", TIMING_FIELDS, TIMING_FIELDS)
    timing = {k: _figure(timing_doc[k], f"timing.{k}", sources) for k in TIMING_FIELDS}
    if sync["style"] == "timer" and timing["tick_period_us"].value is None:
        _fail("timing.tick_period_us.value", "a tick period for a timer-style chip", None)
    if group == "core" and cores["neurons_per_core"].value is None:
        _fail("execution.forward_group", "'core' only with a known cores.neurons_per_core",
              group)
    notes = d.get("notes") or []
    if not isinstance(notes, list):
        _fail("notes", "a list of strings", notes)
    return HardwareProfile(
        name=str(d["name"]), description=str(d.get("description", "")), sources=sources,
        style=sync["style"], policy=policy, forward_group=group, cores=cores,
        mesh=(mesh[0], mesh[1]), neuron_models=tuple(models),
        weight_bits=bits["weight_bits"], state_bits=bits["state_bits"], energy=energy,
        timing=timing, max_delay_steps=max_delay, path=path, notes=[str(n) for n in notes])
