"""Reliability: bad input is refused before work with one line (exit 2), nothing already
written is damaged, nothing is silently wrong, sizes are checked up front, workers die with
their parent. One regression test per reported case, then a seeded fuzz test."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import random_inputs, write_tiny_workspace

from asyncsim import InputError, Simulator, random_feedforward, save_model
from asyncsim.cli.main import cli
from asyncsim.network import ConvProjection, DenseProjection, Layer, Network


def invoke(*args):
    """Run the CLI in this process; returns (exit code, stderr lines, exception)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return result.exit_code, lines, exception


def assert_refused(args, *names):
    code, lines, exception = invoke(*args)
    assert exception is None, repr(exception)
    assert code == 2, (args, lines)
    assert len(lines) == 1 and lines[0].startswith("Error:"), lines
    assert any(n in lines[0] for n in names), (names, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def workspace(tmp_path):
    return write_tiny_workspace(tmp_path, "sweep.yaml", 6)


# -- damage ------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"hello\nworld", b"\x93NUMPY\x01\x00garbage\x00\xff",
                                     bytes(range(256)) * 3, b"index,point_id\n1,2"])
def test_resume_never_touches_a_file_that_is_not_this_sweeps_results(workspace, content):
    target = workspace / "precious.dat"
    target.write_bytes(content)
    assert_refused(["sweep", workspace / "sweep.yaml", "--out", target, "--resume",
                    "--executor", "serial"], "precious.dat")
    assert target.read_bytes() == content


@pytest.mark.parametrize("command", [
    ["run", "{tiny}", "--data", "{data}", "--json", "{missing}/r.json"],
    ["run", "{tiny}", "--data", "{data}", "--trace", "{missing}/t.npz"],
    ["run", "{tiny}", "--data", "{data}", "--json", "{folder}"],
    ["train", "12-8-4", "--data", "{data}", "--out", "{missing}/m.yaml", "--epochs", "1"],
    ["train", "12-8-4", "--data", "{data}", "--out", "{folder}/m.yaml", "--epochs", "1",
     "--checkpoint", "{missing}/c.npz"],
    ["sweep", "{spec}", "--out", "{missing}/r.csv"],
    ["plot", "{spec}", "-o", "{missing}/p.png"],
    ["convert", "{tiny}", "{missing}/m.nir"],
])
def test_output_paths_are_checked_before_any_work(workspace, command):
    names = {"tiny": workspace / "tiny.yaml", "data": workspace / "data.npz",
             "missing": workspace / "no" / "such", "folder": workspace,
             "spec": workspace / "sweep.yaml"}
    args = [part.format(**names) for part in command]
    before = snapshot(workspace)
    assert_refused(args, "folder", "does not exist", "directory")
    assert snapshot(workspace) == before


# -- silently wrong ----------------------------------------------------------------------------


def test_repeated_grid_values_or_zip_rows_are_refused(workspace):
    spec = yaml.safe_load((workspace / "sweep.yaml").read_text())
    for change, key in ((dict(grid={"forward_group": [1, 1]}), "grid.forward_group"),
                        (dict(grid={"momentum_noise": [1, 1.0]}), "grid.momentum_noise"),
                        (dict(grid={}, zip={"seed": [0, 0], "forward_group": [2, 2]}),
                         "zip")):
        (workspace / "s.yaml").write_text(yaml.safe_dump({**spec, **change}))
        assert_refused(["sweep", workspace / "s.yaml", "--out", workspace / "r.csv"], key)
        assert not (workspace / "r.csv").exists()


def _recurrent_net():
    rng = np.random.default_rng(0)
    return Network(6, [Layer("h", 5), Layer("o", 3)], [
        DenseProjection("input", "h", rng.normal(0.3, 0.5, (5, 6))),
        DenseProjection("h", "h", rng.normal(0, 0.3, (5, 5))),
        DenseProjection("h", "o", rng.normal(0.2, 0.5, (3, 5)))])


def test_recurrence_under_layer_synchronization_does_not_deadlock():
    # it used to wait forever (zero spikes, no warning): recurrent spikes now arrive in the
    # next timestep, as in every layer-by-layer framework (checked against one in
    # tests/test_neuron_models.py)
    net = _recurrent_net()
    inputs = random_inputs(3, 6, 6, rate=0.5)
    for options in (dict(synchronization="layer"), dict(sync_threshold="fan-in")):
        report = Simulator(net, **options).run(inputs)
        assert report.config.recurrent_delivery == "next_timestep"
        assert report.per_sample["spikes_per_layer"].sum() > 0
        assert report.per_sample["guard_stops"].sum() == 0
    from asyncsim.hardware import ChipSimulator

    assert ChipSimulator(net, "loihi").run(inputs).per_sample["spikes_per_layer"].sum() > 0


def test_zero_samples_or_timesteps_are_refused_and_json_is_strict(workspace):
    for shape in ((0, 3, 12), (3, 0, 12)):
        np.savez(workspace / "empty.npz", inputs=np.zeros(shape, np.uint8),
                 labels=np.zeros(shape[0], int))
        assert_refused(["run", workspace / "tiny.yaml", "--data", workspace / "empty.npz",
                        "--json", workspace / "r.json"], "inputs")
        assert not (workspace / "r.json").exists()


def test_a_layer_that_never_fires_is_reported_with_its_likely_cause(workspace):
    net = random_feedforward([12, 10, 4], seed=3, gain=0.01, threshold=5.0)
    report = Simulator(net).run(random_inputs(4, 3, 12, rate=0.4))
    warnings = report.warnings()
    assert any("layer 'hidden1' never fired on any of 4 samples" in w and "output" in w
               for w in warnings), warnings
    assert "WARNING: layer 'hidden1' never fired" in report.summary()
    silent_input = Simulator(random_feedforward([12, 10, 4], seed=3)).run(
        np.zeros((2, 3, 12), np.uint8))
    assert any("input has no spikes" in w for w in silent_input.warnings())
    nir = random_feedforward([12, 10, 4], seed=3, gain=0.01, threshold=5.0)
    nir.metadata["imported_from"] = "model.nir"
    assert any("--dt" in w for w in Simulator(nir).run(random_inputs(2, 3, 12)).warnings())
    lively = Simulator(random_feedforward([12, 10, 4], seed=3, gain=3.0)).run(
        random_inputs(4, 3, 12, rate=0.5))
    assert lively.warnings() == []


def test_nir_export_of_layer_names_with_slashes_reads_back(tmp_path):
    pytest.importorskip("nir")
    net = Network(3, [Layer("block/a", 4), Layer("out/x", 2)], [
        DenseProjection("input", "block/a", np.ones((4, 3))),
        DenseProjection("block/a", "out/x", np.ones((2, 4)))])
    code, lines, exception = invoke("convert", _saved(net, tmp_path), tmp_path / "m.nir")
    assert code == 0 and exception is None, lines
    from asyncsim.nir_io import load_nir

    back = load_nir(tmp_path / "m.nir", 1.0)
    assert [layer.name for layer in back.layers] == ["block/a", "out/x"]


def _saved(net, folder):
    save_model(net, folder / "net.yaml")
    return folder / "net.yaml"


# -- tracebacks, hangs and sizes ---------------------------------------------------------------


@pytest.mark.parametrize("option", ["--seed", "-F", "--max-steps", "--steps-after-output",
                                    "--histogram-bins"])
def test_integers_beyond_64_bits_are_one_line_errors(option):
    assert_refused(["run", "nmnist-untrained", "--samples", "1", option, str(2**70)],
                   "expected an integer")


def test_sizes_are_estimated_before_allocating(tmp_path):
    line = assert_refused(["run", "nmnist-untrained", "--samples", str(10**9)], "needs about")
    assert "--allow-large" in line
    # 15.7 M neurons, 425 M synapses in the convolution (kernel 3 x 3 x 3; compiled to its
    # kernel) and 1 G in the dense readout (compiled to per-synapse rows)
    n_conv = 4096 * 62 * 62
    huge = Network(3 * 64 * 64, [Layer("c", n_conv), Layer("o", 64)], [
        ConvProjection("input", "c", np.ones((4096, 3, 3, 3)), (3, 64, 64)),
        DenseProjection("c", "o", np.broadcast_to(np.float64(0.0), (64, n_conv)))])
    with pytest.raises(InputError, match="synapses.*needs about"):
        Simulator(huge)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"models": ["nmnist-untrained"],
                                    "dataset": {"name": "nmnist-like", "samples": 1},
                                    "repeats": 10**9}))
    start = time.perf_counter()
    assert_refused(["sweep", spec, "--out", tmp_path / "r.csv"], "1,000,000,000")
    spec.write_text(yaml.safe_dump({"models": ["nmnist-untrained"],
                                    "dataset": {"name": "nmnist-like", "samples": 1},
                                    "grid": {"seed": list(range(1000)),
                                             "max_steps": list(range(1, 1001))}}))
    assert_refused(["sweep", spec, "--out", tmp_path / "r.csv"], "1,000,000")
    assert time.perf_counter() - start < 30


def test_malformed_hdf5_spike_times_are_refused(tmp_path):
    h5py = pytest.importorskip("h5py")
    for bad, expect in ((np.nan, "not a finite number"), (1e9, "needs about")):
        path = tmp_path / "shd.h5"
        with h5py.File(path, "w") as f:
            times = f.create_group("spikes").create_dataset(
                "times", (1,), dtype=h5py.vlen_dtype(np.float64))
            units = f["spikes"].create_dataset("units", (1,), dtype=h5py.vlen_dtype(np.int64))
            times[0] = np.array([0.01, bad])
            units[0] = np.array([3, 4])
            f.create_dataset("labels", data=np.array([1]))
        from asyncsim.datasets import load_dataset

        with pytest.raises(InputError, match=expect):
            load_dataset(str(path))


def test_a_model_whose_source_is_a_list_is_refused(tmp_path):
    net = random_feedforward([12, 10, 4], seed=3)
    path = _saved(net, tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["projections"][0]["source"] = ["input"]
    path.write_text(yaml.safe_dump(doc))
    assert_refused(["run", path, "--samples", "1"], "source")


def test_an_unreachable_scheduler_is_reported_before_anything_is_written(workspace):
    pytest.importorskip("dask.distributed")
    out = workspace / "r.csv"
    start = time.perf_counter()
    assert_refused(["sweep", workspace / "sweep.yaml", "--out", out, "--scheduler",
                    "tcp://127.0.0.1:9", "--connect-timeout", "2"], "cannot reach")
    assert time.perf_counter() - start < 25 and not out.exists()


def test_sweep_models_and_datasets_are_checked_up_front(workspace):
    (workspace / "notamodel.yaml").write_text("just: text\n")
    for change, key in ((dict(models=["notamodel.yaml"]), "models"),
                        (dict(dataset={"name": "nosuch.npz"}), "dataset")):
        doc = {**yaml.safe_load((workspace / "sweep.yaml").read_text()), **change}
        (workspace / "s.yaml").write_text(yaml.safe_dump(doc))
        assert_refused(["sweep", workspace / "s.yaml", "--out", workspace / "r.csv"], key)
        assert not (workspace / "r.csv").exists()


def test_usage_errors_are_one_line():
    assert_refused(["run"], "MODEL")
    assert_refused(["run", "nmnist-untrained", "--policy", "bogus"], "--policy")
    assert_refused(["frobnicate"], "frobnicate")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(proc.name))
    out, todo = [], [pid]
    while todo:
        found = children.get(todo.pop(), [])
        out += found
        todo += found
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_pool_workers_die_with_a_killed_sweep(workspace):
    np.savez(workspace / "data.npz", inputs=random_inputs(48, 20, 12, rate=0.4, seed=1),
             labels=np.arange(48) % 4)
    doc = {"models": ["tiny.yaml"], "dataset": {"name": "data.npz"},
           "grid": {"forward_group": list(range(1, 25)), "policy": ["random", "fifo"]}}
    (workspace / "s.yaml").write_text(yaml.safe_dump(doc))
    out = workspace / "r.csv"
    child = subprocess.Popen([sys.executable, "-m", "asyncsim.cli", "sweep", "s.yaml", "--out",
                              str(out), "--workers", "2", "--no-progress"], cwd=workspace,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and out.read_text().count("\n") >= 2):
        time.sleep(0.02)
    workers = _descendants(child.pid)
    assert child.poll() is None and workers
    os.kill(child.pid, signal.SIGKILL)  # the parent only
    child.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_running(w) for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if _running(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert alive == []


def test_a_per_core_group_of_zero_on_a_timer_chip_is_refused():
    # on timer chips F is the per-core quota, where 0 would silently mean "no quota"
    assert_refused(["run", "nmnist-untrained", "--samples", "1", "--profile", "spinnaker",
                    "-F", "0"], "forward_group")


def test_plotting_an_empty_results_file_names_it(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("index,point_id\n")
    assert_refused(["plot", empty, "-o", tmp_path / "p.png"], "empty.csv")
