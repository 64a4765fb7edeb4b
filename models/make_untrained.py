"""Produce the untrained placeholder models shipped in this folder.

Command (run from anywhere after installing asyncsim)::

    python -m asyncsim.shipped_models.make_untrained OUTPUT_FOLDER

The weights are Xavier-uniform with a fixed seed; nobody trained these networks, so their
accuracy is chance level. They exist so that ``asyncsim run`` has something to run until
trained models replace them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from asyncsim import random_feedforward, save_model

COMMAND = "python -m asyncsim.shipped_models.make_untrained"

SPECS = {
    # name: (sizes, dataset, neuron parameters) following the paper's table 6
    "nmnist-untrained": ([2312, 64, 64, 64, 10], "nmnist-like",
                         dict(tau_m_ms=1.0, dt_ms=10.0, threshold=0.3)),
    "shd-untrained": ([350, 128, 128, 128, 20], "shd-like",
                      dict(tau_m_ms=100.0, dt_ms=10.0, threshold=0.3)),
}


def main(folder: str) -> None:
    for name, (sizes, dataset, params) in SPECS.items():
        net = random_feedforward(sizes, seed=0, name=name, trained=False, dataset=dataset,
                                 produced_by=f"{COMMAND} {folder}", weight_seed=0, **params)
        net.description = f"UNTRAINED placeholder ({dataset}, Xavier-uniform, seed 0)"
        save_model(net, Path(folder) / f"{name}.yaml")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
