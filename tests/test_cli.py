"""The command line: the main job, JSON reports, and one-line errors with exit code 2."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from asyncsim import random_feedforward, save_model
from asyncsim.cli.main import cli


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_shipped_model_prints_summary_and_writes_json(tmp_path):
    out = tmp_path / "report.json"
    result = _run("run", "nmnist-untrained", "--samples", "8", "--policy", "momentum", "-F",
                  "8", "--energy-per-sop-pj", "26", "--json", str(out))
    assert result.exit_code == 0, result.output
    for word in ("UNTRAINED", "accuracy", "density", "sops", "energy", "forward_steps"):
        assert word in result.output
    data = json.loads(out.read_text())
    assert data["config"]["policy"] == "momentum"
    assert data["config"]["forward_group"] == 8
    assert len(data["per_sample"]["sops"]) == 8
    assert data["metrics"]["energy"] == pytest.approx(data["metrics"]["sops"] * 26e-12)


def test_run_on_npz_data_and_layer_sync(tmp_path):
    net = random_feedforward([6, 5, 3], seed=1, gain=2.5, name="tiny")
    model = save_model(net, tmp_path / "tiny.yaml")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", inputs=(rng.random((5, 3, 6)) < 0.5).astype(np.uint8),
             labels=np.arange(5) % 3)
    result = _run("run", str(model), "--data", str(tmp_path / "d.npz"), "--sync", "layer")
    assert result.exit_code == 0, result.output
    assert "layer-synchronized" in result.output


def test_bad_input_exits_2_with_one_line_and_keeps_existing_json(tmp_path):
    out = tmp_path / "keep.json"
    out.write_text('{"old": true}')
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: asyncsim-model\nformat_version: 1\ninput_size: 3\n")
    cases = [
        ("run", str(bad), "--json", str(out)),
        ("run", "nmnist-untrained", "--policy", "nonsense", "--json", str(out)),
        ("run", "nmnist-untrained", "-F", "0", "--json", str(out)),
        ("run", "nmnist-untrained", "--data", "shd-like", "--samples", "2", "--json",
         str(out)),
    ]
    for args in cases:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
        assert "Traceback" not in result.output
    assert json.loads(out.read_text()) == {"old": True}


def test_installed_command_runs_outside_the_checkout(tmp_path):
    exe = shutil.which("asyncsim") or str(Path(sys.executable).parent / "asyncsim")
    env = dict(os.environ)
    result = subprocess.run([exe, "run", "nmnist-untrained", "--samples", "4"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    result = subprocess.run([exe, "run", "missing-model"], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: missing-model")
    assert "Traceback" not in result.stderr


def test_profiles_commands(tmp_path):
    listing = _run("profiles", "list")
    assert listing.exit_code == 0 and "loihi" in listing.output and "ubrain" in listing.output
    show = _run("profiles", "show", "loihi")
    assert show.exit_code == 0 and "energy.sop_pj" in show.output and "quoted" in show.output
    good = _run("profiles", "validate", str(Path(__file__).parents[1] / "hardware_profiles"
                                            / "speck.yaml"))
    assert good.exit_code == 0 and "valid profile 'speck'" in good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: asyncsim-profile\nformat_version: 1\nname: x\n")
    result = CliRunner().invoke(cli, ["profiles", "validate", str(bad)])
    assert result.exit_code == 2 and result.output.startswith("Error:")
    assert len(result.output.strip().splitlines()) == 1


def test_run_with_profile_prints_energy_latency_and_overrides(tmp_path):
    out = tmp_path / "r.json"
    result = _run("run", "nmnist-untrained", "--samples", "4", "--profile", "loihi",
                  "--json", str(out))
    assert result.exit_code == 0, result.output
    for word in ("chip         loihi", "energy per inference", "latency per inference",
                 "barrier_messages", "spikes_to_first_output"):
        assert word in result.output
    data = json.loads(out.read_text())
    assert data["config"]["policy"] == "layer"  # from the profile
    assert data["hardware"]["energy_j"]["total"] > 0
    over = _run("run", "nmnist-untrained", "--samples", "4", "--profile", "ubrain", "--policy",
                "fifo", "-F", "1")
    assert over.exit_code == 0 and "policy=fifo, forward_group=1" in over.output
    too_big = _run("run", "shd-untrained", "--samples", "2", "--profile", "ubrain")
    assert too_big.exit_code == 2 and "needs 2 cores" in too_big.output


def test_the_speck_example_runs_and_says_what_is_unknown(tmp_path):
    out = tmp_path / "speck.json"
    result = _run("run", "nmnist-conv", "--profile", "speck", "--samples", "4", "--json",
                  str(out))
    assert result.exit_code == 0, result.output
    energy_line = next(line for line in result.output.splitlines()
                       if line.startswith("energy per inference"))
    assert "unknown" in energy_line and "0.0000e+00" not in energy_line
    assert "energy.sop_pj" in result.output and "static" in result.output
    data = json.loads(out.read_text())
    assert data["hardware"]["energy_j"]["total"] is None
    assert data["hardware"]["latency_s"] is None
    assert data["hardware"]["mapping"]["cores_used"] == 3


def test_profiles_compare_table_and_plot(tmp_path):
    image = tmp_path / "compare.png"
    args = ["profiles", "compare", "nmnist-conv", "--profiles", "loihi,speck,ubrain",
            "--samples", "4"]
    if pytest.importorskip("matplotlib"):
        args += ["-o", str(image)]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[3:6]}
    assert "unknown" not in rows["loihi"] and "128" in rows["loihi"]
    assert rows["speck"].count("unknown") == 4  # dynamic, static, total, latency
    assert "does not run" in rows["ubrain"] and "cores_per_chip = 1" in rows["ubrain"]
    assert "speck: unknown energy.sop_pj" in result.output
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "energy unknown (left out): speck" in result.output
    missing = CliRunner().invoke(cli, ["profiles", "compare", "nmnist-conv", "--profiles",
                                       "loihi,nochip"])
    assert missing.exit_code == 2 and "nochip" in missing.output


def test_run_writes_a_trace_that_replays(tmp_path):
    from asyncsim import load_model
    from asyncsim.datasets import load_dataset
    from asyncsim.reference import replay
    from asyncsim.trace import load_trace

    path = tmp_path / "run.trace.npz"
    result = _run("run", "nmnist-untrained", "--samples", "2", "-F", "4", "--trace", str(path))
    assert result.exit_code == 0, result.output
    trace = load_trace(path)
    assert trace.config.forward_group == 4 and trace.n_samples == 2
    data = load_dataset("nmnist-like", n_samples=2, seed=0)
    replayed = replay(load_model("nmnist-untrained"), data.inputs, trace)
    np.testing.assert_array_equal(replayed["steps"], trace.steps)


def test_train_command_writes_a_runnable_model_and_resumes(tmp_path):
    out = tmp_path / "tiny.yaml"
    ckpt = tmp_path / "ckpt.npz"
    args = ["train", "2312-8-4-10", "--data", "nmnist-like", "--samples", "32",
            "--test-samples", "16", "--epochs", "2", "--batch-size", "16", "--lr", "0.01",
            "--out", str(out), "--checkpoint", str(ckpt)]
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "epoch   2" in result.output and "test accuracy" in result.output
    from asyncsim import load_model

    model = load_model(out)
    assert model.metadata["trained"] is True
    assert model.metadata["produced_by"].startswith("asyncsim ")
    assert 0.0 <= model.metadata["test_accuracy"] <= 1.0
    run = _run("run", str(out), "--samples", "4")
    assert run.exit_code == 0 and "UNTRAINED" not in run.output
    resumed = _run(*args[:-4], "--epochs", "3", "--out", str(out), "--checkpoint", str(ckpt),
                   "--resume")
    assert resumed.exit_code == 0 and "epoch   3" in resumed.output
    bad = CliRunner().invoke(cli, ["train", "2312-8-4-10", "--mode", "psychic", "--out",
                                   str(out)])
    assert bad.exit_code == 2


def test_train_preset_fills_what_is_not_given_and_curves_are_plotted(tmp_path):
    out = tmp_path / "p.yaml"
    result = _run("train", "--preset", "nmnist", "--samples", "32", "--test-samples", "16",
                  "--epochs", "2", "--batch-size", "16", "--out", str(out))
    assert result.exit_code == 0, result.output
    from asyncsim import load_model

    model = load_model(out)
    training = model.metadata["training"]
    # given explicitly: kept; not given: the preset's (the paper's table 6)
    assert (training["epochs"], training["batch_size"]) == (2, 16)
    assert (training["learning_rate"], training["refractory_dropout"],
            training["input_dropout"], training["stop"]) == (5e-4, 0.8, 0.25, "on_output")
    assert model.input_size == 2312 and [layer.size for layer in model.layers] == [64, 64, 64, 10]
    curves = tmp_path / "p.curves.csv"
    assert curves.read_text().splitlines()[0].startswith("epoch,loss,accuracy,density")
    assert len(curves.read_text().splitlines()) == 3
    plot = _run("plot", str(curves), "-o", str(tmp_path / "curves.png"))
    assert plot.exit_code == 0, plot.output
    assert "training curves (2 epochs)" in plot.output
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    missing = _run("train", "--out", str(tmp_path / "x.yaml"))
    assert missing.exit_code == 2 and "--preset" in missing.output
    # the preset's neuron settings build its architecture; a given one replaces its own
    dvs = tmp_path / "dvs.yaml"
    result = _run("train", "--preset", "dvs", "--samples", "16", "--test-samples", "0",
                  "--epochs", "1", "--batch-size", "16", "--threshold", "0.5", "--out", str(dvs))
    assert result.exit_code == 0, result.output
    model = load_model(dvs)
    assert model.dt_ms == 20.0 and model.input_size == 2048
    assert np.all(model.layers[0].tau_m_ms == 100.0) and np.all(model.layers[0].threshold == 0.5)


def test_train_command_builds_current_based_layers_and_learns_biases(tmp_path):
    out = tmp_path / "cuba.yaml"
    result = _run("train", "2312-8-10", "--data", "nmnist-like", "--samples", "16",
                  "--test-samples", "0", "--epochs", "1", "--batch-size", "16",
                  "--synapse", "current", "--tau-syn-ms", "20", "--train-biases",
                  "--out", str(out))
    assert result.exit_code == 0, result.output
    from asyncsim import load_model

    model = load_model(out)
    assert all(layer.synapse == "current" for layer in model.layers)
    assert all(np.all(layer.tau_syn_ms == 20.0) for layer in model.layers)
    assert isinstance(model.layers[0].bias, np.ndarray) and np.any(model.layers[0].bias != 0)


def test_every_generated_dataset_is_described_in_data_list():
    from asyncsim.cli.main import GENERATED
    from asyncsim.datasets import BUILTIN

    assert set(GENERATED) == set(BUILTIN)
    listing = _run("data", "list").output
    assert all(f"{name}  " in listing for name in BUILTIN)
