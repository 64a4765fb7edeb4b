"""Python front end of the kernel: configuration, batching and threads."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np

from . import kernel
from .compile import CompiledNetwork, compile_network
from .errors import InputError
from .kernel.codes import COUNTER_NAMES
from .network import Network
from .policies import SchedulingPolicy, resolve_policy
from .report import Report

STOPS = {"drain": kernel.STOP_DRAIN, "on_output": kernel.STOP_ON_OUTPUT}
INPUT_MODES = ("aggregated", "queued")
SYNCHRONIZATIONS = ("none", "layer")
READOUTS = ("spike_count", "membrane")


@dataclass
class SimConfig:
    """Parameters of a simulation (paper table 4). Defaults follow the paper's inference setup
    except ``stop`` (drain, so that all activity is accounted for).

    Attributes:
        policy: scheduling policy name or a :class:`~asyncsim.policies.SchedulingPolicy`.
        forward_group: ``F``, the most spikes delivered per forward step (>= 1).
        stop: ``"drain"`` (until nothing is pending) or ``"on_output"``.
        steps_after_output: forward steps that still run after the first output spike
            (``on_output`` only).
        momentum_noise: ``lambda_MS``, amplitude of the uniform noise added to momentum keys.
        input_mode: ``"aggregated"`` (all input currents at once, Algorithm 1) or ``"queued"``
            (input spikes are events like any other).
        prioritize_input: queued input events are selected before network spikes.
        refractory_dropout: probability that a spike does not make its neuron refractory (a
            training regularizer; keep 0 for inference).
        input_dropout: probability that an input spike is removed.
        network_dropout: probability that a selected network spike is not delivered.
        synchronization: ``"none"`` or ``"layer"`` (layer-synchronized execution: layer-order
            policy, ``F`` = largest layer, synchronization threshold = fan-in, barrier
            messages on; these override the fields above).
        sync_threshold: messages (currents and barriers) a neuron must receive in a pass before
            it may fire: an integer for all neurons, ``"fan-in"``, or an array (neurons,).
        emit_barriers: a neuron reaching its synchronization threshold without firing sends a
            barrier message to its targets.
        max_steps: forward steps after which a pass is stopped (the report counts these stops).
        readout: ``"spike_count"`` (argmax of output spike counts, ties to the lowest index) or
            ``"membrane"`` (argmax of the output membranes after the last timestep).
        seed: seed of the per-sample random streams.
        energy_per_sop_pj: energy of one synaptic operation in picojoules (for the energy
            metric; None leaves energy out).
        histogram_bins: bins of the currents-before-spike histogram (the last bin collects
            the rest).
    """

    policy: Any = "random"
    forward_group: int = 8
    stop: str = "drain"
    steps_after_output: int = 1
    momentum_noise: float = 1e-6
    input_mode: str = "aggregated"
    prioritize_input: bool = False
    refractory_dropout: float = 0.0
    input_dropout: float = 0.0
    network_dropout: float = 0.0
    synchronization: str = "none"
    sync_threshold: Any = 0
    emit_barriers: bool = False
    max_steps: int = 100_000
    readout: str = "spike_count"
    seed: int = 0
    histogram_bins: int = 64
    energy_per_sop_pj: float | None = None

    def __post_init__(self) -> None:
        self.policy = resolve_policy(self.policy)
        _check_int(self.forward_group, "forward_group", 1)
        _check_choice(self.stop, "stop", tuple(STOPS))
        _check_int(self.steps_after_output, "steps_after_output", 0)
        _check_choice(self.input_mode, "input_mode", INPUT_MODES)
        _check_choice(self.synchronization, "synchronization", SYNCHRONIZATIONS)
        _check_choice(self.readout, "readout", READOUTS)
        for name in ("refractory_dropout", "input_dropout", "network_dropout"):
            value = getattr(self, name)
            if not (_is_number(value) and 0.0 <= value <= 1.0):
                raise InputError(f"field '{name}': expected a probability in [0, 1], "
                                 f"got {value!r}")
        if not (_is_number(self.momentum_noise) and self.momentum_noise >= 0):
            raise InputError(f"field 'momentum_noise': expected a number >= 0, "
                             f"got {self.momentum_noise!r}")
        _check_int(self.max_steps, "max_steps", 1)
        _check_int(self.seed, "seed", 0)
        _check_int(self.histogram_bins, "histogram_bins", 1)
        if self.energy_per_sop_pj is not None and not (
                _is_number(self.energy_per_sop_pj) and self.energy_per_sop_pj >= 0):
            raise InputError(f"field 'energy_per_sop_pj': expected a number >= 0, "
                             f"got {self.energy_per_sop_pj!r}")

    def summary(self) -> dict[str, Any]:
        """The values used, as plain data (for reports)."""
        d = {k: v for k, v in vars(self).items()}
        d["policy"] = self.policy.name
        if isinstance(self.sync_threshold, np.ndarray):
            d["sync_threshold"] = "per-neuron array"
        return d


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and math.isfinite(float(value))


def _check_int(value: Any, name: str, minimum: int) -> None:
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            and value >= minimum):
        raise InputError(f"field '{name}': expected an integer >= {minimum}, got {value!r}")


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"field '{name}': expected one of {list(choices)}, got {value!r}")


class Simulator:
    """Runs a network on spike-count frames with the asynchronous event kernel.

    Example::

        sim = Simulator(net, policy="momentum", forward_group=8, stop="on_output")
        report = sim.run(inputs, labels)      # inputs: (samples, timesteps, features)
    """

    def __init__(self, network: Network, config: SimConfig | None = None, **overrides: Any):
        self.network = network
        self.config = replace(config, **overrides) if config else SimConfig(**overrides)
        self.compiled: CompiledNetwork = compile_network(network)
        # Set by asyncsim.hardware.ChipSimulator: placement on cores (for per-core work,
        # routing counts and per-core selection quotas).
        self.mapping = None
        self.core_quota = 0
        # Membrane bounds per neuron (a chip's state precision); unbounded by default.
        self.u_low = np.full(self.compiled.n_neurons, -np.inf)
        self.u_high = np.full(self.compiled.n_neurons, np.inf)

    # -- parameters as the kernel gets them ------------------------------------------------
    def _effective(self) -> tuple[SchedulingPolicy, int, np.ndarray, bool]:
        cfg, c = self.config, self.compiled
        if cfg.synchronization == "layer":
            largest = max(layer.size for layer in self.network.layers)
            return resolve_policy("layer"), largest, c.fanin.copy(), True
        sync = cfg.sync_threshold
        if isinstance(sync, str):
            if sync != "fan-in":
                raise InputError(f"field 'sync_threshold': expected an integer, 'fan-in' or an "
                                 f"array, got {sync!r}")
            sync_arr = c.fanin.copy()
        elif np.ndim(sync) == 0:
            _check_int(sync, "sync_threshold", 0)
            sync_arr = np.full(c.n_neurons, int(sync), dtype=np.int64)
        else:
            sync_arr = np.asarray(sync, dtype=np.int64)
            if sync_arr.shape != (c.n_neurons,) or np.any(sync_arr < 0):
                raise InputError(f"field 'sync_threshold': expected {c.n_neurons} integers "
                                 f">= 0, got shape {sync_arr.shape}")
        return cfg.policy, cfg.forward_group, sync_arr, bool(cfg.emit_barriers)

    def effective_config(self) -> dict[str, Any]:
        """The configuration with the values the kernel actually uses."""
        policy, group, sync, barriers = self._effective()
        d = self.config.summary()
        d.update(policy=policy.name, forward_group=group, emit_barriers=barriers)
        if self.config.synchronization == "layer":
            d["sync_threshold"] = "fan-in"
        return d

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        inputs: Any,
        labels: np.ndarray | None = None,
        *,
        batch_size: int | None = None,
        threads: int | None = None,
        progress: bool = False,
        first_sample_index: int = 0,
        record: bool = False,
    ) -> Report:
        """Simulate every sample and return a :class:`~asyncsim.report.Report`.

        Args:
            inputs: (samples, timesteps, features) spike counts (0-255), or a dataset object
                with ``inputs`` and ``labels`` attributes.
            labels: (samples,) class indices, for accuracy.
            batch_size: samples per kernel call (only affects progress reporting and memory).
            threads: Numba threads (default: Numba's setting).
            progress: show a progress bar (tqdm) on standard error.
            first_sample_index: global index of ``inputs[0]``; sample ``i`` draws its random
                numbers from a stream seeded by ``(seed, first_sample_index + i)``, so a
                dataset split into parts gives the same results as run whole.
            record: also record the schedule (``report.trace``, see :mod:`asyncsim.trace`);
                this runs the samples twice (once to size the record).
        """
        if labels is None and hasattr(inputs, "labels"):
            labels = inputs.labels
        if hasattr(inputs, "inputs"):
            inputs = inputs.inputs
        frames = self._check_inputs(inputs)
        n_samples = frames.shape[0]
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64)
            if labels.shape != (n_samples,):
                raise InputError(f"field 'labels': expected shape ({n_samples},), "
                                 f"got {labels.shape}")
        policy, group, sync, barriers = self._effective()
        c, cfg = self.compiled, self.config
        net = kernel.network_arrays(c)
        chip = kernel.chip_arrays(c.n_neurons, c.fanout_start.shape[0] - 1, self.mapping,
                                  self.core_quota, self.u_low, self.u_high)
        settings = kernel.run_settings(
            seed=cfg.seed, policy_code=policy.code, forward_group=group,
            stop_code=STOPS[cfg.stop], steps_after_output=cfg.steps_after_output,
            momentum_noise=cfg.momentum_noise, queued_input=cfg.input_mode == "queued",
            prioritize_input=cfg.prioritize_input, refractory_dropout=cfg.refractory_dropout,
            input_dropout=cfg.input_dropout, network_dropout=cfg.network_dropout,
            emit_barriers=barriers, max_steps=cfg.max_steps, sync_threshold=sync)
        out = kernel.allocate_outputs(n_samples, frames.shape[1], c.n_outputs, c.n_layers,
                                      cfg.histogram_bins)
        batch = batch_size or max(1, min(n_samples, 256))
        previous_threads = numba.get_num_threads()
        if threads is not None:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_samples, unit="sample", desc="simulating", leave=False)
        no_record = kernel.recording()
        try:
            for start in range(0, n_samples, batch):
                stop = min(n_samples, start + batch)
                kernel.run_batch(first_sample_index + start, net, chip, settings,
                                 policy.compiled_key, frames[start:stop],
                                 kernel.outputs_slice(out, start, stop), no_record)
                if bar is not None:
                    bar.update(stop - start)
        finally:
            if bar is not None:
                bar.close()
            numba.set_num_threads(previous_threads)
        trace = None
        if record:
            from .trace import Trace

            lengths = out.counters[:, [COUNTER_NAMES.index(name) for name in (
                "trace_selection_length", "trace_exemption_length", "trace_input_length")]]
            ends = np.cumsum(lengths, axis=0)
            rec = kernel.recording(ends - lengths, tuple(ends[-1]) if len(ends) else (0, 0, 0))
            again = kernel.allocate_outputs(n_samples, frames.shape[1], c.n_outputs,
                                            c.n_layers, cfg.histogram_bins)
            kernel.run_batch(first_sample_index, net, chip, settings, policy.compiled_key,
                             frames, again, rec)
            if not np.array_equal(again.output_counts, out.output_counts):
                raise RuntimeError("recording run differs from the first run")  # cannot happen
            trace = Trace.from_streams(self.effective_config(), self.network, out.steps,
                                       rec.offsets, [rec.selection, rec.exemptions, rec.inputs])
        arrays = {k: v for k, v in out._asdict().items() if k != "counters"}
        arrays["steps"] = out.steps
        for i, name in enumerate(COUNTER_NAMES):
            arrays[name] = out.counters[:, i]
        report = Report.from_arrays(arrays, labels, self.network, self.effective_config())
        report.trace = trace
        return report

    def _check_inputs(self, inputs: Any) -> np.ndarray:
        a = np.asarray(inputs)
        n_in = self.network.input_size
        if a.ndim != 3:
            raise InputError(f"field 'inputs': expected a 3-D array (samples, timesteps, "
                             f"features), got shape {a.shape}")
        if a.shape[2] != n_in:
            raise InputError(f"field 'inputs': expected {n_in} features to match the network "
                             f"'{self.network.name}', got {a.shape[2]}")
        if a.dtype != np.uint8:
            if not np.issubdtype(a.dtype, np.number) or np.any(a < 0) or np.any(a > 255) or (
                    np.any(a != np.floor(a))):
                raise InputError("field 'inputs': expected integer spike counts in 0..255")
            a = a.astype(np.uint8)
        return np.ascontiguousarray(a)


def _allocate(n_samples: int, n_timesteps: int, c: CompiledNetwork, bins: int) -> dict:
    return {
        "output_counts": np.zeros((n_samples, c.n_outputs), dtype=np.int64),
        "output_membrane": np.zeros((n_samples, c.n_outputs)),
        "spikes_per_layer": np.zeros((n_samples, c.n_layers), dtype=np.int64),
        "counters": np.zeros((n_samples, len(COUNTER_NAMES)), dtype=np.int64),
        "steps": np.zeros((n_samples, n_timesteps), dtype=np.int64),
        "spikes_to_output": np.full((n_samples, n_timesteps), -1, dtype=np.int64),
        "reactivity": np.zeros((n_samples, bins), dtype=np.int64),
    }


def simulate(network: Network, inputs: Any, labels: np.ndarray | None = None,
             **config: Any) -> Report:
    """One-call form: ``simulate(net, inputs, labels, policy="momentum", forward_group=8)``."""
    return Simulator(network, **config).run(inputs, labels)


def early_decision(network: Network | Simulator, inputs: Any, labels: np.ndarray,
                   steps: list[int], threads: int | None = None,
                   **config: Any) -> dict[str, float]:
    """Accuracy against forward steps allowed after the first output spike (paper figure 5).

    Each entry re-runs the simulation with ``stop="on_output"`` and that many
    ``steps_after_output``; the key ``"drain"`` gives the accuracy after all activity drained.
    ``network`` may be a configured :class:`Simulator` (e.g. a chip's, with its placement,
    quotas and membrane bounds), whose other settings are kept; ``config`` then must be empty.
    """
    if isinstance(network, Simulator):
        if config:
            raise InputError("early_decision: give settings to the Simulator, not both")
        simulator = network
    else:
        config = {k: v for k, v in config.items() if k not in ("stop", "steps_after_output")}
        simulator = Simulator(network, **config)
    original = simulator.config
    result = {}
    try:
        for k in steps:
            simulator.config = replace(original, stop="on_output", steps_after_output=int(k))
            result[str(k)] = simulator.run(inputs, labels, threads=threads).accuracy
        simulator.config = replace(original, stop="drain")
        result["drain"] = simulator.run(inputs, labels, threads=threads).accuracy
    finally:
        simulator.config = original
    return result
