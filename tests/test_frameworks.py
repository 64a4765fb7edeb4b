"""NIR exports of other frameworks' default networks run spike for spike like the framework
itself, under layer synchronization. The fixtures in ``tests/fixtures/frameworks`` were made by
``make_fixtures.py`` there, with each framework's own simulation and NIR exporter (see its
README); the frameworks need not be installed here."""

from pathlib import Path

import numpy as np
import pytest

from asyncsim import Simulator

pytest.importorskip("nir")
from asyncsim.nir_io import load_nir  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "frameworks"

#: fixture -> (convention, reset); None: the convention's default
MATCHED = {
    "snntorch_leaky_zero": ("snntorch", "zero"),
    "snntorch_leaky_subtract": ("snntorch", None),
    "snntorch_leaky_subtract_nodelay": ("snntorch", "subtract"),
    "snntorch_leaky_bias": ("snntorch", "zero"),
    "snntorch_synaptic": ("snntorch", None),
    "snntorch_synaptic_zero": ("snntorch", "zero"),
    "snntorch_rleaky": ("snntorch", None),
    "snntorch_rleaky_zero": ("snntorch", "zero"),
    "snntorch_rleaky_recbias": ("snntorch", None),
    "snntorch_rsynaptic": ("snntorch", None),
    "norse_lif": ("norse", None),
    "norse_cuba": ("norse", None),
    "sinabs_iaf_reset": ("sinabs", "zero"),
    "sinabs_iaf_subtract": ("sinabs", None),
    "sinabs_lif": ("sinabs", None),
    "rockpool_lif": ("rockpool", None),
}
#: fixture -> why asyncsim cannot match it
NOT_MATCHED = {
    "sinabs_iaf_multispike": "sinabs fires floor(v / thr) spikes in a step; asyncsim one",
    "rockpool_lif_multispike": "Rockpool fires floor(v / thr) spikes in a step; asyncsim one",
    "rockpool_lifneuron": "one output step with 2 spikes in Rockpool (multi-spike)",
}


def _simulate(name, convention, reset):
    data = np.load(FIXTURES / f"{name}.npz")
    with pytest.warns(UserWarning, match="type check") if convention in (
            "sinabs", "rockpool") else _nothing():
        net = load_nir(FIXTURES / f"{name}.nir", 1.0, convention=convention, reset=reset)
    inputs = data["inputs"]
    sim = Simulator(net, synchronization="layer")
    report = sim.run(inputs, record=True)
    # hidden spikes per timestep: under layer synchronization every one is delivered, so the
    # recorded selection of a pass lists them
    hidden = np.zeros_like(data["hidden_spikes_hidden"])
    for s in range(inputs.shape[0]):
        for t, steps in enumerate(report.trace.schedule(s)):
            for sources, _ in steps:
                hidden[s, t, sources] += 1
    # output spikes per timestep: differences of runs on growing prefixes of the input
    counts = [np.zeros_like(report.per_sample["output_counts"])]
    for t in range(inputs.shape[1]):
        counts.append(sim.run(inputs[:, :t + 1]).per_sample["output_counts"])
    output = np.diff(np.stack(counts, axis=1), axis=1)
    return data, hidden, output


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name", sorted(MATCHED))
def test_framework_export_runs_spike_for_spike(name):
    convention, reset = MATCHED[name]
    data, hidden, output = _simulate(name, convention, reset)
    np.testing.assert_array_equal(hidden, data["hidden_spikes_hidden"], err_msg="hidden")
    np.testing.assert_array_equal(output, data["output_spikes"], err_msg="output")
    assert data["output_spikes"].sum() > 50


@pytest.mark.parametrize("name", sorted(NOT_MATCHED))
def test_multi_spike_fixtures_are_known_not_to_match(name):
    convention = name.split("_")[0]
    data, hidden, output = _simulate(name, convention, None)
    matched = (np.array_equal(hidden, data["hidden_spikes_hidden"])
               and np.array_equal(output, data["output_spikes"]))
    assert not matched, f"{name} now matches: move it to MATCHED ({NOT_MATCHED[name]})"


def test_every_fixture_is_accounted_for():
    names = {p.stem for p in FIXTURES.glob("*.nir")}
    assert names == set(MATCHED) | set(NOT_MATCHED)


def test_imported_models_run_asynchronously_and_on_chips():
    from asyncsim import InputError
    from asyncsim.hardware import ChipSimulator

    data = np.load(FIXTURES / "snntorch_rsynaptic.npz")
    net = load_nir(FIXTURES / "snntorch_rsynaptic.nir", 1.0, convention="snntorch")
    assert net.layers[0].synapse == "current" and net.layers[0].reset == "subtract_delayed"
    asynchronous = Simulator(net, policy="random", forward_group=4).run(data["inputs"])
    assert asynchronous.per_sample["spikes_per_layer"].sum() > 0
    on_loihi = ChipSimulator(net, "loihi2", quantize=False).run(data["inputs"])
    assert on_loihi.per_sample["spikes_per_layer"].sum() > 0 and not on_loihi.hardware.warnings
    with pytest.raises(InputError, match="current-based synapses"):
        ChipSimulator(net, "speck")


def test_the_command_line_takes_the_convention_and_reset(tmp_path):
    from click.testing import CliRunner

    from asyncsim.cli.main import cli

    data = np.load(FIXTURES / "snntorch_leaky_zero.npz")
    np.savez(tmp_path / "d.npz", inputs=data["inputs"], labels=np.zeros(6, int))
    result = CliRunner().invoke(cli, [
        "run", str(FIXTURES / "snntorch_leaky_zero.nir"), "--nir-convention", "snntorch",
        "--reset", "zero", "--data", str(tmp_path / "d.npz"), "--sync", "layer", "--json",
        str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    np.testing.assert_array_equal(report["per_sample"]["output_counts"],
                                  data["output_spikes"].sum(axis=1))
    converted = CliRunner().invoke(cli, [
        "convert", str(FIXTURES / "snntorch_synaptic.nir"), str(tmp_path / "m.yaml"),
        "--nir-convention", "snntorch"])
    assert converted.exit_code == 0, converted.output
    assert "subtract_delayed" in (tmp_path / "m.yaml").read_text()
