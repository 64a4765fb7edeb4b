"""Event binning, generated tasks and the .npz loader."""

import numpy as np
import pytest

from asyncsim import InputError
from asyncsim.datasets import (
    FrameDataset,
    events_to_frames,
    events_to_frames_2d,
    load_dataset,
    load_npz,
    nmnist_like,
    shd_like,
)


def test_events_to_frames_counts_bins_and_drops():
    times = np.array([0.0, 9.99, 10.0, 25.0, 25.5, -1.0, 40.0])
    chans = np.array([0, 1, 1, 3, 3, 2, 0])
    frames = events_to_frames(times, chans, n_channels=4, dt_ms=10.0, n_timesteps=3)
    expected = np.zeros((3, 4), dtype=np.uint8)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = 1
    expected[2, 3] = 2
    np.testing.assert_array_equal(frames, expected)
    assert events_to_frames(times, chans, 4, 10.0).shape == (5, 4)  # up to the 40 ms event


def test_events_to_frames_downsamples_channels():
    chans = np.arange(700)
    frames = events_to_frames(np.zeros(700), chans, 700, 10.0, downsample=2)
    assert frames.shape == (1, 350)
    assert np.all(frames == 2)
    with pytest.raises(InputError, match="channels"):
        events_to_frames(np.zeros(1), np.array([700]), 700, 10.0)


def test_events_to_frames_2d_layout():
    # pixel (x=3, y=1) polarity 1 on a 4 x 2 sensor, no downsampling: (1 * 2 + 1) * 4 + 3 = 15
    frames = events_to_frames_2d(np.array([0.0]), np.array([3]), np.array([1]), np.array([1]),
                                 width=4, height=2, dt_ms=1.0)
    assert frames.shape == (1, 16) and frames[0, 15] == 1 and frames.sum() == 1
    pooled = events_to_frames_2d(np.zeros(4), np.array([0, 1, 2, 3]), np.zeros(4, int),
                                 np.zeros(4, int), width=4, height=4, dt_ms=1.0, downsample=2)
    assert pooled.shape == (1, 8)
    np.testing.assert_array_equal(pooled[0, :2], [2, 2])


def _nearest_class_mean(train, test, features):
    a, b = features(train.inputs).astype(float), features(test.inputs).astype(float)
    means = np.stack([a[train.labels == k].mean(0) for k in range(train.n_classes)])
    means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-9
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-9
    return np.mean(np.argmax(b @ means.T, axis=1) == test.labels)


def test_nmnist_like_shape_determinism_and_learnability():
    a, a2, b = nmnist_like(200, seed=0), nmnist_like(200, seed=0), nmnist_like(200, seed=1)
    assert a.inputs.shape == (200, 10, 2312) and a.inputs.dtype == np.uint8
    np.testing.assert_array_equal(a.inputs, a2.inputs)
    assert not np.array_equal(a.inputs, b.inputs)
    assert abs(a.inputs.sum(axis=2).mean() - 150) < 5
    assert _nearest_class_mean(a, b, lambda x: x.sum(axis=1)) > 0.8


def test_shd_like_needs_time():
    train, test = shd_like(300, seed=0), shd_like(300, seed=1)
    assert train.inputs.shape == (300, 100, 350) and train.n_classes == 20
    summed = _nearest_class_mean(train, test, lambda x: x.sum(axis=1))
    timed = _nearest_class_mean(
        train, test, lambda x: x.reshape(len(x), 10, 10, -1).sum(axis=2).reshape(len(x), -1))
    assert timed > 0.9
    assert timed > summed + 0.2  # class pairs differ only in the order of their bands
    assert 3 < train.inputs.sum(axis=2).mean() < 40


def test_frame_dataset_validation_is_one_line():
    with pytest.raises(InputError, match="field 'labels'") as info:
        FrameDataset(np.zeros((3, 2, 4)), np.zeros((3, 4), int), 2)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="field 'inputs'"):
        FrameDataset(np.full((1, 1, 1), 300), np.zeros(1, int), 2)
    with pytest.raises(InputError, match="labels"):
        FrameDataset(np.zeros((1, 1, 1)), np.array([5]), 2)


def test_npz_round_trip_and_missing_key(tmp_path):
    data = nmnist_like(4, seed=3)
    np.savez(tmp_path / "d.npz", inputs=data.inputs, labels=data.labels, dt_ms=10.0)
    loaded = load_dataset(str(tmp_path / "d.npz"), n_samples=3)
    np.testing.assert_array_equal(loaded.inputs, data.inputs[:3])
    assert loaded.dt_ms == 10.0
    np.savez(tmp_path / "bad.npz", inputs=data.inputs)
    with pytest.raises(InputError, match="bad.npz.*'labels'"):
        load_npz(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="nmnist-like"):
        load_dataset("no-such-data")
