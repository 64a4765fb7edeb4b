"""Training with the schedule in the loop: layered and unlayered backpropagation.

Each batch is simulated with the current weights while its schedule is recorded, the recorded
schedule is replayed differentiably (:mod:`asyncsim.gradient`), and Adam updates the weights.

=============  ===============================================================================
mode           schedule simulated during training
=============  ===============================================================================
layered        every pending spike delivered at each forward step, layer order: for a
               feedforward network this is layer-by-layer propagation
unlayered-rs   random scheduling with forward group ``F``
unlayered-ms   momentum scheduling with forward group ``F`` and momentum noise
=============  ===============================================================================

All passes run until the network drains (the paper's training stop condition). Regularizers:
input spike dropout, refractory dropout, momentum noise; L2 weight decay is added to the
gradient. A checkpoint is one ``.npz`` file written atomically after every epoch (weights,
optimizer state, history); resuming from it gives the same result as an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes_atomic
from .datasets import FrameDataset
from .errors import InputError
from .gradient import replay_gradient
from .network import Network
from .simulator import Simulator

MODES = ("layered", "unlayered-rs", "unlayered-ms")


@dataclass
class TrainConfig:
    """Training settings (paper table 6 gives N-MNIST: batch 256, 50 epochs, learning rate
    5e-4, weight decay 1e-5, alpha 2, input dropout 0.25, F 8, refractory dropout 0.8,
    momentum noise 1e-6)."""

    mode: str = "unlayered-rs"
    forward_group: int = 8
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 5e-4
    weight_decay: float = 1e-5
    input_dropout: float = 0.0
    refractory_dropout: float = 0.0
    momentum_noise: float = 1e-6
    alpha: float = 2.0
    silent_gradient: bool | None = None
    count_scale: float = 1.0
    stop: str = "drain"
    steps_after_output: int = 1
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"field 'mode': expected one of {list(MODES)}, got {self.mode!r}")
        if self.silent_gradient is None:
            # layered: ordinary BPTT; unlayered: a spike that did not happen is not scheduled
            self.silent_gradient = self.mode == "layered"
        for name in ("forward_group", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"field '{name}': expected an integer >= 1, got {value!r}")
        for name in ("learning_rate", "alpha", "count_scale"):
            if not (getattr(self, name) > 0):
                raise InputError(f"field '{name}': expected a number > 0, got "
                                 f"{getattr(self, name)!r}")
        if self.stop not in ("drain", "on_output"):
            raise InputError(f"field 'stop': expected 'drain' or 'on_output', got "
                             f"{self.stop!r}")
        if not isinstance(self.steps_after_output, (int, np.integer)) or (
                self.steps_after_output < 0):
            raise InputError(f"field 'steps_after_output': expected an integer >= 0, got "
                             f"{self.steps_after_output!r}")
        for name in ("input_dropout", "refractory_dropout"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"field '{name}': expected a probability in [0, 1], got "
                                 f"{getattr(self, name)!r}")

    def simulator_options(self) -> dict[str, Any]:
        """The schedule of this mode, as Simulator settings."""
        common = dict(stop=self.stop, steps_after_output=self.steps_after_output,
                      input_dropout=self.input_dropout,
                      refractory_dropout=self.refractory_dropout)
        if self.mode == "layered":
            return dict(policy="layer", forward_group=10**9, **common)
        if self.mode == "unlayered-rs":
            return dict(policy="random", forward_group=self.forward_group, **common)
        return dict(policy="momentum", forward_group=self.forward_group,
                    momentum_noise=self.momentum_noise, **common)


class Adam:
    """Adam (beta1 0.9, beta2 0.999, eps 1e-8) over a list of arrays."""

    def __init__(self, shapes: list[tuple[int, ...]], learning_rate: float):
        self.learning_rate = learning_rate
        self.m = [np.zeros(s) for s in shapes]
        self.v = [np.zeros(s) for s in shapes]
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            m_hat = self.m[i] / (1 - 0.9 ** self.t)
            v_hat = self.v[i] / (1 - 0.999 ** self.t)
            out.append(p - self.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8))
        return out


def train(
    network: Network,
    data: FrameDataset,
    config: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    on_batch: Callable[[dict], None] | None = None,
) -> tuple[Network, list[dict]]:
    """Train ``network`` on ``data``; returns the trained network and per-epoch history
    (mean loss and accuracy over the epoch's batches, as simulated during training)."""
    if data.n_features != network.input_size:
        raise InputError(f"field 'data': expected {network.input_size} features for "
                         f"'{network.name}', got {data.n_features}")
    weights = [p.weight.copy() for p in network.projections]
    adam = Adam([w.shape for w in weights], config.learning_rate)
    history: list[dict] = []
    first_epoch = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        weights, adam, history, first_epoch = _read_checkpoint(checkpoint, weights)
    options = config.simulator_options()
    n_batches = math.ceil(data.n_samples / config.batch_size)
    for epoch in range(first_epoch, config.epochs):
        order = np.random.default_rng([config.seed, epoch]).permutation(data.n_samples)
        losses, correct = [], 0
        for b in range(n_batches):
            idx = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
            current = _with_weights(network, weights)
            sim = Simulator(current, seed=config.seed * 1_000_003 + epoch * 1009 + b,
                            **options)
            report = sim.run(data.inputs[idx], data.labels[idx], record=True)
            if config.count_scale == 1.0:
                grad = replay_gradient(current, data.inputs[idx], data.labels[idx],
                                       report.trace, alpha=config.alpha,
                                       silent_hidden=config.silent_gradient)
            else:
                loss, upstream = scaled_cross_entropy(report.per_sample["output_counts"],
                                                      data.labels[idx], config.count_scale)
                grad = replay_gradient(current, data.inputs[idx], None, report.trace,
                                       alpha=config.alpha, upstream=upstream,
                                       silent_hidden=config.silent_gradient)
                grad.loss = loss
            grads = [g + config.weight_decay * w for g, w in zip(grad.weights, weights,
                                                                  strict=True)]
            weights = adam.step(weights, grads)
            losses.append(grad.loss)
            correct += int(np.sum(report.predictions == data.labels[idx]))
            if on_batch is not None:
                seen = min(data.n_samples, (b + 1) * config.batch_size)
                on_batch({"epoch": epoch, "batch": b, "batches": n_batches, "loss": grad.loss,
                          "accuracy": correct / seen})
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "accuracy": correct / data.n_samples})
        if checkpoint is not None:
            _write_checkpoint(checkpoint, weights, adam, history, config)
    trained = _with_weights(network, weights)
    trained.metadata = {**network.metadata, "trained": True,
                        "training": {**asdict(replace(config, extra={})),
                                     "final_loss": history[-1]["loss"] if history else None}}
    return trained, history


def scaled_cross_entropy(counts: np.ndarray, labels: np.ndarray,
                         scale: float) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(scale * counts)`` and its gradient with respect to the
    (samples, outputs) counts. A scale below 1 keeps long inputs (many timesteps, many output
    spikes) out of softmax saturation."""
    logits = scale * np.asarray(counts, dtype=np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = float(-log_p[rows, labels].mean())
    dlogits = np.exp(log_p)
    dlogits[rows, labels] -= 1.0
    return loss, dlogits * scale / len(labels)


def _with_weights(network: Network, weights: list[np.ndarray]) -> Network:
    projections = [replace(p, weight=w) for p, w in zip(network.projections, weights,
                                                         strict=True)]
    return replace(network, projections=projections, metadata=dict(network.metadata))


def _write_checkpoint(path, weights, adam: Adam, history, config: TrainConfig) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(weights)}
    arrays.update({f"m{i}": m for i, m in enumerate(adam.m)})
    arrays.update({f"v{i}": v for i, v in enumerate(adam.v)})
    state = {"adam_t": adam.t, "history": history, "config": asdict(replace(config, extra={}))}
    buffer = io.BytesIO()
    np.savez(buffer, state=json.dumps(state), **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def _read_checkpoint(path, like: list[np.ndarray]):
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(str(z["state"]))
            weights = [z[f"w{i}"] for i in range(len(like))]
            m = [z[f"m{i}"] for i in range(len(like))]
            v = [z[f"v{i}"] for i in range(len(like))]
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable training checkpoint ({exc})") from None
    for w, ref in zip(weights, like, strict=True):
        if w.shape != ref.shape:
            raise InputError(f"{path}: checkpoint weights of shape {w.shape} do not fit the "
                             f"network ({ref.shape})")
    adam = Adam([w.shape for w in weights], state["config"]["learning_rate"])
    adam.m, adam.v, adam.t = m, v, int(state["adam_t"])
    history = state["history"]
    return weights, adam, history, len(history)
