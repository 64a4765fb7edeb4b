"""Executable specifications: slow, readable programs that define what the compiled code must
compute. They are not used to produce results; tests compare the production code with them.

* :func:`reference_run` and :func:`replay` (:mod:`.simulation`): the forward pass of
  ``docs/concepts.md`` in plain Python, and the replay of a recorded trace;
* :func:`simpy_run` (:mod:`.chip`): a process-based chip model of the synchronization styles
  (cores, inboxes, an arbiter), written with simpy.
"""

from .chip import simpy_run
from .simulation import reference_run, replay

__all__ = ["reference_run", "replay", "simpy_run"]
