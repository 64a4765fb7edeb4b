"""A seeded fuzz test of the command line: generated bad inputs (option values, model,
profile, sweep and data files, output paths) thrown at the CLI. For each: exit code 2, exactly
one line on stderr that starts with ``Error:`` and names the file, field or option, no
traceback, and every file that existed before byte-identical (nothing new written either)."""

import copy
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import write_tiny_workspace

from asyncsim.cli.main import cli
from asyncsim.config import SimConfig, schema_fields
from asyncsim.hardware import shipped_profiles

SEED = 20261202
MINIMUM_CASES = 200
TIME_BUDGET_S = 120.0

BAD_INTS = ["-1", "abc", "1.5", str(2**70), "nan", ""]
BAD_FLOATS = ["-0.5", "abc", "nan", "inf", "-inf", "1e999"]
JUNK = [None, [], [1, 2], {"a": 1}, "text", -7, 1e300, True, float("nan")]


def _option_cases(rng):
    """Bad values for every simulation option of ``asyncsim run``."""
    cases = []
    for f in schema_fields(SimConfig):
        meta = f.metadata
        option = (meta["cli"] or (f"--{f.name.replace('_', '-')}",))[0]
        if meta["kind"] == "int":
            values = BAD_INTS + (["0"] if (meta["minimum"] or 0) >= 1 else [])
        elif meta["kind"] == "float":
            values = BAD_FLOATS + (["1.5"] if meta["maximum"] == 1.0 else [])
        elif meta["kind"] in ("choice", "policy"):
            values = ["bogus", "", "RANDOM!"]
        elif meta["kind"] == "sync":
            values = ["-3", "abc", "fan-out", str(2**70)]
        else:
            continue
        for v in values:
            cases.append((["run", "{model}", "--data", "{data}", option, v],
                          [option, f.name]))
    for option, values in (("--samples", ["0", "-5", "x"]), ("--threads", ["0", "x"]),
                           ("--early-decision", ["x", "-1", "1,,a"]), ("--dt", ["abc"]),
                           ("--mapping", ["diagonal"]), ("--profile", ["no-such-chip"]),
                           ("--data", ["no-such-data"])):
        for v in values:
            cases.append((["run", "{model}", "--data", "{data}", option, v],
                          [option, v, "early-decision", "profile"]))
    return cases


MODEL_MUTATIONS = [
    ("layers.0.size", [0, -3, "x", 1.5, None, [1]]),
    ("layers.0.neuron", ["foo", 3, None]),
    ("layers.0.tau_m_ms", [0, -1, "x", None, float("nan")]),
    ("layers.0.threshold", ["x", None, [1, 2], float("inf")]),
    ("layers.0.bias", ["x", [1, 2, 3], float("nan")]),
    ("layers.0.synapse", ["chemical"]),
    ("layers.0.tau_syn_ms", [0, -2]),
    ("projections.0.delay", [-1, 1.5, "x", 10**6]),
    ("layers.0.reset", ["sometimes", 1]),
    ("layers.0.refractory", ["yes", 2]),
    ("layers.1.name", ["input", "hidden1", "", 5]),
    ("format", ["x", None]),
    ("format_version", [99, "1"]),
    ("input_size", [0, "x", -5, 13]),
    ("dt_ms", [0, -1, "x"]),
    ("projections.0.source", ["nosuch", [1], 5]),
    ("projections.0.target", ["input", "nosuch"]),
    ("projections.0.weight", ["nokey", 3]),
    ("projections.0.type", ["banana"]),
    ("weights_file", ["missing.npz", 3]),
    ("layers", [[], "x", {"a": 1}]),
    ("projections", ["x", 7]),
    ("colour", ["red"]),
]

PROFILE_MUTATIONS = [
    ("energy.sop_pj.value", [-1, "x", [1], float("inf")]),
    ("energy.sop_pj.status", ["maybe", None]),
    ("energy.sop_pj", [5, None]),
    ("synchronization.style", ["psychic", None]),
    ("cores.mesh", [[0, 1], "x", [1]]),
    ("cores.neurons_per_core.value", [0, 1.5, -2]),
    ("execution.forward_group", [0, "x", None]),
    ("execution.policy", ["bogus"]),
    ("neuron.models", [[], ["quantum"], "lif"]),
    ("neuron.weight_bits", [1, 100, "x"]),
    ("format_version", [2]),
    ("timing", ["fast"]),
]

SWEEP_MUTATIONS = [
    ("grid.forward_group", [[1, 1], [0], ["x"], [], 4, [2**70]]),
    ("grid.policy", [["bogus"], ["random", "random"]]),
    ("grid.refractory_dropout", [[1.5], [-0.1]]),
    ("grid.no_such", [[1]]),
    ("repeats", [0, -1, "x", 10**9]),
    ("threads", [0, "x"]),
    ("models", [[], ["nosuch"], "x/y/z", [1]]),
    ("dataset", [{"name": "nosuch.npz"}, {"name": "data.npz", "samples": 0}, "x", 5]),
    ("profiles", [["nosuch"], [1]]),
    ("mapping", ["diagonal"]),
    ("quantize", ["yes"]),
    ("zip", [{"seed": [0, 1], "forward_group": [1]}, {"seed": [0, 0]}]),
    ("format", ["other"]),
]


def _set(doc, dotted, value):
    doc = copy.deepcopy(doc)
    node = doc
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def _file_cases(folder: Path, rng):
    cases = []
    model_doc = yaml.safe_load((folder / "tiny.yaml").read_text())
    for k, (key, values) in enumerate(MODEL_MUTATIONS):
        for j, value in enumerate(values):
            path = folder / f"model_{k}_{j}.yaml"
            path.write_text(yaml.safe_dump(_set(model_doc, key, value)))
            cases.append((["run", str(path), "--data", "{data}"], [path.name]))
    profile_doc = yaml.safe_load(Path(shipped_profiles()["loihi"]).read_text())
    for k, (key, values) in enumerate(PROFILE_MUTATIONS):
        for j, value in enumerate(values):
            path = folder / f"profile_{k}_{j}.yaml"
            path.write_text(yaml.safe_dump(_set(profile_doc, key, value)))
            cases.append((["run", "{model}", "--data", "{data}", "--profile", str(path)],
                          [path.name]))
    sweep_doc = {"models": ["tiny.yaml"], "dataset": {"name": "data.npz"},
                 "grid": {"forward_group": [1, 2]}}
    for k, (key, values) in enumerate(SWEEP_MUTATIONS):
        for j, value in enumerate(values):
            path = folder / f"sweep_{k}_{j}.yaml"
            path.write_text(yaml.safe_dump(_set(sweep_doc, key, value)))
            cases.append((["sweep", str(path), "--out", str(folder / f"out_{k}_{j}.csv"),
                           "--executor", "serial"], [path.name]))
    data_bad = {
        "ndim": dict(inputs=np.zeros((3, 12), np.uint8), labels=np.zeros(3, int)),
        "negative": dict(inputs=-np.ones((2, 3, 12)), labels=np.zeros(2, int)),
        "fraction": dict(inputs=np.full((2, 3, 12), 0.5), labels=np.zeros(2, int)),
        "nan": dict(inputs=np.full((2, 3, 12), np.nan), labels=np.zeros(2, int)),
        "labels": dict(inputs=np.zeros((2, 3, 12), np.uint8), labels=np.zeros(5, int)),
        "features": dict(inputs=np.zeros((2, 3, 7), np.uint8), labels=np.zeros(2, int)),
        "empty": dict(inputs=np.zeros((0, 3, 12), np.uint8), labels=np.zeros(0, int)),
        "no-labels": dict(inputs=np.zeros((2, 3, 12), np.uint8)),
    }
    for name, arrays in data_bad.items():
        path = folder / f"data_{name}.npz"
        np.savez(path, **arrays)
        cases.append((["run", "{model}", "--data", str(path)], [path.name, "inputs"]))
    for k in range(12):  # random bytes as every kind of input file
        blob = rng.integers(0, 256, int(rng.integers(0, 400)), dtype=np.uint8).tobytes()
        for kind, suffix in (("model", ".yaml"), ("data", ".npz"), ("spec", ".yaml"),
                             ("results", ".csv"), ("report", ".json"), ("nir", ".nir")):
            path = folder / f"junk_{kind}_{k}{suffix}"
            path.write_bytes(blob)
            command = {"model": ["run", str(path), "--data", "{data}"],
                       "data": ["run", "{model}", "--data", str(path)],
                       "spec": ["sweep", str(path), "--out", str(folder / "j.csv")],
                       "results": ["plot", str(path), "-o", str(folder / "j.png")],
                       "report": ["plot", str(path), "--figure", "4", "-o",
                                  str(folder / "j.png")],
                       "nir": ["run", str(path), "--dt", "1"]}[kind]
            cases.append((command, [path.name]))
    return cases


def _output_cases(folder: Path):
    precious = folder / "precious.csv"
    precious.write_text("not,a,results,file\n1,2,3,4")
    missing = folder / "no" / "such"
    return [
        (["run", "{model}", "--data", "{data}", "--json", str(missing / "r.json")], ["no"]),
        (["run", "{model}", "--data", "{data}", "--json", str(folder)], ["directory",
                                                                          "folder"]),
        (["run", "{model}", "--data", "{data}", "--trace", str(missing / "t.npz")], ["no"]),
        (["sweep", str(folder / "spec.yaml"), "--out", str(precious), "--resume",
          "--executor", "serial"], ["precious.csv"]),
        (["sweep", str(folder / "spec.yaml"), "--out", str(precious)], ["precious.csv"]),
        (["sweep", str(folder / "spec.yaml"), "--out", str(missing / "r.csv")], ["no"]),
        (["convert", "{model}", str(folder / "m.txt")], ["m.txt"]),
        (["convert", "{model}", str(missing / "m.nir")], ["no"]),
        (["train", "12-8-4", "--data", "{data}", "--out", str(missing / "m.yaml")], ["no"]),
        (["plot", str(precious), "-o", str(missing / "p.png")], ["no"]),
    ]


@pytest.fixture
def fuzz_folder(tmp_path):
    return write_tiny_workspace(tmp_path, "spec.yaml", 4)


def test_generated_bad_inputs_give_one_line_errors_and_damage_nothing(fuzz_folder):
    rng = np.random.default_rng(SEED)
    folder = fuzz_folder
    cases = _option_cases(rng) + _file_cases(folder, rng) + _output_cases(folder)
    order = rng.permutation(len(cases))
    names = {"model": str(folder / "tiny.yaml"), "data": str(folder / "data.npz")}
    runner = CliRunner()
    start = time.perf_counter()
    ran, failures = 0, []
    for i in order:
        if time.perf_counter() - start > TIME_BUDGET_S:
            break
        args, expect = cases[i]
        args = [a.format(**names) if "{" in a else a for a in args]
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        result = runner.invoke(cli, args)
        after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        problem = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problem = f"exception {type(result.exception).__name__}: {result.exception}"
        elif result.exit_code != 2:
            problem = f"exit code {result.exit_code}"
        elif len(lines) != 1 or not lines[0].startswith("Error:"):
            problem = f"stderr {lines}"
        elif not any(e in lines[0] for e in expect):
            problem = f"the message names none of {expect}: {lines[0]}"
        elif after != before:
            changed = sorted(str(p) for p in set(before) | set(after)
                             if before.get(p) != after.get(p))
            problem = f"files changed: {changed}"
        if problem:
            failures.append(f"{' '.join(args[:6])} ... -> {problem}")
        ran += 1
    assert ran >= MINIMUM_CASES, (ran, len(cases))
    assert failures == [], "\n".join(failures[:20]) + f"\n({len(failures)} of {ran})"
