"""One sweep point, evaluated where a worker runs it: simulate with the resources the client
loaded and shipped (models, dataset, profile documents), and return the results row.

Everything here takes and returns plain data or picklable objects, so that process pools and
Dask (whose workers may share no file system with the client) can ship it.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import InputError
from ..hardware.chip import ChipSimulator
from ..hardware.profile import parse_profile
from ..provenance import version_string
from ..simulator import Simulator
from .spec import NO_PROFILE, PROFILE_PREFIX, Point, SweepResources, apply_profile_overrides

#: report metrics copied into every row (see :meth:`asyncsim.Report.metrics`)
METRICS = ("accuracy", "density", "sops", "input_sops", "energy", "forward_steps",
           "spikes_to_first_output", "passes_with_output", "dropped_pending",
           "barrier_messages", "neuron_updates", "guard_stops", "Effective_ACs",
           "ActivationSparsity")
#: chip results (empty for points without a profile): energy per inference (J; in all, dynamic
#: and static apart), latency per inference (s), cores used, the accuracy with unquantized
#: weights, and the figures the point needs that its profile does not know (space-separated).
#: A value that needs an unknown figure is empty, never 0.
HARDWARE = ("energy_j", "energy_dynamic_j", "energy_static_j", "latency_s", "cores_used",
            "accuracy_unquantized", "unknown_figures")

def evaluate_point(point: Point, context: dict[str, Any],
                   resources: SweepResources) -> dict[str, Any]:
    """The results row of ``point``: its identity, parameters, status, seconds, metrics and
    the asyncsim version that computed it. A failure is caught and recorded (``status``
    "error", ``error`` one line)."""
    start = time.perf_counter()
    row: dict[str, Any] = {"index": point.index, "point_id": point.point_id,
                           "model": point.model, "profile": point.profile,
                           "repeat": point.repeat, **point.parameters,
                           "asyncsim_version": version_string()}
    try:
        row.update(_simulate(point, context, resources))
        row["status"], row["error"] = "ok", ""
    except Exception as exc:  # a failing point is a result, not the end of the sweep
        text = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        row["status"], row["error"] = "error", " ".join(text.split())
    row["seconds"] = time.perf_counter() - start
    return row


def _simulate(point: Point, context: dict[str, Any],
              resources: SweepResources) -> dict[str, Any]:
    network = resources.models[point.model]
    data = resources.data
    options = {k: v for k, v in point.parameters.items() if not k.startswith(PROFILE_PREFIX)}
    options["seed"] = int(options.get("seed", 0)) + point.repeat
    if point.profile == NO_PROFILE:
        report = Simulator(network, **options).run(data.inputs, data.labels,
                                                   threads=context["threads"])
    else:
        overrides = {k: v for k, v in point.parameters.items()
                     if k.startswith(PROFILE_PREFIX)}
        doc, where = resources.profiles[point.profile]
        profile = parse_profile(apply_profile_overrides(doc, overrides), where)
        chip = ChipSimulator(network, profile, mapping=context["mapping"],
                             quantize=context["quantize"], **options)
        report = chip.run(data.inputs, data.labels, threads=context["threads"])
    metrics = report.metrics()
    row = {name: metrics.get(name) for name in METRICS}
    hw = report.hardware
    if hw is not None:
        row.update(energy_j=hw.energy_j["total"], energy_dynamic_j=hw.energy_j["dynamic"],
                   energy_static_j=hw.energy_j["static"], latency_s=hw.latency_s,
                   cores_used=hw.mapping["cores_used"],
                   accuracy_unquantized=hw.accuracy_unquantized,
                   unknown_figures=" ".join(hw.unknown_figures) or None)
    return row
