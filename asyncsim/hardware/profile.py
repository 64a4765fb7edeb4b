"""Chip profiles: what a neuromorphic chip is, as far as the simulator needs to know.

A profile is a YAML file (schema in ``docs/profiles.md``) read into :class:`HardwareProfile`.
Every figure carries its provenance: ``verified`` (read in the primary source, with the page or
table in its note), ``quoted`` (read in a source that cites the primary, which is then named) or
``estimated`` (derived or assumed, with the reasoning in its note).
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
ENERGY_FIELDS = ("sop_pj", "neuron_access_pj", "neuron_update_pj", "spike_pj",
                 "spike_routed_pj", "hop_pj", "barrier_message_pj", "static_power_mw")
TIMING_FIELDS = ("sop_ns", "neuron_access_ns", "neuron_update_ns", "spike_ns",
                 "spike_routed_ns", "message_in_ns", "hop_ns", "barrier_ns", "tick_period_us")
NEURON_MODELS = ("if", "lif", "li", "cuba_if", "cuba_lif", "cuba_li")
CORE_FIELDS = ("neurons_per_core", "synapses_per_core", "lanes_per_core", "cores_per_chip")
#: fields a profile may leave out (format version 1 files written before they existed): a cost
#: the chip does not have, or one core per tile
OPTIONAL_FIELDS = {"energy.neuron_access_pj", "energy.spike_pj", "timing.neuron_access_ns",
                   "timing.spike_ns", "timing.spike_routed_ns", "timing.message_in_ns",
                   "cores.cores_per_tile"}
LAYER_CORE_FIELDS = ("neuron_memory", "kernel_memory")


@dataclass(frozen=True)
class Figure:
    """One number with its provenance. ``value`` None means unknown: a total that needs it is
    reported as unknown, never computed with 0.

    ``by_tiles`` (barrier time only): ((tiles, value), ...) ascending; the value for a run is
    that of the largest tile count not above the tiles it uses (the smallest entry below it).
    """

    value: float | None
    status: str = "estimated"
    source: str = ""
    note: str = ""
    by_tiles: tuple[tuple[int, float], ...] = ()

    @property
    def known(self) -> bool:
        return self.value is not None

    def for_tiles(self, tiles: int) -> float | None:
        """The value for a run on ``tiles`` tiles (the plain value without a table)."""
        if not self.by_tiles:
            return self.value
        chosen = self.by_tiles[0][1]
        for count, value in self.by_tiles:
            if count <= tiles:
                chosen = value
        return chosen


@dataclass(frozen=True)
class LayerCores:
    """Cores that each hold one whole layer, with memories of their own (Speck, DYNAP-CNN).

    Attributes:
        neuron_memory: (cores,) neuron state entries of each core (output channels x height x
            width of the layer it holds).
        kernel_memory: (cores,) weight entries of each core (see
            :func:`asyncsim.hardware.mapping.kernel_entries`).
        figures: the two figures, for provenance.
    """

    neuron_memory: tuple[int, ...]
    kernel_memory: tuple[int, ...]
    figures: dict[str, Figure]


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
        cores: neurons_per_core, synapses_per_core, lanes_per_core, cores_per_chip and
            cores_per_tile (figures).
        mesh: (columns, rows) of the mesh of tiles (cores_per_tile cores each), for hop counts.
        neuron_models: neuron models the chip runs (:data:`NEURON_MODELS`: ``if``, ``lif``,
            ``li``, and ``cuba_if``, ``cuba_lif``, ``cuba_li`` with current-based synapses).
        weight_bits, state_bits: precision of weights and membrane state (None: float).
        max_delay_steps: the longest projection delay the chip supports, timesteps (a figure;
            None when the profile has no such field: no limit; a figure with value None:
            unknown, and delays are reported as not checked).
        energy: figures in ``ENERGY_FIELDS`` (picojoules; static power in milliwatts).
        timing: figures in ``TIMING_FIELDS`` (nanoseconds; tick period in microseconds).
        layer_cores: per-core memories of a chip that holds one layer per core (Speck), or
            None.
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
    layer_cores: LayerCores | None = None
    path: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def sync(self) -> SyncStyle:
        """The synchronization style object (:mod:`asyncsim.sync`)."""
        return STYLES[self.style]

    def core_limit(self, key: str) -> int | None:
        figure = self.cores.get(key)
        return None if figure is None or figure.value is None else int(figure.value)

    @property
    def cores_per_tile(self) -> int:
        return self.core_limit("cores_per_tile") or 1

    def figures(self) -> list[tuple[str, Figure]]:
        """Every figure as (section.field, figure)."""
        out = [(f"cores.{k}", v) for k, v in self.cores.items()]
        out += [(f"energy.{k}", v) for k, v in self.energy.items()]
        out += [(f"timing.{k}", v) for k, v in self.timing.items()]
        if self.layer_cores is not None:
            out += [(f"layer_cores.{k}", v) for k, v in self.layer_cores.figures.items()]
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


def _number(value: Any, field_path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value < 0:
        _fail(field_path, "a finite number >= 0", value)
    return float(value)


def _provenance(d: dict, field_path: str, sources: dict[str, str]) -> tuple[str, str, str]:
    if d["status"] not in STATUSES:
        _fail(f"{field_path}.status", f"one of {list(STATUSES)}", d["status"])
    source = str(d.get("source", "") or "")
    if d["status"] in ("verified", "quoted") and source not in sources:
        _fail(f"{field_path}.source", f"a key of 'sources' ({', '.join(sources) or 'none'})",
              source or None)
    return d["status"], source, str(d.get("note", "") or "")


def _figure(doc: Any, field_path: str, sources: dict[str, str],
            tables: bool = False) -> Figure:
    if doc is None or isinstance(doc, (int, float)) and not isinstance(doc, bool):
        _fail(field_path, "a mapping {value, status, source}", doc)
    keys = ("value", "status", "source", "note") + (("by_tiles",) if tables else ())
    d = _mapping(doc, field_path, keys, ("value", "status"))
    value = d["value"]
    if value is not None:
        value = _number(value, f"{field_path}.value")
    by_tiles: tuple[tuple[int, float], ...] = ()
    if d.get("by_tiles") is not None:
        table = _mapping(d["by_tiles"], f"{field_path}.by_tiles")
        if not table or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                for k in table):
            _fail(f"{field_path}.by_tiles", "a mapping {tiles (integer >= 1): value}",
                  d["by_tiles"])
        by_tiles = tuple(sorted((int(k), _number(v, f"{field_path}.by_tiles.{k}"))
                                for k, v in table.items()))
    return Figure(value, *_provenance(d, field_path, sources), by_tiles=by_tiles)


def _absent(field_path: str) -> Figure:
    """What an optional field left out of a profile means."""
    what = "one core per tile" if field_path == "cores.cores_per_tile" else "not charged"
    return Figure(1.0 if field_path == "cores.cores_per_tile" else 0.0, "estimated", "",
                  f"not in the profile file: {what}")


def _figures(doc: dict, section: str, names: tuple[str, ...],
             sources: dict[str, str]) -> dict[str, Figure]:
    out = {}
    for name in names:
        path = f"{section}.{name}"
        if name not in doc and path in OPTIONAL_FIELDS:
            out[name] = _absent(path)
        else:
            out[name] = _figure(doc[name], path, sources, tables=path == "timing.barrier_ns")
    return out


def _layer_cores(doc: Any, sources: dict[str, str]) -> LayerCores:
    d = _mapping(doc, "layer_cores", LAYER_CORE_FIELDS, LAYER_CORE_FIELDS)
    figures, lists = {}, []
    for name in LAYER_CORE_FIELDS:
        path = f"layer_cores.{name}"
        entry = _mapping(d[name], path, ("value", "status", "source", "note"),
                         ("value", "status"))
        values = entry["value"]
        if not (isinstance(values, list) and values and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)):
            _fail(f"{path}.value", "a list of integers >= 1, one per core", values)
        lists.append(tuple(values))
        figures[name] = Figure(float(max(values)), *_provenance(entry, path, sources))
    if len(lists[0]) != len(lists[1]):
        _fail("layer_cores.kernel_memory.value",
              f"{len(lists[0])} entries, one per core as in neuron_memory", len(lists[1]))
    return LayerCores(lists[0], lists[1], figures)


def parse_profile(doc: Any, path: str = "") -> HardwareProfile:
    """Validate a parsed YAML document; errors name the field path."""
    top = ("format", "format_version", "name", "description", "sources", "synchronization",
           "execution", "cores", "neuron", "energy", "timing", "layer_cores", "notes")
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

    cores_doc = _mapping(d["cores"], "cores", CORE_FIELDS + ("cores_per_tile", "mesh"),
                         CORE_FIELDS + ("mesh",))
    cores = _figures(cores_doc, "cores", CORE_FIELDS + ("cores_per_tile",), sources)
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

    energy_doc = _mapping(d["energy"], "energy", ENERGY_FIELDS, tuple(
        k for k in ENERGY_FIELDS if f"energy.{k}" not in OPTIONAL_FIELDS))
    energy = _figures(energy_doc, "energy", ENERGY_FIELDS, sources)
    timing_doc = _mapping(d["timing"], "timing", TIMING_FIELDS, tuple(
        k for k in TIMING_FIELDS if f"timing.{k}" not in OPTIONAL_FIELDS))
    timing = _figures(timing_doc, "timing", TIMING_FIELDS, sources)
    layer_cores = _layer_cores(d["layer_cores"], sources) if "layer_cores" in d else None
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
        timing=timing, max_delay_steps=max_delay, layer_cores=layer_cores, path=path,
        notes=[str(n) for n in notes])
