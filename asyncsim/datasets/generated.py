"""Generated tasks shaped like two of the paper's datasets (no download): ``nmnist-like``
(spatial, 2312 features, 10 classes) and ``shd-like`` (temporal, 350 channels, 20 classes),
each seeded, 10 ms timesteps. The tasks of the literature (Yin-Yang, sequence detection,
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


