"""PyTorch autograd implementation of the differentiable replay (optional extra ``torch``).

It computes the same forward replay as :mod:`asyncsim.gradient`, step by step on dense tensors
with a custom autograd function for the spike, and lets PyTorch differentiate it. It is slow
(a Python loop over forward steps) and exists as the gradient reference that tests compare the
Numba reverse pass with.
"""

from __future__ import annotations

import numpy as np
import torch

from .network import Network
from .trace import Trace


class ArctanSpike(torch.autograd.Function):
    """Heaviside step forward; arctan surrogate derivative backward."""

    @staticmethod
    def forward(ctx, v, alpha):
        ctx.save_for_backward(v)
        ctx.alpha = alpha
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        a = np.pi * ctx.alpha * v / 2
        return grad * (ctx.alpha / 2) / (1 + a * a), None


def autograd_replay_loss(network: Network, inputs: np.ndarray, labels: np.ndarray,
                         trace: Trace, weights: list[torch.Tensor],
                         alpha: float = 2.0, silent_hidden: bool = False,
                         biases: list[torch.Tensor] | None = None,
                         detach_reset: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Mean cross-entropy of the replay of ``trace`` as a differentiable function of
    ``weights`` (one tensor per projection) and ``biases`` (one per layer); also returns the
    output counts."""
    counts = autograd_replay_counts(network, inputs, trace, weights, alpha, silent_hidden,
                                    biases, detach_reset)
    loss = torch.nn.functional.cross_entropy(counts, torch.tensor(labels, dtype=torch.long))
    return loss, np.round(counts.detach().numpy()).astype(np.int64)


def autograd_replay_counts(network: Network, inputs: np.ndarray, trace: Trace,
                           weights: list[torch.Tensor], alpha: float = 2.0,
                           silent_hidden: bool = False,
                           biases: list[torch.Tensor] | None = None,
                           detach_reset: bool = False) -> torch.Tensor:
    """(S, outputs) output spike counts of the replay of ``trace``, differentiable in
    ``weights`` and ``biases`` (default: the layers' own, constant). With ``silent_hidden``,
    hidden neurons below threshold at an evaluation emit a zero-valued spike that their
    targets integrate at the next forward step (it changes no value, only the gradient). With
    ``detach_reset``, the reset does not pass gradient through the spike."""
    replay = _DenseReplay(network, trace, weights, biases, alpha, silent_hidden, detach_reset)
    return torch.stack([replay.sample(s, inputs[s]) for s in range(inputs.shape[0])])


def autograd_replay_membranes(network: Network, inputs: np.ndarray, trace: Trace,
                              weights: list[torch.Tensor], alpha: float = 2.0,
                              biases: list[torch.Tensor] | None = None,
                              detach_reset: bool = False) -> torch.Tensor:
    """(S, outputs) output membranes after the last pass of the replay of ``trace``,
    differentiable in ``weights`` and ``biases`` (a membrane readout's logits)."""
    replay = _DenseReplay(network, trace, weights, biases, alpha, False, detach_reset)
    membranes = []
    for s in range(inputs.shape[0]):
        replay.sample(s, inputs[s])
        membranes.append(replay.u[replay.out_first:])
    return torch.stack(membranes)


def _per_neuron(network: Network, values: list) -> torch.Tensor:
    return torch.cat([torch.as_tensor(np.broadcast_to(np.asarray(v, dtype=np.float64),
                                                      (layer.size,)).copy())
                      if not isinstance(v, torch.Tensor) else v
                      for layer, v in zip(network.layers, values, strict=True)])


class _DenseReplay:
    """The replay on dense tensors, step by step, as the kernel does it (pass start: decay,
    bias and carried synaptic current, delayed arrivals, input; then the recorded steps)."""

    def __init__(self, network, trace, weights, biases, alpha, silent_hidden, detach_reset):
        from .compile import is_recurrent

        self.net, self.trace, self.alpha, self.silent = network, trace, alpha, silent_hidden
        self.detach_reset = detach_reset
        sizes = [layer.size for layer in network.layers]
        self.first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n = int(self.first[-1])
        self.out_first = int(self.first[-2])
        self.index = {layer.name: i for i, layer in enumerate(network.layers)}
        self.layer_of = np.repeat(np.arange(len(sizes)), sizes)
        dt = network.dt_ms
        L = network.layers
        self.thr = _per_neuron(network, [la.threshold if la.fires else np.inf for la in L])
        self.decay = _per_neuron(network, [la.decay_per_step(dt) for la in L])
        self.reset_amount = _per_neuron(network, [la.reset_amount(dt) for la in L])
        self.syn_decay = _per_neuron(network, [la.synaptic_decay(dt) for la in L])
        self.bias = _per_neuron(network, biases if biases is not None else [la.bias for la in L])
        self.current = torch.tensor(np.repeat([la.synapse == "current" for la in L], sizes))
        self.subtract = torch.tensor(np.repeat(
            [la.reset in ("subtract", "subtract_delayed") for la in L], sizes))
        self.hold = np.repeat([la.reset == "zero_hold" for la in L], sizes)
        self.refractory = np.repeat([la.refractory for la in L], sizes)
        extra = int(trace.config.recurrent_delivery == "next_timestep")
        self.projections = [(p, w, p.delay + (extra if is_recurrent(network, p) else 0))
                            for p, w in zip(network.projections, weights, strict=True)]
        self.slots = 1 + max([d for _, _, d in self.projections], default=0)
        self.use_survivors = trace.config.input_dropout > 0

    def currents_from(self, source: str, local: int, value) -> dict[int, torch.Tensor]:
        """Currents into all neurons from one source (a neuron or input feature) x value, by
        delay."""
        out: dict[int, torch.Tensor] = {}
        for p, w, delay in self.projections:
            if p.source == source:
                lo = int(self.first[self.index[p.target]])
                add = torch.nn.functional.pad(w[:, local] * value,
                                              (lo, self.n - lo - w.shape[0]))
                out[delay] = out.get(delay, 0) + add
        return out

    def targets_of(self, source: str) -> np.ndarray:
        touched = np.zeros(self.n, dtype=bool)
        for p, _, delay in self.projections:
            if p.source == source and delay == 0:
                target = self.index[p.target]
                touched[self.first[target]:self.first[target + 1]] = True
        return touched

    def source_of(self, neuron: int) -> tuple[str, int]:
        layer = int(self.layer_of[neuron])
        return self.net.layers[layer].name, neuron - int(self.first[layer])

    def send(self, currents: dict[int, torch.Tensor], t: int) -> torch.Tensor:
        """The immediate part of ``currents``; delayed parts go to their arrival passes."""
        for delay, c in currents.items():
            if delay:
                self.future[t + delay] = self.future.get(t + delay, 0) + c
        return currents.get(0, torch.zeros(self.n, dtype=torch.float64))

    def sample(self, s: int, frames: np.ndarray) -> torch.Tensor:
        trace, n = self.trace, self.n
        self.schedule = trace.schedule(s)
        self.exempt = {(int(t), int(i), int(k)) for _, t, i, k in
                       trace.exemptions[trace.exemptions[:, 0] == s]}
        self.u = torch.zeros(n, dtype=torch.float64)
        self.syn = torch.zeros(n, dtype=torch.float64)
        self.held = np.zeros(n, dtype=bool)
        self.future: dict[int, torch.Tensor] = {}
        self.counts = [torch.zeros((), dtype=torch.float64) for _ in range(n - self.out_first)]
        for t in range(frames.shape[0]):
            self.run_pass(s, t, self.frame(s, t, frames[t]))
        return torch.stack(self.counts)

    def frame(self, s: int, t: int, frame: np.ndarray) -> np.ndarray:
        frame = frame.astype(np.int64)
        if self.use_survivors:
            rows = self.trace.input_survivors[(self.trace.input_survivors[:, 0] == s)
                                              & (self.trace.input_survivors[:, 1] == t)]
            frame = np.zeros_like(frame)
            frame[rows[:, 2]] = rows[:, 3]
        return frame

    def pass_start(self, t: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Decay, bias or carried synaptic current, held neurons; returns the pending
        current, the neurons listed for the first step and the frozen mask."""
        n = self.n
        self.u = self.u * self.decay
        self.syn = torch.where(self.current, self.syn_decay * self.syn + self.bias, self.syn)
        add = torch.where(self.current, self.syn, self.bias)
        frozen = self.held.copy()
        self.held[:] = False
        self.u = torch.where(torch.tensor(~frozen), self.u + add, self.u)
        touched = (add.detach().numpy() != 0) & ~frozen
        x = torch.zeros(n, dtype=torch.float64)
        if t in self.future:
            arriving = self.future.pop(t)
            x = x + arriving
            touched |= arriving.detach().numpy() != 0
        return x, touched, frozen

    def run_pass(self, s: int, t: int, frame: np.ndarray) -> None:
        from .network import INPUT

        x, touched, frozen = self.pass_start(t)
        for f in np.nonzero(frame)[0]:
            x = x + self.send(self.currents_from(INPUT, int(f), float(frame[f])), t)
            touched |= self.targets_of(INPUT)
        pending: dict[int, list[torch.Tensor]] = {}
        zero_spikes = torch.zeros(self.n, dtype=torch.float64)
        n_steps = int(self.trace.steps[s, t])
        for i in range(n_steps):
            x, zero_spikes, touched = self.step(t, i, i == n_steps - 1, x, zero_spikes,
                                                touched, frozen, pending)

    def step(self, t, i, last, x, zero_spikes, touched, frozen, pending):
        n, thr = self.n, self.thr
        # zero-valued spikes reach every target that is not refractory (they carry only
        # gradient and make nobody evaluate); delivered currents reach the listed neurons
        self.syn = torch.where(self.current, self.syn + x + zero_spikes, self.syn)
        live = torch.tensor(~frozen & touched)
        self.u = torch.where(live, self.u + x, self.u)
        self.u = torch.where(torch.tensor(~frozen), self.u + zero_spikes, self.u)
        evaluated = np.nonzero(touched & ~frozen)[0]
        fire = [k for k in evaluated if float(self.u[k].detach()) > float(thr[k])]
        silent_outputs = [k for k in evaluated if k >= self.out_first and k not in fire]
        silent_hidden = [k for k in evaluated if self.silent and k < self.out_first
                         and k not in fire]
        values, spikes = {}, torch.zeros(n, dtype=torch.float64)
        for k in fire + silent_outputs + silent_hidden:
            values[k] = ArctanSpike.apply(self.u[k] - thr[k], self.alpha)
            spikes = spikes + torch.nn.functional.one_hot(
                torch.tensor(k), n).to(torch.float64) * values[k]
        resetting = spikes.detach() if self.detach_reset else spikes
        self.u = torch.where(self.subtract, self.u - resetting * self.reset_amount,
                             self.u * (1 - resetting))
        for k in silent_outputs:
            self.counts[k - self.out_first] = self.counts[k - self.out_first] + values[k]
        for k in fire:
            if self.refractory[k] and (t, i, k) not in self.exempt:
                frozen[k] = True
            if self.hold[k]:
                self.held[k] = True
            if k >= self.out_first:
                self.counts[k - self.out_first] = self.counts[k - self.out_first] + values[k]
            else:
                pending.setdefault(k, []).append(values[k])
        touched = np.zeros(n, dtype=bool)
        zero_spikes = torch.zeros(n, dtype=torch.float64)
        x = torch.zeros(n, dtype=torch.float64)
        if last:
            return x, zero_spikes, touched
        for k in silent_hidden:
            zero_spikes = zero_spikes + self.send(self.currents_from(*self.source_of(k),
                                                                     values[k]), t)
        sources, dropped = self.schedule[t][i]
        for src, gone in zip(sources.tolist(), dropped.tolist(), strict=True):
            value = pending[src].pop(0)  # the oldest pending spike of the neuron
            if gone:
                continue
            name, local = self.source_of(src)
            x = x + self.send(self.currents_from(name, local, value), t)
            touched |= self.targets_of(name)
        return x, zero_spikes, touched


class _AsyncCounts(torch.autograd.Function):
    """Counts from the event kernel; gradients from the Numba reverse pass of its trace."""

    @staticmethod
    def forward(ctx, module, inputs, *weights):
        from .gradient import replay_gradient
        from .simulator import Simulator

        network = module.network_with([w.detach().numpy() for w in weights])
        module.calls += 1
        report = Simulator(network, seed=module.seed + module.calls, **module.options).run(
            inputs, record=True)
        module.last_trace = report.trace
        ctx.replay = (replay_gradient, network, inputs, report.trace, module.alpha)
        return torch.tensor(report.per_sample["output_counts"], dtype=torch.float64)

    @staticmethod
    def backward(ctx, grad_counts):
        replay_gradient, network, inputs, trace, alpha = ctx.replay
        grad = replay_gradient(network, inputs, None, trace, alpha=alpha,
                               upstream=grad_counts.detach().numpy())
        return (None, None, *(torch.tensor(g) for g in grad.weights))


class AsyncNetwork(torch.nn.Module):
    """An asyncsim network as a torch module: ``forward(inputs)`` simulates (samples,
    timesteps, features) spike counts with the event kernel under the given schedule and
    returns the (samples, outputs) output spike counts; backpropagating through them runs the
    event-based reverse pass of the recorded schedule. The weights are ``torch.nn.Parameter``s
    (float64), one per projection, so any torch optimizer and loss can train them.

    Example::

        model = AsyncNetwork(net, policy="random", forward_group=8)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward(); optimizer.step()
    """

    def __init__(self, network: Network, alpha: float = 2.0, seed: int = 0, **options):
        super().__init__()
        self.network = network
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(p.weight, dtype=torch.float64))
             for p in network.projections])
        self.alpha, self.seed, self.options = alpha, seed, options
        self.calls = 0
        self.last_trace = None

    def network_with(self, weights: list[np.ndarray]) -> Network:
        from dataclasses import replace

        projections = [replace(p, weight=w) for p, w in zip(self.network.projections, weights,
                                                             strict=True)]
        return replace(self.network, projections=projections)

    def forward(self, inputs) -> torch.Tensor:
        frames = inputs.detach().numpy() if isinstance(inputs, torch.Tensor) else inputs
        return _AsyncCounts.apply(self, np.ascontiguousarray(frames, dtype=np.uint8),
                                  *self.weights)
