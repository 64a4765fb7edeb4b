"""The forward pass as a small, readable pure-Python program: the executable specification.

It follows ``docs/concepts.md`` step by step with plain lists and dictionaries, independently
of the compiled kernel's data structures. It is slow (use tiny networks) and covers the policies
whose selection is deterministic: ``fifo``, ``layer``, ``momentum`` without noise, and user key
functions; with ``compat="asynctorch"``, momentum without noise. Tests compare it with the
kernel; :func:`replay` re-runs a recorded trace with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..network import INPUT, Network

KEYS: dict[str, Callable] = {
    # (source, layer, membrane, step) -> priority; smallest first, ties by source index
    "fifo": lambda source, layer, membrane, step: float(step),
    "layer": lambda source, layer, membrane, step: float(layer),
    "momentum": lambda source, layer, membrane, step: -membrane,
}


@dataclass
class Options:
    """The settings the reference follows (names as in :class:`asyncsim.SimConfig`)."""

    policy: str | Callable = "fifo"
    forward_group: int = 1
    stop: str = "drain"
    steps_after_output: int = 1
    input_mode: str = "aggregated"
    prioritize_input: bool = False
    sync_threshold: Any = 0
    emit_barriers: bool = False
    max_steps: int = 100_000
    histogram_bins: int = 64
    recurrent_delivery: str = "same_pass"
    compat: str = "none"


class _Net:
    """The network as lists: outgoing (target, weight) per source (immediate synapses) and
    (target, weight, delay) per source (delayed ones), and every neuron's parameters."""

    def __init__(self, network: Network, recurrent_delay: int = 0):
        from ..compile import is_recurrent

        sizes = [layer.size for layer in network.layers]
        first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n = int(first[-1])
        self.n_layers = len(sizes)
        self.output_first = int(first[-2])
        self.layer_of = np.repeat(np.arange(len(sizes)), sizes)
        index = {layer.name: i for i, layer in enumerate(network.layers)}
        # outgoing synapses of every source as (target, weight) lists, targets ascending
        self.outgoing: list[list[tuple[int, float]]] = [
            [] for _ in range(self.n + network.input_size)]
        self.delayed: list[list[tuple[int, float, int]]] = [
            [] for _ in range(self.n + network.input_size)]
        for p in sorted(network.projections, key=lambda p: index[p.target]):
            src_first = self.n if p.source == INPUT else int(first[index[p.source]])
            tgt_first = int(first[index[p.target]])
            delay = p.delay + (recurrent_delay if is_recurrent(network, p) else 0)
            rows, cols, where = p.synapses()
            values = p.weight.ravel()
            for j, i, k in sorted(zip(cols.tolist(), rows.tolist(), where.tolist(),
                                      strict=True)):
                if delay:
                    self.delayed[src_first + j].append((tgt_first + i, float(values[k]), delay))
                else:
                    self.outgoing[src_first + j].append((tgt_first + i, float(values[k])))
        self.input_fanin = [0] * self.n
        for s in range(self.n, self.n + network.input_size):
            for tgt, _ in self.outgoing[s]:
                self.input_fanin[tgt] += 1
        self.params = [network.layers[self.layer_of[i]] for i in range(self.n)]
        local = np.arange(self.n) - first[self.layer_of]

        def each(values):  # a layer's number, or its neuron's entry of a per-neuron array
            return [float(np.broadcast_to(v, (p.size,))[k]) for v, p, k in zip(
                values, self.params, local, strict=True)]

        dt = network.dt_ms
        self.decay = each([p.decay_per_step(dt) for p in self.params])
        self.threshold = each([p.threshold if p.fires else np.inf for p in self.params])
        self.reset_amount = each([p.reset_amount(dt) for p in self.params])
        self.bias = each([p.bias for p in self.params])
        self.syn_decay = each([p.synaptic_decay(dt) for p in self.params])


    def pass_start_drive(self, i: int, syn: list[float]) -> float:
        """What enters neuron ``i``'s membrane at the start of a pass: its bias, or with a
        current-based synapse its decayed synaptic current plus the bias (kept in ``syn``)."""
        if self.params[i].synapse == "current":
            syn[i] = self.syn_decay[i] * syn[i] + self.bias[i]
            return syn[i]
        return self.bias[i]


def _empty_result(S: int, T: int, n_out: int, n_layers: int, bins: int) -> dict:
    result = {key: np.zeros(S, dtype=np.int64) for key in (
        "sops", "input_sops", "delivered_spikes", "dropped_pending", "barrier_messages",
        "guard_stops")}
    result.update(
        output_counts=np.zeros((S, n_out), dtype=np.int64),
        output_membrane=np.zeros((S, n_out)),
        spikes_per_layer=np.zeros((S, n_layers), dtype=np.int64),
        steps=np.zeros((S, T), dtype=np.int64),
        spikes_to_output=np.full((S, T), -1, dtype=np.int64),
        reactivity=np.zeros((S, bins), dtype=np.int64))
    return result


def reference_run(network: Network, inputs: np.ndarray, *, trace: Any = None,
                  **options: Any) -> dict[str, np.ndarray]:
    """Simulate ``inputs`` (samples, timesteps, features); returns per-sample arrays named as
    in :class:`~asyncsim.report.Report` (a subset). ``options``: see :class:`Options`.

    With ``trace`` (:class:`asyncsim.trace.Trace`) this is a replay: each forward step delivers
    the recorded selection instead of asking the policy, each pass runs the recorded number of
    steps, and the recorded dropout outcomes replace random draws. A trace that selects a spike
    which is not pending does not belong to these weights and inputs: InputError.
    """
    opt = Options(**options)
    net = _Net(network, int(opt.recurrent_delivery == "next_timestep"))
    S, T, _ = inputs.shape
    result = _empty_result(S, T, net.n - net.output_first, net.n_layers, opt.histogram_bins)
    for s in range(S):
        _Sample(net, opt, result, s, trace).run(inputs[s])
    return result


def replay(network: Network, inputs: np.ndarray, trace: Any) -> dict[str, np.ndarray]:
    """Re-run the recorded schedule ``trace`` with ``network``'s weights (for checking a trace
    and for small networks); returns per-sample arrays as :func:`reference_run` does."""
    cfg = trace.config
    sync = cfg.sync_threshold
    if sync == "fan-in":
        from ..compile import compile_network

        sync = compile_network(network).fanin
    elif isinstance(sync, str):
        raise InputError(f"trace: config 'sync_threshold' {sync!r} cannot be replayed")
    return reference_run(network, inputs, trace=trace, input_mode=cfg.input_mode,
                         sync_threshold=sync, emit_barriers=cfg.emit_barriers,
                         histogram_bins=cfg.histogram_bins,
                         recurrent_delivery=cfg.recurrent_delivery)


class _Sample:
    """One sample's forward passes."""

    def __init__(self, net: _Net, opt: Options, result: dict, s: int, trace: Any):
        self.net, self.opt, self.result, self.s, self.trace = net, opt, result, s, trace
        self.key = KEYS[opt.policy] if isinstance(opt.policy, str) else opt.policy
        self.sync = np.broadcast_to(np.asarray(opt.sync_threshold), (net.n,))
        self.u = [0.0] * net.n
        self.syn = [0.0] * net.n
        self.held = [False] * net.n
        self.future: dict[int, dict[int, float]] = {}  # pass -> neuron -> delayed current
        self.schedule = trace.schedule(s) if trace is not None else None
        self.exempt = set() if trace is None else {
            (int(t), int(step), int(i)) for _, t, step, i in
            trace.exemptions[trace.exemptions[:, 0] == s]}
        # compat="asynctorch": the paper code's queue, one spike count per neuron, kept across
        # passes, and each neuron's membrane at its last spike in the current pass
        self.paper_code = opt.compat == "asynctorch"
        self.queued: dict[int, int] = {}
        self.prespike = [0.0] * net.n

    def run(self, frames: np.ndarray) -> None:
        for t in range(frames.shape[0]):
            self._pass(t, frames[t])
        if self.paper_code:
            self.result["dropped_pending"][self.s] += sum(self.queued.values())
        self.result["output_membrane"][self.s] = self.u[self.net.output_first:]

    # -- one forward pass --------------------------------------------------------------------
    def _pass(self, t: int, frame: np.ndarray) -> None:
        net = self.net
        # 1. decay, fresh pass state
        for i in range(net.n):
            self.u[i] *= net.decay[i]
        self.refractory = [False] * net.n
        self.fired = [False] * net.n
        self.barrier_sent = [False] * net.n
        self.messages = list(net.input_fanin)
        self.currents = [0] * net.n
        self.incoming: dict[int, float] = {}  # neuron -> summed current since its last update
        self.pending: list[tuple[float, int, int]] = []  # (priority, tie, source)
        self.prespike = [0.0] * net.n
        self.counts = self._input_counts(t, frame)
        self.t = t
        # bias and carried synaptic current, delayed currents arriving now
        self._pass_start()
        for i, current in sorted(self.future.pop(t, {}).items()):
            self.incoming[i] = self.incoming.get(i, 0.0) + current
            self.currents[i] += 1
        # 2. input: currents at once, or queued events
        self._bring_in_input()
        barriers: dict[int, int] = {}
        step, self.first_output, self.delivered = 0, -1, 0
        while True:
            # 3a. integrate and evaluate; barriers sent in the previous step count from now on
            barriers = self._integrate_and_evaluate(t, step, barriers)
            step += 1
            if self._stops(t, step):  # 3b
                break
            self._deliver(self._select(t, step))  # 3c, 3d
        self.result["steps"][self.s, t] = step
        if not self.paper_code:
            self.result["dropped_pending"][self.s] += len(self.pending)
        elif self._late(step):  # the late step ends by dropping the group it selects
            for source in self._select(t, step):
                self.result["dropped_pending"][self.s] += self.queued.pop(source)

    def _input_counts(self, t: int, frame: np.ndarray) -> list[int]:
        counts = [int(c) for c in frame]
        trace = self.trace
        if trace is not None and trace.config.input_dropout > 0:
            rows = trace.input_survivors[(trace.input_survivors[:, 0] == self.s)
                                         & (trace.input_survivors[:, 1] == t)]
            counts = [0] * len(counts)
            for _, _, feature, kept in rows:
                counts[int(feature)] = int(kept)
        return counts

    def _pass_start(self) -> None:
        """The bias (or, with a current-based synapse, the decayed synaptic current plus the
        bias) enters the membrane; a neuron held after a zero_hold reset stays at zero."""
        net = self.net
        for i in range(net.n):
            add = net.pass_start_drive(i, self.syn)
            if self.held[i]:
                self.refractory[i] = True
                self.held[i] = False
            elif add != 0.0:
                self.u[i] += add
                self.incoming.setdefault(i, 0.0)

    def _send(self, source: int, amplitude: float) -> None:
        for tgt, w in self.net.outgoing[source]:
            self.incoming[tgt] = self.incoming.get(tgt, 0.0) + w * amplitude
            self.messages[tgt] += 1
            self.currents[tgt] += 1
        for tgt, w, delay in self.net.delayed[source]:
            arriving = self.future.setdefault(self.t + delay, {})
            arriving[tgt] = arriving.get(tgt, 0.0) + w * amplitude

    def _fanout(self, source: int) -> int:
        return len(self.net.outgoing[source]) + len(self.net.delayed[source])

    def _bring_in_input(self) -> None:
        net, opt = self.net, self.opt
        for i, c in enumerate(self.counts):
            if c == 0:
                continue
            source = net.n + i
            for tgt, _ in net.outgoing[source]:
                self.messages[tgt] -= 1  # counted again when delivered
            if opt.input_mode == "queued":
                priority = -np.inf if opt.prioritize_input else (
                    0.0 if opt.policy == "momentum" else
                    self.key(source, -1, float(c), -1) if callable(opt.policy) else -1.0)
                self.pending.append((priority, source, source))
            else:
                self.result["input_sops"][self.s] += c * self._fanout(source)
                self._send(source, float(c))
        if np.any(self.sync > 0):
            for i in range(net.n):
                if net.input_fanin[i] > 0:
                    self.incoming.setdefault(i, 0.0)

    def _integrate_and_evaluate(self, t: int, step: int, barriers: dict[int, int]) -> dict:
        for tgt, count in barriers.items():
            self.messages[tgt] += count
        sent: dict[int, int] = {}
        arrived, self.incoming = self.incoming, {}
        for i in sorted(arrived):
            if self.net.params[i].synapse == "current":
                self.syn[i] += arrived[i]  # even while refractory
            if self.refractory[i]:
                if self.fired[i] or not self.opt.emit_barriers:
                    continue
                # held after a zero_hold reset: cannot fire, still owes its barrier
            else:
                self.u[i] += arrived[i]
            if self.messages[i] < self.sync[i]:
                continue
            if not self.refractory[i] and self.u[i] > self.net.threshold[i]:
                self._fire(t, step, i)
            elif self.opt.emit_barriers and not self.barrier_sent[i] and not self.fired[i]:
                self.barrier_sent[i] = True
                for tgt, _ in self.net.outgoing[i]:
                    sent[tgt] = sent.get(tgt, 0) + 1
                    self.incoming.setdefault(tgt, 0.0)
                    self.result["barrier_messages"][self.s] += 1
        return sent

    def _late(self, step: int) -> bool:
        """Forward step ``step`` comes after the last one the on-output stop allows: the
        paper's code still runs it, but throws its spikes away."""
        return (self.paper_code and self.opt.stop == "on_output" and self.first_output >= 0
                and step > self.first_output + self.opt.steps_after_output)

    def _fire(self, t: int, step: int, i: int) -> None:
        net, result, s = self.net, self.result, self.s
        membrane = self.u[i]
        late = self._late(step)
        if not late:
            bins = self.opt.histogram_bins
            result["reactivity"][s, min(self.currents[i], bins - 1)] += 1
            result["spikes_per_layer"][s, net.layer_of[i]] += 1
        self.currents[i] = 0
        self.fired[i] = True
        p = net.params[i]
        if p.reset in ("subtract", "subtract_delayed"):
            self.u[i] -= net.reset_amount[i]
        else:
            self.u[i] = 0.0
            self.held[i] = p.reset == "zero_hold"
        self.refractory[i] = p.refractory and (t, step, i) not in self.exempt
        if self.paper_code:
            self.prespike[i] = membrane
            if late:
                return
        if net.layer_of[i] == net.n_layers - 1:
            result["output_counts"][s, i - net.output_first] += 1
            if self.first_output < 0:
                self.first_output = step
                result["spikes_to_output"][s, t] = self.delivered
        if self.paper_code:  # output spikes too are queued
            self.queued[i] = self.queued.get(i, 0) + 1
        elif net.layer_of[i] != net.n_layers - 1:
            self.pending.append((self.key(i, int(net.layer_of[i]), membrane, step), i, i))

    def _stops(self, t: int, step: int) -> bool:
        opt = self.opt
        if self.trace is not None:
            return step == self.trace.steps[self.s, t]
        if opt.stop == "on_output" and self.first_output >= 0 and (
                step > self.first_output + opt.steps_after_output + int(self.paper_code)):
            return True
        if not self.pending and not self.queued and not self.incoming:
            return True
        if step >= opt.max_steps:
            self.result["guard_stops"][self.s] += 1
            return True
        return False

    def _select(self, t: int, step: int) -> list[int]:
        """The F best pending spikes (or the recorded ones), as sources to deliver."""
        if self.paper_code:  # momentum without noise: the latest spike's membrane first
            ranked = sorted(self.queued, key=lambda i: (-self.prespike[i], i))
            return ranked[:self.opt.forward_group]
        if self.trace is None:
            self.pending.sort()
            chosen = self.pending[:self.opt.forward_group]
            self.pending = self.pending[self.opt.forward_group:]
            return [source for _, _, source in chosen]
        sources, dropped = self.schedule[t][step - 1]
        for source in sources.tolist():
            match = next((e for e in self.pending if e[2] == source), None)
            if match is None:
                raise InputError(f"trace: sample {self.s}, timestep {t}, step {step}: source "
                                 f"{source} is not pending (the trace belongs to other weights "
                                 f"or inputs)")
            self.pending.remove(match)
        return sources[~dropped].tolist()

    def _deliver(self, sources: list[int]) -> None:
        net, result, s = self.net, self.result, self.s
        for source in sorted(sources):
            self.delivered += 1
            if source < net.n:
                count = self.queued.pop(source) if self.paper_code else 1
                result["sops"][s] += self._fanout(source)
                result["delivered_spikes"][s] += count
                self._send(source, float(count))
            else:
                c = self.counts[source - net.n]
                result["input_sops"][s] += c * self._fanout(source)
                self._send(source, float(c))
