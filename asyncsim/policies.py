"""Scheduling policies: which pending spikes a forward step selects.

=========  =========================================================================
policy     selects
=========  =========================================================================
random     ``F`` pending spikes uniformly at random, drawn afresh at every step (RS)
momentum   highest pre-reset membrane first, plus ``momentum_noise * U(0, 1)`` (MS)
fifo       in order of emission (forward step), ties by neuron index
layer      by layer, then by neuron index
user       smallest value of a user key function first, ties by source index
=========  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba as nb

from . import kernel
from .errors import InputError


@dataclass(frozen=True)
class SchedulingPolicy:
    """A policy as the kernel sees it: a code and, for user policies, a compiled key."""

    name: str
    code: int
    user_key: Any = None

    @property
    def compiled_key(self) -> Any:
        return self.user_key if self.user_key is not None else kernel.UNUSED_USER_KEY


RANDOM = SchedulingPolicy("random", kernel.POLICY_RANDOM)
MOMENTUM = SchedulingPolicy("momentum", kernel.POLICY_MOMENTUM)
FIFO = SchedulingPolicy("fifo", kernel.POLICY_FIFO)
LAYER = SchedulingPolicy("layer", kernel.POLICY_LAYER)

BUILTIN = {p.name: p for p in (RANDOM, MOMENTUM, FIFO, LAYER)}
ALIASES = {"rs": "random", "ms": "momentum", "layer-order": "layer", "layer_order": "layer"}


def user_policy(key: Callable[[int, int, float, int], float], name: str = "user") -> (
        SchedulingPolicy):
    """Wrap a key function ``key(source, layer, membrane, step) -> priority``.

    Arguments: ``source`` is the neuron index (input features follow the neurons), ``layer`` its
    layer index (-1 for input features), ``membrane`` the value before the reset (the spike
    count for input features), ``step`` the forward step of emission (-1 for input). The
    smallest priority is selected first. The function is compiled with Numba
    (``numba.cfunc``), so it must use only what Numba supports; a function that is already a
    ``cfunc`` of :data:`asyncsim.kernel.USER_KEY_SIGNATURE` is used as it is.
    """
    if hasattr(key, "address") and hasattr(key, "_sig"):
        compiled = key
    else:
        try:
            compiled = nb.cfunc(kernel.USER_KEY_SIGNATURE)(key)
        except Exception as exc:  # numba raises many error types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"policy '{name}': key function does not compile with Numba: "
                             f"{first}") from exc
    return SchedulingPolicy(name, kernel.POLICY_USER, compiled)


def resolve_policy(policy: str | SchedulingPolicy) -> SchedulingPolicy:
    """Return the policy named ``policy`` (``random``/``rs``, ``momentum``/``ms``, ``fifo``,
    ``layer``) or ``policy`` itself if it is already a :class:`SchedulingPolicy`."""
    if isinstance(policy, SchedulingPolicy):
        return policy
    name = ALIASES.get(str(policy).lower(), str(policy).lower())
    if name not in BUILTIN:
        raise InputError(f"field 'policy': expected one of {sorted(BUILTIN)} (or rs, ms), "
                         f"got {policy!r}")
    return BUILTIN[name]
