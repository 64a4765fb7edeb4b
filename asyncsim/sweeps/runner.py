"""Running a sweep's points on an executor and collecting their rows.

Executors:

* ``local`` (default): a process pool on this machine, one process per worker (``spawn``ed, so
  each loads the compiled kernel from Numba's cache);
* ``serial``: in this process, one point after another (debugging, tiny sweeps);
* ``dask``: a Dask cluster. With ``scheduler`` (an address such as ``tcp://host:8786``) it
  connects to a running cluster, whose workers must have asyncsim installed; without, it starts
  a local cluster of ``workers`` processes.

Every point seeds its own simulation from its parameters, so the rows do not depend on the
executor, the number of workers or the order in which points finish.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .evaluate import HARDWARE, METRICS, evaluate_point
from .results import ResultsFile
from .spec import Point, SweepSpec, load_sweep

EXECUTORS = ("local", "serial", "dask")


@dataclass
class SweepSummary:
    """What a sweep run did.

    Attributes:
        total: points in the sweep.
        skipped: points already in the results file (a resumed sweep), not run again.
        succeeded: points run now that succeeded.
        failed: points run now that failed (their rows hold the error).
        seconds: wall-clock time of this run.
        results: the results file.
    """

    total: int
    skipped: int
    succeeded: int
    failed: int
    seconds: float
    results: str

    def line(self) -> str:
        return (f"{self.total} points: {self.succeeded} succeeded, {self.failed} failed, "
                f"{self.skipped} already done; {self.seconds:.1f} s; results in {self.results}")


def columns(spec: SweepSpec) -> list[str]:
    """The results table's header."""
    return (["index", "point_id", "model", "profile", "repeat", *spec.parameter_names,
             "status", "error", "seconds", *METRICS, *HARDWARE])


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    on_row: Callable[[dict[str, Any], int], None] | None = None,
) -> SweepSummary:
    """Run every point of ``spec`` not yet in ``out`` and append its row as it finishes.

    Args:
        spec: a :class:`SweepSpec` or the path of a sweep YAML file.
        out: the results CSV file.
        executor: ``local``, ``serial`` or ``dask`` (see the module documentation).
        workers: processes (``local``, local ``dask``); default: this machine's cores.
        scheduler: address of a running Dask scheduler (implies ``dask``).
        resume: continue an existing results file, skipping the points it holds.
        retry_failed: with ``resume``, run the failed points again (their rows are replaced).
        on_row: called with each new row and the running count of failures.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec)
    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        raise InputError(f"executor '{executor}': expected one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise InputError(f"workers: expected an integer >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    start = time.perf_counter()
    points = spec.points()
    table = ResultsFile(out, columns(spec), resume=resume)
    rows = table.rows()
    if retry_failed and any(r["status"] != "ok" for r in rows):
        rows = [r for r in rows if r["status"] == "ok"]
        table.rewrite(rows)
    known = {p.point_id for p in points}
    done = {r["point_id"] for r in rows} & known
    todo = [p for p in points if p.point_id not in done]
    succeeded = failed = 0
    for row in _execute(todo, spec.context(), executor, workers, scheduler):
        table.append(row)
        if row["status"] == "ok":
            succeeded += 1
        else:
            failed += 1
        if on_row is not None:
            on_row(row, failed)
    final = {r["point_id"]: r for r in table.rows()}
    table.rewrite([final[p.point_id] for p in points if p.point_id in final]
                  + [r for pid, r in final.items() if pid not in known])
    return SweepSummary(len(points), len(done), succeeded, failed,
                        time.perf_counter() - start, str(out))


def _execute(points: list[Point], context: dict[str, Any], executor: str, workers: int,
             scheduler: str | None) -> Iterator[dict[str, Any]]:
    """Rows of ``points`` in the order they finish."""
    if not points:
        return
    if executor == "serial":
        for point in points:
            yield evaluate_point(point, context)
    elif executor == "local":
        pool = ProcessPoolExecutor(max_workers=min(workers, len(points)),
                                   mp_context=multiprocessing.get_context("spawn"))
        try:
            futures = [pool.submit(evaluate_point, p, context) for p in points]
            for future in as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        yield from _execute_dask(points, context, workers, scheduler)


def _execute_dask(points: list[Point], context: dict[str, Any], workers: int,
                  scheduler: str | None) -> Iterator[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InputError("executor 'dask': install the extra: pip install "
                         "'asyncsim[dask]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=min(workers, len(points)), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(evaluate_point, points, context=context, pure=False)
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
