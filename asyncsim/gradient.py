"""Differentiable replay of a recorded schedule: the gradient of the loss with respect to the
weights, by an event-based reverse pass in Numba.

The recorded trace (:mod:`asyncsim.trace`) fixes which spikes each forward step delivers. Given
the same weights, the forward replay fires the same neurons at the same steps. Each firing event
``e`` of neuron ``n`` gets a value ``s_e = H(u_e - U_thr)`` (1 in the forward pass) whose
derivative is the arctan surrogate ``(alpha / 2) / (1 + (pi * alpha * v / 2)^2)``, ``v = u_e -
U_thr``. Currents are ``w * s_e`` per delivered synapse; output counts are sums of output events'
values; the loss is the mean cross-entropy of ``softmax(counts)``. Reset is differentiable
(hard: ``u <- u (1 - s)``; soft: ``u <- u - s U_thr``); membranes decay between passes.

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
policy instead), membrane readout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from .compile import compile_network, projection_gradients
from .errors import InputError
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
    """

    loss: float
    weights: list[np.ndarray]
    output_counts: np.ndarray


@nb.njit(cache=True, inline="always")
def _surrogate(v, alpha):
    a = np.pi * alpha * v / 2.0
    return (alpha / 2.0) / (1.0 + a * a)


@nb.njit(cache=True)
def _cross_entropy(counts, y, n_samples, dcount):
    """Cross-entropy of softmax(counts) for class ``y``; writes dloss/dcounts / n_samples."""
    n_out = counts.shape[0]
    top = counts[0]
    for k in range(n_out):
        top = max(top, counts[k])
    total = 0.0
    for k in range(n_out):
        total += np.exp(counts[k] - top)
    for k in range(n_out):
        dcount[k] = (np.exp(counts[k] - top) / total - (1.0 if k == y else 0.0)) / n_samples
    return -(counts[y] - top - np.log(total))


@nb.njit(cache=True)
def _replay_sample(
    s, fanout_start, targets, weights, threshold, decay, soft_reset, refractory, is_output,
    output_offset, n_neurons, inputs, steps, selection, sel_start, exemptions, survivors,
    use_survivors, labels, upstream, alpha, silent_hidden, n_samples, capacity, out_counts,
    dweights,
):
    """Forward replay and reverse pass of sample ``s``; adds its gradient to ``dweights`` and
    returns its loss, or -1.0 if more than ``capacity`` events were needed. With labels < 0 the
    reverse pass starts from ``upstream[s]`` (dloss/dcounts) instead of the cross-entropy."""
    n_steps_total = steps.shape[1]
    n_inputs = inputs.shape[2]
    n_out = out_counts.shape[1]
    # event log: firing events and deliveries, in chronological order
    ev_neuron = np.empty(capacity, dtype=np.int64)
    ev_pass = np.empty(capacity, dtype=np.int64)
    ev_step = np.empty(capacity, dtype=np.int64)
    ev_upre = np.empty(capacity)
    ev_next = np.full(capacity, -1, dtype=np.int64)  # next pending event of the same neuron
    # evaluations that did not fire: an output's zero spike still counts; with
    # ``silent_hidden`` a hidden neuron's zero spike is delivered in the same forward step
    sl_neuron = np.empty(capacity, dtype=np.int64)
    sl_pass = np.empty(capacity, dtype=np.int64)
    sl_step = np.empty(capacity, dtype=np.int64)
    sl_u = np.empty(capacity)
    n_sl = 0
    dl_event = np.empty(capacity, dtype=np.int64)
    dl_pass = np.empty(capacity, dtype=np.int64)
    dl_step = np.empty(capacity, dtype=np.int64)
    n_ev = 0
    n_dl = 0
    frozen_from = np.full((n_steps_total, n_neurons), 1 << 40, dtype=np.int64)
    counts = np.zeros((n_steps_total, n_inputs), dtype=np.int64)

    u = np.zeros(n_neurons)
    x = np.zeros(n_neurons)
    # neurons that received something since the last step: a list, and a stamp per neuron
    touched = np.zeros(n_neurons, dtype=np.int64)
    listed = np.empty(n_neurons, dtype=np.int64)
    n_listed = 0
    stamp = 1
    exempt_at = np.zeros(n_neurons, dtype=np.int64)  # == stamp: exempt in this step
    head = np.full(n_neurons, -1, dtype=np.int64)
    tail = np.full(n_neurons, -1, dtype=np.int64)
    at = sel_start
    ex = 0
    sv = 0
    for t in range(n_steps_total):
        for n in range(n_neurons):
            u[n] *= decay[n]
            x[n] = 0.0
            head[n] = -1
            tail[n] = -1
        stamp += 1
        n_listed = 0
        for f in range(n_inputs):
            counts[t, f] = inputs[s, t, f]
        if use_survivors:
            for f in range(n_inputs):
                counts[t, f] = 0
            while sv < survivors.shape[0] and survivors[sv, 0] == t:
                counts[t, survivors[sv, 1]] = survivors[sv, 2]
                sv += 1
        for f in range(n_inputs):
            c = counts[t, f]
            if c > 0:
                src = n_neurons + f
                for j in range(fanout_start[src], fanout_start[src + 1]):
                    tgt = targets[j]
                    x[tgt] += weights[j] * c
                    if touched[tgt] != stamp:
                        touched[tgt] = stamp
                        listed[n_listed] = tgt
                        n_listed += 1
        for i in range(steps[s, t]):
            # exemptions from refractoriness recorded for this step
            while ex < exemptions.shape[0] and exemptions[ex, 0] == t and exemptions[ex, 1] == i:
                exempt_at[exemptions[ex, 2]] = stamp
                ex += 1
            # integrate and evaluate the listed neurons
            n_now = n_listed
            stamp += 1
            n_listed = 0
            for k in range(n_now):
                n = listed[k]
                if frozen_from[t, n] < i:
                    x[n] = 0.0
                    continue
                u[n] += x[n]
                x[n] = 0.0
                if (is_output[n] or silent_hidden) and u[n] <= threshold[n]:
                    if n_sl == capacity:
                        return -1.0
                    sl_neuron[n_sl] = n
                    sl_pass[n_sl] = t
                    sl_step[n_sl] = i
                    sl_u[n_sl] = u[n]
                    n_sl += 1
                if u[n] > threshold[n]:
                    if n_ev == capacity:
                        return -1.0
                    e = n_ev
                    n_ev += 1
                    ev_neuron[e] = n
                    ev_pass[e] = t
                    ev_step[e] = i
                    ev_upre[e] = u[n]
                    ev_next[e] = -1
                    if soft_reset[n]:
                        u[n] -= threshold[n]
                    else:
                        u[n] = 0.0
                    exempt = exempt_at[n] == stamp - 1
                    if refractory[n] and not exempt and frozen_from[t, n] > i:
                        frozen_from[t, n] = i
                    if is_output[n]:
                        out_counts[s, n - output_offset] += 1
                    elif tail[n] < 0:
                        head[n] = e
                        tail[n] = e
                    else:
                        ev_next[tail[n]] = e
                        tail[n] = e
            if i == steps[s, t] - 1:
                break  # the last step of a pass only evaluates
            # deliver the recorded selection
            k = selection[at]
            at += 1
            for _ in range(k):
                entry = selection[at]
                at += 1
                src = entry if entry >= 0 else -entry - 1
                e = head[src]
                if e < 0:
                    return -2.0  # the trace does not belong to these weights and inputs
                head[src] = ev_next[e]
                if head[src] < 0:
                    tail[src] = -1
                if entry < 0:
                    continue  # removed by network dropout
                if n_dl == capacity:
                    return -1.0
                dl_event[n_dl] = e
                dl_pass[n_dl] = t
                dl_step[n_dl] = i
                n_dl += 1
                for j in range(fanout_start[src], fanout_start[src + 1]):
                    tgt = targets[j]
                    x[tgt] += weights[j]
                    if touched[tgt] != stamp:
                        touched[tgt] = stamp
                        listed[n_listed] = tgt
                        n_listed += 1

    dcount = np.empty(n_out)
    loss = 0.0
    if labels[s] < 0:
        for k in range(n_out):
            dcount[k] = upstream[s, k]
    else:
        loss = _cross_entropy(out_counts[s], labels[s], n_samples, dcount)
    # reverse pass
    lam = np.zeros(n_neurons)
    ev_ds = np.zeros(n_ev)
    for e in range(n_ev):
        n = ev_neuron[e]
        if is_output[n]:
            ev_ds[e] = dcount[n - output_offset]
    sl_ds = np.zeros(n_sl)
    d = n_dl - 1
    f = n_ev - 1
    q = n_sl - 1
    for t in range(n_steps_total - 1, -1, -1):
        for i in range(steps[s, t] - 1, -1, -1):
            last_step = i == steps[s, t] - 1
            r = q
            while r >= 0 and sl_pass[r] == t and sl_step[r] == i:
                n = sl_neuron[r]
                if is_output[n]:
                    sl_ds[r] = dcount[n - output_offset]
                elif not last_step:
                    # the zero spike's currents, integrated at the next forward step
                    for j in range(fanout_start[n], fanout_start[n + 1]):
                        tgt = targets[j]
                        if i + 1 <= frozen_from[t, tgt]:
                            sl_ds[r] += weights[j] * lam[tgt]
                r -= 1
            while d >= 0 and dl_pass[d] == t and dl_step[d] == i:
                e = dl_event[d]
                src = ev_neuron[e]
                grad_s = 0.0
                for j in range(fanout_start[src], fanout_start[src + 1]):
                    tgt = targets[j]
                    if i + 1 <= frozen_from[t, tgt]:
                        g = lam[tgt]
                        grad_s += weights[j] * g
                        dweights[j] += g
                ev_ds[e] += grad_s
                d -= 1
            while f >= 0 and ev_pass[f] == t and ev_step[f] == i:
                n = ev_neuron[f]
                v = ev_upre[f] - threshold[n]
                if soft_reset[n]:
                    ds = ev_ds[f] - lam[n] * threshold[n]
                    lam[n] = lam[n] + ds * _surrogate(v, alpha)
                else:
                    ds = ev_ds[f] - lam[n] * ev_upre[f]
                    lam[n] = ds * _surrogate(v, alpha)
                f -= 1
            while q >= 0 and sl_pass[q] == t and sl_step[q] == i:
                # s = H(u - U_thr) = 0 adds to the count or is delivered; the reset u (1 - s) or
                # u - s U_thr (soft) still depends on u through s
                n = sl_neuron[q]
                grad = _surrogate(sl_u[q] - threshold[n], alpha)
                through_reset = threshold[n] if soft_reset[n] else sl_u[q]
                lam[n] = lam[n] * (1.0 - through_reset * grad) + sl_ds[q] * grad
                q -= 1
        # input currents integrated at step 0
        for fi in range(n_inputs):
            c = counts[t, fi]
            if c > 0:
                src = n_neurons + fi
                for j in range(fanout_start[src], fanout_start[src + 1]):
                    dweights[j] += c * lam[targets[j]]
        for n in range(n_neurons):
            lam[n] *= decay[n]
    return loss


def replay_gradient(network: Network, inputs: np.ndarray, labels: np.ndarray | None,
                    trace: Trace, alpha: float = 2.0,
                    upstream: np.ndarray | None = None,
                    silent_hidden: bool = False) -> Gradient:
    """Loss and weight gradients of the replay of ``trace`` (see the module documentation).

    With ``upstream`` (S, outputs) = dloss/dcounts of any loss, the gradients are those of that
    loss (``labels`` are then ignored and the returned loss is 0). With ``silent_hidden``, hidden
    neurons that stay below threshold at an evaluation pass surrogate gradient too (see the
    module documentation)."""
    cfg = trace.config
    if cfg.get("input_mode", "aggregated") != "aggregated":
        raise InputError("trace: config 'input_mode': the gradient supports 'aggregated' "
                         "input only so far")
    if cfg.get("sync_threshold", 0) not in (0, "0") or cfg.get("synchronization") == "layer":
        raise InputError("trace: config 'sync_threshold': the gradient does not support "
                         "synchronization thresholds yet; record a layered schedule with the "
                         "layer policy and F >= every layer instead")
    c = compile_network(network)
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
    use_survivors = float(cfg.get("input_dropout", 0) or 0) > 0
    dweights = np.zeros(c.weights.shape[0])
    out_counts = np.zeros((S, c.n_outputs), dtype=np.int64)
    total = 0.0
    for s in range(S):
        mine_ex = trace.exemptions[trace.exemptions[:, 0] == s][:, 1:]
        # the replay evaluates neurons in index order: sort by (timestep, step, neuron)
        exemptions = np.ascontiguousarray(
            mine_ex[np.lexsort((mine_ex[:, 2], mine_ex[:, 1], mine_ex[:, 0]))])
        survivors = np.ascontiguousarray(
            trace.input_survivors[trace.input_survivors[:, 0] == s][:, 1:])
        capacity = int(trace.selection_offsets[s + 1] - trace.selection_offsets[s]) + (
            c.n_neurons * inputs.shape[1]) + 1
        while True:
            mine = np.zeros_like(dweights)
            out_counts[s] = 0
            loss = _replay_sample(
                s, c.fanout_start, c.targets, c.weights, c.threshold, c.decay, c.soft_reset,
                c.refractory, c.is_output, c.output_offset, c.n_neurons, inputs, trace.steps,
                trace.selection, int(trace.selection_offsets[s]), exemptions, survivors,
                use_survivors, labels, upstream, float(alpha), bool(silent_hidden), S, capacity,
                out_counts, mine)
            if loss == -1.0:
                capacity *= 2
                continue
            if loss == -2.0:
                raise InputError(f"trace: sample {s}: the recorded selection asks for a spike "
                                 f"that is not pending (the trace belongs to other weights or "
                                 f"inputs)")
            break
        dweights += mine
        total += loss
    return Gradient(total / S, _per_projection(network, dweights), out_counts)


def _per_projection(network: Network, flat: np.ndarray) -> list[np.ndarray]:
    """Gradients per synapse (compiled order) back to each projection's (target, source)
    matrix."""
    return projection_gradients(network, flat)
