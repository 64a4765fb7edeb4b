"""The kernel's entry point: forward passes of every sample of a batch, in parallel over samples.

One forward step (``docs/concepts.md`` has the full story):

1. every neuron that received a message since the last step integrates its summed current and,
   if it has met its synchronization threshold and is not refractory, evaluates ``u > U_thr``
   (:mod:`.evaluate`);
2. the stop condition is checked (:mod:`.passes`);
3. up to ``F`` pending spikes are selected by the scheduling policy (:mod:`.select`);
4. their currents are delivered (one SOP per synapse) and summed per target (:mod:`.deliver`).

Why two parts: :func:`run_sample` allocates a sample's working state; :func:`simulate_sample`
and everything it calls are compiled without Numba's reference counting (``_nrt=False``).
Passing arrays and named tuples of arrays between compiled functions costs an atomic
increment and decrement per array and call where reference counting is on; in the step loop
that was most of the run time. Nothing in the NRT-free part allocates.
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb

from .carry import drop_still_queued
from .codes import COMPAT_ASYNCTORCH
from .deliver import deliver_selected
from .evaluate import integrate_and_evaluate
from .passes import begin_pass, close_step, end_pass, pass_is_over
from .rng import seed_state
from .select import select_spikes
from .state import new_core_work, new_cursor, new_frontier, new_neuron_state, new_queue

#: a sample's working state (see :mod:`.state`): neurons, frontier, queue, core work, cursor
#: and random stream
Scratch = namedtuple("Scratch", ("state", "front", "queue", "work", "at", "rng"))


@nb.njit(cache=True)
def run_sample(sample, global_index, net, chip, settings, user_key, inputs, drive, out, rec,
               capacity):
    """Simulate sample ``sample`` of ``inputs`` with room for ``capacity`` pending spikes;
    returns False if that was not enough (possible only without refractoriness), leaving
    partial results."""
    n_neurons = net.layer_of.shape[0]
    n_inputs = inputs.shape[2]
    scratch = Scratch(new_neuron_state(n_neurons, n_inputs, net.max_delay),
                      new_frontier(n_neurons, n_inputs, capacity), new_queue(capacity),
                      new_core_work(chip.n_cores), new_cursor(n_neurons, rec, sample),
                      seed_state(settings.seed, global_index))
    return simulate_sample(sample, net, chip, settings, user_key, inputs, drive, out, rec,
                           scratch)


@nb.njit(cache=True, _nrt=False)
def simulate_sample(sample, net, chip, settings, user_key, inputs, drive, out, rec, scratch):
    """The forward passes of one sample (see the module documentation)."""
    state, front, queue, work, at, rng = scratch
    for t in range(inputs.shape[1]):
        begin_pass(t, sample, net, settings, user_key, inputs, drive, state, front, queue, out,
                   rec, at, rng)
        while True:
            if not integrate_and_evaluate(t, sample, net, chip, settings, user_key, state,
                                          front, queue, work, out, rec, at, rng):
                return False
            if pass_is_over(sample, settings, out, at):
                break
            n_selected = select_spikes(chip, settings, state, queue, work, at, rng)
            deliver_selected(n_selected, sample, net, chip, settings, state, front, queue,
                             work, out, rec, at, rng)
            if chip.n_cores > 0:
                close_step(sample, work, out, at)
        end_pass(t, sample, chip, settings, state, queue, work, out, at, rng)
    if settings.compat == COMPAT_ASYNCTORCH:
        drop_still_queued(sample, state, out)
    for k in range(out.output_membrane.shape[1]):
        out.output_membrane[sample, k] = state.u[net.output_offset + k]
    return True


@nb.njit(cache=True, parallel=True)
def run_batch(sample_offset, net, chip, settings, user_key, inputs, drive, out, rec):
    """Run every sample of ``inputs`` (samples, timesteps, features); results go to ``out``
    (first axis: sample). ``sample_offset`` is the global index of ``inputs[0]``: it seeds each
    sample's random stream. ``drive``: the inputs' summed currents (:mod:`.drive`), or
    :func:`~.drive.no_drive`."""
    n_neurons = net.layer_of.shape[0]
    for s in nb.prange(inputs.shape[0]):
        # With refractory neurons at most every source is pending once; otherwise the sample
        # is rerun with more room (same random stream, so the same result).
        capacity = n_neurons + inputs.shape[2] + 1
        while not run_sample(s, sample_offset + s, net, chip, settings, user_key, inputs,
                             drive, out, rec, capacity):
            capacity *= 2
            _clear_sample(out, s)


@nb.njit(cache=True)
def _clear_sample(out, s):
    """Forget the partial results of sample ``s`` before it runs again. A function of its
    own, outside the parallel loop: written inside it, these row assignments to the named
    tuple's arrays were lost by Numba 0.68's parallel transform (the partial counts stayed)."""
    out.output_counts[s, :] = 0
    out.output_membrane[s, :] = 0.0
    out.spikes_per_layer[s, :] = 0
    out.counters[s, :] = 0
    out.steps[s, :] = 0
    out.spikes_to_output[s, :] = -1
    out.reactivity[s, :] = 0
