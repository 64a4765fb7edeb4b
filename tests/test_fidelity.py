"""Hardware fidelity: the cost structure counted by hand, unknown figures reported as unknown,
the busiest core of every timestep, barrier times by tiles, and convolutional mapping with
each chip's per-core limits."""

import copy
import json

import numpy as np
import pytest
import yaml
from conftest import random_inputs

from asyncsim import (
    ConvProjection,
    DenseProjection,
    InputError,
    Layer,
    Network,
    Simulator,
    feedforward,
    load_model,
)
from asyncsim.hardware import ChipSimulator, load_profile, map_network, parse_profile
from asyncsim.hardware.mapping import kernel_entries
from asyncsim.hardware.profile import Figure, shipped_profiles


def _doc(name):
    return copy.deepcopy(yaml.safe_load(shipped_profiles()[name].read_text()))


def _figures(doc, section, **values):
    for key, value in values.items():
        doc[section][key] = {"value": value, "status": "estimated"}
    return doc


def layered_if(weights, inputs, threshold):
    """Independent layered IF with reset to zero: (S, T, neurons) spikes of every layer."""
    n_samples, n_steps, _ = inputs.shape
    fired = [np.zeros((n_samples, n_steps, w.shape[0]), dtype=bool) for w in weights]
    u = [np.zeros((n_samples, w.shape[0])) for w in weights]
    for t in range(n_steps):
        spikes = inputs[:, t, :].astype(np.float64)
        for layer, w in enumerate(weights):
            u[layer] += spikes @ w.T
            now = u[layer] > threshold
            u[layer][now] = 0.0
            fired[layer][:, t] = now
            spikes = now.astype(np.float64)
    return fired


def two_core_chip(**timing):
    """A barrier chip with every figure set, and room for one 6-neuron layer per core."""
    doc = _doc("loihi")
    doc["cores"]["neurons_per_core"] = {"value": 6, "status": "estimated"}
    doc["cores"]["synapses_per_core"] = {"value": None, "status": "estimated"}
    doc["cores"]["cores_per_tile"] = {"value": 4, "status": "estimated"}
    doc["timing"]["barrier_ns"] = {"value": 100.0, "status": "estimated",
                                   "by_tiles": {1: 50.0, 2: 70.0}}
    _figures(doc, "energy", sop_pj=2.0, neuron_access_pj=3.0, neuron_update_pj=5.0,
             spike_pj=7.0, spike_routed_pj=11.0, hop_pj=13.0, barrier_message_pj=0.5,
             static_power_mw=2.0)
    base = dict(sop_ns=1.0, neuron_access_ns=2.0, neuron_update_ns=0.5, spike_ns=4.0,
                spike_routed_ns=3.0, message_in_ns=6.0, hop_ns=9.0)
    return parse_profile(_figures(doc, "timing", **{**base, **timing}))


def test_energy_follows_the_cost_structure_counted_by_hand():
    rng = np.random.default_rng(7)
    weights = [rng.integers(-1, 3, (6, 5)).astype(float), rng.integers(-1, 3, (6, 6)).astype(
        float)]
    net = feedforward(weights, neuron="if", threshold=1.5)
    inputs = random_inputs(3, 4, 5, rate=0.5, seed=2)
    profile = two_core_chip()
    report = ChipSimulator(net, profile, quantize=False).run(inputs)
    fired = layered_if(weights, inputs, 1.5)
    hidden, output = fired[0].sum(axis=(1, 2)), fired[1].sum(axis=(1, 2))
    input_spikes = inputs.sum(axis=(1, 2))
    # one layer per core: an input spike is a message to core 0 and 6 SOPs, a hidden spike a
    # message to core 1 (same tile: no hop) and 6 SOPs; every neuron is visited every timestep,
    # and under barrier synchronization every neuron integrates every timestep
    sops, input_sops = hidden * 6, input_spikes * 6
    expected = (sops * 2.0 + input_sops * 2.0 + 12 * 4 * 3.0 + 12 * 4 * 5.0
                + (hidden + output) * 7.0 + (hidden + input_spikes) * 11.0) * 1e-12
    barrier = report.per_sample["barrier_messages"] * 0.5e-12
    hw = report.hardware
    np.testing.assert_array_equal(report.per_sample["neuron_updates"], 12 * 4)
    assert hw.energy_j["dynamic"] == pytest.approx(np.mean(expected + barrier))
    assert hw.energy_j["input_sops"] == pytest.approx(np.mean(input_sops) * 2e-12)
    assert hw.energy_j["hops"] == 0.0 and hw.mapping["tiles_used"] == 1
    assert hw.energy_j["static"] == pytest.approx(2e-3 * hw.latency_s)
    assert hw.energy_j["total"] == pytest.approx(hw.energy_j["dynamic"] + hw.energy_j["static"])


def test_barrier_latency_is_the_busiest_core_of_every_timestep():
    rng = np.random.default_rng(3)
    weights = [rng.integers(-1, 3, (6, 5)).astype(float), rng.integers(-1, 3, (6, 6)).astype(
        float)]
    net = feedforward(weights, neuron="if", threshold=1.5)
    inputs = random_inputs(4, 5, 5, rate=0.5, seed=9)
    report = ChipSimulator(net, two_core_chip(), quantize=False).run(inputs)
    fired = layered_if(weights, inputs, 1.5)
    h = fired[0].sum(axis=2).astype(float)  # (S, T) hidden spikes
    o = fired[1].sum(axis=2).astype(float)
    x = inputs.sum(axis=2).astype(float)
    # core 0 holds the hidden layer, core 1 the output layer, 6 neurons each; output spikes
    # are not recorded per timestep, so they are spread evenly over the timesteps
    send0 = 6 * (2.0 + 0.5) + h * 4.0 + h * 3.0
    recv0 = x * 6.0 + x * 6 * 1.0
    send1 = np.broadcast_to(6 * (2.0 + 0.5) + o.mean(axis=1, keepdims=True) * 4.0, h.shape)
    recv1 = h * 6.0 + h * 6 * 1.0
    busiest = np.maximum.reduce([send0, recv0, send1, recv1])
    expected = (busiest.sum(axis=1) + 5 * 50.0) * 1e-9  # 1 tile: a 50 ns barrier
    np.testing.assert_allclose(report.per_sample["latency_s"], expected)
    assert "50 ns (1 tile used)" in report.hardware.latency_rule


def test_barrier_time_by_tiles_in_use():
    figure = Figure(1800.0, by_tiles=((1, 600.0), (2, 1000.0), (4, 1400.0), (29, 1800.0)))
    assert [figure.for_tiles(n) for n in (1, 2, 3, 4, 28, 29, 32)] == [
        600, 1000, 1000, 1400, 1400, 1800, 1800]
    assert Figure(465.0).for_tiles(7) == 465.0
    doc = _doc("loihi")
    doc["timing"]["barrier_ns"]["by_tiles"] = {0: 5}
    with pytest.raises(InputError, match="timing.barrier_ns.by_tiles"):
        parse_profile(doc)


def test_an_unknown_figure_makes_its_totals_unknown_and_keeps_the_known_parts():
    net = feedforward([np.ones((4, 3)), np.ones((2, 4))], neuron="if", threshold=1.5)
    inputs = random_inputs(2, 3, 3, rate=0.6, seed=1)
    known = ChipSimulator(net, two_core_chip(), quantize=False).run(inputs).hardware
    doc = yaml.safe_load(yaml.safe_dump(_doc("loihi")))
    profile = two_core_chip()
    energy = dict(profile.energy)
    energy["spike_pj"] = Figure(None)
    timing = dict(profile.timing)
    timing["message_in_ns"] = Figure(None)
    from dataclasses import replace

    report = ChipSimulator(net, replace(profile, energy=energy, timing=timing),
                           quantize=False).run(inputs)
    hw = report.hardware
    assert hw.energy_j["spikes"] is None and hw.energy_j["dynamic"] is None
    assert hw.energy_j["total"] is None and hw.latency_s is None
    assert hw.energy_j["static"] is None  # static power over an unknown latency
    assert hw.unknown_figures == ["energy.spike_pj", "timing.message_in_ns"]
    for term in ("sops", "input_sops", "neuron_access", "routed_spikes"):
        assert hw.energy_j[term] == pytest.approx(known.energy_j[term])
    known_parts = known.energy_j["dynamic"] - known.energy_j["spikes"]
    assert hw.energy_lower_bound_j == pytest.approx(
        known_parts + 2e-3 * hw.latency_lower_bound_s)
    assert hw.latency_lower_bound_s <= known.latency_s
    data = json.loads(json.dumps(report.to_dict()))
    assert data["hardware"]["energy_j"]["total"] is None
    assert data["hardware"]["latency_s"] is None
    assert "energy_j" not in report.per_sample and "latency_s" not in report.per_sample
    summary = report.summary()
    assert "energy per inference" in summary and "unknown  J (at least" in summary
    assert "energy.spike_pj, timing.message_in_ns" in summary
    assert doc  # the shipped file was not changed by the edits above


def test_an_unknown_figure_whose_events_never_happen_leaves_the_total_known():
    net = feedforward([np.ones((4, 3)), np.ones((2, 4))], neuron="if", threshold=1.5)
    inputs = random_inputs(2, 3, 3, rate=0.6, seed=1)
    doc = _doc("loihi")
    doc["energy"]["hop_pj"] = {"value": None, "status": "estimated"}
    doc["timing"]["hop_ns"] = {"value": None, "status": "estimated"}
    hw = ChipSimulator(net, parse_profile(doc), quantize=False).run(inputs).hardware
    assert hw.mapping["tiles_used"] == 1  # no hops on one tile
    assert hw.energy_j["total"] is not None and hw.latency_s is not None
    assert hw.unknown_figures == []


def test_optional_fields_default_to_not_charged():
    doc = _doc("ideal-async")
    for section, key in (("energy", "spike_pj"), ("energy", "neuron_access_pj"),
                         ("timing", "spike_ns"), ("timing", "message_in_ns"),
                         ("cores", "cores_per_tile")):
        del doc[section][key]
    profile = parse_profile(doc)
    assert profile.energy["spike_pj"].value == 0 and "not charged" in profile.energy[
        "spike_pj"].note
    assert profile.cores_per_tile == 1
    with pytest.raises(InputError, match="'energy.sop_pj'"):
        del doc["energy"]["sop_pj"]
        parse_profile(doc)


# -- convolutional mapping ---------------------------------------------------------------

def test_kernel_memory_follows_the_dynapcnn_rule():
    # input channels x 2^(ceil(log2(kernel size)) + ceil(log2(output channels))): a 3x3 kernel
    # takes the room of a 4x4 one, 10 output channels that of 16
    conv = ConvProjection("input", "c", np.zeros((8, 2, 3, 3)), (2, 34, 34), stride=2)
    assert kernel_entries(conv, None) == 2 * 16 * 8
    dense = DenseProjection("c2", "out", np.zeros((10, 784)))
    assert kernel_entries(dense, (16, 7, 7)) == 16 * 64 * 16
    assert kernel_entries(DenseProjection("input", "h", np.zeros((64, 2312))), None) == (
        2312 * 64)


def test_the_speck_example_places_one_layer_per_core_within_their_memories():
    net = load_model("nmnist-conv")
    speck = load_profile("speck")
    mapping = map_network(Simulator(net).compiled, speck, network=net)
    assert mapping.n_cores == len(net.layers)
    for i, layer in enumerate(net.layers):
        assert len(set(mapping.core_of[np.arange(layer.size) + sum(
            lay.size for lay in net.layers[:i])])) == 1
    chip_cores = mapping.tile_of  # one core per tile: the chip's core index
    memory = np.array(speck.layer_cores.neuron_memory)[chip_cores]
    assert np.all(mapping.neurons <= memory)


def test_a_layer_too_large_for_any_speck_core_is_named_with_its_limit():
    # the vendor's own example: 16 -> 32 channels, 3x3, on a 64 x 64 map needs 128Ki neurons
    weight = np.zeros((32, 16, 3, 3))
    net = Network(16 * 64 * 64, [Layer("big", 32 * 64 * 64, neuron="if"),
                                 Layer("out", 2, neuron="if")],
                  [ConvProjection("input", "big", weight, (16, 64, 64), padding=1),
                   DenseProjection("big", "out", np.zeros((2, 32 * 64 * 64)))])
    with pytest.raises(InputError) as info:
        ChipSimulator(net, "speck")
    message = str(info.value)
    assert "layer 'big'" in message and "131,072 neuron-memory" in message
    assert "65,536" in message and "\n" not in message
    dense = load_model("nmnist-untrained")
    with pytest.raises(InputError, match="layer 'hidden1'.*kernel-memory"):
        ChipSimulator(dense, "speck")


def test_too_many_layers_for_speck():
    sizes = [4] * 11
    weights = [np.ones((b, a)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    with pytest.raises(InputError, match="10 layers.*9 cores"):
        ChipSimulator(feedforward(weights, neuron="if"), "speck")


def test_loihi_places_convolutions_by_channels():
    # 12 channels of 10 x 10: 10 whole channels fill 1,000 of a core's 1,024 compartments
    net = Network(3 * 12 * 12, [Layer("c", 12 * 10 * 10), Layer("o", 3)],
                  [ConvProjection("input", "c", np.ones((12, 3, 3, 3)), (3, 12, 12)),
                   DenseProjection("c", "o", np.ones((3, 1200)))])
    loihi = load_profile("loihi")
    by_channel = map_network(Simulator(net).compiled, loihi, network=net)
    assert by_channel.neurons.tolist() == [1000, 203]  # the 3 outputs share the second core
    plain = map_network(Simulator(net).compiled, loihi)
    assert plain.neurons.tolist() == [1024, 179]
    # a channel larger than a core is split, as Loihi allows
    big = Network(1 * 40 * 40, [Layer("c", 2 * 38 * 38), Layer("o", 2)],
                  [ConvProjection("input", "c", np.ones((2, 1, 3, 3)), (1, 40, 40)),
                   DenseProjection("c", "o", np.ones((2, 2 * 38 * 38)))])
    split = map_network(Simulator(big).compiled, loihi, network=big)
    assert split.neurons.max() <= 1024 and split.neurons.sum() == 2 * 38 * 38 + 2


def test_broken_layer_cores_give_one_line_errors():
    doc = _doc("speck")
    doc["layer_cores"]["kernel_memory"]["value"] = [1, 2]
    with pytest.raises(InputError, match="layer_cores.kernel_memory.value.*9 entries"):
        parse_profile(doc)
    doc = _doc("speck")
    doc["layer_cores"]["neuron_memory"]["value"] = "lots"
    with pytest.raises(InputError, match="layer_cores.neuron_memory.value"):
        parse_profile(doc)
