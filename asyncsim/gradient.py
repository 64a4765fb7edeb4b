"""Differentiable replay of a recorded schedule: the gradient of the loss with respect to the
weights, by an event-based reverse pass in Numba.

The recorded trace (:mod:`asyncsim.trace`) fixes which spikes each forward step delivers. Given
the same weights, the forward replay fires the same neurons at the same steps. Each firing event
``e`` of neuron ``n`` gets a value ``s_e = H(u_e - U_thr)`` (1 in the forward pass) whose
derivative is the arctan surrogate ``(alpha / 2) / (1 + (pi * alpha * v / 2)^2)``, ``v = u_e -
U_thr``. Currents are ``w * s_e`` per delivered synapse; output counts are sums of output events'
values; the loss is the mean cross-entropy of ``softmax(counts)``. Reset is differentiable
(hard: ``u <- u (1 - s)``; soft: ``u <- u - s U_thr``), unless detached (``detach_reset``);
membranes decay between passes.

Choices (documented in ``docs/concepts.md``): every evaluation of an output neuron counts,
firing or not (its zero spike adds to the count with its surrogate derivative, as in a dense
formulation, so silent outputs still learn). A hidden neuron that did not fire at an evaluation
passes no gradient by default; with ``silent_hidden=True`` its zero spike is treated as
delivered in the same forward step as that step's selection (integrated by its targets at the
next step), so gradient flows through neurons below threshold. On a layered schedule (layer
policy, ``F`` >= every layer) this is the gradient of ordinary layer-by-layer BPTT; on an
asynchronous schedule it is a choice, since a spike that did not happen has no place in the
schedule. When a neuron (without refractoriness, or after refractory dropout) has several
pending spikes, a delivery takes its oldest one; a refractory neuron ignores currents, so they
carry no gradient.

The reverse pass walks the events backwards keeping one adjoint per membrane: its time and memory
follow the number of delivered currents and events, not forward steps x neurons.

Supported: aggregated input, LIF/IF, hard/soft reset, refractoriness with refractory dropout,
input and network spike dropout, both stop conditions, every policy. Not yet: queued input,
synchronization thresholds (replay a layered schedule with ``F`` >= every layer and the layer
policy instead). A loss on the output membranes after the last pass (a leaky-integrator
readout) is supported through ``upstream_of="membranes"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from . import kernel
from .compile import CompiledNetwork, compile_network, projection_gradients
from .errors import InputError
from .kernel.codes import TRACE_MISMATCH
from .kernel.drive import InputDrive, batch_drive, check_drive, input_run, no_drive
from .kernel.replay import LossSpec, RecordedBatch, replay_batch
from .network import Network
from .trace import Trace


@dataclass
class Gradient:
    """Loss and gradients of one replay.

    Attributes:
        loss: mean cross-entropy over samples.
        weights: one array per projection (same order and shape as ``network.projections``):
            dloss / dweight.
        output_counts: (S, outputs) output spike counts of the replay (equal to the run's).
        biases: one array per layer (its neurons): dloss / dbias.
    """

    loss: float
    weights: list[np.ndarray]
    output_counts: np.ndarray
    biases: list[np.ndarray] | None = None


def _per_sample_rows(table: np.ndarray, n_samples: int, sort: bool
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a trace table (sample first) without the sample column, grouped by sample
    (sorted by the remaining columns with ``sort``: the replay evaluates neurons in index
    order), and each sample's first row (n_samples + 1 entries)."""
    owner = table[:, 0]
    keys = (table[:, 3], table[:, 2], table[:, 1], owner) if sort else (owner,)
    order = np.lexsort(keys) if table.shape[0] else np.zeros(0, np.int64)
    rows = np.ascontiguousarray(table[order][:, 1:], dtype=np.int64)
    starts = np.searchsorted(owner[order], np.arange(n_samples + 1))
    return rows, starts.astype(np.int64)


def _check_replay(trace: Trace, upstream: np.ndarray | None, upstream_of: str) -> None:
    """Refuse what the replay does not support, before any work."""
    if upstream_of not in ("counts", "membranes"):
        raise InputError(f"field 'upstream_of': expected 'counts' or 'membranes', "
                         f"got {upstream_of!r}")
    if upstream_of == "membranes" and upstream is None:
        raise InputError("field 'upstream': a membrane readout needs dloss/dmembranes "
                         "(upstream), got none")
    cfg = trace.config
    if cfg.input_mode != "aggregated":
        raise InputError("trace: config 'input_mode': the gradient supports 'aggregated' "
                         "input only so far")
    if cfg.sync_threshold != 0 or cfg.synchronization == "layer":
        raise InputError("trace: config 'sync_threshold': the gradient does not support "
                         "synchronization thresholds yet; record a layered schedule with the "
                         "layer policy and F >= every layer instead")


def _recurrent_delay(trace: Trace) -> int:
    """1 when the trace's recurrent spikes arrive in the next timestep (compiled as a delay)."""
    return int(trace.config.recurrent_delivery == "next_timestep")


def replay_gradient(network: Network, inputs: np.ndarray, labels: np.ndarray | None,
                    trace: Trace, alpha: float = 2.0,
                    upstream: np.ndarray | None = None,
                    silent_hidden: bool = False, compiled: Any = None,
                    detach_reset: bool = False,
                    upstream_of: str = "counts") -> Gradient:
    """Loss and weight gradients of the replay of ``trace`` (see the module documentation).

    With ``upstream`` (S, outputs) = dloss/dcounts of any loss, the gradients are those of that
    loss (``labels`` are then ignored and the returned loss is 0). With ``silent_hidden``, hidden
    neurons that stay below threshold at an evaluation pass surrogate gradient too (see the
    module documentation). ``compiled``: the network's :class:`~asyncsim.compile.
    CompiledNetwork` if the caller has it (the simulator that recorded the trace does), to
    save compiling it again. With ``detach_reset``, the reset passes no gradient through the
    spike (``u <- u (1 - sg(s))``, ``sg`` stopping the gradient), as the frameworks' "detach
    reset" option: on long temporal inputs under an asynchronous schedule the full gradient
    can grow by orders of magnitude (docs/training.md). With ``upstream_of="membranes"``,
    ``upstream`` is dloss / d(output membranes after the last pass) instead (a membrane
    readout, e.g. of a leaky-integrator output layer)."""
    _check_replay(trace, upstream, upstream_of)
    recurrent_delay = _recurrent_delay(trace)
    c = compiled if compiled is not None and compiled.recurrent_delay == recurrent_delay \
        else compile_network(network, recurrent_delay=recurrent_delay)
    loss, dweights, dbias, out_counts = _replay_flat(
        c, inputs, labels, trace, alpha, upstream, silent_hidden, detach_reset, upstream_of)
    biases = np.split(dbias, c.layer_offsets[1:-1])
    weights = projection_gradients(network, dweights, recurrent_delay, c.expand_conv)
    return Gradient(loss, weights, out_counts, biases)


def replay_compiled(c: CompiledNetwork, inputs: np.ndarray, labels: np.ndarray | None,
                    trace: Trace, alpha: float = 2.0, upstream: np.ndarray | None = None,
                    silent_hidden: bool = False, detach_reset: bool = False,
                    upstream_of: str = "counts", input_drive: InputDrive | None = None
                    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`replay_gradient` on a compiled network whose recurrent delay matches the
    trace: ``(loss, dloss/dweights, dloss/dbiases, output counts)``
    with the weight gradients in the compiled network's order
    (:func:`~asyncsim.compile.compiled_order`) and one bias gradient per neuron. Training
    keeps its parameters in this order, so no gradient is reshaped per batch. ``input_drive``:
    the summed input currents the simulation used (:meth:`~asyncsim.simulator.Simulator.
    input_drive` of these inputs), to save computing them again."""
    _check_replay(trace, upstream, upstream_of)
    if c.recurrent_delay != _recurrent_delay(trace):
        raise InputError(f"trace: config 'recurrent_delivery': "
                         f"{trace.config.recurrent_delivery!r} does not fit a network compiled "
                         f"with recurrent delay {c.recurrent_delay}")
    return _replay_flat(c, inputs, labels, trace, alpha, upstream, silent_hidden, detach_reset,
                        upstream_of, input_drive)


def _replay_flat(c: CompiledNetwork, inputs, labels, trace: Trace, alpha, upstream,
                 silent_hidden, detach_reset, upstream_of, given_drive=None
                 ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The replay itself, for settings already checked (:func:`replay_compiled`)."""
    inputs = np.ascontiguousarray(inputs, dtype=np.uint8)
    S = inputs.shape[0]
    if upstream is not None:
        labels = np.full(S, -1, dtype=np.int64)
        upstream = np.ascontiguousarray(upstream, dtype=np.float64)
    else:
        labels = np.asarray(labels, dtype=np.int64)
        upstream = np.zeros((S, 1))
    if trace.n_samples != S or trace.steps.shape[1] != inputs.shape[1]:
        raise InputError(f"trace: recorded for {trace.n_samples} samples x "
                         f"{trace.steps.shape[1]} timesteps, got inputs {inputs.shape[:2]}")
    use_survivors = trace.config.input_dropout > 0
    net = kernel.network_arrays(c)
    spec = LossSpec(labels, upstream, float(alpha), bool(silent_hidden), S, bool(detach_reset),
                    upstream_of == "membranes")
    exemptions, exemption_at = _per_sample_rows(trace.exemptions, S, sort=True)
    survivors, survivor_at = _per_sample_rows(trace.input_survivors, S, sort=False)
    blocks = max(1, min(S, numba.get_num_threads()))
    dweights = np.zeros((blocks, c.n_parameters))
    dbias = np.zeros((blocks, c.n_neurons))
    out_counts = np.zeros((S, c.n_outputs), dtype=np.int64)
    losses = np.zeros(S)
    status = np.zeros(S, dtype=np.int64)
    run = None if use_survivors else input_run(c)
    if run is None:
        drive = no_drive()
    elif given_drive is not None:
        check_drive(given_drive, inputs.shape, run)
        drive = given_drive
    else:
        drive = batch_drive(c, inputs, run)
    currents = drive.currents.shape
    input_adjoint = np.zeros((currents[0] * currents[1], currents[2]))
    batch = RecordedBatch(inputs, trace.steps, trace.selection, trace.selection_offsets,
                          exemptions, exemption_at, survivors, survivor_at, use_survivors)
    replay_batch(net, batch, drive, input_adjoint, spec, c.n_neurons * inputs.shape[1] + 1,
                 out_counts, dweights, dbias, losses, status)
    for s in np.flatnonzero(status == TRACE_MISMATCH)[:1]:
        raise InputError(f"trace: sample {s}: the recorded selection asks for a spike that "
                         f"is not pending (the trace belongs to other weights or inputs)")
    # blocks summed in block order: the same total whichever thread ran which block
    dweights = sum(dweights[1:], start=dweights[0]) if blocks > 1 else dweights[0]
    dbias = sum(dbias[1:], start=dbias[0]) if blocks > 1 else dbias[0]
    # summed in sample order, as a running total
    return sum(losses.tolist()) / S, dweights, dbias, out_counts
