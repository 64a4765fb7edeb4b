"""Dataset readers on files written in their real formats, generated tasks, and the data and
convert commands."""

import numpy as np
import pytest
from click.testing import CliRunner

from asyncsim import InputError, random_feedforward, save_model
from asyncsim.cli.main import cli
from asyncsim.datasets import load_dataset
from asyncsim.datasets.readers import (
    from_event_stream,
    read_nmnist_file,
    read_nmnist_folder,
    read_shd_hdf5,
    write_nmnist_file,
)
from asyncsim.datasets.tasks import randman, sequence_detection, yin_yang, yin_yang_class

EVENT = [("t", np.int64), ("x", np.int64), ("y", np.int64), ("p", np.int64)]


def write_shd(path, samples):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        vlen_f = h5py.vlen_dtype(np.float32)
        vlen_u = h5py.vlen_dtype(np.uint16)
        times = f.create_dataset("spikes/times", (len(samples),), dtype=vlen_f)
        units = f.create_dataset("spikes/units", (len(samples),), dtype=vlen_u)
        for i, (t, u, _) in enumerate(samples):
            times[i], units[i] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint8))


def test_shd_hdf5(tmp_path):
    path = tmp_path / "shd_test.h5"
    write_shd(path, [([0.0, 0.0123, 0.0125, 0.031], [0, 1, 699, 4], 3),
                     ([0.005], [10], 7)])
    data = read_shd_hdf5(path)  # 10 ms bins, 700 -> 350 channels
    assert data.inputs.shape == (2, 4, 350)
    expected = np.zeros((4, 350), np.uint8)
    expected[0, 0] = 1      # t 0, unit 0
    expected[1, 0] = 1      # t 12.3 ms, unit 1 -> column 0
    expected[1, 349] = 1    # unit 699
    expected[3, 2] = 1      # t 31 ms, unit 4
    np.testing.assert_array_equal(data.inputs[0], expected)
    assert list(data.labels) == [3, 7] and data.dt_ms == 10.0
    assert load_dataset(str(path), n_samples=1).inputs.shape == (1, 4, 350)


def test_shd_broken_files(tmp_path):
    h5py = pytest.importorskip("h5py")
    whole = tmp_path / "whole.h5"
    write_shd(whole, [([0.0, 0.5], [1, 2], 0)])
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[:700])
    with pytest.raises(InputError, match=r"cut.h5: not a readable HDF5 file"):
        read_shd_hdf5(cut)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.create_dataset("labels", data=np.zeros(2, np.uint8))
    with pytest.raises(InputError, match="partial.h5: key 'spikes/times' missing"):
        read_shd_hdf5(partial)


def test_nmnist_binary_layout(tmp_path):
    path = tmp_path / "one.bin"
    t = 70_000  # needs all 23 time bits' upper part
    path.write_bytes(bytes([3, 5, 0x80 | (t >> 16), (t >> 8) & 0xFF, t & 0xFF,
                            33, 0, 0x00, 0x00, 0x10]))
    events = read_nmnist_file(path)
    assert events.tolist() == [(70_000, 3, 5, 1), (16, 33, 0, 0)]
    path.write_bytes(path.read_bytes()[:7])
    with pytest.raises(InputError, match="one.bin: 7 bytes is not a whole number"):
        read_nmnist_file(path)


def test_nmnist_folder(tmp_path):
    for label, x in ((2, 4), (7, 9)):
        (tmp_path / str(label)).mkdir()
        events = np.array([(1_000, x, 1, 1), (25_000, x, 2, 0)], dtype=EVENT)
        write_nmnist_file(tmp_path / str(label) / "00001.bin", events)
    data = read_nmnist_folder(tmp_path, n_timesteps=3)
    assert data.inputs.shape == (2, 3, 2312) and list(data.labels) == [2, 7]
    on = (1 * 34 + 1) * 34 + 4        # polarity 1, y 1, x 4
    off = (0 * 34 + 2) * 34 + 4       # polarity 0, y 2, x 4
    assert data.inputs[0, 0, on] == 1 and data.inputs[0, 2, off] == 1
    assert data.inputs[0].sum() == 2
    assert load_dataset(str(tmp_path)).n_samples == 2


def test_any_event_stream():
    one_d = [(np.array([(500, 3), (1500, 3)], dtype=[("t", np.int64), ("x", np.int64)]), 1)]
    data = from_event_stream(one_d, sensor_size=(8,), dt_ms=1.0, n_timesteps=2)
    np.testing.assert_array_equal(data.inputs[0][:, 3], [1, 1])
    with pytest.raises(InputError, match="need fields 't' and 'x'"):
        from_event_stream([(np.zeros(2, dtype=[("q", int)]), 0)], (8,), 1.0, 2)


def test_yin_yang_definition():
    assert yin_yang_class(0.75, 0.5) == 2 and yin_yang_class(0.25, 0.5) == 2
    assert yin_yang_class(0.25, 0.35) == 1   # ring around the left dot: yin
    assert yin_yang_class(0.75, 0.35) == 0   # ring around the right dot: yang
    data = yin_yang(600, seed=1)
    assert data.inputs.shape == (600, 30, 5) and (data.inputs.sum(axis=(1, 2)) == 5).all()
    assert min(np.bincount(data.labels, minlength=3)) > 150
    # x and 1 - x fire at mirrored times: t(x) + t(1 - x) = 2 * 0.02 + 29.96 ms
    first = np.argmax(data.inputs[:, :, 0] > 0, axis=1) + np.argmax(data.inputs[:, :, 2] > 0,
                                                                     axis=1)
    assert set(first) <= {28, 29, 30}


def test_sequence_and_randman():
    data = sequence_detection(20, seed=0)
    sums = data.inputs.sum(axis=1)
    assert (sums == 1).all()  # same counts for both classes: only order tells them apart
    assert all(data.inputs[i, 0, data.labels[i]] == 1 for i in range(20))
    a, b = randman(40, seed=0), randman(40, seed=0)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert (a.inputs.sum(axis=1) == 1).all()
    c = randman(40, seed=1)
    assert not np.array_equal(a.inputs, c.inputs)


def test_data_list_and_convert(tmp_path):
    pytest.importorskip("nir")
    runner = CliRunner()
    listed = runner.invoke(cli, ["data", "list"])
    assert listed.exit_code == 0 and "yin-yang" in listed.output and "tonic" in listed.output
    net = random_feedforward([5, 6, 3], seed=0, gain=2.0, tau_m_ms=10.0, dt_ms=1.0)
    save_model(net, tmp_path / "m.yaml")
    to_nir = runner.invoke(cli, ["convert", str(tmp_path / "m.yaml"), str(tmp_path / "m.nir")])
    assert to_nir.exit_code == 0, to_nir.output
    missing_dt = runner.invoke(cli, ["run", str(tmp_path / "m.nir"), "--data", "yin-yang"])
    assert missing_dt.exit_code == 2 and "--dt" in missing_dt.output
    run = runner.invoke(cli, ["run", str(tmp_path / "m.nir"), "--dt", "1", "--data", "yin-yang",
                              "--samples", "20"])
    assert run.exit_code == 0, run.output
    back = runner.invoke(cli, ["convert", str(tmp_path / "m.nir"), str(tmp_path / "b.yaml"),
                               "--dt", "1"])
    assert back.exit_code == 0, back.output
    bad = runner.invoke(cli, ["convert", str(tmp_path / "m.yaml"), str(tmp_path / "m.txt")])
    assert bad.exit_code == 2 and "m.txt" in bad.output


def test_nir_data_files(tmp_path):
    nir = pytest.importorskip("nir")
    idx = np.array([[0, 2, 2, -1], [1, -1, -1, -1]])
    time = np.array([[0.0005, 0.0012, 0.0019, np.inf], [0.0031, np.inf, np.inf, np.inf]])
    events = nir.EventData(idx=idx, time=time, n_neurons=3, t_max=0.004)
    gridded = nir.TimeGriddedData(data=np.ones((2, 5, 3)), dt=0.002)
    path = tmp_path / "data.nir"
    nir.write_data(str(path), nir.NIRGraphData(nodes={
        "input": nir.NIRNodeData(observables={"spikes": events})}))
    data = load_dataset(f"nir-data:{path}")
    assert data.inputs.shape == (2, 4, 3)
    np.testing.assert_array_equal(data.inputs[0, :, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(data.inputs[0, :, 2], [0, 2, 0, 0])
    assert data.inputs[1, 3, 1] == 1 and data.inputs.sum() == 4
    from asyncsim.datasets.readers import read_nir_data

    both = tmp_path / "both.nir"
    nir.write_data(str(both), nir.NIRGraphData(nodes={
        "input": nir.NIRNodeData(observables={"spikes": events, "rates": gridded})}))
    grid = read_nir_data(both, observable="rates")
    assert grid.inputs.shape == (2, 5, 3) and grid.dt_ms == 2.0
    with pytest.raises(InputError, match="no observable 'x'"):
        read_nir_data(path, observable="x")
    broken = tmp_path / "broken.nir"
    broken.write_bytes(b"\x89HDF\r\n")
    with pytest.raises(InputError, match="broken.nir: not a readable NIR data file"):
        read_nir_data(broken)


def test_tonic_datasets_through_tonics_interface(monkeypatch):
    """tonic is not a dependency; a stand-in with tonic's dataset interface (class attributes
    sensor_size and classes, indexing gives (events, label)) checks our side of it."""
    import sys
    import types

    class FakeGesture:
        sensor_size = (128, 128, 2)
        classes = [f"g{i}" for i in range(11)]

        def __init__(self, save_to, train):
            self.save_to, self.train = save_to, train

        def __len__(self):
            return 3

        def __getitem__(self, i):
            events = np.array([(1_000 * (i + 1), 5, 9, 1), (45_000, 127, 127, 0)],
                              dtype=EVENT)
            return events, i + 4

    fake = types.ModuleType("tonic")
    fake.datasets = types.SimpleNamespace(FakeGesture=FakeGesture)
    monkeypatch.setitem(sys.modules, "tonic", fake)
    data = load_dataset("tonic:FakeGesture:/nowhere", n_samples=2)
    assert data.inputs.shape == (2, 75, 2048) and list(data.labels) == [4, 5]
    assert data.n_classes == 11 and data.dt_ms == 20.0
    on = (1 * 32 + 9 // 4) * 32 + 5 // 4  # polarity 1, pooled pixel (1, 2)
    assert data.inputs[0, 0, on] == 1 and data.inputs[0, 2, 32 * 32 - 1] == 1
    with pytest.raises(InputError, match="tonic dataset 'Nope'"):
        load_dataset("tonic:Nope:/nowhere")
