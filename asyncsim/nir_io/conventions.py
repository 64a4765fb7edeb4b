"""How each framework's NIR export is to be read: NIR stores continuous-time equations and no
timestep, and each exporter writes its own discrete update into them differently. A convention
says how to turn a node's parameters back into the framework's per-timestep update.

asyncsim's update per timestep (layer-synchronized): ``syn <- alpha syn + G (W s + b)`` with a
current-based synapse, ``v <- beta v + syn`` (or ``+ G (W s + b)`` with an instant one) ``+ D``,
fire if ``v > U_thr``. Importing finds ``beta``, ``alpha``, the input gain ``G`` (folded into the
incoming weights and the bias) and the drive ``D`` from ``v_leak``.

=========  ===========  ======================================================  =============
name       time unit    update                                                  reset
=========  ===========  ======================================================  =============
nir        seconds      forward Euler: beta = 1 - dt/tau, G = r dt/tau;         zero
                        CUBA: alpha = 1 - dt/tau_syn, G = r w_in dt^2/(tau_m
                        tau_syn)
snntorch   tau written  forward Euler (snnTorch writes tau = dt/(1 - beta) for  subtract_delayed
           for dt 1e-4  its own dt = 1e-4 s, so beta and alpha come back for
                        any --dt)
norse      dt x tau     forward Euler, the synaptic current jumping by w_in S   zero
                        (Norse's LIFCell); Norse writes dt x tau
sinabs     timesteps    exact: beta = exp(-dt/tau), G = r (1 - beta)            subtract
rockpool   seconds      exponential: beta = exp(-dt/tau); the synaptic current  subtract
                        decays once before the membrane sees it (LIFTorch)
=========  ===========  ======================================================  =============

``IF`` nodes integrate ``v <- v + r I`` in every convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Convention:
    """Reading rules of one exporter (see the module documentation).

    Attributes:
        name: the convention's name.
        rule: ``euler``, ``exact`` or ``rockpool``.
        tau_unit: ``seconds``, ``timesteps``, ``snntorch`` (tau for dt 1e-4 s) or ``norse``
            (dt x tau).
        default_reset: the framework's default reset (NIR does not store it).
        default_dt_ms: the timestep to assume when none is given (None: required).
        current_jump: a delivered current changes the synaptic current by ``w_in S`` (Norse)
            instead of ``w_in S dt / tau_syn`` (forward Euler).
        zero_hold_when: reset to zero means ``zero_hold`` (the whole next value zeroed) for
            neurons with a current-based synapse or a recurrent projection (snnTorch's
            Synaptic, RLeaky and RSynaptic; its Leaky keeps the new input).
    """

    name: str
    rule: str
    tau_unit: str
    default_reset: str
    default_dt_ms: float | None
    current_jump: bool = False
    zero_hold_when: bool = False

    def reset_of(self, reset: str, current: bool, recurrent: bool) -> str:
        """The asyncsim reset of a layer whose framework reset is ``reset``."""
        if reset == "zero" and self.zero_hold_when and (current or recurrent):
            return "zero_hold"
        return reset

    def tau_seconds(self, tau: np.ndarray, dt_s: float) -> np.ndarray:
        """The time constant in seconds for a model simulated with timestep ``dt_s``."""
        if self.tau_unit == "timesteps":
            return tau * dt_s
        if self.tau_unit == "snntorch":
            return tau * dt_s / 1e-4
        if self.tau_unit == "norse":
            return tau / dt_s
        return tau


CONVENTIONS = {c.name: c for c in (
    Convention("nir", "euler", "seconds", "zero", None),
    Convention("snntorch", "euler", "snntorch", "subtract_delayed", 1.0, zero_hold_when=True),
    Convention("norse", "euler", "norse", "zero", 1.0, current_jump=True),
    Convention("sinabs", "exact", "timesteps", "subtract", 1.0),
    Convention("rockpool", "rockpool", "seconds", "subtract", 1.0),
)}


def get_convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        raise InputError(f"field 'convention': expected one of {list(CONVENTIONS)}, got "
                         f"{name!r}")
    return CONVENTIONS[name]


def _decay(rule: str, dt_s: float, tau: np.ndarray) -> np.ndarray:
    return 1.0 - dt_s / tau if rule == "euler" else np.exp(-dt_s / tau)


def discretize(kind: str, p: dict[str, np.ndarray], conv: Convention, dt_s: float,
               where: str) -> dict[str, Any]:
    """Per-neuron ``beta`` (None for IF), ``alpha`` (None for instant synapses), ``gain``
    and ``drive`` of a neuron node ``kind`` with parameters ``p`` (arrays of the layer's
    size)."""
    r = p["r"]
    if kind == "IF":
        return dict(beta=None, alpha=None, gain=r.copy(), drive=np.zeros_like(r))
    current = kind.startswith("Cuba")
    tau_m = conv.tau_seconds(p["tau_mem" if current else "tau"], dt_s)
    beta = _decay(conv.rule, dt_s, tau_m)
    if np.any(beta <= 0) or np.any(beta >= 1) or not np.all(np.isfinite(beta)):
        raise InputError(f"{where}: its time constant with dt {dt_s * 1e3:g} ms gives a decay "
                         f"per step outside (0, 1); expected dt < tau (check --dt and the "
                         f"convention)")
    membrane_gain = {"euler": dt_s / tau_m, "exact": 1.0 - beta,
                     "rockpool": (dt_s / tau_m) / beta}[conv.rule] * r
    drive = {"euler": dt_s / tau_m, "exact": 1.0 - beta, "rockpool": dt_s / tau_m}[
        conv.rule] * p["v_leak"]
    if not current:
        return dict(beta=beta, alpha=None, gain=membrane_gain, drive=drive)
    if np.any(p["v_leak"] != 0):
        raise InputError(f"{where}: field 'v_leak': a non-zero leak potential with a "
                         f"current-based synapse is not supported")
    tau_s = conv.tau_seconds(p["tau_syn"], dt_s)
    alpha = _decay(conv.rule, dt_s, tau_s)
    if np.any(alpha < 0) or np.any(alpha >= 1) or not np.all(np.isfinite(alpha)):
        raise InputError(f"{where}: its synaptic time constant with dt {dt_s * 1e3:g} ms gives "
                         f"a decay per step outside [0, 1)")
    if conv.rule == "rockpool":
        synaptic_gain = alpha
    elif conv.current_jump or conv.rule == "exact":
        synaptic_gain = np.ones_like(alpha) if conv.current_jump else 1.0 - alpha
    else:
        synaptic_gain = dt_s / tau_s
    return dict(beta=beta, alpha=alpha, gain=membrane_gain * synaptic_gain * p["w_in"],
                drive=np.zeros_like(r))


def to_milliseconds(decay: np.ndarray, dt_ms: float) -> Any:
    """The time constant (ms) whose ``exp(-dt / tau)`` is ``decay`` (a number if uniform)."""
    tau = -dt_ms / np.log(decay)
    return float(tau[0]) if np.allclose(tau, tau[0], rtol=1e-12, atol=0) else tau


def uniform_or_array(values: np.ndarray) -> Any:
    return float(values[0]) if np.all(values == values[0]) else values


