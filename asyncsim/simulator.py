"""Python front end of the kernel: the run's settings as kernel arguments, batching, threads,
recording, and the report."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from typing import Any

import numba
import numpy as np

from . import kernel
from .compile import CompiledNetwork, compile_network
from .config import RunConfig, SimConfig
from .errors import InputError
from .kernel.codes import (
    COUNTER_NAMES,
    TRACE_EXEMPTION_LENGTH,
    TRACE_INPUT_LENGTH,
    TRACE_SELECTION_LENGTH,
)
from .kernel.drive import batch_drive, check_drive, input_run, no_drive
from .limits import check_memory
from .network import Network
from .placement import NO_CHIP, ChipModel
from .policies import SchedulingPolicy, resolve_policy
from .report import NetworkFacts, Report
from .sync import layer_synchronized

STOP_CODES = {"drain": kernel.STOP_DRAIN, "on_output": kernel.STOP_ON_OUTPUT}
COMPAT_CODES = {"none": kernel.COMPAT_NONE, "asynctorch": kernel.COMPAT_ASYNCTORCH}
#: stream entries (8 bytes each) a recorded run sets aside up front, all samples together
RECORD_BUDGET = 8 * 2**20


@contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run the enclosed code with ``threads`` Numba threads (None: Numba's setting), and
    restore the previous setting afterwards, whatever happens."""
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class Simulator:
    """Runs a network on spike-count frames with the asynchronous event kernel.

    Example::

        sim = Simulator(net, policy="momentum", forward_group=8, stop="on_output")
        report = sim.run(inputs, labels)      # inputs: (samples, timesteps, features)

    Args:
        network: the network.
        config: a :class:`~asyncsim.config.SimConfig`; keyword arguments override its fields
            (or build one).
        chip: a :class:`~asyncsim.placement.ChipModel` (core placement, per-core quota,
            membrane bounds), as the chip backend builds it; default: none.
        allow_large: accept networks and runs beyond this machine's memory share
            (:mod:`asyncsim.limits`).
    """

    def __init__(self, network: Network, config: SimConfig | None = None, *,
                 chip: ChipModel | None = None, allow_large: bool = False, **overrides: Any):
        self.network = network
        self.config = replace(config, **overrides) if config else SimConfig(**overrides)
        self.chip = chip or NO_CHIP
        self.allow_large = allow_large
        self.compiled = compile_network(network, allow_large, self._recurrent_delay())
        self._schedule = self._effective()
        if self.config.compat != "none" and self.chip.core_quota:
            raise InputError("field 'compat': expected none on a timer chip (per-core groups), "
                             f"got {self.config.compat!r}")

    def reweighted(self, compiled: CompiledNetwork, **overrides: Any) -> Simulator:
        """This simulator running ``compiled`` (this network's topology with other weights or
        biases, e.g. from :func:`asyncsim.compile.with_values`), with ``overrides`` applied to
        its settings. Training uses it to skip compiling the network at every batch; the
        ``network`` attribute (and so a report's network facts) stays the one given first."""
        other = copy.copy(self)
        other.config = replace(self.config, **overrides)
        other.compiled = compiled
        other._schedule = other._effective()
        return other

    # -- parameters as the kernel gets them ------------------------------------------------
    def _recurrent_delay(self) -> int:
        """1 when recurrent spikes arrive in the next timestep: asked for, or implied by
        fan-in synchronization thresholds (a neuron cannot wait for its own layer's spikes)."""
        cfg = self.config
        return int(cfg.recurrent_delivery == "next_timestep" or cfg.synchronization == "layer"
                   or isinstance(cfg.sync_threshold, str))

    def _effective(self) -> tuple[SchedulingPolicy, int, np.ndarray, bool]:
        """Policy, forward group, per-neuron synchronization thresholds and barriers."""
        cfg, c = self.config, self.compiled
        if cfg.synchronization == "layer":
            layered = layer_synchronized(max(layer.size for layer in self.network.layers))
            return (resolve_policy(layered.policy), layered.forward_group, c.fanin.copy(),
                    layered.emit_barriers)
        sync = cfg.sync_threshold
        if isinstance(sync, str):  # "fan-in" (SimConfig checked it)
            sync_arr = c.fanin.copy()
        elif np.ndim(sync) == 0:
            sync_arr = np.full(c.n_neurons, int(sync), dtype=np.int64)
        else:
            sync_arr = np.asarray(sync, dtype=np.int64)
            if sync_arr.shape != (c.n_neurons,):
                raise InputError(f"field 'sync_threshold': expected {c.n_neurons} integers "
                                 f">= 0, got shape {sync_arr.shape}")
        return cfg.policy, cfg.forward_group, sync_arr, bool(cfg.emit_barriers)

    def effective_config(self) -> RunConfig:
        """The configuration with the values the kernel actually uses."""
        policy, group, _, barriers = self._schedule
        cfg = self.config
        sync = cfg.sync_threshold
        if cfg.synchronization == "layer":
            sync = "fan-in"
        elif isinstance(sync, np.ndarray):
            sync = "per-neuron array"
        return RunConfig(
            policy=policy.name, forward_group=group, core_quota=self.chip.core_quota or None,
            stop=cfg.stop, steps_after_output=cfg.steps_after_output,
            momentum_noise=cfg.momentum_noise, input_mode=cfg.input_mode,
            prioritize_input=cfg.prioritize_input, refractory_dropout=cfg.refractory_dropout,
            input_dropout=cfg.input_dropout, network_dropout=cfg.network_dropout,
            synchronization=cfg.synchronization, sync_threshold=sync, emit_barriers=barriers,
            recurrent_delivery="next_timestep" if self.compiled.recurrent_delay else "same_pass",
            max_steps=cfg.max_steps, readout=self._readout(), seed=cfg.seed, compat=cfg.compat,
            histogram_bins=cfg.histogram_bins, energy_per_sop_pj=cfg.energy_per_sop_pj)

    def _readout(self) -> str:
        if self.config.readout != "auto":
            return self.config.readout
        output = self.network.layers[-1]
        return "membrane" if output.neuron == "li" else "spike_count"

    def kernel_arguments(self) -> tuple:
        """``(network, chip, settings, user key)`` as the kernel reads them: the one place
        where a run's Python objects become kernel arguments (run and recording alike)."""
        policy, group, sync, barriers = self._schedule
        c, cfg = self.compiled, self.config
        settings = kernel.run_settings(
            seed=cfg.seed, policy_code=policy.code, forward_group=group,
            stop_code=STOP_CODES[cfg.stop], steps_after_output=cfg.steps_after_output,
            momentum_noise=cfg.momentum_noise, queued_input=cfg.input_mode == "queued",
            prioritize_input=cfg.prioritize_input, refractory_dropout=cfg.refractory_dropout,
            input_dropout=cfg.input_dropout, network_dropout=cfg.network_dropout,
            emit_barriers=barriers, max_steps=cfg.max_steps, sync_threshold=sync,
            compat=COMPAT_CODES[cfg.compat])
        chip = self.chip.arrays(c.n_neurons, c.fanout_start.shape[0] - 1)
        return kernel.network_arrays(c), chip, settings, policy.compiled_key

    # -- running ---------------------------------------------------------------------------
    def run(self, inputs: Any, labels: np.ndarray | None = None, *,
            batch_size: int | None = None, threads: int | None = None, progress: bool = False,
            first_sample_index: int = 0, record: bool = False,
            input_drive: kernel.InputDrive | None = None) -> Report:
        """Simulate every sample and return a :class:`~asyncsim.report.Report`.

        Args:
            inputs: (samples, timesteps, features) spike counts (0-255), or a dataset object
                with ``inputs`` and ``labels`` attributes.
            labels: (samples,) class indices, for accuracy.
            batch_size: samples per kernel call (only affects progress reporting and memory).
            threads: Numba threads (default: Numba's setting), for this run only.
            progress: show a progress bar (tqdm) on standard error.
            first_sample_index: global index of ``inputs[0]``; sample ``i`` draws its random
                numbers from a stream seeded by ``(seed, first_sample_index + i)``, so a
                dataset split into parts gives the same results as run whole.
            record: also record the schedule (``report.trace``, see :mod:`asyncsim.trace`),
                while simulating; a sample whose record outgrows the room first given to it
                is simulated again with the room it needed (same random stream, same result).
            input_drive: ``inputs``' summed input currents from :meth:`input_drive`, to be
                added instead of integrating the input feature by feature (same results).
                Training computes them once per batch for the simulation and the replay; a
                plain run does not (summing them first costs about what it saves).
        """
        if record and self.config.compat != "none":
            raise InputError("field 'compat': recording the schedule (and so training) "
                             f"follows Algorithm 1: expected none, got {self.config.compat!r}")
        frames, labels = self._check_data(inputs, labels)
        c = self.compiled
        per_sample = 8 * (2 * frames.shape[1] + 2 * c.n_outputs + c.n_layers
                          + self.config.histogram_bins + 32)
        check_memory(float(frames.shape[0]) * per_sample * (2 if record else 1),
                     f"results of {frames.shape[0]:,} samples", self.allow_large)
        arguments = self.kernel_arguments()
        out = kernel.allocate_outputs(frames.shape[0], frames.shape[1], c.n_outputs,
                                      c.n_layers, self.config.histogram_bins)
        with numba_threads(threads):
            rec = kernel.recording(self._record_room(frames)) if record else kernel.recording()
            self._run_batches(arguments, frames, out, first_sample_index,
                              batch_size or max(1, min(frames.shape[0], 256)), progress, rec,
                              input_drive)
            trace = self._trace(arguments, frames, out, first_sample_index, rec) if record \
                else None
        arrays = {name: array for name, array in out._asdict().items() if name != "counters"}
        for i, name in enumerate(COUNTER_NAMES):
            arrays[name] = out.counters[:, i]
        report = Report(arrays, labels, self._network_facts, self.effective_config())
        report.trace = trace
        report.notes = self._notes(frames)
        return report

    def validate(self, inputs: Any, labels: np.ndarray | None = None) -> None:
        """Check that ``inputs`` (and ``labels``) fit this network, as :meth:`run` does first;
        raises :class:`InputError` naming the field."""
        self._check_data(inputs, labels)

    def _notes(self, frames: np.ndarray) -> list[str]:
        notes = []
        if not frames.any():
            notes.append("the input has no spikes in any sample")
        sync = self._schedule[2]
        unreachable = int(np.sum(sync > self.compiled.fanin))
        if unreachable:
            notes.append(f"{unreachable} neurons have a synchronization threshold above their "
                         f"fan-in and can never fire")
        return notes

    def input_drive(self, frames: np.ndarray) -> kernel.InputDrive:
        """The summed input currents of ``frames`` (S, T, F spike counts;
        :mod:`asyncsim.kernel.drive`) where this run allows them (aggregated input without
        input dropout, into one run of neurons), else none (the kernel integrates the input
        feature by feature). For :meth:`run` and
        :func:`asyncsim.gradient.replay_compiled` of the same inputs."""
        run = self._drive_run()
        return batch_drive(self.compiled, frames, run) if run else no_drive()

    def _drive_run(self) -> tuple[int, int] | None:
        cfg = self.config
        if cfg.input_mode != "aggregated" or cfg.input_dropout > 0:
            return None
        return self._input_run

    # computed once per simulator; :meth:`reweighted` copies keep them (same network and
    # topology), so that training does not compute them at every batch
    @cached_property
    def _input_run(self) -> tuple[int, int] | None:
        return input_run(self.compiled)

    @cached_property
    def _network_facts(self) -> NetworkFacts:
        return NetworkFacts.of(self.network)

    def _given_drive(self, drive: kernel.InputDrive | None, frames: np.ndarray
                     ) -> kernel.InputDrive | None:
        """``drive`` if it is the one :meth:`input_drive` would compute for ``frames``
        (None if this run does not use one); refuses one that does not fit."""
        run = self._drive_run()
        if drive is None or run is None:
            return None
        check_drive(drive, frames.shape, run)
        return drive

    def _run_batches(self, arguments, frames, out, first_sample_index, batch, progress, rec,
                     given_drive=None):
        n_samples = frames.shape[0]
        given_drive = self._given_drive(given_drive, frames)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_samples, unit="sample", desc="simulating", leave=False)
        try:
            for start in range(0, n_samples, batch):
                stop = min(n_samples, start + batch)
                part = frames[start:stop]
                whole = given_drive is not None and stop - start == n_samples
                drive = given_drive if whole else no_drive()
                kernel.run_batch(first_sample_index + start, *arguments, part, drive,
                                 kernel.outputs_slice(out, start, stop),
                                 kernel.recording_slice(rec, start, stop))
                if bar is not None:
                    bar.update(stop - start)
        finally:
            if bar is not None:
                bar.close()

    def _record_room(self, frames: np.ndarray) -> np.ndarray:
        """(S, 3) entries to set aside per sample for the selection, exemption and input
        streams. Without refractory dropout and with aggregated input the selection bound
        holds (every neuron fires at most once per pass, each forward step but the last
        delivers something); the input stream is exact. Capped, so that a large batch does not
        reserve more than about 64 MiB: a sample that needs more runs again."""
        n_samples, n_steps = frames.shape[0], frames.shape[1]
        cfg, neurons = self.config, self.compiled.n_neurons
        active = np.zeros(n_samples, dtype=np.int64)
        if cfg.input_mode == "queued" or cfg.input_dropout > 0:  # else the room needs none
            # per row: counting along an axis converts the whole batch to bool and int first
            active = np.array([np.count_nonzero(row) for row in frames.reshape(n_samples, -1)],
                              dtype=np.int64)
        deliveries = neurons * n_steps + (active if cfg.input_mode == "queued" else 0)
        room = np.zeros((n_samples, 3), dtype=np.int64)
        room[:, 0] = n_steps + 2 * deliveries
        room[:, 1] = 3 * neurons * n_steps if cfg.refractory_dropout > 0 else 0
        room[:, 2] = 3 * active if cfg.input_dropout > 0 else 0
        cap = max(4096, RECORD_BUDGET // max(1, n_samples))
        return np.minimum(room, cap)

    def _trace(self, arguments, frames, out, first_sample_index, rec):
        """The trace of a recorded run: each sample's part of the streams, with the samples
        that outgrew their room simulated again with the room their counters say they need."""
        from .trace import Trace

        needed = out.counters[:, [TRACE_SELECTION_LENGTH, TRACE_EXEMPTION_LENGTH,
                                  TRACE_INPUT_LENGTH]]
        parts = {s: (rec, s) for s in range(frames.shape[0])}
        c = self.compiled
        for s in np.flatnonzero(np.any(needed > rec.limits - rec.offsets, axis=1)):
            again = kernel.recording(needed[s:s + 1])
            scratch = kernel.allocate_outputs(1, frames.shape[1], c.n_outputs, c.n_layers,
                                              self.config.histogram_bins)
            kernel.run_batch(first_sample_index + int(s), *arguments, frames[s:s + 1],
                             no_drive(), scratch, again)
            parts[int(s)] = (again, 0)
        streams = []
        rerun = any(part is not rec for part, _ in parts.values())
        for k, name in enumerate(("selection", "exemptions", "inputs")):
            if not rerun:  # one gather: every sample's part from the one recording
                ends = np.cumsum(needed[:, k])
                shift = np.repeat(rec.offsets[:, k] - (ends - needed[:, k]), needed[:, k])
                streams.append(getattr(rec, name)[np.arange(shift.shape[0]) + shift])
                continue
            pieces = [getattr(part, name)[part.offsets[i, k]:part.offsets[i, k] + needed[s, k]]
                      for s, (part, i) in parts.items()]
            streams.append(np.concatenate(pieces) if pieces else np.zeros(0, np.int64))
        offsets = np.cumsum(needed, axis=0) - needed
        return Trace.from_streams(self.effective_config(), self.network, out.steps, offsets,
                                  streams)

    def _check_data(self, inputs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if labels is None and hasattr(inputs, "labels"):
            labels = inputs.labels
        if hasattr(inputs, "inputs"):
            inputs = inputs.inputs
        frames = self._check_inputs(inputs)
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64)
            if labels.shape != (frames.shape[0],):
                raise InputError(f"field 'labels': expected shape ({frames.shape[0]},), "
                                 f"got {labels.shape}")
        return frames, labels

    def _check_inputs(self, inputs: Any) -> np.ndarray:
        a = np.asarray(inputs)
        n_in = self.network.input_size
        if a.ndim != 3:
            raise InputError(f"field 'inputs': expected a 3-D array (samples, timesteps, "
                             f"features), got shape {a.shape}")
        if a.shape[2] != n_in:
            raise InputError(f"field 'inputs': expected {n_in} features to match the network "
                             f"'{self.network.name}', got {a.shape[2]}")
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise InputError(f"field 'inputs': expected at least one sample and one timestep, "
                             f"got shape {a.shape}")
        if a.dtype != np.uint8:
            if not np.issubdtype(a.dtype, np.number) or np.any(a < 0) or np.any(a > 255) or (
                    np.any(a != np.floor(a))):
                raise InputError("field 'inputs': expected integer spike counts in 0..255")
            a = a.astype(np.uint8)
        return np.ascontiguousarray(a)


def simulate(network: Network, inputs: Any, labels: np.ndarray | None = None,
             **config: Any) -> Report:
    """One-call form: ``simulate(net, inputs, labels, policy="momentum", forward_group=8)``."""
    return Simulator(network, **config).run(inputs, labels)


def early_decision(network: Network | Simulator, inputs: Any, labels: np.ndarray,
                   steps: list[int], threads: int | None = None,
                   **config: Any) -> dict[str, float]:
    """Accuracy against forward steps allowed after the first output spike (paper figure 5).

    Each entry runs the simulation with ``stop="on_output"`` and that many
    ``steps_after_output``; the key ``"drain"`` gives the accuracy after all activity drained.
    ``network`` may be a configured :class:`Simulator` (e.g. a chip's, with its chip model),
    whose other settings are kept; ``config`` then must be empty.
    """
    if isinstance(network, Simulator):
        if config:
            raise InputError("early_decision: give settings to the Simulator, not both")
        base = network
    else:
        config = {k: v for k, v in config.items() if k not in ("stop", "steps_after_output")}
        base = Simulator(network, **config)

    def accuracy(**stop: Any) -> float:
        sim = Simulator(base.network, replace(base.config, **stop), chip=base.chip)
        return sim.run(inputs, labels, threads=threads).accuracy

    result = {str(k): accuracy(stop="on_output", steps_after_output=int(k)) for k in steps}
    result["drain"] = accuracy(stop="drain")
    return result
