"""Chip profiles: validation, style mapping, core placement, energy and latency."""

import copy

import numpy as np
import pytest
import yaml
from conftest import random_inputs
from test_properties import dense_layer_by_layer

from asyncsim import InputError, Simulator, feedforward, load_model, random_feedforward
from asyncsim.hardware import ChipSimulator, load_profile, map_network, parse_profile
from asyncsim.hardware.cost import energy_joules, latency_seconds
from asyncsim.hardware.profile import shipped_profiles
from asyncsim.sync import STYLES

SHIPPED = sorted(shipped_profiles())


def _doc(name="ideal-async"):
    return yaml.safe_load(shipped_profiles()[name].read_text())


def test_all_ten_profiles_are_shipped():
    assert set(SHIPPED) >= {"loihi", "loihi2", "spinnaker", "spinnaker2", "speck", "ubrain",
                            "truenorth", "seneca", "ideal-async", "layered"}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_runs_a_shipped_model(name):
    # Speck holds one convolutional layer per core: the dense models do not fit it
    net = load_model("nmnist-conv" if name == "speck" else "nmnist-untrained")
    rng = np.random.default_rng(0)
    inputs = (rng.random((3, 2, 2312)) < 0.06).astype(np.uint8)
    report = ChipSimulator(net, name).run(inputs, np.zeros(3, dtype=int))
    hw = report.hardware
    assert hw.profile == name
    assert hw.mapping["cores_used"] >= 1
    assert report.per_sample["sops"].sum() > 0
    summary = report.summary()
    energy = hw.energy_j
    # unknown is never zero: a total is None exactly when a figure it needs is missing, and a
    # known total of a real chip is never zero
    # an unknown energy figure leaves the dynamic energy unknown, an unknown time the latency
    # and so the static energy: either way the total
    assert (energy["total"] is None) == bool(hw.unknown_figures)
    if energy["total"] is None:
        assert "unknown" in summary and hw.unknown_figures
        assert all(f in summary for f in hw.unknown_figures)
    else:
        assert energy["total"] == pytest.approx(energy["dynamic"] + energy["static"])
        assert energy["total"] > 0
    assert hw.latency_s is None or hw.latency_s > 0
    assert (hw.latency_s is None) == any(f.startswith("timing.") for f in hw.unknown_figures)
    assert "0.0000e+00  J = dynamic" not in summary


@pytest.mark.parametrize("name", ["layered", "loihi", "seneca"])
def test_barrier_style_reproduces_layer_by_layer(name):
    net = random_feedforward([30, 20, 20, 6], seed=4, gain=2.0, tau_m_ms=2.0, dt_ms=1.0)
    inputs = random_inputs(6, 4, 30, rate=0.3, seed=1)
    report = ChipSimulator(net, name, quantize=False).run(inputs)
    counts, _ = dense_layer_by_layer([p.weight for p in net.projections], inputs, 0.3,
                                     np.exp(-0.5))
    per_layer = np.stack([c.sum(axis=1) for c in counts], axis=1)
    np.testing.assert_array_equal(report.per_sample["spikes_per_layer"], per_layer)
    assert report.per_sample["barrier_messages"].sum() > 0
    assert np.all(report.per_sample["steps"] == 3)


def test_async_profile_with_f1_evaluates_after_every_current():
    net = feedforward([np.eye(2), np.array([[0.4, -0.4]])], threshold=0.3)
    inputs = np.ones((1, 1, 2), dtype=np.uint8)
    fifo = ChipSimulator(net, "ideal-async", policy="fifo").run(inputs)
    grouped = ChipSimulator(net, "ideal-async", policy="fifo", forward_group=2).run(inputs)
    assert fifo.per_sample["output_counts"][0, 0] == 1
    assert grouped.per_sample["output_counts"][0, 0] == 0
    assert fifo.hardware.settings["forward_group"] == 1


def test_overrides_win_and_are_reported():
    net = random_feedforward([10, 8, 4], seed=1, gain=2.0)
    chip = ChipSimulator(net, "ubrain", policy="momentum", forward_group=3, quantize=False)
    report = chip.run(random_inputs(2, 2, 10, seed=2))
    assert report.config.policy == "momentum" and report.config.forward_group == 3
    assert report.hardware.settings["policy"] == "momentum"


def test_paper_table_3_energy_with_only_energy_per_sop():
    # the study's table 3: 3.521e4 SOPs x 26 pJ = 0.9155 uJ (input SOPs apart, so none here)
    profile = load_profile("ideal-async")
    counts = {k: np.zeros(1) for k in ("input_sops", "neuron_timesteps", "neuron_updates",
                                       "spikes", "messages", "hops", "barrier_messages")}
    counts["sops"] = np.array([3.521e4])
    energy = energy_joules(counts, profile)
    assert energy.total[0] == pytest.approx(0.9155e-6, rel=1e-4)
    assert energy.missing == []


def test_latency_models():
    per_sample = {"steps": np.array([[3, 2]]), "critical_sops": np.array([100]),
                  "critical_neuron_updates": np.array([10]), "critical_hops": np.array([4])}
    doc = _doc("ideal-async")
    for key, value in (("sop_ns", 2.0), ("neuron_update_ns", 3.0), ("hop_ns", 5.0)):
        doc["timing"][key] = {"value": value, "status": "estimated"}
    asynchronous = parse_profile(doc)
    expected = (100 * 2.0 + 10 * 3.0 + 4 * 5.0) * 1e-9
    assert latency_seconds(per_sample, asynchronous).total[0] == pytest.approx(expected)
    # a timer chip takes one tick per forward step: 5 steps of 1 ms
    assert latency_seconds(per_sample, load_profile("truenorth")).total[0] == pytest.approx(
        5e-3)
    # an unknown time per SOP makes the latency unknown; the rest is a lower bound
    doc["timing"]["sop_ns"] = {"value": None, "status": "estimated"}
    partial = latency_seconds(per_sample, parse_profile(doc))
    assert partial.total is None and partial.missing == ["timing.sop_ns"]
    assert partial.lower_bound[0] == pytest.approx((10 * 3.0 + 4 * 5.0) * 1e-9)
    assert STYLES["timer"].timing_used(per_sample) == ["tick_period_us"]


def test_timer_quota_on_one_core_equals_fifo_with_that_group():
    net = random_feedforward([16, 12, 12, 5], seed=3, gain=2.2)
    inputs = random_inputs(5, 3, 16, rate=0.4, seed=3)
    doc = _doc("truenorth")
    doc["cores"]["neurons_per_core"]["value"] = 1000  # everything on one core
    chip = ChipSimulator(net, parse_profile(doc), quantize=False, forward_group=2)
    timer = chip.run(inputs).per_sample
    fifo = Simulator(net, policy="fifo", forward_group=2).run(inputs).per_sample
    for key in ("output_counts", "spikes_per_layer", "steps", "sops"):
        np.testing.assert_array_equal(timer[key], fifo[key], err_msg=key)


def test_timer_quota_lets_cores_run_in_parallel():
    net = random_feedforward([16, 12, 12, 5], seed=3, gain=2.2)
    inputs = random_inputs(5, 3, 16, rate=0.4, seed=3)
    doc = _doc("truenorth")
    doc["cores"]["neurons_per_core"]["value"] = 6  # two cores per hidden layer
    chip = ChipSimulator(net, parse_profile(doc), quantize=False, forward_group=1)
    ps = chip.run(inputs).per_sample
    one_core = Simulator(net, policy="fifo", forward_group=1).run(inputs).per_sample
    assert chip.chip.mapping.n_cores == 5
    assert ps["steps"].sum() < one_core["steps"].sum()


def test_mapping_limits_and_errors():
    net = load_model("nmnist-untrained")
    loihi = load_profile("loihi")
    sim = Simulator(net)
    m = map_network(sim.compiled, loihi)
    assert m.neurons.max() <= 1024 and m.synapses.max() <= 65536
    assert m.n_cores == 3  # the 2312-input layer needs 3 cores' worth of synapses
    traffic = map_network(sim.compiled, loihi, "traffic")
    assert traffic.n_cores >= m.n_cores
    # Loihi has 4 cores per tile: cores of one tile share a mesh position, tiles do not
    assert len({tuple(p) for p in traffic.position}) == traffic.n_tiles
    assert traffic.n_tiles == len(set(traffic.tile_of.tolist())) >= traffic.n_cores / 4
    doc = _doc("ubrain")
    doc["cores"]["neurons_per_core"]["value"] = 50
    with pytest.raises(InputError, match="needs 5 cores") as info:
        map_network(sim.compiled, parse_profile(doc))
    assert "\n" not in str(info.value)


def test_hops_follow_the_mesh():
    net = random_feedforward([4, 3, 3, 2], seed=1)
    doc = _doc("truenorth")
    doc["cores"]["neurons_per_core"]["value"] = 3
    profile = parse_profile(doc)
    m = map_network(Simulator(net).compiled, profile)
    # cores 0, 1, 2 in a row: hidden1 -> hidden2 is 1 hop, hidden2 -> output is 1 hop
    np.testing.assert_array_equal(m.position[:3], [[0, 0], [1, 0], [2, 0]])
    assert set(m.route_hops[m.route_start[0]:m.route_start[1]].tolist()) == {1}


def test_quantization_rounds_weights_and_reports_accuracy_effect():
    net = random_feedforward([10, 8, 4], seed=1, gain=2.0)
    chip = ChipSimulator(net, "ubrain")
    levels = {np.unique(np.round(p.weight / np.abs(p.weight).max() * 7)).size
              for p in chip.network.projections}
    assert max(levels) <= 15
    report = chip.run(random_inputs(4, 2, 10, seed=1), np.zeros(4, dtype=int))
    assert report.hardware.weights_quantized_bits == 4
    assert report.hardware.accuracy_unquantized is not None


BROKEN = [
    (lambda d: d.pop("energy"), "energy"),
    (lambda d: d["synchronization"].update(style="psychic"), "synchronization.style"),
    (lambda d: d["energy"]["sop_pj"].update(value=-1), "energy.sop_pj.value"),
    (lambda d: d["energy"]["sop_pj"].update(value="cheap"), "energy.sop_pj.value"),
    (lambda d: d["energy"].update(sop_pj=26), "energy.sop_pj"),
    (lambda d: d["cores"].update(mesh=[2]), "cores.mesh"),
    (lambda d: d["energy"]["sop_pj"].update(status="verified", source="nowhere"),
     "energy.sop_pj.source"),
    (lambda d: d["execution"].update(forward_group=0), "execution.forward_group"),
    (lambda d: d["cores"].update(colour="red"), "cores.colour"),
    (lambda d: d["neuron"].update(max_delay_steps={"value": 2.5, "status": "estimated"}),
     "neuron.max_delay_steps.value"),
    (lambda d: d["neuron"].update(max_delay_steps=16), "neuron.max_delay_steps"),
]


@pytest.mark.parametrize("edit,field", BROKEN)
def test_broken_profiles_give_one_line_errors(tmp_path, edit, field):
    doc = copy.deepcopy(_doc())
    edit(doc)
    path = tmp_path / "chip.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and f"'{field}" in message


@pytest.mark.parametrize("name,policy,group", [
    ("layered", None, None), ("loihi", None, None), ("truenorth", None, None),
    ("truenorth", None, 1), ("spinnaker", None, 2), ("ideal-async", "fifo", None),
    ("ubrain", "layer", None), ("ubrain", "fifo", 3)])
@pytest.mark.parametrize("neurons_per_core", [3, 7])
def test_simpy_reference_agrees_with_kernel(name, policy, group, neurons_per_core):
    from asyncsim.reference import simpy_run

    net = random_feedforward([8, 6, 6, 3], seed=5, gain=2.5, tau_m_ms=3.0, dt_ms=1.0)
    inputs = random_inputs(3, 3, 8, rate=0.5, seed=4)
    doc = _doc(name)
    doc["cores"]["neurons_per_core"] = {"value": neurons_per_core, "status": "estimated"}
    for key in ("synapses_per_core", "cores_per_chip"):
        doc["cores"][key] = {"value": None, "status": "estimated"}
    profile = parse_profile(doc)
    overrides = {"policy": policy} if policy else {}
    if group:
        overrides["forward_group"] = group  # per core on timer chips
    chip = ChipSimulator(net, profile, quantize=False, **overrides)
    kernel = chip.run(inputs).per_sample
    expected = simpy_run(net, profile, chip.chip.mapping, inputs, policy=policy,
                         forward_group=group)
    for key in ("spikes_per_layer", "sops", "barrier_messages", "steps"):
        np.testing.assert_array_equal(kernel[key], expected[key], err_msg=key)
    assert kernel["spikes_per_layer"].sum() > 0


def test_unsupported_neuron_type_is_reported():
    net = random_feedforward([10, 8, 4], seed=1, gain=2.0)  # LIF layers
    report = ChipSimulator(net, "speck").run(random_inputs(2, 2, 10, seed=1))
    assert any("lif" in w and "speck" in w for w in report.hardware.warnings)
    assert "WARNING" in report.summary()


def test_current_synapses_and_delays_are_checked_against_the_chip():
    from asyncsim.network import DenseProjection, Layer, Network

    def network(synapse="instant", delay=0):
        layers = [Layer("h", 4, synapse=synapse), Layer("o", 2, synapse=synapse)]
        return Network(3, layers, [DenseProjection("input", "h", np.ones((4, 3))),
                                   DenseProjection("h", "o", np.ones((2, 4)), delay=delay)])

    with pytest.raises(InputError, match="current-based"):
        ChipSimulator(network("current"), "speck")
    assert ChipSimulator(network("current"), "loihi").warnings == []
    with pytest.raises(InputError, match="delay of 20 timesteps.*at most 16"):
        ChipSimulator(network(delay=20), "spinnaker")
    assert ChipSimulator(network(delay=16), "spinnaker").warnings == []
    unknown = ChipSimulator(network(delay=3), "seneca")
    assert any("maximum delay is unknown" in w for w in unknown.warnings)


def test_state_precision_clips_membranes():
    from asyncsim import ChipModel
    from asyncsim.hardware import quantize_weights, state_bounds

    # one input drives one neuron that never fires (threshold 100): its membrane would reach
    # 5 x 0.9 = 4.5, but 3-bit state in units of the 0.3 weight step stops it at 3 x 0.3
    net = feedforward([np.array([[0.9]]), np.array([[1.0]])], threshold=100.0, neuron="if")
    quantized, scales = quantize_weights(net, 2)
    assert scales[0] == pytest.approx(0.9)
    bound = state_bounds(quantized, [0.3, 1.0], 3)
    np.testing.assert_allclose(bound, [0.9, 3.0])
    sim = Simulator(net, chip=ChipModel(u_low=-np.array([0.9, 3.0]),
                                        u_high=np.array([0.9, 3.0])))
    inputs = np.ones((1, 5, 1), dtype=np.uint8)
    clipped = sim.run(inputs).per_sample["output_membrane"]
    free = Simulator(net).run(inputs).per_sample["output_membrane"]
    assert free[0, 0] == 0.0  # the hidden neuron never fires, so nothing reaches the output
    hidden_free = Simulator(feedforward([np.array([[0.9]])], threshold=100.0, neuron="if"))
    assert hidden_free.run(inputs).per_sample["output_membrane"][0, 0] == pytest.approx(4.5)
    only = Simulator(feedforward([np.array([[0.9]])], threshold=100.0, neuron="if"),
                     chip=ChipModel(u_low=np.array([-0.9]), u_high=np.array([0.9])))
    assert only.run(inputs).per_sample["output_membrane"][0, 0] == pytest.approx(0.9)
    assert clipped.shape == (1, 1)


def test_a_profile_without_a_delay_limit_runs_delays_without_warning():
    from asyncsim.network import DenseProjection, Layer, Network

    net = Network(3, [Layer("h", 4), Layer("o", 2)],
                  [DenseProjection("input", "h", np.ones((4, 3))),
                   DenseProjection("h", "o", np.ones((2, 4)), delay=40)])
    assert ChipSimulator(net, "ideal-async").warnings == []


def test_one_layer_per_core_placement_does_not_depend_on_the_hash_seed(tmp_path):
    """Speck places each layer on a core of its own (a bipartite matching); with tuple nodes
    the matching, and so the hop counts, changed from one process to the next."""
    import os
    import subprocess
    import sys

    code = ("from asyncsim import compile_network, load_model\n"
            "from asyncsim.hardware import load_profile, map_network\n"
            "net = load_model('nmnist-conv')\n"
            "m = map_network(compile_network(net), load_profile('speck'), network=net)\n"
            "print(m.core_of.tolist(), m.route_hops.tolist())\n")
    # run outside the checkout: the installed package (with its shipped models) is imported
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
               for seed in (5, 6, 7, 9)}
    assert len(outputs) == 1
