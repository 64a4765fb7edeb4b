"""asyncsim: a discrete-event simulator for asynchronous neuromorphic hardware.

Typical use::

    import asyncsim
    net = asyncsim.load_model("nmnist-untrained")
    data = asyncsim.datasets.load_dataset("nmnist-like", n_samples=64)
    report = asyncsim.Simulator(net, policy="momentum", forward_group=8).run(data)
    print(report.summary())
"""

from . import datasets, metrics, policies
from .compile import CompiledNetwork, compile_network
from .config import RunConfig, SimConfig
from .errors import InputError
from .model_io import load_model, save_model, shipped_models
from .network import (
    ConvProjection,
    DenseProjection,
    Layer,
    Network,
    feedforward,
    random_feedforward,
)
from .placement import ChipModel
from .policies import SchedulingPolicy, user_policy
from .provenance import VERSION
from .report import Report
from .simulator import Simulator, early_decision, simulate

__version__ = VERSION

__all__ = [
    "ChipModel", "CompiledNetwork", "ConvProjection", "DenseProjection", "InputError", "Layer",
    "Network", "Report", "RunConfig", "SchedulingPolicy", "SimConfig", "Simulator",
    "compile_network", "datasets", "early_decision", "feedforward", "load_model", "metrics",
    "policies", "random_feedforward", "save_model", "shipped_models", "simulate", "user_policy",
    "__version__",
]
