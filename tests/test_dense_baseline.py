"""The benchmark's dense baseline follows the same rules as the kernel."""

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_inputs

from asyncsim import Simulator, random_feedforward

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from dense_baseline import dense_run  # noqa: E402


@pytest.mark.parametrize("sizes", [[12, 10, 8, 4], [30, 20, 20, 6]])
def test_dense_baseline_matches_kernel_when_everything_is_delivered(sizes):
    net = random_feedforward(sizes, seed=1, gain=2.0, tau_m_ms=2.0, dt_ms=1.0)
    inputs = random_inputs(6, 4, sizes[0], rate=0.4, seed=2)
    weights = [p.weight for p in net.projections]
    dense = dense_run(weights, inputs, 0.3, float(np.exp(-0.5)), forward_group=10**6)
    ps = Simulator(net, forward_group=10**6).run(inputs).per_sample
    np.testing.assert_array_equal(dense["spikes_per_layer"], ps["spikes_per_layer"])
    np.testing.assert_array_equal(dense["output_counts"], ps["output_counts"])
    np.testing.assert_array_equal(dense["sops"], ps["sops"])
    np.testing.assert_array_equal(dense["steps"], ps["steps"].sum(axis=1))


def test_dense_baseline_small_groups_conserve_sops():
    net = random_feedforward([12, 10, 10, 4], seed=1, gain=2.0)
    inputs = random_inputs(6, 3, 12, rate=0.4, seed=2)
    weights = [p.weight for p in net.projections]
    for policy in ("random", "momentum"):
        dense = dense_run(weights, inputs, 0.3, float(np.exp(-1.0)), 2, policy=policy)
        spl = dense["spikes_per_layer"]
        np.testing.assert_array_equal(dense["sops"], spl[:, 0] * 10 + spl[:, 1] * 4)
