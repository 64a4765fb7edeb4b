"""PyTorch autograd implementation of the differentiable replay (optional extra ``torch``).

It computes the same forward replay as :mod:`asyncsim.gradient`, step by step on dense tensors
with a custom autograd function for the spike, and lets PyTorch differentiate it. It is slow
(a Python loop over forward steps) and exists as the gradient reference that tests compare the
Numba reverse pass with.
"""

from __future__ import annotations

import numpy as np
import torch

from .network import INPUT, Network
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
                         ) -> tuple[torch.Tensor, np.ndarray]:
    """Mean cross-entropy of the replay of ``trace`` as a differentiable function of
    ``weights`` (one tensor per projection); also returns the output counts."""
    counts = autograd_replay_counts(network, inputs, trace, weights, alpha, silent_hidden)
    loss = torch.nn.functional.cross_entropy(counts, torch.tensor(labels, dtype=torch.long))
    return loss, np.round(counts.detach().numpy()).astype(np.int64)


def autograd_replay_counts(network: Network, inputs: np.ndarray, trace: Trace,
                           weights: list[torch.Tensor], alpha: float = 2.0,
                           silent_hidden: bool = False) -> torch.Tensor:
    """(S, outputs) output spike counts of the replay of ``trace``, differentiable in
    ``weights``. With ``silent_hidden``, hidden neurons below threshold at an evaluation emit a
    zero-valued spike that their targets integrate at the next forward step (it changes no
    value, only the gradient)."""
    sizes = [layer.size for layer in network.layers]
    first = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(first[-1])
    index = {layer.name: i for i, layer in enumerate(network.layers)}
    layer_of = np.repeat(np.arange(len(sizes)), sizes)
    thr = torch.tensor([network.layers[layer_of[i]].threshold for i in range(n)],
                       dtype=torch.float64)
    decay = torch.tensor([network.layers[layer_of[i]].decay_per_step(network.dt_ms)
                          for i in range(n)], dtype=torch.float64)
    soft = [network.layers[layer_of[i]].reset == "soft" for i in range(n)]
    refractory = [network.layers[layer_of[i]].refractory for i in range(n)]
    n_out = sizes[-1]
    out_first = int(first[-2])

    def currents_from(source_layer: str, local: int, value) -> torch.Tensor:
        """Currents into all neurons from one source (a neuron or input feature) * value."""
        x = torch.zeros(n, dtype=torch.float64)
        for p, w in zip(network.projections, weights, strict=True):
            if p.source == source_layer:
                lo = int(first[index[p.target]])
                x = x + torch.nn.functional.pad(w[:, local] * value,
                                                (lo, n - lo - w.shape[0]))
        return x

    def source_of(neuron: int) -> tuple[str, int]:
        layer = int(layer_of[neuron])
        return network.layers[layer].name, neuron - int(first[layer])

    S, T, n_in = inputs.shape
    use_survivors = trace.config.input_dropout > 0
    per_sample = []
    for s in range(S):
        schedule = trace.schedule(s)
        exempt = {(int(t), int(i), int(k)) for _, t, i, k in
                  trace.exemptions[trace.exemptions[:, 0] == s]}
        u = torch.zeros(n, dtype=torch.float64)
        counts = [torch.zeros((), dtype=torch.float64) for _ in range(n_out)]
        for t in range(T):
            u = u * decay
            frame = inputs[s, t].astype(np.int64)
            if use_survivors:
                frame = np.zeros(n_in, dtype=np.int64)
                rows = trace.input_survivors[(trace.input_survivors[:, 0] == s)
                                             & (trace.input_survivors[:, 1] == t)]
                frame[rows[:, 2]] = rows[:, 3]
            x = torch.zeros(n, dtype=torch.float64)
            touched = np.zeros(n, dtype=bool)
            for f in np.nonzero(frame)[0]:
                x = x + currents_from(INPUT, int(f), float(frame[f]))
                for p in network.projections:
                    if p.source == INPUT:
                        touched[first[index[p.target]]:first[index[p.target] + 1]] = True
            frozen = np.zeros(n, dtype=bool)
            pending: dict[int, list[torch.Tensor]] = {}
            zero_spikes = torch.zeros(n, dtype=torch.float64)
            for i in range(int(trace.steps[s, t])):
                live = torch.tensor(~frozen & touched)
                u = torch.where(live, u + x, u)
                u = torch.where(torch.tensor(~frozen), u + zero_spikes, u)
                evaluated = np.nonzero(touched & ~frozen)[0]
                fire = [k for k in evaluated if float(u[k].detach()) > float(thr[k])]
                silent_outputs = [k for k in evaluated if k >= out_first and k not in fire]
                silent_hidden_now = [k for k in evaluated if silent_hidden and k < out_first
                                     and k not in fire]
                touched[:] = False
                spikes = torch.zeros(n, dtype=torch.float64)
                values = {}
                for k in fire + silent_outputs + silent_hidden_now:
                    values[k] = ArctanSpike.apply(u[k] - thr[k], alpha)
                    spikes = spikes + torch.nn.functional.one_hot(
                        torch.tensor(k), n).to(torch.float64) * values[k]
                hard = torch.tensor([not soft[k] for k in range(n)])
                u = torch.where(hard, u * (1 - spikes), u - spikes * thr)
                for k in silent_outputs:
                    counts[k - out_first] = counts[k - out_first] + values[k]
                for k in fire:
                    if refractory[k] and (t, i, k) not in exempt:
                        frozen[k] = True
                    if k >= out_first:
                        counts[k - out_first] = counts[k - out_first] + values[k]
                    else:
                        pending.setdefault(k, []).append(values[k])
                if i == int(trace.steps[s, t]) - 1:
                    break
                zero_spikes = torch.zeros(n, dtype=torch.float64)
                for k in silent_hidden_now:
                    zero_spikes = zero_spikes + currents_from(*source_of(k), values[k])
                x = torch.zeros(n, dtype=torch.float64)
                sources, dropped = schedule[t][i]
                for src, gone in zip(sources.tolist(), dropped.tolist(), strict=True):
                    value = pending[src].pop(0)  # the oldest pending spike of the neuron
                    if gone:
                        continue
                    name, local = source_of(src)
                    x = x + currents_from(name, local, value)
                    for p in network.projections:
                        if p.source == name:
                            touched[first[index[p.target]]:first[index[p.target] + 1]] = True
        per_sample.append(torch.stack(counts))
    return torch.stack(per_sample)


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
