"""SPEC 8.2: replaying a recorded trace reproduces the recorded run exactly."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import InputError, Simulator, random_feedforward
from asyncsim.reference import replay
from asyncsim.trace import load_trace

COMPARED = ("output_counts", "spikes_per_layer", "sops", "input_sops", "delivered_spikes",
            "dropped_pending", "steps", "spikes_to_output", "reactivity", "barrier_messages")


@pytest.mark.parametrize("options", [
    dict(policy="random", forward_group=1),
    dict(policy="random", forward_group=3, stop="on_output", steps_after_output=1),
    dict(policy="momentum", forward_group=2, momentum_noise=0.1),
    dict(policy="momentum", forward_group=4, stop="on_output", steps_after_output=0),
    dict(policy="random", forward_group=2, input_mode="queued", prioritize_input=True),
    dict(policy="random", forward_group=2, refractory_dropout=0.5, input_dropout=0.2,
         network_dropout=0.2),
    dict(synchronization="layer"),
])
def test_replay_reproduces_the_recorded_run(tmp_path, options):
    net = random_feedforward([14, 10, 10, 4], seed=6, gain=2.3)
    inputs = random_inputs(5, 3, 14, rate=0.45, seed=2)
    report = Simulator(net, seed=9, **options).run(inputs, record=True)
    path = tmp_path / "run.trace.npz"
    report.trace.save(path)
    trace = load_trace(path)
    replayed = replay(net, inputs, trace)
    for key in COMPARED:
        np.testing.assert_array_equal(report.per_sample[key], replayed[key], err_msg=key)
    np.testing.assert_allclose(report.per_sample["output_membrane"],
                               replayed["output_membrane"], rtol=1e-9, atol=1e-12)
    assert report.per_sample["delivered_spikes"].sum() > 0
    np.testing.assert_array_equal(trace.steps, report.per_sample["steps"])


def test_recording_does_not_change_the_run():
    net = random_feedforward([14, 10, 10, 4], seed=6, gain=2.3)
    inputs = random_inputs(5, 3, 14, rate=0.45, seed=2)
    sim = Simulator(net, policy="random", forward_group=2, network_dropout=0.3, seed=4)
    plain, recorded = sim.run(inputs), sim.run(inputs, record=True)
    for key in plain.per_sample:
        if not key.startswith("trace_"):
            np.testing.assert_array_equal(plain.per_sample[key], recorded.per_sample[key])
    assert plain.trace is None


def test_samples_that_outgrow_their_record_room_are_run_again(monkeypatch):
    """The trace is the same whether every sample fits the room set aside for it or all of
    them have to run again with the room their counters asked for."""
    net = random_feedforward([14, 10, 10, 4], seed=6, gain=2.3)
    inputs = random_inputs(5, 3, 14, rate=0.45, seed=2)
    options = dict(policy="random", forward_group=2, refractory_dropout=0.5,
                   input_dropout=0.2, network_dropout=0.2)
    roomy = Simulator(net, seed=9, **options).run(inputs, record=True).trace
    monkeypatch.setattr(Simulator, "_record_room",
                        lambda self, frames: np.ones((frames.shape[0], 3), dtype=np.int64))
    cramped = Simulator(net, seed=9, **options).run(inputs, record=True).trace
    assert roomy.exemptions.shape[0] > 0 and roomy.input_survivors.shape[0] > 0
    for name in ("steps", "selection", "selection_offsets", "exemptions", "input_survivors"):
        np.testing.assert_array_equal(getattr(cramped, name), getattr(roomy, name), name)


def test_replay_with_other_weights_is_refused():
    net = random_feedforward([14, 10, 10, 4], seed=6, gain=2.3)
    other = random_feedforward([14, 10, 10, 4], seed=7, gain=2.3)
    inputs = random_inputs(5, 3, 14, rate=0.45, seed=2)
    trace = Simulator(net, policy="random", forward_group=1).run(inputs, record=True).trace
    with pytest.raises(InputError, match="not pending"):
        replay(other, inputs, trace)


def test_broken_trace_files_give_one_line_errors(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, steps=np.zeros((1, 1)))
    with pytest.raises(InputError, match="bad.npz: key 'format_version' missing"):
        load_trace(path)
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable trace"):
        load_trace(path)
