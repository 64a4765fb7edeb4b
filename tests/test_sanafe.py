"""The Loihi profile against SANA-FE's Loihi model (benchmarks/compare_sanafe.py) on a small
network: the same spikes, and dynamic energy and latency within the targets set for the
profile (15 % and 25 %), with static energy apart. Skipped where sanafe cannot be imported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("sanafe")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compare_sanafe import Case, compare, mlp, spikes_in  # noqa: E402


@pytest.fixture(scope="module")
def row():
    case = Case("small", mlp([24, 16, 8], 3), spikes_in(3, 6, 24, 0.3, 4))
    return compare(case)


def test_both_simulators_fire_the_same_spikes(row):
    assert row["spike_trains_identical"]
    assert row["spikes"]["asyncsim"] == row["spikes"]["sanafe"]
    assert sum(row["spikes"]["asyncsim"].values()) > 0
    counts = row["counts"]
    assert counts["synaptic_events"]["asyncsim"] == counts["synaptic_events"]["sanafe"]
    assert counts["messages"]["asyncsim"] == counts["messages"]["sanafe"]


def test_energy_and_latency_agree_within_the_targets(row):
    energy = row["energy_per_timestep_j"]["dynamic"]
    assert energy["asyncsim"] == pytest.approx(energy["sanafe"], rel=0.15)
    latency = row["latency_per_timestep_s"]
    assert latency["asyncsim"] == pytest.approx(latency["sanafe"], rel=0.25)
    # SANA-FE's Loihi model has no static power: ours is reported apart, not in the dynamic
    assert row["static_per_timestep_j"] > 0
    synapse = row["energy_per_timestep_j"]["synapse"]
    assert synapse["asyncsim"] == pytest.approx(synapse["sanafe"], rel=1e-9)
