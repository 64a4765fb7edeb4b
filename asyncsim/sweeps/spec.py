"""Sweep specifications: a YAML file naming models, a dataset, chip profiles and the parameter
values to combine; expanded into a list of points.

A point is one simulation: a model, a profile (or none) and one value for every swept
parameter. Its identity (``point_id``) is a hash of exactly those values, so a resumed sweep
recognises the points it has already finished whatever order they ran in. Format:
``docs/sweeps.md``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import (
    SimConfig,
    check_sync_threshold,
    check_value,
    schema_fields,
    simulation_parameters,
)
from ..datasets import load_dataset
from ..errors import InputError
from ..hardware.mapping import STRATEGIES
from ..hardware.profile import parse_profile, shipped_profiles
from ..limits import MAX_SWEEP_POINTS, check_count
from ..model_io import load_model
from ..policies import resolve_policy
from ..yamlfile import read_yaml

FORMAT = "asyncsim-sweep"
#: simulator parameters a sweep may set: every SimConfig field
SIM_PARAMETERS = simulation_parameters()
SIM_FIELDS = {f.name: f for f in schema_fields(SimConfig)}
PROFILE_PREFIX = "profile."
NO_PROFILE = "none"
TOP_KEYS = ("format", "format_version", "name", "description", "models", "dataset", "profiles",
            "fixed", "grid", "zip", "repeats", "mapping", "quantize", "threads")


@dataclass(frozen=True)
class Point:
    """One simulation of a sweep.

    Attributes:
        index: position in the expanded sweep (rows of the final results are in this order).
        model: model name or path, as the spec gives it.
        profile: profile name or path, or ``"none"`` for the plain simulator.
        repeat: repeat number, 0-based (it is added to the simulator seed).
        parameters: swept and fixed simulator parameters and ``profile.*`` overrides.
    """

    index: int
    model: str
    profile: str
    repeat: int
    parameters: dict[str, Any]

    @property
    def point_id(self) -> str:
        """12 hex digits identifying the point's values (not its index)."""
        key = json.dumps([self.model, self.profile, self.repeat, self.parameters],
                         sort_keys=True, default=str)
        return hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass
class SweepSpec:
    """A validated sweep. ``base_dir`` resolves relative model, profile and data paths."""

    name: str
    models: list[str]
    dataset: dict[str, Any]
    profiles: list[str] = field(default_factory=lambda: [NO_PROFILE])
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    zipped: dict[str, list] = field(default_factory=dict)
    repeats: int = 1
    mapping: str = "sequential"
    quantize: bool = True
    threads: int = 1
    base_dir: str = "."
    allow_large: bool = False
    _resources: Any = field(default=None, repr=False, compare=False)

    @property
    def parameter_names(self) -> list[str]:
        """Every parameter column, in spec order: fixed, then grid, then zipped."""
        names = list(self.fixed)
        names += [k for k in self.grid if k not in names]
        names += [k for k in self.zipped if k not in names]
        return names

    @property
    def n_points(self) -> int:
        """How many points the sweep has (computed without expanding it)."""
        n = len(self.models) * len(self.profiles) * self.repeats
        for values in self.grid.values():
            n *= len(values)
        if self.zipped:
            n *= len(next(iter(self.zipped.values())))
        return n

    def points(self) -> list[Point]:
        """The expanded sweep: models x profiles x grid product x zipped rows x repeats."""
        grid_keys = list(self.grid)
        zip_keys = list(self.zipped)
        zip_rows = list(zip(*self.zipped.values(), strict=True)) if zip_keys else [()]
        out = []
        for model, profile in itertools.product(self.models, self.profiles):
            for grid_values in itertools.product(*self.grid.values()):
                for zip_values in zip_rows:
                    for repeat in range(self.repeats):
                        parameters = dict(self.fixed)
                        parameters.update(zip(grid_keys, grid_values, strict=True))
                        parameters.update(zip(zip_keys, zip_values, strict=True))
                        out.append(Point(len(out), model, profile, repeat, parameters))
        return out

    def context(self) -> dict[str, Any]:
        """What a worker needs besides the point and the resources (plain data)."""
        return dict(mapping=self.mapping, quantize=self.quantize, threads=self.threads)

    def resources(self) -> SweepResources:
        """The models, the dataset and the profile documents, loaded here once (so that
        workers need no access to these files); problems name the key. Loaded on the first
        call and kept."""
        if self._resources is None:
            self._resources = SweepResources(
                models={m: _load_model(m, self.base_dir) for m in self.models},
                data=_load_data(self.dataset, self.base_dir, self.allow_large),
                profiles={p: profile_document(p, self.base_dir) for p in self.profiles
                          if p != NO_PROFILE})
        return self._resources


@dataclass
class SweepResources:
    """Everything a point reads, loaded by the client and shipped to workers.

    Attributes:
        models: model name (as the spec gives it) -> :class:`~asyncsim.network.Network`.
        data: the dataset.
        profiles: profile name -> (its YAML document, its path), overrides applied per point.
    """

    models: dict[str, Any]
    data: Any
    profiles: dict[str, tuple[dict, str]]


def load_sweep(path: str | Path, allow_large: bool = False) -> SweepSpec:
    """Read and validate a sweep file, and load its models, dataset and profiles; errors name
    the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such sweep file")
    try:
        spec = parse_sweep(read_yaml(path), base_dir=str(path.resolve().parent),
                           allow_large=allow_large)
        spec.resources()
        return spec
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def parse_sweep(doc: Any, base_dir: str = ".", allow_large: bool = False) -> SweepSpec:
    """Validate a sweep document (a dict as read from YAML)."""
    if not isinstance(doc, dict):
        raise InputError("expected a mapping of sweep keys at the top level")
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        raise InputError(f"key '{unknown[0]}': unknown (expected one of {', '.join(TOP_KEYS)})")
    if doc.get("format", FORMAT) != FORMAT:
        raise InputError(f"key 'format': expected '{FORMAT}', got {doc.get('format')!r}")
    if doc.get("format_version", 1) != 1:
        raise InputError(f"key 'format_version': expected 1, got {doc.get('format_version')!r}")
    models = _string_list(doc, "models", required=True)
    profiles = _string_list(doc, "profiles") or [NO_PROFILE]
    dataset = _dataset(doc.get("dataset"))
    fixed = _parameters(doc.get("fixed", {}), "fixed", lists=False)
    grid = _parameters(doc.get("grid", {}), "grid", lists=True)
    zipped = _parameters(doc.get("zip", {}), "zip", lists=True)
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        raise InputError(f"key 'zip': lists must have equal lengths, got {lengths}")
    rows = [tuple(_identity(v) for v in row) for row in zip(*zipped.values(), strict=True)]
    if len(set(rows)) != len(rows):
        raise InputError(f"key 'zip': rows repeat (each point must differ), got {zipped}")
    for key in grid:
        if key in zipped or key in fixed:
            raise InputError(f"key 'grid.{key}': also set in 'fixed' or 'zip'")
    for key in zipped:
        if key in fixed:
            raise InputError(f"key 'zip.{key}': also set in 'fixed'")
    repeats = doc.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise InputError(f"key 'repeats': expected an integer >= 1, got {repeats!r}")
    threads = doc.get("threads", 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise InputError(f"key 'threads': expected an integer >= 1, got {threads!r}")
    mapping = doc.get("mapping", "sequential")
    if mapping not in STRATEGIES:
        raise InputError(f"key 'mapping': expected one of {list(STRATEGIES)}, got {mapping!r}")
    quantize = doc.get("quantize", True)
    if not isinstance(quantize, bool):
        raise InputError(f"key 'quantize': expected true or false, got {quantize!r}")
    spec = SweepSpec(name=str(doc.get("name", "sweep")), models=models, dataset=dataset,
                     profiles=profiles, fixed=fixed, grid=grid, zipped=zipped, repeats=repeats,
                     mapping=mapping, quantize=quantize, threads=threads, base_dir=base_dir,
                     allow_large=allow_large)
    check_count(spec.n_points, MAX_SWEEP_POINTS, "key 'grid'/'zip'/'repeats': the sweep's points",
                allow_large)
    _check_profile_overrides(spec)
    return spec


def apply_profile_overrides(doc: dict, overrides: dict[str, Any]) -> dict:
    """A copy of a profile document with ``profile.a.b`` values set; a figure (a mapping with
    ``value``) gets its value replaced and its status set to ``estimated``."""
    doc = copy.deepcopy(doc)
    for key, value in overrides.items():
        parts = key[len(PROFILE_PREFIX):].split(".")
        node = doc
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise InputError(f"key '{key}': the profile has no field '{part}'")
            node = node[part]
        last = parts[-1]
        if not isinstance(node, dict) or last not in node:
            raise InputError(f"key '{key}': the profile has no field '{last}'")
        if isinstance(node[last], dict) and "value" in node[last]:
            node[last] = {**node[last], "value": value, "status": "estimated",
                          "note": "set by a sweep"}
        else:
            node[last] = value
    return doc


def profile_document(profile: str, base_dir: str) -> tuple[dict, str]:
    """The YAML document of a shipped profile or profile file, and its path."""
    path = Path(profile)
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.is_file():
        shipped = shipped_profiles()
        if profile not in shipped:
            raise InputError(f"profile '{profile}': no such file, and not a shipped profile "
                             f"(shipped: {', '.join(sorted(shipped))})")
        path = shipped[profile]
    return read_yaml(path), str(path)


def _check_profile_overrides(spec: SweepSpec) -> None:
    """Every profile must load, with every combination of the sweep's overrides."""
    override_keys = [k for k in spec.parameter_names if k.startswith(PROFILE_PREFIX)]
    for profile in spec.profiles:
        if profile == NO_PROFILE:
            if override_keys:
                raise InputError(f"key '{override_keys[0]}': profile fields need a profile "
                                 f"('profiles' includes 'none')")
            continue
        try:
            doc, where = profile_document(profile, spec.base_dir)
        except InputError as exc:
            raise InputError(f"key 'profiles': {exc}") from None
        for overrides in _override_combinations(spec, override_keys):
            try:
                parse_profile(apply_profile_overrides(doc, overrides), where)
            except InputError as exc:
                detail = f" with {overrides}" if overrides else ""
                raise InputError(f"key 'profiles' ({profile}{detail}): {exc}") from None


def _override_combinations(spec: SweepSpec, keys: list[str]) -> list[dict[str, Any]]:
    """Every combination of the profile overrides the sweep's points use."""
    fixed = {k: spec.fixed[k] for k in keys if k in spec.fixed}
    grid = {k: spec.grid[k] for k in keys if k in spec.grid}
    zipped = {k: spec.zipped[k] for k in keys if k in spec.zipped}
    rows = list(zip(*zipped.values(), strict=True)) if zipped else [()]
    seen, out = set(), []
    for grid_values in itertools.product(*grid.values()):
        for zip_values in rows:
            combo = {**fixed, **dict(zip(grid, grid_values, strict=True)),
                     **dict(zip(zipped, zip_values, strict=True))}
            key = json.dumps(combo, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(combo)
    return out


def _load_model(model: str, base_dir: str) -> Any:
    try:
        return load_model(_local(model, base_dir))
    except InputError as exc:
        raise InputError(f"key 'models': {exc}") from None


def _load_data(dataset: dict[str, Any], base_dir: str, allow_large: bool) -> Any:
    try:
        return load_dataset(_local(dataset["name"], base_dir), n_samples=dataset["samples"],
                            seed=dataset["seed"], allow_large=allow_large)
    except InputError as exc:
        raise InputError(f"key 'dataset': {exc}") from None


def _local(name: str, base_dir: str) -> str:
    """A path relative to the spec's folder when it exists there, else the name as given."""
    candidate = Path(base_dir) / name
    return str(candidate) if not Path(name).is_absolute() and candidate.exists() else name


def _string_list(doc: dict, key: str, required: bool = False) -> list[str]:
    value = doc.get(key)
    if value is None:
        if required:
            raise InputError(f"key '{key}': required, expected a list of names")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InputError(f"key '{key}': expected a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise InputError(f"key '{key}': names repeat in {value!r}")
    return value


def _dataset(value: Any) -> dict[str, Any]:
    if value is None:
        raise InputError("key 'dataset': required, e.g. {name: nmnist-like, samples: 256}")
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise InputError(f"key 'dataset': expected a mapping, got {value!r}")
    allowed = ("name", "samples", "seed")
    for key in value:
        if key not in allowed:
            raise InputError(f"key 'dataset.{key}': unknown (expected {', '.join(allowed)})")
    if not isinstance(value.get("name"), str):
        raise InputError(f"key 'dataset.name': expected a built-in dataset name or a .npz "
                         f"path, got {value.get('name')!r}")
    for key, minimum in (("samples", 1), ("seed", 0)):
        v = value.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < minimum):
            raise InputError(f"key 'dataset.{key}': expected an integer >= {minimum}, got {v!r}")
    return {"name": value["name"], "samples": value.get("samples"), "seed": value.get("seed", 0)}


def _parameters(value: Any, where: str, lists: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"key '{where}': expected a mapping of parameter names, got {value!r}")
    out = {}
    for key, values in value.items():
        if not isinstance(key, str) or not (key in SIM_PARAMETERS or (
                key.startswith(PROFILE_PREFIX) and len(key) > len(PROFILE_PREFIX))):
            raise InputError(f"key '{where}.{key}': not a simulator parameter "
                             f"({', '.join(SIM_PARAMETERS)}) or a 'profile.<field>'")
        if lists:
            if not isinstance(values, list) or not values:
                raise InputError(f"key '{where}.{key}': expected a non-empty list of values, "
                                 f"got {values!r}")
            for v in values:
                _check_value(key, v, f"{where}.{key}")
            if where == "grid" and len({_identity(v) for v in values}) != len(values):
                raise InputError(f"key '{where}.{key}': values repeat in {values!r} (each "
                                 f"point must differ)")
            out[key] = list(values)
        else:
            _check_value(key, values, f"{where}.{key}")
            out[key] = values
    return out


def _check_value(name: str, value: Any, where: str) -> None:
    """A plain value, valid for simulation parameter ``name`` (profile fields are checked
    with the profile)."""
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise InputError(f"key '{where}': expected a number, string or boolean, got {value!r}")
    if name in SIM_FIELDS:
        try:
            check_value(SIM_FIELDS[name], value)
            if name == "policy":
                resolve_policy(value)
            elif name == "sync_threshold":
                check_sync_threshold(value)
        except InputError as exc:
            raise InputError(f"key '{where}': {exc}") from None


def _identity(value: Any) -> tuple:
    """Values that make the same simulation compare equal (1 and 1.0; not True and 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return (type(value).__name__, value)
    return ("number", float(value))
