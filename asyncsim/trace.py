"""Recorded schedules ("traces") of asynchronous runs: format, export and import.

A run with ``Simulator.run(..., record=True)`` (or ``asyncsim run --trace FILE``) records
everything that made it what it was, beyond the weights and inputs: which spikes each forward
step selected, where each pass stopped, and the outcome of every random regularizer. Replaying a
trace with the same weights reproduces the run exactly, with no random numbers: the differentiable
replay (:mod:`asyncsim.gradient`) does it for training, and the reference implementation
(:func:`asyncsim.reference.replay`) for checking a trace.

File format (``.npz``, format version 1):

==================  ===========  ==============================================================
key                 shape        meaning
==================  ===========  ==============================================================
format_version      ()           1
config              ()           JSON text: the simulation settings used (RunConfig)
network             ()           JSON text: name and architecture of the network
steps               (S, T)       forward steps of each pass; a pass has ``steps - 1`` selection
                                 steps (its last step only evaluates)
selection           (L,)         int64 stream: for each sample, timestep and selection step in
                                 order, the count ``n`` of selected spikes, then ``n`` entries:
                                 the source index (neurons first, then input features), or
                                 ``-(source + 1)`` for a spike removed by network dropout;
                                 entries are in delivery (source index) order
selection_offsets   (S + 1,)     start of each sample's part of ``selection``
exemptions          (E, 4)       sample, timestep, forward step, neuron: spikes that did not
                                 make their neuron refractory (refractory dropout)
input_survivors     (I, 4)       sample, timestep, feature, surviving count: for every active
                                 input feature, when input dropout was on (else empty)
==================  ===========  ==============================================================
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_bytes_atomic
from .config import RunConfig
from .errors import InputError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Trace:
    """A recorded schedule (see the module documentation for the fields)."""

    config: RunConfig
    network: dict[str, Any]
    steps: np.ndarray
    selection: np.ndarray
    selection_offsets: np.ndarray
    exemptions: np.ndarray
    input_survivors: np.ndarray

    @property
    def n_samples(self) -> int:
        return int(self.steps.shape[0])

    @classmethod
    def from_streams(cls, config: RunConfig, network, steps: np.ndarray, offsets: np.ndarray,
                     streams: list[np.ndarray]) -> Trace:
        """Assemble from the kernel's per-sample streams (``offsets``: (S, 3) starts)."""
        n = steps.shape[0]
        starts = np.append(offsets[:, 0], streams[0].shape[0]) if n else np.zeros(1, np.int64)
        tables = []
        for k in (1, 2):
            triples = streams[k].reshape(-1, 3)
            owner = np.repeat(np.arange(n), np.diff(np.append(offsets[:, k],
                                                              streams[k].shape[0])) // 3)
            tables.append(np.column_stack([owner, triples]).astype(np.int64))
        info = {"name": network.name, "architecture": network.architecture()}
        return cls(config, info, steps.astype(np.int64), streams[0], starts.astype(np.int64),
                   *tables)

    def schedule(self, sample: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """For each timestep, the selection steps of ``sample``: (sources, dropped mask)."""
        stream = self.selection[self.selection_offsets[sample]:self.selection_offsets[sample + 1]]
        at, passes = 0, []
        for t in range(self.steps.shape[1]):
            steps = []
            for _ in range(max(0, int(self.steps[sample, t]) - 1)):
                n = int(stream[at])
                entries = stream[at + 1:at + 1 + n]
                at += 1 + n
                dropped = entries < 0
                steps.append((np.where(dropped, -entries - 1, entries), dropped))
            passes.append(steps)
        if at != stream.shape[0]:
            raise InputError(f"trace: sample {sample}: selection stream has {stream.shape[0]} "
                             f"entries, the steps account for {at}")
        return passes

    def save(self, path: str | Path) -> None:
        """Write the trace as ``.npz`` (whole or not at all)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, format_version=np.int64(FORMAT_VERSION),
            config=json.dumps(self.config.to_dict()),
            network=json.dumps(self.network), steps=self.steps, selection=self.selection,
            selection_offsets=self.selection_offsets, exemptions=self.exemptions,
            input_survivors=self.input_survivors)
        write_bytes_atomic(path, buffer.getvalue())


def load_trace(path: str | Path) -> Trace:
    """Read a trace file; a missing key or inconsistent shape is a one-line error."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such trace file") from None
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise InputError(f"{path}: not a readable trace (.npz) file ({type(exc).__name__})"
                         ) from None
    keys = ("format_version", "config", "network", "steps", "selection", "selection_offsets",
            "exemptions", "input_survivors")
    for key in keys:
        if key not in data:
            raise InputError(f"{path}: key '{key}' missing (a trace has {', '.join(keys)})")
    if int(data["format_version"]) != FORMAT_VERSION:
        raise InputError(f"{path}: key 'format_version': expected {FORMAT_VERSION}, got "
                         f"{int(data['format_version'])}")
    steps = data["steps"]
    offsets = data["selection_offsets"]
    if steps.ndim != 2 or offsets.shape != (steps.shape[0] + 1,) or (
            offsets[-1] != data["selection"].shape[0]):
        raise InputError(f"{path}: keys 'steps'/'selection_offsets' do not fit: steps "
                         f"{steps.shape}, offsets {offsets.shape}, selection "
                         f"{data['selection'].shape}")
    for key in ("exemptions", "input_survivors"):
        if data[key].ndim != 2 or data[key].shape[1] != 4:
            raise InputError(f"{path}: key '{key}': expected shape (k, 4), got "
                             f"{data[key].shape}")
    try:
        config = RunConfig.from_dict(json.loads(str(data["config"])))
        network = json.loads(str(data["network"]))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: keys 'config'/'network': not the JSON of a run's settings "
                         f"({exc})") from None
    return Trace(config, network,
                 steps.astype(np.int64), data["selection"].astype(np.int64),
                 offsets.astype(np.int64), data["exemptions"].astype(np.int64),
                 data["input_survivors"].astype(np.int64))
