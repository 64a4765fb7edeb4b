"""How large the replay gradient grows on a long temporal input, with the reset differentiated
and detached, under asynchronous random scheduling (small F) and nearly layered delivery (large
F). Run after ``pip install .``::

    python benchmarks/gradient_scale.py

It prints, per F and reset treatment, the largest absolute entry of each projection's gradient
(untrained SHD-shaped network 350-[128x3]-20, tau_m 100 ms, two ``shd-like`` samples cut to 40
timesteps, drain stop, cross-entropy of raw counts). With PyTorch installed (``pip install
torch==2.13.0``) it also checks each gradient against autograd of the same replay.
"""

from __future__ import annotations

import argparse

import numpy as np
from workloads import SHD_WORKLOAD_BAND_PROBABILITY

from asyncsim import Simulator, random_feedforward
from asyncsim.datasets import shd_like
from asyncsim.gradient import replay_gradient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=40)
    parser.add_argument("--groups", default="8,64", help="forward group sizes, comma list")
    args = parser.parse_args()
    data = shd_like(2, seed=0, band_probability=SHD_WORKLOAD_BAND_PROBABILITY)
    inputs, labels = data.inputs[:, :args.timesteps], data.labels
    net = random_feedforward([350, 128, 128, 128, 20], seed=0, tau_m_ms=100.0, dt_ms=10.0)
    try:
        import torch

        from asyncsim.torch_replay import autograd_replay_loss
    except ImportError:
        torch = None
    print("F   reset        largest |dloss/dW| per projection          autograd agrees")
    for group in [int(g) for g in args.groups.split(",")]:
        report = Simulator(net, seed=3, policy="random", forward_group=group,
                           stop="drain").run(inputs, labels, record=True)
        for detach in (False, True):
            grad = replay_gradient(net, inputs, labels, report.trace, detach_reset=detach)
            largest = [float(np.abs(g).max()) for g in grad.weights]
            agrees = "(no torch)"
            if torch is not None:
                weights = [torch.tensor(p.weight.astype(np.float64), requires_grad=True)
                           for p in net.projections]
                loss, _ = autograd_replay_loss(net, inputs, labels, report.trace, weights,
                                               detach_reset=detach)
                expected = torch.autograd.grad(loss, weights)
                agrees = str(all(np.allclose(g, e.numpy(), rtol=1e-9, atol=1e-12 * m)
                                 for g, e, m in zip(grad.weights, expected, largest,
                                                    strict=True)))
            text = "  ".join(f"{v:9.3g}" for v in largest)
            print(f"{group:<4}{'detached' if detach else 'full':<13}{text}   {agrees}")


if __name__ == "__main__":
    main()
