"""Sweeps: spec validation, executors agree, failures are recorded, nothing is lost or repeated
on resume, and plots are drawn."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import random_inputs

from asyncsim import InputError, random_feedforward, save_model
from asyncsim.cli.main import cli
from asyncsim.sweeps import load_sweep, parse_sweep, read_results, run_sweep
from asyncsim.sweeps.plots import pareto_front

VOLATILE = ("seconds",)  # the only column that may differ between runs


@pytest.fixture
def workspace(tmp_path):
    """A tiny model and dataset beside a sweep file that refers to them by relative path."""
    net = random_feedforward([12, 10, 4], seed=3, gain=2.0, tau_m_ms=20.0, dt_ms=1.0)
    save_model(net, tmp_path / "tiny.yaml")
    inputs = random_inputs(6, 3, 12, rate=0.4, seed=1)
    np.savez(tmp_path / "data.npz", inputs=inputs, labels=np.arange(6) % 4)
    return tmp_path


def write_spec(folder, **changes):
    doc = {"name": "t", "models": ["tiny.yaml"], "dataset": {"name": "data.npz"},
           "grid": {"forward_group": [1, 3], "policy": ["random", "fifo"]},
           "zip": {"seed": [0, 1]}}
    doc.update(changes)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def stable(rows):
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in rows),
                  key=lambda r: r["index"])


def test_expansion_ids_and_order(workspace):
    spec = load_sweep(write_spec(workspace, repeats=2, profiles=["ubrain", "none"]))
    points = spec.points()
    assert len(points) == 2 * 2 * 2 * 2 * 2  # profiles x F x policy x zipped rows x repeats
    assert len({p.point_id for p in points}) == len(points)
    assert [p.index for p in points] == list(range(len(points)))
    assert load_sweep(write_spec(workspace, repeats=2, profiles=["ubrain", "none"])).points()[
        5].point_id == points[5].point_id


@pytest.mark.parametrize("change,key", [
    (dict(grid={"forward_groop": [1]}), "grid.forward_groop"),
    (dict(grid={"forward_group": 4}), "grid.forward_group"),
    (dict(zip={"seed": [0, 1], "momentum_noise": [0.1]}), "zip"),
    (dict(models=[]), "models"),
    (dict(models=["no-such-model"]), "models"),
    (dict(dataset={"name": "x", "sampels": 3}), "dataset.sampels"),
    (dict(repeats=0), "repeats"),
    (dict(profiles=["no-such-chip"]), "profiles"),
    (dict(profiles=["ubrain"], grid={"profile.energy.no_such": [1]}), "profile.energy.no_such"),
    (dict(profiles=["ubrain"], grid={"profile.energy.sop_pj": [-1]}), "sop_pj"),
    (dict(profiles=["none"], grid={"profile.energy.sop_pj": [1]}), "profile.energy.sop_pj"),
    (dict(colour="red"), "colour"),
])
def test_broken_specs_name_the_key(workspace, change, key):
    path = write_spec(workspace, **change)
    with pytest.raises(InputError) as info:
        load_sweep(path)
    message = str(info.value)
    assert key in message and "\n" not in message and str(path) in message
    result = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(workspace / "r.csv")])
    assert result.exit_code == 2 and key in result.output
    assert "Traceback" not in result.output and not (workspace / "r.csv").exists()


def test_executors_give_the_same_rows(workspace):
    spec = load_sweep(write_spec(workspace))
    run_sweep(spec, workspace / "serial.csv", executor="serial")
    run_sweep(spec, workspace / "local.csv", executor="local", workers=2)
    serial = read_results(workspace / "serial.csv")
    assert len(serial) == 8 and all(r["status"] == "ok" for r in serial)
    assert stable(read_results(workspace / "local.csv")) == stable(serial)
    assert [r["index"] for r in serial] == list(range(8))  # final file in point order


def test_dask_local_cluster_gives_the_same_rows(workspace):
    pytest.importorskip("dask.distributed")
    spec = load_sweep(write_spec(workspace))
    run_sweep(spec, workspace / "serial.csv", executor="serial")
    summary = run_sweep(spec, workspace / "dask.csv", executor="dask", workers=2)
    assert summary.succeeded == 8 and summary.failed == 0
    assert stable(read_results(workspace / "dask.csv")) == stable(
        read_results(workspace / "serial.csv"))


def test_a_failing_point_is_recorded_and_the_others_run(workspace):
    # the tiny model's 14 neurons need 3 cores of 5 neurons: the chip with 1 core fails, and
    # only the point itself can find that out
    path = write_spec(workspace, profiles=["ubrain"],
                      fixed={"profile.cores.neurons_per_core": 5},
                      grid={"profile.cores.cores_per_chip": [8, 1, 4]})
    out = workspace / "r.csv"
    result = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(out), "--executor",
                                      "serial"])
    assert result.exit_code == 1
    assert "6 points: 4 succeeded, 2 failed" in result.output
    rows = read_results(out)
    failed = [r for r in rows if r["status"] == "error"]
    assert [r["profile.cores.cores_per_chip"] for r in failed] == [1, 1]
    assert all("cores_per_chip" in r["error"] for r in failed)
    assert all(r["accuracy"] is not None for r in rows if r["status"] == "ok")
    # --retry-failed runs them again (and they fail again, once each)
    summary = run_sweep(load_sweep(path), out, executor="serial", resume=True,
                        retry_failed=True)
    assert (summary.skipped, summary.failed) == (4, 2) and len(read_results(out)) == 6


def test_bad_parameter_values_are_refused_before_any_point_runs(workspace):
    path = write_spec(workspace, grid={"forward_group": [2, 0, 1]})
    out = workspace / "r.csv"
    result = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2 and "grid.forward_group" in result.output
    assert "expected an integer >= 1" in result.output and not out.exists()


def test_existing_results_are_never_overwritten(workspace):
    path = write_spec(workspace)
    out = workspace / "r.csv"
    out.write_text("precious\n")
    result = CliRunner().invoke(cli, ["sweep", str(path), "--out", str(out)])
    assert result.exit_code == 2 and "--resume" in result.output
    assert out.read_text() == "precious\n"
    with pytest.raises(InputError, match="another sweep"):
        run_sweep(load_sweep(path), out, resume=True)
    assert out.read_text() == "precious\n"


def test_resume_after_a_cut_last_line(workspace):
    spec = load_sweep(write_spec(workspace))
    out = workspace / "r.csv"
    run_sweep(spec, out, executor="serial")
    whole = read_results(out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]) + lines[4][:25])  # header, 3 rows, a row cut short
    assert len(read_results(out)) == 3
    summary = run_sweep(spec, out, executor="serial", resume=True)
    assert (summary.skipped, summary.succeeded) == (3, 5)
    assert stable(read_results(out)) == stable(whole)


def test_a_killed_sweep_resumes_with_every_point_once(workspace):
    # enough points, and enough work per point, that the kill lands part-way
    inputs = random_inputs(64, 20, 12, rate=0.4, seed=1)
    np.savez(workspace / "data.npz", inputs=inputs, labels=np.arange(64) % 4)
    path = write_spec(workspace, grid={"forward_group": list(range(1, 13)), "policy": [
        "random", "fifo"]})
    out = workspace / "r.csv"
    command = [sys.executable, "-m", "asyncsim.cli", "sweep", str(path), "--out", str(out),
               "--executor", "serial", "--no-progress"]
    # run from the workspace, so that a checkout's asyncsim/ does not shadow the installed one
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True, cwd=workspace)
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 4:  # header + 3 rows
            break
        time.sleep(0.005)
    assert child.poll() is None, child.stderr.read().decode()[-2000:]
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    before = len(read_results(out))
    assert 3 <= before < 48, before
    summary = run_sweep(load_sweep(path), out, executor="serial", resume=True)
    rows = read_results(out)
    ids = [r["point_id"] for r in rows]
    assert len(ids) == 48 and len(set(ids)) == 48
    assert summary.skipped == before and summary.succeeded == 48 - before


def test_profile_fields_are_swept(workspace):
    spec = load_sweep(write_spec(workspace, profiles=["ubrain"], zip={},
                                 grid={"profile.energy.sop_pj": [10, 20], "forward_group": [2]}))
    run_sweep(spec, workspace / "r.csv", executor="serial")
    low, high = read_results(workspace / "r.csv")
    assert low["sops"] == high["sops"] and low["sops"] > 0
    # the energy of SOPs (network and input alike) doubles; uBrain's other terms are inside
    # its per-SOP figure
    sops = low["sops"] + low["input_sops"]
    assert high["energy_dynamic_j"] - low["energy_dynamic_j"] == pytest.approx(
        sops * 10e-12, rel=1e-6)
    # uBrain's static power is unknown: the static and total energy are empty cells, not 0
    for row in (low, high):
        assert row["energy_static_j"] is None and row["energy_j"] is None
        assert row["unknown_figures"] == "energy.static_power_mw"
    assert (workspace / "r.csv").read_text().splitlines()[1].count(",,") >= 2


def test_pareto_front():
    points = [(1.0, 0.5), (2.0, 0.7), (2.0, 0.6), (3.0, 0.65), (4.0, 0.9), (0.5, 0.1)]
    assert pareto_front(points) == [(0.5, 0.1), (1.0, 0.5), (2.0, 0.7), (4.0, 0.9)]


def test_plots(workspace):
    pytest.importorskip("matplotlib")
    spec = load_sweep(write_spec(workspace, profiles=["ubrain", "speck"]))
    run_sweep(spec, workspace / "r.csv", executor="serial")
    runner = CliRunner()
    for extra in ([], ["--x", "forward_group", "--y", "sops", "--by", "policy"]):
        image = workspace / f"plot{len(extra)}.png"
        result = runner.invoke(cli, ["plot", str(workspace / "r.csv"), "-o", str(image),
                                     "--by", "profile", *extra])
        assert result.exit_code == 0, result.output
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = runner.invoke(cli, ["plot", str(workspace / "r.csv"), "-o", str(workspace / "x.png"),
                              "--y", "happiness"])
    assert bad.exit_code == 2 and "happiness" in bad.output
    report = workspace / "run.json"
    result = runner.invoke(cli, ["run", str(workspace / "tiny.yaml"), "--data",
                                 str(workspace / "data.npz"), "--stop", "on_output", "--json",
                                 str(report), "--early-decision", "0,1,3"])
    assert result.exit_code == 0, result.output
    assert "early decision" in result.output
    for figure in ("4", "5", "6"):
        image = workspace / f"figure{figure}.svg"
        result = runner.invoke(cli, ["plot", str(report), "--figure", figure, "-o", str(image)])
        assert result.exit_code == 0, result.output
        assert b"<svg" in image.read_bytes()[:400]


def test_parse_sweep_rejects_a_non_mapping():
    with pytest.raises(InputError, match="mapping"):
        parse_sweep(["models"])


@pytest.fixture
def dask_cluster(tmp_path_factory):
    """A Dask scheduler and two workers as separate processes, each in a folder of its own
    (none of them the client's), talking over loopback; yields the scheduler's address once
    both workers have joined."""
    pytest.importorskip("dask.distributed")
    import json
    import shutil

    from dask.distributed import Client

    tmp_path = tmp_path_factory.mktemp("cluster")  # not the workspace, which the test moves

    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
    if dask is None:
        pytest.skip("the dask command is not installed")
    info = tmp_path / "scheduler.json"
    procs = []
    folder = tmp_path / "scheduler"
    folder.mkdir()
    procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(info)],
                                  cwd=folder, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL))
    deadline = time.time() + 60
    address = None
    while time.time() < deadline and address is None:
        try:  # the file may exist before it is whole
            address = json.loads(info.read_text())["address"]
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.1)
    assert address, "the scheduler did not start"
    for k in range(2):
        folder = tmp_path / f"worker{k}"
        folder.mkdir()
        procs.append(subprocess.Popen(
            [dask, "worker", "--scheduler-file", str(info), "--nworkers", "1", "--nthreads",
             "1", "--no-dashboard", "--local-directory", str(folder)],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=180)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_a_dask_cluster_without_the_clients_files_gives_the_same_rows(workspace,
                                                                       dask_cluster):
    import shutil

    path = write_spec(workspace, profiles=["none", "loihi"])
    spec = load_sweep(path)
    run_sweep(spec, workspace.parent / "serial.csv", executor="serial")
    # the client has loaded the model and data; from now on nobody can read these files
    hidden = workspace.parent / "gone"
    shutil.move(str(workspace), str(hidden))
    try:
        summary = run_sweep(spec, hidden.parent / "cluster.csv", scheduler=dask_cluster)
    finally:
        shutil.move(str(hidden), str(workspace))
    assert summary.failed == 0 and summary.succeeded == 16
    cluster = read_results(workspace.parent / "cluster.csv")
    assert stable(cluster) == stable(read_results(workspace.parent / "serial.csv"))
    assert {r["asyncsim_version"] for r in cluster} == {r["asyncsim_version"] for r in
                                                       read_results(workspace.parent /
                                                                    "serial.csv")}


def test_workers_running_another_asyncsim_are_refused():
    from asyncsim.sweeps.runner import _check_worker_versions

    class FakeClient:
        def scheduler_info(self):
            return {"workers": {"tcp://w1": {}}}

        def run(self, fn):
            return {"tcp://w1": fn(), "tcp://w2": "0.0.1+000000000000"}

    with pytest.raises(InputError, match="tcp://w2 runs asyncsim 0.0.1"):
        _check_worker_versions(FakeClient(), "tcp://host:8786")
