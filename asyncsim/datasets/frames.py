"""Data to run on: spike-count frames, event binning, and seeded synthetic tasks.

Frames are integer spike counts of shape (samples, timesteps, features). Event streams become
frames as in the paper's appendix A.6.1: events are sliced into consecutive time bins, each
event's timestamp becomes its bin index, and events are counted per (bin, feature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

#: Seed of the class templates of the synthetic tasks. It is fixed so that datasets drawn with
#: different ``seed`` values (train and test sets) are samples of the same task.
TASK_SEED = 20240

NMNIST_SIDE = 34
NMNIST_FEATURES = NMNIST_SIDE * NMNIST_SIDE * 2  # 2312
SYNTHETIC_DT_MS = 10.0  # timestep of both generated tasks, milliseconds


@dataclass
class FrameDataset:
    """Spike-count frames ready for the simulator.

    Attributes:
        inputs: (samples, timesteps, features) spike counts, uint8. Any integer or boolean
            array (or a float array holding whole numbers) with values in 0..255 is converted.
        labels: (samples,) int64 class indices in ``[0, n_classes)``.
        n_classes: number of classes, >= 1.
        name: a short description, used in error messages.
        dt_ms: width of one timestep (time bin), milliseconds, > 0.

    Invalid fields raise :class:`InputError` with a one-line message naming the field.
    """

    inputs: np.ndarray
    labels: np.ndarray
    n_classes: int
    name: str = "dataset"
    dt_ms: float = 1.0

    def __post_init__(self) -> None:
        where = f"dataset '{self.name}'"
        x = np.asarray(self.inputs)
        if x.dtype == bool:
            x = x.view(np.uint8)
        if x.ndim != 3:
            raise InputError(f"{where}: field 'inputs': expected a 3-D array (samples, "
                             f"timesteps, features), got shape {x.shape}")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.integer) and not (
                    np.issubdtype(x.dtype, np.floating) and np.all(x == np.floor(x))):
                raise InputError(f"{where}: field 'inputs': expected integer spike counts, "
                                 f"got dtype {x.dtype}")
            if x.size and (x.min() < 0 or x.max() > 255):
                raise InputError(f"{where}: field 'inputs': expected counts in 0..255, got "
                                 f"{x.min()}..{x.max()}")
            x = x.astype(np.uint8)
        y = np.asarray(self.labels)
        if y.ndim != 1 or len(y) != x.shape[0]:
            raise InputError(f"{where}: field 'labels': expected a 1-D array of length "
                             f"{x.shape[0]}, got shape {y.shape}")
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 1:
            raise InputError(f"{where}: field 'n_classes': expected an integer >= 1, got "
                             f"{self.n_classes!r}")
        if y.size and not np.issubdtype(y.dtype, np.integer):
            raise InputError(f"{where}: field 'labels': expected integer class indices, got "
                             f"dtype {y.dtype}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise InputError(f"{where}: field 'labels': expected class indices in "
                             f"[0, {self.n_classes}), got {y.min()}..{y.max()}")
        if not (isinstance(self.dt_ms, (int, float, np.number)) and 0 < self.dt_ms < math.inf):
            raise InputError(f"{where}: field 'dt_ms': expected a finite number > 0, got "
                             f"{self.dt_ms!r}")
        self.inputs = np.ascontiguousarray(x)
        self.labels = y.astype(np.int64)
        self.n_classes = int(self.n_classes)
        self.dt_ms = float(self.dt_ms)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.inputs.shape[0])

    @property
    def n_timesteps(self) -> int:
        """Timesteps per sample, each ``dt_ms`` milliseconds."""
        return int(self.inputs.shape[1])

    @property
    def n_features(self) -> int:
        """Input features (channels) per timestep."""
        return int(self.inputs.shape[2])

    def __len__(self) -> int:
        return self.n_samples

    def subset(self, n: int) -> FrameDataset:
        """The first ``n`` samples (all of them if ``n`` is larger)."""
        if n < 0:
            raise InputError(f"dataset '{self.name}': subset size: expected >= 0, got {n}")
        return FrameDataset(self.inputs[:n], self.labels[:n], self.n_classes, self.name,
                            self.dt_ms)


# ---------------------------------------------------------------------------------------------
# Events to frames


def events_to_frames(
    times_ms: np.ndarray,
    channels: np.ndarray,
    n_channels: int,
    dt_ms: float,
    n_timesteps: int | None = None,
    t_start_ms: float = 0.0,
    downsample: int = 1,
) -> np.ndarray:
    """Bin an event stream into spike-count frames (paper appendix A.6.1).

    Bin ``k`` holds the events with ``t_start_ms + k * dt_ms <= t < t_start_ms + (k + 1) *
    dt_ms``. Output column ``c`` counts the events of channels ``c * downsample`` up to
    ``(c + 1) * downsample - 1``.

    Args:
        times_ms: (events,) timestamps, milliseconds, in any order.
        channels: (events,) channel indices in ``[0, n_channels)``.
        n_channels: number of channels before downsampling.
        dt_ms: bin width, milliseconds.
        n_timesteps: number of bins; events in later bins are dropped. None: just enough bins
            for the last event.
        t_start_ms: start of the first bin, milliseconds; earlier events are dropped.
        downsample: merge groups of this many consecutive channels (700 -> 350 with 2).

    Returns:
        (timesteps, ceil(n_channels / downsample)) uint8 counts, saturating at 255.
    """
    times = np.asarray(times_ms, dtype=np.float64)
    chans = np.asarray(channels)
    if times.ndim != 1 or chans.shape != times.shape:
        raise InputError(f"field 'channels': expected a 1-D array of the shape of 'times_ms' "
                         f"{times.shape}, got {chans.shape}")
    if chans.size and not np.issubdtype(chans.dtype, np.integer):
        raise InputError(f"field 'channels': expected integer indices, got dtype {chans.dtype}")
    chans = chans.astype(np.int64)
    if n_channels < 1:
        raise InputError(f"field 'n_channels': expected >= 1, got {n_channels}")
    if not 0 < dt_ms < math.inf:
        raise InputError(f"field 'dt_ms': expected a finite number > 0, got {dt_ms}")
    if downsample < 1:
        raise InputError(f"field 'downsample': expected an integer >= 1, got {downsample}")
    if n_timesteps is not None and n_timesteps < 0:
        raise InputError(f"field 'n_timesteps': expected >= 0 or None, got {n_timesteps}")
    if not np.all(np.isfinite(times)):
        raise InputError("field 'times_ms': expected finite timestamps, got NaN or infinity")
    if chans.size and (chans.min() < 0 or chans.max() >= n_channels):
        raise InputError(f"field 'channels': expected indices in [0, {n_channels}), got "
                         f"{chans.min()}..{chans.max()}")
    bins = np.floor((times - t_start_ms) / dt_ms).astype(np.int64)
    if n_timesteps is None:
        n_timesteps = int(bins.max()) + 1 if bins.size and bins.max() >= 0 else 0
    keep = (bins >= 0) & (bins < n_timesteps)
    width = math.ceil(n_channels / downsample)
    # One bincount over flat (bin, column) indices: much faster than np.add.at.
    flat = bins[keep] * width + chans[keep] // downsample
    counts = np.bincount(flat, minlength=n_timesteps * width).reshape(n_timesteps, width)
    return np.minimum(counts, 255).astype(np.uint8)


def events_to_frames_2d(
    times_ms: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    polarity: np.ndarray,
    width: int,
    height: int,
    dt_ms: float,
    n_timesteps: int | None = None,
    t_start_ms: float = 0.0,
    downsample: int = 1,
) -> np.ndarray:
    """Bin DVS events into frames; ``downsample`` pools ``downsample x downsample`` pixels.

    Args:
        times_ms: (events,) timestamps, milliseconds.
        x, y: (events,) pixel coordinates, ``0 <= x < width``, ``0 <= y < height``.
        polarity: (events,) OFF/ON: ``> 0`` is ON (1), anything else OFF (0), so 0/1, -1/+1
            and booleans all work.
        width, height: sensor size, pixels.
        dt_ms, n_timesteps, t_start_ms: time binning as in :func:`events_to_frames`.
        downsample: pooling factor; 128 x 128 becomes 32 x 32 with 4.

    Returns:
        (timesteps, 2 * H' * W') uint8 counts with ``W' = ceil(width / downsample)`` and
        ``H' = ceil(height / downsample)``. Feature ``(p * H' + y') * W' + x'`` counts
        polarity ``p`` at pooled pixel ``(x', y') = (x // downsample, y // downsample)``: two
        row-major ``H' x W'`` images, OFF first (34 x 34 x 2 = 2312 features for N-MNIST).
    """
    if downsample < 1:
        raise InputError(f"field 'downsample': expected an integer >= 1, got {downsample}")
    times = np.asarray(times_ms)
    coords = {"x": np.asarray(x), "y": np.asarray(y), "polarity": np.asarray(polarity)}
    for field, values in coords.items():
        if values.shape != times.shape:
            raise InputError(f"field '{field}': expected the shape of 'times_ms' "
                             f"{times.shape}, got {values.shape}")
    # Checked here: an out-of-range x would otherwise land silently in the next row.
    for field, size in (("x", width), ("y", height)):
        values = coords[field]
        if values.size and (values.min() < 0 or values.max() >= size):
            raise InputError(f"field '{field}': expected coordinates in [0, {size}), got "
                             f"{values.min()}..{values.max()}")
    w2, h2 = math.ceil(width / downsample), math.ceil(height / downsample)
    xs = coords["x"].astype(np.int64) // downsample
    ys = coords["y"].astype(np.int64) // downsample
    ps = (coords["polarity"] > 0).astype(np.int64)
    channel = (ps * h2 + ys) * w2 + xs
    return events_to_frames(times, channel, 2 * h2 * w2, dt_ms, n_timesteps, t_start_ms)


def _check_range(field: str, value: float, low: float, high: float = math.inf) -> None:
    if not low <= value <= high:
        bound = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise InputError(f"field '{field}': expected {bound}, got {value!r}")


# ---------------------------------------------------------------------------------------------
# Loading


def from_arrays(inputs: np.ndarray, labels: np.ndarray, n_classes: int | None = None,
                name: str = "arrays", dt_ms: float = 1.0) -> FrameDataset:
    """Wrap arrays as a :class:`FrameDataset` (validated; ``dt_ms`` in milliseconds).

    ``n_classes`` defaults to ``max(labels) + 1``.
    """
    labels = np.asarray(labels)
    if n_classes is None:
        integral = labels.size > 0 and np.issubdtype(labels.dtype, np.integer)
        # Bad labels are reported by FrameDataset; 1 only keeps n_classes itself valid.
        n_classes = max(int(labels.max()) + 1, 1) if integral else 1
    return FrameDataset(np.asarray(inputs), labels, n_classes, name, dt_ms)


def load_npz(path: str | Path) -> FrameDataset:
    """Load frames from a ``.npz`` file.

    Keys: ``inputs`` (samples, timesteps, features) spike counts and ``labels`` (samples,)
    class indices; optional scalars ``n_classes`` (default ``max(labels) + 1``) and ``dt_ms``
    (milliseconds), or ``dt`` in microseconds as in the benchmark workload files (used only
    without ``dt_ms``; default 1 ms). Other keys, such as the workload's weights, are ignored.
    The dataset's name is the path. Problems raise :class:`InputError` naming the file and key.
    """
    path = Path(path)
    wanted = ("inputs", "labels", "n_classes", "dt_ms", "dt")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in wanted}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # numpy raises several types for corrupt or non-.npz files
        raise InputError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    for key in ("inputs", "labels"):
        if key not in arrays:
            raise InputError(f"{path}: key '{key}' missing (expected 'inputs' (samples, "
                             f"timesteps, features) and 'labels' (samples,))")
    for key in ("n_classes", "dt_ms", "dt"):
        if key in arrays and (arrays[key].size != 1
                              or not np.issubdtype(arrays[key].dtype, np.number)):
            raise InputError(f"{path}: key '{key}': expected a number, got "
                             f"{arrays[key].dtype} array of shape {arrays[key].shape}")
    if "dt_ms" in arrays:
        dt_ms = float(arrays["dt_ms"].item())
    elif "dt" in arrays:
        dt_ms = float(arrays["dt"].item()) / 1000.0
    else:
        dt_ms = 1.0
    n_classes = int(arrays["n_classes"].item()) if "n_classes" in arrays else None
    return from_arrays(arrays["inputs"], arrays["labels"], n_classes, str(path), dt_ms)
