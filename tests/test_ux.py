"""What users read: numbers with SI prefixes, the compile notice and `asyncsim warmup`."""

import pytest
from click.testing import CliRunner

from asyncsim.cli.main import cli
from asyncsim.units import fraction, si


@pytest.mark.parametrize("value,unit,text", [
    (1.0746e-05, "J", "10.7 uJ"), (9.19e-5, "s", "91.9 us"), (9190, "SOP/sample",
                                                              "9.19 kSOP/sample"),
    (999.96, "SOP", "1.00 kSOP"), (3.177, "spikes/neuron", "3.18 spikes/neuron"),
    (60080, "messages/sample", "60.1 k messages/sample"), (629620, "bytes", "630 kB"),
    (0, "spikes", "0 spikes"), (4, "steps/pass", "4.00 steps/pass"), (2.5e9, "SOP", "2.50 GSOP"),
    (-3.2e-3, "J", "-3.20 mJ")])
def test_si_prefixes_with_three_significant_digits(value, unit, text):
    assert si(value, unit) == text


def test_fractions_keep_three_decimals_and_small_values_visible():
    assert fraction(1.0) == "1.000" and fraction(0.99609) == "0.996"
    assert fraction(0.0) == "0.000" and fraction(0.000812) == "0.000812"


def test_text_report_uses_prefixes(tmp_path):
    result = CliRunner().invoke(cli, ["run", "nmnist-untrained", "--samples", "4",
                                      "--energy-per-sop-pj", "26"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert lines["sops"].split()[-1] == "kSOP/sample"
    assert lines["energy"].split()[-1].endswith("J/sample")
    assert "e+" not in result.output and "e-0" not in result.output


def test_compile_notice_when_the_kernels_are_not_cached(monkeypatch):
    import asyncsim.warmup

    monkeypatch.setattr(asyncsim.warmup, "kernels_compiled", lambda training=True: False)
    result = CliRunner().invoke(cli, ["run", "nmnist-untrained", "--samples", "2"])
    assert result.exit_code == 0, result.output
    assert "Compiling the simulation kernels" in result.output
    monkeypatch.setattr(asyncsim.warmup, "kernels_compiled", lambda training=True: True)
    quiet = CliRunner().invoke(cli, ["run", "nmnist-untrained", "--samples", "2"])
    assert "Compiling" not in quiet.output


def test_warmup_compiles_and_then_reports_the_kernels_cached():
    from asyncsim.warmup import kernels_compiled

    result = CliRunner().invoke(cli, ["warmup"])
    assert result.exit_code == 0, result.output
    assert "cached" in result.output
    assert kernels_compiled() is True
    assert kernels_compiled(training=False) is True


def _captured_figure(monkeypatch, draw):
    import asyncsim.sweeps.plots as plots

    captured = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: captured.append(fig))
    draw(plots)
    return captured[0]


def _rows():
    rows = []
    for model in ("m-layered", "m-unlayered"):
        for profile in ("chip-a", "chip-b"):
            for group in (1, 2, 8, 32):
                rows.append({"model": model, "profile": profile, "forward_group": group,
                             "policy": "random", "stop": "on_output", "status": "ok",
                             "accuracy": 0.5 + group / 100 + (model == "m-unlayered") * 0.2,
                             "energy_j": 1e-6 * (1 + group / 10) if profile == "chip-a" else
                             None})
    return rows


def test_sweep_plot_has_units_log_axis_legends_and_settings(monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.ticker import EngFormatter

    fig = _captured_figure(monkeypatch, lambda plots: plots.plot_results(
        _rows(), "forward_group", "accuracy", "f.png", by="model"))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "forward group size F" and ax.get_xscale() == "log"
    assert [t for t in ax.get_xticks() if 1 <= t <= 32] == [1, 2, 8, 32]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"m-layered", "m-unlayered", "profile", "chip-a", "chip-b"} <= set(legend)
    assert "policy random" in fig._suptitle.get_text()
    assert "stop on_output" in fig._suptitle.get_text()

    fig = _captured_figure(monkeypatch, lambda plots: plots.plot_results(
        _rows(), "energy_j", "accuracy", "p.png", by="model", pareto=True))
    ax = fig.axes[0]
    assert isinstance(ax.xaxis.get_major_formatter(), EngFormatter)
    assert ax.get_xlabel() == "energy per inference"
    assert any("left out" in t.get_text() for t in fig.texts)  # chip-b's energy is unknown
