"""What the simulator needs to know of a chip: where each neuron lives (for per-core work,
routes and hops), how many spikes a core may deliver per forward step, and the range a
membrane can hold (the chip's state precision).

A :class:`ChipModel` is built by the chip backend (:class:`asyncsim.hardware.ChipSimulator`)
from a profile and handed to :class:`asyncsim.Simulator`; without one, no per-core work is
counted and membranes are unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernel import ChipArrays, chip_arrays


@dataclass(frozen=True)
class ChipModel:
    """A chip as the simulator sees it.

    Attributes:
        mapping: the core placement and routes
            (:class:`~asyncsim.hardware.mapping.CoreMapping`), or None.
        core_quota: most spikes one core delivers per forward step (0: no per-core limit).
        u_low, u_high: (neurons,) membrane bounds, or None for unbounded.
    """

    mapping: Any = None
    core_quota: int = 0
    u_low: np.ndarray | None = None
    u_high: np.ndarray | None = None

    def arrays(self, n_neurons: int, n_sources: int) -> ChipArrays:
        """The kernel's view of this chip for a network of ``n_neurons`` neurons and
        ``n_sources`` sources (neurons and input features)."""
        return chip_arrays(n_neurons, n_sources, self.mapping, self.core_quota, self.u_low,
                           self.u_high)


NO_CHIP = ChipModel()
