"""Convolutions compiled to descriptors (no per-synapse rows): the same forward results, bit for
bit, as the per-synapse expansion (``compile_network(..., expand_conv=True)``), the same
gradients to rounding, the same chip mapping, and memory that follows neurons and kernels."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import random_inputs
from test_conv import vgg_like

from asyncsim import (
    ConvProjection,
    DenseProjection,
    Layer,
    Network,
    Simulator,
    compile_network,
    load_model,
)
from asyncsim.compile import (
    BYTES_PER_KERNEL_WEIGHT,
    BYTES_PER_NEURON,
    BYTES_PER_SOURCE,
    compiled_order,
    compiled_size_bound,
    projection_gradients,
    with_values,
)
from asyncsim.datasets import cifar_like
from asyncsim.gradient import replay_gradient

COUNTS = ("fanout", "nonzero_fanout", "fanin", "input_fanin", "target_first")


def geometry(seed=0, delay=1):
    """Every feature of a convolution at once: groups, stride 2, padding, dilation, an
    asymmetric kernel, a delay, a recurrent convolution, a source that feeds a convolution and
    a dense projection (input, ``a``), zero weights, and a pooling-like convolution whose
    sources each reach one target (a contiguous run: the range path).

    input (3, 9, 9) -> a (6, 5, 5) -> b (4, 3, 4) -> pool (4, 1, 2) -> out 5, with a -> a,
    input -> b and a -> out."""
    rng = np.random.default_rng(seed)
    common = dict(neuron="lif", threshold=0.4, tau_m_ms=8.0)
    layers = [Layer("a", 150, **common), Layer("b", 48, **common),
              Layer("pool", 8, **common), Layer("out", 5, **common)]
    w_a = rng.normal(0, 0.7, (6, 1, 3, 3))
    w_a[0, 0, 1] = 0.0
    projections = [
        ConvProjection("input", "a", w_a, (3, 9, 9), stride=2, padding=1, groups=3),
        ConvProjection("a", "a", rng.normal(0, 0.2, (6, 3, 3, 3)), (6, 5, 5), padding=1,
                       groups=2),
        ConvProjection("a", "b", rng.normal(0, 0.5, (4, 6, 2, 3)), (6, 5, 5), stride=(1, 2),
                       padding=(0, 2), dilation=(2, 1), delay=delay),
        DenseProjection("input", "b", rng.normal(0, 0.1, (48, 243))),
        ConvProjection("b", "pool", np.abs(rng.normal(0, 0.6, (4, 1, 2, 2))), (4, 3, 4),
                       stride=2, groups=4),
        DenseProjection("pool", "out", rng.normal(0, 0.8, (5, 8))),
        DenseProjection("a", "out", rng.normal(0, 0.1, (5, 150))),
    ]
    return Network(243, layers, projections, dt_ms=1.0)


NETWORKS = {"vgg": lambda: vgg_like(seed=7, neuron="lif"), "geometry": geometry,
            "geometry_no_delay": lambda: geometry(seed=3, delay=0)}
RUNS = {
    "random": dict(policy="random", forward_group=3, seed=2),
    "fifo": dict(policy="fifo", forward_group=1),
    "momentum": dict(policy="momentum", forward_group=4, seed=1),
    "dropout": dict(policy="random", forward_group=2, network_dropout=0.1, input_dropout=0.1,
                    refractory_dropout=0.2, seed=4),
    "queued": dict(policy="random", forward_group=4, input_mode="queued", seed=3),
    "layer": dict(synchronization="layer"),
}


def expanded(simulator):
    """The same simulator on per-synapse rows."""
    c = simulator.compiled
    simulator.compiled = compile_network(simulator.network, recurrent_delay=c.recurrent_delay,
                                         expand_conv=True)
    return simulator


def test_counts_equal_the_per_synapse_ones():
    for make in NETWORKS.values():
        net = make()
        for recurrent_delay in (0, 1):
            implicit = compile_network(net, recurrent_delay=recurrent_delay)
            rows = compile_network(net, recurrent_delay=recurrent_delay, expand_conv=True)
            assert implicit.conv.shape[0] > 0 and rows.conv.shape[0] == 0
            assert implicit.max_delay == rows.max_delay
            for key in COUNTS:
                np.testing.assert_array_equal(getattr(implicit, key), getattr(rows, key),
                                              err_msg=key)
    net = geometry()
    target_first = compile_network(net).target_first
    # layer b's sources (4, 3, 4): one target each, none from the last row of a channel
    runs = target_first[150:198].reshape(4, 3, 4)
    assert np.all(runs[:, :2] >= 0) and np.all(runs[:, 2] < 0)


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("run", list(RUNS))
def test_forward_results_are_bit_for_bit_those_of_per_synapse_rows(name, run):
    net = NETWORKS[name]()
    inputs = random_inputs(4, 4, net.input_size, rate=0.3, seed=11)
    implicit = Simulator(net, **RUNS[run]).run(inputs).per_sample
    rows = expanded(Simulator(net, **RUNS[run])).run(inputs).per_sample
    for key in implicit:
        np.testing.assert_array_equal(implicit[key], rows[key], err_msg=key)
    assert implicit["spikes_per_layer"][:, :2].sum() > 0
    if run == "layer":  # barriers count every immediate target, convolutions' included
        assert implicit["barrier_messages"].sum() > 0


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("options", [dict(policy="random", forward_group=3, seed=5),
                                     dict(policy="layer", forward_group=1000, seed=5)])
def test_gradients_equal_those_of_per_synapse_rows(name, options):
    net = NETWORKS[name]()
    inputs = random_inputs(3, 4, net.input_size, rate=0.3, seed=12)
    labels = np.array([0, 1, 4])
    simulator = Simulator(net, **options)
    trace = simulator.run(inputs, labels, record=True).trace
    rows = expanded(Simulator(net, **options)).compiled
    for silent_hidden in (False, True):
        mine = replay_gradient(net, inputs, labels, trace, silent_hidden=silent_hidden,
                               compiled=simulator.compiled)
        theirs = replay_gradient(net, inputs, labels, trace, silent_hidden=silent_hidden,
                                 compiled=rows)
        np.testing.assert_array_equal(mine.output_counts, theirs.output_counts)
        assert mine.loss == pytest.approx(theirs.loss, rel=1e-12)
        for p, g, expected in zip(net.projections, mine.weights, theirs.weights, strict=True):
            assert g.shape == p.weight.shape
            np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12)
        for g, expected in zip(mine.biases, theirs.biases, strict=True):
            np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12)
    conv_gradients = [g for p, g in zip(net.projections, mine.weights, strict=True)
                      if isinstance(p, ConvProjection)]
    assert max(np.abs(g).max() for g in conv_gradients) > 0


def test_the_shipped_convolutional_model_and_its_chip_mappings():
    from asyncsim.hardware.mapping import map_network
    from asyncsim.hardware.profile import load_profile

    net = load_model("nmnist-conv")
    implicit, rows = compile_network(net), compile_network(net, expand_conv=True)
    for key in COUNTS:
        np.testing.assert_array_equal(getattr(implicit, key), getattr(rows, key), err_msg=key)
    for profile, strategy in (("speck", "sequential"), ("loihi", "sequential"),
                              ("loihi", "traffic")):
        mine = map_network(implicit, load_profile(profile), strategy, network=net)
        theirs = map_network(rows, load_profile(profile), strategy, network=net)
        for key in ("core_of", "position", "neurons", "synapses", "route_start", "route_core",
                    "route_synapses", "route_hops", "tile_of"):
            np.testing.assert_array_equal(getattr(mine, key), getattr(theirs, key),
                                          err_msg=f"{profile} {strategy} {key}")
    inputs = (np.random.default_rng(0).random((3, 4, net.input_size)) < 0.05).astype(np.uint8)
    a = Simulator(net, policy="random", forward_group=8, seed=1).run(inputs).per_sample
    b = expanded(Simulator(net, policy="random", forward_group=8, seed=1)).run(inputs).per_sample
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def wide_convolutions():
    """3x32x32 -> conv 64 3x3 pad 1 -> conv 64 3x3 pad 1 (about 38 million synapses)."""
    rng = np.random.default_rng(0)
    size = 64 * 32 * 32
    return Network(3 * 32 * 32, [Layer("c1", size), Layer("c2", size)], [
        ConvProjection("input", "c1", rng.normal(0, 0.1, (64, 3, 3, 3)), (3, 32, 32),
                       padding=1),
        ConvProjection("c1", "c2", rng.normal(0, 0.1, (64, 64, 3, 3)), (64, 32, 32),
                       padding=1)])


def test_memory_follows_neurons_and_kernel_parameters():
    import tracemalloc

    net = wide_convolutions()
    n, n_in = net.n_neurons, net.input_size
    kernel = sum(p.weight.size for p in net.projections)
    # per neuron: its parameters, flags, layer, fan-ins (BYTES_PER_NEURON = 69 bytes) and, as
    # every input feature too, its source arrays (BYTES_PER_SOURCE = 40 bytes)
    bound = n * BYTES_PER_NEURON + (n + n_in) * BYTES_PER_SOURCE + kernel * BYTES_PER_KERNEL_WEIGHT
    assert compiled_size_bound(net) == bound
    tracemalloc.start()
    compiled = compile_network(net)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert compiled.nbytes <= 2 * bound
    synapses = sum(p.n_synapses for p in net.projections)
    # compiling holds no per-synapse array: one int64 per synapse would take 300 MiB
    assert synapses > 30_000_000 and peak < 4 * bound < 8 * synapses
    assert compiled.targets.shape[0] == 0 and compiled.conv_weights.shape[0] == kernel


def test_the_shipped_vgg_compiles_to_its_memory_bound_and_runs():
    """The VGG-style model (143 k neurons, 68 M synapses if expanded) compiles to about 26 MB,
    within 2x of neurons x state + kernel parameters, and simulates a sample."""
    net = load_model("cifar-vgg-unlayered-rs")
    compiled = compile_network(net)
    assert sum(p.n_synapses for p in net.projections) > 60_000_000
    assert compiled.nbytes <= 2 * compiled_size_bound(net) < 60_000_000
    report = Simulator(net, forward_group=64).run(cifar_like(1, n_timesteps=1))
    assert report.per_sample["sops"][0] > 100_000


@pytest.mark.parametrize("recurrent_delay", [0, 1])
def test_new_values_in_compiled_order_compile_as_the_network_they_come_from(recurrent_delay):
    # training keeps its weights in compiled order and swaps them into the compiled network;
    # that must equal compiling the network with those weights, also when weights turn zero
    net = geometry()
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=p.weight.shape) for p in net.projections]
    arrays[0][1, 0] = 0.0  # a kernel weight, and a dense one, that were not zero
    arrays[3][:, 7] = 0.0
    values = compiled_order(net, arrays, recurrent_delay)
    before = compile_network(net, recurrent_delay=recurrent_delay)
    got = with_values(before, net, values)
    changed = Network(net.input_size, net.layers,
                      [replace(p, weight=w) for p, w in zip(net.projections, arrays, strict=True)],
                      dt_ms=net.dt_ms)
    want = compile_network(changed, recurrent_delay=recurrent_delay)
    assert not np.array_equal(got.nonzero_fanout, before.nonzero_fanout)
    for name in vars(want):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    back = projection_gradients(net, values, recurrent_delay)
    for a, b in zip(back, arrays, strict=True):
        assert np.array_equal(a, b)
