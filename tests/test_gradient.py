"""SPEC 8.3: the Numba reverse pass equals automatic differentiation of the same replay."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import InputError, Simulator, random_feedforward
from asyncsim.gradient import replay_gradient

torch = pytest.importorskip("torch")
from asyncsim.torch_replay import autograd_replay_loss  # noqa: E402

CASES = [
    ({}, dict(policy="random", forward_group=2)),
    ({}, dict(policy="momentum", forward_group=1, momentum_noise=0.1)),
    ({}, dict(policy="fifo", forward_group=1, stop="on_output", steps_after_output=1)),
    ({}, dict(policy="layer", forward_group=1000)),
    ({}, dict(policy="random", forward_group=2, refractory_dropout=0.6, input_dropout=0.2,
              network_dropout=0.2)),
    (dict(reset="soft", refractory=False), dict(policy="random", forward_group=3)),
    (dict(neuron="if"), dict(policy="momentum", forward_group=2)),
]


@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("silent_hidden", [False, True])
@pytest.mark.parametrize("net_options,sim_options", CASES)
def test_numba_gradient_equals_autograd(net_options, sim_options, silent_hidden, detach_reset):
    net = random_feedforward([10, 8, 8, 4], seed=2, gain=2.2, tau_m_ms=3.0, dt_ms=1.0,
                             **net_options)
    inputs = random_inputs(3, 3, 10, rate=0.5, seed=1)
    labels = np.array([0, 1, 2])
    report = Simulator(net, seed=3, **sim_options).run(inputs, labels, record=True)
    grad = replay_gradient(net, inputs, labels, report.trace, alpha=2.0,
                           silent_hidden=silent_hidden, detach_reset=detach_reset)
    np.testing.assert_array_equal(grad.output_counts, report.per_sample["output_counts"])
    weights = [torch.tensor(p.weight, requires_grad=True) for p in net.projections]
    loss, _ = autograd_replay_loss(net, inputs, labels, report.trace, weights, alpha=2.0,
                                   silent_hidden=silent_hidden, detach_reset=detach_reset)
    expected = torch.autograd.grad(loss, weights)
    assert grad.loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for mine, ref in zip(grad.weights, expected, strict=True):
        ref = ref.numpy()
        assert np.abs(ref).max() > 0
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_gradient_refuses_what_it_does_not_support():
    net = random_feedforward([10, 8, 4], seed=2, gain=2.2)
    inputs = random_inputs(2, 2, 10, rate=0.5, seed=1)
    trace = Simulator(net, synchronization="layer").run(inputs, record=True).trace
    with pytest.raises(InputError, match="sync"):
        replay_gradient(net, inputs, np.zeros(2, dtype=int), trace)
    queued = Simulator(net, input_mode="queued").run(inputs, record=True).trace
    with pytest.raises(InputError, match="input_mode"):
        replay_gradient(net, inputs, np.zeros(2, dtype=int), queued)


def test_gradient_descent_on_the_replay_lowers_the_loss():
    net = random_feedforward([10, 8, 3], seed=4, gain=2.0, tau_m_ms=3.0, dt_ms=1.0)
    inputs = random_inputs(12, 3, 10, rate=0.5, seed=5)
    labels = np.arange(12) % 3
    losses = []
    for _ in range(15):
        trace = Simulator(net, policy="random", forward_group=2, seed=1).run(
            inputs, labels, record=True).trace
        grad = replay_gradient(net, inputs, labels, trace)
        losses.append(grad.loss)
        for p, g in zip(net.projections, grad.weights, strict=True):
            p.weight = p.weight - 0.5 * g
    assert losses[-1] < losses[0]


def test_torch_module_backpropagates_any_loss():
    from asyncsim.torch_replay import AsyncNetwork, autograd_replay_counts

    net = random_feedforward([10, 8, 8, 4], seed=2, gain=2.2, tau_m_ms=3.0, dt_ms=1.0)
    inputs = random_inputs(3, 3, 10, rate=0.5, seed=1)
    target = torch.tensor([[1.0, 0, 2, 0], [0, 3, 0, 1], [2, 2, 0, 0]], dtype=torch.float64)
    model = AsyncNetwork(net, policy="random", forward_group=2, refractory_dropout=0.3)
    counts = model(inputs)
    loss = ((counts - target) ** 2).mean()
    loss.backward()
    mine = [p.grad.numpy() for p in model.weights]
    weights = [torch.tensor(p.weight, requires_grad=True) for p in net.projections]
    ref_counts = autograd_replay_counts(net, inputs, model.last_trace, weights)
    np.testing.assert_array_equal(ref_counts.detach().numpy(), counts.detach().numpy())
    expected = torch.autograd.grad(((ref_counts - target) ** 2).mean(), weights)
    for a, b in zip(mine, expected, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-9)
    assert any(np.abs(a).max() > 0 for a in mine)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    optimizer.step()
    assert not np.array_equal(model.weights[0].detach().numpy(), net.projections[0].weight)


def _bptt_counts(net, inputs, weights, alpha):
    """Ordinary layer-by-layer BPTT of a feedforward LIF chain with hard reset, written
    independently of the replay: every neuron is evaluated once per layer and timestep."""
    from asyncsim.torch_replay import ArctanSpike

    S, T, _ = inputs.shape
    u = [torch.zeros(S, layer.size, dtype=torch.float64) for layer in net.layers]
    counts = 0
    for t in range(T):
        s = torch.tensor(inputs[:, t], dtype=torch.float64)
        for k, layer in enumerate(net.layers):
            u[k] = u[k] * layer.decay_per_step(net.dt_ms) + s @ weights[k].T
            s = ArctanSpike.apply(u[k] - layer.threshold, alpha)
            u[k] = u[k] * (1 - s)
        counts = counts + s
    return counts


def test_layered_replay_gradient_equals_layer_by_layer_bptt():
    net = random_feedforward([10, 8, 8, 4], seed=2, gain=3.0, tau_m_ms=3.0, dt_ms=1.0)
    inputs = random_inputs(4, 3, 10, rate=0.6, seed=1)
    labels = np.array([0, 1, 2, 3])
    trace = Simulator(net, policy="layer", forward_group=1000).run(
        inputs, labels, record=True).trace
    # BPTT evaluates every layer each timestep; the replay evaluates a layer when it receives
    # spikes, so the comparison needs activity in every layer of every pass
    assert (trace.steps == len(net.layers)).all()
    weights = [torch.tensor(p.weight, requires_grad=True) for p in net.projections]
    counts = _bptt_counts(net, inputs, weights, 2.0)
    loss = torch.nn.functional.cross_entropy(counts, torch.tensor(labels))
    expected = torch.autograd.grad(loss, weights)
    grad = replay_gradient(net, inputs, labels, trace, alpha=2.0, silent_hidden=True)
    assert grad.loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for mine, ref in zip(grad.weights, expected, strict=True):
        np.testing.assert_allclose(mine, ref.numpy(), rtol=1e-5,
                                   atol=1e-5 * np.abs(ref.numpy()).max())
    without = replay_gradient(net, inputs, labels, trace, alpha=2.0, silent_hidden=False)
    assert not np.allclose(without.weights[0], expected[0].numpy())


def test_replay_over_threads_is_deterministic_and_agrees_with_one_thread():
    from asyncsim.simulator import numba_threads

    net = random_feedforward([14, 10, 10, 4], seed=6, gain=2.3)
    inputs = random_inputs(9, 3, 14, rate=0.45, seed=2)
    labels = np.arange(9) % 4
    trace = Simulator(net, policy="random", forward_group=2, refractory_dropout=0.5,
                      seed=9).run(inputs, record=True).trace
    with numba_threads(1):
        one = replay_gradient(net, inputs, labels, trace)
    with numba_threads(2):
        two = replay_gradient(net, inputs, labels, trace)
        again = replay_gradient(net, inputs, labels, trace)
    for a, b, c in zip(one.weights, two.weights, again.weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(b, c)
    assert one.loss == two.loss and np.array_equal(one.output_counts, two.output_counts)
    assert any(np.any(w != 0) for w in one.weights)


def test_detaching_the_reset_changes_the_gradient_not_the_loss():
    net = random_feedforward([10, 8, 8, 4], seed=2, gain=2.2, tau_m_ms=3.0, dt_ms=1.0)
    inputs = random_inputs(3, 3, 10, rate=0.5, seed=1)
    labels = np.array([0, 1, 2])
    report = Simulator(net, seed=3, policy="random", forward_group=2).run(inputs, labels,
                                                                          record=True)
    full = replay_gradient(net, inputs, labels, report.trace)
    detached = replay_gradient(net, inputs, labels, report.trace, detach_reset=True)
    assert detached.loss == full.loss
    assert not np.allclose(detached.weights[0], full.weights[0])
