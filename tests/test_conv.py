"""Convolutional projections: compiled without dense expansion, equal to an independent dense
convolution under layered settings, trainable (shared-weight gradients), saved and exported."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import (
    ConvProjection,
    DenseProjection,
    InputError,
    Layer,
    Network,
    Simulator,
    compile_network,
    load_model,
    save_model,
)
from asyncsim.gradient import replay_gradient


def vgg_like(seed=0, neuron="if", refractory=True):
    """(2, 8, 8) input -> conv 3x3 pad 1 -> 4x8x8 -> conv 3x3 stride 2 -> 6x4x4 -> dense -> 5."""
    rng = np.random.default_rng(seed)
    common = dict(neuron=neuron, threshold=0.5, tau_m_ms=5.0, refractory=refractory)
    layers = [Layer("c1", 4 * 8 * 8, **common), Layer("c2", 6 * 4 * 4, **common),
              Layer("out", 5, **common)]
    projections = [
        ConvProjection("input", "c1", rng.normal(0, 0.6, (4, 2, 3, 3)), (2, 8, 8), padding=1),
        ConvProjection("c1", "c2", rng.normal(0, 0.4, (6, 4, 3, 3)), (4, 8, 8), stride=2,
                       padding=1),
        DenseProjection("c2", "out", rng.normal(0, 0.4, (5, 96))),
    ]
    return Network(128, layers, projections, dt_ms=1.0)


def direct_conv(x, w, stride, pad):
    """Cross-correlation as deep-learning frameworks define convolution."""
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return out


def layered_by_hand(net, inputs):
    """IF layers with hard reset, one layer after the other, per timestep."""
    c1, c2, fc = net.projections
    counts, membranes = [], []
    for sample in inputs:
        u = [np.zeros(4 * 64), np.zeros(96), np.zeros(5)]
        total = np.zeros(5, dtype=int)
        for frame in sample:
            currents = [lambda s: direct_conv(s.reshape(2, 8, 8), c1.weight, 1, 1).ravel(),
                        lambda s: direct_conv(s.reshape(4, 8, 8), c2.weight, 2, 1).ravel(),
                        lambda s: fc.weight @ s]
            spikes = frame.astype(float)
            for k in range(3):
                u[k] = u[k] + currents[k](spikes)
                spikes = (u[k] > 0.5).astype(float)
                u[k][spikes > 0] = 0.0
            total += spikes.astype(int)
        counts.append(total)
        membranes.append(u[2].copy())
    return np.array(counts), np.array(membranes)


def test_compiled_without_dense_expansion():
    net = vgg_like()
    c = compile_network(net)
    p = net.projections[0]
    # every output pixel sees 3x3 inputs per in channel, fewer at the zero-padded border
    interior = 4 * 2 * 9 * 6 * 6
    edges = 4 * 2 * (4 * 6 * 6 + 4 * 4)  # 4 sides x 6 pixels x 6 taps, 4 corners x 4 taps
    assert len(p.synapses()[0]) == interior + edges
    assert int(c.fanin.sum()) == sum(len(q.synapses()[0]) for q in net.projections)
    # convolutions compile to descriptors and kernels: only the dense projection has rows
    assert c.targets.shape[0] == 5 * 96 and c.conv_weights.shape[0] == 4 * 2 * 9 + 6 * 4 * 9
    rows = compile_network(net, expand_conv=True)
    assert rows.targets.shape[0] == sum(len(q.synapses()[0]) for q in net.projections)
    assert rows.targets.shape[0] < 128 * 256 + 256 * 96 + 96 * 5


def test_layered_conv_equals_direct_convolution():
    net = vgg_like()
    inputs = random_inputs(4, 3, 128, rate=0.3, seed=1)
    report = Simulator(net, synchronization="layer", readout="membrane").run(inputs)
    counts, membranes = layered_by_hand(net, inputs)
    assert counts.sum() > 5 and report.per_sample["spikes_per_layer"][:, 0].sum() > 0
    np.testing.assert_array_equal(report.per_sample["output_counts"], counts)
    np.testing.assert_allclose(report.per_sample["output_membrane"], membranes, atol=1e-9)
    np.testing.assert_array_equal(report.predictions, np.argmax(membranes, axis=1))


def dense_equivalent(net):
    projections = []
    for p in net.projections:
        if isinstance(p, ConvProjection):
            rows, cols, where = p.synapses()
            w = np.zeros((p.target_size, p.source_size))
            np.add.at(w, (rows, cols), p.weight.ravel()[where])
            projections.append(DenseProjection(p.source, p.target, w))
        else:
            projections.append(p)
    return Network(net.input_size, net.layers, projections, dt_ms=net.dt_ms)


def test_shared_weight_gradient_is_the_sum_over_synapses():
    # The dense equivalent's zero-weight synapses still deliver events, and neurons fire in
    # the order they were first reached, so only an order-free schedule (every pending spike
    # delivered at each step) is identical for both: the layered one.
    net = vgg_like(seed=2, neuron="lif", refractory=False)
    inputs = random_inputs(3, 3, 128, rate=0.3, seed=3)
    labels = np.array([0, 1, 2])
    options = dict(policy="layer", forward_group=1000, seed=5)
    trace = Simulator(net, **options).run(inputs, labels, record=True).trace
    dense = dense_equivalent(net)
    dense_trace = Simulator(dense, **options).run(inputs, labels, record=True).trace
    np.testing.assert_array_equal(trace.selection, dense_trace.selection)
    mine = replay_gradient(net, inputs, labels, trace)
    theirs = replay_gradient(dense, inputs, labels, dense_trace)
    assert mine.loss == pytest.approx(theirs.loss, rel=1e-12)
    for p, g, g_dense in zip(net.projections, mine.weights, theirs.weights, strict=True):
        assert g.shape == p.weight.shape
        if isinstance(p, ConvProjection):
            rows, cols, where = p.synapses()
            expected = np.bincount(where, weights=g_dense[rows, cols], minlength=p.weight.size)
            np.testing.assert_allclose(g.ravel(), expected, rtol=1e-9, atol=1e-12)
        else:
            np.testing.assert_allclose(g, g_dense, rtol=1e-9, atol=1e-12)
    assert np.abs(mine.weights[0]).max() > 0


def test_save_load_and_nir_round_trip(tmp_path):
    net = vgg_like(seed=4)
    save_model(net, tmp_path / "vgg.yaml")
    back = load_model(tmp_path / "vgg.yaml")
    assert [type(p).__name__ for p in back.projections] == [
        "ConvProjection", "ConvProjection", "DenseProjection"]
    assert back.projections[1].stride == (2, 2) and back.projections[1].padding == (1, 1)
    inputs = random_inputs(3, 3, 128, rate=0.3, seed=6)
    expected = Simulator(net, synchronization="layer").run(inputs).per_sample["output_counts"]
    got = Simulator(back, synchronization="layer").run(inputs).per_sample["output_counts"]
    np.testing.assert_array_equal(got, expected)
    pytest.importorskip("nir")
    from asyncsim.nir_io import load_nir, save_nir

    save_nir(net, tmp_path / "vgg.nir")
    again = load_nir(tmp_path / "vgg.nir", dt_ms=1.0)
    assert [type(p).__name__ for p in again.projections] == [
        "ConvProjection", "ConvProjection", "DenseProjection"]
    got = Simulator(again, synchronization="layer").run(inputs).per_sample["output_counts"]
    np.testing.assert_array_equal(got, expected)


def test_bad_convolutions():
    with pytest.raises(InputError, match="groups"):
        ConvProjection("input", "a", np.zeros((4, 3, 3, 3)), (2, 8, 8))
    with pytest.raises(InputError, match="input_shape"):
        ConvProjection("input", "a", np.zeros((4, 2, 5, 5)), (2, 3, 3))
    with pytest.raises(InputError, match="sizes"):
        Network(128, [Layer("a", 10)], [ConvProjection("input", "a", np.zeros((4, 2, 3, 3)),
                                                       (2, 8, 8))])


@pytest.mark.parametrize("policy,group", [("fifo", 1), ("momentum", 3), ("layer", 1000)])
def test_reference_agrees_on_a_convolutional_network(policy, group):
    from asyncsim.reference import reference_run

    net = vgg_like(seed=7, neuron="lif")
    inputs = random_inputs(2, 3, 128, rate=0.3, seed=8)
    report = Simulator(net, policy=policy, forward_group=group, momentum_noise=0.0).run(inputs)
    expected = reference_run(net, inputs, policy=policy, forward_group=group)
    for key in ("output_counts", "spikes_per_layer", "steps"):
        np.testing.assert_array_equal(report.per_sample[key], expected[key], err_msg=key)
    assert report.per_sample["spikes_per_layer"][:, 1].sum() > 0


def test_a_convolutional_network_on_a_chip():
    from asyncsim.hardware import ChipSimulator

    inputs = random_inputs(2, 3, 128, rate=0.3, seed=9)
    report = ChipSimulator(vgg_like(seed=1), "speck").run(inputs)
    assert report.hardware.mapping["cores_used"] >= 1
    assert report.metrics()["sops"] > 0
