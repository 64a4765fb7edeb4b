"""Running a sweep's points on an executor and collecting their rows.

Executors:

* ``local`` (default): a process pool on this machine, one process per worker (``spawn``ed, so
  each loads the compiled kernel from Numba's cache); workers die with the process that started
  them;
* ``serial``: in this process, one point after another (debugging, tiny sweeps);
* ``dask``: a Dask cluster. With ``scheduler`` (an address such as ``tcp://host:8786``) it
  connects to a running cluster, whose workers need asyncsim installed (the same version: a
  mismatch is refused) but no access to the sweep's files; without, it starts a local cluster
  of ``workers`` processes.

The client loads the models, the dataset and the profiles once (:meth:`SweepSpec.resources`)
and ships them to the workers (pool initializer, or Dask's scatter). Every point seeds its own
simulation from its parameters, so the rows do not depend on the executor, the number of
workers or the order in which points finish. Nothing is written before the spec, the output
path and the executor have been checked.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import check_output_path
from ..errors import InputError
from ..provenance import version_string
from .evaluate import HARDWARE, METRICS, evaluate_point
from .results import ResultsFile
from .spec import Point, SweepResources, SweepSpec, load_sweep

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
             "status", "error", "seconds", "asyncsim_version", *METRICS, *HARDWARE])


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
    connect_timeout: float = 10.0,
    allow_large: bool = False,
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
        connect_timeout: seconds to wait for the Dask scheduler.
        allow_large: accept sweeps above the size limits (:mod:`asyncsim.limits`).
    """
    if not isinstance(spec, SweepSpec):
        spec = load_sweep(spec, allow_large=allow_large)
    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        raise InputError(f"executor '{executor}': expected one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise InputError(f"workers: expected an integer >= 1, got {workers}")
    workers = workers or os.cpu_count() or 1
    check_output_path(out, "results file")
    start = time.perf_counter()
    resources = spec.resources()
    points = spec.points()
    with _executor(executor, workers, scheduler, connect_timeout, resources,
                   len(points)) as execute:
        table = ResultsFile(out, columns(spec), resume=resume)
        rows = table.rows()
        if retry_failed and any(r["status"] != "ok" for r in rows):
            rows = [r for r in rows if r["status"] == "ok"]
            table.rewrite(rows)
        known = {p.point_id for p in points}
        done = {r["point_id"] for r in rows} & known
        todo = [p for p in points if p.point_id not in done]
        succeeded = failed = 0
        for row in execute(todo, spec.context()):
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


Execute = Callable[[list[Point], dict[str, Any]], Iterator[dict[str, Any]]]


@contextmanager
def _executor(executor: str, workers: int, scheduler: str | None, connect_timeout: float,
              resources: SweepResources, n_points: int) -> Iterator[Execute]:
    """A function that runs points and yields their rows as they finish, ready before any
    file is written (a Dask scheduler is reached, and its workers' versions checked)."""
    if executor == "serial":
        yield lambda points, context: (evaluate_point(p, context, resources) for p in points)
    elif executor == "local":
        pool = ProcessPoolExecutor(max_workers=max(1, min(workers, n_points)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker,
                                   initargs=(resources, os.getpid()))
        try:
            yield lambda points, context: _pool_rows(pool, points, context)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        with _dask(workers, scheduler, connect_timeout, resources, n_points) as execute:
            yield execute


def _pool_rows(pool: ProcessPoolExecutor, points: list[Point],
               context: dict[str, Any]) -> Iterator[dict[str, Any]]:
    futures = [pool.submit(_evaluate_in_worker, p, context) for p in points]
    for future in as_completed(futures):
        yield future.result()


# --------------------------------------------------------------------------------------------
# Pool workers: resources once per worker, and death with the parent

_worker_resources: SweepResources | None = None


def _start_worker(resources: SweepResources, parent: int) -> None:
    global _worker_resources
    die_with_parent(parent)
    _worker_resources = resources


def _evaluate_in_worker(point: Point, context: dict[str, Any]) -> dict[str, Any]:
    return evaluate_point(point, context, _worker_resources)


def die_with_parent(parent: int) -> None:
    """Make this process end when its parent (process id ``parent``) does, even by ``kill
    -9``: the kernel's parent-death signal on Linux, and a watchdog thread elsewhere. A parent
    that died before this call (while the worker was starting) ends it at once."""
    if os.getppid() != parent:
        os._exit(1)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the call
            os._exit(1)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# --------------------------------------------------------------------------------------------
# Dask


#: seconds to wait for the first Dask worker to join the scheduler
WORKER_WAIT_S = 120


@contextmanager
def _dask(workers: int, scheduler: str | None, connect_timeout: float,
          resources: SweepResources, n_points: int) -> Iterator[Execute]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InputError("executor 'dask': install the extra: pip install "
                         "'asyncsim[dask]'") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot reach the Dask scheduler within "
                             f"{connect_timeout:g} s ({type(exc).__name__})") from None
    else:
        cluster = LocalCluster(n_workers=max(1, min(workers, n_points)), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        _check_worker_versions(client, scheduler)
        shipped = client.scatter(resources, broadcast=True)

        def execute(points: list[Point], context: dict[str, Any]) -> Iterator[dict[str, Any]]:
            # one submit per point: client.map with a future among its keyword arguments
            # fails in distributed 2026.8 (an AssertionError on the scheduler)
            futures = [client.submit(evaluate_point, p, context, shipped, pure=False)
                       for p in points]
            for future in dask_completed(futures):
                yield future.result()

        yield execute
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_worker_versions(client: Any, scheduler: str | None) -> None:
    """Refuse workers that run another asyncsim (version and source fingerprint)."""
    if not client.scheduler_info().get("workers"):
        try:  # workers of a busy machine can take a while to import asyncsim and Numba
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise InputError(f"--scheduler {scheduler}: no Dask worker joined within "
                             f"{WORKER_WAIT_S} s") from None
    here = version_string()
    try:
        theirs = client.run(version_string)
    except Exception as exc:  # a worker without asyncsim cannot even unpickle the function
        raise InputError(f"--scheduler {scheduler}: a Dask worker cannot run asyncsim "
                         f"({type(exc).__name__}: {exc}); install asyncsim {here} on every "
                         f"worker") from None
    other = {w: v for w, v in theirs.items() if v != here}
    if other:
        worker, version = next(iter(other.items()))
        raise InputError(f"--scheduler {scheduler}: worker {worker} runs asyncsim {version}, "
                         f"this client {here} ({len(other)} of {len(theirs)} workers differ); "
                         f"install the same version everywhere")
