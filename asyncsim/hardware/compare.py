"""One model on several chips: accuracy, energy (dynamic and static apart), latency and cores,
with unknown figures shown as unknown (``asyncsim profiles compare``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..network import Network
from ..units import fraction, si
from .chip import ChipSimulator

#: the columns of a comparison row, in table order (energies in J, latency in s)
COLUMNS = ("profile", "style", "accuracy", "energy_dynamic_j", "energy_static_j", "energy_j",
           "latency_s", "cores_used", "cores_per_chip")


def compare_profiles(network: Network, profiles: list[str], inputs: np.ndarray,
                     labels: np.ndarray | None, *, mapping: str = "sequential",
                     quantize: bool = True, threads: int | None = None,
                     **settings: Any) -> list[dict[str, Any]]:
    """Run ``network`` on each profile (a shipped name or a file) and return one row each:
    the :data:`COLUMNS` (None where unknown), ``unknown_figures``, ``lower_bounds`` (the
    known parts of an unknown energy and latency) and ``error`` (why the model does not run on
    that chip, e.g. the layer and the limit it exceeds; the other values are then None)."""
    rows = []
    for name in profiles:
        row: dict[str, Any] = {key: None for key in COLUMNS}
        row.update(profile=name, unknown_figures=[], lower_bounds={}, error=None)
        try:
            chip = ChipSimulator(network, name, mapping=mapping, quantize=quantize,
                                 **settings)
        except InputError as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        report = chip.run(inputs, labels, threads=threads)
        hw = report.hardware
        row.update(
            profile=chip.profile.name, style=hw.style, accuracy=report.accuracy,
            energy_dynamic_j=hw.energy_j["dynamic"], energy_static_j=hw.energy_j["static"],
            energy_j=hw.energy_j["total"], latency_s=hw.latency_s,
            cores_used=hw.mapping["cores_used"],
            cores_per_chip=chip.profile.core_limit("cores_per_chip"),
            unknown_figures=hw.unknown_figures,
            lower_bounds={"energy_j": hw.energy_lower_bound_j,
                          "latency_s": hw.latency_lower_bound_s})
        rows.append(row)
    return rows


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a text table: ``unknown`` where a figure is missing (the figures named
    below the table), the error where the model does not run on a chip."""
    head = (f"{'profile':<13}{'style':<14}{'accuracy':>9}{'dynamic':>13}{'static':>13}"
            f"{'total':>13}{'latency':>13}  cores used / chip")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['profile']:<13}does not run: {r['error']}")
            continue
        accuracy = "-" if r["accuracy"] is None else fraction(r["accuracy"])
        cores = "unlimited" if r["cores_per_chip"] is None else str(r["cores_per_chip"])
        lines.append(f"{r['profile']:<13}{r['style']:<14}{accuracy:>9}"
                     + "".join(f"{_number(r[k], unit):>13}" for k, unit in (
                         ("energy_dynamic_j", "J"), ("energy_static_j", "J"),
                         ("energy_j", "J"), ("latency_s", "s")))
                     + f"  {r['cores_used']} / {cores}")
    for r in rows:
        if r["unknown_figures"]:
            bounds = [f"{what} at least {si(r['lower_bounds'][key], unit)}"
                      for what, key, unit in (("energy", "energy_j", "J"),
                                              ("latency", "latency_s", "s"))
                      if r[key] is None and r["lower_bounds"][key] > 0]
            lines.append(f"{r['profile']}: unknown {', '.join(r['unknown_figures'])}"
                         + (f"; {', '.join(bounds)} from the known parts" if bounds else ""))
    return "\n".join(lines)


def _number(value: float | None, unit: str) -> str:
    return "unknown" if value is None else si(value, unit)
