"""A small process-based model of a chip, written with simpy: the executable specification of
the synchronization styles.

Each core is a simpy process that owns its neurons and an inbox (a ``simpy.Store``) of spike and
barrier messages. An arbiter process runs the forward steps: it starts a step, waits for every
core to integrate its inbox and evaluate its neurons, checks the stop condition, selects pending
spikes (for the whole chip, or per core for the timer style) and routes their messages into the
target cores' inboxes. One simpy time unit is one forward step. The settings each style implies
come from the same objects the simulator uses (:mod:`asyncsim.sync`).

It is slow and meant for tiny networks and deterministic policies (``fifo``, ``layer``); tests
check that the compiled kernel gives the same spikes, SOPs, barrier messages and forward steps.
"""

from __future__ import annotations

import numpy as np
import simpy

from ..hardware.chip import profile_schedule
from ..hardware.mapping import CoreMapping
from ..hardware.profile import HardwareProfile
from ..network import Network
from .simulation import _Net


class _Core:
    """One core: its neurons and an inbox of (target, weight, is_spike) messages."""

    def __init__(self, env: simpy.Environment, neurons: list[int]):
        self.env = env
        self.neurons = neurons
        self.inbox = simpy.Store(env)


def simpy_run(network: Network, profile: HardwareProfile, mapping: CoreMapping,
              inputs: np.ndarray, policy: str | None = None,
              forward_group: int | None = None) -> dict[str, np.ndarray]:
    """Simulate ``inputs`` (samples, timesteps, features) on ``profile``'s synchronization
    style with the placement ``mapping``; returns per-sample counts named as in the report.
    ``policy`` and ``forward_group`` override the profile's (the group is per core on timer
    chips)."""
    schedule = profile_schedule(profile, network, forward_group)
    recurrent_delay = int(schedule.sync_threshold == "fan-in")
    chip = _ChipRun(_Net(network, recurrent_delay), schedule, policy or schedule.policy,
                    mapping)
    S, T, _ = inputs.shape
    out = {key: np.zeros(S, dtype=np.int64) for key in ("sops", "barrier_messages")}
    out["spikes_per_layer"] = np.zeros((S, chip.net.n_layers), dtype=np.int64)
    out["steps"] = np.zeros((S, T), dtype=np.int64)
    for s in range(S):
        chip.run_sample(inputs[s], out, s)
    return out


class _ChipRun:
    """The chip's settings and the neurons' state of the sample being run."""

    def __init__(self, net: _Net, schedule, policy: str, mapping: CoreMapping):
        self.net, self.policy, self.mapping = net, policy, mapping
        self.group, self.quota = schedule.forward_group, schedule.core_quota
        self.barriers = schedule.emit_barriers
        fanin = np.zeros(net.n, dtype=int)
        for targets in net.outgoing:
            for tgt, _ in targets:
                fanin[tgt] += 1
        self.sync = {"fan-in": fanin, 0: np.zeros(net.n, int),
                     1: np.ones(net.n, int)}[schedule.sync_threshold]

    def key(self, i: int, step: int) -> float:
        return float(step) if self.policy == "fifo" else float(self.net.layer_of[i])

    def run_sample(self, frames: np.ndarray, out: dict, s: int) -> None:
        env = simpy.Environment()
        self.env, self.out, self.s = env, out, s
        self.cores = [_Core(env, [i for i in range(self.net.n) if self.mapping.core_of[i] == c])
                      for c in range(self.mapping.n_cores)]
        self.u = [0.0] * self.net.n
        self.syn = [0.0] * self.net.n
        self.held = [False] * self.net.n
        self.future: dict[int, dict[int, float]] = {}
        env.process(self._arbiter(frames))
        env.run()

    def _arbiter(self, frames: np.ndarray):
        net = self.net
        for t in range(frames.shape[0]):
            self.t = t
            for i in range(net.n):
                self.u[i] *= net.decay[i]
            self.state = {"refractory": set(), "fired": set(), "barrier_sent": set(),
                          "messages": list(net.input_fanin), "pending": [], "outbox": []}
            self.touched: set[int] = set()
            self.x: dict[int, float] = {}
            self._pass_start()
            for tgt, current in self.future.pop(t, {}).items():  # delayed currents
                self.x[tgt] = self.x.get(tgt, 0.0) + current
                self.touched.add(tgt)
            for f, count in enumerate(frames[t]):  # aggregated input currents
                if count:
                    self._send(net.n + f, float(count), to_x=True)
            if np.any(self.sync > 0):
                self.touched |= {i for i in range(net.n) if net.input_fanin[i] > 0}
            step = 0
            while True:
                # every core integrates its inbox and evaluates its neurons, in parallel
                done = [self.env.process(self._core_step(core, step)) for core in self.cores]
                yield self.env.all_of(done)
                self.touched = set()
                self.x = {}
                step += 1
                if not self._route(step):
                    break
                yield self.env.timeout(1)
            self.out["steps"][self.s, t] = step

    def _pass_start(self) -> None:
        """Bias, or decayed synaptic current plus bias, into the membranes; held neurons."""
        net = self.net
        for i in range(net.n):
            add = net.pass_start_drive(i, self.syn)
            if self.held[i]:
                self.state["refractory"].add(i)
                self.held[i] = False
            elif add != 0.0:
                self.u[i] += add
                self.touched.add(i)

    def _send(self, source: int, amplitude: float, to_x: bool = False) -> None:
        """A source's currents: immediate ones into the target cores' inboxes (or, for input,
        straight into the pending currents), delayed ones into their arrival passes."""
        for tgt, w in self.net.outgoing[source]:
            if to_x:
                self.x[tgt] = self.x.get(tgt, 0.0) + w * amplitude
                self.touched.add(tgt)
            else:
                self.cores[self.mapping.core_of[tgt]].inbox.put((tgt, w * amplitude, True))
        for tgt, w, delay in self.net.delayed[source]:
            arriving = self.future.setdefault(self.t + delay, {})
            arriving[tgt] = arriving.get(tgt, 0.0) + w * amplitude

    def _route(self, step: int) -> bool:
        """After a step: send the barriers, select pending spikes (per core with a quota) and
        route their messages. False when nothing is pending or in flight (the pass ends)."""
        state, cores = self.state, self.cores
        for tgt in state["outbox"]:
            self.out["barrier_messages"][self.s] += 1
            cores[self.mapping.core_of[tgt]].inbox.put((tgt, 0.0, False))
        state["outbox"] = []
        pending = state["pending"]
        in_flight = any(len(core.inbox.items) for core in cores)
        if not pending and not in_flight:
            return False
        pending.sort()
        if self.quota:
            taken: dict[int, int] = {}
            chosen, rest = [], []
            for entry in pending:
                c = self.mapping.core_of[entry[2]]
                if taken.get(c, 0) < self.quota:
                    taken[c] = taken.get(c, 0) + 1
                    chosen.append(entry)
                else:
                    rest.append(entry)
        else:
            chosen, rest = pending[:self.group], pending[self.group:]
        state["pending"] = rest
        for src in sorted(entry[2] for entry in chosen):
            self.out["sops"][self.s] += len(self.net.outgoing[src]) + len(self.net.delayed[src])
            self._send(src, 1.0)
        return True

    def _core_step(self, core: _Core, step: int):
        net, state = self.net, self.state
        messages = state["messages"]
        while core.inbox.items:
            tgt, w, is_spike = yield core.inbox.get()
            messages[tgt] += 1
            self.touched.add(tgt)
            if is_spike:
                self.x[tgt] = self.x.get(tgt, 0.0) + w
        for i in sorted(i for i in core.neurons if i in self.touched):
            if net.params[i].synapse == "current":
                self.syn[i] += self.x.get(i, 0.0)  # even while refractory
            held = i in state["refractory"]
            if held and (i in state["fired"] or not self.barriers):
                continue
            if not held:
                self.u[i] += self.x.get(i, 0.0)
            if messages[i] < self.sync[i]:
                continue
            if not held and self.u[i] > net.threshold[i]:
                self.out["spikes_per_layer"][self.s, net.layer_of[i]] += 1
                if net.params[i].reset in ("subtract", "subtract_delayed"):
                    self.u[i] -= net.reset_amount[i]
                else:
                    self.u[i] = 0.0
                    self.held[i] = net.params[i].reset == "zero_hold"
                state["refractory"].add(i)
                state["fired"].add(i)
                if net.layer_of[i] < net.n_layers - 1:
                    state["pending"].append((self.key(i, step), i, i))
            elif self.barriers and i not in state["barrier_sent"] and i not in state["fired"]:
                # barriers leave through the arbiter after the step, like spikes: a message
                # never reaches another core within the step it was sent in
                state["barrier_sent"].add(i)
                state["outbox"].extend(tgt for tgt, _ in net.outgoing[i])
        yield self.env.timeout(0)
