"""The kernel's arguments, in named groups: what it reads (network, chip, run settings) and what
it writes (outputs, recording). Each group is a named tuple of flat arrays and scalars, so that
compiled functions take a handful of arguments and read fields by name.

Python builds the groups once per run (:func:`network_arrays`, :func:`chip_arrays`,
:func:`run_settings`, :func:`allocate_outputs`, :func:`recording`); the field types never change,
so Numba's on-disk cache serves every run.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from .codes import N_COUNTERS

NetworkArrays = namedtuple("NetworkArrays", (
    "fanout_start",    # (N + N_in + 1,) int64 CSR row pointers of immediate synapses
    "delay_start",     # (N + N_in + 1,) int64 CSR row pointers of delayed synapses
    "targets",         # (synapses,) int64 target neuron of each synapse
    "weights",         # (synapses,) float64
    "delays",          # (synapses,) int64 timesteps (0 for immediate synapses)
    "target_first",    # (N + N_in,) int64 first target of a contiguous run of targets, or -1
    "fanout",          # (N + N_in,) int64 synapses per source, immediate and delayed
    "nonzero_fanout",  # (N + N_in,) int64 synapses with a non-zero weight
    "layer_of",        # (N,) int64
    "threshold",       # (N,) float64 (infinite for leaky integrators)
    "decay",           # (N,) float64 membrane factor between passes
    "reset_amount",    # (N,) float64 what a subtractive reset subtracts
    "bias",            # (N,) float64 current per pass, membrane units
    "syn_decay",       # (N,) float64 synaptic current factor between passes
    "soft_reset",      # (N,) uint8 subtractive reset
    "hold",            # (N,) uint8 held at zero through the pass after a spike
    "is_current",      # (N,) uint8 current-based synapse
    "refractory",      # (N,) uint8
    "is_output",       # (N,) uint8
    "input_fanin",     # (N,) int64 presynaptic input features
    "output_offset",   # int: first output neuron
    "max_delay",       # int: longest delay (0: no delayed synapses)
    "pass_start",      # bool: biases, current synapses or held neurons act at pass start
    "any_current",     # bool: some neurons have current-based synapses
    # convolutions without per-synapse rows (see .conv): targets and weights derived from
    # each source's position at delivery time
    "conv",            # (P, N_CONV_COLUMNS) int64 one descriptor per convolution
    "conv_start",      # (L + 2,) int64 first descriptor of each source layer (L: the input)
    "conv_axes",       # (rows, N_AXIS_COLUMNS) int64 per input row and column of each
                       #   convolution: the kernel offsets and outputs it reaches
    "conv_weights",    # float64 every convolution's kernel (in conv.kernel_layout order)
    "has_conv",        # bool: some descriptors
))

ChipArrays = namedtuple("ChipArrays", (
    "core_of",         # (N,) int64 core of each neuron (zeros without a chip)
    "route_start",     # (N + N_in + 1,) int64 CSR over the cores each source reaches
    "route_core",      # int64 target core of each route
    "route_synapses",  # int64 synapses on that core
    "route_hops",      # int64 mesh hops to that core
    "n_cores",         # int: 0 without a chip (no per-core accounting)
    "core_quota",      # int: most spikes a core may deliver per forward step (0: no quota)
    "u_low",           # (N,) float64 lowest membrane value (state precision)
    "u_high",          # (N,) float64 highest membrane value
))

RunSettings = namedtuple("RunSettings", (
    "seed", "policy", "forward_group", "stop", "steps_after_output", "momentum_noise",
    "queued_input", "prioritize_input", "refractory_dropout", "input_dropout",
    "network_dropout", "emit_barriers", "max_steps",
    "sync_threshold",  # (N,) int64 messages a neuron needs in a pass before it may fire
    "sync_in_use",     # bool: any synchronization threshold above 0
    "compat",          # int: COMPAT_NONE, or COMPAT_ASYNCTORCH (the paper code's queue and stop)
))

Outputs = namedtuple("Outputs", (
    "output_counts",     # (S, outputs) int64
    "output_membrane",   # (S, outputs) float64 after the last pass
    "spikes_per_layer",  # (S, layers) int64
    "counters",          # (S, N_COUNTERS) int64, columns in codes.COUNTER_NAMES
    "steps",             # (S, T) int64 forward steps of each pass
    "spikes_to_output",  # (S, T) int64 deliveries before the first output spike, or -1
    "reactivity",        # (S, bins) int64 spikes by currents integrated before them
))

Recording = namedtuple("Recording", (
    "enabled",     # bool
    "offsets",     # (S, 3) int64 start of each sample's part of each stream
    "limits",      # (S, 3) int64 end of each sample's part (a sample that needs more stops
                   #   writing; its counters say how much it needed)
    "selection",   # int64 stream (see asyncsim.trace)
    "exemptions",  # int64 stream of (timestep, step, neuron) triples
    "inputs",      # int64 stream of (timestep, feature, surviving count) triples
))


def network_arrays(compiled: Any) -> NetworkArrays:
    """The kernel's view of a :class:`~asyncsim.compile.CompiledNetwork`."""
    c = compiled
    return NetworkArrays(
        c.fanout_start, c.delay_start, c.targets, c.weights, c.delays, c.target_first, c.fanout,
        c.nonzero_fanout, c.layer_of, c.threshold, c.decay, c.reset_amount, c.bias,
        c.syn_decay, c.soft_reset, c.hold, c.is_current, c.refractory, c.is_output,
        c.input_fanin, int(c.output_offset), int(c.max_delay),
        bool(c.has_bias or c.has_current_synapses or np.any(c.hold)),
        bool(c.has_current_synapses), c.conv, c.conv_start, c.conv_axes, c.conv_weights,
        bool(c.conv.shape[0] > 0))


def chip_arrays(n_neurons: int, n_sources: int, mapping: Any = None, core_quota: int = 0,
                u_low: np.ndarray | None = None, u_high: np.ndarray | None = None) -> ChipArrays:
    """Core placement, routes, quota and membrane bounds; without a ``mapping`` (a
    :class:`~asyncsim.hardware.mapping.CoreMapping`) no per-core work is counted."""
    low = np.full(n_neurons, -np.inf) if u_low is None else np.asarray(u_low, np.float64)
    high = np.full(n_neurons, np.inf) if u_high is None else np.asarray(u_high, np.float64)
    if mapping is None:
        empty = np.zeros(0, dtype=np.int64)
        return ChipArrays(np.zeros(n_neurons, np.int64), np.zeros(n_sources + 1, np.int64),
                          empty, empty, empty, 0, int(core_quota), low, high)
    m = mapping
    return ChipArrays(m.core_of, m.route_start, m.route_core, m.route_synapses, m.route_hops,
                      int(m.n_cores), int(core_quota), low, high)


def run_settings(*, seed: int, policy_code: int, forward_group: int, stop_code: int,
                 steps_after_output: int, momentum_noise: float, queued_input: bool,
                 prioritize_input: bool, refractory_dropout: float, input_dropout: float,
                 network_dropout: float, emit_barriers: bool, max_steps: int,
                 sync_threshold: np.ndarray, compat: int = 0) -> RunSettings:
    """Run settings with fixed scalar types (so that the compiled kernel is reused)."""
    sync = np.ascontiguousarray(sync_threshold, dtype=np.int64)
    return RunSettings(int(seed), int(policy_code), int(forward_group), int(stop_code),
                       int(steps_after_output), float(momentum_noise), bool(queued_input),
                       bool(prioritize_input), float(refractory_dropout), float(input_dropout),
                       float(network_dropout), bool(emit_barriers), int(max_steps), sync,
                       bool(np.any(sync > 0)), int(compat))


def allocate_outputs(n_samples: int, n_timesteps: int, n_outputs: int, n_layers: int,
                     histogram_bins: int) -> Outputs:
    """Zeroed outputs for ``n_samples`` samples."""
    return Outputs(
        np.zeros((n_samples, n_outputs), dtype=np.int64),
        np.zeros((n_samples, n_outputs)),
        np.zeros((n_samples, n_layers), dtype=np.int64),
        np.zeros((n_samples, N_COUNTERS), dtype=np.int64),
        np.zeros((n_samples, n_timesteps), dtype=np.int64),
        np.full((n_samples, n_timesteps), -1, dtype=np.int64),
        np.zeros((n_samples, histogram_bins), dtype=np.int64),
    )


def outputs_slice(out: Outputs, start: int, stop: int) -> Outputs:
    """The outputs of samples ``start .. stop - 1`` (views: the kernel writes through)."""
    return Outputs(*(a[start:stop] for a in out))


def recording(capacity: np.ndarray | None = None) -> Recording:
    """Recording buffers with room for ``capacity`` (S, 3) entries of each sample in each
    stream, laid out sample after sample; without arguments, recording is off."""
    if capacity is None:
        empty = np.zeros(0, dtype=np.int64)
        none = np.zeros((0, 3), dtype=np.int64)
        return Recording(False, none, none, empty, empty, empty)
    capacity = np.asarray(capacity, dtype=np.int64)
    ends = np.cumsum(capacity, axis=0)
    totals = ends[-1] if len(ends) else np.zeros(3, dtype=np.int64)
    streams = [np.zeros(int(n), dtype=np.int64) for n in totals]
    return Recording(True, np.ascontiguousarray(ends - capacity),
                     np.ascontiguousarray(ends), *streams)


def recording_slice(rec: Recording, start: int, stop: int) -> Recording:
    """The recording of samples ``start .. stop - 1`` (streams are shared, offsets sliced)."""
    if not rec.enabled:
        return rec
    return rec._replace(offsets=rec.offsets[start:stop], limits=rec.limits[start:stop])
