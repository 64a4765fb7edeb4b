"""NIR import and export: snnTorch's own export runs the same here, round trips are exact,
and unsupported graphs are refused with the node's name and type."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import InputError, Simulator, random_feedforward
from asyncsim.network import ConvProjection, DenseProjection, Layer, Network

nir = pytest.importorskip("nir")
from asyncsim.nir_io import from_nir, load_nir, save_nir, to_nir  # noqa: E402


def dense_matrix(p):
    rows, cols, where = p.synapses()
    out = np.zeros((p.target_size, p.source_size))
    np.add.at(out, (rows, cols), p.weight.ravel()[where])
    return out


def layered_counts(net, inputs):
    return Simulator(net, synchronization="layer").run(inputs).per_sample["output_counts"]


def test_snntorch_export_imports_and_matches_snntorch():
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir
    from snntorch.utils import reset as reset_states

    torch.manual_seed(0)

    def leaky(n, beta, **options):  # per-neuron parameters: snnTorch 1.0 + nir 1.0 need them
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.full((n,), 0.5),
                         init_hidden=True, reset_mechanism="zero", **options)

    net = torch.nn.Sequential(torch.nn.Linear(12, 16, bias=False), leaky(16, 0.8),
                              torch.nn.Linear(16, 5, bias=False), leaky(5, 0.9, output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    inputs = random_inputs(6, 8, 12, rate=0.4, seed=2)
    graph = export_to_nir(net, torch.zeros(1, 12), ignore_dims=[0])
    imported = from_nir(graph, dt_ms=0.1)  # snnTorch exports with dt = 1e-4 s
    expected = np.zeros((6, 5), dtype=np.int64)
    with torch.no_grad():
        for s in range(6):
            reset_states(net)
            for t in range(8):
                spikes, _ = net(torch.tensor(inputs[s, t:t + 1], dtype=torch.float32))
                expected[s] += spikes[0].numpy().astype(np.int64)
    assert expected.sum() > 10  # the comparison means something
    np.testing.assert_array_equal(layered_counts(imported, inputs), expected)


def test_round_trip_gives_the_same_network_and_reports(tmp_path):
    net = random_feedforward([10, 8, 6, 3], seed=1, gain=2.0, tau_m_ms=5.0, dt_ms=1.0,
                             reset="soft")
    net.layers[1].neuron = "if"
    path = tmp_path / "model.nir"
    save_nir(net, path)
    back = load_nir(path, dt_ms=1.0)
    assert [(a.name, a.size, a.neuron, a.reset, a.refractory) for a in back.layers] == [
        (a.name, a.size, a.neuron, a.reset, a.refractory) for a in net.layers]
    for a, b in zip(net.layers, back.layers, strict=True):
        assert b.tau_m_ms == pytest.approx(a.tau_m_ms, rel=1e-12)
        assert b.threshold == a.threshold
    for p, q in zip(net.projections, back.projections, strict=True):
        assert (p.source, p.target) == (q.source, q.target)
        np.testing.assert_allclose(q.weight, p.weight, rtol=1e-12)
    inputs = random_inputs(5, 4, 10, rate=0.5, seed=3)
    for options in (dict(synchronization="layer"), dict(policy="random", forward_group=2)):
        mine = Simulator(net, seed=4, **options).run(inputs).per_sample
        theirs = Simulator(back, seed=4, **options).run(inputs).per_sample
        for key in ("output_counts", "spikes_per_layer", "steps"):
            np.testing.assert_array_equal(mine[key], theirs[key])


def test_conv_and_pool_match_a_direct_computation():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 2, 3, 3))
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=weight, stride=1, padding=1, dilation=1,
                           groups=1, bias=np.zeros(3)),
        "lif1": nir.IF(r=np.ones((3, 6, 6)), v_threshold=np.full((3, 6, 6), 0.5),
                       v_reset=np.zeros((3, 6, 6))),
        "pool": nir.SumPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)),
        "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([3, 3, 3])}),
        "fc": nir.Linear(weight=rng.normal(size=(4, 27))),
        "lif2": nir.IF(r=np.ones(4), v_threshold=np.full(4, 0.5), v_reset=np.zeros(4)),
        "out": nir.Output(output_type={"output": np.array([4])}),
    }, edges=[("in", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "flat"),
              ("flat", "fc"), ("fc", "lif2"), ("lif2", "out")])
    net = from_nir(graph, dt_ms=1.0)
    assert isinstance(net.projections[0], ConvProjection)  # no dense expansion
    conv = dense_matrix(net.projections[0])
    x = rng.normal(size=(2, 6, 6))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    direct = np.zeros((3, 6, 6))
    for o in range(3):
        for i in range(6):
            for j in range(6):
                direct[o, i, j] = np.sum(weight[o] * padded[:, i:i + 3, j:j + 3])
    np.testing.assert_allclose(conv @ x.ravel(), direct.ravel(), atol=1e-12)
    pool_fc = net.projections[1].weight  # fc @ sum-pool
    y = rng.normal(size=(3, 6, 6))
    pooled = y.reshape(3, 3, 2, 3, 2).sum(axis=(2, 4))
    np.testing.assert_allclose(pool_fc @ y.ravel(), graph.nodes["fc"].weight @ pooled.ravel(),
                               atol=1e-12)


def _chain(neuron_node, middle=None, after=None):
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}),
             "w": middle or nir.Linear(weight=np.ones((2, 3))),
             "n": neuron_node,
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = [("in", "w"), ("w", "n"), ("n", "out")]
    if after is not None:  # a node between the weights and the neurons
        nodes["a"] = after
        edges = [("in", "w"), ("w", "a"), ("a", "n"), ("n", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


@pytest.mark.parametrize("graph,message", [
    (lambda: _chain(nir.CubaLIF(tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2),
                                v_leak=np.ones(2), v_threshold=np.ones(2),
                                v_reset=np.zeros(2), w_in=np.ones(2))), "v_leak"),
    (lambda: _chain(nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2),
                            v_threshold=np.ones(2), v_reset=np.ones(2))), "v_reset"),
    (lambda: _chain(nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
                    after=nir.Delay(delay=np.full(2, 0.0005))), "whole number of timesteps"),
    (lambda: _chain(nir.IF(r=np.ones(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
                    after=nir.Delay(delay=np.array([0.001, 0.002]))), "'a' (Delay)"),
    (lambda: _chain(nir.LIF(tau=np.full(2, 1e-5), r=np.ones(2), v_leak=np.zeros(2),
                            v_threshold=np.ones(2), v_reset=np.zeros(2))), "dt < tau"),
    (lambda: _chain(nir.Threshold(threshold=np.ones(2))), "'n' (Threshold)"),
])
def test_unsupported_graphs_name_the_node(graph, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_nir(graph(), dt_ms=1.0)


def test_node_types_and_parameters_that_used_to_be_refused_now_import():
    def two(value):
        return np.full(2, value)

    cuba = from_nir(_chain(nir.CubaLIF(tau_syn=two(0.004), tau_mem=two(0.01), r=two(1.0),
                                       v_leak=two(0.0), v_threshold=two(1.0),
                                       v_reset=two(0.0), w_in=two(1.0))), dt_ms=1.0)
    layer = cuba.layers[-1]
    assert layer.synapse == "current"
    assert layer.synaptic_decay(1.0) == pytest.approx(1 - 1 / 4)   # forward Euler
    assert layer.decay_per_step(1.0) == pytest.approx(1 - 1 / 10)
    # the input gain r w_in dt^2 / (tau_mem tau_syn) is folded into the weights
    np.testing.assert_allclose(cuba.projections[0].weight, np.full((2, 3), 1 / 40))
    leaky = from_nir(_chain(nir.LIF(tau=np.array([0.01, 0.02]), r=two(1.0),
                                    v_leak=two(0.5), v_threshold=two(1.0),
                                    v_reset=two(0.0))), dt_ms=1.0)
    np.testing.assert_allclose(leaky.layers[-1].decay_per_step(1.0), [0.9, 0.95])
    np.testing.assert_allclose(leaky.layers[-1].bias, [0.05, 0.025])   # dt / tau x v_leak
    affine = from_nir(_chain(nir.IF(r=two(2.0), v_threshold=two(1.0), v_reset=two(0.0)),
                             nir.Affine(weight=np.ones((2, 3)), bias=np.array([0.1, 0.2]))),
                      dt_ms=1.0)
    np.testing.assert_allclose(affine.layers[-1].bias, [0.2, 0.4])   # r x bias
    delayed = from_nir(_chain(nir.IF(r=two(1.0), v_threshold=two(1.0), v_reset=two(0.0)),
                              after=nir.Delay(delay=np.full(2, 0.003))), dt_ms=1.0)
    assert delayed.projections[0].delay == 3
    readout = from_nir(_chain(nir.LI(tau=two(0.01), r=two(1.0), v_leak=two(0.0))), dt_ms=1.0)
    assert readout.layers[-1].neuron == "li"


def test_broken_nir_file(tmp_path):
    path = tmp_path / "broken.nir"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="broken.nir: not a readable NIR file"):
        load_nir(path, dt_ms=1.0)
    with pytest.raises(InputError, match="no timestep"):
        load_nir(path, dt_ms=None)


def test_recurrent_layers_survive_export_and_import():
    layers = [Layer("h", 4, tau_m_ms=4.0), Layer("o", 2, tau_m_ms=4.0)]
    rng = np.random.default_rng(1)
    projections = [DenseProjection("input", "h", rng.normal(size=(4, 3))),
                   DenseProjection("h", "h", rng.normal(size=(4, 4))),
                   DenseProjection("h", "o", rng.normal(size=(2, 4)))]
    net = Network(3, layers, projections, dt_ms=1.0)
    back = from_nir(to_nir(net), dt_ms=1.0)
    assert {(p.source, p.target) for p in back.projections} == {
        ("input", "h"), ("h", "h"), ("h", "o")}


def test_every_new_node_type_survives_export_and_import(tmp_path):
    from conftest import random_inputs

    from asyncsim import Simulator

    rng = np.random.default_rng(3)
    layers = [Layer("cuba", 6, tau_m_ms=rng.uniform(2, 6, 6), threshold=rng.uniform(0.3, 0.6, 6),
                    bias=rng.uniform(-0.05, 0.1, 6), synapse="current",
                    tau_syn_ms=rng.uniform(1, 3, 6), reset="subtract"),
              Layer("plain", 5, tau_m_ms=4.0, threshold=0.4, bias=0.05),
              Layer("readout", 3, neuron="li", tau_m_ms=5.0)]
    projections = [DenseProjection("input", "cuba", rng.normal(0.3, 0.4, (6, 4))),
                   DenseProjection("cuba", "cuba", rng.normal(0, 0.2, (6, 6))),
                   DenseProjection("cuba", "plain", rng.normal(0.2, 0.4, (5, 6)), delay=2),
                   DenseProjection("plain", "readout", rng.normal(0.2, 0.4, (3, 5)))]
    net = Network(4, layers, projections, dt_ms=1.0)
    save_nir(net, tmp_path / "m.nir")
    back = load_nir(tmp_path / "m.nir", dt_ms=1.0)
    for a, b in zip(net.layers, back.layers, strict=True):
        assert (a.name, a.neuron, a.synapse, a.reset) == (b.name, b.neuron, b.synapse, b.reset)
        for key in ("tau_m_ms", "threshold", "bias", "tau_syn_ms") if a.fires else (
                "tau_m_ms", "bias"):
            if key == "tau_syn_ms" and a.synapse == "instant":
                continue
            np.testing.assert_allclose(getattr(b, key), getattr(a, key), rtol=1e-9)
    assert {(p.source, p.target, p.delay) for p in back.projections} == {
        (p.source, p.target, p.delay) for p in projections}
    inputs = random_inputs(4, 8, 4, rate=0.5, seed=2)
    for options in (dict(synchronization="layer"), dict(policy="random", forward_group=2)):
        mine = Simulator(net, **options).run(inputs).per_sample
        theirs = Simulator(back, **options).run(inputs).per_sample
        np.testing.assert_array_equal(mine["spikes_per_layer"], theirs["spikes_per_layer"])
        np.testing.assert_allclose(mine["output_membrane"], theirs["output_membrane"],
                                   rtol=1e-9, atol=1e-12)
    assert mine["spikes_per_layer"][:, :2].sum() > 0
