"""``compat="asynctorch"``: the queue and on-output stop of the paper's public code.

The kernel and the readable reference are checked against an independent transcription of the
four rules (written here with dense arrays, as the paper's code computes): the queue holds one
spike count per neuron and survives timesteps; carried entries rank with momentum 0 until their
neuron fires again; the on-output stop acts one step late (that step integrates, resets and
throws its spikes away, then takes a group off the queue and drops it); output spikes are
queued and take places in the group."""

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import Simulator, random_feedforward
from asyncsim.errors import InputError
from asyncsim.reference import reference_run


def paper_code_transcription(weights, inputs, *, decay, threshold, group, after_output):
    """Spikes per (sample, timestep, layer) of a feedforward LIF chain (hard reset,
    refractory) under momentum scheduling without noise, ties to the lowest neuron index."""
    sizes = [w.shape[0] for w in weights]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    n = bounds[-1]
    S, T, _ = inputs.shape
    spikes = np.zeros((S, T, len(sizes)), dtype=np.int64)
    for s in range(S):
        v = np.zeros(n)
        queue = np.zeros(n, dtype=np.int64)  # spike count per neuron, never cleared
        for t in range(T):
            v *= decay
            refractory = np.zeros(n, dtype=bool)
            momentum = np.zeros(n)
            seen, steps_since_output = False, 0
            current = np.zeros(n)
            current[:sizes[0]] = weights[0] @ inputs[s, t]
            first = True
            while first or queue.any() or current.any():
                if seen and steps_since_output > after_output + 1:
                    break  # the group in `current` was taken off the queue: dropped
                first = False
                u = np.where(refractory, v, v + current)
                fired = ~refractory & (u > threshold)
                momentum = np.where(fired, u, momentum)
                v = np.where(fired, 0.0, u)
                refractory |= fired
                if seen and steps_since_output > after_output:
                    fired[:] = False  # the late step: spikes thrown away
                seen = seen or fired[bounds[-2]:].any()
                steps_since_output += int(seen)
                for layer in range(len(sizes)):
                    spikes[s, t, layer] += fired[bounds[layer]:bounds[layer + 1]].sum()
                queue += fired
                waiting = np.flatnonzero(queue)
                ranked = waiting[np.lexsort((waiting, -momentum[waiting]))]
                chosen = ranked[:group]
                sent = np.zeros(n)
                sent[chosen] = queue[chosen]
                queue[chosen] = 0
                current = np.zeros(n)
                for layer in range(1, len(sizes)):
                    current[bounds[layer]:bounds[layer + 1]] = (
                        weights[layer] @ sent[bounds[layer - 1]:bounds[layer]])
    return spikes


def _case(seed=3):
    net = random_feedforward([16, 30, 24, 4], seed=seed, gain=2.2, tau_m_ms=4.0, dt_ms=1.0,
                             threshold=0.5)
    return net, random_inputs(12, 8, 16, rate=0.6, seed=seed)


def _per_timestep(net, inputs, **options):
    """Spikes per (sample, timestep, layer) from runs over growing prefixes of the input
    (a pass depends only on earlier ones)."""
    totals = [np.zeros((inputs.shape[0], len(net.layers)), dtype=np.int64)]
    for t in range(1, inputs.shape[1] + 1):
        report = Simulator(net, **options).run(inputs[:, :t])
        totals.append(report.per_sample["spikes_per_layer"])
    return np.stack([b - a for a, b in zip(totals[:-1], totals[1:], strict=True)], axis=1)


@pytest.mark.parametrize("group", [1, 8])
@pytest.mark.parametrize("after_output", [0, 1])
def test_kernel_equals_the_transcription_of_the_paper_code(group, after_output):
    net, inputs = _case()
    expected = paper_code_transcription(
        [p.weight for p in net.projections], inputs.astype(float),
        decay=net.layers[0].decay_per_step(net.dt_ms), threshold=0.5, group=group,
        after_output=after_output)
    got = _per_timestep(net, inputs, policy="momentum", momentum_noise=0.0,
                        forward_group=group, stop="on_output",
                        steps_after_output=after_output, compat="asynctorch")
    np.testing.assert_array_equal(got, expected)
    default = _per_timestep(net, inputs, policy="momentum", momentum_noise=0.0,
                            forward_group=group, stop="on_output",
                            steps_after_output=after_output)
    assert not np.array_equal(default, expected)  # the case tells the two apart


@pytest.mark.parametrize("group,after_output,stop", [
    (1, 0, "on_output"), (3, 1, "on_output"), (2, 0, "drain")])
def test_reference_equals_kernel_in_compat_mode(group, after_output, stop):
    net, inputs = _case(seed=5)
    options = dict(policy="momentum", forward_group=group, stop=stop,
                   steps_after_output=after_output, compat="asynctorch")
    report = Simulator(net, momentum_noise=0.0, **options).run(inputs)
    expected = reference_run(net, inputs, **options)
    for key, value in expected.items():
        np.testing.assert_array_equal(report.per_sample[key], value, err_msg=key)
    assert report.per_sample["dropped_pending"].sum() > 0 or stop == "drain"


def test_random_policy_in_compat_mode_is_seeded_and_differs_from_algorithm_1():
    net, inputs = _case()
    options = dict(policy="random", forward_group=2, stop="on_output", steps_after_output=0)
    a = Simulator(net, compat="asynctorch", **options).run(inputs).per_sample
    b = Simulator(net, compat="asynctorch", **options).run(inputs).per_sample
    np.testing.assert_array_equal(a["spikes_per_layer"], b["spikes_per_layer"])
    plain = Simulator(net, **options).run(inputs).per_sample
    assert not np.array_equal(a["spikes_per_layer"], plain["spikes_per_layer"])


@pytest.mark.parametrize("options,field", [
    (dict(policy="fifo"), "policy"), (dict(input_mode="queued"), "input_mode"),
    (dict(synchronization="layer"), "synchronization"),
    (dict(sync_threshold="fan-in"), "sync_threshold"), (dict(emit_barriers=True),
                                                        "emit_barriers")])
def test_settings_the_paper_code_lacks_are_refused(options, field):
    net, _ = _case()
    with pytest.raises(InputError, match=f"'{field}'.*compat='asynctorch'"):
        Simulator(net, compat="asynctorch", **options)


def test_recording_in_compat_mode_is_refused():
    net, inputs = _case()
    with pytest.raises(InputError, match="compat"):
        Simulator(net, policy="momentum", compat="asynctorch").run(inputs, record=True)
