"""Simulator configuration, guards, reports and user policies."""

import json

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import InputError, Simulator, early_decision, random_feedforward, user_policy


@pytest.mark.parametrize("options,field", [
    (dict(forward_group=0), "forward_group"),
    (dict(policy="nope"), "policy"),
    (dict(stop="later"), "stop"),
    (dict(input_dropout=1.5), "input_dropout"),
    (dict(momentum_noise=-1.0), "momentum_noise"),
    (dict(max_steps=0), "max_steps"),
    (dict(steps_after_output=-1), "steps_after_output"),
])
def test_bad_configuration_names_the_field(small_net, options, field):
    with pytest.raises(InputError, match=field) as info:
        Simulator(small_net, **options)
    assert "\n" not in str(info.value)


def test_inputs_must_match_the_network(small_net):
    sim = Simulator(small_net)
    with pytest.raises(InputError, match="expected 12 features"):
        sim.run(np.zeros((2, 3, 13), dtype=np.uint8))
    with pytest.raises(InputError, match="3-D"):
        sim.run(np.zeros((2, 12), dtype=np.uint8))
    with pytest.raises(InputError, match="0..255"):
        sim.run(np.full((1, 1, 12), -1))
    with pytest.raises(InputError, match="labels"):
        sim.run(np.zeros((2, 3, 12), dtype=np.uint8), labels=np.zeros(3))


def test_max_steps_guard_is_reported(small_net):
    inputs = random_inputs(3, 2, 12, rate=0.6, seed=2)
    report = Simulator(small_net, forward_group=1, max_steps=2).run(inputs)
    assert report.metrics()["guard_stops"] > 0
    assert "max-steps guard" in report.summary()
    assert report.per_sample["steps"].max() == 2


def test_energy_follows_sops(small_net):
    inputs = random_inputs(3, 2, 12, rate=0.6, seed=2)
    report = Simulator(small_net, energy_per_sop_pj=26.0).run(inputs)
    assert report.metrics()["energy"] == pytest.approx(
        report.per_sample["sops"].mean() * 26e-12)
    assert Simulator(small_net).run(inputs).metrics()["energy"] is None


def test_paper_table_3_energy_arithmetic():
    # 3.521e4 SOPs at 26 pJ per SOP (uBrain) give 0.9155 uJ
    from asyncsim import RunConfig
    from asyncsim.metrics import Energy

    class _Fake:
        config = RunConfig(energy_per_sop_pj=26.0)
        per_sample = {"sops": np.array([3.521e4])}

    assert Energy().compute(_Fake()) == pytest.approx(0.9155e-6, rel=1e-4)


def test_report_json_and_summary(tmp_path, small_net):
    inputs = random_inputs(5, 3, 12, rate=0.5, seed=1)
    labels = np.arange(5) % 4
    report = Simulator(small_net, policy="momentum").run(inputs, labels)
    path = tmp_path / "r.json"
    report.to_json(path)
    data = json.loads(path.read_text())
    assert data["metrics"]["accuracy"] == pytest.approx(report.accuracy)
    assert data["per_sample"]["labels"] == labels.tolist()
    assert data["config"]["policy"] == "momentum"
    assert len(data["per_sample"]["sops"]) == 5
    text = report.summary()
    for word in ("accuracy", "density", "sops", "forward_steps", "Effective_ACs"):
        assert word in text
    hist = report.reactivity_histogram()
    assert hist.sum() == report.per_sample["spikes_per_layer"].sum()


def test_user_policy_matches_equivalent_builtin(small_net):
    inputs = random_inputs(4, 3, 12, rate=0.5, seed=7)

    def by_layer(source, layer, membrane, step):
        return float(layer)

    a = Simulator(small_net, policy=user_policy(by_layer), forward_group=3).run(inputs)
    b = Simulator(small_net, policy="layer", forward_group=3).run(inputs)
    for key in a.per_sample:
        np.testing.assert_array_equal(a.per_sample[key], b.per_sample[key])


def test_user_policy_that_does_not_compile_is_a_clear_error():
    def bad(source, layer, membrane, step):
        return {"not": "a number"}

    with pytest.raises(InputError, match="does not compile"):
        user_policy(bad)


def test_early_decision_and_on_output_stop():
    net = random_feedforward([16, 12, 12, 4], seed=2, gain=2.5)
    inputs = random_inputs(10, 2, 16, rate=0.5, seed=3)
    labels = np.arange(10) % 4
    curve = early_decision(net, inputs, labels, [0, 1, 50], policy="fifo", forward_group=1)
    assert set(curve) == {"0", "1", "50", "drain"}
    # with many steps allowed after the first output, nothing is cut short any more
    assert curve["50"] == curve["drain"]
    short = Simulator(net, stop="on_output", steps_after_output=0, policy="fifo",
                      forward_group=1).run(inputs)
    full = Simulator(net, policy="fifo", forward_group=1).run(inputs)
    assert short.per_sample["steps"].sum() < full.per_sample["steps"].sum()
    assert short.per_sample["dropped_pending"].sum() > 0
