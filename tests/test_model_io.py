"""Native model format: round trip, shipped models, and one-line errors for bad files."""

import numpy as np
import pytest
import yaml
from conftest import random_inputs

from asyncsim import InputError, Simulator, load_model, save_model, shipped_models


def test_round_trip_gives_identical_network_and_report(tmp_path, small_net):
    small_net.metadata.update(trained=False, note="x")
    path = save_model(small_net, tmp_path / "net.yaml")
    loaded = load_model(path)
    assert loaded.architecture() == small_net.architecture()
    assert loaded.metadata == small_net.metadata
    for a, b in zip(small_net.projections, loaded.projections, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
    inputs = random_inputs(4, 3, 12, seed=1)
    r1 = Simulator(small_net, policy="random", seed=3).run(inputs)
    r2 = Simulator(loaded, policy="random", seed=3).run(inputs)
    for key in r1.per_sample:
        np.testing.assert_array_equal(r1.per_sample[key], r2.per_sample[key])


def test_shipped_models_load_by_name():
    names = shipped_models()
    assert "nmnist-untrained" in names
    net = load_model("nmnist-untrained")
    assert net.architecture() == "2312-64-64-64-10"
    assert net.metadata["trained"] is False


def _write(tmp_path, small_net, edit=None, weights=None):
    path = save_model(small_net, tmp_path / "m.yaml")
    doc = yaml.safe_load(path.read_text())
    if edit:
        edit(doc)
    path.write_text(yaml.safe_dump(doc))
    if weights is not None:
        np.savez(tmp_path / "m.npz", **weights)
    return path


def _set(path, value):
    def edit(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


BAD = [
    (_set(["layers", 0, "tau_m_ms"], -1.0), None, "layers[hidden1].tau_m_ms"),
    (_set(["layers", 0, "tau_m_ms"], 0), None, "tau_m_ms"),
    (_set(["layers", 1, "neuron"], "hh"), None, "layers[hidden2].neuron"),
    (_set(["layers", 0, "size"], 11), None, "projections[input->hidden1].weight"),
    (_set(["layers", 0, "colour"], "red"), None, "layers[0].colour"),
    (_set(["input_size"], 13), None, "projections[input->hidden1].weight"),
    (_set(["projections", 0, "weight"], "missing"), None, "projections[0].weight"),
    (_set(["format_version"], 7), None, "format_version"),
    (_set(["dt_ms"], -2), None, "dt_ms"),
    (None, {"W1": np.full((10, 12), np.nan), "W2": np.zeros((8, 10)), "W3": np.zeros((4, 8))},
     "weight"),
    (None, {"W1": np.full((10, 12), np.inf), "W2": np.zeros((8, 10)), "W3": np.zeros((4, 8))},
     "finite"),
]


@pytest.mark.parametrize("edit,weights,field", BAD)
def test_bad_model_files_give_one_line_errors(tmp_path, small_net, edit, weights, field):
    path = _write(tmp_path, small_net, edit, weights)
    with pytest.raises(InputError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert field in message


def test_unreadable_yaml_and_missing_weights(tmp_path, small_net):
    path = tmp_path / "broken.yaml"
    path.write_text("layers: [unclosed\n")
    with pytest.raises(InputError, match="broken.yaml.*YAML"):
        load_model(path)
    good = save_model(small_net, tmp_path / "m.yaml")
    (tmp_path / "m.npz").unlink()
    with pytest.raises(InputError, match="weights_file"):
        load_model(good)
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_model(good)


def test_unknown_model_name_lists_shipped_models():
    with pytest.raises(InputError, match="nmnist-untrained"):
        load_model("no-such-model")
