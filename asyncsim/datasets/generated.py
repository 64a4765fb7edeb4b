"""Generated tasks shaped like the paper's three datasets (no download): ``nmnist-like``
(spatial, 2312 features, 10 classes, 10 ms timesteps), ``shd-like`` (temporal, 350 channels,
20 classes, 10 ms) and ``dvs-like`` (moving shapes on an event camera, 2048 inputs, 11 classes,
20 ms) and ``cifar-like`` (static colour images, 3072 inputs, 10 classes, 4
timesteps), each seeded. The tasks of the literature (Yin-Yang, sequence detection,
Randman) are in :mod:`.tasks`.
"""

from __future__ import annotations

import math

import numpy as np

from .frames import (
    NMNIST_FEATURES,
    NMNIST_SIDE,
    SYNTHETIC_DT_MS,
    TASK_SEED,
    FrameDataset,
    _check_range,
)


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


def _bernoulli_frames(rng: np.random.Generator, shape: tuple[int, int, int],
                      p: float) -> np.ndarray:
    """0/1 frames, each entry 1 with probability ``p``. Drawn a few samples at a time: the
    uniform draws are float64, 8 bytes per entry, where the frames take one; the values are
    those of a single draw of the whole shape (the generator fills them in order)."""
    frames = np.empty(shape, dtype=np.uint8)
    chunk = max(1, (1 << 22) // max(1, shape[1] * shape[2]))
    for start in range(0, shape[0], chunk):
        stop = min(shape[0], start + chunk)
        frames[start:stop] = rng.random((stop - start,) + shape[1:]) < p
    return frames


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


#: probability that a band channel of ``shd-like`` fires in a timestep (see :func:`shd_like`)
SHD_BAND_PROBABILITY = 0.25


def shd_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 100,
             n_channels: int = 350, n_classes: int = 20,
             background_rate_hz: float = 5.0,
             band_probability: float = SHD_BAND_PROBABILITY) -> FrameDataset:
    """A seeded temporal task shaped like SHD: 350 channels, 20 classes, 10 ms timesteps.

    Each class is a sequence of 4 "formant" bands (channel ranges of 8-20 channels) active one
    after another for 15-25 timesteps each, drawn from :data:`TASK_SEED`, so every ``seed``
    samples the same task. Classes come in pairs (0, 1), (2, 3), ... that use the same bands for
    the same durations in a different order (ABCD and CDAB), so summed counts cannot tell a pair
    apart: the network needs time. Each sample jitters the onset (starts at timestep 0-10) and
    each band's channels (+/- 3), fires band channels with probability ``band_probability``
    per timestep (0.25: 25 Hz), and adds background noise at ``background_rate_hz`` on every
    channel (Bernoulli per timestep). With the defaults about 20 inputs are active per
    timestep, 17.5 of them background; while a band is on, 2-5 of its 8-20 channels fire
    together.

    Until 2026-12-07 the bands fired at 0.12 (12 Hz, about 1.7 band inputs per timestep):
    hidden layers then carried so few spikes per timestep that F = 8 nearly covered them, and
    a layered-trained model lost only 0.02 under asynchronous scheduling. Coincident band
    input, as a spoken formant drives many cochlear channels in the same 10 ms bin, is what
    makes the task sensitive to layer order (``docs/reproduce.md``); pass
    ``band_probability=0.12`` for the earlier task.

    Args:
        n_samples: number of samples; labels are uniform over the classes.
        seed: seed of the sample draws (labels, jitter, spikes).
        n_timesteps: timesteps per sample, 10 ms each; the 4 bands take 60-100 of them.
        n_channels: input channels, at least 21.
        n_classes: number of classes, >= 1.
        background_rate_hz: background firing rate per channel, Hz, at most 100.
        band_probability: probability that a band channel fires in a timestep, in [0, 1].

    Returns:
        A :class:`FrameDataset` of 0/1 counts, ``dt_ms`` 10.
    """
    _check_range("n_samples", n_samples, 0)
    _check_range("n_timesteps", n_timesteps, 0)
    _check_range("n_channels", n_channels, 21)
    _check_range("n_classes", n_classes, 1)
    _check_range("background_rate_hz", background_rate_hz, 0.0, 1000.0 / SYNTHETIC_DT_MS)
    _check_range("band_probability", band_probability, 0.0, 1.0)
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
    inputs = _bernoulli_frames(rng, (n_samples, n_timesteps, n_channels), p_background)
    for s in range(n_samples):
        t = 5 + int(rng.integers(-5, 6))
        for low, width, duration in classes[labels[s]]:
            shift = int(rng.integers(-3, 4))
            lo, hi = max(0, low + shift), min(n_channels, low + shift + width)
            t_end = min(n_timesteps, t + duration)
            if t < t_end and lo < hi:
                block = rng.random((t_end - t, hi - lo)) < band_probability
                inputs[s, t:t_end, lo:hi] |= block.astype(np.uint8)
            t += duration
    return FrameDataset(inputs, labels, n_classes, "shd-like", SYNTHETIC_DT_MS)




#: side of the dvs-like frame, pixels; inputs are 2 polarities x 32 x 32 = 2048
DVS_SIDE = 32
DVS_FEATURES = 2 * DVS_SIDE * DVS_SIDE
#: bin width of dvs-like, milliseconds (the paper bins DVS gesture at 20 ms)
DVS_DT_MS = 20.0
#: the 11 dvs-like classes: (shape, motion, speed factor). Pairs share the shape and the
#: path and differ only in direction (1/2, 3/4, 5/6) or only in speed (7/8, 9/10)
DVS_CLASSES = (
    (0, "wave", 1.0),       # 0: side to side
    (1, "right", 1.0), (1, "left", 1.0),                 # 1, 2: direction pair
    (2, "down", 1.0), (2, "up", 1.0),                     # 3, 4: direction pair
    (3, "clockwise", 1.0), (3, "counterclockwise", 1.0),  # 5, 6: direction pair
    (4, "right", 1.0), (4, "right", 2.0),                 # 7, 8: speed pair
    (5, "clockwise", 1.0), (5, "clockwise", 2.0),         # 9, 10: speed pair
)


def dvs_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 30,
             event_probability: float = 0.7, background_rate_hz: float = 0.5) -> FrameDataset:
    """A seeded event-camera task shaped like DVS gesture: 2 x 32 x 32 = 2048 inputs
    (polarity, y, x), 11 classes of moving shapes, 20 ms bins.

    Each class moves one of six shapes (random blobs of 20-40 pixels drawn from
    :data:`TASK_SEED`, so every ``seed`` samples the same task) along a path: a sweep across
    the frame (right, left, down, up; 0.8 pixels per bin), a circle of radius 8 pixels (one
    turn in 30 bins), or a side-to-side wave. The classes come in pairs that share shape and
    path and differ only in direction (right/left, down/up, clockwise/counterclockwise) or only
    in speed (x1 or x2, the fast one going back and forth): summed event counts hardly tell a
    pair apart, the order of events does (:data:`DVS_CLASSES`). As on an event camera, a pixel
    the shape enters emits an ON event (polarity 0) and one it leaves an OFF event (polarity
    1), each with probability ``event_probability``; every pixel also fires background events
    at ``background_rate_hz`` per polarity. A sample jitters the path's start (+/- 3 pixels)
    and its speed (+/- 10 %). With the defaults about 35 inputs are active per bin.

    Args:
        n_samples: number of samples; labels are uniform over the 11 classes.
        seed: seed of the sample draws (labels, jitter, events).
        n_timesteps: bins per sample, 20 ms each.
        event_probability: chance that a pixel the shape enters or leaves emits its event,
            in [0, 1].
        background_rate_hz: background event rate per pixel and polarity, Hz, at most 50.

    Returns:
        A :class:`FrameDataset` of 0/1 counts, ``dt_ms`` 20.
    """
    _check_range("n_samples", n_samples, 0)
    _check_range("n_timesteps", n_timesteps, 0)
    _check_range("event_probability", event_probability, 0.0, 1.0)
    _check_range("background_rate_hz", background_rate_hz, 0.0, 1000.0 / DVS_DT_MS)
    task = np.random.default_rng(TASK_SEED + 2)
    shapes = [_blob(task) for _ in range(6)]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(DVS_CLASSES), n_samples)
    p_background = background_rate_hz * DVS_DT_MS / 1000.0
    inputs = _bernoulli_frames(rng, (n_samples, n_timesteps, DVS_FEATURES), p_background)
    for s in range(n_samples):
        shape, motion, speed = DVS_CLASSES[labels[s]]
        offset = rng.uniform(-3, 3, 2)
        speed *= rng.uniform(0.9, 1.1)
        previous = _place(shapes[shape], _path(motion, speed, 0, offset))
        for t in range(n_timesteps):
            current = _place(shapes[shape], _path(motion, speed, t + 1, offset))
            entered = current & ~previous & (rng.random(current.shape) < event_probability)
            left = previous & ~current & (rng.random(current.shape) < event_probability)
            inputs[s, t, :DVS_SIDE * DVS_SIDE] |= entered.ravel()
            inputs[s, t, DVS_SIDE * DVS_SIDE:] |= left.ravel()
            previous = current
    return FrameDataset(inputs, labels, len(DVS_CLASSES), "dvs-like", DVS_DT_MS)


def _blob(rng: np.random.Generator) -> np.ndarray:
    """(k, 2) pixel offsets (y, x) of a random connected blob of 20-40 pixels around 0."""
    cells = {(0, 0)}
    target = int(rng.integers(20, 41))
    while len(cells) < target:
        y, x = list(cells)[int(rng.integers(len(cells)))]
        dy, dx = ((0, 1), (1, 0), (0, -1), (-1, 0))[int(rng.integers(4))]
        if max(abs(y + dy), abs(x + dx)) <= 4:
            cells.add((y + dy, x + dx))
    return np.array(sorted(cells))


def _path(motion: str, speed: float, t: int, offset: np.ndarray) -> np.ndarray:
    """Centre (y, x) of a shape at bin boundary ``t``, pixels (may be fractional)."""
    centre = DVS_SIDE / 2 - 0.5
    if motion in ("clockwise", "counterclockwise"):
        angle = 2 * math.pi * speed * t / 30 * (1 if motion == "clockwise" else -1)
        return centre + offset + 8 * np.array([math.sin(angle), math.cos(angle)])
    if motion == "wave":
        return centre + offset + np.array([0.0, 9 * math.sin(2 * math.pi * t / 15)])
    # a sweep across the frame, back and forth when it reaches an edge (triangle wave)
    span = DVS_SIDE - 10
    travel = 0.8 * speed * t % (2 * span)
    along = 5 + (travel if travel <= span else 2 * span - travel)
    y, x = {"right": (centre, along), "left": (centre, DVS_SIDE - 1 - along),
            "down": (along, centre), "up": (DVS_SIDE - 1 - along, centre)}[motion]
    return np.array([y, x]) + offset


def _place(shape: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A (32, 32) boolean mask of ``shape`` centred at ``at`` (rounded; clipped at edges)."""
    mask = np.zeros((DVS_SIDE, DVS_SIDE), dtype=bool)
    ys = shape[:, 0] + int(round(at[0]))
    xs = shape[:, 1] + int(round(at[1]))
    inside = (ys >= 0) & (ys < DVS_SIDE) & (xs >= 0) & (xs < DVS_SIDE)
    mask[ys[inside], xs[inside]] = True
    return mask


#: side of the cifar-like image, pixels; inputs are 3 colour channels x 32 x 32 = 3072
CIFAR_SIDE = 32
CIFAR_FEATURES = 3 * CIFAR_SIDE * CIFAR_SIDE


def cifar_like(n_samples: int = 256, seed: int = 0, n_timesteps: int = 4,
               max_count: int = 4, noise: float = 0.15) -> FrameDataset:
    """A seeded static-image task shaped like CIFAR-10: 3 x 32 x 32 = 3072 inputs (channel, y,
    x), 10 classes, rate-coded over 4 timesteps (the paper feeds CIFAR-10 in one timestep, as
    currents; spike counts over a few timesteps let refractory output neurons spike more
    than once, so that a spike-count readout can be trained).

    Each class has a template drawn from :data:`TASK_SEED` (so every ``seed`` samples the same
    task): a colour grating of its own orientation and spatial frequency under three soft
    colour blobs. A sample shifts its template by up to +/- 3 pixels, scales its brightness by
    0.7-1.3 and adds Gaussian pixel noise (standard deviation ``noise``); the intensity
    ``p`` in [0, 1] of each pixel and channel becomes a spike count per timestep drawn from
    Binomial(``max_count``, p), so about half of the inputs are active at the defaults (a
    nearest-centroid classifier on 256 samples gets about 0.95: the task tests the simulator,
    not the model).

    Args:
        n_samples: number of samples; labels are uniform over the 10 classes.
        seed: seed of the sample draws (labels, shifts, brightness, noise, spikes).
        n_timesteps: timesteps per sample, each with a fresh draw of the counts (1 ms each).
        max_count: the largest spike count per input and timestep, 1-255.
        noise: standard deviation of the pixel noise, in intensity units, in [0, 1].

    Returns:
        A :class:`FrameDataset` of counts 0..``max_count``, ``dt_ms`` 1.
    """
    _check_range("n_samples", n_samples, 0)
    _check_range("n_timesteps", n_timesteps, 1)
    _check_range("max_count", max_count, 1, 255)
    _check_range("noise", noise, 0.0, 1.0)
    task = np.random.default_rng(TASK_SEED + 3)
    templates = [_image_template(task) for _ in range(10)]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n_samples)
    inputs = np.empty((n_samples, n_timesteps, CIFAR_FEATURES), dtype=np.uint8)
    for s in range(n_samples):
        dy, dx = rng.integers(-3, 4, 2)
        image = np.roll(templates[labels[s]], (int(dy), int(dx)), axis=(1, 2))
        image = image * rng.uniform(0.7, 1.3) + rng.normal(0.0, noise, image.shape)
        p = np.clip(image, 0.0, 1.0).ravel()
        inputs[s] = rng.binomial(max_count, p, (n_timesteps, CIFAR_FEATURES))
    return FrameDataset(inputs, labels, 10, "cifar-like", 1.0)


def _image_template(rng: np.random.Generator) -> np.ndarray:
    """(3, 32, 32) intensities in [0, 1]: an oriented colour grating under three colour blobs."""
    ys, xs = np.mgrid[0:CIFAR_SIDE, 0:CIFAR_SIDE].astype(np.float64)
    angle, frequency = rng.uniform(0, math.pi), rng.uniform(0.15, 0.6)
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * frequency
    grating = 0.5 + 0.5 * np.sin(phase)
    image = 0.35 * rng.uniform(0.2, 1.0, (3, 1, 1)) * grating
    for _ in range(3):
        cy, cx = rng.uniform(6, 26, 2)
        width = rng.uniform(3, 7)
        blob = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * width ** 2))
        image = image + 0.6 * rng.uniform(0.0, 1.0, (3, 1, 1)) * blob
    return np.clip(image, 0.0, 1.0)
