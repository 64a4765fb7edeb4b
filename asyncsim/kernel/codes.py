"""Integer codes shared by the kernel and its Python callers: policies, stop conditions, the
per-sample counter columns and the cursor slots of a running sample.

Numba reads module-level integers as compile-time constants, so named columns cost nothing.
"""

from __future__ import annotations

POLICY_RANDOM = 0
POLICY_MOMENTUM = 1
POLICY_FIFO = 2
POLICY_LAYER = 3
POLICY_USER = 4

STOP_DRAIN = 0
STOP_ON_OUTPUT = 1

#: how a pass treats its queue and its stop: as Algorithm 1 of the paper (the default), or as
#: the paper's public code, asynctorch, does (``docs/concepts.md``, "Compatibility")
COMPAT_NONE = 0
COMPAT_ASYNCTORCH = 1

# --------------------------------------------------------------------------------------------
# Per-sample event counters: ``outputs.counters[sample, COLUMN]``.

#: counter names in column order (the report exposes each as a per-sample array)
COUNTER_NAMES = (
    "sops",                         # currents delivered by network spikes
    "input_sops",                   # currents delivered by input spikes (count x fan-out)
    "effective_sops",               # delivered currents with a non-zero weight, input included
    "delivered_spikes",             # network spikes delivered
    "delivered_input_events",       # queued input events delivered
    "dropped_by_network_dropout",   # selected network spikes removed by network dropout
    "dropped_pending",              # spikes still pending when a pass stopped
    "dropped_input_spikes",         # input spikes removed by input dropout
    "barrier_messages",             # barrier messages, per receiving neuron
    "guard_stops",                  # passes stopped by the max-steps guard
    "neuron_updates",               # neurons that integrated in a forward step, per step
    "routed_spikes",                # (spike, target core) pairs
    "hops",                         # mesh hops travelled by routed spikes
    "critical_sops",                # per step, the busiest core's SOPs, summed
    "critical_neuron_updates",      # per step, the busiest core's updates, summed
    "critical_hops",                # per step, the longest route, summed
    "trace_selection_length",       # entries of the recorded selection stream
    "trace_exemption_length",       # entries of the recorded exemption stream
    "trace_input_length",           # entries of the recorded input-survivor stream
)
(SOPS, INPUT_SOPS, EFFECTIVE_SOPS, DELIVERED_SPIKES, DELIVERED_INPUT_EVENTS,
 DROPPED_BY_NETWORK_DROPOUT, DROPPED_PENDING, DROPPED_INPUT_SPIKES, BARRIER_MESSAGES,
 GUARD_STOPS, NEURON_UPDATES, ROUTED_SPIKES, HOPS, CRITICAL_SOPS, CRITICAL_NEURON_UPDATES,
 CRITICAL_HOPS, TRACE_SELECTION_LENGTH, TRACE_EXEMPTION_LENGTH,
 TRACE_INPUT_LENGTH) = range(len(COUNTER_NAMES))
N_COUNTERS = len(COUNTER_NAMES)

# --------------------------------------------------------------------------------------------
# The cursor of a running sample: the scalars that pass from one step of the driver to the next
# (an int64 array, so that each step is a function that reads and writes them by name).

(STAMP, THIS_BASE, NEXT_BASE, N_NEXT, N_RANGES, N_PENDING, N_INPUT_PENDING, STEP,
 FIRST_OUTPUT_STEP, DELIVERED_THIS_PASS, MAX_ROUTE_HOPS, SELECTION_AT, EXEMPTION_AT,
 INPUT_AT, PASS) = range(15)
N_CURSOR = 15

# --------------------------------------------------------------------------------------------
# Status codes of compiled functions (returned, never folded into a result value).

OK = 0
NEEDS_ROOM = 1        # a buffer sized from an estimate was too small: the caller grows it
TRACE_MISMATCH = 2    # a recorded selection asks for a spike that is not pending
