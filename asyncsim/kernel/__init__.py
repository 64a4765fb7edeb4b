"""The Numba event kernel: forward passes of a compiled network over a batch of samples.

The kernel sees only flat arrays, in named groups (:mod:`.layout`): the network
(:data:`NetworkArrays`, built from :class:`asyncsim.compile.CompiledNetwork`), the chip
(:data:`ChipArrays`), the run settings (:data:`RunSettings`), the outputs (:data:`Outputs`)
and the recording buffers (:data:`Recording`). Sources are indexed ``0 .. N-1`` for network
neurons (layer by layer) and ``N .. N+N_in-1`` for input features; one CSR table
(``fanout_start``, ``targets``, ``weights``) gives every source's outgoing synapses, except
those of convolutions, which :mod:`.conv` derives from descriptors (``conv``, ``conv_weights``).

Modules: :mod:`.driver` (per sample and batch), :mod:`.passes` (start, stop and end of a
pass), :mod:`.evaluate` (integrate, evaluate, fire), :mod:`.select` (scheduling policies),
:mod:`.deliver` (currents to targets), :mod:`.conv` (convolution targets from descriptors),
:mod:`.state` (per-sample working state), :mod:`.heap` and :mod:`.rng` (building blocks),
:mod:`.codes` (named integer codes).
"""

from __future__ import annotations

import numba as nb
from numba import types

from .codes import (
    COMPAT_ASYNCTORCH,
    COMPAT_NONE,
    COUNTER_NAMES,
    POLICY_FIFO,
    POLICY_LAYER,
    POLICY_MOMENTUM,
    POLICY_RANDOM,
    POLICY_USER,
    STOP_DRAIN,
    STOP_ON_OUTPUT,
)
from .drive import InputDrive, no_drive
from .driver import run_batch
from .layout import (
    ChipArrays,
    NetworkArrays,
    Outputs,
    Recording,
    RunSettings,
    allocate_outputs,
    chip_arrays,
    network_arrays,
    outputs_slice,
    recording,
    recording_slice,
    run_settings,
)

#: Signature of a user scheduling key: (source index, layer index (-1 for input features),
#: membrane value before the reset (spike count for input features), forward step at which the
#: spike was emitted (-1 for input)) -> priority; the smallest priority is selected first.
USER_KEY_SIGNATURE = types.float64(types.int64, types.int64, types.float64, types.int64)


@nb.cfunc(USER_KEY_SIGNATURE, cache=True)
def _unused_user_key(source, layer, membrane, step):  # pragma: no cover - never called
    return 0.0


UNUSED_USER_KEY = _unused_user_key

__all__ = [
    "COMPAT_ASYNCTORCH", "COMPAT_NONE", "COUNTER_NAMES", "POLICY_FIFO", "POLICY_LAYER",
    "POLICY_MOMENTUM", "POLICY_RANDOM",
    "POLICY_USER", "STOP_DRAIN", "STOP_ON_OUTPUT", "USER_KEY_SIGNATURE", "UNUSED_USER_KEY",
    "ChipArrays", "InputDrive", "NetworkArrays", "Outputs", "Recording", "RunSettings",
    "allocate_outputs", "chip_arrays", "network_arrays", "no_drive", "outputs_slice",
    "recording", "recording_slice", "run_batch", "run_settings",
]
