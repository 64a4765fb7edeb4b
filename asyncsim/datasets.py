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

from .errors import InputError

#: Seed of the class templates of the synthetic tasks. It is fixed so that datasets drawn with
#: different ``seed`` values (train and test sets) are samples of the same task.
TASK_SEED = 20240

NMNIST_SIDE = 34
NMNIST_FEATURES = NMNIST_SIDE * NMNIST_SIDE * 2  # 2312


@dataclass
class FrameDataset:
    """Spike-count frames ready for the simulator.

    Attributes:
        inputs: (samples, timesteps, features) spike counts, uint8.
        labels: (samples,) class indices in ``[0, n_classes)``.
        n_classes: number of classes.
        name: a short description.
        dt_ms: width of one timestep (time bin), milliseconds.
    """

    inputs: np.ndarray
    labels: np.ndarray
    n_classes: int
    name: str = "dataset"
    dt_ms: float = 1.0

    def __post_init__(self) -> None:
        where = f"dataset '{self.name}'"
        x = np.asarray(self.inputs)
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
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0
                       or y.max() >= self.n_classes):
            raise InputError(f"{where}: field 'labels': expected integers in "
                             f"[0, {self.n_classes}), got {y.dtype} {y.min()}..{y.max()}")
        if not (isinstance(self.dt_ms, (int, float, np.number)) and self.dt_ms > 0):
            raise InputError(f"{where}: field 'dt_ms': expected a number > 0, got "
                             f"{self.dt_ms!r}")
        self.inputs = np.ascontiguousarray(x)
        self.labels = y.astype(np.int64)
        self.n_classes = int(self.n_classes)
        self.dt_ms = float(self.dt_ms)

    @property
    def n_samples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_timesteps(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.inputs.shape[2])

    def __len__(self) -> int:
        return self.n_samples

    def subset(self, n: int) -> FrameDataset:
        """The first ``n`` samples."""
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

    Args:
        times_ms: (events,) timestamps, milliseconds.
        channels: (events,) channel indices in ``[0, n_channels)``.
        n_channels: number of channels before downsampling.
        dt_ms: bin width, milliseconds.
        n_timesteps: number of bins; None: just enough for the last event.
        t_start_ms: start of the first bin; earlier events are dropped.
        downsample: merge groups of this many consecutive channels (700 -> 350 with 2).

    Returns:
        (timesteps, ceil(n_channels / downsample)) uint8 counts, saturating at 255.
    """
    times = np.asarray(times_ms, dtype=np.float64)
    chans = np.asarray(channels, dtype=np.int64)
    if times.shape != chans.shape or times.ndim != 1:
        raise InputError(f"field 'channels': expected the shape of 'times_ms' {times.shape}, "
                         f"got {chans.shape}")
    if dt_ms <= 0 or downsample < 1:
        raise InputError(f"field 'dt_ms'/'downsample': expected > 0 and >= 1, got {dt_ms}, "
                         f"{downsample}")
    if chans.size and (chans.min() < 0 or chans.max() >= n_channels):
        raise InputError(f"field 'channels': expected indices in [0, {n_channels}), got "
                         f"{chans.min()}..{chans.max()}")
    bins = np.floor((times - t_start_ms) / dt_ms).astype(np.int64)
    if n_timesteps is None:
        n_timesteps = int(bins.max()) + 1 if bins.size and bins.max() >= 0 else 0
    keep = (bins >= 0) & (bins < n_timesteps)
    width = math.ceil(n_channels / downsample)
    counts = np.zeros((n_timesteps, width), dtype=np.int64)
    np.add.at(counts, (bins[keep], chans[keep] // downsample), 1)
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

    Feature layout: ``index = (polarity * H' + y') * W' + x'`` with ``W' = ceil(width /
    downsample)``, ``H' = ceil(height / downsample)`` and polarity 0 or 1, so the features are
    two ``H' x W'`` images, polarity 0 first (34 x 34 x 2 = 2312 for N-MNIST).
    """
    w2, h2 = math.ceil(width / downsample), math.ceil(height / downsample)
    xs = np.asarray(x, dtype=np.int64) // downsample
    ys = np.asarray(y, dtype=np.int64) // downsample
    ps = (np.asarray(polarity) > 0).astype(np.int64)
    channel = (ps * h2 + ys) * w2 + xs
    return events_to_frames(times_ms, channel, 2 * h2 * w2, dt_ms, n_timesteps, t_start_ms)


# ---------------------------------------------------------------------------------------------
# Synthetic tasks


def nmnist_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 10,
                active_per_timestep: int = 150, noise_fraction: float = 0.2) -> FrameDataset:
    """A seeded spatial task shaped like N-MNIST: 34 x 34 x 2 = 2312 features, 10 classes,
    10 ms timesteps.

    Each class has a fixed template: a few random strokes on the 34 x 34 grid, ON and OFF
    polarity along opposite edges. A sample shifts the template by a saccade-like offset (up to
    +/- 2 pixels, changing every timestep) and draws about ``active_per_timestep`` active inputs
    per timestep: ``1 - noise_fraction`` of them from the shifted template, the rest uniform
    noise. Classes differ in space only, as N-MNIST's do.
    """
    task = np.random.default_rng(TASK_SEED)
    templates = [_stroke_template(task) for _ in range(10)]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n_samples)
    inputs = np.zeros((n_samples, n_timesteps, NMNIST_FEATURES), dtype=np.uint8)
    n_signal = int(round(active_per_timestep * (1 - noise_fraction)))
    n_noise = active_per_timestep - n_signal
    for s in range(n_samples):
        on, off = templates[labels[s]]
        for t in range(n_timesteps):
            dx, dy = rng.integers(-2, 3, 2)
            pixels = []
            for polarity, (ys, xs) in enumerate((on, off)):
                ys2, xs2 = ys + dy, xs + dx
                ok = (ys2 >= 0) & (ys2 < NMNIST_SIDE) & (xs2 >= 0) & (xs2 < NMNIST_SIDE)
                pixels.append((polarity * NMNIST_SIDE + ys2[ok]) * NMNIST_SIDE + xs2[ok])
            pool = np.concatenate(pixels)
            chosen = rng.choice(pool, size=min(n_signal, len(pool)), replace=False)
            noise = rng.choice(NMNIST_FEATURES, size=n_noise, replace=False)
            inputs[s, t, chosen] = 1
            inputs[s, t, noise] = 1
    return FrameDataset(inputs, labels, 10, "nmnist-like", 10.0)


def _stroke_template(rng: np.random.Generator) -> tuple[tuple, tuple]:
    """Pixels of 3 random strokes; ON events on one side of each stroke, OFF on the other."""
    on, off = np.zeros((NMNIST_SIDE,) * 2, bool), np.zeros((NMNIST_SIDE,) * 2, bool)
    for _ in range(3):
        (x0, y0), (x1, y1) = rng.uniform(6, 28, (2, 2))
        steps = np.linspace(0, 1, 40)
        xs = np.round(x0 + (x1 - x0) * steps).astype(int)
        ys = np.round(y0 + (y1 - y0) * steps).astype(int)
        for width in (0, 1):
            on[np.clip(ys + width, 0, 33), np.clip(xs, 0, 33)] = True
            off[np.clip(ys - 1 - width, 0, 33), np.clip(xs, 0, 33)] = True
    return np.nonzero(on), np.nonzero(off)


def shd_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 100,
             n_channels: int = 350, n_classes: int = 20,
             background_rate_hz: float = 5.0) -> FrameDataset:
    """A seeded temporal task shaped like SHD: 350 channels, 20 classes, 10 ms timesteps.

    Each class is a sequence of 4 "formant" bands (channel ranges of 8-20 channels) active one
    after another for 15-25 timesteps each. Classes come in pairs that use the same bands in a
    different order, so summed counts cannot tell a pair apart: the network needs time. Each
    sample jitters the onset (+/- 5 timesteps) and the channels (+/- 3), fires band channels at
    random with probability 0.12 per timestep, and adds Poisson background at
    ``background_rate_hz``.
    """
    task = np.random.default_rng(TASK_SEED + 1)
    classes = []
    for _ in range(math.ceil(n_classes / 2)):
        bands = []
        for _ in range(4):
            width = int(task.integers(8, 21))
            low = int(task.integers(0, n_channels - width))
            bands.append((low, width, int(task.integers(15, 26))))
        classes.append(bands)
        classes.append([bands[i] for i in (2, 3, 0, 1)])  # same bands, other order
    classes = classes[:n_classes]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_samples)
    p_background = background_rate_hz * 10.0 / 1000.0
    inputs = (rng.random((n_samples, n_timesteps, n_channels)) < p_background).astype(np.uint8)
    for s in range(n_samples):
        t = 5 + int(rng.integers(-5, 6))
        for low, width, duration in classes[labels[s]]:
            shift = int(rng.integers(-3, 4))
            lo, hi = max(0, low + shift), min(n_channels, low + shift + width)
            t_end = min(n_timesteps, t + duration)
            if t < t_end and lo < hi:
                block = rng.random((t_end - t, hi - lo)) < 0.12
                inputs[s, t:t_end, lo:hi] |= block.astype(np.uint8)
            t += duration
    return FrameDataset(inputs, labels, n_classes, "shd-like", 10.0)


# ---------------------------------------------------------------------------------------------
# Loading


def from_arrays(inputs: np.ndarray, labels: np.ndarray, n_classes: int | None = None,
                name: str = "arrays", dt_ms: float = 1.0) -> FrameDataset:
    """Wrap arrays; ``n_classes`` defaults to ``max(labels) + 1``."""
    labels = np.asarray(labels)
    if n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size else 1
    return FrameDataset(np.asarray(inputs), labels, n_classes, name, dt_ms)


def load_npz(path: str | Path) -> FrameDataset:
    """A ``.npz`` file with ``inputs`` (samples, timesteps, features) and ``labels``
    (samples,); optional ``n_classes`` and ``dt_ms`` (or ``dt`` in microseconds, as in the
    shared benchmark workload). Other keys are ignored."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in ("inputs", "labels", "n_classes",
                                                          "dt_ms", "dt")}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise InputError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    for key in ("inputs", "labels"):
        if key not in arrays:
            raise InputError(f"{path}: key '{key}' missing (expected 'inputs' (samples, "
                             f"timesteps, features) and 'labels' (samples,))")
    dt_ms = float(arrays["dt_ms"]) if "dt_ms" in arrays else (
        float(arrays["dt"]) / 1000.0 if "dt" in arrays else 1.0)
    n_classes = int(arrays["n_classes"]) if "n_classes" in arrays else None
    try:
        return from_arrays(arrays["inputs"], arrays["labels"], n_classes, path.name, dt_ms)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


BUILTIN = {"nmnist-like": nmnist_like, "shd-like": shd_like}


def load_dataset(spec: str, n_samples: int | None = None, seed: int = 0) -> FrameDataset:
    """A built-in generated dataset by name (``nmnist-like``, ``shd-like``; ``n_samples``
    of them, default 256, drawn with ``seed``) or a ``.npz`` file (its first ``n_samples``)."""
    if spec in BUILTIN:
        return BUILTIN[spec](n_samples=n_samples or 256, seed=seed)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{spec}: not a built-in dataset ({', '.join(BUILTIN)}) and no such "
                         f"file")
    data = load_npz(path)
    return data.subset(n_samples) if n_samples else data
