"""Dense autograd training step of asynchronous execution, the way the paper's code trains:
the baseline for ``bench_training.py``.

The whole batch advances together; pending spikes are a dense (batch, N) tensor that carries the
autograd graph; every forward step updates all neurons, sorts all N random keys per sample,
selects F spikes by a mask and recomputes every layer's dense product; PyTorch differentiates
the whole unrolled loop. Random scheduling, hard reset, refractory neurons, drain stop, output
spikes counted and not queued.
"""

from __future__ import annotations

import numpy as np
import torch

from asyncsim.torch_replay import ArctanSpike


def dense_train_step(weights: list[torch.Tensor], inputs: np.ndarray, labels: np.ndarray,
                     threshold: float, decay: float, forward_group: int, alpha: float = 2.0,
                     seed: int = 0) -> float:
    """One forward and backward pass over a batch; gradients land in ``weights[i].grad``."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [w.shape[0] for w in weights]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n, hidden_end = int(bounds[-1]), int(bounds[-2])
    B, T, _ = inputs.shape
    frames = torch.tensor(inputs, dtype=torch.float32)
    u = torch.zeros(B, n)
    counts = torch.zeros(B, sizes[-1])
    for t in range(T):
        u = u * decay
        refractory = torch.zeros(B, n, dtype=torch.bool)
        pending = torch.zeros(B, hidden_end)
        x = torch.cat([frames[:, t] @ weights[0].T, torch.zeros(B, n - sizes[0])], dim=1)
        received = x != 0
        while bool(received.any()) or bool((pending.detach() > 0).any()):
            u = torch.where(refractory, u, u + x)
            spikes = ArctanSpike.apply(u - threshold, alpha) * (received & ~refractory)
            u = u * (1 - spikes)
            refractory = refractory | (spikes.detach() > 0)
            counts = counts + spikes[:, hidden_end:]
            pending = pending + spikes[:, :hidden_end]
            keys = torch.rand(B, hidden_end, generator=gen)
            keys[pending.detach() <= 0] = float("inf")
            order = torch.argsort(keys, dim=1)[:, :forward_group]
            mask = torch.zeros(B, hidden_end).scatter(1, order, 1.0) * (pending.detach() > 0)
            selected = pending * mask
            pending = pending - selected
            parts = [torch.zeros(B, sizes[0])]
            for layer in range(1, len(sizes)):
                src = selected[:, bounds[layer - 1]:bounds[layer]]
                parts.append(src @ weights[layer].T)
            x = torch.cat(parts, dim=1)
            received = x.detach() != 0
    loss = torch.nn.functional.cross_entropy(counts, torch.tensor(labels, dtype=torch.long))
    loss.backward()
    return float(loss.detach())
