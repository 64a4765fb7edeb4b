"""SPEC 8.7: the readable reference agrees with the kernel for every deterministic policy."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import Simulator, random_feedforward, user_policy
from asyncsim.reference import reference_run

COMPARED = ("output_counts", "spikes_per_layer", "sops", "input_sops", "delivered_spikes",
            "dropped_pending", "barrier_messages", "steps", "spikes_to_output", "reactivity",
            "guard_stops")

NETWORKS = [
    ([6, 5, 3], dict(gain=2.5)),
    ([12, 10, 8, 4], dict(gain=2.0, tau_m_ms=20.0)),
    ([20, 16, 16, 12, 5], dict(gain=2.2, neuron="if")),
    ([10, 12, 6], dict(gain=2.0, reset="soft", refractory=False)),
]


def _compare(net, inputs, policy, **options):
    sim_policy = user_policy(policy) if callable(policy) else policy
    report = Simulator(net, policy=sim_policy, momentum_noise=0.0, **options).run(inputs)
    ref_options = {k: v for k, v in options.items() if k != "synchronization"}
    expected = reference_run(net, inputs, policy=policy, **ref_options)
    for key in COMPARED:
        np.testing.assert_array_equal(report.per_sample[key], expected[key], err_msg=key)
    np.testing.assert_allclose(report.per_sample["output_membrane"],
                               expected["output_membrane"], rtol=1e-9, atol=1e-12)
    return report


@pytest.mark.parametrize("sizes,kwargs", NETWORKS)
@pytest.mark.parametrize("policy", ["fifo", "layer", "momentum"])
@pytest.mark.parametrize("forward_group", [1, 3, 1000])
def test_reference_agrees_drain(sizes, kwargs, policy, forward_group):
    net = random_feedforward(sizes, seed=sum(sizes), **kwargs)
    inputs = random_inputs(3, 3, sizes[0], rate=0.4, seed=forward_group)
    report = _compare(net, inputs, policy, forward_group=forward_group)
    assert report.per_sample["spikes_per_layer"].sum() > 0, "test network must be active"


@pytest.mark.parametrize("steps_after_output", [0, 2])
@pytest.mark.parametrize("policy", ["fifo", "momentum"])
def test_reference_agrees_on_output(steps_after_output, policy):
    net = random_feedforward([16, 12, 10, 4], seed=7, gain=2.5)
    inputs = random_inputs(4, 3, 16, rate=0.5, seed=2)
    _compare(net, inputs, policy, forward_group=2, stop="on_output",
             steps_after_output=steps_after_output)


@pytest.mark.parametrize("prioritize_input", [False, True])
@pytest.mark.parametrize("policy", ["fifo", "layer", "momentum"])
def test_reference_agrees_queued_input(prioritize_input, policy):
    net = random_feedforward([10, 8, 6, 3], seed=11, gain=2.5)
    inputs = random_inputs(3, 2, 10, rate=0.5, seed=5, max_count=2)
    _compare(net, inputs, policy, forward_group=2, input_mode="queued",
             prioritize_input=prioritize_input)


@pytest.mark.parametrize("forward_group", [1, 4])
def test_reference_agrees_with_sync_and_barriers(forward_group):
    net = random_feedforward([8, 6, 5, 3], seed=2, gain=2.5)
    inputs = random_inputs(3, 3, 8, rate=0.5, seed=9)
    fanin = np.array([8] * 6 + [6] * 5 + [5] * 3)
    report = _compare(net, inputs, "fifo", forward_group=forward_group, sync_threshold=fanin,
                      emit_barriers=True)
    assert report.per_sample["barrier_messages"].sum() > 0


def test_reference_agrees_with_user_key():
    def reverse_layer_then_index(source, layer, membrane, step):
        return -10.0 * layer + 0.001 * source

    net = random_feedforward([10, 8, 8, 3], seed=4, gain=2.5)
    inputs = random_inputs(3, 2, 10, rate=0.5, seed=1)
    _compare(net, inputs, reverse_layer_then_index, forward_group=2)


def test_reference_agrees_with_guard():
    net = random_feedforward([10, 8, 8, 3], seed=4, gain=2.5)
    inputs = random_inputs(2, 2, 10, rate=0.5, seed=1)
    report = _compare(net, inputs, "fifo", forward_group=1, max_steps=3)
    assert report.per_sample["guard_stops"].sum() > 0


def test_reference_agrees_when_pending_outgrows_the_first_buffer():
    # Without refractoriness neurons fire again and again; F = 1 lets the pool grow past
    # N + N_in + 1 entries, which makes the kernel rerun the sample with more room.
    from asyncsim import feedforward

    rng = np.random.default_rng(0)
    w1 = rng.uniform(0.5, 1.0, (6, 3))
    w2 = rng.uniform(0.2, 0.4, (6, 6))
    w3 = rng.uniform(-0.1, 0.3, (2, 6))
    net = feedforward([w1, w2, w3], refractory=False, reset="soft", threshold=0.3)
    inputs = np.full((2, 2, 3), 3, dtype=np.uint8)
    report = _compare(net, inputs, "fifo", forward_group=1)
    hidden = report.per_sample["spikes_per_layer"][:, :-1].sum(axis=1)
    assert hidden.max() > 6 + 3 + 1
