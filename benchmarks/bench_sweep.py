"""Sweep throughput against workers, and the runner's own overhead per point.

Run after ``pip install .``::

    python benchmarks/bench_sweep.py --points 16

Points are simulations of the shipped ``nmnist-unlayered-rs`` model on N-MNIST-like samples
(random scheduling, F swept over 1-8, one kernel thread each), with the sample count calibrated
so that one point takes about ``--point-seconds`` (default 1 s). In the same run it measures:

* the local process pool with 1 and with 2 workers: points per second (wall clock, pool start-up
  included), and their ratio;
* the serial executor: wall time minus the time spent inside the points, per point, as a share
  of a point (spec expansion, scheduling, writing and fsyncing rows, the final rewrite).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from asyncsim.sweeps import parse_sweep, read_results, run_sweep
from asyncsim.sweeps.evaluate import evaluate_point


def spec(samples: int, points: int) -> dict:
    return {"name": "bench", "models": ["nmnist-unlayered-rs"],
            "dataset": {"name": "nmnist-like", "samples": samples, "seed": 1_000_000},
            "fixed": {"policy": "random"},
            "grid": {"forward_group": [1, 2, 4, 8]},
            "zip": {"seed": list(range(max(1, points // 4)))}}


def calibrate(target: float) -> int:
    """Samples per point for about ``target`` seconds (one thread, after compilation)."""
    samples = 256
    for _ in range(4):
        doc = parse_sweep(spec(samples, 4), base_dir=".")
        point = doc.points()[0]
        evaluate_point(point, doc.context())  # load, compile
        row = evaluate_point(point, doc.context())
        samples = max(16, int(samples * target / row["seconds"]))
    return samples


def timed(doc, executor: str, workers: int) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r.csv"
        start = time.perf_counter()
        summary = run_sweep(doc, out, executor=executor, workers=workers)
        wall = time.perf_counter() - start
        assert summary.failed == 0, read_results(out)
        return wall, read_results(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--point-seconds", type=float, default=1.0)
    args = parser.parse_args()
    samples = calibrate(args.point_seconds)
    doc = parse_sweep(spec(samples, args.points), base_dir=".")
    n = len(doc.points())
    print(f"{n} points of {samples} samples each (about {args.point_seconds} s per point)")
    one, rows = timed(doc, "local", 1)
    two, _ = timed(doc, "local", 2)
    inside = sum(r["seconds"] for r in rows)
    print(f"local pool, 1 worker : {n / one:6.3f} points/s (wall {one:.1f} s, "
          f"{inside / n:.2f} s per point inside the workers)")
    print(f"local pool, 2 workers: {n / two:6.3f} points/s (wall {two:.1f} s)")
    print(f"speed-up 2 / 1 workers: {one / two:.2f}x")
    serial_wall, serial_rows = timed(doc, "serial", 1)
    serial_inside = sum(r["seconds"] for r in serial_rows)
    overhead = (serial_wall - serial_inside) / n
    print(f"serial: wall {serial_wall:.2f} s, inside points {serial_inside:.2f} s; overhead "
          f"{overhead * 1000:.1f} ms per point = {100 * overhead / (serial_inside / n):.2f} % "
          f"of a point")


if __name__ == "__main__":
    main()
