"""One sweep point, evaluated where a worker runs it: load (once per process) the model, the
dataset and the profile, simulate, and return the results row.

Everything here takes and returns plain data, so that process pools and Dask can ship it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..datasets import load_dataset
from ..errors import InputError
from ..hardware.chip import ChipSimulator
from ..hardware.profile import HardwareProfile, parse_profile
from ..model_io import load_model
from ..simulator import Simulator
from .spec import NO_PROFILE, PROFILE_PREFIX, Point, apply_profile_overrides, profile_document

#: report metrics copied into every row (see :meth:`asyncsim.Report.metrics`)
METRICS = ("accuracy", "density", "sops", "input_sops", "energy", "forward_steps",
           "spikes_to_first_output", "passes_with_output", "dropped_pending",
           "barrier_messages", "neuron_updates", "guard_stops", "Effective_ACs",
           "ActivationSparsity")
#: chip results (empty for points without a profile): energy per inference (J), latency per
#: inference (s), cores used, the accuracy with unquantized weights, and the profile's unknown
#: figures (counted as 0 in energy and latency; space-separated names)
HARDWARE = ("energy_j", "latency_s", "cores_used", "accuracy_unquantized", "unknown_figures")

#: models, datasets and profiles a worker keeps loaded between points
CACHE_SIZE = 16
_cache: OrderedDict[tuple, Any] = OrderedDict()


def evaluate_point(point: Point, context: dict[str, Any]) -> dict[str, Any]:
    """The results row of ``point``: its identity, parameters, status, seconds and metrics. A
    failure is caught and recorded (``status`` "error", ``error`` one line)."""
    start = time.perf_counter()
    row: dict[str, Any] = {"index": point.index, "point_id": point.point_id,
                           "model": point.model, "profile": point.profile,
                           "repeat": point.repeat, **point.parameters}
    try:
        row.update(_simulate(point, context))
        row["status"], row["error"] = "ok", ""
    except Exception as exc:  # a failing point is a result, not the end of the sweep
        text = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        row["status"], row["error"] = "error", " ".join(text.split())
    row["seconds"] = time.perf_counter() - start
    return row


def _simulate(point: Point, context: dict[str, Any]) -> dict[str, Any]:
    base_dir = context["base_dir"]
    network = _cached(("model", point.model), lambda: load_model(_local(point.model, base_dir)))
    ds = context["dataset"]
    data = _cached(("data", ds["name"], ds["samples"], ds["seed"]), lambda: _dataset(ds, base_dir))
    options = {k: v for k, v in point.parameters.items() if not k.startswith(PROFILE_PREFIX)}
    options["seed"] = int(options.get("seed", 0)) + point.repeat
    if point.profile == NO_PROFILE:
        report = Simulator(network, **options).run(data.inputs, data.labels,
                                                   threads=context["threads"])
    else:
        profile = _profile(point, base_dir)
        chip = ChipSimulator(network, profile, mapping=context["mapping"],
                             quantize=context["quantize"], **options)
        report = chip.run(data.inputs, data.labels, threads=context["threads"])
    metrics = report.metrics()
    row = {name: metrics.get(name) for name in METRICS}
    hw = report.hardware
    if hw is not None:
        row.update(energy_j=hw.energy_j["total"], latency_s=hw.latency_s,
                   cores_used=hw.mapping["cores_used"],
                   accuracy_unquantized=hw.accuracy_unquantized,
                   unknown_figures=" ".join(hw.unknown_figures) or None)
    return row


def _profile(point: Point, base_dir: str) -> HardwareProfile:
    overrides = {k: v for k, v in point.parameters.items() if k.startswith(PROFILE_PREFIX)}
    doc, where = _cached(("profile", point.profile),
                         lambda: profile_document(point.profile, base_dir))
    return parse_profile(apply_profile_overrides(doc, overrides), where)


def _dataset(ds: dict[str, Any], base_dir: str):
    return load_dataset(_local(ds["name"], base_dir), n_samples=ds["samples"], seed=ds["seed"])


def _local(name: str, base_dir: str) -> str:
    """A path relative to the spec's folder when it exists there, else the name as given."""
    candidate = Path(base_dir) / name
    return str(candidate) if not Path(name).is_absolute() and candidate.exists() else name


def _cached(key: tuple, make) -> Any:
    """The value of ``make()`` for ``key``, kept for later points of the same worker; at most
    :data:`CACHE_SIZE` values are kept (the least recently used is dropped)."""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value = make()
    _cache[key] = value
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return value
