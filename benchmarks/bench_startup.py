"""Start-up time of ``asyncsim run``: first run (compiles the kernel) and second run (cache).

Run after ``pip install .``::

    python benchmarks/bench_startup.py

Both runs use a fresh, empty Numba cache directory (``NUMBA_CACHE_DIR``), so the first one pays
for compilation. The second run must not compile again: the script checks that it adds no
file to the cache directory, and reports both wall times.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

COMMAND = ["asyncsim", "run", "nmnist-untrained", "--samples", "64", "--no-progress"]


def cache_files(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


def timed_run(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(COMMAND, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    exe = shutil.which("asyncsim")
    if exe is None:
        raise SystemExit("asyncsim is not installed (pip install .)")
    cache = Path(tempfile.mkdtemp(prefix="asyncsim-numba-cache-"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    try:
        first = timed_run(env)
        after_first = cache_files(cache)
        second = timed_run(env)
        after_second = cache_files(cache)
        third = timed_run(env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    recompiled = after_second != after_first
    print(f"command: {' '.join(COMMAND)}")
    print(f"first run (empty cache, compiles): {first:6.2f} s")
    print(f"second run (cached kernel):        {second:6.2f} s")
    print(f"third run (cached kernel):         {third:6.2f} s")
    print(f"cache files after first run: {len(after_first)}; "
          f"second run changed the cache: {'YES (recompiled)' if recompiled else 'no'}")
    if recompiled:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
