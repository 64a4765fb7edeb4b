"""Plots of sweep results and of single runs (matplotlib, optional extra ``plot``).

* :func:`plot_results`: any metric against any column, one series per value of ``by``; with
  ``pareto``, the points no other point beats on both axes (lower x, higher y) are joined.
* :func:`plot_report`: paper figures 4 (spikes by currents integrated before them), 5
  (accuracy against forward steps after the first output spike) and 6 (latency in spikes until
  the first output spike) from a report JSON written by ``asyncsim run --json``.
* :func:`plot_profiles`: one model on several chips (``asyncsim profiles compare -o``).

Values that are unknown (a chip figure is missing) are left out of a plot, never drawn as 0;
the functions say which points were left out, and the figure notes it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ..atomic import write_bytes_atomic
from ..errors import InputError


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points not dominated by another (one with x <= and y >=, one of them strictly),
    sorted by x: lower x (cost) and higher y (accuracy) are better."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(set(points), key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def _figure(panels: int = 1):
    """A new figure and its axes (one per panel, side by side). Figures are made without
    pyplot, so that plotting neither switches the user's backend nor keeps figures alive in
    pyplot's registry."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'asyncsim[plot]'") from None
    fig = Figure(figsize=(6 if panels == 1 else 9, 4.2))
    return fig, fig.subplots(1, panels) if panels > 1 else fig.subplots()


def plot_results(rows: list[dict[str, Any]], x: str, y: str, out: str | Path,
                 by: str | None = None, pareto: bool = False, title: str | None = None
                 ) -> tuple[int, int]:
    """Plot ``y`` against ``x`` from sweep rows (failed rows and rows without both values, such
    as an energy that is unknown on a chip, are left out, and the figure says how many); returns
    the numbers of points drawn and left out. Series with repeated x values are drawn as the
    mean with the individual points faint; with ``pareto`` every point is drawn and the front
    over all of them is marked."""
    if not rows:
        raise InputError("no rows to plot")
    for name in (x, y, by):
        if name is not None and name not in rows[0]:
            raise InputError(f"column '{name}': not in the results (columns: "
                             f"{', '.join(rows[0])})")
    usable = [r for r in rows if r.get("status", "ok") == "ok"
              and isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))]
    if not usable:
        raise InputError(f"no successful rows with numeric '{x}' and '{y}' (an empty value is "
                         f"unknown: see the rows' unknown_figures)")
    left_out = sum(1 for r in rows if r.get("status", "ok") == "ok") - len(usable)
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in usable:
        series[str(r[by]) if by else y].append((float(r[x]), float(r[y])))
    fig, ax = _figure()
    for label, pts in sorted(series.items()):
        if pareto:
            ax.scatter(*zip(*pts, strict=True), label=label, s=22, alpha=0.8)
            continue
        means: dict[float, list[float]] = defaultdict(list)
        for px, py in pts:
            means[px].append(py)
        xs = sorted(means)
        line = ax.plot(xs, [sum(means[v]) / len(means[v]) for v in xs], marker="o",
                       label=label)[0]
        if any(len(v) > 1 for v in means.values()):
            ax.scatter(*zip(*pts, strict=True), color=line.get_color(), alpha=0.25, s=10)
    if pareto:
        front = pareto_front([p for pts in series.values() for p in pts])
        ax.step(*zip(*front, strict=True), where="post", color="black", linewidth=1,
                label="Pareto front")
        ax.scatter(*zip(*front, strict=True), facecolors="none", edgecolors="black", s=60)
    if _spread(usable, x) > 100:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(title=by, fontsize=8)
    ax.set_title(title or f"{y} against {x}")
    ax.grid(alpha=0.3)
    if left_out:
        fig.text(0.01, 0.01, f"{left_out} point(s) left out: {x} or {y} unknown", fontsize=7)
    _save(fig, out)
    return len(usable), left_out


def plot_profiles(rows: list[dict[str, Any]], out: str | Path) -> list[str]:
    """Energy per inference (dynamic and static stacked) and latency per inference of one model
    on several chips (rows of :func:`asyncsim.hardware.compare.compare_profiles`); a chip whose
    value is unknown, or that cannot run the model, is left out of that panel, and a note under
    the figure says so. Returns the notes."""
    if not rows:
        raise InputError("no profiles to plot")
    fig, (energy_ax, latency_ax) = _figure(panels=2)
    notes = []
    failed = [r["profile"] for r in rows if r["error"]]
    if failed:
        notes.append(f"does not run: {', '.join(failed)}")
    energy = [r for r in rows if not r["error"] and r["energy_j"] is not None]
    unknown_energy = [r["profile"] for r in rows if not r["error"] and r["energy_j"] is None]
    if unknown_energy:
        notes.append(f"energy unknown (left out): {', '.join(unknown_energy)}")
    names = [r["profile"] for r in energy]
    dynamic = [r["energy_dynamic_j"] for r in energy]
    energy_ax.bar(names, dynamic, label="dynamic")
    energy_ax.bar(names, [r["energy_static_j"] for r in energy], bottom=dynamic,
                  label="static")
    energy_ax.set_ylabel("energy per inference (J)")
    energy_ax.legend(fontsize=8)
    latency = [r for r in rows if not r["error"] and r["latency_s"] is not None]
    unknown_latency = [r["profile"] for r in rows if not r["error"] and r["latency_s"] is None]
    if unknown_latency:
        notes.append(f"latency unknown (left out): {', '.join(unknown_latency)}")
    latency_ax.bar([r["profile"] for r in latency], [r["latency_s"] for r in latency],
                   color="tab:green")
    latency_ax.set_ylabel("latency per inference (s)")
    for ax, drawn in ((energy_ax, energy), (latency_ax, latency)):
        values = [r["energy_j"] if ax is energy_ax else r["latency_s"] for r in drawn]
        if values and min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=7)
    _save(fig, out)
    return notes


def plot_report(report: dict[str, Any], figure: int, out: str | Path) -> None:
    """Paper figure 4, 5 or 6 from a report dictionary (``asyncsim run --json`` output)."""
    fig, ax = _figure()
    if figure == 4:
        counts = report.get("reactivity_histogram")
        if not counts:
            raise InputError("report: no 'reactivity_histogram'")
        ax.bar(range(len(counts)), counts, width=1.0)
        ax.set_xlabel("currents integrated before the spike (last bin: more)")
        ax.set_ylabel("spikes")
        ax.set_title("Reactivity (paper figure 4)")
    elif figure == 5:
        curve = report.get("early_decision")
        if not curve:
            raise InputError("report: no 'early_decision' (run with --early-decision)")
        steps = [k for k in curve if k != "drain"]
        ax.plot([int(k) for k in steps], [curve[k] for k in steps], marker="o",
                label="on output")
        if "drain" in curve:
            ax.axhline(curve["drain"], color="gray", linestyle="--", label="drain")
        ax.set_xlabel("forward steps after the first output spike")
        ax.set_ylabel("accuracy")
        ax.set_title("Early decision (paper figure 5)")
        ax.legend()
    elif figure == 6:
        per_sample = report.get("per_sample") or {}
        values = [v for row in per_sample.get("spikes_to_output", []) for v in row if v >= 0]
        if not values:
            raise InputError("report: no per-sample 'spikes_to_output' with an output spike")
        ax.hist(values, bins=min(50, max(5, len(set(values)))), density=True)
        ax.set_xlabel("spikes processed until the first output spike")
        ax.set_ylabel("relative frequency")
        ax.set_title("Latency per forward pass (paper figure 6)")
    else:
        raise InputError(f"figure {figure}: expected 4, 5 or 6")
    ax.grid(alpha=0.3)
    _save(fig, out)


def _spread(rows: list[dict[str, Any]], column: str) -> float:
    values = [float(r[column]) for r in rows if float(r[column]) > 0]
    return max(values) / min(values) if values and len(values) == len(rows) else 0.0


def _save(fig, out: str | Path) -> None:
    import io

    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    fig.tight_layout()
    try:
        fig.savefig(buffer, format=fmt, dpi=120)
    except ValueError as exc:
        raise InputError(f"{out}: cannot write this format ({exc})") from None
    write_bytes_atomic(out, buffer.getvalue())
