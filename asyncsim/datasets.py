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


# ---------------------------------------------------------------------------------------------
# Synthetic tasks


def nmnist_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 10,
                active_per_timestep: int = 150, noise_fraction: float = 0.2) -> FrameDataset:
    """A seeded spatial task shaped like N-MNIST: 34 x 34 x 2 = 2312 features, 10 classes,
    10 ms timesteps.

    Each class has a fixed template: 3 random strokes on the 34 x 34 grid, ON and OFF polarity
    along opposite edges, drawn from :data:`TASK_SEED`, so every ``seed`` samples the same
    task. A sample shifts the template by a saccade-like offset (up to +/- 2 pixels in x and y,
    drawn anew every timestep) and draws about ``active_per_timestep`` active inputs per
    timestep: ``1 - noise_fraction`` of them from the shifted template, the rest uniform noise
    (noise may hit a template pixel, so a timestep can have a few fewer). Classes differ in
    space only, as N-MNIST's do; summed counts separate them.

    Args:
        n_samples: number of samples; labels are uniform over the 10 classes.
        seed: seed of the sample draws (labels, shifts, pixels, noise).
        n_timesteps: timesteps per sample, 10 ms each.
        active_per_timestep: active inputs per timestep, at most 2312.
        noise_fraction: share of them that is uniform noise, in [0, 1].

    Returns:
        A :class:`FrameDataset` of 0/1 counts, ``dt_ms`` 10.
    """
    _check_range("n_samples", n_samples, 0)
    _check_range("n_timesteps", n_timesteps, 0)
    _check_range("active_per_timestep", active_per_timestep, 0, NMNIST_FEATURES)
    _check_range("noise_fraction", noise_fraction, 0.0, 1.0)
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
    return FrameDataset(inputs, labels, 10, "nmnist-like", SYNTHETIC_DT_MS)


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
    after another for 15-25 timesteps each, drawn from :data:`TASK_SEED`, so every ``seed``
    samples the same task. Classes come in pairs (0, 1), (2, 3), ... that use the same bands for
    the same durations in a different order (ABCD and CDAB), so summed counts cannot tell a pair
    apart: the network needs time. Each sample jitters the onset (starts at timestep 0-10) and
    each band's channels (+/- 3), fires band channels with probability 0.12 per timestep
    (12 Hz), and adds background noise at ``background_rate_hz`` on every channel (Bernoulli
    per timestep). With the defaults about 19 inputs are active per timestep, 17.5 of them
    background.

    Args:
        n_samples: number of samples; labels are uniform over the classes.
        seed: seed of the sample draws (labels, jitter, spikes).
        n_timesteps: timesteps per sample, 10 ms each; the 4 bands take 60-100 of them.
        n_channels: input channels, at least 21.
        n_classes: number of classes, >= 1.
        background_rate_hz: background firing rate per channel, Hz, at most 100.

    Returns:
        A :class:`FrameDataset` of 0/1 counts, ``dt_ms`` 10.
    """
    _check_range("n_samples", n_samples, 0)
    _check_range("n_timesteps", n_timesteps, 0)
    _check_range("n_channels", n_channels, 21)
    _check_range("n_classes", n_classes, 1)
    _check_range("background_rate_hz", background_rate_hz, 0.0, 1000.0 / SYNTHETIC_DT_MS)
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
    p_background = background_rate_hz * SYNTHETIC_DT_MS / 1000.0
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
    return FrameDataset(inputs, labels, n_classes, "shd-like", SYNTHETIC_DT_MS)


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
    (milliseconds), or ``dt`` in microseconds as in the shared benchmark workload (used only
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


def load_dataset(spec: str, n_samples: int | None = None, seed: int = 0) -> FrameDataset:
    """A built-in generated dataset, or a dataset file in one of the formats asyncsim reads.

    Args:
        spec: a name in :data:`BUILTIN` (``asyncsim data list``); a ``.npz`` path (see
            :func:`load_npz`); an SHD/SSC ``.h5`` file or an N-MNIST folder
            (:mod:`asyncsim.readers`); ``nir-data:FILE`` for a NIR data file; or
            ``tonic:NAME:ROOT`` for a tonic dataset (test split).
        n_samples: builtins: how many samples to generate (default 256); files: keep the first
            ``n_samples`` (default all).
        seed: seed of a builtin's sample draws; ignored for files.
    """
    if n_samples is not None and n_samples < 1:
        raise InputError(f"field 'n_samples': expected >= 1 or None, got {n_samples}")
    if spec in BUILTIN:
        return BUILTIN[spec](n_samples=256 if n_samples is None else n_samples, seed=seed)
    from . import readers

    if spec.startswith("nir-data:"):
        data = readers.read_nir_data(spec[len("nir-data:"):])
        return data if n_samples is None else data.subset(n_samples)
    if spec.startswith("tonic:"):
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise InputError(f"{spec}: expected tonic:NAME:ROOT, e.g. tonic:DVSGesture:data")
        return readers.tonic_dataset(parts[1], parts[2], n_samples=n_samples)
    path = Path(spec)
    if path.is_dir() or path.suffix.lower() in (".h5", ".hdf5"):
        if not path.exists():
            raise InputError(f"{spec}: no such file")
        return readers.read_path(path, n_samples=n_samples)
    if not path.is_file():
        raise InputError(f"{spec}: not a built-in dataset ({', '.join(BUILTIN)}) and no such "
                         f"file")
    data = load_npz(path)
    return data if n_samples is None else data.subset(n_samples)


# The generated tasks of the literature live in their own module, which builds on this one.
from .tasks import randman, sequence_detection, yin_yang  # noqa: E402

#: generated datasets by name: a function (n_samples, seed) -> FrameDataset
BUILTIN = {"nmnist-like": nmnist_like, "shd-like": shd_like, "yin-yang": yin_yang,
           "sequence": sequence_detection, "randman": randman}
