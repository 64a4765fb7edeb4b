"""Synchronization styles: how a chip (or ``synchronization="layer"``) keeps, or does not keep,
the layers of a network in step. One object per style says three things:

* the kernel settings it implies (:meth:`SyncStyle.schedule`): policy, forward group,
  synchronization threshold, barrier messages and per-core quota;
* its latency rule (:meth:`SyncStyle.latency_seconds`) from a profile's timing figures, and the
  figures a run needs (:meth:`SyncStyle.timing_used`: an unknown one makes the latency unknown);
* the timing figures it never uses (:attr:`SyncStyle.ignored_figures`).

The simulator (``synchronization="layer"``), the chip backend, the cost model and the simpy
reference all read these objects, so each rule is written once.

=============  ===============================================================================
style          kernel settings (before the user's overrides); latency
=============  ===============================================================================
barrier        layer-order policy, ``F`` = the group (largest layer by default),
               synchronization threshold = fan-in, barrier messages on: layer-synchronized
               execution (paper tables 4 and 5). Latency: per timestep, the busiest core's time
               (all cores work in parallel; :mod:`asyncsim.hardware.timesteps`) plus one
               barrier (``barrier_ns``, by the tiles used where the profile has a table), so the
               barrier period is set by the slowest core of each timestep
timer          the profile's policy; each core selects up to ``F_core`` of its own pending
               spikes per forward step (one tick), so cores proceed in parallel. Latency: one
               tick (``tick_period_us``, a fixed clock) per forward step
asynchronous   the profile's policy and ``F``; synchronization threshold 1, no barriers.
               Latency: per forward step, the busiest core's SOPs and updates and the longest
               route
=============  ===============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: a forward group so large that it never limits a step (timer chips limit per core instead)
UNLIMITED_GROUP = 10**9


@dataclass(frozen=True)
class Schedule:
    """Kernel settings implied by a synchronization style.

    Attributes:
        policy: scheduling policy name.
        forward_group: most spikes per forward step for the whole network.
        sync_threshold: ``"fan-in"`` or an integer for every neuron.
        emit_barriers: neurons that meet their threshold without firing send barriers.
        core_quota: most spikes per core and step (0: no per-core limit).
    """

    policy: str
    forward_group: int
    sync_threshold: int | str
    emit_barriers: bool
    core_quota: int = 0

    def settings(self) -> dict[str, Any]:
        """As :class:`~asyncsim.config.SimConfig` fields (the quota is not one)."""
        return {"policy": self.policy, "forward_group": self.forward_group,
                "sync_threshold": self.sync_threshold, "emit_barriers": self.emit_barriers}


class SyncStyle:
    """Base class; see the module documentation."""

    name = ""
    ignored_figures: frozenset[str] = frozenset()
    #: the latency rule needs the busiest core of every timestep (``busiest_core_ns``)
    per_timestep = False

    def schedule(self, group: int, policy: str) -> Schedule:
        """The kernel settings for forward group ``group`` and the chip's ``policy``."""
        raise NotImplementedError

    def with_group(self, schedule: Schedule, group: int) -> Schedule:
        """``schedule`` with the user's forward group (per core on timer chips)."""
        return Schedule(schedule.policy, group, schedule.sync_threshold,
                        schedule.emit_barriers, schedule.core_quota)

    def latency_seconds(self, per_sample: dict[str, np.ndarray], timing: dict[str, float],
                        lanes: int) -> np.ndarray:
        """(S,) latency per inference in seconds from the kernel's counts and the profile's
        timing figures (``timing``: name -> value, ns or us as in the profile; an unknown one
        given as 0 yields a lower bound)."""
        return self._busy_ns(per_sample, timing, lanes) * 1e-9

    def timing_used(self, per_sample: dict[str, np.ndarray]) -> list[str]:
        """Timing figures this run's latency depends on (those whose events occurred)."""
        used = [("sop_ns", "critical_sops"), ("neuron_update_ns", "critical_neuron_updates"),
                ("hop_ns", "critical_hops")]
        return [name for name, count in used if np.any(per_sample[count] > 0)]

    @staticmethod
    def _busy_ns(per_sample: dict[str, np.ndarray], timing: dict[str, float],
                 lanes: int) -> np.ndarray:
        """Per forward step, the busiest core's synaptic operations (over its lanes) and
        neuron updates, plus the step's longest route, summed over steps (nanoseconds)."""
        return (per_sample["critical_sops"] * timing["sop_ns"] / max(1, lanes)
                + per_sample["critical_neuron_updates"] * timing["neuron_update_ns"]
                + per_sample["critical_hops"] * timing["hop_ns"])


class BarrierSync(SyncStyle):
    """Layer-synchronized execution; on the chip, every core works through its timestep in
    parallel and a barrier closes the timestep (Loihi, Loihi 2, SENECA)."""

    name = "barrier"
    ignored_figures = frozenset({"timing.tick_period_us"})
    per_timestep = True

    def schedule(self, group: int, policy: str = "layer") -> Schedule:
        return Schedule("layer", group, "fan-in", True)

    def latency_seconds(self, per_sample, timing, lanes):
        """Needs ``per_sample["busiest_core_ns"]``: the busiest core's time summed over
        timesteps (:func:`asyncsim.hardware.timesteps.busiest_core_ns`)."""
        timesteps = float(per_sample["steps"].shape[1])
        return (per_sample["busiest_core_ns"] + timesteps * timing["barrier_ns"]) * 1e-9

    def timing_used(self, per_sample):
        used = ["neuron_access_ns", "neuron_update_ns", "barrier_ns"]
        messages = per_sample["messages"] if "messages" in per_sample else per_sample[
            "routed_spikes"]
        if np.any(per_sample["spikes_per_layer"] > 0):
            used.append("spike_ns")
        if np.any(messages > 0):
            used += ["spike_routed_ns", "message_in_ns"]
        if np.any(per_sample["sops"] + per_sample["input_sops"] > 0):
            used.append("sop_ns")
        if np.any(per_sample["hops"] > 0):
            used.append("hop_ns")
        return used


class TimerSync(SyncStyle):
    """A timer per core: every tick, each core delivers up to its group of pending spikes
    (SpiNNaker, SpiNNaker 2, SENECA)."""

    name = "timer"
    ignored_figures = frozenset({"timing.sop_ns", "timing.neuron_access_ns",
                                 "timing.neuron_update_ns", "timing.spike_ns",
                                 "timing.spike_routed_ns", "timing.message_in_ns",
                                 "timing.hop_ns", "timing.barrier_ns"})

    def schedule(self, group: int, policy: str) -> Schedule:
        return Schedule(policy, UNLIMITED_GROUP, 0, False, core_quota=group)

    def with_group(self, schedule: Schedule, group: int) -> Schedule:
        return Schedule(schedule.policy, schedule.forward_group, schedule.sync_threshold,
                        schedule.emit_barriers, core_quota=group)

    def latency_seconds(self, per_sample, timing, lanes):
        steps = per_sample["steps"].sum(axis=1).astype(np.float64)
        return steps * timing["tick_period_us"] * 1e-6

    def timing_used(self, per_sample):
        return ["tick_period_us"]


class AsynchronousSync(SyncStyle):
    """No synchronization at all: a neuron may fire once it has received anything (Speck,
    uBrain)."""

    name = "asynchronous"
    ignored_figures = frozenset({"timing.tick_period_us", "timing.barrier_ns",
                                 "timing.neuron_access_ns", "timing.spike_ns",
                                 "timing.spike_routed_ns", "timing.message_in_ns"})

    def schedule(self, group: int, policy: str) -> Schedule:
        return Schedule(policy, group, 1, False)


BARRIER = BarrierSync()
TIMER = TimerSync()
ASYNCHRONOUS = AsynchronousSync()
STYLES: dict[str, SyncStyle] = {s.name: s for s in (BARRIER, TIMER, ASYNCHRONOUS)}


def layer_synchronized(largest_layer: int) -> Schedule:
    """The settings of ``synchronization="layer"``: the barrier style with ``F`` = the
    largest layer."""
    return BARRIER.schedule(largest_layer)
