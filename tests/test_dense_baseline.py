"""The dense NumPy baseline (benchmarks/dense_baseline.py) against independent references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import Simulator, random_feedforward

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from dense_baseline import dense_run  # noqa: E402
from layered_baseline import layered_pass  # noqa: E402

THR = 0.3


def random_weights(sizes: list[int], seed: int, gain: float = 2.5) -> list[np.ndarray]:
    """Dense Gaussian weights ``(out, in)`` scaled by ``gain / sqrt(fan_in)`` (threshold units)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, gain / np.sqrt(n_in), size=(n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]


def reference(ws: list[np.ndarray], inputs: np.ndarray, thr: float, decay: float):
    """Plain layer-synchronized LIF: ``u_l = decay * u_l + W_l @ s_{l-1}``, fire, hard reset.

    Returns output counts (S, NL), spikes per layer (S, L) and forward steps (S,): in a timestep,
    layer k is integrated at step k - 1 if the input is not empty and layers 1 .. k - 1 all fired.
    """
    n_samples, n_t, _ = inputs.shape
    n_layers = len(ws)
    out = np.zeros((n_samples, ws[-1].shape[0]), dtype=np.int64)
    spl = np.zeros((n_samples, n_layers), dtype=np.int64)
    steps = np.zeros(n_samples, dtype=np.int64)
    for i in range(n_samples):
        us = [np.zeros(w.shape[0]) for w in ws]
        for t in range(n_t):
            s = inputs[i, t].astype(np.float64)
            reached = bool(s.any())   # is current still travelling into layer k?
            for k, w in enumerate(ws):
                us[k] *= decay
                steps[i] += reached
                us[k] += w @ s
                fired = us[k] > thr
                us[k][fired] = 0.0
                spl[i, k] += fired.sum()
                if k == n_layers - 1:
                    out[i] += fired
                s = fired.astype(np.float64)
                reached = reached and bool(fired.any())
    return out, spl, steps


def sops_from_spikes(spl: np.ndarray, ws: list[np.ndarray]) -> np.ndarray:
    """Every spike of layer l < L is delivered once, to the whole next layer."""
    return sum(spl[:, k] * ws[k + 1].shape[0] for k in range(len(ws) - 1))


@pytest.mark.parametrize(("sizes", "seed"), [([10, 12, 8, 5], 0), ([20, 16, 16, 16, 4], 1),
                                             ([15, 9, 3], 2)])
@pytest.mark.parametrize("batch_size", [1, None])
def test_full_group_is_layer_synchronized(sizes, seed, batch_size):
    ws = random_weights(sizes, seed)
    inputs = random_inputs(5, 6, sizes[0], rate=0.4, seed=seed + 10, max_count=2)
    decay = float(np.exp(-0.5))
    n_total = sum(sizes[1:])
    got = dense_run(ws, inputs, THR, decay, n_total, seed=seed, batch_size=batch_size)
    out, spl, steps = reference(ws, inputs, THR, decay)
    assert (spl.sum(axis=0) > 0).all(), "the test network must be active in every layer"
    np.testing.assert_array_equal(got["spikes_per_layer"], spl)
    np.testing.assert_array_equal(got["output_counts"], out)
    np.testing.assert_array_equal(got["steps"], steps)
    np.testing.assert_array_equal(got["sops"], sops_from_spikes(spl, ws))


@pytest.mark.parametrize("policy", ["random", "momentum"])
@pytest.mark.parametrize("group", [1, 3])
def test_small_groups_conserve_sops_and_fire_once_per_timestep(policy, group):
    sizes = [12, 10, 10, 4]
    ws = random_weights(sizes, 3)
    inputs = random_inputs(6, 4, sizes[0], rate=0.5, seed=4)
    got = dense_run(ws, inputs, THR, float(np.exp(-1.0)), group, policy=policy, seed=5)
    spl = got["spikes_per_layer"]
    assert spl[:, :-1].sum() > 0
    np.testing.assert_array_equal(got["sops"], sops_from_spikes(spl, ws))
    np.testing.assert_array_equal(got["output_counts"].sum(axis=1), spl[:, -1])
    assert (spl <= np.array(sizes[1:]) * inputs.shape[1]).all()
    # at most F deliveries per step: every hidden spike needs a step of its own at F = 1
    assert (got["steps"] * group >= spl[:, :-1].sum(axis=1)).all()


def hand_net(first_momentum: float, second_momentum: float) -> list[np.ndarray]:
    """Two hidden neurons into one output: +0.5 and -0.4, so order decides if it fires."""
    return [np.array([[first_momentum], [second_momentum]]), np.array([[0.5, -0.4]])]


@pytest.mark.parametrize(("w1", "expected"), [((1.0, 0.5), 1), ((0.5, 1.0), 0)])
def test_momentum_delivers_largest_membrane_first(w1, expected):
    ones = np.ones((1, 1, 1))
    got = dense_run(hand_net(*w1), ones, THR, 0.5, 1, policy="momentum")
    # F = 1: +0.5 first fires the output (then refractory); -0.4 first leaves it at 0.1
    assert got["output_counts"][0, 0] == expected
    assert got["steps"][0] == 3
    assert got["sops"][0] == 2
    together = dense_run(hand_net(*w1), ones, THR, 0.5, 2, policy="momentum")
    assert together["output_counts"][0, 0] == 0      # 0.5 - 0.4 = 0.1 < thr
    assert together["steps"][0] == 2


def test_momentum_without_noise_does_not_depend_on_batching():
    sizes = [12, 10, 10, 4]
    ws = random_weights(sizes, 6)
    inputs = random_inputs(5, 4, sizes[0], rate=0.5, seed=7)
    args = (ws, inputs, THR, float(np.exp(-1.0)), 1)
    single = dense_run(*args, policy="momentum", momentum_noise=0.0, batch_size=1)
    batched = dense_run(*args, policy="momentum", momentum_noise=0.0, batch_size=None)
    for key in single:
        np.testing.assert_array_equal(single[key], batched[key], err_msg=key)


@pytest.mark.parametrize("sizes", [[12, 10, 8, 4], [30, 20, 20, 6]])
def test_matches_kernel_when_everything_is_delivered(sizes):
    net = random_feedforward(sizes, seed=1, gain=2.0, tau_m_ms=2.0, dt_ms=1.0)
    inputs = random_inputs(6, 4, sizes[0], rate=0.4, seed=2)
    weights = [p.weight for p in net.projections]
    dense = dense_run(weights, inputs, THR, float(np.exp(-0.5)), forward_group=10**6)
    ps = Simulator(net, forward_group=10**6).run(inputs).per_sample
    np.testing.assert_array_equal(dense["spikes_per_layer"], ps["spikes_per_layer"])
    np.testing.assert_array_equal(dense["output_counts"], ps["output_counts"])
    np.testing.assert_array_equal(dense["sops"], ps["sops"])
    np.testing.assert_array_equal(dense["steps"], ps["steps"].sum(axis=1))


def test_rejects_unknown_policy():
    with pytest.raises(ValueError, match="policy"):
        dense_run(random_weights([4, 3, 2], 0), np.ones((1, 1, 4)), THR, 0.5, 1, policy="fifo")


def test_threshold_is_strict_and_output_spikes_are_not_queued():
    ws = [np.array([[0.3], [0.15]]), np.array([[1.0, 1.0]])]
    inputs = np.array([[[1], [2]]])          # one sample, two timesteps, counts 1 then 2
    got = dense_run(ws, inputs, THR, 0.0, 4)
    # t0: u = (0.3, 0.15), nothing fires (0.3 is not > 0.3); t1: u = (0.6, 0.3), the first
    # fires, the output reaches 1.0 and fires; its spike is counted but delivered nowhere
    np.testing.assert_array_equal(got["spikes_per_layer"], [[1, 1]])
    np.testing.assert_array_equal(got["output_counts"], [[1]])
    assert got["sops"][0] == 1
    assert got["steps"][0] == 1 + 2


def test_layered_numpy_baseline_equals_layer_synchronized_kernel():
    """The speed yardstick of benchmarks/bench_kernel.py computes what the kernel computes
    under layer synchronization (float64, so that no threshold crossing can differ)."""
    net = random_feedforward([30, 20, 15, 5], seed=4, tau_m_ms=20.0, dt_ms=1.0, threshold=0.3)
    inputs = (np.random.default_rng(1).random((6, 8, 30)) < 0.3).astype(np.uint8)
    report = Simulator(net, synchronization="layer").run(inputs)
    decay = float(np.exp(-net.dt_ms / net.layers[0].tau_m_ms))
    counts = layered_pass([p.weight for p in net.projections], inputs, 0.3, decay, np.float64)
    assert counts.sum() > 0
    np.testing.assert_array_equal(counts, report.per_sample["output_counts"])
