"""Neuron and synapse models: per-neuron parameters, biases, current-based synapses, delays,
recurrence, leaky-integrator readout and reset variants. Layer-synchronized execution must
equal the discrete-time update every framework writes (an independent dense implementation
here); asynchronous execution must equal the readable reference; the replay gradient must
equal autograd of the same replay."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import Simulator, load_model, save_model
from asyncsim.network import DenseProjection, Layer, Network
from asyncsim.reference import reference_run


def dense_framework_form(net: Network, inputs: np.ndarray):
    """Layer by layer, timestep by timestep, in the form frameworks write:
    ``syn_t = alpha syn_{t-1} + I_t`` (current synapses), ``v_t = beta v_{t-1} + syn_t`` (or
    ``+ I_t``), spike if ``v_t > U_thr``; ``I_t`` = bias + weighted spikes of this timestep (of
    ``t - d`` for a delay ``d``; recurrent and feedback projections one timestep later).
    Resets: zero and subtract at once; subtract_delayed subtracts ``U_thr`` at the next step,
    before the new input; zero_hold zeroes the whole next value. Returns spikes per layer,
    (S, T, size) each, and the final membranes."""
    S, T, _ = inputs.shape
    order = {layer.name: i for i, layer in enumerate(net.layers)}
    spikes = {layer.name: np.zeros((S, T, layer.size)) for layer in net.layers}
    v = {layer.name: np.zeros((S, layer.size)) for layer in net.layers}
    syn = {layer.name: np.zeros((S, layer.size)) for layer in net.layers}
    dt = net.dt_ms

    def source_spikes(name, t):
        if t < 0:
            return None
        return inputs[:, t, :].astype(np.float64) if name == "input" else spikes[name][:, t]

    for t in range(T):
        for layer in net.layers:
            name = layer.name
            drive = np.broadcast_to(layer.bias, (layer.size,)) + np.zeros((S, layer.size))
            for p in net.projections:
                if p.target != name:
                    continue
                recurrent = p.source != "input" and order[p.source] >= order[name]
                s = source_spikes(p.source, t - p.delay - int(recurrent))
                if s is not None:
                    drive = drive + s @ p.weight.T
            if layer.synapse == "current":
                syn[name] = layer.synaptic_decay(dt) * syn[name] + drive
                drive = syn[name]
            beta = layer.decay_per_step(dt)
            previous = spikes[name][:, t - 1] if t > 0 else np.zeros((S, layer.size))
            thr = np.broadcast_to(layer.threshold, (layer.size,))
            if layer.reset == "subtract_delayed":
                v[name] = beta * v[name] + drive - previous * thr
            elif layer.reset == "zero_hold":
                v[name] = (1 - previous) * (beta * v[name] + drive)
            else:
                v[name] = beta * v[name] + drive
            fired = (v[name] > thr) if layer.fires else np.zeros_like(v[name], dtype=bool)
            spikes[name][:, t] = fired
            if layer.reset == "zero":
                v[name] = np.where(fired, 0.0, v[name])
            elif layer.reset == "subtract":
                v[name] = v[name] - fired * thr
    return spikes, v


def _network(rng, *, synapse="instant", reset="zero", recurrent=False, delay=0, bias=True,
             per_neuron=True, readout="lif", neuron="lif"):
    sizes = (12, 10, 8, 4)

    def value(low, high, size):
        return rng.uniform(low, high, size) if per_neuron else float(rng.uniform(low, high))

    layers = []
    for k, size in enumerate(sizes[1:]):
        output = k == len(sizes) - 2
        kind = readout if output else neuron
        layers.append(Layer(
            f"l{k}", size, neuron=kind, tau_m_ms=value(2.0, 8.0, size),
            threshold=value(0.4, 0.8, size), reset=reset,
            bias=value(-0.05, 0.15, size) if bias else 0.0, synapse=synapse,
            tau_syn_ms=value(1.0, 4.0, size)))
    projections = [DenseProjection("input", "l0", rng.normal(0.25, 0.35, (10, 12))),
                   DenseProjection("l0", "l1", rng.normal(0.2, 0.4, (8, 10)), delay=delay),
                   DenseProjection("l1", "l2", rng.normal(0.25, 0.4, (4, 8)))]
    if recurrent:
        projections.append(DenseProjection("l1", "l1", rng.normal(0.0, 0.3, (8, 8))))
        projections.append(DenseProjection("l1", "l0", rng.normal(0.0, 0.2, (10, 8))))
    return Network(12, layers, projections, dt_ms=1.0)


FEATURES = [
    dict(),
    dict(per_neuron=False, bias=False),
    dict(synapse="current"),
    dict(reset="subtract"),
    dict(reset="subtract_delayed", synapse="current"),
    dict(reset="zero_hold", synapse="current"),
    dict(reset="zero_hold"),
    dict(recurrent=True),
    dict(recurrent=True, synapse="current", reset="subtract_delayed"),
    dict(delay=2),
    dict(delay=3, synapse="current", recurrent=True),
    dict(readout="li"),
    dict(neuron="if", readout="li", synapse="current"),
]


@pytest.mark.parametrize("features", FEATURES)
def test_layered_execution_is_the_frameworks_discrete_time_update(features):
    rng = np.random.default_rng(7)
    net = _network(rng, **features)
    inputs = random_inputs(6, 12, 12, rate=0.35, seed=3)
    expected, v = dense_framework_form(net, inputs)
    report = Simulator(net, synchronization="layer").run(inputs)
    per_layer = np.stack([expected[layer.name].sum(axis=(1, 2)) for layer in net.layers], 1)
    np.testing.assert_array_equal(report.per_sample["spikes_per_layer"], per_layer)
    np.testing.assert_array_equal(report.per_sample["output_counts"],
                                  expected[net.layers[-1].name].sum(axis=1))
    assert per_layer[:, :2].sum() > 20  # the hidden layers are busy
    if net.layers[-1].reset in ("zero", "subtract") or not net.layers[-1].fires:
        np.testing.assert_allclose(report.per_sample["output_membrane"],
                                   v[net.layers[-1].name], rtol=1e-9, atol=1e-12)
    # the same through the readable reference with its layered settings
    reference = reference_run(net, inputs, policy="layer", forward_group=1000,
                              sync_threshold=_fanin(net),
                              emit_barriers=True, recurrent_delivery="next_timestep")
    np.testing.assert_array_equal(reference["spikes_per_layer"], per_layer)


def _fanin(net):
    from asyncsim.compile import compile_network

    return compile_network(net, recurrent_delay=1).fanin


@pytest.mark.parametrize("features", FEATURES)
@pytest.mark.parametrize("policy,group", [("fifo", 1), ("momentum", 3), ("layer", 2)])
def test_asynchronous_kernel_equals_the_reference(features, policy, group):
    rng = np.random.default_rng(11)
    net = _network(rng, **features)
    inputs = random_inputs(3, 6, 12, rate=0.35, seed=5)
    delivery = "next_timestep" if features.get("recurrent") and group == 2 else "same_pass"
    report = Simulator(net, policy=policy, forward_group=group, momentum_noise=0.0,
                       recurrent_delivery=delivery, max_steps=400).run(inputs)
    expected = reference_run(net, inputs, policy=policy, forward_group=group,
                             recurrent_delivery=delivery, max_steps=400)
    for key in ("spikes_per_layer", "output_counts", "sops", "input_sops", "steps",
                "delivered_spikes", "dropped_pending", "reactivity", "guard_stops"):
        np.testing.assert_array_equal(report.per_sample[key], expected[key], err_msg=key)
    np.testing.assert_allclose(report.per_sample["output_membrane"],
                               expected["output_membrane"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("features", [f for f in FEATURES if f.get("readout") != "li"])
def test_replay_gradient_equals_autograd(features):
    torch = pytest.importorskip("torch")
    from asyncsim.gradient import replay_gradient
    from asyncsim.torch_replay import autograd_replay_loss

    rng = np.random.default_rng(13)
    net = _network(rng, **features)
    inputs = random_inputs(3, 5, 12, rate=0.35, seed=2)
    labels = np.array([0, 1, 3])
    for options in (dict(policy="random", forward_group=3), dict(policy="layer",
                                                                 forward_group=1000)):
        delivery = "next_timestep" if options["policy"] == "layer" else "same_pass"
        report = Simulator(net, seed=3, recurrent_delivery=delivery, **options).run(
            inputs, labels, record=True)
        for silent in (False, True):
            grad = replay_gradient(net, inputs, labels, report.trace, alpha=2.0,
                                   silent_hidden=silent)
            np.testing.assert_array_equal(grad.output_counts,
                                          report.per_sample["output_counts"])
            weights = [torch.tensor(p.weight, requires_grad=True) for p in net.projections]
            biases = [torch.tensor(np.broadcast_to(la.bias, (la.size,)).copy(),
                                   requires_grad=True) for la in net.layers]
            loss, _ = autograd_replay_loss(net, inputs, labels, report.trace, weights,
                                           alpha=2.0, silent_hidden=silent, biases=biases)
            expected = torch.autograd.grad(loss, weights + biases)
            assert grad.loss == pytest.approx(float(loss.detach()), rel=1e-12)
            for mine, ref in zip(grad.weights + grad.biases, expected, strict=True):
                ref = ref.numpy()
                scale = max(np.abs(ref).max(), 1e-12)
                np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-5 * scale)
            assert max(np.abs(g).max() for g in grad.weights) > 0


@pytest.mark.parametrize("features", [f for f in FEATURES if f.get("readout") == "li"]
                         + [dict(readout="li", reset="subtract", recurrent=True, delay=2)])
def test_membrane_readout_gradient_equals_autograd(features):
    """A loss on the leaky-integrator outputs' final membranes: the replay's reverse walk
    starts from dloss/dmembranes and must equal autograd through the dense replay."""
    torch = pytest.importorskip("torch")
    from asyncsim.gradient import replay_gradient
    from asyncsim.torch_replay import autograd_replay_membranes

    rng = np.random.default_rng(17)
    net = _network(rng, **features)
    inputs = random_inputs(3, 5, 12, rate=0.35, seed=4)
    labels = np.array([2, 0, 3])
    for options in (dict(policy="random", forward_group=2),
                    dict(policy="layer", forward_group=1000)):
        delivery = "next_timestep" if options["policy"] == "layer" else "same_pass"
        report = Simulator(net, seed=5, recurrent_delivery=delivery, **options).run(
            inputs, labels, record=True)
        weights = [torch.tensor(p.weight, requires_grad=True) for p in net.projections]
        biases = [torch.tensor(np.broadcast_to(la.bias, (la.size,)).copy(),
                               requires_grad=True) for la in net.layers]
        membranes = autograd_replay_membranes(net, inputs, report.trace, weights,
                                              biases=biases)
        np.testing.assert_allclose(membranes.detach().numpy(),
                                   report.per_sample["output_membrane"], rtol=1e-9,
                                   atol=1e-12)
        loss = torch.nn.functional.cross_entropy(membranes, torch.tensor(labels))
        upstream, = torch.autograd.grad(loss, membranes, retain_graph=True)
        expected = torch.autograd.grad(loss, weights + biases)
        grad = replay_gradient(net, inputs, None, report.trace, upstream=upstream.numpy(),
                               upstream_of="membranes")
        for mine, ref in zip(grad.weights + grad.biases, expected, strict=True):
            ref = ref.numpy()
            scale = max(np.abs(ref).max(), 1e-12)
            np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-5 * scale)
        assert all(np.abs(g).max() > 0 for g in grad.weights[:3])  # the chain learns


def test_per_neuron_parameters_and_delays_survive_saving(tmp_path):
    rng = np.random.default_rng(2)
    net = _network(rng, synapse="current", reset="subtract_delayed", delay=2, recurrent=True)
    save_model(net, tmp_path / "m.yaml")
    back = load_model(tmp_path / "m.yaml")
    for a, b in zip(net.layers, back.layers, strict=True):
        for key in ("tau_m_ms", "threshold", "bias", "tau_syn_ms"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert (a.reset, a.synapse, a.neuron) == (b.reset, b.synapse, b.neuron)
    assert [p.delay for p in back.projections] == [p.delay for p in net.projections]
    inputs = random_inputs(2, 5, 12, rate=0.4)
    np.testing.assert_array_equal(
        Simulator(net, synchronization="layer").run(inputs).per_sample["spikes_per_layer"],
        Simulator(back, synchronization="layer").run(inputs).per_sample["spikes_per_layer"])


def test_bias_alone_drives_a_neuron_over_threshold_at_the_start_of_a_pass():
    net = Network(1, [Layer("h", 1, threshold=0.5, bias=0.6, neuron="if"),
                      Layer("o", 1, threshold=0.5)],
                  [DenseProjection("input", "h", np.zeros((1, 1))),
                   DenseProjection("h", "o", np.ones((1, 1)))])
    report = Simulator(net, policy="fifo", forward_group=1).run(np.zeros((1, 3, 1), np.uint8))
    assert report.per_sample["spikes_per_layer"].tolist() == [[3, 3]]
    assert report.per_sample["spikes_to_output"].tolist() == [[1, 1, 1]]


@pytest.mark.parametrize("features", [dict(synapse="current"), dict(recurrent=True),
                                      dict(delay=2, reset="zero_hold"),
                                      dict(reset="subtract_delayed", synapse="current",
                                           recurrent=True, delay=1)])
@pytest.mark.parametrize("name,policy,group", [("loihi", None, None),
                                               ("spinnaker", None, 2),
                                               ("ideal-async", "fifo", None)])
def test_the_simpy_chip_reference_agrees_with_the_kernel(features, name, policy, group):
    from asyncsim.hardware import ChipSimulator, parse_profile
    from asyncsim.hardware.profile import shipped_profiles
    from asyncsim.reference import simpy_run
    from asyncsim.yamlfile import read_yaml

    rng = np.random.default_rng(17)
    net = _network(rng, **features)
    inputs = random_inputs(3, 5, 12, rate=0.35, seed=8)
    doc = read_yaml(shipped_profiles()[name])
    doc["cores"]["neurons_per_core"] = {"value": 7, "status": "estimated"}
    for key in ("synapses_per_core", "cores_per_chip"):
        doc["cores"][key] = {"value": None, "status": "estimated"}
    profile = parse_profile(doc)
    overrides = {"policy": policy} if policy else {}
    if group:
        overrides["forward_group"] = group
    chip = ChipSimulator(net, profile, quantize=False, **overrides)
    kernel = chip.run(inputs).per_sample
    expected = simpy_run(net, profile, chip.chip.mapping, inputs, policy=policy,
                         forward_group=group)
    for key in ("spikes_per_layer", "sops", "barrier_messages", "steps"):
        np.testing.assert_array_equal(kernel[key], expected[key], err_msg=key)
    assert kernel["spikes_per_layer"].sum() > 0


def test_leaky_integrator_output_is_read_from_membranes_and_not_reported_silent():
    rng = np.random.default_rng(11)
    net = _network(rng, readout="li")
    inputs = random_inputs(6, 5, 12, rate=0.4, seed=11)
    report = Simulator(net, synchronization="layer").run(inputs, np.zeros(6, dtype=int))
    assert report.config.readout == "membrane"
    np.testing.assert_array_equal(report.predictions,
                                  np.argmax(report.per_sample["output_membrane"], axis=1))
    assert not any("'l2'" in w for w in report.warnings())
    counted = Simulator(net, synchronization="layer", readout="spike_count").run(inputs)
    assert counted.config.readout == "spike_count"
