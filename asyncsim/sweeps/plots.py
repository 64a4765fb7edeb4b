"""Plots of sweep results and of single runs (matplotlib, optional extra ``plot``).

* :func:`plot_results`: any metric against any column, one series per value of ``by``; with
  ``pareto``, the points no other point beats on both axes (lower x, higher y) are joined.
* :func:`plot_report`: paper figures 4 (spikes by currents integrated before them), 5
  (accuracy against forward steps after the first output spike) and 6 (latency in spikes until
  the first output spike) from a report JSON written by ``asyncsim run --json``.
* :func:`plot_profiles`: one model on several chips (``asyncsim profiles compare -o``).
* :func:`plot_training_curves`: loss, accuracy and density per epoch from the curves CSV that
  ``asyncsim train`` writes.

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


#: column -> (axis label, unit); SI units get prefixed tick labels (10 uJ), others a
#: "(unit)" suffix
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", ""),
    "accuracy_unquantized": ("accuracy with float weights", ""),
    "energy_j": ("energy per inference", "J"),
    "energy_dynamic_j": ("dynamic energy per inference", "J"),
    "energy_static_j": ("static energy per inference", "J"),
    "energy": ("energy per sample (per-SOP figure)", "J"),
    "latency_s": ("latency per inference", "s"),
    "sops": ("synaptic operations per sample", "SOP"),
    "input_sops": ("input synaptic operations per sample", "SOP"),
    "Effective_ACs": ("effective accumulates per sample", "AC"),
    "density": ("activation density", "spikes/neuron"),
    "forward_steps": ("forward steps per pass", ""),
    "spikes_to_first_output": ("spikes until the first output spike", ""),
    "passes_with_output": ("passes with an output spike", ""),
    "dropped_pending": ("dropped pending spikes per sample", ""),
    "barrier_messages": ("barrier messages per sample", ""),
    "neuron_updates": ("neuron updates per sample", ""),
    "cores_used": ("cores used", ""),
    "forward_group": ("forward group size F", ""),
    "steps_after_output": ("forward steps after the first output", ""),
    "momentum_noise": ("momentum noise", "membrane units"),
    "refractory_dropout": ("refractory dropout", ""),
    "input_dropout": ("input dropout", ""),
    "network_dropout": ("network dropout", ""),
    "seconds": ("wall time per point", "s"),
}
_SI = ("J", "s", "SOP", "AC")
#: columns that say what a point is: one varies per series or marker, the fixed ones make the
#: subtitle
IDENTITY = ("model", "profile", "policy", "stop", "forward_group", "steps_after_output",
            "synchronization", "compat", "input_mode", "momentum_noise", "seed")


def _label(column: str) -> tuple[str, str]:
    return COLUMN_LABELS.get(column, (column.replace("_", " "), ""))


def _format_axis(axis, column: str, values: list[float]) -> None:
    """Label ``axis`` with the column's name and unit; SI units with prefixed ticks; integer
    columns with integer ticks; values spanning decades on a log scale (base 2 for integer
    parameters such as F, with a tick at every value)."""
    from matplotlib.ticker import EngFormatter, FixedLocator, MaxNLocator, NullLocator

    name, unit = _label(column)
    positive = [v for v in values if v > 0]
    spread = max(positive) / min(positive) if positive and len(positive) == len(values) else 0
    integers = all(float(v).is_integer() for v in values)
    is_x = axis.axes.xaxis is axis
    scale = axis.axes.set_xscale if is_x else axis.axes.set_yscale
    if spread >= 20:
        scale("log", base=2 if integers else 10)
        if integers and len(set(values)) <= 12:
            axis.set_major_locator(FixedLocator(sorted(set(values))))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(lambda v, _: f"{v:g}")
    elif integers:
        axis.set_major_locator(MaxNLocator(integer=True))
    if unit in _SI:
        axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))
        axis.set_label_text(name)
    else:
        axis.set_label_text(f"{name} ({unit})" if unit else name)


def _subtitle(rows: list[dict[str, Any]], shown: tuple[str | None, ...],
              averaged: bool = True) -> str:
    """The settings every row shares (model, chip, policy, F, stop, ...), and those that vary
    without a colour or marker of their own (``averaged``: their points are averaged), as one
    line."""
    parts, unshown = [], []
    for column in IDENTITY:
        if column in shown or column not in rows[0]:
            continue
        values = {str(r.get(column)) for r in rows}
        if len(values) == 1 and values != {"None"} and values != {""}:
            parts.append(f"{column} {values.pop()}")
        elif len(values) > 1:
            unshown.append(column)
    if unshown:
        parts.append(("mean over " if averaged else "points for every ") + ", ".join(unshown))
    return ", ".join(parts)


def _figure(panels: int = 1):
    """A new figure and its axes (one per panel, side by side). Figures are made without
    pyplot, so that plotting neither switches the user's backend nor keeps figures alive in
    pyplot's registry."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'asyncsim[plot]'") from None
    fig = Figure(figsize=(7.5 if panels == 1 else 4.5 * panels, 4.2))
    return fig, fig.subplots(1, panels) if panels > 1 else fig.subplots()


def plot_results(rows: list[dict[str, Any]], x: str, y: str, out: str | Path,
                 by: str | None = None, pareto: bool = False, title: str | None = None
                 ) -> tuple[int, int]:
    """Plot ``y`` against ``x`` from sweep rows (failed rows and rows without both values, such
    as an energy that is unknown on a chip, are left out, and the figure says how many); returns
    the numbers of points drawn and left out.

    One colour per value of ``by``; when another identity column (chip, model or policy) also
    varies, one marker per value of it, with its own legend. Axes carry names and units (SI
    prefixes), log scales where values span decades; a subtitle gives the settings all points
    share. A parameter on x (such as F) draws lines through the mean of repeated points; a
    result on x (such as energy) draws points; with ``pareto`` the front over all points is
    marked."""
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
    marker_by = next((c for c in ("profile", "model", "policy") if c != by and c in usable[0]
                      and len({str(r[c]) for r in usable}) > 1), None)
    markers = dict(zip(sorted({str(r[marker_by]) for r in usable}) if marker_by else [],
                       "osD^vP*Xh<>", strict=False))
    groups: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in usable:
        key = (str(r[by]) if by else _label(y)[0], str(r[marker_by]) if marker_by else "")
        groups[key].append((float(r[x]), float(r[y])))
    colours = {label: f"C{i}" for i, label in enumerate(sorted({k[0] for k in groups}))}
    lines = x not in _RESULTS  # a parameter on x: lines through the means
    fig, ax = _figure()
    for (label, kind), pts in sorted(groups.items()):
        style = dict(color=colours[label], marker=markers.get(kind, "o"))
        if pareto or not lines:
            ax.scatter(*zip(*pts, strict=True), s=28, alpha=0.85, **style)
            continue
        means: dict[float, list[float]] = defaultdict(list)
        for px, py in pts:
            means[px].append(py)
        xs = sorted(means)
        ax.plot(xs, [sum(means[v]) / len(means[v]) for v in xs], markersize=5, **style)
        if any(len(v) > 1 for v in means.values()):
            ax.scatter(*zip(*pts, strict=True), color=colours[label], alpha=0.25, s=10)
    if pareto:
        front = pareto_front([p for pts in groups.values() for p in pts])
        ax.step(*zip(*front, strict=True), where="post", color="black", linewidth=1)
        ax.scatter(*zip(*front, strict=True), facecolors="none", edgecolors="black", s=80)
    _format_axis(ax.xaxis, x, [float(r[x]) for r in usable])
    _format_axis(ax.yaxis, y, [float(r[y]) for r in usable])
    _legends(ax, colours, by, markers, marker_by, pareto)
    ax.set_title(title or f"{_label(y)[0]} against {_label(x)[0]}", fontsize=11)
    subtitle = _subtitle(usable, (x, y, by, marker_by), averaged=lines and not pareto)
    if subtitle:
        fig.suptitle(subtitle, fontsize=8, y=0.995, color="0.3")
    ax.grid(alpha=0.3)
    if left_out:
        fig.text(0.01, 0.005, f"{left_out} point(s) left out: {x} or {y} unknown", fontsize=7)
    _save(fig, out)
    return len(usable), left_out


#: result columns: plotted as points, not lines, when on the x axis
_RESULTS = ("accuracy", "energy_j", "energy_dynamic_j", "energy_static_j", "energy",
            "latency_s", "sops", "input_sops", "Effective_ACs", "density", "forward_steps",
            "spikes_to_first_output", "passes_with_output", "dropped_pending",
            "barrier_messages", "neuron_updates", "cores_used", "accuracy_unquantized",
            "seconds")


def _legends(ax, colours: dict[str, str], by: str | None, markers: dict[str, str],
             marker_by: str | None, pareto: bool) -> None:
    """The legend: colours (``by``), the Pareto front, markers (``marker_by``)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", linestyle="", label=label)
               for label, c in colours.items()]
    if pareto:
        handles.append(Line2D([], [], color="black", marker="o", markerfacecolor="none",
                              label="Pareto front"))
    # one legend (colours, then markers under a heading), outside the axes on the right, so
    # that it never hides points and the saved figure's tight box holds it
    if marker_by:
        handles.append(Line2D([], [], linestyle="", label=""))
        handles.append(Line2D([], [], linestyle="", label=marker_by))
        handles += [Line2D([], [], color="0.3", marker=m, linestyle="", label=label)
                    for label, m in markers.items()]
    ax.legend(handles=handles, title=by, fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def _engineering(axis, unit: str, name: str) -> None:
    from matplotlib.ticker import EngFormatter

    axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))
    axis.set_label_text(name)


def plot_profiles(rows: list[dict[str, Any]], out: str | Path,
                  subtitle: str = "") -> list[str]:
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
    energy_ax.legend(fontsize=8)
    latency = [r for r in rows if not r["error"] and r["latency_s"] is not None]
    unknown_latency = [r["profile"] for r in rows if not r["error"] and r["latency_s"] is None]
    if unknown_latency:
        notes.append(f"latency unknown (left out): {', '.join(unknown_latency)}")
    latency_ax.bar([r["profile"] for r in latency], [r["latency_s"] for r in latency],
                   color="tab:green")
    for ax, drawn in ((energy_ax, energy), (latency_ax, latency)):
        values = [r["energy_j"] if ax is energy_ax else r["latency_s"] for r in drawn]
        if values and min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(alpha=0.3, axis="y")
        # after the scale: setting a log scale replaces the tick formatter
        _engineering(ax.yaxis, *(("J", "energy per inference") if ax is energy_ax
                                 else ("s", "latency per inference")))
    if subtitle:
        fig.suptitle(subtitle, fontsize=8, color="0.3")
    if notes:
        fig.text(0.01, 0.005, "; ".join(notes), fontsize=7)
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
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    fig.suptitle(_report_settings(report), fontsize=8, color="0.3")
    _save(fig, out)


def is_training_curves(rows: list[dict[str, Any]]) -> bool:
    """Whether results rows are training curves (``asyncsim train --curves``) rather than a
    sweep's points."""
    from ..training import CURVE_COLUMNS

    return bool(rows) and set(CURVE_COLUMNS) <= rows[0].keys()


def plot_training_curves(rows: list[dict[str, Any]], out: str | Path,
                         subtitle: str = "") -> None:
    """Three panels against the epoch: the mean batch loss; the accuracy during training and
    on the held-out samples; the activation density (spikes per neuron and sample) during
    training and held out. Held-out series are drawn only where measured."""
    if not rows:
        raise InputError("no training curves to plot")
    fig, (loss_ax, accuracy_ax, density_ax) = _figure(panels=3)
    epochs = [r["epoch"] for r in rows]
    loss_ax.plot(epochs, [r["loss"] for r in rows], marker="o", markersize=3)
    loss_ax.set_ylabel("mean batch loss")
    for ax, column, label in ((accuracy_ax, "accuracy", "accuracy"),
                              (density_ax, "density", "activation density (spikes/neuron)")):
        ax.plot(epochs, [r[column] for r in rows], marker="o", markersize=3,
                label="training (dropouts on)")
        held = [(r["epoch"], r[f"test_{column}"]) for r in rows
                if r[f"test_{column}"] is not None]
        if held:
            ax.plot(*zip(*held, strict=True), marker="s", markersize=3, label="held out")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    accuracy_ax.set_ylim(0, 1.02)
    from matplotlib.ticker import MaxNLocator

    for ax in (loss_ax, accuracy_ax, density_ax):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if subtitle:
        fig.suptitle(subtitle, fontsize=8, color="0.3")
    _save(fig, out)


def _report_settings(report: dict[str, Any]) -> str:
    """Model, samples, schedule and chip of a report, as one line."""
    network = report.get("network") or {}
    config = report.get("config") or {}
    hardware = report.get("hardware") or {}
    parts = [f"model {network.get('name', '?')}",
             f"{report.get('n_samples', '?')} samples",
             f"policy {config.get('policy', '?')}",
             f"F {config.get('core_quota') or config.get('forward_group', '?')}",
             f"stop {config.get('stop', '?')}"]
    if config.get("synchronization", "none") != "none":
        parts.append(f"synchronization {config['synchronization']}")
    if hardware.get("profile"):
        parts.append(f"chip {hardware['profile']}")
    return ", ".join(parts)


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
        fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight")
    except ValueError as exc:
        raise InputError(f"{out}: cannot write this format ({exc})") from None
    write_bytes_atomic(out, buffer.getvalue())
