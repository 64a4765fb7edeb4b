"""Hardware sweeps: many (model, chip, schedule) points from one YAML file, run in parallel or
on a Dask cluster, with results that survive interruption. See ``docs/sweeps.md``.

Example::

    from asyncsim.sweeps import load_sweep, run_sweep, read_results
    summary = run_sweep(load_sweep("sweep.yaml"), "results.csv", workers=4)
    rows = read_results("results.csv")
"""

from .evaluate import HARDWARE, METRICS, evaluate_point
from .results import ResultsFile, read_results
from .runner import EXECUTORS, SweepSummary, columns, run_sweep
from .spec import Point, SweepSpec, load_sweep, parse_sweep

__all__ = ["EXECUTORS", "HARDWARE", "METRICS", "Point", "ResultsFile", "SweepSpec",
           "SweepSummary", "columns", "evaluate_point", "load_sweep", "parse_sweep",
           "read_results", "run_sweep"]
