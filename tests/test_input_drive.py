"""Input currents summed before the event loop (asyncsim.kernel.drive, as training uses them)
change no result: the simulation and the replay gradient are bit for bit those of the
per-feature integration."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import InputError, Simulator, random_feedforward
from asyncsim import gradient as gradient_module
from asyncsim import simulator as simulator_module
from asyncsim.compile import compile_network
from asyncsim.gradient import replay_compiled, replay_gradient
from asyncsim.kernel.drive import batch_drive, input_occurrences, input_run

SCHEDULES = [
    dict(policy="random", forward_group=2),
    dict(policy="momentum", forward_group=1, momentum_noise=0.1),
    dict(policy="fifo", forward_group=3, stop="on_output", steps_after_output=1),
    dict(policy="random", forward_group=2, refractory_dropout=0.5, network_dropout=0.2),
]


def _counts(samples, steps, features, seed):
    """Spike counts up to 3, so that the count scales the weight row."""
    return random_inputs(samples, steps, features, rate=0.4, seed=seed, max_count=3)


def _network():
    return random_feedforward([12, 9, 7, 4], seed=5, gain=2.4, tau_m_ms=3.0, dt_ms=1.0)


def test_occurrences_are_feature_major_then_samples_then_passes_backwards_and_counted():
    frames = _counts(4, 5, 11, seed=0)
    fanout, nonzero = np.arange(11) + 3, np.arange(11)
    counts = np.zeros((3, 4, 5), np.int64)
    feature_at, sample, step, count = input_occurrences(frames, fanout, nonzero, counts)
    np.testing.assert_array_equal(counts[0], np.count_nonzero(frames, axis=2))
    np.testing.assert_array_equal(counts[1], frames.astype(np.int64) @ fanout)
    np.testing.assert_array_equal(counts[2], frames.astype(np.int64) @ nonzero)
    got = [(f, sample[k], step[k], count[k])
           for f in range(11) for k in range(feature_at[f], feature_at[f + 1])]
    spikes = zip(*np.nonzero(frames), strict=True)
    expected = sorted(((f, s, t, frames[s, t, f]) for s, t, f in spikes),
                      key=lambda e: (e[0], e[1], -e[2]))
    assert got == expected
    assert len(got) > 20


def test_a_drive_is_the_sum_of_weight_rows_in_feature_order_bit_for_bit():
    net = _network()
    compiled = compile_network(net)
    frames = _counts(3, 4, 12, seed=1)
    run = input_run(compiled)
    assert run == (0, 9)
    drive = batch_drive(compiled, frames, run)
    weights = net.projections[0].weight  # (targets, inputs)
    for s in range(3):
        for t in range(4):
            expected = np.zeros(9)
            for f in np.flatnonzero(frames[s, t]):
                expected += weights[:, f] * float(frames[s, t, f])  # in increasing f
            assert drive.currents[s, t].tobytes() == expected.tobytes()
            assert drive.sources[s, t] == np.count_nonzero(frames[s, t])


def _without_drive(monkeypatch):
    for module in (simulator_module, gradient_module):
        monkeypatch.setattr(module, "input_run", lambda compiled: None)


@pytest.mark.parametrize("options", SCHEDULES)
def test_simulation_and_gradient_equal_those_without_the_drive(options, monkeypatch):
    net = _network()
    frames = _counts(5, 4, 12, seed=2)
    labels = np.arange(5) % 4

    def run():
        sim = Simulator(net, seed=3, **options)
        report = sim.run(frames, labels, record=True, input_drive=sim.input_drive(frames))
        grad = replay_gradient(net, frames, labels, report.trace, silent_hidden=True)
        return report, grad

    assert Simulator(net, **options).input_drive(frames).enabled
    fast, fast_grad = run()
    _without_drive(monkeypatch)
    slow, slow_grad = run()
    assert fast.per_sample.keys() == slow.per_sample.keys()
    for name, values in slow.per_sample.items():
        np.testing.assert_array_equal(fast.per_sample[name], values, err_msg=name)
    assert np.any(slow.per_sample["output_counts"])
    assert fast_grad.loss == slow_grad.loss
    for mine, ref in zip(fast_grad.weights, slow_grad.weights, strict=True):
        assert mine.tobytes() == ref.tobytes()
    assert np.abs(slow_grad.weights[0]).max() > 0


def test_a_drive_of_other_inputs_is_refused():
    net = _network()
    frames = _counts(4, 3, 12, seed=3)
    sim = Simulator(net)
    with pytest.raises(InputError, match="input_drive"):
        sim.run(frames, input_drive=sim.input_drive(frames[:2]))
    trace = sim.run(frames, record=True).trace
    with pytest.raises(InputError, match="input_drive"):
        replay_compiled(sim.compiled, frames, np.zeros(4, dtype=int), trace,
                        input_drive=sim.input_drive(frames[1:]))


def test_queued_input_and_input_dropout_integrate_feature_by_feature():
    net = _network()
    frames = _counts(2, 3, 12, seed=4)
    assert not Simulator(net, input_mode="queued").input_drive(frames).enabled
    assert not Simulator(net, input_dropout=0.2).input_drive(frames).enabled
    assert Simulator(net).input_drive(frames).enabled
