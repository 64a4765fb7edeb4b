"""Event binning, the generated tasks, FrameDataset validation and the .npz loader."""

import time
from pathlib import Path

import numpy as np
import pytest

from asyncsim import InputError
from asyncsim.datasets import (
    BUILTIN,
    FrameDataset,
    cifar_like,
    dvs_like,
    events_to_frames,
    events_to_frames_2d,
    from_arrays,
    load_dataset,
    load_npz,
    nmnist_like,
    shd_like,
)

WORKLOAD = Path(__file__).resolve().parents[2] / "shared" / "workloads" / "nmnist_fc_case.npz"


# ---------------------------------------------------------------------------------------------
# events_to_frames


def test_events_to_frames_counts_bins_and_drops():
    # bins of 10 ms from 0: [0, 10) [10, 20) [20, 30); -1 ms is before the start, 40 ms past
    # the last bin
    times = np.array([0.0, 9.99, 10.0, 25.0, 25.5, -1.0, 40.0])
    chans = np.array([0, 1, 1, 3, 3, 2, 0])
    frames = events_to_frames(times, chans, n_channels=4, dt_ms=10.0, n_timesteps=3)
    expected = np.zeros((3, 4), dtype=np.uint8)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = 1
    expected[2, 3] = 2
    assert frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, expected)
    # None: just enough bins for the 40 ms event, which lands in bin 4
    auto = events_to_frames(times, chans, 4, 10.0)
    assert auto.shape == (5, 4) and auto[4, 0] == 1 and auto[3].sum() == 0
    np.testing.assert_array_equal(auto[:3], expected)


def test_events_to_frames_start_offset_and_order():
    # unsorted events, bins of 2 ms starting at 5 ms: 4.9 is dropped, 5.0 -> bin 0, 8.5 -> bin 1
    frames = events_to_frames([8.5, 4.9, 5.0, 6.99], [1, 0, 0, 2], 3, dt_ms=2.0,
                              t_start_ms=5.0)
    np.testing.assert_array_equal(frames, [[1, 0, 1], [0, 1, 0]])
    assert events_to_frames([], [], 3, 1.0).shape == (0, 3)
    assert events_to_frames([], [], 3, 1.0, n_timesteps=2).sum() == 0


def test_events_to_frames_downsample_700_to_350():
    chans = np.array([0, 1, 2, 3, 3, 698, 699])
    frames = events_to_frames(np.zeros(len(chans)), chans, 700, 10.0, downsample=2)
    expected = np.zeros((1, 350), dtype=np.uint8)
    expected[0, 0] = 2  # channels 0 and 1
    expected[0, 1] = 3  # 2, 3, 3
    expected[0, 349] = 2  # 698, 699
    np.testing.assert_array_equal(frames, expected)
    # every channel once: each of the 350 columns gets exactly its two channels
    full = events_to_frames(np.zeros(700), np.arange(700), 700, 10.0, downsample=2)
    assert full.shape == (1, 350) and np.all(full == 2)
    # a count that does not divide: 5 channels by 2 -> 3 columns, the last holding channel 4
    np.testing.assert_array_equal(
        events_to_frames([0.0, 0.0], [3, 4], 5, 1.0, downsample=2), [[0, 1, 1]])


def test_events_to_frames_saturates_at_255():
    frames = events_to_frames(np.full(300, 0.5), np.zeros(300, int), 2, 1.0)
    assert frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, [[255, 0]])


@pytest.mark.parametrize("args, field", [
    (([0.0], [700], 700, 10.0), "channels"),
    (([0.0], [-1], 700, 10.0), "channels"),
    (([0.0, 1.0], [0], 700, 10.0), "channels"),
    (([np.nan], [0], 700, 10.0), "times_ms"),
    (([0.0], [0], 700, 0.0), "dt_ms"),
    (([0.0], [0], 0, 1.0), "n_channels"),
])
def test_events_to_frames_rejects_bad_input(args, field):
    with pytest.raises(InputError, match=f"'{field}'") as info:
        events_to_frames(*args)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="'downsample'"):
        events_to_frames([0.0], [0], 4, 1.0, downsample=0)


def test_events_to_frames_2d_layout():
    # 4 x 2 sensor, no pooling: feature (p * 2 + y) * 4 + x
    t = np.array([0.0, 0.0, 1.5, 1.5])
    x = np.array([3, 0, 1, 1])
    y = np.array([1, 0, 1, 1])
    p = np.array([1, 0, -1, 1])  # -1 counts as OFF (0)
    frames = events_to_frames_2d(t, x, y, p, width=4, height=2, dt_ms=1.0)
    expected = np.zeros((2, 16), dtype=np.uint8)
    expected[0, (1 * 2 + 1) * 4 + 3] = 1  # ON at (3, 1): 15
    expected[0, 0] = 1  # OFF at (0, 0)
    expected[1, (0 * 2 + 1) * 4 + 1] = 1  # OFF at (1, 1): 5
    expected[1, (1 * 2 + 1) * 4 + 1] = 1  # ON at (1, 1): 13
    np.testing.assert_array_equal(frames, expected)


def test_events_to_frames_2d_pools_pixels():
    # 4 x 4 -> 2 x 2 with downsample 2: pooled pixel (x // 2, y // 2), feature
    # (p * 2 + y') * 2 + x'
    x = np.array([0, 1, 2, 3, 3, 0])
    y = np.array([0, 1, 0, 3, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 1])
    frames = events_to_frames_2d(np.zeros(6), x, y, p, 4, 4, dt_ms=1.0, downsample=2)
    np.testing.assert_array_equal(frames, [[2, 1, 0, 0, 0, 0, 1, 2]])
    # 128 x 128 -> 32 x 32 with 4, as for DVS gestures
    big = events_to_frames_2d([0.0], [127], [127], [1], 128, 128, 1.0, downsample=4)
    assert big.shape == (1, 2 * 32 * 32) and big[0, -1] == 1


def test_events_to_frames_2d_rejects_out_of_range_pixels():
    # x == width would otherwise land in the next row
    with pytest.raises(InputError, match="'x'.*\\[0, 4\\)"):
        events_to_frames_2d([0.0], [4], [0], [0], 4, 2, 1.0)
    with pytest.raises(InputError, match="'y'"):
        events_to_frames_2d([0.0], [0], [2], [0], 4, 2, 1.0)
    with pytest.raises(InputError, match="'polarity'"):
        events_to_frames_2d([0.0], [0], [0], [0, 1], 4, 2, 1.0)


# ---------------------------------------------------------------------------------------------
# Generated tasks


def _nearest_class_mean(train, test, features):
    """Accuracy on ``test`` of a cosine nearest-class-mean classifier fitted on ``train``."""
    a, b = features(train.inputs).astype(float), features(test.inputs).astype(float)
    means = np.stack([a[train.labels == k].mean(0) for k in range(train.n_classes)])
    means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-9
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-9
    predicted = np.argmax(b @ means.T, axis=1)
    return np.mean(predicted == test.labels), predicted


def _summed(x):
    return x.sum(axis=1)


def _ten_windows(x):
    """Counts summed over 10 equal time windows, concatenated."""
    return x.reshape(len(x), 10, x.shape[1] // 10, -1).sum(axis=2).reshape(len(x), -1)


@pytest.mark.parametrize("make", [nmnist_like, shd_like, dvs_like])
def test_generators_are_seeded(make):
    a, a2, b = make(40, seed=0), make(40, seed=0), make(40, seed=1)
    np.testing.assert_array_equal(a.inputs, a2.inputs)
    np.testing.assert_array_equal(a.labels, a2.labels)
    assert not np.array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.labels, b.labels)
    assert a.inputs.dtype == np.uint8 and a.labels.dtype == np.int64
    assert set(np.unique(a.inputs)) <= {0, 1}
    assert a.dt_ms == (20.0 if make is dvs_like else 10.0) and len(a) == 40


def test_nmnist_like_shape_and_activity():
    data = nmnist_like(64, seed=2)
    assert data.inputs.shape == (64, 10, 2312) and data.n_classes == 10
    assert data.name == "nmnist-like"
    active = data.inputs.sum(axis=2)
    # noise pixels can coincide with template pixels, so a few fewer than 150
    assert 140 <= active.min() and active.max() <= 150
    assert abs(active.mean() - 150) < 4
    fewer = nmnist_like(8, seed=2, n_timesteps=4, active_per_timestep=60)
    assert fewer.inputs.shape == (8, 4, 2312)
    assert abs(fewer.inputs.sum(axis=2).mean() - 60) < 3


def test_nmnist_like_classes_are_spatial_and_shared_across_seeds():
    train, test = nmnist_like(200, seed=0), nmnist_like(200, seed=1)
    accuracy, _ = _nearest_class_mean(train, test, _summed)
    assert accuracy > 0.8  # chance is 0.1
    # without the template there is nothing to learn
    noise = nmnist_like(200, seed=0, noise_fraction=1.0)
    noise_test = nmnist_like(200, seed=1, noise_fraction=1.0)
    assert _nearest_class_mean(noise, noise_test, _summed)[0] < 0.3


def test_shd_like_shape_and_activity():
    data = shd_like(64, seed=2)
    assert data.inputs.shape == (64, 100, 350) and data.n_classes == 20
    assert data.name == "shd-like"
    assert 5 < data.inputs.sum(axis=2).mean() < 30
    quiet = shd_like(64, seed=2, background_rate_hz=0.0)
    band = quiet.inputs.sum(axis=2).mean()
    assert 1.5 < band < 5  # one band of 8-20 channels at 0.25, absent at the edges
    earlier = shd_like(64, seed=2, background_rate_hz=0.0, band_probability=0.12)
    assert 0.4 * band < earlier.inputs.sum(axis=2).mean() < 0.6 * band


def _summed_and_timed(make, n: int):
    """Held-out samples of generator ``make`` and the nearest-class-mean accuracy on summed
    counts (with its predictions) and on counts in ten time windows."""
    train, test = make(n, seed=0), make(n, seed=1)
    summed, predicted = _nearest_class_mean(train, test, _summed)
    timed, _ = _nearest_class_mean(train, test, _ten_windows)
    return test, summed, predicted, timed


def test_shd_like_needs_time():
    test, summed, predicted, timed = _summed_and_timed(shd_like, 300)
    assert timed > 0.9  # chance is 0.05
    assert timed > summed + 0.3
    # classes 2k and 2k + 1 use the same bands in another order: summed counts confuse them
    wrong = predicted != test.labels
    assert wrong.sum() > 0.3 * len(test)
    assert np.mean(predicted[wrong] == (test.labels[wrong] ^ 1)) > 0.8


def test_cifar_like_is_seeded_rate_coded_and_learnable_from_its_pixels():
    a, a2, b = cifar_like(200, seed=0), cifar_like(200, seed=0), cifar_like(40, seed=1)
    np.testing.assert_array_equal(a.inputs, a2.inputs)
    assert not np.array_equal(a.inputs[:40], b.inputs)
    assert a.inputs.shape == (200, 4, 3072) and a.n_classes == 10 and a.name == "cifar-like"
    assert a.inputs.max() <= 4 and 0.3 < np.mean(a.inputs > 0) < 0.8
    assert cifar_like(4, max_count=1, n_timesteps=3).inputs.shape == (4, 3, 3072)
    # the classes are told apart by the pixels: nearest class mean on held-out samples
    x, y = a.inputs.reshape(200, -1).astype(float), a.labels
    means = np.stack([x[:150][y[:150] == k].mean(axis=0) for k in range(10)])
    predicted = np.argmin(((x[150:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(predicted == y[150:]) > 0.6


def test_dvs_like_shape_activity_and_event_polarity():
    data = dvs_like(64, seed=2)
    assert data.inputs.shape == (64, 30, 2048) and data.n_classes == 11
    assert data.name == "dvs-like" and data.dt_ms == 20.0
    assert 20 < data.inputs.sum(axis=2).mean() < 60
    quiet = dvs_like(22, seed=3, background_rate_hz=0.0)
    # a shape sweeping right enters pixels on its right side (ON) and leaves them on its left
    # (OFF): ON events lie to the right of OFF events; sweeping left, the other way round
    frames = quiet.inputs.reshape(len(quiet), 30, 2, 32, 32)
    for label, sign in ((1, 1), (2, -1)):
        sample = frames[quiet.labels == label][0, :10]  # the first bins, before any bounce
        on_x = np.nonzero(sample[:, 0])[2].mean()
        off_x = np.nonzero(sample[:, 1])[2].mean()
        assert sign * (on_x - off_x) > 2


def test_dvs_like_pairs_differ_in_time_only():
    test, summed, predicted, timed = _summed_and_timed(dvs_like, 440)
    assert timed > 0.8  # chance is 0.09
    assert timed > summed + 0.1
    # summed counts mistake a class for its direction or speed partner far more often than
    # for any one of the 9 other classes (1 in 10 of its errors if mistakes were uniform)
    partner = {1: 2, 2: 1, 3: 4, 4: 3, 5: 6, 6: 5, 7: 8, 8: 7, 9: 10, 10: 9}
    wrong = np.nonzero(predicted != test.labels)[0]
    assert len(wrong) > 0.15 * len(test)
    to_partner = [predicted[i] == partner.get(int(test.labels[i]), -1) for i in wrong]
    assert np.mean(to_partner) > 0.3


def test_generators_are_fast():
    for make in (nmnist_like, shd_like):
        start = time.perf_counter()
        make(256, seed=5)
        # about 0.1-0.3 s; the bound only catches a slow rewrite
        assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("call, field", [
    (lambda: nmnist_like(4, noise_fraction=1.5), "noise_fraction"),
    (lambda: nmnist_like(4, active_per_timestep=3000), "active_per_timestep"),
    (lambda: shd_like(4, n_channels=10), "n_channels"),
    (lambda: shd_like(4, n_classes=0), "n_classes"),
    (lambda: shd_like(4, band_probability=1.5), "band_probability"),
    (lambda: shd_like(-1), "n_samples"),
    (lambda: dvs_like(4, event_probability=2.0), "event_probability"),
    (lambda: dvs_like(4, background_rate_hz=80.0), "background_rate_hz"),
])
def test_generators_reject_bad_arguments(call, field):
    with pytest.raises(InputError, match=f"'{field}'"):
        call()


# ---------------------------------------------------------------------------------------------
# FrameDataset


def test_frame_dataset_labels_message_is_exact():
    with pytest.raises(InputError) as info:
        FrameDataset(np.zeros((12, 2, 4), np.uint8), np.zeros((3, 4), int), 2, "x")
    assert str(info.value) == ("dataset 'x': field 'labels': expected a 1-D array of length 12, "
                               "got shape (3, 4)")


@pytest.mark.parametrize("inputs, labels, n_classes, dt_ms, field", [
    (np.zeros((2, 3)), [0, 1], 2, 1.0, "inputs"),
    (np.full((1, 1, 1), 300), [0], 2, 1.0, "inputs"),
    (np.full((1, 1, 1), -1), [0], 2, 1.0, "inputs"),
    (np.full((1, 1, 1), 0.5), [0], 2, 1.0, "inputs"),
    (np.zeros((1, 1, 1)), [5], 2, 1.0, "labels"),
    (np.zeros((1, 1, 1)), [-1], 2, 1.0, "labels"),
    (np.zeros((1, 1, 1)), [0.0], 2, 1.0, "labels"),
    (np.zeros((1, 1, 1)), [0], 0, 1.0, "n_classes"),
    (np.zeros((1, 1, 1)), [0], 2, 0.0, "dt_ms"),
    (np.zeros((1, 1, 1)), [0], 2, float("nan"), "dt_ms"),
])
def test_frame_dataset_validation_names_the_field(inputs, labels, n_classes, dt_ms, field):
    with pytest.raises(InputError, match=f"^dataset 'd': field '{field}': expected") as info:
        FrameDataset(inputs, np.asarray(labels), n_classes, "d", dt_ms)
    assert "\n" not in str(info.value)


def test_frame_dataset_converts_and_slices():
    counts = np.arange(24, dtype=np.int64).reshape(3, 2, 4)
    data = FrameDataset(counts, np.array([0, 2, 1], np.int32), 3, "c", 5)
    assert data.inputs.dtype == np.uint8 and data.labels.dtype == np.int64
    np.testing.assert_array_equal(data.inputs, counts)
    assert (data.n_samples, data.n_timesteps, data.n_features, len(data)) == (3, 2, 4, 3)
    assert isinstance(data.dt_ms, float) and data.dt_ms == 5.0
    head = data.subset(2)
    np.testing.assert_array_equal(head.inputs, counts[:2])
    np.testing.assert_array_equal(head.labels, [0, 2])
    assert (head.n_classes, head.name, head.dt_ms) == (3, "c", 5.0)
    spikes = FrameDataset(np.ones((1, 2, 2), bool), np.array([0]), 1)
    assert spikes.inputs.dtype == np.uint8 and spikes.inputs.sum() == 4


def test_from_arrays_defaults_n_classes():
    data = from_arrays(np.zeros((3, 1, 2)), [0, 4, 1])
    assert data.n_classes == 5 and data.name == "arrays" and data.dt_ms == 1.0


# ---------------------------------------------------------------------------------------------
# Loading


def test_npz_round_trip(tmp_path):
    data = nmnist_like(4, seed=3)
    path = tmp_path / "d.npz"
    np.savez(path, inputs=data.inputs, labels=data.labels, n_classes=12, dt_ms=2.5)
    loaded = load_npz(path)
    np.testing.assert_array_equal(loaded.inputs, data.inputs)
    np.testing.assert_array_equal(loaded.labels, data.labels)
    assert (loaded.n_classes, loaded.dt_ms, loaded.name) == (12, 2.5, str(path))
    head = load_dataset(str(path), n_samples=3)
    np.testing.assert_array_equal(head.inputs, data.inputs[:3])


def test_npz_workload_layout_uses_dt_in_microseconds(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "workload.npz"
    np.savez(path, W1=rng.random((3, 6)), W2=rng.random((2, 3)), layer_sizes=[6, 3, 2],
             inputs=(rng.random((5, 4, 6)) < 0.5).astype(np.uint8), labels=[0, 1, 1, 0, 1],
             dt=10_000.0, tau_m=1000.0, note="extra keys are ignored")
    data = load_npz(path)
    assert data.inputs.shape == (5, 4, 6) and data.dt_ms == 10.0 and data.n_classes == 2


@pytest.mark.skipif(not WORKLOAD.exists(), reason="shared workload not present")
def test_shared_workload_loads():
    data = load_npz(WORKLOAD)
    assert data.inputs.shape == (256, 10, 2312) and data.dt_ms == 10.0
    assert data.n_classes == 10
    assert np.all(data.inputs.sum(axis=2) == 150)


def test_npz_errors_name_file_and_key(tmp_path):
    inputs = np.zeros((3, 2, 4), np.uint8)
    np.savez(tmp_path / "bad.npz", inputs=inputs)
    with pytest.raises(InputError, match="bad.npz: key 'labels' missing"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "shape.npz", inputs=inputs, labels=np.zeros(2, int))
    with pytest.raises(InputError, match="shape.npz.*field 'labels'.*length 3"):
        load_npz(tmp_path / "shape.npz")
    np.savez(tmp_path / "dt.npz", inputs=inputs, labels=np.zeros(3, int), dt_ms=[1.0, 2.0])
    with pytest.raises(InputError, match="dt.npz: key 'dt_ms'"):
        load_npz(tmp_path / "dt.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(InputError, match="text.npz: not a readable .npz"):
        load_npz(tmp_path / "text.npz")
    with pytest.raises(InputError, match="no such file"):
        load_npz(tmp_path / "absent.npz")


def test_load_dataset_builtins_and_unknown_names():
    data = load_dataset("shd-like", n_samples=3, seed=4)
    assert data.inputs.shape == (3, 100, 350)
    np.testing.assert_array_equal(data.inputs, shd_like(3, seed=4).inputs)
    assert load_dataset("nmnist-like").n_samples == 256
    with pytest.raises(InputError, match="nmnist-like, shd-like") as info:
        load_dataset("no-such-data")
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="n_samples"):
        load_dataset("nmnist-like", n_samples=0)
    assert set(BUILTIN) == {"nmnist-like", "shd-like", "dvs-like", "cifar-like", "yin-yang",
                            "sequence", "randman"}


def test_background_frames_drawn_in_chunks_equal_one_whole_draw():
    from asyncsim.datasets.generated import _bernoulli_frames

    shape = (150, 30, 2048)  # about 68 samples per chunk: three chunks
    chunked = _bernoulli_frames(np.random.default_rng(7), shape, 0.01)
    whole = (np.random.default_rng(7).random(shape) < 0.01).astype(np.uint8)
    np.testing.assert_array_equal(chunked, whole)
