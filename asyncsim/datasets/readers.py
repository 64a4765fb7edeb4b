"""Readers for recorded event datasets in their published file formats, framed into timesteps
as in the paper's appendix A.6.1 (bin width ``dt_ms``, optional spatial downsampling).

==================  =======================================================================
format              what :func:`read_path` accepts
==================  =======================================================================
SHD / SSC           an HDF5 file (``.h5``, ``.hdf5``) with ``spikes/times`` (seconds),
                    ``spikes/units`` (channel, 0-699) and ``labels``; 700 channels -> 350
N-MNIST             a folder of the published binary files, ``<folder>/<digit>/*.bin``: 5
                    bytes per event (x, y, polarity bit + 23-bit time in microseconds);
                    34 x 34 x 2 = 2312 features
DVS Gesture         through tonic where installed (:func:`tonic_dataset`); 128 x 128 -> 32 x 32
NIR data            ``nir-data:FILE`` (:func:`read_nir_data`): a node's EventData or
                    TimeGriddedData from a ``nir.write_data`` file (no labels: all 0)
any event stream    ``(events, label)`` pairs (:func:`from_event_stream`): tonic-style
                    structured arrays with ``t`` (microseconds) and ``x`` (and ``y``, ``p``)
==================  =======================================================================

Problems (a missing key, a truncated file) raise :class:`InputError` naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..limits import check_memory
from .frames import FrameDataset, events_to_frames, events_to_frames_2d

NMNIST_SIZE = (34, 34)
SHD_CHANNELS = 700


def read_path(path: str | Path, n_samples: int | None = None, dt_ms: float | None = None,
              allow_large: bool = False) -> FrameDataset:
    """Read a recorded dataset by its form: an HDF5 file (SHD/SSC) or an N-MNIST folder."""
    path = Path(path)
    if path.is_dir():
        return read_nmnist_folder(path, n_samples=n_samples, dt_ms=dt_ms or 10.0)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return read_shd_hdf5(path, n_samples=n_samples, dt_ms=dt_ms or 10.0,
                             allow_large=allow_large)
    raise InputError(f"{path}: not a recognised dataset file (.npz, .h5/.hdf5, or a folder of "
                     f"N-MNIST .bin files)")


def read_shd_hdf5(path: str | Path, dt_ms: float = 10.0, downsample: int = 2,
                  n_timesteps: int | None = None, n_samples: int | None = None,
                  allow_large: bool = False) -> FrameDataset:
    """SHD or SSC samples from their HDF5 file (Cramer et al. 2020 layout).

    Args:
        path: the ``.h5`` file.
        dt_ms: bin width, milliseconds (the paper uses 10 ms).
        downsample: merge this many neighbouring channels (700 -> 350 with 2).
        n_timesteps: bins per sample; default: enough for the longest sample in the file.
        n_samples: read only the first ``n_samples``.
        allow_large: read files whose frames exceed this machine's memory share.
    """
    try:
        import h5py
    except ImportError:
        raise InputError("HDF5 datasets need h5py: pip install h5py") from None
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f:
                    raise InputError(f"{path}: key '{key}' missing (expected the SHD/SSC "
                                     f"layout: spikes/times, spikes/units, labels)")
            n = len(f["labels"]) if n_samples is None else min(n_samples, len(f["labels"]))
            times = [np.asarray(f["spikes/times"][i], dtype=np.float64) * 1000.0
                     for i in range(n)]
            units = [np.asarray(f["spikes/units"][i]) for i in range(n)]
            labels = np.asarray(f["labels"][:n], dtype=np.int64)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError for broken files
        raise InputError(f"{path}: not a readable HDF5 file ({type(exc).__name__})") from None
    if any(len(t) != len(u) for t, u in zip(times, units, strict=True)):
        raise InputError(f"{path}: spikes/times and spikes/units differ in length")
    for i, t in enumerate(times):
        if t.size and not (np.all(np.isfinite(t)) and t.min() >= 0):
            raise InputError(f"{path}: key 'spikes/times': sample {i} has a spike time that is "
                             f"not a finite number >= 0")
    if n_timesteps is None:
        longest = max((float(t.max()) for t in times if t.size), default=0.0)
        n_timesteps = max(1, math.floor(longest / dt_ms) + 1)
    check_memory(float(n) * n_timesteps * math.ceil(SHD_CHANNELS / downsample),
                 f"{path}: {n} samples x {n_timesteps} timesteps of {dt_ms:g} ms (the longest "
                 f"sample lasts {n_timesteps * dt_ms / 1000:g} s)", allow_large)
    frames = np.stack([events_to_frames(t, u.astype(np.int64), SHD_CHANNELS, dt_ms,
                                        n_timesteps, downsample=downsample)
                       for t, u in zip(times, units, strict=True)]) if n else np.zeros(
        (0, n_timesteps, math.ceil(SHD_CHANNELS / downsample)), np.uint8)
    n_classes = int(labels.max()) + 1 if labels.size else 1
    return FrameDataset(frames, labels, n_classes, str(path), dt_ms)


def read_nmnist_file(path: str | Path) -> np.ndarray:
    """Events of one N-MNIST binary file as a structured array (t microseconds, x, y, p).

    Each event is 40 bits: x (8), y (8), polarity (1), time (23, microseconds)."""
    path = Path(path)
    try:
        raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if raw.size % 5:
        raise InputError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST "
                         f"events (truncated file?)")
    r = raw.reshape(-1, 5).astype(np.uint32)
    events = np.empty(len(r), dtype=[("t", np.int64), ("x", np.int64), ("y", np.int64),
                                     ("p", np.int64)])
    events["x"], events["y"] = r[:, 0], r[:, 1]
    events["p"] = r[:, 2] >> 7
    events["t"] = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    if len(r) and (events["x"].max() >= NMNIST_SIZE[0] or events["y"].max() >= NMNIST_SIZE[1]):
        raise InputError(f"{path}: pixel coordinates beyond 34 x 34: not an N-MNIST file")
    return events


def write_nmnist_file(path: str | Path, events: np.ndarray) -> None:
    """Write events (fields t, x, y, p) in the N-MNIST binary format (for tests and tools)."""
    t = np.asarray(events["t"], dtype=np.int64)
    out = np.zeros((len(t), 5), dtype=np.uint8)
    out[:, 0], out[:, 1] = events["x"], events["y"]
    out[:, 2] = (np.asarray(events["p"]) > 0).astype(np.uint8) << 7 | ((t >> 16) & 0x7F)
    out[:, 3], out[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    Path(path).write_bytes(out.tobytes())


def read_nmnist_folder(root: str | Path, dt_ms: float = 10.0, n_timesteps: int | None = None,
                       downsample: int = 1, n_samples: int | None = None) -> FrameDataset:
    """N-MNIST samples from ``root/<digit>/*.bin`` (the published Train/Test layout), in
    sorted order: label folder, then file name."""
    root = Path(root)
    files = sorted((int(d.name), f) for d in root.iterdir() if d.is_dir() and d.name.isdigit()
                   for f in d.glob("*.bin")) if root.is_dir() else []
    if not files:
        raise InputError(f"{root}: no N-MNIST files (expected {root}/<digit>/*.bin)")
    files = files[:n_samples] if n_samples else files
    stream = ((read_nmnist_file(f), label) for label, f in files)
    data = from_event_stream(stream, sensor_size=(*NMNIST_SIZE, 2), dt_ms=dt_ms,
                             n_timesteps=n_timesteps or 30, downsample=downsample,
                             name=str(root), n_classes=10)
    return data


def from_event_stream(stream: Iterable[tuple[np.ndarray, int]], sensor_size: tuple[int, ...],
                      dt_ms: float, n_timesteps: int, downsample: int = 1,
                      name: str = "events", n_classes: int | None = None) -> FrameDataset:
    """Frames of any ``(events, label)`` stream.

    Args:
        stream: pairs of a structured event array and a class index. Fields: ``t``
            (microseconds) and ``x``; with ``y`` and ``p`` for cameras (tonic's convention).
        sensor_size: ``(channels,)`` or ``(width, height, polarities)``.
        dt_ms: bin width, milliseconds; ``n_timesteps`` bins from time 0.
        downsample: channel merging (1-D) or pixel pooling (2-D).
    """
    frames, labels = [], []
    for number, (events, label) in enumerate(stream):
        fields = events.dtype.names or ()
        if "t" not in fields or "x" not in fields:
            raise InputError(f"{name}: sample {number}: events need fields 't' and 'x', "
                             f"got {fields}")
        t_ms = np.asarray(events["t"], dtype=np.float64) / 1000.0
        if len(sensor_size) == 1:
            frames.append(events_to_frames(t_ms, np.asarray(events["x"], dtype=np.int64),
                                           int(sensor_size[0]), dt_ms, n_timesteps,
                                           downsample=downsample))
        else:
            polarity = events["p"] if "p" in fields else np.ones(len(events))
            frames.append(events_to_frames_2d(t_ms, events["x"], events["y"], polarity,
                                              int(sensor_size[0]), int(sensor_size[1]), dt_ms,
                                              n_timesteps, downsample=downsample))
        labels.append(int(label))
    if not frames:
        raise InputError(f"{name}: no samples")
    labels_array = np.asarray(labels, dtype=np.int64)
    return FrameDataset(np.stack(frames), labels_array,
                        n_classes or int(labels_array.max()) + 1, name, dt_ms)


def read_nir_data(path: str | Path, dt_ms: float = 1.0, node: str | None = None,
                  observable: str | None = None) -> FrameDataset:
    """Frames from a NIR data file (``nir.write_data``): the ``observable`` (default: the
    first) of ``node`` (default: the first). ``EventData`` (times in seconds) is binned into
    ``dt_ms`` steps over ``t_max``; ``TimeGriddedData`` is taken as it is (its ``dt`` is
    kept). NIR data carries no labels: every label is 0."""
    try:
        import nir
    except ImportError:
        raise InputError("NIR data needs the nir package: pip install 'asyncsim[nir]'") from None
    path = Path(path)
    try:
        graph_data = nir.read_data(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # h5py and nir raise many types for broken files
        raise InputError(f"{path}: not a readable NIR data file ({type(exc).__name__})") from None
    nodes = graph_data.nodes
    if not nodes:
        raise InputError(f"{path}: no nodes in the NIR data file")
    name = node or next(iter(nodes))
    if name not in nodes:
        raise InputError(f"{path}: no node '{name}' (has: {', '.join(nodes)})")
    observables = nodes[name].observables
    key = observable or next(iter(observables), None)
    if key not in observables:
        raise InputError(f"{path}: node '{name}' has no observable '{key}' "
                         f"(has: {', '.join(observables)})")
    data = observables[key]
    if type(data).__name__ == "TimeGriddedData":
        frames = np.clip(np.rint(np.asarray(data.data, dtype=np.float64)), 0, 255).astype(
            np.uint8)
        step_ms = float(data.dt) * 1000.0
    else:
        n_steps = max(1, math.ceil(float(data.t_max) * 1000.0 / dt_ms - 1e-9))
        frames = np.stack([
            events_to_frames(np.asarray(t)[np.asarray(i) >= 0] * 1000.0,
                             np.asarray(i)[np.asarray(i) >= 0].astype(np.int64),
                             int(data.n_neurons), dt_ms, n_steps)
            for i, t in zip(data.idx, data.time, strict=True)])
        step_ms = dt_ms
    if frames.ndim != 3:
        raise InputError(f"{path}: node '{name}' observable '{key}': expected (samples, time, "
                         f"neurons) data, got shape {frames.shape}")
    return FrameDataset(frames, np.zeros(len(frames), dtype=np.int64), 1, str(path), step_ms)


def tonic_dataset(name: str, root: str | Path, train: bool = False, dt_ms: float = 20.0,
                  n_timesteps: int = 75, downsample: int = 4,
                  n_samples: int | None = None) -> FrameDataset:
    """A tonic dataset (e.g. ``"DVSGesture"``) read with tonic and framed here: DVS Gesture's
    128 x 128 sensor becomes 32 x 32 x 2 = 2048 features with ``downsample=4``, 20 ms bins as
    the paper."""
    try:
        import tonic
    except ImportError:
        raise InputError("tonic datasets need tonic: pip install tonic") from None
    if not hasattr(tonic.datasets, name):
        raise InputError(f"tonic dataset '{name}': not in tonic.datasets")
    cls = getattr(tonic.datasets, name)
    data: Any = cls(save_to=str(root), train=train)
    count = len(data) if n_samples is None else min(n_samples, len(data))
    return from_event_stream((data[i] for i in range(count)), cls.sensor_size, dt_ms,
                             n_timesteps, downsample, name=f"tonic:{name}",
                             n_classes=len(getattr(cls, "classes", [])) or None)
