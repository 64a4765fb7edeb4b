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

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np

from .atomic import check_output_path, write_bytes_atomic
from .compile import CompiledNetwork, compiled_order, projection_gradients, with_values
from .config import STOPS, check_fields, parameter, probability
from .datasets import BUILTIN as BUILTIN_DATASETS
from .datasets import FrameDataset, load_dataset
from .errors import InputError
from .gradient import replay_compiled
from .metrics import ActivationDensity
from .model_io import load_model
from .network import Network, random_feedforward
from .report import Report
from .simulator import Simulator

#: the training curves' density (spikes per hidden neuron), as reports compute it
_DENSITY = ActivationDensity()

MODES = ("layered", "unlayered-rs", "unlayered-ms")


@dataclass
class TrainConfig:
    """Training settings. The paper's (table 6) for N-MNIST: batch 256, 50 epochs, learning
    rate 5e-4, weight decay 1e-5, alpha 2, input dropout 0.25, F 8, refractory dropout 0.8,
    momentum noise 1e-6. Each field's help text (``asyncsim train --help``) says what it does;
    invalid values raise :class:`InputError` naming the field."""

    mode: str = parameter("unlayered-rs", "Schedule simulated during training: layered, "
                          "unlayered-rs (random) or unlayered-ms (momentum).", kind="choice",
                          choices=MODES)
    forward_group: int = parameter(8, "Forward group size F of the unlayered schedules.",
                                   kind="int", minimum=1, cli=("--forward-group", "-F"))
    epochs: int = parameter(10, "Passes over the training data.", kind="int", minimum=1)
    batch_size: int = parameter(64, "Samples per weight update.", kind="int", minimum=1)
    learning_rate: float = parameter(5e-4, "Adam's learning rate.", kind="float",
                                     minimum=0.0, positive=True, cli=("--lr",))
    weight_decay: float = parameter(1e-5, "L2 weight decay added to the gradient.",
                                    kind="float", minimum=0.0)
    input_dropout: float = probability("Probability that an input spike is removed "
                                       "(training only).")
    refractory_dropout: float = probability(
        "Probability that a spike does not make its neuron refractory (training only).")
    momentum_noise: float = parameter(1e-6, "lambda_MS of unlayered-ms (membrane units).",
                                      kind="float", minimum=0.0)
    alpha: float = parameter(2.0, "Steepness of the arctan surrogate.", kind="float",
                             minimum=0.0, positive=True)
    silent_gradient: bool | None = parameter(
        None, "Pass surrogate gradient through hidden neurons that stay below threshold "
        "(unset: on for layered, i.e. BPTT; off for unlayered).", kind="bool", nullable=True)
    detach_reset: bool = parameter(
        False, "No gradient through the reset's dependence on the spike (the frameworks' "
        "detach-reset option; it keeps gradients of long temporal inputs in scale).",
        kind="bool")
    count_scale: float = parameter(
        1.0, "Loss: cross-entropy of softmax(count_scale x output spike counts), or of "
        "softmax(count_scale x output membranes after the last timestep) for a "
        "leaky-integrator output layer (li).",
        kind="float", minimum=0.0, positive=True)
    stop: str = parameter("drain", "Stop condition of the simulated passes (train with the "
                          "inference one).", kind="choice", choices=STOPS)
    train_biases: bool = parameter(False, "Learn every neuron's bias too (a bias per neuron; "
                                   "no weight decay on it).", kind="bool")
    steps_after_output: int = parameter(1, "Forward steps after the first output spike "
                                        "(--stop on_output).", kind="int", minimum=0)
    seed: int = parameter(0, "Seed of the batches, the simulation and generated data.",
                          kind="int", minimum=0)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.silent_gradient is None:
            # layered: ordinary BPTT; unlayered: a spike that did not happen is not scheduled
            self.silent_gradient = self.mode == "layered"

    def simulator_options(self) -> dict[str, Any]:
        """The schedule of this mode, as Simulator settings."""
        common = dict(stop=self.stop, steps_after_output=self.steps_after_output,
                      input_dropout=self.input_dropout,
                      refractory_dropout=self.refractory_dropout)
        if self.mode == "layered":
            # layer by layer, recurrent spikes arrive in the next timestep (BPTT's order)
            return dict(policy="layer", forward_group=10**9,
                        recurrent_delivery="next_timestep", **common)
        if self.mode == "unlayered-rs":
            return dict(policy="random", forward_group=self.forward_group, **common)
        return dict(policy="momentum", forward_group=self.forward_group,
                    momentum_noise=self.momentum_noise, **common)


#: seed offset of a built-in dataset's held-out samples (drawn apart from the training set)
HELD_OUT_SEED_OFFSET = 1_000_000


#: output layers of an architecture string: spiking (read out by spike counts) or a leaky
#: integrator (read out by its final membranes)
OUTPUT_LAYERS = ("spikes", "li")


def build_network(model: str, *, seed: int = 0, tau_m_ms: float = 1.0, dt_ms: float = 10.0,
                  threshold: float = 0.3, synapse: str = "instant", tau_syn_ms: float = 5.0,
                  name: str = "network", readout: str = "spikes",
                  readout_tau_ms: float | None = None) -> Network:
    """The network to train: a model (file, folder or shipped name), or an architecture such
    as ``2312-64-64-64-10`` (a chain of LIF layers with Xavier-uniform weights drawn with
    ``seed``; ``synapse="current"`` for current-based synapses; ``tau_m_ms``, ``tau_syn_ms``
    and ``dt_ms`` in milliseconds). ``readout="li"`` makes an architecture's output layer a
    leaky integrator (membrane time constant ``readout_tau_ms``, default ``tau_m_ms``) that
    is read out, and trained, by its membranes after the last timestep."""
    if readout not in OUTPUT_LAYERS:
        raise InputError(f"field 'readout': expected one of {', '.join(OUTPUT_LAYERS)}, "
                         f"got {readout!r}")
    parts = model.split("-")
    if len(parts) > 1 and all(part.isdigit() for part in parts):
        sizes = [int(v) for v in parts]
        if min(sizes) < 1:
            raise InputError(f"architecture '{model}': expected layer sizes >= 1")
        network = random_feedforward(sizes, seed=seed, tau_m_ms=tau_m_ms, dt_ms=dt_ms,
                                     threshold=threshold, synapse=synapse,
                                     tau_syn_ms=tau_syn_ms, name=name)
        if readout == "li":
            tau = tau_m_ms if readout_tau_ms is None else readout_tau_ms
            output = replace(network.layers[-1], neuron="li", tau_m_ms=tau)
            network = replace(network, layers=[*network.layers[:-1], output])
        return network
    return load_model(model)


def held_out_data(dataset: str, n_samples: int, config: TrainConfig) -> FrameDataset | None:
    """``n_samples`` held-out samples of the built-in ``dataset``, drawn with seed
    ``config.seed + HELD_OUT_SEED_OFFSET`` (training never sees them); None for datasets that
    are not built in (no held-out split) or ``n_samples < 1``."""
    if n_samples < 1 or dataset not in BUILTIN_DATASETS:
        return None
    return load_dataset(dataset, n_samples=n_samples, seed=config.seed + HELD_OUT_SEED_OFFSET)


def evaluate(network: Network, data: FrameDataset, config: TrainConfig) -> Report:
    """The run of ``network`` on ``data`` under the training schedule, without its
    dropouts."""
    options = config.simulator_options()
    options.update(input_dropout=0.0, refractory_dropout=0.0)
    return Simulator(network, **options, seed=config.seed).run(data)


#: columns of the training curves (:func:`train`'s history and :func:`write_curves`' CSV):
#: epoch (from 1), mean batch loss, training accuracy and activation density as simulated
#: during the epoch (dropouts on), held-out accuracy and density after it (empty without a
#: held-out set), and the epoch's wall-clock seconds
CURVE_COLUMNS = ("epoch", "loss", "accuracy", "density", "test_accuracy", "test_density",
                 "seconds")


def write_curves(history: list[dict], path: str | Path) -> None:
    """Write training curves as CSV (:data:`CURVE_COLUMNS`; unknown values empty),
    atomically. ``asyncsim plot FILE`` draws them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for row in history:
        writer.writerow(["" if row.get(c) is None else row[c] for c in CURVE_COLUMNS])
    write_bytes_atomic(path, buffer.getvalue().encode())


class Adam:
    """Adam (beta1 0.9, beta2 0.999, eps 1e-8) over a list of arrays."""

    def __init__(self, shapes: list[tuple[int, ...]], learning_rate: float):
        self.learning_rate = learning_rate
        self.m = [np.zeros(s) for s in shapes]
        self.v = [np.zeros(s) for s in shapes]
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray],
             weight_decay: list[float | None] | None = None) -> list[np.ndarray]:
        """Update ``params`` (contiguous float64 arrays) and the moments in place, one pass
        per array; returns ``params``. With ``weight_decay``, ``weight_decay[i] * params[i]``
        is added to gradient ``i`` first (None: nothing added). Every value is computed with
        the operations of the textbook expression in its order (no fused multiply-adds), so
        results do not depend on this implementation."""
        self.t += 1
        first, second = 1 - 0.9 ** self.t, 1 - 0.999 ** self.t
        decays = weight_decay or [None] * len(params)
        for m, v, p, g, decay in zip(self.m, self.v, params, grads, decays, strict=True):
            if p.dtype != np.float64 or not p.flags.c_contiguous or not p.flags.writeable:
                raise ValueError("Adam updates parameters in place: expected writable, "
                                 f"contiguous float64 arrays, got {p.dtype} {p.flags}")
            _adam_update(p.reshape(-1), np.ascontiguousarray(g).reshape(-1), m.reshape(-1),
                         v.reshape(-1), 0.0 if decay is None else float(decay),
                         decay is not None, float(self.learning_rate), first, second)
        return params


# IEEE division (no zero-divisor check, which keeps the compiler from vectorizing the loop)
@nb.njit(cache=True, error_model="numpy")
def _adam_update(p, g, m, v, decay, with_decay, learning_rate, first, second):
    for i in range(p.shape[0]):
        gi = g[i] + decay * p[i] if with_decay else g[i]
        mi = m[i] * 0.9 + 0.1 * gi
        vi = v[i] * 0.999 + 0.001 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - learning_rate * (mi / first) / (np.sqrt(vi / second) + 1e-8)


class _Parameters:
    """What training learns, in the order the compiled network reads it: every weight in one
    vector (:func:`~asyncsim.compile.compiled_order`) and, when biases are learned, every
    neuron's bias in another. Adam works value by value, so the order changes no result; it
    saves compiling the network and reshaping gradients at every batch. Checkpoints and the
    trained network hold one array per projection (and per layer), as networks do."""

    def __init__(self, network: Network, compiled: CompiledNetwork, train_biases: bool):
        self.network, self.compiled = network, compiled
        self.values = [np.concatenate([compiled.weights, compiled.conv_weights])]
        if train_biases:
            self.values.append(np.array(compiled.bias, dtype=np.float64))

    def compiled_now(self) -> CompiledNetwork:
        """The network with the current values (views of them: valid until the next step)."""
        bias = self.values[1] if len(self.values) > 1 else None
        return with_values(self.compiled, self.network, self.values[0], bias)

    def as_arrays(self, flat: list[np.ndarray]) -> list[np.ndarray]:
        """Values in this order (the parameters, their gradients or moments) as one array per
        projection, then, with biases, one per layer."""
        c = self.compiled
        out = projection_gradients(self.network, flat[0], c.recurrent_delay, c.expand_conv)
        if len(flat) > 1:
            out += np.split(flat[1], c.layer_offsets[1:-1])
        return out

    def from_arrays(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The inverse of :meth:`as_arrays` (new float64 arrays)."""
        c, n = self.compiled, len(self.network.projections)
        flat = [compiled_order(self.network, arrays[:n], c.recurrent_delay, c.expand_conv)]
        if len(arrays) > n:
            flat.append(np.concatenate([np.asarray(a, dtype=np.float64).ravel()
                                        for a in arrays[n:]]))
        return flat

    def network_now(self) -> Network:
        return _with_weights(self.network, self.as_arrays(self.values))


def train(
    network: Network,
    data: FrameDataset,
    config: TrainConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    on_batch: Callable[[dict], None] | None = None,
    held_out: FrameDataset | None = None,
    curves: str | Path | None = None,
) -> tuple[Network, list[dict]]:
    """Train ``network`` on ``data``; returns the trained network and its training curves,
    one dict per epoch (:data:`CURVE_COLUMNS`): the mean loss, accuracy and activation density
    over the epoch's batches as simulated during training and, with ``held_out``, the accuracy
    and density on those samples after the epoch (training schedule, no dropouts). With
    ``curves``, the curves are also written to that CSV file after every epoch (atomically,
    so that a file read during training is whole)."""
    if data.n_features != network.input_size:
        raise InputError(f"field 'data': expected {network.input_size} features for "
                         f"'{network.name}', got {data.n_features}")
    for path, what in ((checkpoint, "checkpoint file"), (curves, "training curves file")):
        if path is not None:
            check_output_path(path, what)
    base = Simulator(network, **config.simulator_options())
    params = _Parameters(network, base.compiled, config.train_biases)
    adam = Adam([v.shape for v in params.values], config.learning_rate)
    decays = [config.weight_decay, None][:len(params.values)]  # no weight decay on biases
    replay = dict(alpha=config.alpha, silent_hidden=config.silent_gradient,
                  detach_reset=config.detach_reset)
    # the loss reads what inference reads: membranes for a leaky-integrator output
    on_membranes = base.effective_config().readout == "membrane"
    own_loss = config.count_scale == 1.0 and not on_membranes  # the replay's cross-entropy
    history: list[dict] = []
    first_epoch = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        history, first_epoch = _read_checkpoint(checkpoint, params, adam)
    n_batches = math.ceil(data.n_samples / config.batch_size)
    for epoch in range(first_epoch, config.epochs):
        started = time.perf_counter()
        order = np.random.default_rng([config.seed, epoch]).permutation(data.n_samples)
        losses, densities, correct = [], [], 0
        for b in range(n_batches):
            idx = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
            inputs, labels = data.inputs[idx], data.labels[idx]
            compiled = params.compiled_now()
            sim = base.reweighted(compiled, seed=config.seed * 1_000_003 + epoch * 1009 + b)
            drive = sim.input_drive(inputs)  # shared by the simulation and the replay
            report = sim.run(inputs, labels, record=True, input_drive=drive)
            of, key = (("membranes", "output_membrane") if on_membranes
                       else ("counts", "output_counts"))
            upstream = None
            if not own_loss:
                loss, upstream = scaled_cross_entropy(report.per_sample[key], labels,
                                                      config.count_scale)
            replay_loss, dweights, dbias, _ = replay_compiled(
                compiled, inputs, labels, report.trace, upstream=upstream, upstream_of=of,
                input_drive=drive, **replay)
            if own_loss:
                loss = replay_loss
            adam.step(params.values, [dweights, dbias][:len(decays)], decays)
            if not all(np.isfinite(v).all() for v in params.values):
                raise InputError(f"training diverged in epoch {epoch + 1}, batch {b + 1}: a "
                                 f"weight or bias is NaN or infinite (expected finite values; "
                                 f"try a lower learning rate)")
            losses.append(loss)
            densities.append(_DENSITY.compute(report))
            correct += int(np.sum(report.predictions == labels))
            if on_batch is not None:
                seen = min(data.n_samples, (b + 1) * config.batch_size)
                on_batch({"epoch": epoch, "batch": b, "batches": n_batches, "loss": loss,
                          "accuracy": correct / seen})
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
               "accuracy": correct / data.n_samples, "density": float(np.mean(densities)),
               "test_accuracy": None, "test_density": None}
        if held_out is not None:
            metrics = evaluate(params.network_now(), held_out, config).metrics()
            row.update(test_accuracy=metrics["accuracy"], test_density=metrics["density"])
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        if curves is not None:
            write_curves(history, curves)
        if checkpoint is not None:
            _write_checkpoint(checkpoint, params, adam, history, config)
    trained = params.network_now()
    trained.metadata = {**network.metadata, "trained": True,
                        "training": {**asdict(config),
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


def _with_weights(network: Network, parameters: list[np.ndarray]) -> Network:
    """``network`` with these weights (one per projection) and, after them, if given, these
    biases (one array per layer)."""
    n = len(network.projections)
    projections = [replace(p, weight=w) for p, w in zip(network.projections, parameters[:n],
                                                         strict=True)]
    layers = network.layers
    if len(parameters) > n:
        layers = [replace(layer, bias=b) for layer, b in zip(layers, parameters[n:],
                                                              strict=True)]
    return replace(network, layers=layers, projections=projections,
                   metadata=dict(network.metadata))


def _write_checkpoint(path, params: _Parameters, adam: Adam, history,
                      config: TrainConfig) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(params.as_arrays(params.values))}
    arrays.update({f"m{i}": m for i, m in enumerate(params.as_arrays(adam.m))})
    arrays.update({f"v{i}": v for i, v in enumerate(params.as_arrays(adam.v))})
    state = {"adam_t": adam.t, "history": history, "config": asdict(config)}
    buffer = io.BytesIO()
    np.savez(buffer, state=json.dumps(state), **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def _read_checkpoint(path, params: _Parameters, adam: Adam) -> tuple[list[dict], int]:
    """Load weights and optimizer state into ``params`` and ``adam``; returns the history and
    the next epoch."""
    like = params.as_arrays(params.values)
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(str(z["state"]))
            stored = {key: [z[f"{key}{i}"] for i in range(len(like))] for key in "wmv"}
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable training checkpoint ({exc})") from None
    for w, ref in zip(stored["w"], like, strict=True):
        if w.shape != ref.shape:
            raise InputError(f"{path}: checkpoint weights of shape {w.shape} do not fit the "
                             f"network ({ref.shape})")
    params.values = params.from_arrays(stored["w"])
    adam.m, adam.v = params.from_arrays(stored["m"]), params.from_arrays(stored["v"])
    adam.learning_rate, adam.t = state["config"]["learning_rate"], int(state["adam_t"])
    history = state["history"]
    return history, len(history)
